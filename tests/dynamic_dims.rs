//! Dynamic dims end to end: a transformer encoder layer with symbolic `batch` and `seq` dims,
//! built with the project's model builder, runs on the GPU (no CPU fallback) at several
//! sequence lengths in one session. Each shape signature gets its own plan, the results match
//! the CPU backend, and no compute pipeline is compiled after the first run (dims live in
//! uniforms, never in shader source). Alone in its test binary, so the device-wide pipeline
//! counter sees only this test.

mod common;

use common::{assert_close, gpu_available};
use onnx_wgpu::embedded::Rng;
use onnx_wgpu::onnx::builder::{Attr, DimSpec, ModelBuilder};
use onnx_wgpu::{Backend, DType, Session, Tensor};

const D: usize = 32;
const HEADS: i64 = 4;
const FF: usize = 64;

fn weight(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = Rng::new(seed).vec(n, 1.0).into_iter().map(|x| x * 0.2).collect();
    Tensor::new(shape, v).unwrap()
}

fn encoder_layer() -> Vec<u8> {
    let mut b = ModelBuilder::new(20);
    let dims = [DimSpec::Name("batch".into()), DimSpec::Name("seq".into()), DimSpec::Size(D as i64)];
    b.input_dims("x", DType::F32, &dims);
    for (i, name) in ["wq", "wk", "wv", "wo"].iter().enumerate() {
        b.initializer(name, weight(&[D, D], 10 + i as u64));
    }
    b.initializer("w1", weight(&[D, FF], 20)).initializer("w2", weight(&[FF, D], 21));
    b.initializer("g1", weight(&[D], 22)).initializer("b1", weight(&[D], 23));
    b.initializer("g2", weight(&[D], 24)).initializer("b2", weight(&[D], 25));
    b.initializer("heads", Tensor::new(&[4], vec![0i64, 0, HEADS, D as i64 / HEADS]).unwrap());
    b.initializer("merged", Tensor::new(&[3], vec![0i64, 0, D as i64]).unwrap());
    b.initializer("scale", Tensor::scalar(1.0f32 / ((D as f32 / HEADS as f32).sqrt())));
    let ln = |b: &mut ModelBuilder, x: &str, g: &str, bias: &str, y: &str| {
        b.node("LayerNormalization", &[x, g, bias], &[y], &[("axis", Attr::Int(-1))]);
    };
    ln(&mut b, "x", "g1", "b1", "h");
    for (w, name) in [("wq", "q"), ("wk", "k"), ("wv", "v")] {
        let flat = format!("{name}_flat");
        let split = format!("{name}_heads");
        b.node("MatMul", &["h", w], &[&flat], &[]);
        b.node("Reshape", &[&flat, "heads"], &[&split], &[]);
        let perm = if name == "k" { vec![0, 2, 3, 1] } else { vec![0, 2, 1, 3] };
        b.node("Transpose", &[&split], &[&format!("{name}_t")], &[("perm", Attr::Ints(perm))]);
    }
    b.node("MatMul", &["q_t", "k_t"], &["scores_raw"], &[]);
    b.node("Mul", &["scores_raw", "scale"], &["scores"], &[]);
    b.node("Softmax", &["scores"], &["probs"], &[("axis", Attr::Int(-1))]);
    b.node("MatMul", &["probs", "v_t"], &["ctx_t"], &[]);
    b.node("Transpose", &["ctx_t"], &["ctx"], &[("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
    b.node("Reshape", &["ctx", "merged"], &["ctx_flat"], &[]);
    b.node("MatMul", &["ctx_flat", "wo"], &["attn"], &[]);
    b.node("Add", &["x", "attn"], &["r1"], &[]);
    ln(&mut b, "r1", "g2", "b2", "h2");
    b.node("MatMul", &["h2", "w1"], &["ff1"], &[]);
    b.node("Gelu", &["ff1"], &["ff1g"], &[]);
    b.node("MatMul", &["ff1g", "w2"], &["ff2"], &[]);
    b.node("Add", &["r1", "ff2"], &["y"], &[]);
    b.output_dims("y", DType::F32, &dims);
    b.to_bytes()
}

#[test]
fn one_session_runs_many_sequence_lengths_without_new_pipelines() {
    if !gpu_available("dynamic_dims") {
        return;
    }
    let model = encoder_layer();
    let gpu = Session::builder().backend(Backend::Gpu).cpu_fallback(false).from_bytes(&model).unwrap();
    let cpu = Session::builder().backend(Backend::Cpu).from_bytes(&model).unwrap();
    let mut after_first = None;
    for (k, &(batch, seq)) in [(1usize, 8usize), (2, 16), (1, 33), (3, 5)].iter().enumerate() {
        let x = weight(&[batch, seq, D], 100 + k as u64);
        let g = gpu.run(&[("x", x.clone())]).unwrap();
        let c = cpu.run(&[("x", x)]).unwrap();
        assert_eq!(g[0].shape(), &[batch, seq, D]);
        assert_close(&format!("batch {batch}, seq {seq}"), &g[0], &c[0], 1e-3, 1e-4);
        let compiled = gpu.pipelines_compiled().expect("a GPU session counts pipelines");
        match after_first {
            None => after_first = Some(compiled),
            Some(n) => assert_eq!(compiled, n, "batch {batch}, seq {seq} compiled new pipelines"),
        }
    }
}
