//! ONNX Runtime's quantized transformer contrib ops (domain com.microsoft), following ORT's
//! `QAttention` and `QEmbedLayerNormalization` CPU kernels:
//!
//! - **QAttention**: com.microsoft Attention whose input (uint8/int8) and weights (uint8/int8)
//!   are quantized: `QKV = ((input − input_zp)·(W − weight_zp))·input_scale·weight_scale + bias`,
//!   then the same multi-head attention as [`ContribAttention`] (mask_index forms, unidirectional,
//!   past/present). `weight_scale` and `weight_zero_point` are per tensor or per column (3·hidden).
//!   Inputs: input, weight, bias, input_scale, weight_scale, mask_index, input_zero_point,
//!   weight_zero_point, past; outputs: output, present. `do_rotary` and
//!   `past_present_share_buffer` are rejected at import.
//! - **QEmbedLayerNormalization**: EmbedLayerNormalization over per-tensor quantized word,
//!   position and segment embeddings, gamma and beta (scales inputs 8–12, zero points 13–17);
//!   outputs: layernorm_out, mask_index_out.
//!
//! Both dequantize exactly (integer minus zero point, times scale, in f64) and reuse the float
//! ops' reference kernels; the integer products ORT accumulates in int32 are exact in f64 too.

use super::contrib::{ContribAttention, EmbedLayerNorm};
use super::{expect_float, need, InferCx, InferIn, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::{DType, Tensor};

fn is_q8(d: DType) -> bool {
    matches!(d, DType::U8 | DType::I8)
}

/// Checks that a quantization parameter (scale or zero point, input `i`) holds one value or
/// `cols` values (`per_col`), and that a zero point has the quantized type `qdt`.
fn check_qparam(
    cx: &InferCx,
    i: usize,
    cols: Option<usize>,
    per_col: bool,
    zp_of: Option<DType>,
) -> Result<(), String> {
    let Some(p) = cx.opt(i) else { return Ok(()) };
    match zp_of {
        Some(q) if p.dtype != q => return Err(format!("zero point (input {i}) is {}, the data is {q}", p.dtype)),
        None if !p.dtype.is_float() => return Err(format!("scale (input {i}) must be float, got {}", p.dtype)),
        _ => {}
    }
    if let Some(s) = p.shape() {
        let n: usize = s.iter().product();
        let ok = (n == 1 && s.len() <= 1) || (per_col && s.len() == 1 && cols.is_none_or(|c| c == n));
        if !ok {
            let want = if per_col { "a scalar or one value per weight column" } else { "a scalar" };
            return Err(format!("input {i} of shape {s:?} must be {want}"));
        }
    }
    Ok(())
}

/// `(q − zp)·scale` in f64, with a scale and zero point of one value or one per column of the
/// last axis (`cols` wide).
fn dequant(q: &Tensor, scale: &Tensor, zp: Option<&Tensor>, cols: usize) -> Result<Vec<f64>, String> {
    if !is_q8(q.dtype()) {
        return Err(format!("quantized data must be uint8 or int8, got {}", q.dtype()));
    }
    let qv = q.to_f64_vec()?;
    let sv = scale.to_f64_vec()?;
    let zv = match zp {
        Some(z) if z.dtype() != q.dtype() => {
            return Err(format!("zero point is {}, the data is {}", z.dtype(), q.dtype()));
        }
        Some(z) => z.to_f64_vec()?,
        None => vec![0.0],
    };
    let pick = |v: &[f64], i: usize, what: &str| -> Result<f64, String> {
        match v.len() {
            1 => Ok(v[0]),
            n if n == cols && cols > 0 => Ok(v[i % cols]),
            n => Err(format!("{what} has {n} values, expected 1 or {cols}")),
        }
    };
    qv.iter().enumerate().map(|(i, &e)| Ok((e - pick(&zv, i, "zero point")?) * pick(&sv, i, "scale")?)).collect()
}

/// An f64 tensor of `v` in `shape`.
fn f64_tensor(shape: &[usize], v: &[f64]) -> Result<Tensor, String> {
    Tensor::from_f64(DType::F64, shape, v)
}

/// Rounds a float result to `dt` (integer outputs, e.g. a mask index, pass through).
fn to_dtype(t: Tensor, dt: DType) -> Result<Tensor, String> {
    if t.dtype() != DType::F64 {
        return Ok(t);
    }
    Tensor::from_f64(dt, t.shape(), &t.to_f64_vec()?)
}

/// An [`InferIn`] like `x` with another element type.
fn retyped<'a>(x: &InferIn<'a>, dtype: DType) -> InferIn<'a> {
    InferIn { dtype, dims: x.dims.clone(), value: None }
}

// ---- QAttention ---------------------------------------------------------------------------------

/// com.microsoft QAttention (see the module doc). The attention itself is `attn`, whose
/// `qkv_hidden_sizes` is always None (ORT's QAttention splits the weights in three equal parts).
#[derive(Clone, Debug)]
pub struct QAttention {
    pub attn: ContribAttention,
}

impl OpSpec for QAttention {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let w = cx.input(1)?;
        if !is_q8(x.dtype) || !is_q8(w.dtype) {
            return Err(format!("input and weight must be uint8 or int8, got {} and {}", x.dtype, w.dtype));
        }
        cx.input(2)?;
        let dt = expect_float(cx, 2)?;
        cx.input(3)?;
        cx.input(4)?;
        let cols = if w.rank() == 2 { w.dims[1].known() } else { None };
        check_qparam(cx, 3, cols, false, None)?;
        check_qparam(cx, 4, cols, true, None)?;
        check_qparam(cx, 6, cols, false, Some(x.dtype))?;
        check_qparam(cx, 7, cols, true, Some(w.dtype))?;
        if cx.inputs.len() > 9 {
            return Err(format!("QAttention has at most 9 inputs, got {}", cx.inputs.len()));
        }
        let slot = |i: usize| cx.opt(i).cloned();
        let inner = InferCx {
            inputs: vec![Some(retyped(x, dt)), Some(retyped(w, dt)), slot(2), slot(5), slot(8)],
            n_outputs: cx.n_outputs,
            missing_value: Default::default(),
        };
        self.attn.infer(&inner)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let w = need(inputs, 1)?;
        let bias = need(inputs, 2)?;
        let dt = bias.dtype();
        let opt = |i: usize| inputs.get(i).copied().flatten();
        let in_hidden = *x.shape().last().ok_or("input must be 3-D")?;
        let cols = *w.shape().get(1).ok_or("weight must be 2-D")?;
        if need(inputs, 3)?.numel() != 1 {
            return Err("input_scale must be a scalar".into());
        }
        if opt(6).is_some_and(|z| z.numel() != 1) {
            return Err("input_zero_point must be a scalar".into());
        }
        let xf = f64_tensor(x.shape(), &dequant(x, need(inputs, 3)?, opt(6), in_hidden)?)?;
        let wf = f64_tensor(w.shape(), &dequant(w, need(inputs, 4)?, opt(7), cols)?)?;
        let bf = f64_tensor(bias.shape(), &bias.to_f64_vec()?)?;
        let pf = opt(8).map(|p| f64_tensor(p.shape(), &p.to_f64_vec()?)).transpose()?;
        let out = self.attn.eval(&[Some(&xf), Some(&wf), Some(&bf), opt(5), pf.as_ref()], n)?;
        out.into_iter().map(|t| to_dtype(t, dt)).collect()
    }
}

// ---- QEmbedLayerNormalization -------------------------------------------------------------------

/// com.microsoft QEmbedLayerNormalization (see the module doc).
#[derive(Clone, Debug)]
pub struct QEmbedLayerNorm {
    pub norm: EmbedLayerNorm,
}

/// The quantized tables of QEmbedLayerNormalization: (data input, scale input, zero-point input).
pub const QEMBED_TABLES: [(usize, usize, usize); 5] = [(2, 8, 13), (3, 9, 14), (4, 10, 15), (5, 11, 16), (6, 12, 17)];

impl OpSpec for QEmbedLayerNorm {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let word = cx.input(2)?;
        let dt = expect_float(cx, 8)?;
        for (d, s, z) in QEMBED_TABLES {
            let Some(t) = cx.opt(d) else { continue };
            if !is_q8(t.dtype) || t.dtype != word.dtype {
                return Err(format!("input {d} must be uint8 or int8 like word_embedding, got {}", t.dtype));
            }
            cx.input(s)?;
            check_qparam(cx, s, None, false, None)?;
            check_qparam(cx, z, None, false, Some(t.dtype))?;
        }
        if cx.n_outputs > 2 {
            return Err(format!("QEmbedLayerNormalization has at most 2 outputs, got {}", cx.n_outputs));
        }
        if cx.inputs.len() > 18 {
            return Err(format!("QEmbedLayerNormalization has at most 18 inputs, got {}", cx.inputs.len()));
        }
        let slot = |i: usize| cx.opt(i).cloned();
        let tab = |i: usize| cx.opt(i).map(|t| retyped(t, dt));
        let inner = InferCx {
            inputs: vec![slot(0), slot(1), tab(2), tab(3), tab(4), tab(5), tab(6), slot(7)],
            n_outputs: cx.n_outputs,
            missing_value: Default::default(),
        };
        self.norm.infer(&inner)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n: usize) -> Result<Vec<Tensor>, String> {
        let dt = need(inputs, 8)?.dtype();
        let opt = |i: usize| inputs.get(i).copied().flatten();
        let mut tables: Vec<Option<Tensor>> = Vec::new();
        for (d, s, z) in QEMBED_TABLES {
            tables.push(match opt(d) {
                None => None,
                Some(t) => {
                    let scale = need(inputs, s)?;
                    if scale.numel() != 1 || opt(z).is_some_and(|z| z.numel() != 1) {
                        return Err(format!("the scale and zero point of input {d} must be scalars"));
                    }
                    Some(f64_tensor(t.shape(), &dequant(t, scale, opt(z), 1)?)?)
                }
            });
        }
        let mut ins: Vec<Option<&Tensor>> = vec![opt(0), opt(1)];
        ins.extend(tables.iter().map(|t| t.as_ref()));
        ins.push(opt(7));
        let out = self.norm.eval(&ins, n)?;
        out.into_iter().map(|t| to_dtype(t, dt)).collect()
    }
}

// ---- importers ----------------------------------------------------------------------------------

pub fn import_qattention(c: &NodeCtx) -> Result<Op, String> {
    if c.attrs.opt_ints("qkv_hidden_sizes")?.is_some() {
        return Err("QAttention has no qkv_hidden_sizes attribute".into());
    }
    match super::contrib::import_attention(c)? {
        Op::ContribAttention(attn) => Ok(Op::QAttention(QAttention { attn })),
        _ => Err("QAttention: unexpected attention import".into()),
    }
}

pub fn import_qembed_layer_norm(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::QEmbedLayerNorm(QEmbedLayerNorm { norm: EmbedLayerNorm { epsilon: c.attrs.float("epsilon", 1e-12)? } }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dequantizes_per_tensor_and_per_column() {
        let q = Tensor::new(&[2, 2], vec![1u8, 2, 3, 4]).unwrap();
        let s = Tensor::new(&[2], vec![0.5f32, 2.0]).unwrap();
        let z = Tensor::new(&[], vec![1u8]).unwrap();
        assert_eq!(dequant(&q, &s, Some(&z), 2).unwrap(), vec![0.0, 2.0, 1.0, 6.0]);
        let zi = Tensor::new(&[], vec![1i8]).unwrap();
        assert!(dequant(&q, &s, Some(&zi), 2).is_err(), "a zero point of another type is an error");
        assert!(dequant(&q, &s, None, 3).is_err(), "a scale that is neither scalar nor per column");
    }
}
