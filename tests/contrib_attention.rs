//! ONNX Runtime contrib attention operators (com.microsoft MultiHeadAttention,
//! GroupQueryAttention, RotaryEmbedding, Attention with past/present): every case under
//! `tests/data/contrib_attention` (written by `tools/gen_contrib_attention.py` from ONNX Runtime
//! 1.32's CPU provider) must pass on the CPU backend and on the GPU backend with CPU fallback
//! disabled, at rtol 1e-3 / atol 1e-4. The GPU test fails under `CI=true` without an adapter.

mod common;

use common::gpu_available;
use onnx_wgpu::testing::{find_cases, run_case, CaseOptions, Outcome, Tolerance};
use onnx_wgpu::Backend;
use std::path::Path;

fn run_all(backend: Backend) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/contrib_attention");
    let cases = find_cases(&dir);
    assert!(cases.len() >= 50, "expected the generated cases under {}, found {}", dir.display(), cases.len());
    let opts = CaseOptions {
        cpu_fallback: false,
        tolerance: Tolerance { rtol: 1e-3, atol: 1e-4 },
        ..CaseOptions::new(backend)
    };
    let mut failed = Vec::new();
    for c in &cases {
        let r = run_case(c, &opts);
        eprintln!("{backend:?} {} {:?} (max abs diff {:.2e})", r.name, r.outcome, r.max_abs_diff);
        if r.outcome != Outcome::Pass {
            failed.push(format!("{}: {:?}", r.name, r.outcome));
        }
    }
    assert!(failed.is_empty(), "{backend:?}: {} of {} cases fail:\n{}", failed.len(), cases.len(), failed.join("\n"));
}

#[test]
fn contrib_attention_cpu() {
    run_all(Backend::Cpu);
}

#[test]
fn contrib_attention_gpu_no_fallback() {
    if gpu_available("contrib_attention_gpu_no_fallback") {
        run_all(Backend::Gpu);
    }
}
