// y = f(x) elementwise, output type = input type. Floats compute in f32 (F for f64 is
// narrowed: ONNX Runtime's own tolerance); integers use exact integer functions.
// Prelude: a type library (T), OP (a UNARY_* code).
struct Params {
    n: u32,
    alpha: f32,
    beta: f32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

fn softplus(v: f32) -> f32 {
    return select(log(1.0 + exp(v)), v, v > 20.0);
}

fn apply_f(v: f32) -> f32 {
    let al = p.alpha;
    let be = p.beta;
    switch OP {
        case UNARY_RELU: { return select(0.0, v, v > 0.0 || is_nan_f32(v)); }
        case UNARY_SIGMOID: { return 1.0 / (1.0 + exp(-v)); }
        case UNARY_TANH: { return tanh(clamp(v, -20.0, 20.0)); }
        case UNARY_EXP: { return exp(v); }
        case UNARY_LOG: { return log(v); }
        case UNARY_NEG: { return -v; }
        case UNARY_ABS: { return abs(v); }
        case UNARY_SQRT: { return sqrt(v); }
        case UNARY_RECIPROCAL: { return 1.0 / v; }
        case UNARY_FLOOR: { return floor(v); }
        case UNARY_CEIL: { return ceil(v); }
        case UNARY_ROUND: { return round(v); }
        case UNARY_SIGN: { return sign(v); }
        case UNARY_ERF: { return erf_f32(v); }
        case UNARY_SIN: { return sin(v); }
        case UNARY_COS: { return cos(v); }
        case UNARY_TAN: { return tan(v); }
        case UNARY_ASIN: { return asin(v); }
        case UNARY_ACOS: { return acos(v); }
        case UNARY_ATAN: { return atan(v); }
        case UNARY_SINH: { return sinh(v); }
        case UNARY_COSH: { return cosh(v); }
        case UNARY_ASINH: { return asinh(v); }
        case UNARY_ACOSH: { return acosh(v); }
        case UNARY_ATANH: { return atanh(v); }
        case UNARY_SOFTPLUS: { return softplus(v); }
        case UNARY_SOFTSIGN: { return v / (1.0 + abs(v)); }
        case UNARY_LEAKYRELU: { return select(al * v, v, v >= 0.0); }
        case UNARY_ELU: { return select(al * (exp(v) - 1.0), v, v >= 0.0); }
        case UNARY_SELU: { return select(be * al * (exp(v) - 1.0), be * v, v > 0.0); }
        case UNARY_CELU: { return max(v, 0.0) + min(0.0, al * (exp(v / al) - 1.0)); }
        case UNARY_HARDSIGMOID: { return clamp(al * v + be, 0.0, 1.0); }
        case UNARY_HARDSWISH: { return v * clamp(v / 6.0 + 0.5, 0.0, 1.0); }
        case UNARY_THRESHOLDEDRELU: { return select(0.0, v, v > al); }
        case UNARY_GELU: { return 0.5 * v * (1.0 + erf_f32(v * 0.70710678118654752)); }
        case UNARY_GELUTANH: {
            let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
            return 0.5 * v * (1.0 + tanh(clamp(u, -20.0, 20.0)));
        }
        case UNARY_MISH: { return v * tanh(clamp(softplus(v), -20.0, 20.0)); }
        case UNARY_AFFINE: { return v * al + be; }
        case UNARY_CLIP: { return min(max(v, al), be); }
        default: { return v; }
    }
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
