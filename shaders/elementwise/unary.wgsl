// y = f(x) elementwise, output type = input type. Floats compute in f32 (F for f64 is
// narrowed: ONNX Runtime's own tolerance); integers use exact integer functions.
// Prelude: a type library (T), OP (a UNARY_* code), unary_lib.wgsl.
struct Params {
    n: u32,
    alpha: f32,
    beta: f32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

fn apply_f(v: f32) -> f32 {
    return unary_f32(OP, v, p.alpha, p.beta);
}

// The integer functions ONNX defines on integers, exact in T.
fn apply_i(v: T) -> T {
    let zero = t_zero();
    switch OP {
        case UNARY_RELU: { return t_max(v, zero); }
        case UNARY_NEG: { return t_neg(v); }
        case UNARY_ABS: { return select(v, t_neg(v), t_lt(v, zero)); }
        case UNARY_SIGN: { return select(select(zero, t_one(), t_lt(zero, v)), t_neg(t_one()), t_lt(v, zero)); }
        default: { return t_from_f32(apply_f(t_to_f32(v))); }
    }
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    if (T_IS_FLOAT && !T_IS_F64) {
        y[i] = t_from_f32(apply_f(t_to_f32(x[i])));
    } else if (T_IS_F64 && OP == UNARY_EXP) {
        y[i] = t_exp(x[i]);
    } else if (T_IS_F64 && OP == UNARY_LOG) {
        y[i] = t_log(x[i]);
    } else if (T_IS_F64 && OP == UNARY_RECIPROCAL) {
        y[i] = t_div(t_one(), x[i]);
    } else if (T_IS_F64 && OP == UNARY_SQRT) {
        y[i] = t_sqrt(x[i]);
    } else {
        // Integers, and doubles (whose exact functions are the only ones lowered).
        y[i] = apply_i(x[i]);
    }
}
