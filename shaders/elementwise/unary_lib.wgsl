// The float unary functions of ONNX, shared by elementwise/unary.wgsl (one op, OP a prelude
// constant the compiler specialises) and fused/elementwise.wgsl (the fused program's unary
// instructions): v computed in f32, alpha and beta as the op's attributes. Not, IsNaN and IsInf
// (0/1 results) serve the fused programs; the standalone predicates are predicate.wgsl.
// Needs the UNARY_* codes in the prelude.

fn unary_softplus(v: f32) -> f32 {
    return select(log(1.0 + exp(v)), v, v > 20.0);
}

fn unary_flag(b: bool) -> f32 {
    return select(0.0, 1.0, b);
}

fn unary_f32(op: u32, v: f32, al: f32, be: f32) -> f32 {
    switch op {
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
        case UNARY_SOFTPLUS: { return unary_softplus(v); }
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
        case UNARY_MISH: { return v * tanh(clamp(unary_softplus(v), -20.0, 20.0)); }
        case UNARY_AFFINE: { return v * al + be; }
        case UNARY_CLIP: { return min(max(v, al), be); }
        case UNARY_NOT: { return unary_flag(v == 0.0); }
        case UNARY_ISNAN: { return unary_flag(is_nan_f32(v)); }
        case UNARY_ISINF: {
            let inf = bitcast<f32>(0x7f800000u);
            return unary_flag((v == inf && be != 0.0) || (v == -inf && al != 0.0));
        }
        default: { return v; }
    }
}
