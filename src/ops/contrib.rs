//! ONNX Runtime contrib operators (domain com.microsoft) that fused transformer models use:
//! Attention (packed QKV projection + multi-head scaled dot-product attention with an optional
//! key mask, attention bias and past/present KV state; the attention core and ORT's mask rules
//! live in `contrib_attention`), SkipLayerNormalization / SkipSimplifiedLayerNormalization (residual add + layer /
//! RMS norm), SimplifiedLayerNormalization (RMS norm), EmbedLayerNormalization (the sum of
//! word, position and segment embeddings, then layer norm; also the per-batch mask length), the GELU family
//! (Gelu, BiasGelu, FastGelu, QuickGelu) and BiasAdd.
//!
//! Semantics follow ONNX Runtime's published contrib operator documentation; math runs in f64
//! and results are rounded to the output type once.

use super::attention::{concat_seq, Heads};
use super::contrib_attention::{attend, attention_bias, heads_of_rows, mask_plus_bias, ort_mask};
use super::elementwise::erf;
use super::{expect_float, need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::{DType, Dim, Tensor};

/// Checks that a 1-D per-channel parameter (gamma, beta, bias) has `h` entries.
fn check_vec(cx: &InferCx, i: usize, h: Option<usize>, what: &str) -> Result<(), String> {
    if let Some(p) = cx.opt(i) {
        if p.rank() != 1 {
            return Err(format!("{what} (input {i}) must be 1-D, got rank {}", p.rank()));
        }
        if let (Some(a), Some(b)) = (p.dims[0].known(), h) {
            if a != b {
                return Err(format!("{what} (input {i}) has {a} entries, the hidden size is {b}"));
            }
        }
    }
    Ok(())
}

/// Reads an optional per-channel vector of `h` entries.
fn opt_vec(inputs: &[Option<&Tensor>], i: usize, h: usize) -> Result<Option<Vec<f64>>, String> {
    match inputs.get(i).copied().flatten() {
        None => Ok(None),
        Some(t) => {
            let v = t.to_f64_vec()?;
            if v.len() != h {
                return Err(format!("input {i} has {} entries, expected {h}", v.len()));
            }
            Ok(Some(v))
        }
    }
}

// ---- GELU family, BiasAdd -------------------------------------------------------------------

/// Which activation a [`ContribGelu`] applies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GeluKind {
    /// `0.5·x·(1 + erf(x/√2))` (Gelu, BiasGelu).
    Erf,
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` (FastGelu).
    Tanh,
    /// `x·sigmoid(alpha·x)` (QuickGelu).
    Quick(f32),
}

impl GeluKind {
    pub fn apply(self, x: f64) -> f64 {
        match self {
            GeluKind::Erf => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
            GeluKind::Tanh => {
                let c = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
            }
            GeluKind::Quick(a) => x / (1.0 + (-(a as f64) * x).exp()),
        }
    }
}

/// `act(X + bias)` with an optional 1-D bias over the last axis (input 1).
#[derive(Clone, Debug)]
pub struct ContribGelu {
    pub kind: GeluKind,
    /// The op requires the bias input (BiasGelu).
    pub bias_required: bool,
}

impl OpSpec for ContribGelu {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let dt = expect_float(cx, 0)?;
        if self.bias_required {
            cx.input(1)?;
        }
        if cx.opt(1).is_some() {
            if x.rank() == 0 {
                return Err("a bias needs an input of rank ≥ 1".into());
            }
            check_vec(cx, 1, x.dims[x.rank() - 1].known(), "bias")?;
        }
        Ok(vec![vt(dt, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let h = x.shape().last().copied().unwrap_or(1);
        let bias = opt_vec(inputs, 1, h)?;
        let v = x.to_f64_vec()?;
        let out: Vec<f64> =
            v.iter().enumerate().map(|(i, &e)| self.kind.apply(e + bias.as_ref().map_or(0.0, |b| b[i % h]))).collect();
        Ok(vec![Tensor::from_f64(x.dtype(), x.shape(), &out)?])
    }
}

/// BiasAdd: `X + bias + skip` with X, skip of shape (N, S, C) and bias (C).
#[derive(Clone, Debug)]
pub struct BiasAdd;

impl OpSpec for BiasAdd {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let dt = expect_float(cx, 0)?;
        if x.rank() != 3 {
            return Err(format!("BiasAdd needs a 3-D input, got rank {}", x.rank()));
        }
        check_vec(cx, 1, x.dims[2].known(), "bias")?;
        let s = cx.input(2)?;
        if s.rank() != 3 {
            return Err(format!("BiasAdd's skip must be 3-D, got rank {}", s.rank()));
        }
        Ok(vec![vt(dt, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let skip = need(inputs, 2)?;
        if skip.shape() != x.shape() {
            return Err(format!("skip shape {:?} differs from input shape {:?}", skip.shape(), x.shape()));
        }
        let h = x.shape()[2];
        let b = opt_vec(inputs, 1, h)?.ok_or("BiasAdd needs a bias")?;
        let (v, s) = (x.to_f64_vec()?, skip.to_f64_vec()?);
        let out: Vec<f64> = (0..v.len()).map(|i| v[i] + b[i % h] + s[i]).collect();
        Ok(vec![Tensor::from_f64(x.dtype(), x.shape(), &out)?])
    }
}

// ---- layer norms ----------------------------------------------------------------------------

/// Normalizes one row in place: LayerNorm (`simplified = false`: subtract the mean) or RMS norm.
/// Returns (mean, 1/sqrt(var + ε)).
fn norm_row(row: &mut [f64], eps: f64, simplified: bool) -> (f64, f64) {
    let n = row.len() as f64;
    let mean = if simplified { 0.0 } else { row.iter().sum::<f64>() / n };
    let var = row.iter().map(|&e| (e - mean) * (e - mean)).sum::<f64>() / n;
    let inv = 1.0 / (var + eps).sqrt();
    for e in row.iter_mut() {
        *e = (*e - mean) * inv;
    }
    (mean, inv)
}

/// SkipLayerNormalization (`simplified = false`) and SkipSimplifiedLayerNormalization:
/// `s = input + skip (+ bias)`, `output = norm(s)·gamma (+ beta)` over the last axis.
/// Inputs: input, skip, gamma, [beta (not simplified)], bias. Outputs: output, mean,
/// inv_std_var (shape `[..., 1]`), input_skip_bias_sum.
#[derive(Clone, Debug)]
pub struct SkipLayerNorm {
    pub epsilon: f32,
    pub simplified: bool,
}

impl SkipLayerNorm {
    /// Input index of beta (None for the simplified variant) and of bias.
    pub fn beta_bias(&self) -> (Option<usize>, usize) {
        if self.simplified {
            (None, 3)
        } else {
            (Some(3), 4)
        }
    }
}

/// How many leading elements of the input a (broadcast) skip covers: skip's element count must
/// equal the input's or the product of the input's trailing dims.
pub fn skip_len(x: &[usize], skip: &[usize]) -> Result<usize, String> {
    let n: usize = skip.iter().product();
    let total: usize = x.iter().product();
    let ok = n == total || (1..=x.len()).any(|k| x[x.len() - k..].iter().product::<usize>() == n);
    if !ok || skip.last() != x.last() {
        return Err(format!("skip shape {skip:?} does not broadcast to input shape {x:?}"));
    }
    Ok(n)
}

impl OpSpec for SkipLayerNorm {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let dt = expect_float(cx, 0)?;
        if x.rank() < 2 {
            return Err(format!("the input must have rank ≥ 2, got {}", x.rank()));
        }
        let h = x.dims[x.rank() - 1].known();
        let skip = cx.input(1)?;
        if let (Some(a), Some(b)) = (x.shape(), skip.shape()) {
            skip_len(&a, &b)?;
        }
        cx.input(2)?;
        check_vec(cx, 2, h, "gamma")?;
        let (beta, bias) = self.beta_bias();
        if let Some(b) = beta {
            check_vec(cx, b, h, "beta")?;
        }
        check_vec(cx, bias, h, "bias")?;
        let mut stat = x.dims.clone();
        let r = stat.len();
        stat[r - 1] = Dim::Known(1);
        let mut out = vec![vt(dt, x.dims.clone())];
        if cx.n_outputs > 1 {
            out.push(vt(DType::F32, stat.clone()));
        }
        if cx.n_outputs > 2 {
            out.push(vt(DType::F32, stat));
        }
        if cx.n_outputs > 3 {
            out.push(vt(dt, x.dims.clone()));
        }
        if cx.n_outputs > 4 {
            return Err(format!("at most 4 outputs, got {}", cx.n_outputs));
        }
        Ok(out)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let skip = need(inputs, 1)?;
        let shape = x.shape().to_vec();
        let h = *shape.last().ok_or("the input must have rank ≥ 2")?;
        let sl = skip_len(&shape, skip.shape())?;
        let gamma = opt_vec(inputs, 2, h)?.ok_or("gamma is required")?;
        let (bi, bsi) = self.beta_bias();
        let beta = match bi {
            Some(i) => opt_vec(inputs, i, h)?,
            None => None,
        };
        let bias = opt_vec(inputs, bsi, h)?;
        let v = x.to_f64_vec()?;
        let s = skip.to_f64_vec()?;
        let sum: Vec<f64> = (0..v.len()).map(|i| v[i] + s[i % sl] + bias.as_ref().map_or(0.0, |b| b[i % h])).collect();
        let mut y = sum.clone();
        let rows = v.len().checked_div(h).unwrap_or(0);
        let (mut means, mut invs) = (vec![0.0; rows], vec![0.0; rows]);
        for r in 0..rows {
            let row = &mut y[r * h..(r + 1) * h];
            (means[r], invs[r]) = norm_row(row, self.epsilon as f64, self.simplified);
            for (c, e) in row.iter_mut().enumerate() {
                *e = *e * gamma[c] + beta.as_ref().map_or(0.0, |b| b[c]);
            }
        }
        let mut stat = shape.clone();
        let last = stat.len() - 1;
        stat[last] = 1;
        let mut out = vec![Tensor::from_f64(x.dtype(), &shape, &y)?];
        if n > 1 {
            out.push(Tensor::from_f64(DType::F32, &stat, &means)?);
        }
        if n > 2 {
            out.push(Tensor::from_f64(DType::F32, &stat, &invs)?);
        }
        if n > 3 {
            out.push(Tensor::from_f64(x.dtype(), &shape, &sum)?);
        }
        Ok(out)
    }
}

/// SimplifiedLayerNormalization: RMS norm over axes `[axis, rank)`, times scale.
/// Outputs: Y, inv_std_var (the normalized axes kept as 1).
#[derive(Clone, Debug)]
pub struct SimplifiedLayerNorm {
    pub axis: i64,
    pub epsilon: f32,
}

impl SimplifiedLayerNorm {
    pub fn axis_of(&self, rank: usize) -> Result<usize, String> {
        let r = rank as i64;
        let a = if self.axis < 0 { self.axis + r } else { self.axis };
        if a < 0 || a >= r {
            return Err(format!("axis {} out of range for rank {rank}", self.axis));
        }
        Ok(a as usize)
    }
}

impl OpSpec for SimplifiedLayerNorm {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let dt = expect_float(cx, 0)?;
        let a = self.axis_of(x.rank())?;
        cx.input(1)?;
        let mut stat = x.dims.clone();
        for d in stat.iter_mut().skip(a) {
            *d = Dim::Known(1);
        }
        let mut out = vec![vt(dt, x.dims.clone())];
        if cx.n_outputs > 1 {
            out.push(vt(DType::F32, stat));
        }
        if cx.n_outputs > 2 {
            return Err(format!("at most 2 outputs, got {}", cx.n_outputs));
        }
        Ok(out)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let shape = x.shape().to_vec();
        let a = self.axis_of(shape.len())?;
        let h: usize = shape[a..].iter().product();
        let scale = need(inputs, 1)?;
        let sv = scale.to_f64_vec()?;
        if sv.is_empty() || h % sv.len() != 0 {
            return Err(format!("scale of {} entries does not broadcast over {h}", sv.len()));
        }
        let mut y = x.to_f64_vec()?;
        let rows = y.len().checked_div(h).unwrap_or(0);
        let mut invs = vec![0.0; rows];
        for r in 0..rows {
            let row = &mut y[r * h..(r + 1) * h];
            invs[r] = norm_row(row, self.epsilon as f64, true).1;
            for (c, e) in row.iter_mut().enumerate() {
                *e *= sv[c % sv.len()];
            }
        }
        let mut out = vec![Tensor::from_f64(x.dtype(), &shape, &y)?];
        if n > 1 {
            let stat: Vec<usize> = shape.iter().enumerate().map(|(i, &d)| if i >= a { 1 } else { d }).collect();
            out.push(Tensor::from_f64(DType::F32, &stat, &invs)?);
        }
        Ok(out)
    }
}

// ---- EmbedLayerNormalization -----------------------------------------------------------------

/// Inputs: input_ids (B,S), segment_ids, word_embedding (V,H), position_embedding (P,H),
/// segment_embedding, gamma, beta, mask (B,S), position_ids (B,S or 1,S).
/// Outputs: output (B,S,H) = LayerNorm(word + position + segment), mask_index (B, int32: the
/// count of mask entries equal to 1, 0 without a mask), embedding_sum (B,S,H). ORT requires
/// int32 index inputs; int64 ones (which `opt::fold_index_cast` passes in place of a Cast) are
/// read as that Cast would read them: their low 32 bits, two's complement.
#[derive(Clone, Debug)]
pub struct EmbedLayerNorm {
    pub epsilon: f32,
}

impl OpSpec for EmbedLayerNorm {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let ids = cx.input(0)?;
        if ids.rank() != 2 || !ids.dtype.is_int() {
            return Err(format!("input_ids must be a 2-D integer tensor, got {} rank {}", ids.dtype, ids.rank()));
        }
        let w = cx.input(2)?;
        let dt = expect_float(cx, 2)?;
        if w.rank() != 2 {
            return Err("word_embedding must be 2-D".into());
        }
        let h = w.dims[1].clone();
        for i in [3, 4] {
            if let Some(e) = cx.opt(i) {
                if e.rank() != 2 {
                    return Err(format!("embedding input {i} must be 2-D"));
                }
                if let (Some(a), Some(b)) = (e.dims[1].known(), h.known()) {
                    if a != b {
                        return Err(format!("embedding input {i} has width {a}, word_embedding {b}"));
                    }
                }
            }
        }
        cx.input(3)?;
        if cx.opt(1).is_some() != cx.opt(4).is_some() {
            return Err("segment_ids and segment_embedding must be given together".into());
        }
        cx.input(5)?;
        cx.input(6)?;
        check_vec(cx, 5, h.known(), "gamma")?;
        check_vec(cx, 6, h.known(), "beta")?;
        let (b, s) = (ids.dims[0].clone(), ids.dims[1].clone());
        let mut out = vec![vt(dt, vec![b.clone(), s.clone(), h.clone()])];
        if cx.n_outputs > 1 {
            out.push(vt(DType::I32, vec![b.clone()]));
        }
        if cx.n_outputs > 2 {
            out.push(vt(dt, vec![b, s, h]));
        }
        if cx.n_outputs > 3 {
            return Err(format!("at most 3 outputs, got {}", cx.n_outputs));
        }
        Ok(out)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n: usize) -> Result<Vec<Tensor>, String> {
        let ids_t = need(inputs, 0)?;
        let (b, s) = match ids_t.shape() {
            [b, s] => (*b, *s),
            sh => return Err(format!("input_ids must be 2-D, got {sh:?}")),
        };
        let ids = index_vec(ids_t)?;
        let word = need(inputs, 2)?;
        let h = word.shape()[1];
        let table = |t: &Tensor, what: &str| -> Result<(Vec<f64>, usize), String> {
            if t.shape().len() != 2 || t.shape()[1] != h {
                return Err(format!("{what} must have shape (rows, {h}), got {:?}", t.shape()));
            }
            Ok((t.to_f64_vec()?, t.shape()[0]))
        };
        let (wv, wn) = table(word, "word_embedding")?;
        let (pv, pn) = table(need(inputs, 3)?, "position_embedding")?;
        let seg = match (inputs.get(1).copied().flatten(), inputs.get(4).copied().flatten()) {
            (Some(si), Some(se)) => {
                if si.shape() != ids_t.shape() {
                    return Err("segment_ids must have the shape of input_ids".into());
                }
                Some((index_vec(si)?, table(se, "segment_embedding")?))
            }
            (None, None) => None,
            _ => return Err("segment_ids and segment_embedding must be given together".into()),
        };
        let gamma = opt_vec(inputs, 5, h)?.ok_or("gamma is required")?;
        let beta = opt_vec(inputs, 6, h)?.ok_or("beta is required")?;
        let pos_ids = match inputs.get(8).copied().flatten() {
            None => None,
            Some(p) => {
                let ok = p.shape() == ids_t.shape() || p.shape() == [1, s];
                if !ok {
                    return Err(format!("position_ids shape {:?} must be ({b},{s}) or (1,{s})", p.shape()));
                }
                Some((index_vec(p)?, p.shape()[0] == 1 && b != 1))
            }
        };
        let row_of = |rows: usize, id: i64, what: &str| -> Result<std::ops::Range<usize>, String> {
            if id < 0 || id as usize >= rows {
                return Err(format!("{what} index {id} out of range [0, {rows})"));
            }
            Ok(id as usize * h..(id as usize + 1) * h)
        };
        let mut sum = vec![0.0; b * s * h];
        for bi in 0..b {
            for si in 0..s {
                let t = bi * s + si;
                let pid = match &pos_ids {
                    None => si as i64,
                    Some((p, bc)) => p[if *bc { si } else { t }],
                };
                let wr = row_of(wn, ids[t], "input_ids")?;
                let pr = row_of(pn, pid, "position")?;
                let o = &mut sum[t * h..(t + 1) * h];
                for c in 0..h {
                    o[c] = wv[wr.start + c] + pv[pr.start + c];
                }
                if let Some((sid, (sv, sn))) = &seg {
                    let sr = row_of(*sn, sid[t], "segment_ids")?;
                    for c in 0..h {
                        o[c] += sv[sr.start + c];
                    }
                }
            }
        }
        let mut y = sum.clone();
        for r in 0..b * s {
            let row = &mut y[r * h..(r + 1) * h];
            norm_row(row, self.epsilon as f64, false);
            for (c, e) in row.iter_mut().enumerate() {
                *e = *e * gamma[c] + beta[c];
            }
        }
        let dt = word.dtype();
        let mut out = vec![Tensor::from_f64(dt, &[b, s, h], &y)?];
        if n > 1 {
            let counts: Vec<i64> = match inputs.get(7).copied().flatten() {
                None => vec![0; b],
                Some(m) => {
                    if m.shape() != ids_t.shape() {
                        return Err(format!("mask shape {:?} differs from input_ids' {:?}", m.shape(), [b, s]));
                    }
                    let mv = index_vec(m)?;
                    (0..b).map(|bi| mv[bi * s..(bi + 1) * s].iter().filter(|&&e| e == 1).count() as i64).collect()
                }
            };
            out.push(Tensor::from_i64(DType::I32, &[b], &counts)?);
        }
        if n > 2 {
            out.push(Tensor::from_f64(dt, &[b, s, h], &sum)?);
        }
        Ok(out)
    }
}

/// EmbedLayerNormalization's index values; int64 ones wrap to int32 as a Cast does.
fn index_vec(t: &Tensor) -> Result<Vec<i64>, String> {
    let v = t.to_i64_vec()?;
    Ok(match t.dtype() {
        DType::I64 => v.into_iter().map(|x| x as i32 as i64).collect(),
        _ => v,
    })
}

// ---- Attention ---------------------------------------------------------------------------------

/// com.microsoft Attention: `QKV = input·weights + bias` (packed, Q|K|V along the last axis),
/// per head `softmax(scale·QKᵀ + mask)·V`, heads concatenated. Inputs: input (B,S,In),
/// weights (In, Dq+Dk+Dv), bias (Dq+Dk+Dv), mask_index, past (2,B,N,P,H: keys and values
/// before this call), attention_bias (B|1, N|1, S, T); outputs: output, present (2,B,N,T,H)
/// with T = P + S. The key mask (`contrib_attention::ort_mask`): 1-D (B) end positions or (2B)
/// end + start positions; 2-D (B,T) / 3-D (B,S,T) raw masks (0 = masked). Masked scores get
/// `mask_filter_value`; `unidirectional` masks keys after `P + query` with the lowest f32.
#[derive(Clone, Debug)]
pub struct ContribAttention {
    pub num_heads: usize,
    pub scale: Option<f32>,
    pub unidirectional: bool,
    pub mask_filter_value: f32,
    pub qkv_hidden_sizes: Option<[usize; 3]>,
}

/// The resolved geometry of one Attention node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttnDims {
    pub batch: usize,
    pub seq: usize,
    pub input_hidden: usize,
    pub q: usize,
    pub k: usize,
    pub v: usize,
    pub heads: usize,
}

impl AttnDims {
    pub fn head_size(&self) -> usize {
        self.q / self.heads
    }
    pub fn v_head_size(&self) -> usize {
        self.v / self.heads
    }
}

impl ContribAttention {
    /// Geometry from the input and weight shapes.
    pub fn dims(&self, x: &[usize], w: &[usize]) -> Result<AttnDims, String> {
        let (batch, seq, input_hidden) = match x {
            [b, s, h] => (*b, *s, *h),
            _ => return Err(format!("input must be 3-D, got {x:?}")),
        };
        let (wi, wo) = match w {
            [a, b] => (*a, *b),
            _ => return Err(format!("weights must be 2-D, got {w:?}")),
        };
        if wi != input_hidden {
            return Err(format!("weights have {wi} rows, the input hidden size is {input_hidden}"));
        }
        let [q, k, v] = match self.qkv_hidden_sizes {
            Some(s) => s,
            None => {
                if wo % 3 != 0 {
                    return Err(format!("weights width {wo} is not divisible by 3"));
                }
                [wo / 3; 3]
            }
        };
        if q + k + v != wo {
            return Err(format!("qkv_hidden_sizes sum to {}, weights width is {wo}", q + k + v));
        }
        let heads = self.num_heads;
        if heads == 0 || q != k || q % heads != 0 || v % heads != 0 {
            return Err(format!("hidden sizes q={q} k={k} v={v} do not fit {heads} heads"));
        }
        Ok(AttnDims { batch, seq, input_hidden, q, k, v, heads })
    }

    pub fn scale_for(&self, d: &AttnDims) -> f32 {
        self.scale.unwrap_or(1.0 / (d.head_size() as f32).sqrt())
    }

    /// The past sequence length of a `past` input (2, B, N, P, H) that fits `d`.
    pub fn past_len(&self, d: &AttnDims, past: &[usize]) -> Result<usize, String> {
        match *past {
            [2, b, n, p, h] if b == d.batch && n == d.heads && h == d.head_size() => {
                if d.q != d.v {
                    return Err("with past state, Q, K and V must share one hidden size".into());
                }
                Ok(p)
            }
            _ => Err(format!("past must be [2, {}, {}, P, {}], got {past:?}", d.batch, d.heads, d.head_size())),
        }
    }
}

impl OpSpec for ContribAttention {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let dt = expect_float(cx, 0)?;
        let w = cx.input(1)?;
        if x.rank() != 3 || w.rank() != 2 {
            return Err(format!("input must be 3-D and weights 2-D, got ranks {} and {}", x.rank(), w.rank()));
        }
        if cx.opt(6).is_some() || cx.inputs.len() > 7 {
            return Err("Attention with past_sequence_length (buffer sharing) is not supported".into());
        }
        if cx.n_outputs > 2 {
            return Err(format!("Attention has at most 2 outputs, got {}", cx.n_outputs));
        }
        let v = match (w.dims[1].known(), self.qkv_hidden_sizes) {
            (_, Some(s)) => Dim::Known(s[2]),
            (Some(n), None) => Dim::Known(n / 3),
            _ => Dim::Unknown,
        };
        let mut present =
            vec![Dim::Known(2), x.dims[0].clone(), Dim::Known(self.num_heads), Dim::Unknown, Dim::Unknown];
        if let (Some(a), Some(b)) = (x.shape(), w.shape()) {
            let d = self.dims(&a, &b)?;
            let past = match cx.opt(4).map(|p| p.shape()) {
                None => Some(0),
                Some(Some(ps)) => Some(self.past_len(&d, &ps)?),
                Some(None) => None,
            };
            present[3] = past.map_or(Dim::Unknown, |p| Dim::Known(p + d.seq));
            present[4] = Dim::Known(d.head_size());
        }
        let mut out = vec![vt(dt, vec![x.dims[0].clone(), x.dims[1].clone(), v])];
        if cx.n_outputs > 1 {
            out.push(vt(dt, present));
        }
        Ok(out)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n_out: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let w = need(inputs, 1)?;
        let d = self.dims(x.shape(), w.shape())?;
        let wo = d.q + d.k + d.v;
        let bias = opt_vec(inputs, 2, wo)?;
        let (b, s, n) = (d.batch, d.seq, d.heads);
        let past_t = inputs.get(4).copied().flatten();
        let past = past_t.map(|p| self.past_len(&d, p.shape())).transpose()?.unwrap_or(0);
        let t = past + s;
        let mask = ort_mask(
            inputs.get(3).copied().flatten(),
            b,
            s,
            past,
            t,
            self.mask_filter_value as f64,
            self.unidirectional,
        )?;
        let ab = inputs.get(5).copied().flatten().map(|a| attention_bias(a, b, n, s, t)).transpose()?;
        let xv = x.to_f64_vec()?;
        let wv = w.to_f64_vec()?;
        // Projection: (B·S, In) × (In, wo).
        let rows = b * s;
        let mut qkv = vec![0.0; rows * wo];
        for r in 0..rows {
            let xr = &xv[r * d.input_hidden..(r + 1) * d.input_hidden];
            let o = &mut qkv[r * wo..(r + 1) * wo];
            for (i, &xe) in xr.iter().enumerate() {
                let wr = &wv[i * wo..(i + 1) * wo];
                for (oe, &we) in o.iter_mut().zip(wr) {
                    *oe += xe * we;
                }
            }
            if let Some(bv) = &bias {
                for (oe, &be) in o.iter_mut().zip(bv) {
                    *oe += be;
                }
            }
        }
        // Q, K, V as [b, n, s, size] heads.
        let part = |off: usize, width: usize| heads_of_rows(&qkv, wo, off, b, s, n, width / n);
        let (q, k_new, v_new) = (part(0, d.q), part(d.q, d.k), part(d.q + d.k, d.v));
        let (pk, pv) = match past_t {
            Some(p) => {
                let pd = p.to_f64_vec()?;
                let half = pd.len() / 2;
                let hs = d.head_size();
                let mk = |data: Vec<f64>| Heads { data, b, h: n, s: past, d: hs };
                (Some(mk(pd[..half].to_vec())), Some(mk(pd[half..].to_vec())))
            }
            None => (None, None),
        };
        let k = concat_seq(pk.as_ref(), &k_new, "key")?;
        let v = concat_seq(pv.as_ref(), &v_new, "value")?;
        let scale = self.scale_for(&d) as f64;
        let out = attend(&q, &k, &v, (scale, 0.0, x.dtype()), mask_plus_bias(&mask, &ab, s, t))?;
        let mut res = vec![Tensor::from_f64(x.dtype(), &[b, s, d.v], &out)?];
        if n_out > 1 {
            let mut both = k.data;
            both.extend_from_slice(&v.data);
            res.push(Tensor::from_f64(x.dtype(), &[2, b, n, t, d.head_size()], &both)?);
        }
        Ok(res)
    }
}

// ---- importers ---------------------------------------------------------------------------------

pub fn import_gelu(_c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::ContribGelu(ContribGelu { kind: GeluKind::Erf, bias_required: false }))
}

pub fn import_bias_gelu(_c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::ContribGelu(ContribGelu { kind: GeluKind::Erf, bias_required: true }))
}

pub fn import_fast_gelu(_c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::ContribGelu(ContribGelu { kind: GeluKind::Tanh, bias_required: false }))
}

pub fn import_quick_gelu(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::ContribGelu(ContribGelu { kind: GeluKind::Quick(c.attrs.float("alpha", 1.702)?), bias_required: false }))
}

pub fn import_bias_add(_c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::BiasAdd(BiasAdd))
}

pub fn import_skip_layer_norm(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::SkipLayerNorm(SkipLayerNorm { epsilon: c.attrs.float("epsilon", 1e-12)?, simplified: false }))
}

pub fn import_skip_simplified_layer_norm(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::SkipLayerNorm(SkipLayerNorm { epsilon: c.attrs.float("epsilon", 1e-12)?, simplified: true }))
}

pub fn import_simplified_layer_norm(c: &NodeCtx) -> Result<Op, String> {
    if c.attrs.int("stash_type", 1)? != 1 {
        return Err("SimplifiedLayerNormalization supports stash_type=1 only".into());
    }
    Ok(Op::SimplifiedLayerNorm(SimplifiedLayerNorm {
        axis: c.attrs.int("axis", -1)?,
        epsilon: c.attrs.float("epsilon", 1e-5)?,
    }))
}

pub fn import_embed_layer_norm(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::EmbedLayerNorm(EmbedLayerNorm { epsilon: c.attrs.float("epsilon", 1e-12)? }))
}

pub fn import_attention(c: &NodeCtx) -> Result<Op, String> {
    let heads = c.attrs.opt_int("num_heads")?.ok_or("Attention needs 'num_heads'")?;
    if heads < 1 {
        return Err(format!("num_heads must be ≥ 1, got {heads}"));
    }
    if c.attrs.int("do_rotary", 0)? != 0 {
        return Err("Attention with do_rotary is not supported".into());
    }
    if c.attrs.int("past_present_share_buffer", 0)? != 0 {
        return Err("Attention with past_present_share_buffer is not supported".into());
    }
    let qkv = match c.attrs.opt_ints("qkv_hidden_sizes")? {
        None => None,
        Some(v) if v.len() == 3 && v.iter().all(|&e| e > 0) => Some([v[0] as usize, v[1] as usize, v[2] as usize]),
        Some(v) => return Err(format!("qkv_hidden_sizes must be 3 positive sizes, got {v:?}")),
    };
    Ok(Op::ContribAttention(ContribAttention {
        num_heads: heads as usize,
        scale: c.attrs.opt_float("scale")?.filter(|&s| s != 0.0),
        unidirectional: c.attrs.int("unidirectional", 0)? != 0,
        mask_filter_value: c.attrs.float("mask_filter_value", -10000.0)?,
        qkv_hidden_sizes: qkv,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_broadcast_lengths() {
        assert_eq!(skip_len(&[2, 3, 4], &[2, 3, 4]).unwrap(), 24);
        assert_eq!(skip_len(&[2, 3, 4], &[3, 4]).unwrap(), 12);
        assert_eq!(skip_len(&[2, 3, 4], &[1, 3, 4]).unwrap(), 12);
        assert!(skip_len(&[2, 3, 4], &[2, 4]).is_err());
    }

    #[test]
    fn past_state_geometry() {
        let a = ContribAttention {
            num_heads: 2,
            scale: None,
            unidirectional: false,
            mask_filter_value: -10000.0,
            qkv_hidden_sizes: None,
        };
        let d = a.dims(&[2, 3, 6], &[6, 24]).unwrap();
        assert_eq!(a.past_len(&d, &[2, 2, 2, 5, 4]).unwrap(), 5);
        assert!(a.past_len(&d, &[2, 2, 3, 5, 4]).is_err());
    }
}
