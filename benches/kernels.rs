//! Kernel and model benchmarks (criterion): single-op models (matmul, conv) and the embedded
//! default model on the CPU and, when an adapter exists, the GPU. Throughput is reported in
//! FLOP/s (criterion's `Throughput::Elements` counts FLOPs here). On lavapipe these measure a
//! software rasterizer, not a GPU: compare backends side by side, never absolute numbers.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use onnx_wgpu::embedded::{self, Rng};
use onnx_wgpu::onnx::builder::{Attr, ModelBuilder};
use onnx_wgpu::{Backend, DType, Session, Tensor};

fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Cpu];
    if onnx_wgpu::backend::wgpu::device::GpuContext::shared().is_ok() {
        v.push(Backend::Gpu);
    }
    v
}

fn tensor(shape: &[usize], seed: u64) -> Tensor {
    Tensor::new(shape, Rng::new(seed).vec(shape.iter().product(), 1.0)).unwrap()
}

fn matmul_model(m: usize, k: usize, n: usize) -> Vec<u8> {
    let mut b = ModelBuilder::new(13);
    b.input("a", DType::F32, &[m, k]);
    b.initializer("b", tensor(&[k, n], 2));
    b.node("MatMul", &["a", "b"], &["y"], &[]);
    b.output("y", DType::F32, &[m, n]);
    b.to_bytes()
}

fn conv_model(c: usize, m: usize, hw: usize) -> Vec<u8> {
    let mut b = ModelBuilder::new(13);
    b.input("x", DType::F32, &[1, c, hw, hw]);
    b.initializer("w", tensor(&[m, c, 3, 3], 3));
    b.node("Conv", &["x", "w"], &["y"], &[("pads", Attr::Ints(vec![1; 4]))]);
    b.output("y", DType::F32, &[1, m, hw, hw]);
    b.to_bytes()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("matmul");
    for &(m, k, n) in &[(1, 512, 512), (128, 256, 256), (256, 256, 256)] {
        let model = matmul_model(m, k, n);
        let a = tensor(&[m, k], 1);
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        for be in backends() {
            let s = Session::builder().backend(be).from_bytes(&model).unwrap();
            g.bench_with_input(BenchmarkId::new(format!("{be:?}"), format!("{m}x{k}x{n}")), &a, |bch, a| {
                bch.iter(|| s.run(&[("a", a.clone())]).unwrap())
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("conv3x3");
    for &(ch, m, hw) in &[(16, 32, 32), (32, 32, 16)] {
        let model = conv_model(ch, m, hw);
        let x = tensor(&[1, ch, hw, hw], 1);
        g.throughput(Throughput::Elements((2 * ch * m * 9 * hw * hw) as u64));
        for be in backends() {
            let s = Session::builder().backend(be).from_bytes(&model).unwrap();
            g.bench_with_input(BenchmarkId::new(format!("{be:?}"), format!("{ch}->{m}@{hw}")), &x, |bch, x| {
                bch.iter(|| s.run(&[("x", x.clone())]).unwrap())
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("tiny_cnn");
    let x = embedded::input();
    for be in backends() {
        let s = Session::builder().backend(be).from_bytes(embedded::TINY_CNN).unwrap();
        g.bench_function(format!("{be:?}"), |bch| bch.iter(|| s.run(&[(embedded::INPUT.0, x.clone())]).unwrap()));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
