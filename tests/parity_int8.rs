//! CPU-vs-GPU parity of the packed int8 product (`kernels/quant_dp4.rs`: operands packed four
//! per u32, `dot4I8Packed`, zero points by algebra) with the CPU fallback disabled, on shapes
//! the packing finds awkward: K not a multiple of 4 (1, 3, 5, 7, 13, 33, 70), M = 1, N = 1,
//! several tiles, batches with broadcasting; uint8/int8 in every combination; zero points at
//! the extremes (0, 255, -128, 127), per column and per channel; operands as constants (packed
//! on the host) and as run-time inputs (read one value per word and packed by the product),
//! convolutions through im2col, the identity window and the depthwise kernel; data forced to
//! include the range ends. Integer outputs must be identical.

mod common;

use common::{assert_close, gpu_available};
use onnx_wgpu::embedded::Rng;
use onnx_wgpu::onnx::builder::{Attr, ModelBuilder};
use onnx_wgpu::onnx::proto::OperatorSetIdProto;
use onnx_wgpu::{Backend, DType, Session, Tensor};

fn run(model: &[u8], backend: Backend, inputs: &[(&str, Tensor)]) -> Vec<Tensor> {
    let s = Session::builder()
        .backend(backend)
        .cpu_fallback(false)
        .from_bytes(model)
        .unwrap_or_else(|e| panic!("{backend:?} load: {e}"));
    let outs = s.run(inputs).unwrap_or_else(|e| panic!("{backend:?} run: {e}"));
    outs.into_vec().into_iter().map(|(_, t)| t).collect()
}

struct R(Rng);

impl R {
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.0.next_u64() % (hi - lo + 1) as u64) as i64
    }
    /// 8-bit data of `dtype` over the full range, its first two elements the range's ends.
    fn data(&mut self, dtype: DType, shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        let (lo, hi) = if dtype == DType::U8 { (0, 255) } else { (-128, 127) };
        let v: Vec<i64> = (0..n)
            .map(|i| match i {
                0 => lo,
                1 => hi,
                _ => self.int(lo, hi),
            })
            .collect();
        int8(dtype, shape, &v)
    }
}

fn int8(dtype: DType, shape: &[usize], v: &[i64]) -> Tensor {
    if dtype == DType::U8 {
        Tensor::new(shape, v.iter().map(|&x| x as u8).collect()).unwrap()
    } else {
        Tensor::new(shape, v.iter().map(|&x| x as i8).collect()).unwrap()
    }
}

/// The extreme zero points of a type, and one in the middle.
fn zero_points(dtype: DType) -> [i64; 3] {
    if dtype == DType::U8 {
        [0, 255, 77]
    } else {
        [-128, 127, -5]
    }
}

/// One input: fed at run time or an initializer.
struct In {
    name: &'static str,
    t: Option<Tensor>,
    runtime: bool,
}

fn inp(name: &'static str, t: Tensor, runtime: bool) -> In {
    In { name, t: Some(t), runtime }
}

fn absent() -> In {
    In { name: "", t: None, runtime: false }
}

/// Runs a one-node model on both backends; integer outputs must match exactly. `kernel`: a
/// piece of the kernel label the GPU plan must contain.
fn check(what: &str, domain: &str, op: &str, ins: &[In], attrs: &[(&str, Attr)], out: DType, kernel: &str) {
    let mut b = ModelBuilder::new(13);
    if domain == "com.microsoft" {
        b.model.opset_import.push(OperatorSetIdProto { domain: Some(domain.into()), version: Some(1) });
    }
    let mut feeds = Vec::new();
    for i in ins {
        if let Some(t) = &i.t {
            if i.runtime {
                b.input(i.name, t.dtype(), t.shape());
                feeds.push((i.name, t.clone()));
            } else {
                b.initializer(i.name, t.clone());
            }
        }
    }
    let names: Vec<&str> = ins.iter().map(|i| i.name).collect();
    b.node_in(domain, op, &names, &["y"], attrs);
    b.output("y", out, &[]);
    let model = b.to_bytes();
    let cpu = run(&model, Backend::Cpu, &feeds);
    let gpu = run(&model, Backend::Gpu, &feeds);
    // The expected kernel ran (e.g. the packed product, not the one-invocation-per-output
    // kernel it falls back to).
    let s = Session::builder().backend(Backend::Gpu).cpu_fallback(false).from_bytes(&model).unwrap();
    let shapes: Vec<Vec<usize>> = feeds.iter().map(|(_, t)| t.shape().to_vec()).collect();
    let plan = s.plan_report(&shapes).unwrap().text;
    assert!(plan.contains(kernel), "{what}: {kernel} is not in the plan:\n{plan}");
    assert_eq!(gpu[0].shape(), cpu[0].shape(), "{what}: shape");
    if out == DType::F32 {
        assert_close(what, &gpu[0], &cpu[0], 1e-6, 1e-6);
    } else {
        assert_eq!(gpu[0].to_i64_vec().unwrap(), cpu[0].to_i64_vec().unwrap(), "{what}");
    }
}

/// The packed product's kernel label.
const DP4: &str = "quantmatmuldp4";

const TYPES: [(DType, DType); 4] =
    [(DType::U8, DType::I8), (DType::U8, DType::U8), (DType::I8, DType::I8), (DType::I8, DType::U8)];

#[test]
fn matmul_integer_matches_the_reference() {
    if !gpu_available("matmul_integer_matches_the_reference") {
        return;
    }
    let mut r = R(Rng::new(11));
    // (A's shape, B's shape): M = 1, N = 1, K odd, several tiles, batches and broadcasting.
    let shapes: [(&[usize], &[usize]); 9] = [
        (&[1, 7], &[7, 5]),
        (&[1, 70], &[70, 300]),
        (&[3, 1], &[1, 4]),
        (&[9, 13], &[13, 1]),
        (&[70, 33], &[33, 67]),
        (&[2, 5, 3], &[3, 6]),
        (&[2, 4, 5], &[2, 5, 3]),
        (&[13], &[13, 9]),
        (&[2, 1, 6, 5], &[3, 5, 7]),
    ];
    for (si, (sa, sb)) in shapes.iter().enumerate() {
        for (ti, &(ta, tb)) in TYPES.iter().enumerate() {
            let n = *sb.last().unwrap();
            let za = zero_points(ta)[(si + ti) % 3];
            let zb = zero_points(tb)[(si + 2 * ti) % 3];
            // B's zero point: absent, a scalar, or per column (2-D B only).
            let bz = match (si + ti) % 3 {
                0 => absent(),
                1 => inp("bz", int8(tb, &[], &[zb]), false),
                _ if sb.len() == 2 => {
                    let v: Vec<i64> = (0..n).map(|j| zero_points(tb)[j % 3]).collect();
                    inp("bz", int8(tb, &[n], &v), false)
                }
                _ => inp("bz", int8(tb, &[], &[zb]), false),
            };
            let b_runtime = (si + ti) % 2 == 1;
            let ins = [
                inp("a", r.data(ta, sa), true),
                inp("b", r.data(tb, sb), b_runtime),
                inp("az", int8(ta, &[], &[za]), si % 4 == 3),
                bz,
            ];
            let what = format!("MatMulInteger {ta}{sa:?} x {tb}{sb:?} za {za} b runtime {b_runtime}");
            check(&what, "", "MatMulInteger", &ins, &[], DType::I32, DP4);
        }
    }
}

#[test]
fn qlinear_matmul_matches_the_reference() {
    if !gpu_available("qlinear_matmul_matches_the_reference") {
        return;
    }
    let mut r = R(Rng::new(12));
    let shapes: [(&[usize], &[usize]); 4] =
        [(&[1, 33], &[33, 20]), (&[17, 5], &[5, 70]), (&[2, 3, 7], &[7, 1]), (&[65, 3], &[3, 66])];
    for (si, (sa, sb)) in shapes.iter().enumerate() {
        for (ti, &(ta, tb)) in TYPES.iter().enumerate() {
            let (za, zb, zy) = (zero_points(ta)[si % 3], zero_points(tb)[(si + ti) % 3], zero_points(ta)[(ti + 1) % 3]);
            let f = |v: f32| Tensor::new(&[], vec![v]).unwrap();
            let ins = [
                inp("a", r.data(ta, sa), true),
                inp("as", f(0.02), false),
                inp("az", int8(ta, &[], &[za]), false),
                inp("b", r.data(tb, sb), ti % 2 == 0),
                inp("bs", f(0.013), false),
                inp("bz", int8(tb, &[], &[zb]), false),
                inp("ys", f(0.7), false),
                inp("yz", int8(ta, &[], &[zy]), false),
            ];
            let what = format!("QLinearMatMul {ta}{sa:?} x {tb}{sb:?} zero points {za} {zb} {zy}");
            check(&what, "", "QLinearMatMul", &ins, &[], ta, DP4);
        }
    }
}

#[test]
fn conv_integer_matches_the_reference() {
    if !gpu_available("conv_integer_matches_the_reference") {
        return;
    }
    let mut r = R(Rng::new(13));
    // (x shape, w shape, group, pads, strides, dilations)
    type Case = (&'static [usize], &'static [usize], i64, &'static [i64], &'static [i64], &'static [i64]);
    let cases: [Case; 9] = [
        (&[1, 3, 7, 6], &[5, 3, 3, 3], 1, &[1, 1, 1, 1], &[1, 1], &[1, 1]),
        // Depthwise (the direct 2-D kernel, four output columns per invocation; widths not a
        // multiple of four), and with a channel multiplier (the packed product).
        (&[1, 4, 9, 8], &[4, 1, 3, 3], 4, &[1, 1, 1, 1], &[2, 2], &[1, 1]),
        (&[2, 5, 6, 11], &[5, 1, 3, 2], 5, &[0, 1, 2, 0], &[1, 1], &[2, 1]),
        (&[1, 3, 7, 6], &[6, 1, 3, 3], 3, &[1, 1, 1, 1], &[1, 2], &[1, 1]),
        (&[2, 5, 9, 9], &[8, 5, 1, 1], 1, &[0, 0, 0, 0], &[2, 2], &[1, 1]),
        (&[1, 4, 8, 7], &[6, 2, 3, 2], 2, &[1, 0, 2, 1], &[1, 2], &[2, 1]),
        (&[1, 1, 5, 5], &[70, 1, 3, 3], 1, &[1, 1, 1, 1], &[1, 1], &[1, 1]),
        (&[1, 7, 11], &[3, 7, 5], 1, &[2, 2], &[3], &[1]),
        (&[1, 33, 4, 4], &[1, 33, 1, 1], 1, &[0, 0, 0, 0], &[1, 1], &[1, 1]),
    ];
    for (ci, &(sx, sw, group, pads, strides, dil)) in cases.iter().enumerate() {
        // 2-D with one input and one output channel per group: the direct depthwise kernel.
        let depthwise = sx.len() == 4 && sw[1] == 1 && sw[0] as i64 == group && group > 1;
        let kernel = if depthwise { "depthwise_true" } else { DP4 };
        for (ti, &(tx, tw)) in TYPES.iter().enumerate() {
            let m = sw[0];
            let zx = zero_points(tx)[(ci + ti) % 3];
            let wz = if (ci + ti) % 2 == 0 {
                inp("wz", int8(tw, &[], &[zero_points(tw)[ci % 3]]), false)
            } else {
                let v: Vec<i64> = (0..m).map(|j| zero_points(tw)[(j + ti) % 3]).collect();
                inp("wz", int8(tw, &[m], &v), false)
            };
            let attrs = [
                ("group", Attr::Int(group)),
                ("pads", Attr::Ints(pads.to_vec())),
                ("strides", Attr::Ints(strides.to_vec())),
                ("dilations", Attr::Ints(dil.to_vec())),
            ];
            let w_runtime = ti == 3;
            let ins = [
                inp("x", r.data(tx, sx), true),
                inp("w", r.data(tw, sw), w_runtime),
                inp("xz", int8(tx, &[], &[zx]), false),
                wz,
            ];
            let what = format!("ConvInteger {tx}{sx:?} * {tw}{sw:?} group {group} zx {zx} w runtime {w_runtime}");
            check(&what, "", "ConvInteger", &ins, &attrs, DType::I32, kernel);
            // QLinearConv with per-channel scales and a bias.
            let f = |v: f32| Tensor::new(&[], vec![v]).unwrap();
            let ws: Vec<f32> = (0..m).map(|j| 0.001 * (1 + j % 7) as f32).collect();
            let bias: Vec<i32> = (0..m).map(|j| (j as i32 - 3) * 1000).collect();
            let zw = zero_points(tw)[ti % 3];
            let ins = [
                inp("x", r.data(tx, sx), true),
                inp("xs", f(0.05), false),
                inp("xz", int8(tx, &[], &[zx]), false),
                inp("w", r.data(tw, sw), w_runtime),
                inp("ws", Tensor::new(&[m], ws).unwrap(), false),
                inp("wz2", int8(tw, &[], &[zw]), false),
                inp("ys", f(0.3), false),
                inp("yz", int8(tx, &[], &[zero_points(tx)[(ci + 1) % 3]]), false),
                inp("bias", Tensor::new(&[m], bias).unwrap(), false),
            ];
            let what = format!("QLinearConv {tx}{sx:?} * {tw}{sw:?} group {group} zx {zx} zw {zw}");
            check(&what, "", "QLinearConv", &ins, &attrs, tx, kernel);
        }
    }
}

#[test]
fn qgemm_matches_the_reference() {
    if !gpu_available("qgemm_matches_the_reference") {
        return;
    }
    let mut r = R(Rng::new(14));
    let f = |v: f32| Tensor::new(&[], vec![v]).unwrap();
    for (ci, &(m, k, n)) in [(1, 7, 9), (5, 70, 3), (66, 13, 65)].iter().enumerate() {
        for (ti, &(ta, tb)) in TYPES.iter().enumerate() {
            for (trans_a, trans_b) in [(false, false), (true, true), (false, true)] {
                for requant in [false, true] {
                    let sa: Vec<usize> = if trans_a { vec![k, m] } else { vec![m, k] };
                    let sb: Vec<usize> = if trans_b { vec![n, k] } else { vec![k, n] };
                    let bzv: Vec<i64> = (0..n).map(|j| zero_points(tb)[(j + ci) % 3]).collect();
                    let c: Vec<i32> = (0..m * n).map(|i| (i as i32 % 11 - 5) * 300).collect();
                    let ins = [
                        inp("a", r.data(ta, &sa), true),
                        inp("as", f(0.02), false),
                        inp("az", int8(ta, &[], &[zero_points(ta)[ti % 3]]), false),
                        inp("b", r.data(tb, &sb), false),
                        inp("bs", f(0.011), false),
                        inp("bz", int8(tb, &[n], &bzv), false),
                        inp("c", Tensor::new(&[m, n], c).unwrap(), false),
                        if requant { inp("ys", f(0.9), false) } else { absent() },
                        if requant {
                            inp("yz", int8(ta, &[], &[zero_points(ta)[(ti + 1) % 3]]), false)
                        } else {
                            absent()
                        },
                    ];
                    let attrs = [
                        ("transA", Attr::Int(trans_a as i64)),
                        ("transB", Attr::Int(trans_b as i64)),
                        ("alpha", Attr::Float(0.75)),
                    ];
                    let out = if requant { ta } else { DType::F32 };
                    let what = format!("QGemm {ta}{sa:?} x {tb}{sb:?} trans {trans_a}/{trans_b} requant {requant}");
                    check(&what, "com.microsoft", "QGemm", &ins, &attrs, out, DP4);
                }
            }
        }
    }
}
