//! `SessionBuilder::precision(Precision::F16)`: an f32 model run in f16 keeps f32 inputs and
//! outputs, stores its weights in half the bytes, and stays within 1e-2 of each output's range
//! of the f32 result — on the CPU and on the GPU with CPU fallback disabled.

mod common;

use common::gpu_available;
use onnx_wgpu::embedded::Rng;
use onnx_wgpu::onnx::builder::{Attr, ModelBuilder};
use onnx_wgpu::{Backend, DType, Precision, Session, Tensor};

/// A transformer-like block: MatMul + bias, LayerNormalization, Softmax, Gelu-ish Tanh, a
/// ReduceMean and a Resize-free residual, with seeded random weights.
fn mlp_model() -> Vec<u8> {
    let mut rng = Rng::new(7);
    let mut rand = |shape: &[usize], s: f32| {
        let n: usize = shape.iter().product();
        Tensor::new(shape, (0..n).map(|_| rng.uniform() * s).collect::<Vec<f32>>()).unwrap()
    };
    let mut b = ModelBuilder::new(17);
    b.input("x", DType::F32, &[2, 5, 16]);
    b.initializer("w1", rand(&[16, 32], 0.5));
    b.initializer("b1", rand(&[32], 0.1));
    b.initializer("g", rand(&[32], 1.0));
    b.initializer("beta", rand(&[32], 0.1));
    b.initializer("w2", rand(&[32, 16], 0.5));
    b.node("MatMul", &["x", "w1"], &["h"], &[]);
    b.node("Add", &["h", "b1"], &["hb"], &[]);
    b.node("LayerNormalization", &["hb", "g", "beta"], &["ln"], &[("axis", Attr::Int(-1))]);
    b.node("Tanh", &["ln"], &["t"], &[]);
    b.node("MatMul", &["t", "w2"], &["o"], &[]);
    b.node("Add", &["o", "x"], &["res"], &[]);
    b.node("Softmax", &["res"], &["probs"], &[("axis", Attr::Int(-1))]);
    b.node("ReduceMean", &["res"], &["mean"], &[("axes", Attr::Ints(vec![-1]))]);
    b.output("probs", DType::F32, &[2, 5, 16]);
    b.output("mean", DType::F32, &[2, 5, 1]);
    b.to_bytes()
}

/// Runs `model` in f32 and f16 on `backend`; checks the f16 outputs against the f32 ones.
fn check(model: &[u8], inputs: &[(&str, Tensor)], backend: Backend) {
    let build =
        |p: Precision| Session::builder().backend(backend).cpu_fallback(false).precision(p).from_bytes(model).unwrap();
    let (s32, s16) = (build(Precision::F32), build(Precision::F16));
    assert!(s16.inputs().iter().all(|i| i.dtype == DType::F32));
    let w32 = s32.graph().weight_bytes();
    let w16 = s16.graph().weight_bytes();
    assert!(w16 * 2 <= w32 + 64, "{backend:?}: weights {w16} B in f16 vs {w32} B in f32");
    let (want, got) = (s32.run(inputs).unwrap(), s16.run(inputs).unwrap());
    for ((name, w), (_, g)) in want.iter().zip(got.iter()) {
        assert_eq!(g.dtype(), DType::F32, "{name}");
        assert_eq!(g.shape(), w.shape(), "{name}");
        let (w, g) = (w.to_f64_vec().unwrap(), g.to_f64_vec().unwrap());
        let range = w.iter().copied().fold(f64::MIN, f64::max) - w.iter().copied().fold(f64::MAX, f64::min);
        let diff = w.iter().zip(&g).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        eprintln!("{backend:?} {name}: max abs diff {diff:.3e}, range {range:.3e}");
        assert!(diff > 0.0 || range == 0.0, "{backend:?} {name}: identical results: the model did not run in f16?");
        assert!(diff <= 1e-2 * range, "{backend:?} {name}: max abs diff {diff} over 1e-2 of range {range}");
    }
}

fn both(backend: Backend) {
    let mut rng = Rng::new(3);
    let x = Tensor::new(&[2, 5, 16], (0..160).map(|_| rng.uniform()).collect::<Vec<f32>>()).unwrap();
    check(&mlp_model(), &[("x", x)], backend);
    let cnn = onnx_wgpu::embedded::TINY_CNN;
    check(cnn, &[(onnx_wgpu::embedded::INPUT.0, onnx_wgpu::embedded::input())], backend);
}

#[test]
fn fp16_within_range_of_fp32_cpu() {
    both(Backend::Cpu);
}

#[test]
fn fp16_within_range_of_fp32_gpu_no_fallback() {
    if !gpu_available("fp16_within_range_of_fp32_gpu_no_fallback") {
        return;
    }
    both(Backend::Gpu);
}
