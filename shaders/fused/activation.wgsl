// Epilogue activations of fused ops (library included by conv/matmul variants): `act_apply`
// applies the activation `ACT` (an `ACT_*` code from the prelude) with parameters `a`, `b`
// (Clip bounds, HardSigmoid/LeakyRelu alpha and beta), in f32. The formulas are those of
// elementwise/unary_lib.wgsl: ACT_UNARY is the `UNARY_*` code of the activation's unary op
// (SiLU is x · Sigmoid(x)), so the compiler specialises `unary_f32` to one formula.
// Prelude: ACT, the ACT_* and UNARY_* codes, ACT_UNARY, unary_lib.wgsl.
fn act_apply(v: f32, a: f32, b: f32) -> f32 {
    if (ACT == ACT_NONE) {
        return v;
    }
    if (ACT == ACT_SILU) {
        return v * unary_f32(UNARY_SIGMOID, v, a, b);
    }
    return unary_f32(ACT_UNARY, v, a, b);
}
