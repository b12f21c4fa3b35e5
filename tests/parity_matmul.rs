//! Every matrix-product tile configuration (`ONNX_WGPU_MATMUL=<name>` forces one) against the
//! CPU reference on odd shapes (M, N, K of 1, 3, 17, 65, 130…), broadcast batches, Gemm with
//! transposes, alpha/beta and broadcast C, f16 storage with f32 accumulation and with the
//! session's f16 accumulation; the optimizer's FusedMatMul (bias, every epilogue activation,
//! transposed operands folded from Transpose nodes, permuted operands and results of attention
//! head splits) in ONE dispatch each, against the CPU reference kernels on the unoptimized
//! graph. One test, so that the
//! environment variable is never changed while another test builds a session.

mod common;

use common::{assert_close, gpu_available};
use onnx_wgpu::embedded::Rng;
use onnx_wgpu::onnx::builder::{Attr, ModelBuilder};
use onnx_wgpu::{Backend, DType, Session, Tensor};

fn rand_tensor(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::new(shape, Rng::new(seed).vec(n, 1.0)).unwrap()
}

fn to_f16(t: &Tensor) -> Tensor {
    let v: Vec<half::f16> = t.as_slice::<f32>().unwrap().iter().map(|&x| half::f16::from_f32(x)).collect();
    Tensor::new(t.shape(), v).unwrap()
}

struct Case {
    what: String,
    model: Vec<u8>,
    inputs: Vec<(&'static str, Tensor)>,
    /// The GPU plan must be this many dispatches.
    dispatches: Option<usize>,
}

fn matmul(sa: &[usize], sb: &[usize], f16: bool, seed: u64) -> Case {
    let dt = if f16 { DType::F16 } else { DType::F32 };
    let mut b = ModelBuilder::new(13);
    b.input("a", dt, sa);
    let w = rand_tensor(sb, seed + 1);
    b.initializer("b", if f16 { to_f16(&w) } else { w });
    b.node("MatMul", &["a", "b"], &["y"], &[]);
    b.output("y", dt, &[]);
    let a = rand_tensor(sa, seed);
    Case {
        what: format!("MatMul {sa:?}x{sb:?}{}", if f16 { " f16" } else { "" }),
        model: b.to_bytes(),
        inputs: vec![("a", if f16 { to_f16(&a) } else { a })],
        dispatches: None,
    }
}

fn gemm(m: usize, k: usize, n: usize, ta: bool, tb: bool, c: &[usize], seed: u64) -> Case {
    let mut b = ModelBuilder::new(13);
    let sa = if ta { [k, m] } else { [m, k] };
    let sb = if tb { [n, k] } else { [k, n] };
    b.input("a", DType::F32, &sa);
    b.initializer("b", rand_tensor(&sb, seed + 1)).initializer("c", rand_tensor(c, seed + 2));
    let attrs = [
        ("transA", Attr::Int(ta as i64)),
        ("transB", Attr::Int(tb as i64)),
        ("alpha", Attr::Float(0.5)),
        ("beta", Attr::Float(2.0)),
    ];
    b.node("Gemm", &["a", "b", "c"], &["y"], &attrs);
    b.output("y", DType::F32, &[m, n]);
    Case {
        what: format!("Gemm {m}x{k}x{n} transA={ta} transB={tb} C{c:?}"),
        model: b.to_bytes(),
        inputs: vec![("a", rand_tensor(&sa, seed))],
        dispatches: None,
    }
}

/// `act(MatMul(a, w) + bias)` with w stored transposed behind a Transpose node when `tb`: the
/// optimizer makes it one FusedMatMul, the GPU one dispatch.
fn fused(sa: &[usize], sb: &[usize], bias: &[usize], act: &str, tb: bool, f16: bool, seed: u64) -> Case {
    let dt = if f16 { DType::F16 } else { DType::F32 };
    let cvt = |t: Tensor| if f16 { to_f16(&t) } else { t };
    let mut b = ModelBuilder::new(20);
    b.input("a", dt, sa);
    let r = sb.len();
    let mut stored = sb.to_vec();
    if tb {
        stored.swap(r - 2, r - 1);
    }
    b.initializer("w", cvt(rand_tensor(&stored, seed + 1))).initializer("bias", cvt(rand_tensor(bias, seed + 2)));
    let w = if tb {
        let mut perm: Vec<i64> = (0..r as i64).collect();
        perm.swap(r - 2, r - 1);
        b.node("Transpose", &["w"], &["wt"], &[("perm", Attr::Ints(perm))]);
        "wt"
    } else {
        "w"
    };
    b.node("MatMul", &["a", w], &["m"], &[]);
    b.node("Add", &["m", "bias"], &["z"], &[]);
    match act {
        "Clip" => {
            b.initializer("lo", cvt(Tensor::new(&[], vec![-0.25f32]).unwrap()));
            b.initializer("hi", cvt(Tensor::new(&[], vec![0.5f32]).unwrap()));
            b.node("Clip", &["z", "lo", "hi"], &["y"], &[])
        }
        "Silu" => {
            b.node("Sigmoid", &["z"], &["s"], &[]);
            b.node("Mul", &["s", "z"], &["y"], &[])
        }
        "LeakyRelu" | "HardSigmoid" => b.node(act, &["z"], &["y"], &[("alpha", Attr::Float(0.3))]),
        _ => b.node(act, &["z"], &["y"], &[]),
    };
    b.output("y", dt, &[]);
    Case {
        what: format!(
            "FusedMatMul {act}({sa:?}x{sb:?}{} + {bias:?}){}",
            if tb { "ᵀ" } else { "" },
            if f16 { " f16" } else { "" }
        ),
        model: b.to_bytes(),
        inputs: vec![("a", cvt(rand_tensor(sa, seed)))],
        dispatches: Some(1),
    }
}

/// `act((a·w + bias) + r)` with `r` a second input of the product's shape: one dispatch (the
/// residual read in the epilogue after the bias).
fn residual(sa: &[usize], n: usize, act: &str, seed: u64) -> Case {
    let k = *sa.last().unwrap();
    let mut so = sa.to_vec();
    *so.last_mut().unwrap() = n;
    let mut b = ModelBuilder::new(13);
    b.input("a", DType::F32, sa).input("r", DType::F32, &so);
    b.initializer("w", rand_tensor(&[k, n], seed + 1)).initializer("bias", rand_tensor(&[n], seed + 2));
    b.node("MatMul", &["a", "w"], &["m"], &[]);
    b.node("Add", &["m", "bias"], &["mb"], &[]);
    b.node("Add", &["r", "mb"], &["z"], &[]);
    b.node(act, &["z"], &["y"], &[]);
    b.output("y", DType::F32, &[]);
    Case {
        what: format!("FusedMatMul {act}({sa:?}x[{k}, {n}] + bias + residual)"),
        model: b.to_bytes(),
        inputs: vec![("a", rand_tensor(sa, seed)), ("r", rand_tensor(&so, seed + 3))],
        dispatches: Some(1),
    }
}

/// Attention-shaped products whose head-split and head-merge Transposes the optimizer folds
/// into operand and result strides, and a scalar factor into the product's alpha:
/// Q = x·[0,2,1,3] (x: [b, s, h, d]), Kᵀ = k·`k_perm`, V = v·[0,2,1,3],
/// out = ((0.35·Q·Kᵀ)·V)·[0,2,1,3], in two dispatches.
fn permuted(b: usize, s: usize, h: usize, d: usize, t: usize, k_perm: [i64; 4], seed: u64) -> Case {
    let mut m = ModelBuilder::new(13);
    m.input("x", DType::F32, &[b, s, h, d]);
    // k is stored so that k_perm brings it to [b, h, d, t].
    let logical = [b, h, d, t];
    let mut stored = [0; 4];
    for (i, &p) in k_perm.iter().enumerate() {
        stored[p as usize] = logical[i];
    }
    m.initializer("k", rand_tensor(&stored, seed + 1)).initializer("v", rand_tensor(&[b, t, h, d], seed + 2));
    let head = || Attr::Ints(vec![0, 2, 1, 3]);
    m.node("Transpose", &["x"], &["q"], &[("perm", head())]);
    m.node("Transpose", &["k"], &["kt"], &[("perm", Attr::Ints(k_perm.to_vec()))]);
    m.node("Transpose", &["v"], &["vh"], &[("perm", head())]);
    m.initializer("scale", Tensor::new(&[], vec![0.35f32]).unwrap());
    m.node("Mul", &["q", "scale"], &["qs"], &[]);
    m.node("MatMul", &["qs", "kt"], &["scores"], &[]);
    m.node("MatMul", &["scores", "vh"], &["o"], &[]);
    m.node("Transpose", &["o"], &["y"], &[("perm", head())]);
    m.output("y", DType::F32, &[]);
    Case {
        what: format!("permuted attention b{b} s{s} h{h} d{d} t{t} k{k_perm:?}"),
        model: m.to_bytes(),
        inputs: vec![("x", rand_tensor(&[b, s, h, d], seed))],
        dispatches: Some(2),
    }
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let dims =
        [(1, 1, 1), (1, 65, 17), (3, 17, 65), (17, 3, 1), (65, 65, 65), (1, 3, 130), (130, 17, 3), (129, 70, 131)];
    for (i, &(m, k, n)) in dims.iter().enumerate() {
        v.push(matmul(&[m, k], &[k, n], false, i as u64));
        v.push(gemm(m, k, n, i % 2 == 1, i % 3 != 0, &[n], 10 + i as u64));
    }
    v.push(gemm(17, 65, 3, true, true, &[17, 1], 30));
    v.push(gemm(1, 65, 17, false, true, &[1, 17], 31));
    // Broadcast batches: [2,1,3,17]·[3,17,5] and a 2-D A against a batched B.
    v.push(matmul(&[2, 1, 3, 17], &[3, 17, 5], false, 40));
    v.push(matmul(&[17, 5], &[2, 3, 5, 9], false, 41));
    v.push(matmul(&[1, 65], &[2, 65, 33], false, 42));
    for (i, &(m, k, n)) in [(1, 65, 17), (3, 17, 65), (65, 65, 65)].iter().enumerate() {
        v.push(matmul(&[m, k], &[k, n], true, 50 + i as u64));
    }
    // Every epilogue activation, on GEMV-sized and tiled shapes, batched with a broadcast bias,
    // plain and with B transposed.
    let acts = ["Relu", "Clip", "Sigmoid", "Silu", "Tanh", "Gelu", "HardSwish", "HardSigmoid", "LeakyRelu"];
    for (i, act) in acts.iter().enumerate() {
        let s = 60 + 3 * i as u64;
        v.push(fused(&[1, 65], &[65, 17], &[17], act, i % 2 == 0, false, s));
        v.push(fused(&[2, 33, 17], &[17, 65], &[65], act, i % 2 == 1, false, s + 1));
        v.push(fused(&[2, 3, 17], &[2, 17, 5], &[2, 1, 5], act, i % 3 == 0, false, s + 2));
    }
    // Shapes whose K and/or N are multiples of 4 (the tiled kernels' vec4 loads), batched too.
    v.push(matmul(&[33, 64], &[64, 68], false, 80));
    v.push(matmul(&[33, 64], &[64, 65], false, 81));
    v.push(matmul(&[33, 63], &[63, 68], false, 82));
    v.push(matmul(&[2, 1, 12, 20], &[3, 20, 36], false, 83));
    v.push(matmul(&[70, 132], &[132, 20], true, 84));
    v.push(fused(&[2, 12, 16], &[2, 16, 8], &[2, 12, 8], "Gelu", true, false, 85));
    v.push(fused(&[5, 12, 16], &[16, 132], &[132], "Relu", false, false, 86));
    v.push(fused(&[3, 17], &[17, 65], &[3, 65], "Relu", true, true, 90));
    v.push(fused(&[2, 3, 17], &[2, 17, 5], &[5], "Gelu", true, true, 91));
    // Folded permutations: vec4-aligned head sizes and odd ones, one query (GEMV shapes).
    v.push(permuted(2, 5, 3, 8, 6, [0, 2, 3, 1], 100));
    v.push(permuted(1, 17, 2, 5, 9, [0, 2, 3, 1], 101));
    v.push(permuted(2, 1, 3, 4, 7, [0, 2, 3, 1], 102));
    v.push(permuted(1, 12, 4, 16, 12, [2, 0, 3, 1], 103));
    // A residual after the bias, GEMV-sized, tiled and batched.
    v.push(residual(&[1, 65], 17, "Relu", 110));
    v.push(residual(&[2, 33, 16], 68, "Tanh", 111));
    v.push(residual(&[3, 17, 5], 9, "Sigmoid", 112));
    v
}

#[test]
fn every_configuration_matches_cpu() {
    if !gpu_available("parity_matmul") {
        return;
    }
    let cases = cases();
    // The reference: the CPU's reference kernels on the unoptimized graph.
    let want: Vec<Vec<Tensor>> = cases
        .iter()
        .map(|c| {
            let s = Session::builder().backend(Backend::Cpu).optimize(false).from_bytes(&c.model).unwrap();
            s.run(&c.inputs).unwrap().into_vec().into_iter().map(|(_, t)| t).collect()
        })
        .collect();
    for algo in ["tile64", "tile128", "direct4x4", "gemv", "gemv_subgroup"] {
        std::env::set_var("ONNX_WGPU_MATMUL", algo);
        for f16_acc in [false, true] {
            for (c, want) in cases.iter().zip(&want) {
                let f16 = c.inputs[0].1.dtype() == DType::F16;
                if f16_acc && !f16 {
                    continue;
                }
                let s = Session::builder()
                    .backend(Backend::Gpu)
                    .cpu_fallback(false)
                    .f16_accumulation(f16_acc)
                    .from_bytes(&c.model)
                    .unwrap_or_else(|e| panic!("{algo} {}: {e}", c.what));
                if let Some(want) = c.dispatches {
                    let shapes: Vec<Vec<usize>> = c.inputs.iter().map(|(_, t)| t.shape().to_vec()).collect();
                    let d = s.plan_report(&shapes).unwrap().dispatches;
                    assert_eq!(d, want, "{algo} {}: dispatches", c.what);
                }
                let got: Vec<Tensor> = s.run(&c.inputs).unwrap().into_vec().into_iter().map(|(_, t)| t).collect();
                // f16 outputs: one f16 rounding (2^-11 relative) plus the sum's rounding; f16
                // accumulation rounds every partial sum (K ≤ 65 terms of magnitude ≤ 1).
                let (rtol, atol) = match (f16, f16_acc) {
                    (false, _) => (1e-4, 1e-4),
                    (true, false) => (2e-3, 2e-3),
                    (true, true) => (2e-2, 3e-2),
                };
                assert_close(&format!("{algo} f16_acc={f16_acc} {}", c.what), &got[0], &want[0], rtol, atol);
            }
        }
    }
    std::env::remove_var("ONNX_WGPU_MATMUL");
}
