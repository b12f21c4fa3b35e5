//! Concurrency, long runs and determinism: a `Session` shared by 8 threads gives outputs
//! bit-identical to a single-threaded run; thousands of runs of one session keep resident
//! memory flat; the same inputs give bit-identical outputs run to run, on both backends.
//!
//! The CI form runs reduced counts; `ONNX_WGPU_LONG=1` (see `scripts/long_run.sh`) runs the
//! full ones (1,000 runs per thread, 10,000 runs for the memory check). GPU tests fail, not
//! skip, under `CI=true` without an adapter (`tests/common`).

mod common;

use onnx_wgpu::onnx::builder::ModelBuilder;
use onnx_wgpu::{Backend, DType, Session, Tensor};
use std::sync::{Arc, Mutex};

/// Tests of this file run one at a time: the memory check must not see the others' buffers.
static SERIAL: Mutex<()> = Mutex::new(());

fn long() -> bool {
    std::env::var("ONNX_WGPU_LONG").map(|v| v == "1" || v == "true").unwrap_or(false)
}

/// A small layer with reductions (whose summation order could vary between runs if the
/// engine were nondeterministic): y = Softmax(LayerNorm-free MatMul(x, w) + b), then a ReduceSum.
fn model() -> Vec<u8> {
    let w: Vec<f32> = (0..64 * 32).map(|i| ((i * 37 % 101) as f32 - 50.0) / 97.0).collect();
    let bias: Vec<f32> = (0..32).map(|i| (i as f32 - 16.0) / 31.0).collect();
    let mut b = ModelBuilder::new(17);
    b.input("x", DType::F32, &[8, 64]);
    b.initializer("w", Tensor::new(&[64, 32], w).unwrap());
    b.initializer("b", Tensor::new(&[32], bias).unwrap());
    b.node("MatMul", &["x", "w"], &["h"], &[]);
    b.node("Add", &["h", "b"], &["hb"], &[]);
    b.node("Softmax", &["hb"], &["p"], &[("axis", (-1i64).into())]);
    b.node("ReduceSum", &["hb"], &["s"], &[("keepdims", 0i64.into())]);
    b.output("p", DType::F32, &[8, 32]);
    b.output("s", DType::F32, &[]);
    b.to_bytes()
}

fn input(seed: u32) -> Tensor {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let v: Vec<f32> = (0..8 * 64)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 20_001) as f32 / 10_000.0 - 1.0
        })
        .collect();
    Tensor::new(&[8, 64], v).unwrap()
}

/// The outputs' bytes, for bit-exact comparison.
fn bits(s: &Session, x: &Tensor) -> Vec<Vec<u8>> {
    let y = s.run(&[("x", x.clone())]).unwrap_or_else(|e| panic!("run: {e}"));
    y.iter().map(|(_, t)| t.bytes().to_vec()).collect()
}

fn shared_by_threads(backend: Backend, per_thread: usize) {
    let s = Arc::new(Session::builder().backend(backend).from_bytes(&model()).unwrap());
    let inputs: Vec<Tensor> = (0..4).map(input).collect();
    let want: Vec<Vec<Vec<u8>>> = inputs.iter().map(|x| bits(&s, x)).collect();
    let inputs = Arc::new(inputs);
    let want = Arc::new(want);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (s, inputs, want) = (s.clone(), inputs.clone(), want.clone());
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    let k = (t + i) % inputs.len();
                    assert!(bits(&s, &inputs[k]) == want[k], "{backend:?} thread {t} run {i}: outputs differ");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a thread failed");
    }
}

#[test]
fn shared_session_threads_cpu() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    shared_by_threads(Backend::Cpu, if long() { 1000 } else { 50 });
}

#[test]
fn shared_session_threads_gpu() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if common::gpu_available("shared_session_threads_gpu") {
        shared_by_threads(Backend::Gpu, if long() { 1000 } else { 20 });
    }
}

fn deterministic(backend: Backend) {
    let s = Session::builder().backend(backend).from_bytes(&model()).unwrap();
    let x = input(7);
    let first = bits(&s, &x);
    for i in 0..10 {
        assert!(bits(&s, &x) == first, "{backend:?}: run {i} differs from the first");
    }
    // A second session of the same model gives the same bits.
    let s2 = Session::builder().backend(backend).from_bytes(&model()).unwrap();
    assert!(bits(&s2, &x) == first, "{backend:?}: a second session differs");
}

#[test]
fn run_to_run_bit_identical_cpu() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    deterministic(Backend::Cpu);
}

#[test]
fn run_to_run_bit_identical_gpu() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if common::gpu_available("run_to_run_bit_identical_gpu") {
        deterministic(Backend::Gpu);
    }
}

/// Resident set size in bytes, from /proc/self/statm (Linux; `None` elsewhere).
fn rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn memory_flat(backend: Backend, runs: usize) {
    let s = Session::builder().backend(backend).from_bytes(&model()).unwrap();
    let inputs: Vec<Tensor> = (0..4).map(input).collect();
    let warmup = 100.min(runs / 4);
    for i in 0..warmup {
        bits(&s, &inputs[i % 4]);
    }
    let Some(before) = rss() else {
        eprintln!("SKIP memory check: no /proc/self/statm");
        return;
    };
    for i in 0..runs {
        bits(&s, &inputs[i % 4]);
    }
    let after = rss().unwrap();
    let growth = after.saturating_sub(before);
    eprintln!("{backend:?}: {runs} runs, RSS {before} → {after} bytes (+{growth})");
    // One run's tensors are a few KiB; a leak of even 1 KiB a run would show as ≥ 10 MiB over
    // 10,000 runs. Allow 4 MiB for allocator and driver noise.
    assert!(growth < 4 << 20, "{backend:?}: RSS grew by {growth} bytes over {runs} runs");
}

#[test]
fn resident_memory_stays_flat_cpu() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    memory_flat(Backend::Cpu, if long() { 10_000 } else { 1_000 });
}

#[test]
fn resident_memory_stays_flat_gpu() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if common::gpu_available("resident_memory_stays_flat_gpu") {
        memory_flat(Backend::Gpu, if long() { 10_000 } else { 300 });
    }
}
