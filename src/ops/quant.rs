//! Quantization (ai.onnx): QuantizeLinear and DequantizeLinear (per-tensor, per-axis and
//! blocked scales; 2/4/8/16-bit integers, float8 and float4 targets; `saturate`,
//! `output_dtype`, `precision`), DynamicQuantizeLinear, and the integer products MatMulInteger,
//! ConvInteger, QLinearMatMul and QLinearConv. The products reuse MatMul's and Conv's geometry
//! and reference kernels on exact f64 copies of the zero-point-adjusted integers (exact while
//! sums stay below 2^53). Rounding to integers is to nearest, ties to even, as ONNX specifies.

use super::conv::{Conv, WindowAttrs};
use super::matmul::{matmul_f64, matmul_shape, MatMul};
use super::{need, vt, InferCx, InferIn, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::minifloat::{round_to, CastMode};
use crate::tensor::shape::{broadcast_shapes, broadcast_strides, fmt_shape, norm_axis, strides};
use crate::tensor::{DType, Dim, Tensor};

/// The integer range of an integer quantized type.
pub fn int_range(d: DType) -> Option<(i64, i64)> {
    use DType::*;
    Some(match d {
        U8 => (0, 255),
        I8 => (-128, 127),
        U16 => (0, 65535),
        I16 => (-32768, 32767),
        U4 => (0, 15),
        I4 => (-8, 7),
        U2 => (0, 3),
        I2 => (-2, 1),
        _ => return None,
    })
}

/// Float types a tensor can be quantized to.
pub fn is_float_quant(d: DType) -> bool {
    use DType::*;
    matches!(d, F8E4M3FN | F8E4M3FNUZ | F8E5M2 | F8E5M2FNUZ | F4E2M1)
}

fn opt<'t>(inputs: &[Option<&'t Tensor>], i: usize) -> Option<&'t Tensor> {
    inputs.get(i).copied().flatten()
}

/// For each element of a tensor of shape `x`, the flat index of its scale (and zero point) in a
/// tensor of shape `p`: one element = per tensor; 1-D of `x[axis]` = per axis; same rank as `x`
/// with `ceil(x[axis] / block)` along `axis` = blocked.
pub fn param_index(x: &[usize], p: &[usize], axis: i64, block: usize) -> Result<Vec<usize>, String> {
    let n: usize = x.iter().product();
    if p.iter().product::<usize>() == 1 {
        return Ok(vec![0; n]);
    }
    if x.is_empty() {
        return Err(format!("a scalar input needs a one-element scale, got shape {}", fmt_shape(p)));
    }
    let ax = norm_axis(axis, x.len())?;
    let xs = strides(x);
    if block == 0 {
        if p.len() != 1 || p[0] != x[ax] {
            return Err(format!(
                "a per-axis scale must be 1-D of length {} (axis {ax} of {}), got shape {}",
                x[ax],
                fmt_shape(x),
                fmt_shape(p)
            ));
        }
        return Ok((0..n).map(|i| (i / xs[ax]) % x[ax]).collect());
    }
    if p.len() != x.len() || (0..x.len()).any(|d| d != ax && p[d] != x[d]) || p[ax] != x[ax].div_ceil(block) {
        return Err(format!(
            "a blocked scale for input {} with block_size {block} on axis {ax} must have shape {} with {} at axis {ax}, got {}",
            fmt_shape(x),
            fmt_shape(x),
            x[ax].div_ceil(block),
            fmt_shape(p)
        ));
    }
    let ps = strides(p);
    Ok((0..n)
        .map(|i| {
            (0..x.len())
                .map(|d| {
                    let c = (i / xs[d]) % x[d];
                    (if d == ax { c / block } else { c }) * ps[d]
                })
                .sum()
        })
        .collect())
}

/// For each element of shape `to`, the flat index of the element of shape `from` that
/// broadcasts onto it; an error unless `from` broadcasts to exactly `to`.
fn bcast_index(from: &[usize], to: &[usize]) -> Result<Vec<usize>, String> {
    if broadcast_shapes(&[from, to])? != to {
        return Err(format!("shape {} does not broadcast to {}", fmt_shape(from), fmt_shape(to)));
    }
    let st = broadcast_strides(from, to);
    let ts = strides(to);
    let n: usize = to.iter().product();
    Ok((0..n).map(|i| (0..to.len()).map(|d| ((i / ts[d]) % to[d]) * st[d]).sum()).collect())
}

/// How a 1-D zero point or scale with more than one element lines up with its tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// Only per-tensor values are allowed.
    Tensor,
    /// One value per row of a matrix (`[M]` → `[M, 1]`), A of a matrix product.
    Row,
    /// One value per column (`[N]`), B of a matrix product.
    Col,
    /// One value per output channel (`[M]` → `[M, 1, …]`), conv weights.
    Channel,
}

/// The shape a parameter of shape `p` takes to broadcast against a tensor of shape `x`.
fn param_shape(p: &[usize], x: &[usize], layout: Layout, what: &str) -> Result<Vec<usize>, String> {
    let pn: usize = p.iter().product();
    if pn == 1 {
        return Ok(vec![]);
    }
    let r = x.len();
    if p.len() != 1 {
        return if layout == Layout::Tensor {
            Err(format!("{what} must be a scalar, got shape {}", fmt_shape(p)))
        } else {
            Ok(p.to_vec())
        };
    }
    let (want, shape) = match layout {
        Layout::Tensor => return Err(format!("{what} must be a scalar, got shape {}", fmt_shape(p))),
        Layout::Row if r >= 2 => (x[r - 2], vec![p[0], 1]),
        Layout::Col if r >= 1 => (x[r - 1], vec![p[0]]),
        Layout::Channel if r >= 1 => {
            let mut s = vec![1; r];
            s[0] = p[0];
            (x[0], s)
        }
        _ => return Err(format!("{what} of shape {} does not fit an input of shape {}", fmt_shape(p), fmt_shape(x))),
    };
    if p[0] != want {
        return Err(format!("{what} has {} elements, expected {want}", p[0]));
    }
    Ok(shape)
}

/// `x - zero_point` as exact f64 values.
fn centered(x: &Tensor, zp: Option<&Tensor>, layout: Layout, what: &str) -> Result<Vec<f64>, String> {
    let xv = x.to_f64_vec()?;
    let Some(z) = zp else { return Ok(xv) };
    if z.dtype() != x.dtype() {
        return Err(format!("{what} is {}, but its input is {}", z.dtype(), x.dtype()));
    }
    let zv = z.to_f64_vec()?;
    let idx = bcast_index(&param_shape(z.shape(), x.shape(), layout, what)?, x.shape())?;
    Ok(xv.iter().zip(idx).map(|(&v, i)| v - zv[i]).collect())
}

/// Rounds half to even and clamps into an integer type's range (NaN becomes 0).
fn to_int(v: f64, lo: i64, hi: i64) -> i64 {
    if v.is_nan() {
        return 0;
    }
    v.round_ties_even().clamp(lo as f64, hi as f64) as i64
}

/// `v` rounded half to even when `out` is an integer type: integer results round the scaled
/// value before the zero point is added, as `y = saturate(round(x / y_scale) + y_zero_point)`.
fn requant(v: f64, out: DType) -> f64 {
    if int_range(out).is_some() {
        v.round_ties_even()
    } else {
        v
    }
}

/// A quantized result of type `out` from real values (`y + zero_point` already applied).
fn quantized(out: DType, shape: &[usize], v: &[f64], saturate: bool) -> Result<Tensor, String> {
    match int_range(out) {
        Some((lo, hi)) => Tensor::from_i64(out, shape, &v.iter().map(|&x| to_int(x, lo, hi)).collect::<Vec<_>>()),
        None if is_float_quant(out) => {
            Tensor::from_f64_with(out, shape, v, CastMode { saturate, ..CastMode::default() })
        }
        None => Err(format!("{out} is not a quantized type")),
    }
}

/// The dtype arithmetic between `a` and `b` happens in, as numpy promotes.
pub fn promote(a: DType, b: DType) -> DType {
    use DType::*;
    let rank = |d: DType| match d {
        F64 => 4,
        F32 => 3,
        F16 | BF16 => 2,
        _ => 0,
    };
    if !a.is_float() || !b.is_float() || a == F64 || b == F64 {
        return F64;
    }
    if rank(a) == 0 {
        return b;
    }
    if rank(b) == 0 || a == b {
        return a;
    }
    if rank(a) == rank(b) {
        // float16 with bfloat16
        return F32;
    }
    if rank(a) > rank(b) {
        a
    } else {
        b
    }
}

/// QuantizeLinear: `y = saturate(round(x / scale) + zero_point)`.
#[derive(Clone, Debug)]
pub struct QuantizeLinear {
    pub axis: i64,
    pub block_size: usize,
    pub saturate: bool,
    pub output_dtype: Option<DType>,
    pub precision: Option<DType>,
}

impl QuantizeLinear {
    fn out_dtype(&self, zp: Option<DType>) -> Result<DType, String> {
        let d = match (zp, self.output_dtype) {
            (Some(z), Some(o)) if z != o => {
                return Err(format!("output_dtype {o} disagrees with the zero point's type {z}"));
            }
            (Some(z), _) => z,
            (None, Some(o)) => o,
            (None, None) => DType::U8,
        };
        if int_range(d).is_none() && !is_float_quant(d) {
            return Err(format!("cannot quantize to {d}"));
        }
        Ok(d)
    }
}

impl OpSpec for QuantizeLinear {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, s) = (cx.input(0)?, cx.input(1)?);
        if !(x.dtype.is_float() || x.dtype == DType::I32) || !(s.dtype.is_float() || s.dtype == DType::I32) {
            return Err(format!("QuantizeLinear needs float or int32 x and scale, got {} and {}", x.dtype, s.dtype));
        }
        let out = self.out_dtype(cx.opt(2).map(|z| z.dtype))?;
        Ok(vec![vt(out, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, s, zp) = (need(inputs, 0)?, need(inputs, 1)?, opt(inputs, 2));
        let out = self.out_dtype(zp.map(|z| z.dtype()))?;
        let idx = param_index(x.shape(), s.shape(), self.axis, self.block_size)?;
        let (xv, sv) = (x.to_f64_vec()?, s.to_f64_vec()?);
        let zv = match zp {
            Some(z) if z.shape() != s.shape() && !(z.numel() == 1 && s.numel() == 1) => {
                return Err(format!(
                    "zero point shape {} differs from the scale's {}",
                    fmt_shape(z.shape()),
                    fmt_shape(s.shape())
                ))
            }
            Some(z) => z.to_f64_vec()?,
            None => vec![0.0; sv.len().max(1)],
        };
        // With `precision` both operands are converted to it; otherwise the division happens
        // in the operands' common type.
        let (prec, pre) = match self.precision {
            Some(p) => (p, p),
            None => (promote(x.dtype(), s.dtype()), DType::F64),
        };
        let v: Vec<f64> = xv
            .iter()
            .zip(&idx)
            .map(|(&xe, &i)| {
                let q = round_to(prec, round_to(pre, xe) / round_to(pre, sv[i]));
                requant(q, out) + zv[i]
            })
            .collect();
        // `saturate` only concerns float8; int types always clamp, float4 always saturates.
        Ok(vec![quantized(out, x.shape(), &v, self.saturate)?])
    }
}

/// DequantizeLinear: `y = (x - zero_point) * scale`.
#[derive(Clone, Debug)]
pub struct DequantizeLinear {
    pub axis: i64,
    pub block_size: usize,
    pub output_dtype: Option<DType>,
}

impl DequantizeLinear {
    /// `output_dtype`, else the scale's type (float32 for an E8M0 scale, which cannot be one).
    fn out_dtype(&self, scale: DType) -> Result<DType, String> {
        let d = match self.output_dtype {
            Some(d) => d,
            None if scale == DType::F8E8M0 => DType::F32,
            None => scale,
        };
        if !matches!(d, DType::F32 | DType::F16 | DType::BF16 | DType::F64) {
            return Err(format!("DequantizeLinear cannot produce {d}"));
        }
        Ok(d)
    }
}

impl OpSpec for DequantizeLinear {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, s) = (cx.input(0)?, cx.input(1)?);
        if int_range(x.dtype).is_none() && !is_float_quant(x.dtype) && x.dtype != DType::I32 {
            return Err(format!("cannot dequantize {}", x.dtype));
        }
        if let Some(z) = cx.opt(2) {
            if z.dtype != x.dtype {
                return Err(format!("zero point is {}, x is {}", z.dtype, x.dtype));
            }
        }
        Ok(vec![vt(self.out_dtype(s.dtype)?, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, s, zp) = (need(inputs, 0)?, need(inputs, 1)?, opt(inputs, 2));
        let out = self.out_dtype(s.dtype())?;
        let idx = param_index(x.shape(), s.shape(), self.axis, self.block_size)?;
        let (xv, sv) = (x.to_f64_vec()?, s.to_f64_vec()?);
        let zv = match zp {
            Some(z) if z.dtype() != x.dtype() => {
                return Err(format!("zero point is {}, x is {}", z.dtype(), x.dtype()))
            }
            Some(z) if z.shape() != s.shape() && !(z.numel() == 1 && s.numel() == 1) => {
                return Err(format!(
                    "zero point shape {} differs from the scale's {}",
                    fmt_shape(z.shape()),
                    fmt_shape(s.shape())
                ))
            }
            Some(z) => z.to_f64_vec()?,
            None => vec![0.0; sv.len().max(1)],
        };
        let v: Vec<f64> = xv.iter().zip(&idx).map(|(&xe, &i)| (xe - zv[i]) * sv[i]).collect();
        Ok(vec![Tensor::from_f64(out, x.shape(), &v)?])
    }
}

/// DynamicQuantizeLinear: uint8 quantization with a scale and zero point computed from the
/// data's range (which always includes 0), in float32 arithmetic as the spec writes it.
#[derive(Clone, Debug)]
pub struct DynamicQuantizeLinear;

impl OpSpec for DynamicQuantizeLinear {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if x.dtype != DType::F32 {
            return Err(format!("DynamicQuantizeLinear needs float input, got {}", x.dtype));
        }
        Ok(vec![vt(DType::U8, x.dims.clone()), vt(DType::F32, vec![]), vt(DType::U8, vec![])])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let (y, scale, zp) = dynamic_quantize_u8(x.as_slice::<f32>()?);
        Ok(vec![Tensor::new(x.shape(), y)?, Tensor::scalar(scale), Tensor::scalar(zp)])
    }
}

/// DynamicQuantizeLinear's arithmetic (also ONNX Runtime's DynamicQuantizeMatMul's): the
/// uint8 data, scale and zero point of `xv`.
pub fn dynamic_quantize_u8(xv: &[f32]) -> (Vec<u8>, f32, u8) {
    let max = xv.iter().fold(0.0f32, |m, &v| if v > m { v } else { m });
    let min = xv.iter().fold(0.0f32, |m, &v| if v < m { v } else { m });
    let scale = if max == min { 1.0f32 } else { max - min } / 255.0;
    let zp = (0.0f32 - min / scale).clamp(0.0, 255.0).round_ties_even();
    let y: Vec<u8> = xv.iter().map(|&v| ((v / scale).round_ties_even() + zp).clamp(0.0, 255.0) as u8).collect();
    (y, scale, zp as u8)
}

/// Output dims of another op's shape rule applied to float stand-ins of these inputs.
pub(crate) fn geometry(spec: &dyn OpSpec, ins: &[Option<&InferIn>]) -> Result<Vec<Dim>, String> {
    let cx = InferCx {
        inputs: ins
            .iter()
            .map(|i| i.map(|i| InferIn { dtype: DType::F32, dims: i.dims.clone(), value: None }))
            .collect(),
        n_outputs: 1,
        missing_value: std::cell::Cell::new(None),
    };
    Ok(spec.infer(&cx)?.remove(0).dims)
}

fn check_int8(d: DType, what: &str) -> Result<(), String> {
    if matches!(d, DType::I8 | DType::U8) {
        Ok(())
    } else {
        Err(format!("{what} must be int8 or uint8, got {d}"))
    }
}

/// Wraps exact integer results into int32 (accumulation may overflow only in 32 bits).
fn to_i32(shape: &[usize], v: &[f64]) -> Result<Tensor, String> {
    Tensor::new(shape, v.iter().map(|&x| x as i64 as i32).collect::<Vec<_>>())
}

/// MatMulInteger: `(A - a_zero_point) @ (B - b_zero_point)` in int32.
#[derive(Clone, Debug)]
pub struct MatMulInteger;

impl OpSpec for MatMulInteger {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (a, b) = (cx.input(0)?, cx.input(1)?);
        check_int8(a.dtype, "A")?;
        check_int8(b.dtype, "B")?;
        Ok(vec![vt(DType::I32, geometry(&MatMul, &[Some(a), Some(b)])?)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (a, b) = (need(inputs, 0)?, need(inputs, 1)?);
        let g = matmul_shape(a.shape(), b.shape())?;
        let av = centered(a, opt(inputs, 2), Layout::Row, "a_zero_point")?;
        let bv = centered(b, opt(inputs, 3), Layout::Col, "b_zero_point")?;
        Ok(vec![to_i32(&g.out, &matmul_f64(&av, &bv, &g))?])
    }
}

/// QLinearMatMul: a quantized matrix product, requantized to y's scale and zero point.
#[derive(Clone, Debug)]
pub struct QLinearMatMul;

impl OpSpec for QLinearMatMul {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (a, b) = (cx.input(0)?, cx.input(3)?);
        let out = cx.opt(7).map(|z| z.dtype).unwrap_or(a.dtype);
        if int_range(out).is_none() && !is_float_quant(out) {
            return Err(format!("cannot produce {out}"));
        }
        Ok(vec![vt(out, geometry(&MatMul, &[Some(a), Some(b)])?)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (a, a_s, b, b_s, y_s) =
            (need(inputs, 0)?, need(inputs, 1)?, need(inputs, 3)?, need(inputs, 4)?, need(inputs, 6)?);
        let y_zp = opt(inputs, 7);
        let out = y_zp.map(|z| z.dtype()).unwrap_or(a.dtype());
        let g = matmul_shape(a.shape(), b.shape())?;
        let av = centered(a, opt(inputs, 2), Layout::Row, "a_zero_point")?;
        let bv = centered(b, opt(inputs, 5), Layout::Col, "b_zero_point")?;
        let c = matmul_f64(&av, &bv, &g);
        // Per-row scales of A and per-column scales of B, laid onto the output.
        let n = c.len();
        let (ai, bi) = if a_s.numel() == 1 && b_s.numel() == 1 {
            (vec![0; n], vec![0; n])
        } else if a.rank() < 2 || b.rank() < 2 {
            return Err("per-row or per-column scales need matrix inputs".into());
        } else {
            (
                bcast_index(&param_shape(a_s.shape(), a.shape(), Layout::Row, "a_scale")?, &g.out)?,
                bcast_index(&param_shape(b_s.shape(), b.shape(), Layout::Col, "b_scale")?, &g.out)?,
            )
        };
        let ts = a_s.dtype();
        if y_s.numel() != 1 {
            return Err("y_scale must be a scalar".into());
        }
        let (asv, bsv, ys) = (a_s.to_f64_vec()?, b_s.to_f64_vec()?, y_s.to_f64_vec()?[0]);
        let yz = match y_zp {
            Some(z) if z.numel() != 1 => return Err("y_zero_point must be a scalar".into()),
            Some(z) => z.to_f64_vec()?[0],
            None => 0.0,
        };
        let v: Vec<f64> = c
            .iter()
            .enumerate()
            .map(|(i, &cv)| requant(mlas_scale(cv, round_to(ts, round_to(ts, asv[ai[i]] * bsv[bi[i]]) / ys)), out) + yz)
            .collect();
        Ok(vec![quantized(out, &g.out, &v, true)?])
    }
}

/// An int32 accumulator times its requantization multiplier as ONNX Runtime (MLAS) computes
/// it: both converted to f32 and multiplied in f32, so that the rounding that follows sees the
/// same value (an exact f64 product rounds differently when the f32 product lands on a tie).
fn mlas_scale(acc: f64, mult: f64) -> f64 {
    ((acc as f32) * (mult as f32)) as f64
}

/// The integer convolution both ConvInteger and QLinearConv run: Conv's reference kernel on
/// exact f64 copies of the zero-point-adjusted data (and an int32 bias).
fn int_conv(
    conv: &Conv,
    x: &Tensor,
    x_zp: Option<&Tensor>,
    w: &Tensor,
    w_zp: Option<&Tensor>,
    bias: Option<&Tensor>,
) -> Result<Tensor, String> {
    let xv = Tensor::new(x.shape(), centered(x, x_zp, Layout::Tensor, "x_zero_point")?)?;
    let wv = Tensor::new(w.shape(), centered(w, w_zp, Layout::Channel, "w_zero_point")?)?;
    let b = match bias {
        Some(b) if b.dtype() != DType::I32 => return Err(format!("B must be int32, got {}", b.dtype())),
        Some(b) => Some(Tensor::new(b.shape(), b.to_f64_vec()?)?),
        None => None,
    };
    Ok(conv.eval(&[Some(&xv), Some(&wv), b.as_ref()], 1)?.remove(0))
}

/// ConvInteger: `(x - x_zero_point) ⋆ (w - w_zero_point)` in int32.
#[derive(Clone, Debug)]
pub struct ConvInteger {
    pub conv: Conv,
}

impl OpSpec for ConvInteger {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, w) = (cx.input(0)?, cx.input(1)?);
        check_int8(x.dtype, "x")?;
        check_int8(w.dtype, "w")?;
        Ok(vec![vt(DType::I32, geometry(&self.conv, &[Some(x), Some(w)])?)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, w) = (need(inputs, 0)?, need(inputs, 1)?);
        let y = int_conv(&self.conv, x, opt(inputs, 2), w, opt(inputs, 3), None)?;
        Ok(vec![to_i32(y.shape(), &y.to_f64_vec()?)?])
    }
}

/// QLinearConv: a quantized convolution (optional int32 bias), requantized to y's scale and
/// zero point; the weight scale may be per output channel.
#[derive(Clone, Debug)]
pub struct QLinearConv {
    pub conv: Conv,
}

impl OpSpec for QLinearConv {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, w) = (cx.input(0)?, cx.input(3)?);
        check_int8(x.dtype, "x")?;
        check_int8(w.dtype, "w")?;
        let out = cx.opt(7).map(|z| z.dtype).unwrap_or(x.dtype);
        check_int8(out, "y")?;
        Ok(vec![vt(out, geometry(&self.conv, &[Some(x), Some(w)])?)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, x_s, w, w_s, y_s) =
            (need(inputs, 0)?, need(inputs, 1)?, need(inputs, 3)?, need(inputs, 4)?, need(inputs, 6)?);
        let y_zp = opt(inputs, 7);
        let out = y_zp.map(|z| z.dtype()).unwrap_or(x.dtype());
        let acc = int_conv(&self.conv, x, opt(inputs, 2), w, opt(inputs, 5), opt(inputs, 8))?;
        if x_s.numel() != 1 || y_s.numel() != 1 {
            return Err("x_scale and y_scale must be scalars".into());
        }
        let m = acc.shape()[1];
        if w_s.numel() != 1 && (w_s.rank() != 1 || w_s.numel() != m) {
            return Err(format!("w_scale must be a scalar or have {m} elements, got shape {}", fmt_shape(w_s.shape())));
        }
        let ts = x_s.dtype();
        let (xs, ys, wsv) = (x_s.to_f64_vec()?[0], y_s.to_f64_vec()?[0], w_s.to_f64_vec()?);
        let mult: Vec<f64> =
            (0..m).map(|c| round_to(ts, round_to(ts, xs * wsv[if wsv.len() == 1 { 0 } else { c }]) / ys)).collect();
        let yz = match y_zp {
            Some(z) if z.numel() != 1 => return Err("y_zero_point must be a scalar".into()),
            Some(z) => z.to_f64_vec()?[0],
            None => 0.0,
        };
        let plane: usize = acc.shape()[2..].iter().product();
        let v: Vec<f64> = acc
            .to_f64_vec()?
            .iter()
            .enumerate()
            .map(|(i, &a)| requant(mlas_scale(a, mult[(i / plane.max(1)) % m]), out) + yz)
            .collect();
        Ok(vec![quantized(out, acc.shape(), &v, true)?])
    }
}

// ---- importers -------------------------------------------------------------------------

fn dtype_attr(c: &NodeCtx, name: &str) -> Result<Option<DType>, String> {
    match c.attrs.int(name, 0)? {
        0 => Ok(None),
        t => i32::try_from(t)
            .ok()
            .and_then(DType::from_onnx)
            .map(Some)
            .ok_or_else(|| format!("unknown or unsupported {name} {t}")),
    }
}

fn block_size(c: &NodeCtx) -> Result<usize, String> {
    let b = c.attrs.int("block_size", 0)?;
    usize::try_from(b).map_err(|_| format!("block_size must be ≥ 0, got {b}"))
}

pub fn import_quantize_linear(c: &NodeCtx) -> Result<Op, String> {
    let saturate = c.attrs.int("saturate", 1)? != 0;
    Ok(Op::QuantizeLinear(QuantizeLinear {
        axis: c.attrs.int("axis", 1)?,
        block_size: block_size(c)?,
        saturate,
        output_dtype: dtype_attr(c, "output_dtype")?,
        precision: dtype_attr(c, "precision")?,
    }))
}

pub fn import_dequantize_linear(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::DequantizeLinear(DequantizeLinear {
        axis: c.attrs.int("axis", 1)?,
        block_size: block_size(c)?,
        output_dtype: dtype_attr(c, "output_dtype")?,
    }))
}

pub fn import_dynamic_quantize_linear(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::DynamicQuantizeLinear(DynamicQuantizeLinear))
}

pub fn import_matmul_integer(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::MatMulInteger(MatMulInteger))
}

pub fn import_qlinear_matmul(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::QLinearMatMul(QLinearMatMul))
}

fn conv_attrs(c: &NodeCtx) -> Result<Conv, String> {
    let group = c.attrs.int("group", 1)?;
    if group < 1 {
        return Err(format!("group must be ≥ 1, got {group}"));
    }
    Ok(Conv { window: WindowAttrs::from_ctx(c, false)?, group: group as usize })
}

pub fn import_conv_integer(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::ConvInteger(ConvInteger { conv: conv_attrs(c)? }))
}

pub fn import_qlinear_conv(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::QLinearConv(QLinearConv { conv: conv_attrs(c)? }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_layouts() {
        assert_eq!(param_index(&[2, 3], &[], 1, 0).unwrap(), vec![0; 6]);
        assert_eq!(param_index(&[2, 3], &[3], 1, 0).unwrap(), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(param_index(&[2, 3], &[2], 0, 0).unwrap(), vec![0, 0, 0, 1, 1, 1]);
        assert!(param_index(&[2, 3], &[2], 1, 0).is_err());
        // blocks of 2 along axis 1 (the last block is short)
        assert_eq!(param_index(&[2, 3], &[2, 2], 1, 2).unwrap(), vec![0, 0, 1, 2, 2, 3]);
        assert!(param_index(&[2, 3], &[2, 3], 1, 2).is_err());
    }

    #[test]
    fn quantize_rounds_half_to_even_and_saturates() {
        let q = QuantizeLinear { axis: 1, block_size: 0, saturate: true, output_dtype: None, precision: None };
        let x = Tensor::from_slice(&[6], &[0.5f32, 1.5, 2.5, -0.5, 1000.0, -3.0]).unwrap();
        let s = Tensor::scalar(1.0f32);
        let z = Tensor::scalar(1i8);
        let y = q.eval(&[Some(&x), Some(&s), Some(&z)], 1).unwrap().remove(0);
        assert_eq!(y.as_slice::<i8>().unwrap(), &[1, 3, 3, 1, 127, -2]);
        let y = q.eval(&[Some(&x), Some(&s), None], 1).unwrap().remove(0);
        assert_eq!(y.as_slice::<u8>().unwrap(), &[0, 2, 2, 0, 255, 0]);
    }

    #[test]
    fn dequantize_blocked() {
        let dq = DequantizeLinear { axis: 0, block_size: 2, output_dtype: None };
        let x = Tensor::from_i64(DType::I4, &[3], &[-8, 7, 2]).unwrap();
        let s = Tensor::from_slice(&[2], &[0.5f32, 2.0]).unwrap();
        let z = Tensor::from_i64(DType::I4, &[2], &[0, 1]).unwrap();
        let y = dq.eval(&[Some(&x), Some(&s), Some(&z)], 1).unwrap().remove(0);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[-4.0, 3.5, 2.0]);
    }

    #[test]
    fn matmul_integer_per_row_zero_points() {
        let a = Tensor::from_slice(&[2, 2], &[1u8, 2, 3, 4]).unwrap();
        let b = Tensor::from_slice(&[2, 1], &[1u8, 1]).unwrap();
        let za = Tensor::from_slice(&[2], &[1u8, 3]).unwrap();
        let y = MatMulInteger.eval(&[Some(&a), Some(&b), Some(&za), None], 1).unwrap().remove(0);
        assert_eq!(y.as_slice::<i32>().unwrap(), &[1, 1]);
    }
}
