//! Kernel and model benchmarks (criterion): single-op models (matmul, conv) and the embedded
//! default model on the CPU and, when an adapter exists, the GPU. Throughput is reported in
//! FLOP/s (criterion's `Throughput::Elements` counts FLOPs here, 2·M·K·N for a product). On
//! lavapipe these measure a software rasterizer, not a GPU: compare backends side by side,
//! never absolute numbers.
//!
//! The `gemm` group times the matrix-product kernels by weight type as GEMV (1×K×N) and GEMM
//! (M×K×N): f32 MatMul, f16 MatMul (float16 inputs and output; accumulated in f32, and as
//! `f16_acc16` with `SessionBuilder::f16_accumulation`), int8 MatMulInteger (uint8 ×
//! int8 → int32) and QLinearMatMul (uint8), int4 com.microsoft MatMulNBits (bits 4, block 32,
//! f32 activations). B is a constant (weights), A the run's input; a run includes A's upload
//! and Y's read-back. The float products run the autotuner's choice (`ONNX_WGPU_MATMUL=<name>`
//! forces a configuration, `ONNX_WGPU_AUTOTUNE=0` takes the default). Shapes are 1×1024×1024,
//! 128×1024×1024 and 256×256×256 by default; `ONNX_WGPU_BENCH_FULL=1` uses
//! 1×4096×4096, 128×4096×4096 and 512×512×512 on the GPU only (the CPU reference kernels are
//! far too slow there); `ONNX_WGPU_BENCH_SHAPES=1x4096x4096,128x1024x1024` (M×K×N, comma
//! separated) picks the shapes, also on the GPU only.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use onnx_wgpu::embedded::{self, Rng};
use onnx_wgpu::onnx::builder::{Attr, ModelBuilder};
use onnx_wgpu::onnx::proto::OperatorSetIdProto;
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

fn full() -> bool {
    std::env::var("ONNX_WGPU_BENCH_FULL").is_ok_and(|v| v == "1")
}

/// The matrix-product kernels of the `gemm` group.
#[derive(Clone, Copy, Debug)]
enum Gemm {
    F32,
    F16,
    /// f16 with the session's f16 accumulation.
    F16Acc,
    MatMulInteger,
    QLinearMatMul,
    Int4,
}

impl Gemm {
    const ALL: [Gemm; 6] = [Gemm::F32, Gemm::F16, Gemm::F16Acc, Gemm::MatMulInteger, Gemm::QLinearMatMul, Gemm::Int4];

    fn name(self) -> &'static str {
        match self {
            Gemm::F32 => "f32",
            Gemm::F16 => "f16",
            Gemm::F16Acc => "f16_acc16",
            Gemm::MatMulInteger => "int8_matmulinteger",
            Gemm::QLinearMatMul => "int8_qlinearmatmul",
            Gemm::Int4 => "int4_matmulnbits",
        }
    }

    fn a_dtype(self) -> DType {
        match self {
            Gemm::F32 | Gemm::Int4 => DType::F32,
            Gemm::F16 | Gemm::F16Acc => DType::F16,
            Gemm::MatMulInteger | Gemm::QLinearMatMul => DType::U8,
        }
    }

    /// A single-node model `y = a · B` with B a constant of logical shape (K, N).
    fn model(self, m: usize, k: usize, n: usize) -> Vec<u8> {
        let mut b = ModelBuilder::new(13);
        let mut rng = Rng::new(7);
        let bytes = |rng: &mut Rng, len: usize| (0..len).map(|_| (rng.next_u64() & 0xff) as u8).collect::<Vec<u8>>();
        b.input("a", self.a_dtype(), &[m, k]);
        match self {
            Gemm::F32 => {
                b.initializer("b", tensor(&[k, n], 2));
                b.node("MatMul", &["a", "b"], &["y"], &[]);
                b.output("y", DType::F32, &[m, n]);
            }
            Gemm::F16 | Gemm::F16Acc => {
                let w: Vec<f64> = rng.vec(k * n, 1.0).iter().map(|&x| x as f64).collect();
                b.initializer("b", Tensor::from_f64(DType::F16, &[k, n], &w).unwrap());
                b.node("MatMul", &["a", "b"], &["y"], &[]);
                b.output("y", DType::F16, &[m, n]);
            }
            Gemm::MatMulInteger => {
                let w: Vec<i8> = bytes(&mut rng, k * n).into_iter().map(|x| x as i8).collect();
                b.initializer("b", Tensor::new(&[k, n], w).unwrap());
                b.initializer("a_zp", Tensor::new(&[], vec![128u8]).unwrap());
                b.initializer("b_zp", Tensor::new(&[], vec![0i8]).unwrap());
                b.node("MatMulInteger", &["a", "b", "a_zp", "b_zp"], &["y"], &[]);
                b.output("y", DType::I32, &[m, n]);
            }
            Gemm::QLinearMatMul => {
                b.initializer("b", Tensor::new(&[k, n], bytes(&mut rng, k * n)).unwrap());
                b.initializer("a_scale", Tensor::new(&[], vec![0.02f32]).unwrap());
                b.initializer("a_zp", Tensor::new(&[], vec![128u8]).unwrap());
                b.initializer("b_scale", Tensor::new(&[], vec![0.01f32]).unwrap());
                b.initializer("b_zp", Tensor::new(&[], vec![127u8]).unwrap());
                b.initializer("y_scale", Tensor::new(&[], vec![0.5f32]).unwrap());
                b.initializer("y_zp", Tensor::new(&[], vec![128u8]).unwrap());
                b.node(
                    "QLinearMatMul",
                    &["a", "a_scale", "a_zp", "b", "b_scale", "b_zp", "y_scale", "y_zp"],
                    &["y"],
                    &[],
                );
                b.output("y", DType::U8, &[m, n]);
            }
            Gemm::Int4 => {
                let blocks = k.div_ceil(32);
                b.model
                    .opset_import
                    .push(OperatorSetIdProto { domain: Some("com.microsoft".into()), version: Some(1) });
                b.initializer("b", Tensor::new(&[n, blocks, 16], bytes(&mut rng, n * blocks * 16)).unwrap());
                let scales: Vec<f32> = rng.vec(n * blocks, 0.05);
                b.initializer("scales", Tensor::new(&[n * blocks], scales).unwrap());
                let attrs = [
                    ("K", Attr::Int(k as i64)),
                    ("N", Attr::Int(n as i64)),
                    ("bits", Attr::Int(4)),
                    ("block_size", Attr::Int(32)),
                ];
                b.node_in("com.microsoft", "MatMulNBits", &["a", "b", "scales"], &["y"], &attrs);
                b.output("y", DType::F32, &[m, n]);
            }
        }
        b.to_bytes()
    }

    fn input(self, m: usize, k: usize) -> Tensor {
        match self.a_dtype() {
            DType::U8 => Tensor::new(&[m, k], (0..m * k).map(|i| (i * 37 % 251) as u8).collect()).unwrap(),
            DType::F16 => {
                let v: Vec<f64> = Rng::new(1).vec(m * k, 1.0).iter().map(|&x| x as f64).collect();
                Tensor::from_f64(DType::F16, &[m, k], &v).unwrap()
            }
            _ => tensor(&[m, k], 1),
        }
    }
}

/// The shapes of `ONNX_WGPU_BENCH_SHAPES` (`MxKxN,...`), if set.
fn env_shapes() -> Option<Vec<(usize, usize, usize)>> {
    let v = std::env::var("ONNX_WGPU_BENCH_SHAPES").ok()?;
    let shape = |s: &str| -> Option<(usize, usize, usize)> {
        let d: Vec<usize> = s.trim().split('x').map(|x| x.parse().ok()).collect::<Option<_>>()?;
        (d.len() == 3).then(|| (d[0], d[1], d[2]))
    };
    v.split(',').map(shape).collect()
}

fn bench_gemm(c: &mut Criterion) {
    let gpu_only = || backends().into_iter().filter(|b| *b == Backend::Gpu).collect();
    let (shapes, backends): (Vec<(usize, usize, usize)>, Vec<Backend>) = if let Some(s) = env_shapes() {
        (s, gpu_only())
    } else if full() {
        (vec![(1, 4096, 4096), (128, 4096, 4096), (512, 512, 512)], gpu_only())
    } else {
        (vec![(1, 1024, 1024), (128, 1024, 1024), (256, 256, 256)], backends())
    };
    let mut g = c.benchmark_group("gemm");
    for kind in Gemm::ALL {
        for &(m, k, n) in &shapes {
            let model = kind.model(m, k, n);
            let a = kind.input(m, k);
            g.throughput(Throughput::Elements((2 * m * k * n) as u64));
            for &be in &backends {
                let builder = Session::builder().backend(be).cpu_fallback(false);
                let s = match builder.f16_accumulation(matches!(kind, Gemm::F16Acc)).from_bytes(&model) {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("gemm/{}/{be:?}/{m}x{k}x{n}: skipped: {e}", kind.name());
                        continue;
                    }
                };
                let id = BenchmarkId::new(format!("{}/{be:?}", kind.name()), format!("{m}x{k}x{n}"));
                g.bench_with_input(id, &a, |bch, a| bch.iter(|| s.run(&[("a", a.clone())]).unwrap()));
            }
        }
    }
    g.finish();
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
    targets = bench, bench_gemm
}
criterion_main!(benches);
