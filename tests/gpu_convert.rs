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
