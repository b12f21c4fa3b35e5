// Epilogue activations of fused ops (library included by conv/matmul variants): `act_apply`
// applies the activation `ACT` (an `ACT_*` code from the prelude) with parameters `a`, `b`
// (Clip bounds, HardSigmoid/LeakyRelu alpha and beta), in f32, with the same formulas as
// elementwise/unary.wgsl.
fn act_apply(v: f32, a: f32, b: f32) -> f32 {
    switch (ACT) {
        case ACT_RELU: { return select(0.0, v, v > 0.0 || is_nan_f32(v)); }
        case ACT_CLIP: { return min(max(v, a), b); }
        case ACT_SIGMOID: { return 1.0 / (1.0 + exp(-v)); }
        case ACT_SILU: { return v * (1.0 / (1.0 + exp(-v))); }
        case ACT_HARDSIGMOID: { return clamp(a * v + b, 0.0, 1.0); }
        case ACT_HARDSWISH: { return v * clamp(v / 6.0 + 0.5, 0.0, 1.0); }
        case ACT_LEAKYRELU: { return select(a * v, v, v >= 0.0); }
        case ACT_TANH: { return tanh(clamp(v, -20.0, 20.0)); }
        case ACT_GELU: { return 0.5 * v * (1.0 + erf_f32(v * 0.70710678118654752)); }
        default: { return v; }
    }
}
