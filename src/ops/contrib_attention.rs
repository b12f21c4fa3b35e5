//! ONNX Runtime contrib attention operators (domain com.microsoft) of optimized transformer
//! exports: MultiHeadAttention (separate Q/K/V or BNSH cross-attention K/V, input-projection
//! bias, key padding mask, attention bias, past/present KV cache, unidirectional),
//! GroupQueryAttention (GQA/MQA head sharing, packed QKV, BNSH KV cache with per-batch lengths
//! from `seqlens_k`, rotary embedding, causal local window, softcap) and RotaryEmbedding
//! (contrib form: 3-D packed-heads or 4-D BNSH input, position ids or a scalar offset, partial
//! rotary dimension). Also the ORT mask preparation shared with contrib Attention
//! (`crate::ops::contrib`).
//!
//! Semantics follow ONNX Runtime's contrib operator documentation and its CPU provider (the
//! test data under `tests/data/contrib_attention` comes from ORT 1.32): masked keys get
//! `mask_filter_value` (replacing, not adding), future keys under `unidirectional` get the
//! lowest f32, and the softmax runs over every key; GQA leaves keys past a query's causal
//! length (or past `seqlens_k + 1`) out of the softmax. Math runs in f64.

use super::attention::{concat_seq, round_to, Heads};
use super::{expect_float, need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::{DType, Dim, Tensor};

/// The lowest f32, which ORT writes for causally masked keys.
pub const CAUSAL_FILL: f64 = f32::MIN as f64;

/// ORT's additive key mask over [batch, seq, total] from `mask_index` / `key_padding_mask`:
/// 1-D (B or 3B+2) exclusive end positions or (2B) end + inclusive start positions, 2-D (B, total) or
/// 3-D (B, seq, total) raw masks (0 = masked). Masked keys hold `filter`; with `causal`, keys
/// after `past + query` hold [`CAUSAL_FILL`].
pub fn ort_mask(
    mask: Option<&Tensor>,
    batch: usize,
    seq: usize,
    past: usize,
    total: usize,
    filter: f64,
    causal: bool,
) -> Result<Vec<f64>, String> {
    let (b, s, t) = (batch, seq, total);
    let mut m = vec![0.0; b * s * t];
    if let Some(mt) = mask {
        if !matches!(mt.dtype(), DType::I32 | DType::I64) {
            return Err(format!("the mask must be int32, got {}", mt.dtype()));
        }
        let mv = mt.to_i64_vec()?;
        match *mt.shape() {
            // (3B + 2): ORT's CPU provider reads the first B entries as end positions.
            [n] if n == b || n == 2 * b || n == 3 * b + 2 => {
                for bi in 0..b {
                    let end = mv[bi].clamp(0, t as i64) as usize;
                    let start = if n == 2 * b { mv[bi + b].clamp(0, t as i64) as usize } else { 0 };
                    for qi in 0..s {
                        let row = &mut m[(bi * s + qi) * t..][..t];
                        row[end..].iter_mut().for_each(|e| *e = filter);
                        row[..start].iter_mut().for_each(|e| *e = filter);
                    }
                }
            }
            [mb, mt_] if mb == b && mt_ == t => {
                for bi in 0..b {
                    for qi in 0..s {
                        for ki in 0..t {
                            if mv[bi * t + ki] <= 0 {
                                m[(bi * s + qi) * t + ki] = filter;
                            }
                        }
                    }
                }
            }
            [mb, ms, mt_] if mb == b && ms == s && mt_ == t => {
                for (o, &e) in m.iter_mut().zip(&mv) {
                    if e <= 0 {
                        *o = filter;
                    }
                }
            }
            ref sh => {
                return Err(format!("unsupported mask shape {sh:?} (batch {b}, sequence {s}, total sequence {t})"))
            }
        }
    }
    if causal {
        for bi in 0..b {
            for qi in 0..s {
                for ki in (past + qi + 1).min(t)..t {
                    m[(bi * s + qi) * t + ki] = CAUSAL_FILL;
                }
            }
        }
    }
    Ok(m)
}

/// An attention bias of shape (B|1, N|1, S, T) as (values, batch stride, head stride).
pub fn attention_bias(
    t: &Tensor,
    b: usize,
    n: usize,
    s: usize,
    total: usize,
) -> Result<(Vec<f64>, usize, usize), String> {
    match *t.shape() {
        [ab, an, as_, at] if (ab == b || ab == 1) && (an == n || an == 1) && as_ == s && at == total => {
            let hs = if an == 1 { 0 } else { s * total };
            let bs = if ab == 1 { 0 } else { an * s * total };
            Ok((t.to_f64_vec()?, bs, hs))
        }
        ref sh => Err(format!("attention_bias shape {sh:?} must be ({b} or 1, {n} or 1, {s}, {total})")),
    }
}

/// `softmax(f(scale·q·kᵀ) + bias)·v` for every (batch, query head, query) with the KV head of
/// each group of `q.h / k.h` query heads; `f` is the softcap (`c·tanh(x/c)`, when `c > 0`).
/// `bias(b, h, i, j)` is the additive term of key `j`, or `None` to leave the key out of the
/// softmax (a row without keys is zero). Each biased logit is rounded to `dt`, as ORT sums the
/// mask into its `dt` score buffer (it decides rows whose keys are all masked by
/// `mask_filter_value`). Returns [b, seq, heads·dv].
pub(crate) fn attend(
    q: &Heads,
    k: &Heads,
    v: &Heads,
    (scale, softcap, dt): (f64, f64, DType),
    bias: impl Fn(usize, usize, usize, usize) -> Option<f64>,
) -> Result<Vec<f64>, String> {
    if k.b != q.b || v.b != q.b || k.h != v.h || k.s != v.s || k.d != q.d {
        return Err(format!(
            "query [{}, {}, {}, {}], key [{}, {}, {}, {}] and value [{}, {}, {}, {}] do not fit together",
            q.b, q.h, q.s, q.d, k.b, k.h, k.s, k.d, v.b, v.h, v.s, v.d
        ));
    }
    if k.h == 0 || q.h % k.h != 0 {
        return Err(format!("{} query heads are not a multiple of {} key/value heads", q.h, k.h));
    }
    let reps = q.h / k.h;
    let (t, dv) = (k.s, v.d);
    let mut out = vec![0.0; q.b * q.s * q.h * dv];
    let mut sc: Vec<Option<f64>> = vec![None; t];
    for b in 0..q.b {
        for h in 0..q.h {
            let kvh = h / reps;
            for i in 0..q.s {
                let qrow = q.row(b, h, i);
                for (j, e) in sc.iter_mut().enumerate() {
                    *e = bias(b, h, i, j).map(|bj| {
                        let dot: f64 = qrow.iter().zip(k.row(b, kvh, j)).map(|(a, c)| a * c).sum();
                        let mut x = dot * scale;
                        if softcap > 0.0 {
                            x = softcap * (x / softcap).tanh();
                        }
                        round_to(dt, x + bj)
                    });
                }
                let mx = sc.iter().flatten().cloned().fold(f64::NEG_INFINITY, f64::max);
                if mx == f64::NEG_INFINITY {
                    continue;
                }
                let tot: f64 = sc.iter().flatten().map(|&x| (x - mx).exp()).sum();
                let o = &mut out[((b * q.s + i) * q.h + h) * dv..][..dv];
                for (j, e) in sc.iter().enumerate() {
                    if let Some(x) = e {
                        let p = (x - mx).exp() / tot;
                        for (oe, &ve) in o.iter_mut().zip(v.row(b, kvh, j)) {
                            *oe += p * ve;
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Adds `bias[off..off + width]` to every row of a [rows, width] buffer.
fn add_bias(data: &mut [f64], bias: &[f64], off: usize, width: usize) -> Result<(), String> {
    let b =
        bias.get(off..off + width).ok_or_else(|| format!("bias has {} entries, need {}", bias.len(), off + width))?;
    for row in data.chunks_mut(width.max(1)) {
        row.iter_mut().zip(b).for_each(|(e, &x)| *e += x);
    }
    Ok(())
}

/// A [b, s, heads·d] buffer as [b, heads, s, d] heads.
fn heads_of(data: &[f64], b: usize, s: usize, heads: usize, d: usize) -> Heads {
    heads_of_rows(data, heads * d, 0, b, s, heads, d)
}

/// [b, heads, s, d] heads from the columns `[off, off + heads·d)` of a [b·s, row] buffer.
pub(crate) fn heads_of_rows(data: &[f64], row: usize, off: usize, b: usize, s: usize, heads: usize, d: usize) -> Heads {
    let mut out = vec![0.0; b * s * heads * d];
    for bi in 0..b {
        for si in 0..s {
            for hi in 0..heads {
                let src = (bi * s + si) * row + off + hi * d;
                let dst = ((bi * heads + hi) * s + si) * d;
                out[dst..dst + d].copy_from_slice(&data[src..src + d]);
            }
        }
    }
    Heads { data: out, b, h: heads, s, d }
}

/// The additive term of ORT's attention: the [b, s, t] key mask plus the attention bias
/// `(values, batch stride, head stride)` when given.
pub(crate) fn mask_plus_bias<'a>(
    mask: &'a [f64],
    bias: &'a Option<(Vec<f64>, usize, usize)>,
    s: usize,
    t: usize,
) -> impl Fn(usize, usize, usize, usize) -> Option<f64> + 'a {
    move |b, h, i, j| {
        let x = mask[(b * s + i) * t + j];
        Some(bias.as_ref().map_or(x, |(a, bs, hs)| x + a[b * bs + h * hs + i * t + j]))
    }
}

fn opt_in<'a>(inputs: &[Option<&'a Tensor>], i: usize) -> Option<&'a Tensor> {
    inputs.get(i).copied().flatten()
}

fn known(d: &Dim) -> Option<usize> {
    d.known()
}

// ---- MultiHeadAttention -----------------------------------------------------------------------

/// com.microsoft MultiHeadAttention. Inputs: query (B,S,D), key (B,L,D) or BNSH (B,N,L,H),
/// value (B,L,Dv) or BNSH, bias (2D+Dv; K/V parts unused for BNSH K/V), key_padding_mask,
/// attention_bias (B|1,N|1,S,T), past_key/past_value (B,N,P,H). Outputs: output (B,S,Dv),
/// present_key/present_value (B,N,P+L,H). Packed QKV/KV forms, buffer sharing
/// (past_sequence_length) and cache_indirection are not supported (ORT's CPU provider has none).
#[derive(Clone, Debug)]
pub struct MultiHeadAttention {
    pub num_heads: usize,
    pub scale: Option<f32>,
    pub unidirectional: bool,
    pub mask_filter_value: f32,
}

impl OpSpec for MultiHeadAttention {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let q = cx.input(0)?;
        let dt = expect_float(cx, 0)?;
        if q.rank() != 3 {
            return Err(format!("query must be 3-D (packed QKV is not supported), got rank {}", q.rank()));
        }
        let k = cx.input(1).map_err(|_| "packed QKV (no key input) is not supported".to_string())?;
        let v = cx.input(2).map_err(|_| "packed KV (no value input) is not supported".to_string())?;
        if k.rank() != v.rank() || !(k.rank() == 3 || k.rank() == 4) {
            return Err(format!("key and value must both be 3-D or 4-D, got ranks {} and {}", k.rank(), v.rank()));
        }
        for i in [1, 2, 3, 5, 6, 7] {
            if let Some(x) = cx.opt(i) {
                if x.dtype != dt {
                    return Err(format!("input {i} must be {dt}, got {}", x.dtype));
                }
            }
        }
        if cx.opt(8).is_some() || cx.opt(9).is_some() {
            return Err("past_sequence_length / cache_indirection are not supported".into());
        }
        if cx.n_outputs > 3 {
            return Err("the qk output is not supported".into());
        }
        let n = Dim::Known(self.num_heads);
        let (kv_len, hv_dims) =
            if k.rank() == 3 { (k.dims[1].clone(), v.dims[2].clone()) } else { (k.dims[2].clone(), n.mul(&v.dims[3])) };
        let h = match known(&q.dims[2]) {
            Some(d) if d % self.num_heads == 0 => Dim::Known(d / self.num_heads),
            Some(d) => return Err(format!("hidden size {d} does not split into {} heads", self.num_heads)),
            None => Dim::Unknown,
        };
        let hv = match known(&hv_dims) {
            Some(d) => Dim::Known(d / self.num_heads),
            None => Dim::Unknown,
        };
        let past = match (cx.opt(6), cx.opt(7)) {
            (Some(p), Some(_)) => {
                if p.rank() != 4 || k.rank() != 3 {
                    return Err("past_key/past_value must be 4-D and need 3-D key/value".into());
                }
                p.dims[2].clone()
            }
            (None, None) => Dim::Known(0),
            _ => return Err("past_key and past_value must be given together".into()),
        };
        let total = past.add(&kv_len);
        let (b, s) = (q.dims[0].clone(), q.dims[1].clone());
        let mut out = vec![
            vt(dt, vec![b.clone(), s, hv_dims]),
            vt(dt, vec![b.clone(), n.clone(), total.clone(), h]),
            vt(dt, vec![b, n, total, hv]),
        ];
        out.truncate(cx.n_outputs.max(1));
        Ok(out)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n_outputs: usize) -> Result<Vec<Tensor>, String> {
        let (qt, kt, vt_) = (need(inputs, 0)?, need(inputs, 1)?, need(inputs, 2)?);
        let n = self.num_heads;
        let [b, s, d] = *qt.shape() else {
            return Err(format!("query must be 3-D, got {:?}", qt.shape()));
        };
        if n == 0 || d % n != 0 {
            return Err(format!("hidden size {d} does not split into {n} heads"));
        }
        let hs = d / n;
        let bias = opt_in(inputs, 3).map(|t| t.to_f64_vec()).transpose()?;
        let mut qv = qt.to_f64_vec()?;
        if let Some(bv) = &bias {
            add_bias(&mut qv, bv, 0, d)?;
        }
        let q = heads_of(&qv, b, s, n, hs);
        let bnsh = kt.rank() == 4;
        let (k_new, v_new) = if bnsh {
            if vt_.rank() != 4 {
                return Err("a 4-D key needs a 4-D value".into());
            }
            (Heads::new(kt, Some(n), "key")?, Heads::new(vt_, Some(n), "value")?)
        } else {
            let ([kb, l, kd], [vb, vl, dv]) = (
                <[usize; 3]>::try_from(kt.shape()).map_err(|_| "key must be 3-D or 4-D")?,
                <[usize; 3]>::try_from(vt_.shape()).map_err(|_| "value must be 3-D like the key")?,
            );
            if kb != b || vb != b || vl != l || kd != d || dv % n != 0 {
                return Err(format!(
                    "key {:?} / value {:?} do not match query {:?}",
                    kt.shape(),
                    vt_.shape(),
                    [b, s, d]
                ));
            }
            let (mut kv, mut vv) = (kt.to_f64_vec()?, vt_.to_f64_vec()?);
            if let Some(bv) = &bias {
                add_bias(&mut kv, bv, d, d)?;
                add_bias(&mut vv, bv, 2 * d, dv)?;
            }
            (heads_of(&kv, b, l, n, hs), heads_of(&vv, b, l, n, dv / n))
        };
        if k_new.b != b || k_new.d != hs || v_new.s != k_new.s {
            return Err("key/value do not match the query's batch or head size".into());
        }
        let (pk, pv) = match (opt_in(inputs, 6), opt_in(inputs, 7)) {
            (Some(a), Some(c)) => {
                if bnsh {
                    return Err("past_key/past_value need 3-D key/value".into());
                }
                (Some(Heads::new(a, Some(n), "past_key")?), Some(Heads::new(c, Some(n), "past_value")?))
            }
            (None, None) => (None, None),
            _ => return Err("past_key and past_value must be given together".into()),
        };
        let past = pk.as_ref().map_or(0, |p| p.s);
        let k = concat_seq(pk.as_ref(), &k_new, "key")?;
        let v = concat_seq(pv.as_ref(), &v_new, "value")?;
        let t = k.s;
        let mask = ort_mask(opt_in(inputs, 4), b, s, past, t, self.mask_filter_value as f64, self.unidirectional)?;
        let ab = opt_in(inputs, 5).map(|x| attention_bias(x, b, n, s, t)).transpose()?;
        let scale = self.scale.map_or(1.0 / (hs as f64).sqrt(), |x| x as f64);
        let dt = qt.dtype();
        let y = attend(&q, &k, &v, (scale, 0.0, dt), mask_plus_bias(&mask, &ab, s, t))?;
        let mut out = vec![Tensor::from_f64(dt, &[b, s, n * v.d], &y)?];
        if n_outputs > 1 {
            out.push(Tensor::from_f64(dt, &[b, n, t, k.d], &k.data)?);
        }
        if n_outputs > 2 {
            out.push(Tensor::from_f64(dt, &[b, n, t, v.d], &v.data)?);
        }
        Ok(out)
    }
}

pub fn import_multi_head_attention(c: &NodeCtx) -> Result<Op, String> {
    let heads = c.attrs.opt_int("num_heads")?.ok_or("MultiHeadAttention needs 'num_heads'")?;
    if heads < 1 {
        return Err(format!("num_heads must be ≥ 1, got {heads}"));
    }
    Ok(Op::MultiHeadAttention(MultiHeadAttention {
        num_heads: heads as usize,
        scale: c.attrs.opt_float("scale")?.filter(|&s| s != 0.0),
        unidirectional: c.attrs.int("unidirectional", 0)? != 0,
        mask_filter_value: c.attrs.float("mask_filter_value", -10000.0)?,
    }))
}

// ---- RotaryEmbedding (contrib) ----------------------------------------------------------------

/// Rotates head vectors in place. `x` is laid out by `at(b, s, h, c)`; `pos(b, s)` gives the
/// cache row; caches are [rows, rot/2]. Pairs are (c, c + rot/2) or, interleaved, (2c, 2c + 1).
#[allow(clippy::too_many_arguments)]
pub(crate) fn rotate(
    x: &mut [f64],
    dims: [usize; 4],
    at: impl Fn(usize, usize, usize, usize) -> usize,
    pos: impl Fn(usize, usize) -> i64,
    cos: &[f64],
    sin: &[f64],
    rot: usize,
    interleaved: bool,
) -> Result<(), String> {
    let [b_n, s_n, h_n, d] = dims;
    let half = rot / 2;
    if rot > d || rot % 2 != 0 || half == 0 {
        return Err(format!("rotary dimension {rot} must be even, positive and at most the head size {d}"));
    }
    let rows = cos.len() / half;
    for b in 0..b_n {
        for s in 0..s_n {
            let p = pos(b, s);
            if p < 0 || p as usize >= rows {
                return Err(format!("position id {p} is out of range for {rows} cached positions"));
            }
            let r = p as usize * half;
            for h in 0..h_n {
                for c in 0..half {
                    let (co, si) = (cos[r + c], sin[r + c]);
                    let (i1, i2) = if interleaved { (2 * c, 2 * c + 1) } else { (c, c + half) };
                    let (a1, a2) = (at(b, s, h, i1), at(b, s, h, i2));
                    let (x1, x2) = (x[a1], x[a2]);
                    x[a1] = co * x1 - si * x2;
                    x[a2] = si * x1 + co * x2;
                }
            }
        }
    }
    Ok(())
}

/// com.microsoft RotaryEmbedding: input (B,S,N·H) or (B,N,S,H), position_ids (B,S) or a
/// 1-element offset (position = offset + s), caches (max_positions, rot/2). The first
/// `rotary_embedding_dim` (default: the head size) entries of each head rotate.
#[derive(Clone, Debug)]
pub struct ContribRotary {
    pub interleaved: bool,
    pub num_heads: usize,
    pub rotary_dim: usize,
}

impl ContribRotary {
    /// (batch, seq, heads, head size, rotary dim, heads-first layout) of an input shape.
    pub fn geometry(&self, x: &[usize], cache: &[usize]) -> Result<(usize, usize, usize, usize, usize, bool), String> {
        let half = match *cache {
            [_, h] => h,
            _ => return Err(format!("cos/sin caches must be 2-D, got {cache:?}")),
        };
        let rot = if self.rotary_dim > 0 { self.rotary_dim } else { 2 * half };
        if rot != 2 * half {
            return Err(format!("caches of width {half} do not fit rotary dimension {rot}"));
        }
        let (b, s, n, h, first) = match *x {
            [b, n, s, h] => (b, s, n, h, true),
            [b, s, hidden] => {
                let n = if self.num_heads > 0 {
                    self.num_heads
                } else if self.rotary_dim == 0 && rot > 0 && hidden % rot == 0 {
                    hidden / rot
                } else {
                    return Err("a 3-D input needs num_heads (or caches as wide as the head)".into());
                };
                if n == 0 || hidden % n != 0 {
                    return Err(format!("hidden size {hidden} does not split into {n} heads"));
                }
                (b, s, n, hidden / n, false)
            }
            _ => return Err(format!("input must be 3-D or 4-D, got {x:?}")),
        };
        if rot > h || rot == 0 {
            return Err(format!("rotary dimension {rot} must be positive and at most the head size {h}"));
        }
        Ok((b, s, n, h, rot, first))
    }
}

impl OpSpec for ContribRotary {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let dt = expect_float(cx, 0)?;
        let p = cx.input(1)?;
        if !p.dtype.is_int() || !(p.rank() == 1 || p.rank() == 2) {
            return Err("position_ids must be a 1-D or 2-D integer tensor".into());
        }
        for i in [2, 3] {
            let c = cx.input(i)?;
            if c.dtype != dt || c.rank() != 2 {
                return Err(format!("cos/sin caches must be 2-D {dt}"));
            }
        }
        if x.rank() != 3 && x.rank() != 4 {
            return Err(format!("input must be 3-D or 4-D, got rank {}", x.rank()));
        }
        Ok(vec![vt(dt, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (xt, pt, ct, st) = (need(inputs, 0)?, need(inputs, 1)?, need(inputs, 2)?, need(inputs, 3)?);
        if ct.shape() != st.shape() {
            return Err("cos_cache and sin_cache must have one shape".into());
        }
        let (b, s, n, h, rot, first) = self.geometry(xt.shape(), ct.shape())?;
        let pos = pt.to_i64_vec()?;
        let offset = match pt.shape() {
            [1] => true,
            sh if sh == [b, s] => false,
            sh => return Err(format!("position_ids must be [1] or [{b}, {s}], got {sh:?}")),
        };
        let mut y = xt.to_f64_vec()?;
        let at = |bi: usize, si: usize, hi: usize, c: usize| {
            if first {
                ((bi * n + hi) * s + si) * h + c
            } else {
                ((bi * s + si) * n + hi) * h + c
            }
        };
        let posf = |bi: usize, si: usize| if offset { pos[0] + si as i64 } else { pos[bi * s + si] };
        rotate(&mut y, [b, s, n, h], at, posf, &ct.to_f64_vec()?, &st.to_f64_vec()?, rot, self.interleaved)?;
        Ok(vec![Tensor::from_f64(xt.dtype(), xt.shape(), &y)?])
    }
}

pub fn import_contrib_rotary(c: &NodeCtx) -> Result<Op, String> {
    let n = c.attrs.int("num_heads", 0)?;
    let rd = c.attrs.int("rotary_embedding_dim", 0)?;
    if n < 0 || rd < 0 {
        return Err(format!("num_heads ({n}) and rotary_embedding_dim ({rd}) must be ≥ 0"));
    }
    if rd > 0 && n == 0 {
        return Err("rotary_embedding_dim needs num_heads".into());
    }
    if c.attrs.int("is_packed_batching", 0)? != 0 {
        return Err("RotaryEmbedding with is_packed_batching is not supported".into());
    }
    if c.attrs.float("scale", 1.0)? != 1.0 {
        return Err("RotaryEmbedding with a scale other than 1 is not supported".into());
    }
    Ok(Op::ContribRotaryEmbedding(ContribRotary {
        interleaved: c.attrs.int("interleaved", 0)? != 0,
        num_heads: n as usize,
        rotary_dim: rd as usize,
    }))
}

// ---- GroupQueryAttention ----------------------------------------------------------------------

/// com.microsoft GroupQueryAttention. Inputs: query (B,S,N·H) or packed QKV (B,S,(N+2·Nkv)·H),
/// key/value (B,S,Nkv·H), past_key/past_value (B,Nkv,P,H), seqlens_k (B, int32: total length
/// − 1 per batch entry), total_sequence_length (scalar int32), cos/sin caches (rows, H/2 or
/// rot/2), position_ids (B,S), attention_bias (B|1,N|1,S,T). Outputs: output (B,S,N·H),
/// present_key/present_value (B,Nkv,max(P, total),H) with entry b's new keys at its past length
/// `seqlens_k[b] + 1 − S` (0 for the first prompt, when S equals total_sequence_length).
/// Rotary positions are `position_ids[b, s]` (on the first prompt `position_ids[0] + s`, as
/// ORT reads only the first entry there), else the past length + s.
#[derive(Clone, Debug)]
pub struct GroupQueryAttention {
    pub num_heads: usize,
    pub kv_num_heads: usize,
    pub scale: Option<f32>,
    pub softcap: f32,
    /// How many positions (the query's own included) a query sees; −1 = unbounded.
    pub local_window: i64,
    pub causal: bool,
    pub do_rotary: bool,
    pub rotary_interleaved: bool,
}

/// The geometry of one GroupQueryAttention call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GqaDims {
    pub batch: usize,
    pub seq: usize,
    pub head: usize,
    pub packed: bool,
    /// Sequence length of the past buffers (0 without).
    pub past: usize,
    /// Sequence length of the present buffers.
    pub present: usize,
}

impl GroupQueryAttention {
    /// Geometry from the input shapes and the total_sequence_length value.
    pub fn dims(
        &self,
        q: &[usize],
        k: Option<&[usize]>,
        past: Option<&[usize]>,
        total: usize,
    ) -> Result<GqaDims, String> {
        let [b, s, d] = *q else {
            return Err(format!("query must be 3-D, got {q:?}"));
        };
        let (n, kvn) = (self.num_heads, self.kv_num_heads);
        let (head, packed) = match k {
            None => {
                if d % (n + 2 * kvn) != 0 {
                    return Err(format!("packed QKV width {d} does not split into {n} + 2·{kvn} heads"));
                }
                (d / (n + 2 * kvn), true)
            }
            Some(ks) => {
                if d % n != 0 {
                    return Err(format!("query hidden size {d} does not split into {n} heads"));
                }
                let h = d / n;
                if ks != [b, s, kvn * h] {
                    return Err(format!("key/value must be [{b}, {s}, {}], got {ks:?}", kvn * h));
                }
                (h, false)
            }
        };
        if head == 0 {
            return Err("the head size is 0".into());
        }
        let p = match past {
            None => 0,
            Some(&[pb, pn, p, ph]) if pb == b && pn == kvn && ph == head => p,
            Some(ps) => return Err(format!("past_key/past_value must be [{b}, {kvn}, P, {head}], got {ps:?}")),
        };
        if total < s {
            return Err(format!("total_sequence_length {total} is less than the sequence length {s}"));
        }
        Ok(GqaDims { batch: b, seq: s, head, packed, past: p, present: p.max(total) })
    }

    /// The past length of each batch entry from seqlens_k.
    pub fn past_lens(&self, d: &GqaDims, seqlens: &[i64], total: usize) -> Result<Vec<usize>, String> {
        if seqlens.len() != d.batch {
            return Err(format!("seqlens_k has {} entries for batch {}", seqlens.len(), d.batch));
        }
        let first_prompt = d.seq == total;
        seqlens
            .iter()
            .map(|&sl| {
                let tot = sl + 1;
                if tot < 1 || tot as usize > d.present {
                    return Err(format!("seqlens_k entry {sl} is out of range for {} cache positions", d.present));
                }
                let past = if first_prompt { 0 } else { tot - d.seq as i64 };
                if past < 0 || past as usize > d.past || past as usize + d.seq > d.present {
                    return Err(format!(
                        "seqlens_k entry {sl} does not fit past length {} and {} new tokens",
                        d.past, d.seq
                    ));
                }
                Ok(past as usize)
            })
            .collect()
    }
}

fn scalar_usize(t: &Tensor, what: &str) -> Result<usize, String> {
    let v = t.to_i64_vec()?;
    match v[..] {
        [x] if x >= 0 => Ok(x as usize),
        _ => Err(format!("{what} must be one nonnegative integer, got {v:?}")),
    }
}

impl OpSpec for GroupQueryAttention {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let q = cx.input(0)?;
        let dt = expect_float(cx, 0)?;
        if q.rank() != 3 {
            return Err(format!("query must be 3-D, got rank {}", q.rank()));
        }
        if (11..=16).any(|i| cx.opt(i).is_some()) {
            return Err(
                "head_sink, KV-cache quantization scales, Q/K norm weights and query_seqlens are not supported".into(),
            );
        }
        if cx.opt(1).is_some() != cx.opt(2).is_some() || cx.opt(3).is_some() != cx.opt(4).is_some() {
            return Err("key/value and past_key/past_value must each be given together".into());
        }
        for i in [1, 2, 3, 4, 7, 8, 10] {
            if let Some(x) = cx.opt(i) {
                if x.dtype != dt {
                    return Err(format!("input {i} must be {dt}, got {}", x.dtype));
                }
            }
        }
        cx.input(5)?;
        cx.input(6)?;
        if self.do_rotary && (cx.opt(7).is_none() || cx.opt(8).is_none()) {
            return Err("do_rotary needs cos_cache and sin_cache".into());
        }
        let (n, kvn) = (self.num_heads, self.kv_num_heads);
        let head = match (known(&q.dims[2]), cx.opt(1)) {
            (Some(d), None) if d % (n + 2 * kvn) == 0 => Dim::Known(d / (n + 2 * kvn)),
            (Some(d), Some(_)) if d % n == 0 => Dim::Known(d / n),
            (Some(d), _) => return Err(format!("query width {d} does not split into the heads")),
            (None, _) => Dim::Unknown,
        };
        let past = cx.opt(3).map(|p| p.dims[2].clone()).unwrap_or(Dim::Known(0));
        let present = match (past.known(), cx.value(6)) {
            (Some(p), Some(t)) => Dim::Known(p.max(scalar_usize(t, "total_sequence_length")?)),
            _ => Dim::Unknown,
        };
        let (b, s) = (q.dims[0].clone(), q.dims[1].clone());
        let kv = vec![b.clone(), Dim::Known(kvn), present, head.clone()];
        let mut out = vec![vt(dt, vec![b, s, head.mul(&Dim::Known(n))]), vt(dt, kv.clone()), vt(dt, kv)];
        if cx.n_outputs > 3 {
            return Err("the output_qk output is not supported".into());
        }
        out.truncate(cx.n_outputs.max(1));
        Ok(out)
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[6]
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n_outputs: usize) -> Result<Vec<Tensor>, String> {
        let qt = need(inputs, 0)?;
        let (kt, vt_) = (opt_in(inputs, 1), opt_in(inputs, 2));
        if kt.is_some() != vt_.is_some() {
            return Err("key and value must be given together".into());
        }
        let (pk, pv) = (opt_in(inputs, 3), opt_in(inputs, 4));
        if pk.is_some() != pv.is_some() {
            return Err("past_key and past_value must be given together".into());
        }
        if let (Some(a), Some(c)) = (pk, pv) {
            if a.shape() != c.shape() {
                return Err("past_key and past_value shapes differ".into());
            }
        }
        if let (Some(a), Some(c)) = (kt, vt_) {
            if a.shape() != c.shape() {
                return Err("key and value shapes differ".into());
            }
        }
        let total = scalar_usize(need(inputs, 6)?, "total_sequence_length")?;
        let d = self.dims(qt.shape(), kt.map(|t| t.shape()), pk.map(|t| t.shape()), total)?;
        let (b, s, h) = (d.batch, d.seq, d.head);
        let (n, kvn) = (self.num_heads, self.kv_num_heads);
        let seqlens = need(inputs, 5)?.to_i64_vec()?;
        let past = self.past_lens(&d, &seqlens, total)?;
        // Q, new K, new V as [b, s, heads·h].
        let qv = qt.to_f64_vec()?;
        let (mut qd, mut kd, vd) = match (kt, vt_) {
            (Some(k), Some(v)) => (qv, k.to_f64_vec()?, v.to_f64_vec()?),
            _ => {
                let w = (n + 2 * kvn) * h;
                let (mut q, mut k, mut v) = (Vec::new(), Vec::new(), Vec::new());
                for row in qv.chunks(w) {
                    q.extend_from_slice(&row[..n * h]);
                    k.extend_from_slice(&row[n * h..(n + kvn) * h]);
                    v.extend_from_slice(&row[(n + kvn) * h..]);
                }
                (q, k, v)
            }
        };
        if self.do_rotary {
            let (ct, st) = (need(inputs, 7)?, need(inputs, 8)?);
            if ct.shape() != st.shape() || ct.rank() != 2 {
                return Err("cos_cache and sin_cache must be 2-D with one shape".into());
            }
            let rot = 2 * ct.shape()[1];
            let pos_ids = opt_in(inputs, 9).map(|p| p.to_i64_vec()).transpose()?;
            if pos_ids.as_ref().is_some_and(|p| p.len() != b * s) {
                return Err(format!("position_ids must have {} entries", b * s));
            }
            // Given position ids count from their first entry on the first prompt.
            let first_prompt = s == total;
            let pos = |bi: usize, si: usize| match &pos_ids {
                Some(p) if first_prompt => p[0] + si as i64,
                Some(p) => p[bi * s + si],
                None => (past[bi] + si) as i64,
            };
            let (cos, sin) = (ct.to_f64_vec()?, st.to_f64_vec()?);
            for (data, heads) in [(&mut qd, n), (&mut kd, kvn)] {
                let at = |bi: usize, si: usize, hi: usize, c: usize| ((bi * s + si) * heads + hi) * h + c;
                rotate(data, [b, s, heads, h], at, pos, &cos, &sin, rot, self.rotary_interleaved)?;
            }
        }
        let q = heads_of(&qd, b, s, n, h);
        // Present caches: entry b's past rows, then its new rows at its past length.
        let lp = d.present;
        let mut present = [vec![0.0; b * kvn * lp * h], vec![0.0; b * kvn * lp * h]];
        for (pi, (cur, pst)) in [(&kd, pk), (&vd, pv)].into_iter().enumerate() {
            let pdata = pst.map(|t| t.to_f64_vec()).transpose()?;
            let dst = &mut present[pi];
            for bi in 0..b {
                for hi in 0..kvn {
                    let base = (bi * kvn + hi) * lp;
                    if let Some(pd) = &pdata {
                        let src = (bi * kvn + hi) * d.past * h;
                        dst[base * h..(base + past[bi]) * h].copy_from_slice(&pd[src..src + past[bi] * h]);
                    }
                    for si in 0..s {
                        let src = ((bi * s + si) * kvn + hi) * h;
                        let o = (base + past[bi] + si) * h;
                        dst[o..o + h].copy_from_slice(&cur[src..src + h]);
                    }
                }
            }
        }
        let [pkd, pvd] = present;
        let k = Heads { data: pkd, b, h: kvn, s: lp, d: h };
        let v = Heads { data: pvd, b, h: kvn, s: lp, d: h };
        let ab = opt_in(inputs, 10).map(|x| attention_bias(x, b, n, s, total)).transpose()?;
        let scale = self.scale.map_or(1.0 / (h as f64).sqrt(), |x| x as f64);
        let y = attend(&q, &k, &v, (scale, self.softcap as f64, qt.dtype()), |bi, hi, i, j| {
            let limit = if self.causal { past[bi] + i + 1 } else { (seqlens[bi] + 1) as usize };
            // The local window holds the query's own position and the `local_window_size − 1`
            // before it.
            if j >= limit || (self.local_window >= 0 && (past[bi] + i) as i64 - j as i64 >= self.local_window) {
                return None;
            }
            Some(
                ab.as_ref()
                    .map_or(0.0, |(a, bs, hs)| if j < total { a[bi * bs + hi * hs + i * total + j] } else { 0.0 }),
            )
        })?;
        let dt = qt.dtype();
        let mut out = vec![Tensor::from_f64(dt, &[b, s, n * h], &y)?];
        if n_outputs > 1 {
            out.push(Tensor::from_f64(dt, &[b, kvn, lp, h], &k.data)?);
        }
        if n_outputs > 2 {
            out.push(Tensor::from_f64(dt, &[b, kvn, lp, h], &v.data)?);
        }
        Ok(out)
    }
}

pub fn import_group_query_attention(c: &NodeCtx) -> Result<Op, String> {
    let n = c.attrs.opt_int("num_heads")?.ok_or("GroupQueryAttention needs 'num_heads'")?;
    let kvn = c.attrs.opt_int("kv_num_heads")?.ok_or("GroupQueryAttention needs 'kv_num_heads'")?;
    if n < 1 || kvn < 1 || n % kvn != 0 {
        return Err(format!("num_heads ({n}) must be a positive multiple of kv_num_heads ({kvn})"));
    }
    for (a, d) in [("smooth_softmax", 0), ("qk_output", 0), ("sliding_window_cache", 0)] {
        if c.attrs.int(a, d)? != d {
            return Err(format!("GroupQueryAttention with '{a}' is not supported"));
        }
    }
    for a in ["k_quant_type", "v_quant_type"] {
        if c.attrs.string(a, "NONE")? != "NONE" {
            return Err(format!("GroupQueryAttention with a quantized KV cache ('{a}') is not supported"));
        }
    }
    let causal = c.attrs.int("causal", 1)?;
    if !(0..=1).contains(&causal) {
        return Err(format!("causal must be 0 or 1, got {causal}"));
    }
    let w = c.attrs.int("local_window_size", -1)?;
    if w < -1 {
        return Err(format!("local_window_size must be -1 or nonnegative, got {w}"));
    }
    Ok(Op::GroupQueryAttention(GroupQueryAttention {
        num_heads: n as usize,
        kv_num_heads: kvn as usize,
        scale: c.attrs.opt_float("scale")?.filter(|&s| s != 0.0),
        softcap: c.attrs.float("softcap", 0.0)?,
        local_window: w,
        causal: causal != 0,
        do_rotary: c.attrs.int("do_rotary", 0)? != 0,
        rotary_interleaved: c.attrs.int("rotary_interleaved", 0)? != 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ort_mask_formats() {
        // 1-D end positions with a past of 1 (total 3), one query.
        let m = Tensor::from_i64(DType::I32, &[2], &[3, 1]).unwrap();
        let am = ort_mask(Some(&m), 2, 1, 1, 3, -5.0, false).unwrap();
        assert_eq!(am, vec![0.0, 0.0, 0.0, 0.0, -5.0, -5.0]);
        // Causal: query 0 at position past=1 sees keys 0 and 1.
        let am = ort_mask(None, 1, 2, 1, 3, -5.0, true).unwrap();
        assert_eq!(am, vec![0.0, 0.0, CAUSAL_FILL, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn rotary_geometry() {
        let r = ContribRotary { interleaved: false, num_heads: 0, rotary_dim: 0 };
        assert_eq!(r.geometry(&[2, 3, 16], &[10, 4]).unwrap(), (2, 3, 2, 8, 8, false));
        assert_eq!(r.geometry(&[2, 2, 3, 8], &[10, 4]).unwrap(), (2, 3, 2, 8, 8, true));
        assert!(r.geometry(&[2, 3, 0], &[10, 4]).is_err());
        assert!(r.geometry(&[2, 3, 12], &[10, 4]).is_err());
    }

    #[test]
    fn gqa_past_lengths() {
        let g = GroupQueryAttention {
            num_heads: 4,
            kv_num_heads: 2,
            scale: None,
            softcap: 0.0,
            local_window: -1,
            causal: true,
            do_rotary: false,
            rotary_interleaved: false,
        };
        let d = g.dims(&[2, 1, 32], Some(&[2, 1, 16]), Some(&[2, 2, 3, 8]), 4).unwrap();
        assert_eq!((d.head, d.past, d.present), (8, 3, 4));
        assert_eq!(g.past_lens(&d, &[3, 2], 4).unwrap(), vec![3, 2]);
        assert!(g.past_lens(&d, &[4, 2], 4).is_err());
    }
}
