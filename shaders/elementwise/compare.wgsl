// y = a ∘ b → bool (u32 0/1) with numpy broadcasting: comparisons of any type (NaN compares
// false), and And/Or/Xor of bools. Prelude: a type library (T: the operand type), OP (a
// BINARY_* code), BCAST.
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
@group(0) @binding(2) var<storage, read_write> y: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

fn apply(x: T, z: T) -> bool {
    let nan = t_is_nan(x) || t_is_nan(z);
    switch OP {
        case BINARY_EQUAL: { return t_eq(x, z); }
        case BINARY_LESS: { return t_lt(x, z); }
        case BINARY_LESSOREQUAL: { return !nan && !t_lt(z, x); }
        case BINARY_GREATER: { return t_lt(z, x); }
        case BINARY_GREATEROREQUAL: { return !nan && !t_lt(x, z); }
        case BINARY_AND: { return !t_eq(x, t_zero()) && !t_eq(z, t_zero()); }
        case BINARY_OR: { return !t_eq(x, t_zero()) || !t_eq(z, t_zero()); }
        case BINARY_XOR: { return !t_eq(x, t_zero()) != !t_eq(z, t_zero()); }
        default: { return false; }
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
    y[i] = select(0u, 1u, apply(a[ia], b[ib]));
}
