//! Shared test helpers: the GPU gate (fail under `CI=true`, skip with a reason otherwise), the
//! corpus location, and running one model on both backends.
#![allow(dead_code)]

use onnx_wgpu::{Backend, Session, Tensor};
use std::path::PathBuf;

/// True when a GPU adapter exists. Without one, panics under `CI=true` (GPU tests must fail,
/// not skip, in CI) and otherwise prints why the test is skipped.
pub fn gpu_available(test: &str) -> bool {
    match onnx_wgpu::backend::wgpu::device::GpuContext::shared() {
        Ok(_) => true,
        Err(e) => {
            if std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false) {
                panic!(
                    "{test}: CI=true requires a GPU adapter (install mesa-vulkan-drivers and set VK_DRIVER_FILES): {e}"
                );
            }
            eprintln!("SKIP {test}: {e}");
            false
        }
    }
}

/// The corpus folder: `$ONNX_WGPU_CORPUS`, else `../shared/corpus` beside the crate.
pub fn corpus() -> Option<PathBuf> {
    let p = std::env::var_os("ONNX_WGPU_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    p.is_dir().then_some(p)
}

/// Runs `model` with `inputs` on one backend.
pub fn run(model: &[u8], backend: Backend, inputs: &[(&str, Tensor)]) -> Vec<Tensor> {
    let s = Session::builder().backend(backend).from_bytes(model).unwrap_or_else(|e| panic!("{backend:?} load: {e}"));
    let outs = s.run(inputs).unwrap_or_else(|e| panic!("{backend:?} run: {e}"));
    outs.into_vec().into_iter().map(|(_, t)| t).collect()
}

/// Asserts two outputs agree within `rtol`/`atol` (exactly for integers).
pub fn assert_close(what: &str, got: &Tensor, want: &Tensor, rtol: f64, atol: f64) {
    let tol = onnx_wgpu::testing::Tolerance { rtol, atol };
    if let Err(e) = onnx_wgpu::testing::compare(got, want, &tol) {
        panic!("{what}: {e}");
    }
}

/// Runs every generated case under `tests/data/<dir>` (at least `min_cases`) on `backend` with
/// CPU fallback disabled; fails listing the cases that do not pass.
pub fn run_data_cases(dir: &str, min_cases: usize, backend: Backend) {
    run_data_cases_within(dir, min_cases, backend, onnx_wgpu::testing::Tolerance::default());
}

/// [`run_data_cases`] with float outputs compared within `tolerance`.
pub fn run_data_cases_within(dir: &str, min_cases: usize, backend: Backend, tolerance: onnx_wgpu::testing::Tolerance) {
    use onnx_wgpu::testing::{find_cases, run_case, CaseOptions, Outcome};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(dir);
    let cases = find_cases(&dir);
    assert!(cases.len() >= min_cases, "expected the generated cases under {}, found {}", dir.display(), cases.len());
    let opts = CaseOptions { cpu_fallback: false, tolerance, ..CaseOptions::new(backend) };
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
