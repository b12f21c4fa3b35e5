// y = a ∘ b with numpy broadcasting, output type = input type: arithmetic, min/max, mod,
// PRelu, bitwise and shifts (integers), all through the type library's exact `t_*`
// functions. Comparisons and logic are in compare.wgsl.
// Prelude: a type library (T), OP (a BINARY_* code), BCAST (false when a, b and y share one
// shape: no index arithmetic).
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
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<uniform> p: Params;

fn apply(x: T, z: T) -> T {
    switch OP {
        case BINARY_ADD: { return t_add(x, z); }
        case BINARY_SUB: { return t_sub(x, z); }
        case BINARY_MUL: { return t_mul(x, z); }
        case BINARY_DIV: { return t_div(x, z); }
        case BINARY_POW: { return t_from_f32(pow_f32(t_to_f32(x), t_to_f32(z))); }
        case BINARY_MAX: {
            if (t_is_nan(x) || t_is_nan(z)) { return t_from_f32(bitcast<f32>(0x7fc00000u)); }
            return t_max(x, z);
        }
        case BINARY_MIN: {
            if (t_is_nan(x) || t_is_nan(z)) { return t_from_f32(bitcast<f32>(0x7fc00000u)); }
            return t_min(x, z);
        }
        case BINARY_MOD: {
            // The divisor's sign (Python's %).
            let r = t_rem(x, z);
            let zero = t_zero();
            if (t_eq(r, zero)) {
                // A zero remainder takes the divisor's sign too (-0.0 for a negative float divisor).
                return select(zero, t_neg(zero), t_lt(z, zero));
            }
            if (!t_eq(r, zero) && (t_lt(r, zero) != t_lt(z, zero))) {
                return t_add(r, z);
            }
            return r;
        }
        case BINARY_FMOD: { return t_rem(x, z); }
        case BINARY_PRELU: { return select(x, t_mul(x, z), t_lt(x, t_zero())); }
        case BINARY_BITSHIFTLEFT: { return t_shl(x, z); }
        case BINARY_BITSHIFTRIGHT: { return t_shr(x, z); }
        case BINARY_BITWISEAND: { return t_and(x, z); }
        case BINARY_BITWISEOR: { return t_or(x, z); }
        case BINARY_BITWISEXOR: { return t_xor(x, z); }
        default: { return x; }
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
