// y = a ∘ b with numpy broadcasting (arithmetic, comparison, logic; bitwise ops are in
// bitwise.wgsl). Prelude: T (operand element), O (output element),
// OP (a BINARY_* code), BCAST (false when a, b and y have one shape: no index arithmetic).
struct Params {
    n: u32,
    rank: u32,
    pad0: u32,
    pad1: u32,
    shape: array<vec4<u32>, 2>,
    a_strides: array<vec4<u32>, 2>,
    b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> a: array<T>;
@group(0) @binding(1) var<storage, read_write> b: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<O>;
@group(0) @binding(3) var<uniform> p: Params;

// x % z with IEEE fmod's result for an infinite divisor (WGSL's `%` may give NaN there).
fn fmod_t(x: T, z: T) -> T {
    if (is_inf_f32(f32(z)) && !is_inf_f32(f32(x)) && !is_nan_f32(f32(x))) {
        return x;
    }
    return x % z;
}

fn apply(x: T, z: T) -> O {

    switch OP {
        case BINARY_ADD: { return O(x + z); }
        case BINARY_SUB: { return O(x - z); }
        case BINARY_MUL: { return O(x * z); }
        case BINARY_DIV: { return O(x / z); }
        case BINARY_POW: { return O(pow(f32(x), f32(z))); }
        case BINARY_MAX: { return O(max(x, z)); }
        case BINARY_MIN: { return O(min(x, z)); }
        case BINARY_MOD: {
            var r = fmod_t(x, z);
            if (r != T(0) && ((r < T(0)) != (z < T(0)))) {
                r = r + z;
            }
            return O(r);
        }
        case BINARY_FMOD: { return O(fmod_t(x, z)); }
        case BINARY_PRELU: { return O(select(x, x * z, x < T(0))); }
        case BINARY_AND: { return O(x != T(0) && z != T(0)); }
        case BINARY_OR: { return O(x != T(0) || z != T(0)); }
        case BINARY_XOR: { return O((x != T(0)) != (z != T(0))); }
        case BINARY_EQUAL: { return O(x == z); }
        case BINARY_LESS: { return O(x < z); }
        case BINARY_LESSOREQUAL: { return O(x <= z); }
        case BINARY_GREATER: { return O(x > z); }
        case BINARY_GREATEROREQUAL: { return O(x >= z); }
        default: { return O(x); }
    }
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    var ia = i;
    var ib = i;
    if (BCAST) {
        ia = 0u;
        ib = 0u;
        var rem = i;
        for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
            let k = u32(d);
            let s = p.shape[k / 4u][k % 4u];
            let c = rem % s;
            rem = rem / s;
            ia = ia + c * p.a_strides[k / 4u][k % 4u];
            ib = ib + c * p.b_strides[k / 4u][k % 4u];
        }
    }
    y[i] = apply(a[ia], b[ib]);
}
