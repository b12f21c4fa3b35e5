//! ONNX Runtime fused-normalization contrib ops (com.microsoft SkipLayerNormalization,
//! SkipSimplifiedLayerNormalization, BiasGelu, FastGelu, EmbedLayerNormalization): every case under
//! `tests/data/contrib_norm` (written by `tools/gen_contrib_norm.py` from ONNX Runtime 1.32's CPU
//! provider) must pass on the CPU backend and on the GPU backend with CPU fallback disabled, at
//! rtol 1e-3 / atol 1e-4. The GPU test fails under `CI=true` without an adapter.

mod common;

use common::{gpu_available, run_data_cases_within};
use onnx_wgpu::testing::Tolerance;
use onnx_wgpu::Backend;

const TOL: Tolerance = Tolerance { rtol: 1e-3, atol: 1e-4 };

#[test]
fn contrib_norm_cpu() {
    run_data_cases_within("contrib_norm", 18, Backend::Cpu, TOL);
}

#[test]
fn contrib_norm_gpu_no_fallback() {
    if gpu_available("contrib_norm_gpu_no_fallback") {
        run_data_cases_within("contrib_norm", 18, Backend::Gpu, TOL);
    }
}
