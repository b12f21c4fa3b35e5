//! Results that one ulp decides (`tests/data/int8_ties/`, written by `tools/gen_int8_ties.py`
//! with ORT 1.32's CPU outputs), compared exactly — floats included — on the CPU backend and on
//! the GPU backend with CPU fallback disabled: IEEE quotients from Div over random f32 pairs, and
//! a QLinearMatMul whose requantization multiplier (a_scale * b_scale) / y_scale, one ulp high,
//! moves a near-tie output by a step (found in vit_tiny-int8_qop by `tools/int8_bisect.py`).

mod common;

use common::{gpu_available, run_data_cases_within};
use onnx_wgpu::testing::Tolerance;
use onnx_wgpu::Backend;

const EXACT: Tolerance = Tolerance { rtol: 0.0, atol: 0.0 };

#[test]
fn int8_ties_cpu() {
    run_data_cases_within("int8_ties", 2, Backend::Cpu, EXACT);
}

#[test]
fn int8_ties_gpu_no_fallback() {
    if !gpu_available("int8_ties_gpu_no_fallback") {
        return;
    }
    run_data_cases_within("int8_ties", 2, Backend::Gpu, EXACT);
}
