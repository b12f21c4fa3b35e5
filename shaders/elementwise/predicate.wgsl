// y = p(x) → bool (u32 0/1): IsNaN, IsInf (alpha: detect negative, beta: detect positive),
// and Not of a bool. Prelude: a type library (T), OP (a UNARY_* code).
struct Params {
    n: u32,
    alpha: f32,
    beta: f32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let v = x[i];
    var r = false;
    switch OP {
        case UNARY_ISNAN: { r = t_is_nan(v); }
        case UNARY_ISINF: {
            let f = t_to_f32(v);
            r = is_inf_f32(f) && ((f > 0.0 && p.beta != 0.0) || (f < 0.0 && p.alpha != 0.0));
        }
        case UNARY_NOT: { r = t_eq(v, t_zero()); }
        default: {}
    }
    y[i] = select(0u, 1u, r);
}
