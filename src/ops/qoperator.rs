//! ONNX Runtime's QOperator contrib ops (domain com.microsoft) that its quantizer writes, beyond
//! `contrib_quant`'s QLinearAdd/Mul/Softmax: QLinearSigmoid and QLinearLeakyRelu (256-entry
//! lookup tables), QLinearConcat, QLinearGlobalAveragePool (NCHW and channels_last), QGemm,
//! MatMulIntegerToFloat, DynamicQuantizeMatMul and GatherBlockQuantized (int4/uint4 data, or
//! uint8 holding 2/4/8-bit values).
//!
//! The CPU kernels reproduce ONNX Runtime's (MLAS) integer arithmetic exactly: int32
//! accumulation of zero-point-adjusted products, then requantization in f32 as MLAS does it
//! (`acc as f32 * scale`, clamped to `[lo - zp, hi - zp]`, rounded half to even, plus the zero
//! point); lookup tables are built as ORT builds them (dequantize in f32, transform, then
//! `round_half_even(v / y_scale) + y_zero_point`, saturated). The sigmoid is MLAS's rational
//! approximation (`logistic`), not `1 / (1 + exp(-x))`, so that tables match ORT's.

use super::contrib_quant::{int8_range, opt, scalar};
use super::matmul::matmul_shape;
use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::norm_axis;
use crate::tensor::{DType, Dim, Tensor};

/// The integer values of an int8/uint8 tensor.
fn ints(t: &Tensor) -> Result<Vec<i32>, String> {
    match t.dtype() {
        DType::U8 => Ok(t.as_slice::<u8>()?.iter().map(|&v| v as i32).collect()),
        DType::I8 => Ok(t.as_slice::<i8>()?.iter().map(|&v| v as i32).collect()),
        d => Err(format!("expected uint8 or int8 data, got {d}")),
    }
}

fn from_ints(dt: DType, shape: &[usize], v: &[i32]) -> Result<Tensor, String> {
    match dt {
        DType::U8 => Tensor::new(shape, v.iter().map(|&x| x as u8).collect::<Vec<_>>()),
        DType::I8 => Tensor::new(shape, v.iter().map(|&x| x as i8).collect::<Vec<_>>()),
        d => Err(format!("cannot store {d} as 8-bit integers")),
    }
}

/// An f32 scale parameter (one element).
fn scale_f32(inputs: &[Option<&Tensor>], i: usize, what: &str) -> Result<f32, String> {
    let t = need(inputs, i)?;
    if t.dtype() != DType::F32 {
        return Err(format!("{what} must be float32, got {}", t.dtype()));
    }
    Ok(scalar(inputs, i, what, None)? as f32)
}

/// An optional zero point (one element) of type `dt`; 0 when absent.
fn zero_point(inputs: &[Option<&Tensor>], i: usize, dt: DType, what: &str) -> Result<i32, String> {
    if let Some(z) = opt(inputs, i) {
        if z.dtype() != dt {
            return Err(format!("{what} is {}, expected {dt}", z.dtype()));
        }
    }
    Ok(scalar(inputs, i, what, Some(0.0))? as i32)
}

/// MLAS's requantization of an int32 accumulator: `round_half_even(clamp(acc · scale,
/// lo - zp, hi - zp)) + zp` in f32.
pub fn requantize(acc: i32, scale: f32, zp: i32, lo: i32, hi: i32) -> i32 {
    let v = (acc as f32 * scale).clamp((lo - zp) as f32, (hi - zp) as f32);
    v.round_ties_even() as i32 + zp
}

/// MLAS's QuantizeLinear of one f32 value: `clamp(round_half_even(v / scale) + zp, lo, hi)`.
pub fn quantize_f32(v: f32, scale: f32, zp: i32, lo: i32, hi: i32) -> i32 {
    let q = (v / scale).round_ties_even() + zp as f32;
    if q.is_nan() {
        return lo.max(0).min(hi);
    }
    q.clamp(lo as f32, hi as f32) as i32
}

/// MLAS's logistic approximation (`MlasComputeLogistic`): an odd rational polynomial on
/// `[-18, 18]`, evaluated with fused multiply-adds as MLAS's x86-64 kernels do.
pub fn mlas_logistic(x: f32) -> f32 {
    // MLAS's constants (as decimals, rounded to f32): numerator α9..α1, denominator β10..β0.
    const A: [f64; 5] =
        [4.37031012579801e-11, 1.15627324459942e-07, 6.08574864600143e-05, 8.51377133304701e-03, 2.48287947061529e-01];
    const B: [f64; 6] = [
        6.10247389755681e-13,
        5.76102136993427e-09,
        6.29106785017040e-06,
        1.70198817374094e-03,
        1.16817656904453e-01,
        9.93151921023180e-01,
    ];
    let v = x.clamp(-18.0, 18.0);
    let v2 = v * v;
    let mut p = v2.mul_add(A[0] as f32, A[1] as f32);
    for &a in &A[2..] {
        p = p.mul_add(v2, a as f32);
    }
    p *= v;
    let mut q = v2.mul_add(B[0] as f32, B[1] as f32);
    for &b in &B[2..] {
        q = q.mul_add(v2, b as f32);
    }
    (p / q + 0.5).clamp(0.0, 1.0)
}

/// A 256-entry requantization table indexed by the input byte (`x as u8`): entry `b` is
/// `quantize(f(x_scale · (x - x_zp)))` for the value `x` whose byte is `b`, as ORT's
/// `QlinearBuildLookupTable` computes it.
pub fn lookup_table(
    signed: bool,
    x_scale: f32,
    x_zp: i32,
    y_scale: f32,
    y_zp: i32,
    f: impl Fn(f32) -> f32,
) -> [i32; 256] {
    let (lo, hi) = if signed { (-128, 127) } else { (0, 255) };
    let mut t = [0i32; 256];
    for (b, e) in t.iter_mut().enumerate() {
        let x = if signed { b as u8 as i8 as i32 } else { b as i32 };
        *e = quantize_f32(f(x_scale * (x - x_zp) as f32), y_scale, y_zp, lo, hi);
    }
    t
}

fn apply_table(x: &[i32], t: &[i32; 256]) -> Vec<i32> {
    x.iter().map(|&v| t[(v as u8) as usize]).collect()
}

// ---- QLinearSigmoid / QLinearLeakyRelu ------------------------------------------------------

/// The float function a lookup-table op applies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LookupFn {
    Sigmoid,
    LeakyRelu(f32),
}

impl LookupFn {
    pub fn apply(&self, v: f32) -> f32 {
        match *self {
            LookupFn::Sigmoid => mlas_logistic(v),
            LookupFn::LeakyRelu(a) => {
                if v >= 0.0 {
                    v
                } else {
                    a * v
                }
            }
        }
    }
}

/// QLinearSigmoid / QLinearLeakyRelu: inputs (X, X_scale, X_zp?, Y_scale, Y_zp?).
#[derive(Clone, Debug)]
pub struct QLinearLookup {
    pub f: LookupFn,
}

impl QLinearLookup {
    /// The table from the node's parameter inputs.
    pub fn table(&self, inputs: &[Option<&Tensor>], dt: DType) -> Result<[i32; 256], String> {
        let xs = scale_f32(inputs, 1, "X_scale")?;
        let xz = zero_point(inputs, 2, dt, "X_zero_point")?;
        let ys = scale_f32(inputs, 3, "Y_scale")?;
        let yz = zero_point(inputs, 4, dt, "Y_zero_point")?;
        Ok(lookup_table(dt == DType::I8, xs, xz, ys, yz, |v| self.f.apply(v)))
    }
}

impl OpSpec for QLinearLookup {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        int8_range(x.dtype)?;
        cx.input(1)?;
        cx.input(3)?;
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let t = self.table(inputs, x.dtype())?;
        Ok(vec![from_ints(x.dtype(), x.shape(), &apply_table(&ints(x)?, &t))?])
    }
}

pub fn import_qlinear_sigmoid(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::QLinearLookup(QLinearLookup { f: LookupFn::Sigmoid }))
}

pub fn import_qlinear_leaky_relu(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::QLinearLookup(QLinearLookup { f: LookupFn::LeakyRelu(c.attrs.float("alpha", 0.01)?) }))
}

// ---- QLinearConcat -------------------------------------------------------------------------

/// QLinearConcat: inputs (Y_scale, Y_zp, (X, X_scale, X_zp)...); each input is requantized to
/// Y's parameters (through a lookup table, or copied when its parameters equal Y's).
#[derive(Clone, Debug)]
pub struct QLinearConcat {
    pub axis: i64,
}

impl QLinearConcat {
    /// Number of concatenated tensors.
    pub fn count(n_inputs: usize) -> Result<usize, String> {
        if n_inputs < 5 || (n_inputs - 2) % 3 != 0 {
            return Err(format!(
                "QLinearConcat needs Y_scale, Y_zero_point and (X, scale, zero point) triples, got {n_inputs} inputs"
            ));
        }
        Ok((n_inputs - 2) / 3)
    }

    /// Per input: `None` to copy, or its requantization table.
    pub fn tables(&self, inputs: &[Option<&Tensor>], dt: DType) -> Result<Vec<Option<[i32; 256]>>, String> {
        let ys = scale_f32(inputs, 0, "Y_scale")?;
        let yz = zero_point(inputs, 1, dt, "Y_zero_point")?;
        (0..Self::count(inputs.len())?)
            .map(|k| {
                let xs = scale_f32(inputs, 3 + 3 * k, "X_scale")?;
                let xz = zero_point(inputs, 4 + 3 * k, dt, "X_zero_point")?;
                Ok(if xs == ys && xz == yz { None } else { Some(lookup_table(dt == DType::I8, xs, xz, ys, yz, |v| v)) })
            })
            .collect()
    }
}

impl OpSpec for QLinearConcat {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let n = Self::count(cx.inputs.len())?;
        let first = cx.input(2)?;
        int8_range(first.dtype)?;
        let rank = first.rank();
        let ax = norm_axis(self.axis, rank)?;
        let mut dims = first.dims.clone();
        let mut total = Some(0usize);
        for k in 0..n {
            let x = cx.input(2 + 3 * k)?;
            if x.dtype != first.dtype || x.rank() != rank {
                return Err(format!(
                    "input {} is {} of rank {}, expected {} of rank {rank}",
                    2 + 3 * k,
                    x.dtype,
                    x.rank(),
                    first.dtype
                ));
            }
            total = match (total, x.dims[ax].known()) {
                (Some(t), Some(d)) => Some(t + d),
                _ => None,
            };
            for d in 0..rank {
                if d != ax && dims[d].known().is_none() {
                    dims[d] = x.dims[d].clone();
                }
            }
        }
        dims[ax] = total.map(Dim::Known).unwrap_or(Dim::Unknown);
        Ok(vec![vt(first.dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let n = Self::count(inputs.len())?;
        let first = need(inputs, 2)?;
        let dt = first.dtype();
        int8_range(dt)?;
        let tables = self.tables(inputs, dt)?;
        let rank = first.rank();
        let ax = norm_axis(self.axis, rank)?;
        let xs: Vec<&Tensor> = (0..n).map(|k| need(inputs, 2 + 3 * k)).collect::<Result<_, _>>()?;
        let mut shape = first.shape().to_vec();
        shape[ax] = 0;
        for x in &xs {
            if x.dtype() != dt || x.rank() != rank || (0..rank).any(|d| d != ax && x.shape()[d] != first.shape()[d]) {
                return Err(format!("cannot concatenate {:?} with {:?} on axis {ax}", x.shape(), first.shape()));
            }
            shape[ax] += x.shape()[ax];
        }
        let outer: usize = shape[..ax].iter().product();
        let mut out = Vec::with_capacity(shape.iter().product());
        let vals: Vec<Vec<i32>> = xs
            .iter()
            .zip(&tables)
            .map(|(x, t)| {
                Ok(match t {
                    None => ints(x)?,
                    Some(t) => apply_table(&ints(x)?, t),
                })
            })
            .collect::<Result<_, String>>()?;
        for o in 0..outer {
            for (x, v) in xs.iter().zip(&vals) {
                let pitch: usize = x.shape()[ax..].iter().product();
                out.extend_from_slice(&v[o * pitch..(o + 1) * pitch]);
            }
        }
        Ok(vec![from_ints(dt, &shape, &out)?])
    }
}

pub fn import_qlinear_concat(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::QLinearConcat(QLinearConcat { axis: c.attrs.int("axis", 0)? }))
}

// ---- QLinearGlobalAveragePool ----------------------------------------------------------------

/// QLinearGlobalAveragePool: inputs (X, x_scale, x_zp, y_scale, y_zp), X is (N, C, spatial...)
/// or with `channels_last` (N, spatial..., C); every spatial dim becomes 1.
#[derive(Clone, Debug)]
pub struct QLinearGlobalAveragePool {
    pub channels_last: bool,
}

impl QLinearGlobalAveragePool {
    /// (batch, channels, image size) of an input shape.
    pub fn geometry(&self, shape: &[usize]) -> Result<(usize, usize, usize), String> {
        if shape.len() < 3 {
            return Err(format!("X must have rank ≥ 3, got {shape:?}"));
        }
        let r = shape.len();
        let (c, sp) = if self.channels_last { (shape[r - 1], &shape[1..r - 1]) } else { (shape[1], &shape[2..]) };
        Ok((shape[0], c, sp.iter().product()))
    }

    /// The f32 multiplier `x_scale / (y_scale · image_size)` MLAS applies to the sums.
    pub fn multiplier(x_scale: f32, y_scale: f32, image: usize) -> f32 {
        x_scale / (y_scale * image as f32)
    }
}

impl OpSpec for QLinearGlobalAveragePool {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        int8_range(x.dtype)?;
        let r = x.rank();
        if r < 3 {
            return Err(format!("X must have rank ≥ 3, got {r}"));
        }
        let mut dims = x.dims.clone();
        let sp = if self.channels_last { 1..r - 1 } else { 2..r };
        for d in sp {
            dims[d] = Dim::Known(1);
        }
        Ok(vec![vt(x.dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let dt = x.dtype();
        let (lo, hi) = int8_range(dt)?;
        let (nb, c, image) = self.geometry(x.shape())?;
        let xs = scale_f32(inputs, 1, "x_scale")?;
        let xz = zero_point(inputs, 2, dt, "x_zero_point")?;
        let ys = scale_f32(inputs, 3, "y_scale")?;
        let yz = zero_point(inputs, 4, dt, "y_zero_point")?;
        let scale = Self::multiplier(xs, ys, image);
        let xv = ints(x)?;
        let mut out = vec![0i32; nb * c];
        for n in 0..nb {
            for ch in 0..c {
                let mut acc = -xz.wrapping_mul(image as i32);
                for p in 0..image {
                    let i = if self.channels_last { (n * image + p) * c + ch } else { (n * c + ch) * image + p };
                    acc = acc.wrapping_add(xv[i]);
                }
                out[n * c + ch] = requantize(acc, scale, yz, lo as i32, hi as i32);
            }
        }
        let r = x.rank();
        let mut shape = x.shape().to_vec();
        let sp = if self.channels_last { 1..r - 1 } else { 2..r };
        for d in sp {
            shape[d] = 1;
        }
        Ok(vec![from_ints(dt, &shape, &out)?])
    }
}

pub fn import_qlinear_global_average_pool(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::QLinearGlobalAveragePool(QLinearGlobalAveragePool { channels_last: c.attrs.int("channels_last", 0)? != 0 }))
}

// ---- QGemm ---------------------------------------------------------------------------------

/// QGemm: inputs (A, a_scale, a_zp, B, b_scale, b_zp, C?, y_scale?, y_zp?); `Y = alpha ·
/// a_scale · b_scale · (C + (A - a_zp) @ (B - b_zp))`, requantized to (y_scale, y_zp) when
/// y_scale is given, else float32. C is int32 broadcast to (M, N); B's scale and zero point are
/// per tensor or per column (N).
#[derive(Clone, Debug)]
pub struct QGemm {
    pub alpha: f32,
    pub trans_a: bool,
    pub trans_b: bool,
}

/// How an int32 bias C lays onto an (M, N) output: element (i, j) reads `i * row + j * col`.
pub fn gemm_bias_strides(c: &[usize], m: usize, n: usize) -> Result<(usize, usize), String> {
    let numel: usize = c.iter().product();
    if numel == 1 {
        return Ok((0, 0));
    }
    match c {
        [x] if *x == n => Ok((0, 1)),
        [1, x] if *x == n => Ok((0, 1)),
        [x, 1] if *x == m => Ok((1, 0)),
        [x, y] if *x == m && *y == n => Ok((n, 1)),
        _ => Err(format!("C of shape {c:?} does not broadcast to ({m}, {n})")),
    }
}

impl QGemm {
    /// (M, K, N) from the shapes of A and B.
    pub fn dims(&self, a: &[usize], b: &[usize]) -> Result<(usize, usize, usize), String> {
        if a.len() != 2 || b.len() != 2 {
            return Err(format!("A and B must be matrices, got {a:?} and {b:?}"));
        }
        let (m, k) = if self.trans_a { (a[1], a[0]) } else { (a[0], a[1]) };
        let (k2, n) = if self.trans_b { (b[1], b[0]) } else { (b[0], b[1]) };
        if k != k2 {
            return Err(format!("inner dims differ: A {a:?}, B {b:?}"));
        }
        Ok((m, k, n))
    }

    /// Per-column output multipliers `alpha · a_scale · b_scale[j] (/ y_scale)` in f32, as ORT
    /// computes them (length 1 or N).
    pub fn output_scales(&self, a_s: f32, b_s: &[f32], y_s: Option<f32>) -> Vec<f32> {
        b_s.iter()
            .map(|&b| {
                let s = self.alpha * a_s * b;
                match y_s {
                    Some(y) => s / y,
                    None => s,
                }
            })
            .collect()
    }
}

/// Float32 values of a scale tensor with 1 or `n` elements.
fn scales(t: &Tensor, n: usize, what: &str) -> Result<Vec<f32>, String> {
    if t.dtype() != DType::F32 {
        return Err(format!("{what} must be float32, got {}", t.dtype()));
    }
    let v = t.as_slice::<f32>()?.to_vec();
    if v.len() != 1 && (v.len() != n || t.rank() != 1) {
        return Err(format!("{what} must have 1 or {n} elements, got shape {:?}", t.shape()));
    }
    Ok(v)
}

/// Integer zero points with 1 or `n` elements (all 0 when absent).
fn zero_points(t: Option<&Tensor>, dt: DType, n: usize, what: &str) -> Result<Vec<i32>, String> {
    match t {
        None => Ok(vec![0]),
        Some(z) => {
            if z.dtype() != dt {
                return Err(format!("{what} is {}, its input is {dt}", z.dtype()));
            }
            let v = ints(z)?;
            if v.len() != 1 && (v.len() != n || z.rank() != 1) {
                return Err(format!("{what} must have 1 or {n} elements, got shape {:?}", z.shape()));
            }
            Ok(v)
        }
    }
}

fn pick<T: Copy>(v: &[T], j: usize) -> T {
    if v.len() == 1 {
        v[0]
    } else {
        v[j]
    }
}

impl OpSpec for QGemm {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (a, b) = (cx.input(0)?, cx.input(3)?);
        int8_range(a.dtype)?;
        int8_range(b.dtype)?;
        if a.rank() != 2 || b.rank() != 2 {
            return Err("A and B must be matrices".into());
        }
        let m = if self.trans_a { a.dims[1].clone() } else { a.dims[0].clone() };
        let n = if self.trans_b { b.dims[0].clone() } else { b.dims[1].clone() };
        let out = match (cx.opt(7), cx.opt(8)) {
            (Some(_), Some(z)) => z.dtype,
            (Some(_), None) => a.dtype,
            (None, _) => DType::F32,
        };
        Ok(vec![vt(out, vec![m, n])])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (a, b) = (need(inputs, 0)?, need(inputs, 3)?);
        let (m, k, n) = self.dims(a.shape(), b.shape())?;
        let (av, bv) = (ints(a)?, ints(b)?);
        let za = zero_points(opt(inputs, 2), a.dtype(), 1, "a_zero_point")?[0];
        let zb = zero_points(opt(inputs, 5), b.dtype(), n, "b_zero_point")?;
        let a_s = scales(need(inputs, 1)?, 1, "a_scale")?[0];
        let b_s = scales(need(inputs, 4)?, n, "b_scale")?;
        let bias = match opt(inputs, 6) {
            None => None,
            Some(c) => {
                let (r, cs) = gemm_bias_strides(c.shape(), m, n)?;
                Some((c.as_slice::<i32>().map_err(|_| format!("C must be int32, got {}", c.dtype()))?, r, cs))
            }
        };
        let acc = |i: usize, j: usize| -> i32 {
            let mut s = bias.map(|(c, r, cs)| c[i * r + j * cs]).unwrap_or(0);
            for t in 0..k {
                let x = av[if self.trans_a { t * m + i } else { i * k + t }] - za;
                let w = bv[if self.trans_b { j * k + t } else { t * n + j }] - pick(&zb, j);
                s = s.wrapping_add(x * w);
            }
            s
        };
        let ys = match opt(inputs, 7) {
            None => None,
            Some(_) => Some(scale_f32(inputs, 7, "y_scale")?),
        };
        let os = self.output_scales(a_s, &b_s, ys);
        if ys.is_none() {
            let mut out = vec![0f32; m * n];
            for i in 0..m {
                for j in 0..n {
                    out[i * n + j] = pick(&os, j) * acc(i, j) as f32;
                }
            }
            return Ok(vec![Tensor::new(&[m, n], out)?]);
        }
        let dt = opt(inputs, 8).map(|z| z.dtype()).unwrap_or(a.dtype());
        let (lo, hi) = int8_range(dt)?;
        let yz = zero_point(inputs, 8, dt, "y_zero_point")?;
        let mut out = vec![0i32; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = requantize(acc(i, j), pick(&os, j), yz, lo as i32, hi as i32);
            }
        }
        Ok(vec![from_ints(dt, &[m, n], &out)?])
    }
}

pub fn import_qgemm(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::QGemm(QGemm {
        alpha: c.attrs.float("alpha", 1.0)?,
        trans_a: c.attrs.int("transA", 0)? != 0,
        trans_b: c.attrs.int("transB", 0)? != 0,
    }))
}

// ---- MatMulIntegerToFloat / DynamicQuantizeMatMul ------------------------------------------

/// MatMulIntegerToFloat (inputs A, B, a_scale, b_scale, a_zp?, b_zp?, bias?) and, with
/// `dynamic`, DynamicQuantizeMatMul (inputs A float, B, b_scale, b_zp?, bias?; A is first
/// quantized to uint8 as DynamicQuantizeLinear does): `Y = (A - a_zp) @ (B - b_zp) ·
/// (a_scale · b_scale) + bias` in float32, with B's scale and zero point per tensor or per
/// column (N).
#[derive(Clone, Debug)]
pub struct MatMulIntegerToFloat {
    pub dynamic: bool,
}

impl MatMulIntegerToFloat {
    /// Input indices of (b_scale, b_zp, bias).
    pub fn b_params(&self) -> (usize, usize, usize) {
        if self.dynamic {
            (2, 3, 4)
        } else {
            (3, 5, 6)
        }
    }
}

impl OpSpec for MatMulIntegerToFloat {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (a, b) = (cx.input(0)?, cx.input(1)?);
        if self.dynamic {
            if a.dtype != DType::F32 {
                return Err(format!("A must be float32, got {}", a.dtype));
            }
        } else {
            int8_range(a.dtype)?;
        }
        int8_range(b.dtype)?;
        Ok(vec![vt(DType::F32, super::quant::geometry(&super::matmul::MatMul, &[Some(a), Some(b)])?)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (a, b) = (need(inputs, 0)?, need(inputs, 1)?);
        let g = matmul_shape(a.shape(), b.shape())?;
        let (bsi, bzi, biasi) = self.b_params();
        let (av, za, a_s) = if self.dynamic {
            let (q, s, z) = super::quant::dynamic_quantize_u8(a.as_slice::<f32>()?);
            (q.into_iter().map(|v| v as i32).collect::<Vec<_>>(), z as i32, s)
        } else {
            let za = zero_points(opt(inputs, 4), a.dtype(), 1, "a_zero_point")?[0];
            (ints(a)?, za, scales(need(inputs, 2)?, 1, "a_scale")?[0])
        };
        let bv = ints(b)?;
        let n = g.n;
        let zb = zero_points(opt(inputs, bzi), b.dtype(), n, "b_zero_point")?;
        let b_s = scales(need(inputs, bsi)?, n, "b_scale")?;
        let bias = match opt(inputs, biasi) {
            None => None,
            Some(t) => {
                let v = t.as_slice::<f32>().map_err(|_| format!("bias must be float32, got {}", t.dtype()))?;
                if v.len() != n {
                    return Err(format!("bias must have N = {n} elements, got {}", v.len()));
                }
                Some(v)
            }
        };
        let (m, k) = (g.m, g.k);
        let batch: usize = g.batch.iter().product();
        let mut out = vec![0f32; batch * m * n];
        for bi in 0..batch {
            // Batch offsets by broadcasting the batch index over A's and B's batch strides.
            let (mut rem, mut ao, mut bo) = (bi, 0usize, 0usize);
            for d in (0..g.batch.len()).rev() {
                let c = rem % g.batch[d];
                rem /= g.batch[d];
                ao += c * g.a_batch_strides[d];
                bo += c * g.b_batch_strides[d];
            }
            for i in 0..m {
                for j in 0..n {
                    let mut s = 0i32;
                    for t in 0..k {
                        s = s.wrapping_add((av[ao + i * k + t] - za) * (bv[bo + t * n + j] - pick(&zb, j)));
                    }
                    let mut y = (a_s * pick(&b_s, j)) * s as f32;
                    if let Some(bv) = bias {
                        y += bv[j];
                    }
                    out[(bi * m + i) * n + j] = y;
                }
            }
        }
        Ok(vec![Tensor::new(&g.out, out)?])
    }
}

pub fn import_matmul_integer_to_float(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::MatMulIntegerToFloat(MatMulIntegerToFloat { dynamic: false }))
}

pub fn import_dynamic_quantize_matmul(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::MatMulIntegerToFloat(MatMulIntegerToFloat { dynamic: true }))
}

// ---- GatherBlockQuantized -------------------------------------------------------------------

/// GatherBlockQuantized: inputs (data, indices, scales, zero_points?); gathers along
/// `gather_axis` and dequantizes `(q - zero_point) · scale` with one scale per `block_size`
/// elements along `quantize_axis`. Data is int4/uint4 (logical shape; zero point default 0) or
/// uint8 packing `8 / bits` values per byte along its last axis (then gather_axis 0 and
/// quantize_axis last; zero points packed the same way, default `2^(bits-1)`). Indices out of
/// range give zeros, as in ONNX Runtime.
#[derive(Clone, Debug)]
pub struct GatherBlockQuantized {
    pub gather_axis: i64,
    pub quantize_axis: i64,
    pub block_size: usize,
    pub bits: usize,
}

/// The geometry of one GatherBlockQuantized call (ONNX Runtime's reshapes).
#[derive(Clone, Debug, PartialEq)]
pub struct GbqGeometry {
    /// Logical values per byte of uint8 data (1 for int4/uint4).
    pub comps: usize,
    /// Elements after the gather axis (logical), the gather axis' length, and the number of indices.
    pub gather_block: usize,
    pub axis_dim: usize,
    pub n_idx: usize,
    /// The quantize axis' logical length and the elements after it.
    pub qdim: usize,
    pub qn: usize,
    /// Scales per slab before the quantize axis: blocks · qn.
    pub scale_full_block: usize,
    /// Packed zero-point bytes per scale row (uint8 data).
    pub zp_row: usize,
    pub out_shape: Vec<usize>,
}

impl GatherBlockQuantized {
    pub fn geometry(
        &self,
        data: DType,
        shape: &[usize],
        idx: &[usize],
        scales: &[usize],
    ) -> Result<GbqGeometry, String> {
        let rank = shape.len();
        if rank == 0 {
            return Err("data must have rank ≥ 1".into());
        }
        let ga = norm_axis(self.gather_axis, rank)?;
        let qa = norm_axis(self.quantize_axis, rank)?;
        let comps = match data {
            DType::U8 => {
                if ga != 0 || qa != rank - 1 {
                    return Err("uint8 data needs gather_axis 0 and quantize_axis the last axis".into());
                }
                8 / self.bits
            }
            DType::I4 | DType::U4 => {
                if self.bits != 4 {
                    return Err(format!("int4/uint4 data needs bits 4, got {}", self.bits));
                }
                1
            }
            d => return Err(format!("data must be uint8, int4 or uint4, got {d}")),
        };
        let mut out_shape: Vec<usize> = shape[..ga].to_vec();
        out_shape.extend_from_slice(idx);
        out_shape.extend_from_slice(&shape[ga + 1..]);
        if let Some(l) = out_shape.last_mut() {
            *l *= comps;
        }
        let qdim = shape[qa] * comps;
        let nblocks = qdim.div_ceil(self.block_size);
        if scales.len() != rank || (0..rank).any(|d| scales[d] != if d == qa { nblocks } else { shape[d] }) {
            return Err(format!(
                "scales of shape {scales:?} do not match data {shape:?} with block_size {}",
                self.block_size
            ));
        }
        let qn: usize = shape[qa + 1..].iter().product();
        Ok(GbqGeometry {
            comps,
            gather_block: shape[ga + 1..].iter().product::<usize>() * comps,
            axis_dim: shape[ga],
            n_idx: idx.iter().product(),
            qdim,
            qn,
            scale_full_block: nblocks * qn,
            zp_row: (nblocks * qn).div_ceil(comps),
            out_shape,
        })
    }
}

impl OpSpec for GatherBlockQuantized {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (d, i, s) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
        if !matches!(i.dtype, DType::I32 | DType::I64) {
            return Err(format!("indices must be int32 or int64, got {}", i.dtype));
        }
        if !matches!(s.dtype, DType::F32 | DType::F16) {
            return Err(format!("scales must be float32 or float16, got {}", s.dtype));
        }
        let rank = d.rank();
        if rank == 0 {
            return Err("data must have rank ≥ 1".into());
        }
        let ga = norm_axis(self.gather_axis, rank)?;
        let comps = if d.dtype == DType::U8 { 8 / self.bits } else { 1 };
        let mut dims: Vec<Dim> = d.dims[..ga].to_vec();
        dims.extend(i.dims.iter().cloned());
        dims.extend(d.dims[ga + 1..].iter().cloned());
        if let Some(l) = dims.last_mut() {
            *l = match l.known() {
                Some(v) => Dim::Known(v * comps),
                None if comps == 1 => l.clone(),
                None => Dim::Unknown,
            };
        }
        Ok(vec![vt(s.dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (data, idx, sc) = (need(inputs, 0)?, need(inputs, 1)?, need(inputs, 2)?);
        let g = self.geometry(data.dtype(), data.shape(), idx.shape(), sc.shape())?;
        let iv = idx.to_i64_vec()?;
        let sv = sc.to_f64_vec()?;
        let packed = data.dtype() == DType::U8;
        let bits = if packed { self.bits } else { 4 };
        let mask = (1i64 << bits) - 1;
        // Logical value of data element `k`.
        let dv: Vec<i64> = if packed {
            let b = data.as_slice::<u8>()?;
            (0..b.len() * g.comps).map(|k| (b[k / g.comps] as i64 >> ((k % g.comps) * bits)) & mask).collect()
        } else {
            data.to_i64_vec()?
        };
        let zp = match opt(inputs, 3) {
            None => None,
            Some(z) if z.dtype() != data.dtype() => {
                return Err(format!("zero_points is {}, data {}", z.dtype(), data.dtype()))
            }
            Some(z) if packed => {
                let zb = z.as_slice::<u8>()?;
                let rows = sv.len() / g.scale_full_block.max(1);
                if zb.len() != rows * g.zp_row {
                    return Err(format!("zero_points has {} bytes, expected {}", zb.len(), rows * g.zp_row));
                }
                Some(
                    (0..sv.len())
                        .map(|si| {
                            let (row, q) = (si / g.scale_full_block, si % g.scale_full_block);
                            (zb[row * g.zp_row + q / g.comps] as i64 >> ((q % g.comps) * bits)) & mask
                        })
                        .collect::<Vec<_>>(),
                )
            }
            Some(z) => {
                let v = z.to_i64_vec()?;
                if v.len() != sv.len() {
                    return Err(format!("zero_points has {} values, scales {}", v.len(), sv.len()));
                }
                Some(v)
            }
        };
        let default_zp = if packed { 1i64 << (bits - 1) } else { 0 };
        let n: usize = g.out_shape.iter().product();
        let mut out = vec![0f64; n];
        for (i, o) in out.iter_mut().enumerate() {
            let (blk, ele) = (i / g.gather_block, i % g.gather_block);
            let (gm, gn) = (blk / g.n_idx, blk % g.n_idx);
            let mut ix = iv[gn];
            let len = g.axis_dim as i64;
            if ix < -len || ix >= len {
                continue;
            }
            if ix < 0 {
                ix += len;
            }
            let di = gm * g.axis_dim * g.gather_block + ix as usize * g.gather_block + ele;
            let qfull = g.qdim * g.qn;
            let (x, y, z) = (di / qfull, di % qfull / g.qn, di % g.qn);
            let si = x * g.scale_full_block + y / self.block_size * g.qn + z;
            let zv = zp.as_ref().map(|v| v[si]).unwrap_or(default_zp);
            *o = ((dv[di] - zv) as f32 * sv[si] as f32) as f64;
        }
        Ok(vec![Tensor::from_f64(sc.dtype(), &g.out_shape, &out)?])
    }
}

pub fn import_gather_block_quantized(c: &NodeCtx) -> Result<Op, String> {
    let block = c.attrs.int("block_size", 128)?;
    if block < 16 || (block & (block - 1)) != 0 {
        return Err(format!("block_size must be a power of two ≥ 16, got {block}"));
    }
    let bits = c.attrs.int("bits", 4)?;
    if !matches!(bits, 2 | 4 | 8) {
        return Err(format!("bits must be 2, 4 or 8, got {bits}"));
    }
    Ok(Op::GatherBlockQuantized(GatherBlockQuantized {
        gather_axis: c.attrs.int("gather_axis", 0)?,
        quantize_axis: c.attrs.int("quantize_axis", 1)?,
        block_size: block as usize,
        bits: bits as usize,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requantize_rounds_half_even_and_saturates() {
        assert_eq!(requantize(5, 0.5, 0, 0, 255), 2); // 2.5 → 2
        assert_eq!(requantize(7, 0.5, 0, 0, 255), 4); // 3.5 → 4
        assert_eq!(requantize(1000, 1.0, 10, 0, 255), 255);
        assert_eq!(requantize(-1000, 1.0, 10, -128, 127), -128);
    }

    #[test]
    fn logistic_is_close_to_the_exact_sigmoid() {
        for i in -40..=40 {
            let x = i as f32 * 0.5;
            let exact = 1.0 / (1.0 + (-x as f64).exp());
            assert!((mlas_logistic(x) as f64 - exact).abs() < 1e-6, "{x}");
        }
    }

    #[test]
    fn identity_table_of_equal_params_copies() {
        let t = lookup_table(true, 0.1, 3, 0.1, 3, |v| v);
        for b in 0..256usize {
            assert_eq!(t[b], b as u8 as i8 as i32);
        }
    }
}
