//! GPU conversion kernels against the CPU reference, bit for bit: Cast between every pair of
//! numeric dtypes (every code of the 8- and 16-bit float formats, rounding ties and their
//! neighbours, subnormals, overflow, NaN and infinities, integer edges), with `saturate` off
//! and every E8M0 rounding mode, and QuantizeLinear / DequantizeLinear on the narrow types.
//! The GPU runs without CPU fallback.

mod common;

use common::gpu_available;
use onnx_wgpu::onnx::builder::{Attr, ModelBuilder};
use onnx_wgpu::{Backend, DType, Session, Tensor};

fn run(model: &[u8], backend: Backend, inputs: &[(&str, Tensor)]) -> Result<Vec<Tensor>, String> {
    let s = Session::builder()
        .backend(backend)
        .cpu_fallback(false)
        .from_bytes(model)
        .map_err(|e| format!("{backend:?} load: {e}"))?;
    let outs = s.run(inputs).map_err(|e| format!("{backend:?} run: {e}"))?;
    Ok(outs.into_vec().into_iter().map(|(_, t)| t).collect())
}

/// Equal bytes, or both NaN where the dtype has NaN.
fn same(got: &Tensor, want: &Tensor) -> Result<(), String> {
    if got.dtype() != want.dtype() || got.shape() != want.shape() {
        return Err(format!("got {:?} {:?}, want {:?} {:?}", got.dtype(), got.shape(), want.dtype(), want.shape()));
    }
    if got.bytes() == want.bytes() {
        return Ok(());
    }
    if got.dtype().is_float() {
        let (g, w) = (got.to_f64_vec()?, want.to_f64_vec()?);
        let gb: Vec<Vec<u8>> = elems(got);
        let wb: Vec<Vec<u8>> = elems(want);
        for i in 0..g.len() {
            if gb[i] != wb[i] && !(g[i].is_nan() && w[i].is_nan()) {
                return Err(format!("element {i}: got {} ({:02x?}), want {} ({:02x?})", g[i], gb[i], w[i], wb[i]));
            }
        }
        return Ok(());
    }
    let (g, w) = (got.to_i64_vec()?, want.to_i64_vec()?);
    let i = (0..g.len()).find(|&i| g[i] != w[i]).unwrap_or(0);
    Err(format!("element {i}: got {}, want {}", g[i], w[i]))
}

fn elems(t: &Tensor) -> Vec<Vec<u8>> {
    let bits = t.dtype().bits();
    if bits >= 8 {
        t.bytes().chunks(bits / 8).map(|c| c.to_vec()).collect()
    } else {
        t.to_i64_vec().unwrap().into_iter().map(|c| vec![c as u8]).collect()
    }
}

const NUMERIC: [DType; 23] = [
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::F64,
    DType::I8,
    DType::U8,
    DType::I16,
    DType::U16,
    DType::I32,
    DType::U32,
    DType::I64,
    DType::U64,
    DType::Bool,
    DType::F8E4M3FN,
    DType::F8E4M3FNUZ,
    DType::F8E5M2,
    DType::F8E5M2FNUZ,
    DType::F8E8M0,
    DType::F4E2M1,
    DType::I4,
    DType::U4,
    DType::I2,
    DType::U2,
];

/// Interesting f64 values: every value of the narrow float formats, the midpoints between
/// neighbours and just beside them, powers of two across the f32 and f64 ranges, integer edges.
fn probe_values() -> Vec<f64> {
    let mut v = vec![0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -f64::NAN, 1.0, -1.0];
    let mut codes: Vec<f64> = Vec::new();
    for d in [DType::F8E4M3FN, DType::F8E4M3FNUZ, DType::F8E5M2, DType::F8E5M2FNUZ, DType::F8E8M0] {
        let t = Tensor::from_bytes(d, &[256], &(0..=255u8).collect::<Vec<_>>()).unwrap();
        codes.extend(t.to_f64_vec().unwrap().into_iter().filter(|x| x.is_finite()));
    }
    codes.extend([0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]);
    let f16: Vec<f64> = (0..=u16::MAX).step_by(7).map(|b| half::f16::from_bits(b).to_f64()).collect();
    codes.extend(f16.iter().filter(|x| x.is_finite()));
    codes.sort_by(|a, b| a.partial_cmp(b).unwrap());
    codes.dedup();
    for w in codes.windows(2) {
        let mid = (w[0] + w[1]) / 2.0;
        v.extend([w[0], mid, mid * (1.0 + 1e-7), mid * (1.0 - 1e-7), mid * (1.0 + 1e-12)]);
    }
    for e in -1080..1030 {
        let p = 2f64.powi(e);
        v.extend([p, -p * 1.375, p * (1.0 + 2f64.powi(-24) + 2f64.powi(-40)), p * 1.999]);
    }
    for x in [
        127.0,
        128.0,
        255.0,
        256.0,
        -129.0,
        32767.5,
        65535.9,
        65536.0,
        2147483647.0,
        2147483648.0,
        -2147483649.0,
        4294967295.0,
        4294967296.0,
        3e9,
        -3e9,
        1e19,
        9.2e18,
        9.3e18,
        1.8e19,
        1.9e19,
        -9.3e18,
        1e20,
        -1e20,
        7.5,
        -2.5,
        15.0,
        8.0,
        -9.0,
        1.9,
        65520.0,
        65519.0,
        57344.0,
        61440.0,
        61439.0,
        448.0,
        464.0,
        465.0,
        480.0,
        240.0,
        248.0,
    ] {
        v.extend([x, -x]);
    }
    v
}

fn source(d: DType) -> Tensor {
    let ints: Vec<i64> = [
        0,
        1,
        -1,
        2,
        -2,
        3,
        7,
        -8,
        8,
        15,
        16,
        127,
        -128,
        128,
        255,
        256,
        -129,
        32767,
        -32768,
        65535,
        65536,
        16777217,
        -16777217,
        16777219,
        i32::MAX as i64,
        i32::MIN as i64,
        u32::MAX as i64,
        1 << 40,
        (1 << 53) + 1,
        (1i64 << 60) + (1i64 << 36) + 1,
        i64::MAX,
        i64::MIN,
        -(1 << 45) - 3,
        465,
        -465,
        61440,
        57345,
    ]
    .into_iter()
    .chain((0..200).map(|i| (i * 7919 - 500) * (i % 13 + 1)))
    .collect();
    match d {
        DType::F16 | DType::BF16 => {
            let b: Vec<u8> = (0..=u16::MAX).flat_map(|x| x.to_le_bytes()).collect();
            Tensor::from_bytes(d, &[65536], &b).unwrap()
        }
        DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 | DType::F8E5M2FNUZ | DType::F8E8M0 => {
            Tensor::from_bytes(d, &[256], &(0..=255u8).collect::<Vec<_>>()).unwrap()
        }
        DType::F4E2M1 => Tensor::from_bytes(d, &[32], &(0..16u8).map(|i| i | (i << 4)).collect::<Vec<_>>()).unwrap(),
        DType::F32 => {
            let v: Vec<f32> = probe_values().into_iter().map(|x| x as f32).collect();
            Tensor::new(&[v.len()], v).unwrap()
        }
        DType::F64 => {
            let v = probe_values();
            Tensor::new(&[v.len()], v).unwrap()
        }
        DType::U64 => {
            let v: Vec<u64> = ints.iter().map(|&x| x as u64).chain([u64::MAX, 1 << 63, (1 << 63) + 4097]).collect();
            Tensor::new(&[v.len()], v).unwrap()
        }
        d => Tensor::from_i64(d, &[ints.len()], &ints).unwrap(),
    }
}

fn cast_model(from: DType, to: DType, n: usize, attrs: &[(&str, Attr)]) -> Vec<u8> {
    let mut b = ModelBuilder::new(24);
    b.input("x", from, &[n]);
    let mut a = vec![("to", Attr::Int(to.onnx_code() as i64))];
    a.extend(attrs.iter().cloned());
    b.node("Cast", &["x"], &["y"], &a);
    b.output("y", to, &[n]);
    b.to_bytes()
}

#[test]
fn cast_matches_cpu_bit_for_bit() {
    if !gpu_available("cast_matches_cpu_bit_for_bit") {
        return;
    }
    let mut failures = Vec::new();
    let mut pairs = 0;
    for from in NUMERIC.iter().copied() {
        let x = source(from);
        for to in NUMERIC.iter().copied() {
            let mut modes: Vec<Vec<(&str, Attr)>> = vec![vec![]];
            if matches!(to, DType::F8E4M3FN | DType::F8E4M3FNUZ | DType::F8E5M2 | DType::F8E5M2FNUZ | DType::F8E8M0) {
                modes.push(vec![("saturate", Attr::Int(0))]);
            }
            if to == DType::F8E8M0 {
                for r in ["down", "nearest"] {
                    modes.push(vec![("round_mode", Attr::Str(r.into()))]);
                    modes.push(vec![("round_mode", Attr::Str(r.into())), ("saturate", Attr::Int(0))]);
                }
            }
            for m in modes {
                pairs += 1;
                let model = cast_model(from, to, x.numel(), &m);
                let inputs = [("x", x.clone())];
                let r = run(&model, Backend::Cpu, &inputs).and_then(|c| {
                    let g = run(&model, Backend::Gpu, &inputs)?;
                    same(&g[0], &c[0])
                });
                if let Err(e) = r {
                    failures.push(format!("{from} -> {to} {m:?}: {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {pairs} casts differ:\n{}", failures.len(), failures.join("\n"));
}

/// Values with many exact halves after division by the scales below, plus specials.
fn quant_values(n: usize, seed: u64) -> Vec<f64> {
    let mut v = Vec::with_capacity(n);
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    for i in 0..n {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let r = ((s >> 33) as f64) / (1u64 << 31) as f64;
        v.push(match i % 9 {
            0 => ((r * 600.0).round() - 300.0) / 2.0,
            1 => (r - 0.5) * 1e5,
            2 => (r - 0.5) * 1e-3,
            3 => [0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1e30, -1e30, 448.0, 464.0]
                [(s >> 7) as usize % 9],
            _ => (r - 0.5) * 40.0,
        });
    }
    v
}

fn float_tensor(d: DType, shape: &[usize], v: &[f64]) -> Tensor {
    Tensor::from_f64(d, shape, v).unwrap()
}

struct QCase {
    op: &'static str,
    x: Tensor,
    s: Tensor,
    z: Option<Tensor>,
    attrs: Vec<(&'static str, Attr)>,
    out: DType,
}

fn run_qcase(c: &QCase) -> Result<(), String> {
    let mut b = ModelBuilder::new(25);
    b.input("x", c.x.dtype(), c.x.shape());
    b.input("s", c.s.dtype(), c.s.shape());
    let mut names = vec!["x", "s"];
    let mut inputs = vec![("x", c.x.clone()), ("s", c.s.clone())];
    if let Some(z) = &c.z {
        b.input("z", z.dtype(), z.shape());
        names.push("z");
        inputs.push(("z", z.clone()));
    }
    b.node(c.op, &names, &["y"], &c.attrs);
    b.output("y", c.out, c.x.shape());
    let model = b.to_bytes();
    let want = run(&model, Backend::Cpu, &inputs)?;
    let got = run(&model, Backend::Gpu, &inputs)?;
    same(&got[0], &want[0])
}

#[test]
fn quantize_and_dequantize_match_cpu_bit_for_bit() {
    if !gpu_available("quantize_and_dequantize_match_cpu_bit_for_bit") {
        return;
    }
    let shape = [3usize, 4, 6];
    let n: usize = shape.iter().product();
    // (scale shape, axis, block_size)
    let layouts: [(&[usize], i64, i64); 4] = [(&[], 1, 0), (&[4], 1, 0), (&[6], -1, 0), (&[3, 2, 6], 1, 3)];
    let mut cases = Vec::new();
    for (li, (sshape, axis, block)) in layouts.iter().enumerate() {
        let sn: usize = sshape.iter().product::<usize>().max(1);
        let scales: Vec<f64> = (0..sn).map(|i| [2.0, 0.5, 3.0, 0.1, 1.0 / 3.0, 7.0][i % 6]).collect();
        let attrs = |extra: Vec<(&'static str, Attr)>| {
            let mut a = vec![("axis", Attr::Int(*axis))];
            if *block > 0 {
                a.push(("block_size", Attr::Int(*block)));
            }
            a.extend(extra);
            a
        };
        for xd in [DType::F32, DType::F16, DType::BF16, DType::F64, DType::I32] {
            for sd in [DType::F32, DType::F16, DType::F64] {
                if xd == DType::I32 && sd != DType::F32 {
                    continue;
                }
                let xv: Vec<f64> = quant_values(n, li as u64 * 31 + xd as u64)
                    .into_iter()
                    .map(|v| {
                        if xd == DType::I32 {
                            if v.is_finite() {
                                v.clamp(-1e9, 1e9)
                            } else {
                                3.0
                            }
                        } else {
                            v
                        }
                    })
                    .collect();
                let x = float_tensor(xd, &shape, &xv);
                let s = float_tensor(sd, sshape, &scales);
                for out in [
                    DType::U8,
                    DType::I8,
                    DType::U16,
                    DType::I16,
                    DType::I4,
                    DType::U4,
                    DType::I2,
                    DType::U2,
                    DType::F8E4M3FN,
                    DType::F8E4M3FNUZ,
                    DType::F8E5M2,
                    DType::F8E5M2FNUZ,
                    DType::F4E2M1,
                ] {
                    let zv: Vec<f64> = (0..sn).map(|i| [0.0, 1.0, -1.0, 2.0, 0.5][i % 5]).collect();
                    let z = Tensor::from_f64(out, sshape, &zv).unwrap();
                    cases.push(QCase {
                        op: "QuantizeLinear",
                        x: x.clone(),
                        s: s.clone(),
                        z: Some(z.clone()),
                        attrs: attrs(vec![]),
                        out,
                    });
                    if xd == DType::F32 && sd == DType::F32 {
                        cases.push(QCase {
                            op: "QuantizeLinear",
                            x: x.clone(),
                            s: s.clone(),
                            z: None,
                            attrs: attrs(vec![
                                ("output_dtype", Attr::Int(out.onnx_code() as i64)),
                                ("saturate", Attr::Int(0)),
                                ("precision", Attr::Int(DType::F16.onnx_code() as i64)),
                            ]),
                            out,
                        });
                    }
                    if sd != DType::F64 {
                        // dequantize the quantized codes back
                        let q = Tensor::from_f64(out, &shape, &xv.iter().map(|v| v / 3.0).collect::<Vec<_>>()).unwrap();
                        cases.push(QCase {
                            op: "DequantizeLinear",
                            x: q,
                            s: s.clone(),
                            z: Some(z),
                            attrs: attrs(vec![]),
                            out: sd,
                        });
                    }
                }
            }
        }
        // int32 and E8M0-scaled dequantization, bfloat16 output
        let xi = Tensor::from_i64(DType::I32, &shape, &(0..n as i64).map(|i| i * 7919 - 100_000).collect::<Vec<_>>())
            .unwrap();
        let s = float_tensor(DType::F32, sshape, &scales);
        cases.push(QCase {
            op: "DequantizeLinear",
            x: xi,
            s: s.clone(),
            z: None,
            attrs: attrs(vec![]),
            out: DType::F32,
        });
        let e8 =
            Tensor::from_bytes(DType::F8E8M0, sshape, &(0..sn).map(|i| 120 + i as u8).collect::<Vec<_>>()).unwrap();
        let q = Tensor::from_i64(DType::I8, &shape, &(0..n as i64).map(|i| i * 37 % 256 - 128).collect::<Vec<_>>())
            .unwrap();
        cases.push(QCase {
            op: "DequantizeLinear",
            x: q.clone(),
            s: e8,
            z: None,
            attrs: attrs(vec![("output_dtype", Attr::Int(DType::BF16.onnx_code() as i64))]),
            out: DType::BF16,
        });
    }
    let mut failures = Vec::new();
    for c in &cases {
        if let Err(e) = run_qcase(c) {
            failures.push(format!(
                "{} x {} {:?} scale {} {:?} -> {} {:?}: {e}",
                c.op,
                c.x.dtype(),
                c.x.shape(),
                c.s.dtype(),
                c.s.shape(),
                c.out,
                c.attrs
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn dynamic_quantize_matches_cpu() {
    if !gpu_available("dynamic_quantize_matches_cpu") {
        return;
    }
    let mut b = ModelBuilder::new(13);
    b.input("x", DType::F32, &[1000]);
    b.node("DynamicQuantizeLinear", &["x"], &["y", "s", "z"], &[]);
    b.output("y", DType::U8, &[1000]).output("s", DType::F32, &[]).output("z", DType::U8, &[]);
    let model = b.to_bytes();
    for seed in 0..6u64 {
        let mut v: Vec<f32> = quant_values(1000, seed).into_iter().map(|x| (x as f32).clamp(-1e4, 1e4)).collect();
        if seed % 2 == 1 {
            v.iter_mut().for_each(|x| *x = x.abs() * 0.37 + 1.0);
        }
        if seed == 4 {
            v.iter_mut().for_each(|x| *x = 0.0);
        }
        let inputs = [("x", Tensor::new(&[1000], v).unwrap())];
        let want = run(&model, Backend::Cpu, &inputs).unwrap();
        let got = run(&model, Backend::Gpu, &inputs).unwrap();
        for (g, w) in got.iter().zip(&want) {
            same(g, w).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        }
    }
}

fn ints(d: DType, shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let (lo, span) = if d == DType::I8 { (-128i64, 256i64) } else { (0, 256) };
    let v: Vec<i64> = (0..n as u64).map(|i| lo + ((i * 2654435761 + seed * 97) % span as u64) as i64).collect();
    Tensor::from_i64(d, shape, &v).unwrap()
}

/// Runs one node on both backends; inputs are graph inputs (named i0, i1, …; `None` skips one).
fn node_case(op: &str, inputs: &[Option<Tensor>], attrs: &[(&str, Attr)], out: DType) -> Result<(), String> {
    let mut b = ModelBuilder::new(21);
    let names: Vec<String> = (0..inputs.len()).map(|i| format!("i{i}")).collect();
    let mut feed = Vec::new();
    let mut refs = Vec::new();
    for (i, t) in inputs.iter().enumerate() {
        match t {
            Some(t) => {
                b.input(&names[i], t.dtype(), t.shape());
                feed.push((names[i].as_str(), t.clone()));
                refs.push(names[i].as_str());
            }
            None => refs.push(""),
        }
    }
    b.node(op, &refs, &["y"], attrs);
    b.output("y", out, &[]);
    let model = b.to_bytes();
    let want = run(&model, Backend::Cpu, &feed)?;
    let got = run(&model, Backend::Gpu, &feed)?;
    same(&got[0], &want[0])
}

#[test]
fn integer_products_match_cpu() {
    if !gpu_available("integer_products_match_cpu") {
        return;
    }
    let mut failures = Vec::new();
    let mut count = 0;
    let mut check = |what: String, r: Result<(), String>| {
        count += 1;
        if let Err(e) = r {
            failures.push(format!("{what}: {e}"));
        }
    };
    let shapes: [(&[usize], &[usize]); 4] =
        [(&[5, 7], &[7, 3]), (&[2, 3, 4, 6], &[6, 5]), (&[4], &[4, 3]), (&[3, 1, 4, 6], &[2, 6, 2])];
    for (si, (sa, sb)) in shapes.iter().enumerate() {
        for (da, db) in [(DType::U8, DType::U8), (DType::I8, DType::I8), (DType::U8, DType::I8)] {
            let (a, b) = (ints(da, sa, si as u64), ints(db, sb, si as u64 + 5));
            let m = if sa.len() >= 2 { sa[sa.len() - 2] } else { 1 };
            let n = sb[sb.len() - 1];
            let za = if sa.len() >= 2 { ints(da, &[m], 3) } else { ints(da, &[], 3) };
            let zb = ints(db, &[n], 4);
            check(
                format!("MatMulInteger {da} {sa:?} x {db} {sb:?}"),
                node_case(
                    "MatMulInteger",
                    &[Some(a.clone()), Some(b.clone()), Some(za.clone()), Some(zb.clone())],
                    &[],
                    DType::I32,
                ),
            );
            check(
                format!("MatMulInteger {da} {sa:?} x {db} {sb:?} no zero points"),
                node_case("MatMulInteger", &[Some(a.clone()), Some(b.clone())], &[], DType::I32),
            );
            for sd in [DType::F32, DType::F16] {
                let sc = |v: &[f64], shape: &[usize]| Tensor::from_f64(sd, shape, v).unwrap();
                let per_row = sa.len() >= 2 && si % 2 == 0;
                let a_s = if per_row {
                    sc(&(0..m).map(|i| 0.01 + i as f64 * 0.003).collect::<Vec<_>>(), &[m])
                } else {
                    sc(&[0.0173], &[])
                };
                let b_s = if per_row {
                    sc(&(0..n).map(|i| 0.02 + i as f64 * 0.0071).collect::<Vec<_>>(), &[n])
                } else {
                    sc(&[0.031], &[])
                };
                let y_s = sc(&[if sd == DType::F16 { 0.25 } else { 0.137 }], &[]);
                for dy in [DType::U8, DType::I8] {
                    let y_z = ints(dy, &[], 9);
                    let za_s = ints(da, &[], 3);
                    let zb_s = ints(db, &[], 4);
                    check(
                        format!("QLinearMatMul {da} {sa:?} x {db} {sb:?} scales {sd} per-row {per_row} -> {dy}"),
                        node_case(
                            "QLinearMatMul",
                            &[
                                Some(a.clone()),
                                Some(a_s.clone()),
                                Some(za_s),
                                Some(b.clone()),
                                Some(b_s.clone()),
                                Some(zb_s),
                                Some(y_s.clone()),
                                Some(y_z),
                            ],
                            &[],
                            dy,
                        ),
                    );
                }
            }
        }
    }
    // (x shape, w shape, attrs)
    type ConvCase = (Vec<usize>, Vec<usize>, Vec<(&'static str, Attr)>);
    let convs: Vec<ConvCase> = vec![
        (vec![1, 1, 7, 7], vec![2, 1, 3, 3], vec![]),
        (vec![2, 4, 6, 5], vec![6, 2, 2, 3], vec![("group", Attr::Int(2)), ("pads", Attr::Ints(vec![1, 0, 1, 2]))]),
        (vec![1, 3, 9], vec![4, 3, 3], vec![("strides", Attr::Ints(vec![2])), ("dilations", Attr::Ints(vec![2]))]),
        (vec![1, 2, 4, 5, 3], vec![3, 2, 2, 2, 2], vec![("auto_pad", Attr::Str("SAME_UPPER".into()))]),
    ];
    for (ci, (xs, ws, attrs)) in convs.iter().enumerate() {
        for (dx, dw) in [(DType::U8, DType::U8), (DType::I8, DType::I8), (DType::U8, DType::I8)] {
            let (x, w) = (ints(dx, xs, ci as u64), ints(dw, ws, ci as u64 + 11));
            let m = ws[0];
            let zx = ints(dx, &[], 1);
            let zw = if ci % 2 == 0 { ints(dw, &[m], 2) } else { ints(dw, &[], 2) };
            check(
                format!("ConvInteger {dx} {xs:?} * {dw} {ws:?} {attrs:?}"),
                node_case(
                    "ConvInteger",
                    &[Some(x.clone()), Some(w.clone()), Some(zx.clone()), Some(zw.clone())],
                    attrs,
                    DType::I32,
                ),
            );
            check(
                format!("ConvInteger {dx} {xs:?} * {dw} {ws:?} no zero points"),
                node_case("ConvInteger", &[Some(x.clone()), Some(w.clone())], attrs, DType::I32),
            );
            for sd in [DType::F32, DType::F16] {
                let x_s = Tensor::from_f64(sd, &[], &[0.0123]).unwrap();
                let w_s = if ci % 2 == 1 {
                    Tensor::from_f64(sd, &[m], &(0..m).map(|i| 0.05 + 0.013 * i as f64).collect::<Vec<_>>()).unwrap()
                } else {
                    Tensor::from_f64(sd, &[], &[0.07]).unwrap()
                };
                let y_s = Tensor::from_f64(sd, &[], &[0.09]).unwrap();
                let bias =
                    Tensor::from_i64(DType::I32, &[m], &(0..m as i64).map(|i| i * 1000 - 1500).collect::<Vec<_>>())
                        .unwrap();
                for (dy, with_bias) in [(DType::U8, true), (DType::I8, false)] {
                    let mut ins = vec![
                        Some(x.clone()),
                        Some(x_s.clone()),
                        Some(zx.clone()),
                        Some(w.clone()),
                        Some(w_s.clone()),
                        Some(zw.clone()),
                        Some(y_s.clone()),
                        Some(ints(dy, &[], 7)),
                    ];
                    if with_bias {
                        ins.push(Some(bias.clone()));
                    }
                    check(
                        format!("QLinearConv {dx} {xs:?} * {dw} {ws:?} {sd} bias {with_bias} -> {dy}"),
                        node_case("QLinearConv", &ins, attrs, dy),
                    );
                }
            }
        }
    }
    eprintln!("{count} integer-product cases");
    assert!(failures.is_empty(), "{} of {count} cases differ:\n{}", failures.len(), failures.join("\n"));
}

/// Runs one node with graph inputs `inputs` and initializers `consts` on both backends and
/// compares the outputs within a tolerance.
fn close_case(
    op: &str,
    opset: i64,
    inputs: &[(&str, Tensor)],
    consts: &[(&str, Tensor)],
    attrs: &[(&str, Attr)],
    order: &[&str],
    tol: f64,
) -> Result<(), String> {
    let mut b = ModelBuilder::new(opset);
    for (n, t) in inputs {
        b.input(n, t.dtype(), t.shape());
    }
    for (n, t) in consts {
        b.initializer(n, t.clone());
    }
    b.node(op, order, &["y"], attrs);
    b.output("y", inputs[0].1.dtype(), &[]);
    let model = b.to_bytes();
    let want = run(&model, Backend::Cpu, inputs)?;
    let got = run(&model, Backend::Gpu, inputs)?;
    onnx_wgpu::testing::compare(&got[0], &want[0], &onnx_wgpu::testing::Tolerance { rtol: tol, atol: tol }).map(|_| ())
}

#[test]
fn dft_and_stft_match_cpu() {
    if !gpu_available("dft_and_stft_match_cpu") {
        return;
    }
    let mut failures = Vec::new();
    let mut count = 0;
    let signal = |d: DType, shape: &[usize], seed: u64| {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|i| ((i as u64 * 7919 + seed * 31) % 1000) as f64 / 250.0 - 2.0).collect();
        Tensor::from_f64(d, shape, &v).unwrap()
    };
    for d in [DType::F32, DType::F16, DType::F64] {
        let tol = if d == DType::F16 { 2e-2 } else { 1e-4 };
        for (shape, axis) in [(vec![2, 7, 3, 1], 1i64), (vec![3, 8, 2], -2), (vec![1, 5, 6, 2], 2), (vec![4, 2], 0)] {
            for (inverse, onesided) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                if inverse == 1 && onesided == 1 && shape[shape.len() - 1] != 2 {
                    continue;
                }
                let len = shape[(axis + if axis < 0 { shape.len() as i64 } else { 0 }) as usize];
                for dft_len in [None, Some(len as i64 + 3), Some((len as i64 - 2).max(1))] {
                    count += 1;
                    let x = signal(d, &shape, count);
                    let attrs = [("inverse", Attr::Int(inverse)), ("onesided", Attr::Int(onesided))];
                    let mut consts = vec![("axis", Tensor::scalar(axis))];
                    let mut order = vec!["x", "", "axis"];
                    if let Some(n) = dft_len {
                        consts.push(("n", Tensor::scalar(n)));
                        order[1] = "n";
                    }
                    if let Err(e) = close_case("DFT", 20, &[("x", x)], &consts, &attrs, &order, tol) {
                        failures.push(format!(
                            "DFT {d} {shape:?} axis {axis} inverse {inverse} onesided {onesided} n {dft_len:?}: {e}"
                        ));
                    }
                }
            }
        }
        for (shape, step, fl, window) in
            [(vec![2, 40, 1], 5i64, 8i64, true), (vec![1, 33, 2], 4, 9, false), (vec![1, 16, 1], 16, 16, true)]
        {
            count += 1;
            let x = signal(d, &shape, count);
            let mut inputs = vec![("x", x)];
            let consts = vec![("step", Tensor::scalar(step)), ("fl", Tensor::scalar(fl))];
            let mut order = vec!["x", "step", "", "fl"];
            if window {
                inputs.push(("w", signal(d, &[fl as usize], 3)));
                order[2] = "w";
            }
            for onesided in [0, 1] {
                if let Err(e) =
                    close_case("STFT", 17, &inputs, &consts, &[("onesided", Attr::Int(onesided))], &order, tol)
                {
                    failures.push(format!(
                        "STFT {d} {shape:?} step {step} frame {fl} window {window} onesided {onesided}: {e}"
                    ));
                }
            }
        }
    }
    eprintln!("{count} DFT/STFT cases");
    assert!(failures.is_empty(), "{} of {count} cases differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn mel_weight_matrix_matches_cpu() {
    if !gpu_available("mel_weight_matrix_matches_cpu") {
        return;
    }
    let mut failures = Vec::new();
    let mut count = 0;
    // (num_mel_bins, dft_length, sample_rate, lower, upper)
    let cases = [
        (8i64, 16i64, 8192i64, 0.0f64, 4096.0f64),
        (20, 512, 16000, 20.0, 8000.0),
        (13, 255, 22050, 125.0, 7600.0),
        (40, 1024, 44100, 0.0, 22050.0),
        (5, 64, 1000, 100.0, 350.0),
        (3, 9, 100, 1.0, 50.0),
    ];
    for (ci, &(mel, n, rate, lo, hi)) in cases.iter().enumerate() {
        for (rd, hd, od) in [
            (DType::I64, DType::F32, DType::F32),
            (DType::I32, DType::F64, DType::F16),
            (DType::I64, DType::F16, DType::F64),
        ] {
            if hd == DType::F16 && hi > 60000.0 {
                continue;
            }
            count += 1;
            let mut b = ModelBuilder::new(17);
            b.initializer("mel", Tensor::scalar(mel));
            b.initializer("n", Tensor::scalar(n));
            b.input("rate", rd, &[]).input("lo", hd, &[]).input("hi", hd, &[]);
            b.node(
                "MelWeightMatrix",
                &["mel", "n", "rate", "lo", "hi"],
                &["y"],
                &[("output_datatype", Attr::Int(od.onnx_code() as i64))],
            );
            b.output("y", od, &[]);
            let model = b.to_bytes();
            let inputs = [
                ("rate", Tensor::from_i64(rd, &[], &[rate]).unwrap()),
                ("lo", Tensor::from_f64(hd, &[], &[lo]).unwrap()),
                ("hi", Tensor::from_f64(hd, &[], &[hi]).unwrap()),
            ];
            let r = run(&model, Backend::Cpu, &inputs)
                .and_then(|want| same(&run(&model, Backend::Gpu, &inputs)?[0], &want[0]));
            if let Err(e) = r {
                failures.push(format!("case {ci} {rd}/{hd}/{od}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {count} cases differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn bitcast_matches_cpu() {
    if !gpu_available("bitcast_matches_cpu") {
        return;
    }
    let mut failures = Vec::new();
    let mut count = 0;
    for from in NUMERIC {
        for to in NUMERIC {
            if from.bits() != to.bits() || (to == DType::Bool && from != DType::Bool) {
                continue;
            }
            count += 1;
            let n = 64;
            let bytes: Vec<u8> = (0..from.storage_bytes(n)).map(|i| (i * 37 + 11) as u8).collect();
            let x = if from == DType::Bool {
                Tensor::from_bools(&[n], &(0..n).map(|i| i % 3 == 0).collect::<Vec<_>>()).unwrap()
            } else {
                Tensor::from_bytes(from, &[n], &bytes).unwrap()
            };
            let mut b = ModelBuilder::new(26);
            b.input("x", from, &[n]);
            b.node("BitCast", &["x"], &["y"], &[("to", Attr::Int(to.onnx_code() as i64))]);
            b.output("y", to, &[n]);
            let model = b.to_bytes();
            let inputs = [("x", x)];
            let r = run(&model, Backend::Cpu, &inputs).and_then(|want| {
                let got = run(&model, Backend::Gpu, &inputs)?;
                if got[0].bytes() == want[0].bytes() {
                    Ok(())
                } else {
                    Err(format!("bytes differ: {:02x?} vs {:02x?}", &got[0].bytes()[..8], &want[0].bytes()[..8]))
                }
            });
            if let Err(e) = r {
                failures.push(format!("{from} -> {to}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {count} bitcasts differ:\n{}", failures.len(), failures.join("\n"));
}
