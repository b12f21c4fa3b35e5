//! CPU-vs-GPU parity: for every GPU kernel, random shapes and attributes (proptest) run through
//! a one-node model on both backends must agree. One shared device serves every case.

mod common;

use common::{assert_close, gpu_available, run};
use onnx_wgpu::embedded::Rng;
use onnx_wgpu::onnx::builder::{Attr, ModelBuilder};
use onnx_wgpu::{Backend, DType, Tensor};
use proptest::prelude::*;

fn rand_tensor(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::new(shape, Rng::new(seed).vec(n, 1.0)).unwrap()
}

/// Builds a one-node model over f32 inputs, runs it on both backends and compares outputs.
fn check_node(
    op: &str,
    inputs: &[(&str, Tensor)],
    consts: &[(&str, Tensor)],
    attrs: &[(&str, Attr)],
    n_out: usize,
    opset: i64,
) {
    let mut b = ModelBuilder::new(opset);
    for (name, t) in inputs {
        b.input(name, t.dtype(), t.shape());
    }
    for (name, t) in consts {
        b.initializer(name, t.clone());
    }
    let names: Vec<&str> = inputs.iter().map(|x| x.0).chain(consts.iter().map(|x| x.0)).collect();
    let outs: Vec<String> = (0..n_out).map(|i| format!("y{i}")).collect();
    let out_refs: Vec<&str> = outs.iter().map(|s| s.as_str()).collect();
    b.node(op, &names, &out_refs, attrs);
    for o in &out_refs {
        b.output(o, DType::F32, &[]);
    }
    let model = b.to_bytes();
    let cpu = run(&model, Backend::Cpu, inputs);
    let gpu = run(&model, Backend::Gpu, inputs);
    for (i, (g, c)) in gpu.iter().zip(&cpu).enumerate() {
        assert_close(&format!("{op} output {i}"), g, c, 1e-4, 1e-4);
    }
}

fn cases() -> ProptestConfig {
    ProptestConfig { cases: 10, failure_persistence: None, ..ProptestConfig::default() }
}

fn shape() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1usize..6, 1..5)
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn unary(s in shape(), seed in 0u64..1000, op in prop::sample::select(vec!["Relu", "Sigmoid", "Tanh", "Exp", "Abs", "Neg", "Floor", "Erf", "Softplus", "HardSwish", "Sin", "Cos"])) {
        if !gpu_available("parity::unary") { return Ok(()); }
        check_node(op, &[("x", rand_tensor(&s, seed))], &[], &[], 1, 17);
    }

    #[test]
    fn activations_with_params(s in shape(), seed in 0u64..1000, alpha in 0.05f32..2.0) {
        if !gpu_available("parity::activations") { return Ok(()); }
        for op in ["LeakyRelu", "Elu", "Celu", "ThresholdedRelu"] {
            check_node(op, &[("x", rand_tensor(&s, seed))], &[], &[("alpha", alpha.into())], 1, 17);
        }
        check_node("HardSigmoid", &[("x", rand_tensor(&s, seed))], &[], &[("alpha", alpha.into()), ("beta", 0.4f32.into())], 1, 17);
    }

    #[test]
    fn binary_broadcast(a in shape(), seed in 0u64..1000, mask in proptest::collection::vec(any::<bool>(), 4), drop in 0usize..3) {
        if !gpu_available("parity::binary") { return Ok(()); }
        // b: a's shape with some dims set to 1 and leading dims dropped.
        let b: Vec<usize> = a.iter().zip(mask.iter().cycle()).map(|(&d, &m)| if m { 1 } else { d }).skip(drop.min(a.len() - 1)).collect();
        for op in ["Add", "Sub", "Mul", "Div", "Max", "Min", "PRelu"] {
            check_node(op, &[("a", rand_tensor(&a, seed)), ("b", rand_tensor(&b, seed + 1))], &[], &[], 1, 17);
        }
        check_node("Sum", &[("a", rand_tensor(&a, seed)), ("b", rand_tensor(&b, seed + 1)), ("c", rand_tensor(&b, seed + 2))], &[], &[], 1, 17);
        check_node("Mean", &[("a", rand_tensor(&a, seed)), ("b", rand_tensor(&b, seed + 1))], &[], &[], 1, 17);
    }

    #[test]
    fn matmul(batch in proptest::collection::vec(1usize..4, 0..3), m in 1usize..70, k in 1usize..40, n in 1usize..70, seed in 0u64..1000) {
        if !gpu_available("parity::matmul") { return Ok(()); }
        let mut sa = batch.clone(); sa.extend([m, k]);
        let sb = vec![k, n];
        check_node("MatMul", &[("a", rand_tensor(&sa, seed)), ("b", rand_tensor(&sb, seed + 1))], &[], &[], 1, 17);
    }

    #[test]
    fn gemm(m in 1usize..70, k in 1usize..40, n in 1usize..70, ta in any::<bool>(), tb in any::<bool>(), bias_row in any::<bool>(), seed in 0u64..1000) {
        if !gpu_available("parity::gemm") { return Ok(()); }
        let sa = if ta { vec![k, m] } else { vec![m, k] };
        let sb = if tb { vec![n, k] } else { vec![k, n] };
        let sc = if bias_row { vec![n] } else { vec![m, 1] };
        let attrs = [("transA", Attr::Int(ta as i64)), ("transB", Attr::Int(tb as i64)), ("alpha", 0.7f32.into()), ("beta", 1.3f32.into())];
        check_node("Gemm", &[("a", rand_tensor(&sa, seed))], &[("b", rand_tensor(&sb, seed + 1)), ("c", rand_tensor(&sc, seed + 2))], &attrs, 1, 17);
    }

    #[test]
    fn conv2d(n in 1usize..3, g in 1usize..3, cpg in 1usize..5, mpg in 1usize..6, h in 3usize..12, w in 3usize..12,
              k in 1usize..4, stride in 1usize..3, dil in 1usize..3, pad in 0usize..2, bias in any::<bool>(), seed in 0u64..1000) {
        if !gpu_available("parity::conv2d") { return Ok(()); }
        let kk = k.min((h - 1) / dil + 1).min((w - 1) / dil + 1);
        let (c, m) = (g * cpg, g * mpg);
        let x = rand_tensor(&[n, c, h, w], seed);
        let wt = rand_tensor(&[m, cpg, kk, kk], seed + 1);
        let mut consts = vec![("w", wt)];
        if bias { consts.push(("b", rand_tensor(&[m], seed + 2))); }
        let ints = |v: i64, r: usize| Attr::Ints(vec![v; r]);
        let attrs = [("group", Attr::Int(g as i64)), ("strides", ints(stride as i64, 2)), ("dilations", ints(dil as i64, 2)), ("pads", ints(pad as i64, 4))];
        check_node("Conv", &[("x", x)], &consts, &attrs, 1, 17);
    }

    #[test]
    fn depthwise_and_1d_conv(c in 1usize..6, mult in 1usize..3, h in 3usize..10, seed in 0u64..1000, same in any::<bool>()) {
        if !gpu_available("parity::depthwise") { return Ok(()); }
        let x = rand_tensor(&[1, c, h, h + 1], seed);
        let wt = rand_tensor(&[c * mult, 1, 3, 3], seed + 1);
        let pad = if same { ("auto_pad", Attr::Str("SAME_UPPER".into())) } else { ("pads", Attr::Ints(vec![1, 0, 1, 2])) };
        check_node("Conv", &[("x", x)], &[("w", wt), ("b", rand_tensor(&[c * mult], seed + 2))], &[("group", Attr::Int(c as i64)), pad], 1, 17);
        let x1 = rand_tensor(&[2, c, h + 3], seed + 3);
        let w1 = rand_tensor(&[4, c, 3], seed + 4);
        check_node("Conv", &[("x", x1)], &[("w", w1)], &[("strides", Attr::Ints(vec![2])), ("pads", Attr::Ints(vec![1, 1]))], 1, 17);
    }

    #[test]
    fn pooling(c in 1usize..4, h in 2usize..11, w in 2usize..11, k in 1usize..4, stride in 1usize..3, pad in 0usize..2, ceil in any::<bool>(), cip in any::<bool>(), seed in 0u64..1000) {
        if !gpu_available("parity::pooling") { return Ok(()); }
        let k = k.min(h).min(w).max(pad + 1);
        let x = rand_tensor(&[2, c, h + pad, w + pad], seed);
        let common = vec![("kernel_shape", Attr::Ints(vec![k as i64; 2])), ("strides", Attr::Ints(vec![stride as i64; 2])), ("pads", Attr::Ints(vec![pad as i64; 4])), ("ceil_mode", Attr::Int(ceil as i64))];
        check_node("MaxPool", &[("x", x.clone())], &[], &common, 1, 17);
        let mut avg = common.clone();
        avg.push(("count_include_pad", Attr::Int(cip as i64)));
        check_node("AveragePool", &[("x", x.clone())], &[], &avg, 1, 17);
        check_node("GlobalAveragePool", &[("x", x.clone())], &[], &[], 1, 17);
        check_node("GlobalMaxPool", &[("x", x)], &[], &[], 1, 17);
    }

    #[test]
    fn reductions(s in proptest::collection::vec(1usize..7, 1..5), axes_mask in 1u32..16, keep in any::<bool>(), seed in 0u64..1000) {
        if !gpu_available("parity::reduce") { return Ok(()); }
        let axes: Vec<i64> = (0..s.len() as i64).filter(|&a| axes_mask & (1 << a) != 0).collect();
        let axes = if axes.is_empty() { vec![0] } else { axes };
        let x = Tensor::new(&s, Rng::new(seed).vec(s.iter().product(), 1.0).into_iter().map(|v| v + 1.5).collect()).unwrap();
        for op in ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"] {
            check_node(op, &[("x", x.clone())], &[("axes", Tensor::new(&[axes.len()], axes.clone()).unwrap())], &[("keepdims", Attr::Int(keep as i64))], 1, 18);
        }
    }

    #[test]
    fn softmax_family(s in proptest::collection::vec(1usize..9, 1..4), axis in 0i64..3, seed in 0u64..1000, big in any::<bool>()) {
        if !gpu_available("parity::softmax") { return Ok(()); }
        let mut s = s;
        if big { s.push(300); }
        let axis = axis % s.len() as i64;
        for op in ["Softmax", "LogSoftmax", "Hardmax"] {
            check_node(op, &[("x", rand_tensor(&s, seed))], &[], &[("axis", Attr::Int(axis))], 1, 13);
            check_node(op, &[("x", rand_tensor(&s, seed))], &[], &[("axis", Attr::Int(axis))], 1, 11);
        }
    }

    #[test]
    fn layout_ops(s in proptest::collection::vec(1usize..6, 2..5), seed in 0u64..1000, rot in 0usize..4) {
        if !gpu_available("parity::layout") { return Ok(()); }
        let r = s.len();
        let x = rand_tensor(&s, seed);
        let mut perm: Vec<i64> = (0..r as i64).collect();
        perm.rotate_left(rot % r);
        check_node("Transpose", &[("x", x.clone())], &[], &[("perm", Attr::Ints(perm))], 1, 17);
        let axis = (rot % r) as i64;
        let mut s2 = s.clone();
        s2[axis as usize] += 2;
        check_node("Concat", &[("a", x.clone()), ("b", rand_tensor(&s2, seed + 1))], &[], &[("axis", Attr::Int(axis))], 1, 17);
        let len = s[axis as usize] as i64;
        check_node("Slice", &[("x", x.clone())], &[("st", Tensor::new(&[1], vec![len - 1]).unwrap()), ("en", Tensor::new(&[1], vec![-len - 5]).unwrap()), ("ax", Tensor::new(&[1], vec![axis]).unwrap()), ("sp", Tensor::new(&[1], vec![-2i64]).unwrap())], &[], 1, 17);
        let idx = Tensor::new(&[3], vec![0i64, len - 1, -1]).unwrap();
        check_node("Gather", &[("x", x.clone())], &[("i", idx)], &[("axis", Attr::Int(axis))], 1, 17);
        let mut target: Vec<i64> = s.iter().map(|&d| d as i64).collect();
        target.insert(0, 2);
        let ones: Vec<usize> = s.iter().enumerate().map(|(i, &d)| if i == axis as usize { 1 } else { d }).collect();
        check_node("Expand", &[("x", rand_tensor(&ones, seed + 2))], &[("shape", Tensor::new(&[target.len()], target).unwrap())], &[], 1, 17);
        if s[axis as usize] >= 2 {
            let first = (s[axis as usize] / 2) as i64;
            let split = Tensor::new(&[2], vec![first, len - first]).unwrap();
            check_node("Split", &[("x", x.clone())], &[("split", split)], &[("axis", Attr::Int(axis))], 2, 17);
        }
    }

    #[test]
    fn normalization_and_clip(c in 1usize..8, h in 1usize..6, seed in 0u64..1000, size in 1i64..6) {
        if !gpu_available("parity::norm") { return Ok(()); }
        let x = rand_tensor(&[2, c, h, 3], seed);
        let var = Tensor::new(&[c], Rng::new(seed + 5).vec(c, 0.5).into_iter().map(|v| v + 1.0).collect()).unwrap();
        check_node("BatchNormalization", &[("x", x.clone())], &[("s", rand_tensor(&[c], seed + 1)), ("b", rand_tensor(&[c], seed + 2)), ("m", rand_tensor(&[c], seed + 3)), ("v", var)], &[("epsilon", 1e-3f32.into())], 1, 15);
        check_node("LRN", &[("x", x.clone())], &[], &[("size", Attr::Int(size)), ("alpha", 0.01f32.into()), ("beta", 0.75f32.into()), ("bias", 1.5f32.into())], 1, 13);
        check_node("Clip", &[("x", x.clone())], &[("lo", Tensor::scalar(-0.3f32)), ("hi", Tensor::scalar(0.4f32))], &[], 1, 13);
        check_node("Clip", &[("x", x)], &[], &[("min", (-0.2f32).into()), ("max", 0.2f32.into())], 1, 6);
    }
}

#[test]
fn large_weight_is_split_across_bindings() {
    // A Gemm whose weight exceeds the binding limit is planned as several dispatches over
    // aligned slices of the weight (along N when transposed, else along K, accumulating); the
    // result must equal the CPU's.
    if !gpu_available("parity::large_weight") {
        return;
    }
    use onnx_wgpu::Session;
    for trans_b in [0i64, 1] {
        let (m, k, n) = (3, 70, 90);
        let mut b = ModelBuilder::new(13);
        b.input("a", DType::F32, &[m, k]);
        let ws = if trans_b == 1 { [n, k] } else { [k, n] };
        b.initializer("w", rand_tensor(&ws, 3)).initializer("c", rand_tensor(&[n], 4));
        b.node("Gemm", &["a", "w", "c"], &["y"], &[("transB", Attr::Int(trans_b))]);
        b.output("y", DType::F32, &[m, n]);
        let model = b.to_bytes();
        let s = Session::builder().backend(Backend::Gpu).max_binding_bytes(4096).from_bytes(&model).unwrap();
        let report = s.plan_report(&[vec![m, k]]).unwrap();
        assert!(report.dispatches > 1, "transB={trans_b}: expected a split, got {} dispatch(es)", report.dispatches);
        let x = rand_tensor(&[m, k], 5);
        let gpu = s.run(&[("a", x.clone())]).unwrap();
        let cpu = run(&model, Backend::Cpu, &[("a", x)]);
        assert_close("gemm", &gpu[0], &cpu[0], 1e-4, 1e-4);
    }
}

#[test]
fn double_exp_and_log_are_full_precision() {
    // WGSL has no f64 transcendentals; the f64 type library computes exp/log itself and must
    // agree with the CPU's (libm) to near double precision, across the whole range.
    if !gpu_available("parity::double_exp_log") {
        return;
    }
    let exp_in = [-745.0, -700.5, -20.25, -1.0, -1e-10, 0.0, 1e-300, 0.5, 1.0, 2.0, 10.0, 88.7, 700.0, 709.7, 710.0];
    let log_in = [4e-320, 1e-300, 1e-10, 0.1, 0.5, 1.0, 1.0 + 1e-12, 2.0, 10.0, 12345.678, 1e300, 1.7e308];
    for (op, xs) in [("Exp", &exp_in[..]), ("Log", &log_in[..])] {
        let x = Tensor::new(&[xs.len()], xs.to_vec()).unwrap();
        let mut b = ModelBuilder::new(17);
        b.input("x", DType::F64, &[xs.len()]);
        b.node(op, &["x"], &["y"], &[]);
        b.output("y", DType::F64, &[xs.len()]);
        let model = b.to_bytes();
        let gpu = run(&model, Backend::Gpu, &[("x", x.clone())]);
        let cpu = run(&model, Backend::Cpu, &[("x", x)]);
        assert_close(op, &gpu[0], &cpu[0], 1e-14, 1e-300);
    }
}

#[test]
fn split_with_unread_parts_keeps_offsets() {
    // Only the last part of a Split is read: the GPU must still offset it past the parts
    // nobody reads (they get no buffers).
    if !gpu_available("parity::split_unread") {
        return;
    }
    let mut b = ModelBuilder::new(13);
    b.input("x", DType::F32, &[6, 4]);
    b.initializer("sizes", Tensor::new(&[3], vec![1i64, 2, 3]).unwrap());
    b.node("Split", &["x", "sizes"], &["a", "b", "c"], &[]);
    b.output("c", DType::F32, &[3, 4]);
    let model = b.to_bytes();
    let x = rand_tensor(&[6, 4], 9);
    let gpu = run(&model, Backend::Gpu, &[("x", x.clone())]);
    let cpu = run(&model, Backend::Cpu, &[("x", x)]);
    assert_close("split", &gpu[0], &cpu[0], 0.0, 0.0);
}
