//! CPU-vs-GPU parity of the data-movement kernels (`kernels/movement.rs`) with the CPU
//! fallback disabled: random shapes, attributes and indices (duplicates included), int64 data
//! with values beyond 2^53 (moved exactly), ties for TopK.

mod common;

use common::{assert_close, gpu_available};
use onnx_wgpu::embedded::Rng;
use onnx_wgpu::onnx::builder::{Attr, ModelBuilder};
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

/// Runs a one-node model (inputs fed at run time, `consts` as initializers) on both backends.
fn check(
    op: &str,
    opset: i64,
    inputs: &[(&str, Tensor)],
    consts: &[(&str, Tensor)],
    attrs: &[(&str, Attr)],
    n_out: usize,
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
    assert_eq!(cpu.len(), gpu.len());
    for (i, (g, c)) in gpu.iter().zip(&cpu).enumerate() {
        assert_eq!(g.shape(), c.shape(), "{op} output {i} shape");
        assert_close(&format!("{op} output {i}"), g, c, 1e-5, 1e-6);
    }
}

struct R(Rng);

impl R {
    fn int(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.0.next_u64() % (hi - lo + 1) as u64) as i64
    }
    fn shape(&mut self, rank: usize, max: i64) -> Vec<usize> {
        (0..rank).map(|_| self.int(1, max) as usize).collect()
    }
    fn f32s(&mut self, s: &[usize]) -> Tensor {
        let n: usize = s.iter().product();
        Tensor::new(s, self.0.vec(n, 2.0)).unwrap()
    }
    /// int64 values around ±2^60 (exactness beyond f64).
    fn i64s(&mut self, s: &[usize]) -> Tensor {
        let n: usize = s.iter().product();
        let v: Vec<i64> = (0..n).map(|_| (self.0.next_u64() as i64) >> 3).collect();
        Tensor::new(s, v).unwrap()
    }
    /// Small integers as f32 (ties for TopK).
    fn small(&mut self, s: &[usize]) -> Tensor {
        let n: usize = s.iter().product();
        let v: Vec<f32> = (0..n).map(|_| self.int(-3, 3) as f32).collect();
        Tensor::new(s, v).unwrap()
    }
    fn data(&mut self, s: &[usize], i64: bool) -> Tensor {
        if i64 {
            self.i64s(s)
        } else {
            self.f32s(s)
        }
    }
}

fn ints(v: Vec<i64>) -> Tensor {
    Tensor::new(&[v.len()], v).unwrap()
}

#[test]
fn pad_all_modes() {
    if !gpu_available("parity_movement::pad") {
        return;
    }
    let mut r = R(Rng::new(1));
    for case in 0..24 {
        let rank = r.int(1, 4) as usize;
        let s = r.shape(rank, 5);
        let mode = ["constant", "reflect", "edge", "wrap"][case % 4];
        let mut pads = Vec::new();
        for a in 0..2 * rank {
            let d = s[a % rank] as i64;
            // Crops keep at least one element.
            pads.push(r.int(-(d - 1) / 2, 4));
        }
        let x = r.data(&s, case % 3 == 0);
        let mut consts = vec![("pads", ints(pads))];
        if mode == "constant" && case % 2 == 0 {
            let v = if x.dtype() == DType::I64 { Tensor::scalar(-(1i64 << 62)) } else { Tensor::scalar(7.5f32) };
            consts.push(("value", v));
        }
        check("Pad", 19, &[("x", x)], &consts, &[("mode", mode.into())], 1);
    }
}

#[test]
fn gathers_and_scatters() {
    if !gpu_available("parity_movement::scatter") {
        return;
    }
    let mut r = R(Rng::new(2));
    for case in 0..16 {
        let rank = r.int(1, 3) as usize;
        let s = r.shape(rank, 4);
        let axis = r.int(0, rank as i64 - 1) as usize;
        let mut is = s.clone();
        for (a, d) in is.iter_mut().enumerate() {
            *d = if a == axis { r.int(1, 5) as usize } else { r.int(1, *d as i64) as usize };
        }
        let n: usize = is.iter().product();
        let len = s[axis] as i64;
        let idx = Tensor::new(&is, (0..n).map(|_| r.int(-len, len - 1)).collect::<Vec<i64>>()).unwrap();
        let x = r.data(&s, case % 2 == 1);
        let upd = r.data(&is, case % 2 == 1);
        let ax = ("axis", Attr::from(axis as i64));
        check("GatherElements", 13, &[("x", x.clone()), ("i", idx.clone())], &[], std::slice::from_ref(&ax), 1);
        for red in ["none", "add", "mul", "max", "min"] {
            check(
                "ScatterElements",
                18,
                &[("x", x.clone()), ("i", idx.clone()), ("u", upd.clone())],
                &[],
                &[ax.clone(), ("reduction", red.into())],
                1,
            );
        }
        // ScatterND / GatherND with tuples of length m (duplicates likely).
        let m = r.int(1, rank as i64) as usize;
        let t = r.int(1, 6) as usize;
        let mut iv = Vec::new();
        for _ in 0..t {
            for &d in &s[..m] {
                iv.push(r.int(-(d as i64), d as i64 - 1));
            }
        }
        let ind = Tensor::new(&[t, m], iv).unwrap();
        let mut us = vec![t];
        us.extend(&s[m..]);
        let u = r.data(&us, case % 2 == 1);
        check("GatherND", 13, &[("x", x.clone()), ("i", ind.clone())], &[], &[], 1);
        for red in ["none", "add", "mul", "max", "min"] {
            check(
                "ScatterND",
                18,
                &[("x", x.clone()), ("i", ind.clone()), ("u", u.clone())],
                &[],
                &[("reduction", red.into())],
                1,
            );
        }
    }
}

#[test]
fn topk_cumsum_trilu_tile() {
    if !gpu_available("parity_movement::topk") {
        return;
    }
    let mut r = R(Rng::new(3));
    for case in 0..16 {
        let rank = r.int(1, 3) as usize;
        let s = r.shape(rank, 6);
        let axis = r.int(-(rank as i64), rank as i64 - 1);
        let len = s[axis.rem_euclid(rank as i64) as usize] as i64;
        let x = if case % 2 == 0 { r.small(&s) } else { r.i64s(&s) };
        for largest in [0i64, 1] {
            check(
                "TopK",
                11,
                &[("x", x.clone())],
                &[("k", ints(vec![r.int(0, len)]))],
                &[("axis", axis.into()), ("largest", largest.into())],
                2,
            );
        }
        for op in ["CumSum", "CumProd"] {
            let xs = if case % 2 == 0 { r.small(&s) } else { x.clone() };
            let attrs =
                [("exclusive", Attr::from((case / 2 % 2) as i64)), ("reverse", Attr::from((case / 4 % 2) as i64))];
            check(op, 26, &[("x", xs), ("axis", Tensor::scalar(axis))], &[], &attrs, 1);
        }
        if rank >= 2 {
            let k = Tensor::scalar(r.int(-4, 4));
            check("Trilu", 14, &[("x", x.clone()), ("k", k)], &[], &[("upper", ((case % 2) as i64).into())], 1);
        }
        let reps: Vec<i64> = (0..rank).map(|_| r.int(1, 3)).collect();
        check("Tile", 13, &[("x", x.clone())], &[("r", ints(reps))], &[], 1);
    }
}

#[test]
fn block_shuffles_and_col2im() {
    if !gpu_available("parity_movement::shuffle") {
        return;
    }
    let mut r = R(Rng::new(4));
    for case in 0..8 {
        let b = r.int(1, 3) as usize;
        let (n, c, h, w) = (r.int(1, 2) as usize, r.int(1, 3) as usize, r.int(1, 3) as usize, r.int(1, 3) as usize);
        let mode = if case % 2 == 0 { "DCR" } else { "CRD" };
        let x = r.data(&[n, c * b * b, h, w], case % 3 == 0);
        check("DepthToSpace", 13, &[("x", x)], &[], &[("blocksize", (b as i64).into()), ("mode", mode.into())], 1);
        let x = r.data(&[n, c, h * b, w * b], case % 3 == 0);
        check("SpaceToDepth", 13, &[("x", x)], &[], &[("blocksize", (b as i64).into())], 1);
        // Col2Im over a 2-D image.
        let img = [r.int(3, 6), r.int(3, 6)];
        let blk = [r.int(1, 3), r.int(1, 2)];
        let (dil, st, pads) = ([r.int(1, 2), 1], [r.int(1, 2), r.int(1, 2)], [r.int(0, 1), 0, r.int(0, 1), 1]);
        let nb: Vec<i64> =
            (0..2).map(|d| (img[d] + pads[d] + pads[d + 2] - (dil[d] * (blk[d] - 1) + 1)) / st[d] + 1).collect();
        let x = r.f32s(&[1, (c as i64 * blk[0] * blk[1]) as usize, (nb[0] * nb[1]) as usize]);
        check(
            "Col2Im",
            18,
            &[("x", x)],
            &[("img", ints(img.to_vec())), ("blk", ints(blk.to_vec()))],
            &[("dilations", dil.to_vec().into()), ("strides", st.to_vec().into()), ("pads", pads.to_vec().into())],
            1,
        );
    }
}

#[test]
fn index_maps_and_selections() {
    if !gpu_available("parity_movement::maps") {
        return;
    }
    let mut r = R(Rng::new(5));
    for case in 0..8 {
        let wide = case % 2 == 1;
        // OneHot with int64 and float indices (out of range and negative ones included).
        let rank = r.int(1, 3) as usize;
        let s = r.shape(rank, 4);
        let depth = r.int(1, 5);
        let n: usize = s.iter().product();
        let iv: Vec<i64> = (0..n).map(|_| r.int(-depth - 1, depth + 1)).collect();
        let ind = if wide {
            Tensor::new(&s, iv).unwrap()
        } else {
            Tensor::new(&s, iv.iter().map(|&v| v as f32 + 0.25).collect::<Vec<f32>>()).unwrap()
        };
        let axis = r.int(-(s.len() as i64) - 1, s.len() as i64);
        let values =
            if wide { ints(vec![-(1 << 60), 1 << 61]) } else { Tensor::new(&[2], vec![0.5f32, -2.0]).unwrap() };
        check("OneHot", 11, &[("i", ind)], &[("d", Tensor::scalar(depth)), ("v", values)], &[("axis", axis.into())], 1);
        // EyeLike.
        let es = r.shape(2, 5);
        let x = r.data(&es, wide);
        check("EyeLike", 9, &[("x", x.clone())], &[], &[("k", r.int(-3, 3).into())], 1);
        // ReverseSequence.
        let s = vec![r.int(1, 4) as usize, r.int(1, 4) as usize, r.int(1, 3) as usize];
        let (ba, ta) = if case % 4 < 2 { (0usize, 1usize) } else { (1, 0) };
        let lens: Vec<i64> = (0..s[ba]).map(|_| r.int(0, s[ta] as i64)).collect();
        check(
            "ReverseSequence",
            10,
            &[("x", r.data(&s, wide)), ("l", ints(lens))],
            &[],
            &[("batch_axis", (ba as i64).into()), ("time_axis", (ta as i64).into())],
            1,
        );
        // TensorScatter, linear and circular.
        let cs = vec![r.int(1, 3) as usize, r.int(1, 2) as usize, r.int(2, 5) as usize, r.int(1, 3) as usize];
        let ul = r.int(1, cs[2] as i64) as usize;
        let us = vec![cs[0], cs[1], ul, cs[3]];
        let circular = case % 2 == 0;
        let w: Vec<i64> =
            (0..cs[0]).map(|_| r.int(0, if circular { cs[2] as i64 - 1 } else { (cs[2] - ul) as i64 })).collect();
        check(
            "TensorScatter",
            24,
            &[("c", r.data(&cs, wide)), ("u", r.data(&us, wide)), ("w", ints(w))],
            &[],
            &[("mode", (if circular { "circular" } else { "linear" }).into())],
            1,
        );
        // Compress along an axis and flattened.
        let s = r.shape(2, 4);
        let x = r.data(&s, wide);
        let ax = r.int(0, 1) as usize;
        let cond: Vec<bool> = (0..s[ax]).map(|_| r.int(0, 1) == 1).collect();
        let c = Tensor::from_bools(&[cond.len()], &cond).unwrap();
        check("Compress", 11, &[("x", x.clone())], &[("c", c.clone())], &[("axis", (ax as i64).into())], 1);
        check("Compress", 11, &[("x", x.clone())], &[("c", c)], &[], 1);
        // CenterCropPad.
        let target: Vec<i64> = s.iter().map(|&d| r.int(1, d as i64 + 2)).collect();
        check("CenterCropPad", 18, &[("x", x)], &[("s", ints(target))], &[], 1);
    }
}

#[test]
fn topk_long_axes_sort() {
    if !gpu_available("parity_movement::topk_sort") {
        return;
    }
    let mut r = R(Rng::new(7));
    for case in 0..6 {
        let len = r.int(513, 1500) as usize;
        let (s, axis) = if case % 2 == 0 { (vec![2, len], 1i64) } else { (vec![len, 3], 0i64) };
        let x = if case % 3 == 0 {
            let n: usize = s.iter().product();
            Tensor::new(&s, (0..n).map(|_| r.int(-50, 50) << 35).collect::<Vec<i64>>()).unwrap()
        } else {
            let n: usize = s.iter().product();
            // Ties and a few NaNs.
            let v: Vec<f32> =
                (0..n).map(|i| if i % 97 == 5 { f32::NAN } else { r.int(-20, 20) as f32 * 0.5 }).collect();
            Tensor::new(&s, v).unwrap()
        };
        for (largest, k) in [(1i64, r.int(1, 40)), (0, len as i64), (1, r.int(1, len as i64))] {
            check(
                "TopK",
                11,
                &[("x", x.clone())],
                &[("k", ints(vec![k]))],
                &[("axis", axis.into()), ("largest", largest.into())],
                2,
            );
        }
    }
}

#[test]
fn sixteen_bit_and_double_elements() {
    if !gpu_available("parity_movement::f16") {
        return;
    }
    let caps = onnx_wgpu::backend::wgpu::device::GpuContext::shared().unwrap().caps();
    let mut r = R(Rng::new(8));
    let mut dtypes = vec![DType::BF16];
    if caps.f16 {
        dtypes.push(DType::F16);
    }
    if caps.f64 {
        dtypes.push(DType::F64);
    }
    for d in dtypes {
        for _ in 0..3 {
            let s = r.shape(2, 5);
            let n: usize = s.iter().product();
            let v: Vec<f64> = (0..n).map(|_| r.int(-8, 8) as f64 * 0.375).collect();
            let x = Tensor::from_f64(d, &s, &v).unwrap();
            let pads = ints(vec![1, 0, 2, 1]);
            check("Pad", 19, &[("x", x.clone())], &[("pads", pads.clone())], &[("mode", "reflect".into())], 1);
            check("Pad", 19, &[("x", x.clone())], &[("pads", pads)], &[], 1);
            check("TopK", 11, &[("x", x.clone())], &[("k", ints(vec![1]))], &[], 2);
            check("CumSum", 14, &[("x", x.clone()), ("a", Tensor::scalar(1i64))], &[], &[], 1);
            let idx = Tensor::new(&[3, 1], vec![0i64, s[0] as i64 - 1, 0]).unwrap();
            let u = Tensor::from_f64(d, &[3, s[1]], &vec![1.5; 3 * s[1]]).unwrap();
            check("ScatterND", 18, &[("x", x.clone()), ("i", idx), ("u", u)], &[], &[("reduction", "add".into())], 1);
            check("Trilu", 14, &[("x", x)], &[], &[], 1);
        }
    }
}
