//! ONNX Runtime QOperator contrib ops (`tests/data/contrib_quant/`, written by
//! `tools/gen_contrib_quant.py` with ORT 1.32's CPU outputs): every case must pass on the CPU
//! backend and on the GPU backend with CPU fallback disabled — integer outputs exactly, float
//! outputs within rtol 1e-3 / atol 1e-4.

mod common;

use common::gpu_available;
use onnx_wgpu::testing::{find_cases, run_case, CaseOptions, Outcome};
use onnx_wgpu::Backend;
use std::path::PathBuf;

fn run_all(backend: Backend) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/contrib_quant");
    let cases = find_cases(&dir);
    assert!(cases.len() >= 30, "expected the generated cases under {}, found {}", dir.display(), cases.len());
    let opts = CaseOptions { cpu_fallback: false, ..CaseOptions::new(backend) };
    let mut failed = Vec::new();
    for c in &cases {
        let r = run_case(c, &opts);
        eprintln!("{backend:?} {} {:?} (max abs diff {:.2e})", r.name, r.outcome, r.max_abs_diff);
        if r.outcome != Outcome::Pass {
            failed.push(format!("{}: {:?}", r.name, r.outcome));
        }
    }
    assert!(failed.is_empty(), "{backend:?} failures:\n{}", failed.join("\n"));
}

#[test]
fn contrib_quant_cpu() {
    run_all(Backend::Cpu);
}

#[test]
fn contrib_quant_gpu_no_fallback() {
    if !gpu_available("contrib_quant_gpu_no_fallback") {
        return;
    }
    run_all(Backend::Gpu);
}
