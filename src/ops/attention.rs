//! Attention family (ai.onnx): Attention (opsets 23–25), RotaryEmbedding (23) and
//! LinearAttention (27).
//!
//! Attention follows the spec's function body: Q and K are each scaled by `sqrt(scale)`
//! (rounded to the input type), `QKᵀ` is soft-capped, the additive bias (attention mask,
//! bottom-right causal mask, sliding window, `nonpad_kv_seqlen` padding) is added, the softmax
//! is taken over the keys, and the probabilities multiply V. Rows whose bias is entirely `−∞`
//! (no attendable key) give zero probabilities and a zero output row. GQA/MQA repeat each KV
//! head over `q_num_heads / kv_num_heads` consecutive query heads. Values are computed in f64
//! and rounded to the input type where the function body casts.

use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::strides;
use crate::tensor::{DType, Dim, Tensor};
use half::{bf16, f16};

/// Rounds `x` to the precision of `dtype` (f32/f16/bf16; f64 unchanged).
pub(crate) fn round_to(dtype: DType, x: f64) -> f64 {
    match dtype {
        DType::F32 => x as f32 as f64,
        DType::F16 => f16::from_f64(x).to_f64(),
        DType::BF16 => bf16::from_f64(x).to_f64(),
        _ => x,
    }
}

/// `d / n` when known and exact, else unknown.
fn div_dim(d: &Dim, n: usize) -> Dim {
    match d.known() {
        Some(v) if n > 0 && v % n == 0 => Dim::Known(v / n),
        _ => Dim::Unknown,
    }
}

fn check_eq(a: &Dim, b: &Dim, what: &str) -> Result<(), String> {
    if let (Some(x), Some(y)) = (a.known(), b.known()) {
        if x != y {
            return Err(format!("{what}: {x} vs {y}"));
        }
    }
    Ok(())
}

/// A [b, heads, seq, head_size] view of a 3-D `[b, seq, heads·head_size]` or 4-D tensor.
pub(crate) struct Heads {
    pub(crate) data: Vec<f64>,
    pub(crate) b: usize,
    pub(crate) h: usize,
    pub(crate) s: usize,
    pub(crate) d: usize,
}

impl Heads {
    pub(crate) fn new(t: &Tensor, heads: Option<usize>, what: &str) -> Result<Heads, String> {
        let data = t.to_f64_vec()?;
        match *t.shape() {
            [b, h, s, d] => {
                if heads.is_some_and(|n| n != h) {
                    return Err(format!("{what} has {h} heads, expected {}", heads.unwrap_or(0)));
                }
                Ok(Heads { data, b, h, s, d })
            }
            [b, s, hidden] => {
                let h = heads.ok_or_else(|| format!("3-D {what} needs its number of heads"))?;
                if h == 0 || hidden % h != 0 {
                    return Err(format!("{what} hidden size {hidden} does not split into {h} heads"));
                }
                let d = hidden / h;
                // Reorder to [b, h, s, d].
                let mut out = vec![0.0; data.len()];
                for bi in 0..b {
                    for si in 0..s {
                        for hi in 0..h {
                            let src = (bi * s + si) * hidden + hi * d;
                            let dst = ((bi * h + hi) * s + si) * d;
                            out[dst..dst + d].copy_from_slice(&data[src..src + d]);
                        }
                    }
                }
                Ok(Heads { data: out, b, h, s, d })
            }
            _ => Err(format!("{what} must be 3-D or 4-D, got shape {:?}", t.shape())),
        }
    }

    pub(crate) fn row(&self, b: usize, h: usize, s: usize) -> &[f64] {
        let o = ((b * self.h + h) * self.s + s) * self.d;
        &self.data[o..o + self.d]
    }
}

/// Concatenates `past` (4-D [b, h, p, d]) and `cur` along the sequence axis.
pub(crate) fn concat_seq(past: Option<&Heads>, cur: &Heads, what: &str) -> Result<Heads, String> {
    let Some(p) = past else {
        return Ok(Heads { data: cur.data.clone(), b: cur.b, h: cur.h, s: cur.s, d: cur.d });
    };
    if p.b != cur.b || p.h != cur.h || p.d != cur.d {
        return Err(format!(
            "past_{what} [{}, {}, _, {}] does not match {what} [{}, {}, _, {}]",
            p.b, p.h, p.d, cur.b, cur.h, cur.d
        ));
    }
    let s = p.s + cur.s;
    let mut data = Vec::with_capacity(cur.b * cur.h * s * cur.d);
    for b in 0..cur.b {
        for h in 0..cur.h {
            for i in 0..p.s {
                data.extend_from_slice(p.row(b, h, i));
            }
            for i in 0..cur.s {
                data.extend_from_slice(cur.row(b, h, i));
            }
        }
    }
    Ok(Heads { data, b: cur.b, h: cur.h, s, d: cur.d })
}

/// An attention mask as an additive bias (bool: true → 0, false → −∞).
struct Mask {
    vals: Vec<f64>,
    /// Strides of the (batch, head, query) axes (0 where broadcast).
    lead: [usize; 3],
    /// Key positions present; later ones are −∞.
    keys: usize,
}

impl Mask {
    fn new(m: &Tensor, full: [usize; 3], total: usize) -> Result<Mask, String> {
        let ms = m.shape();
        let r = ms.len();
        if r == 0 || r > 4 {
            return Err(format!("attn_mask must have rank 1 to 4, got {r}"));
        }
        let keys = ms[r - 1];
        if keys > total {
            return Err(format!("attn_mask has {keys} key positions, more than the {total} keys"));
        }
        let st = strides(ms);
        let mut lead = [0usize; 3];
        for k in 0..r - 1 {
            let a = 4 - r + k;
            if ms[k] != 1 {
                if ms[k] != full[a] {
                    return Err(format!("attn_mask shape {ms:?} does not broadcast onto {full:?} × keys"));
                }
                lead[a] = st[k];
            }
        }
        let vals = if m.dtype() == DType::Bool {
            m.as_bools()?.iter().map(|&a| if a { 0.0 } else { f64::NEG_INFINITY }).collect()
        } else {
            m.to_f64_vec()?
        };
        Ok(Mask { vals, lead, keys })
    }

    fn at(&self, b: usize, h: usize, i: usize, j: usize) -> f64 {
        if j < self.keys {
            self.vals[b * self.lead[0] + h * self.lead[1] + i * self.lead[2] + j]
        } else {
            f64::NEG_INFINITY
        }
    }
}

/// Attention (opsets 23, 24, 25).
#[derive(Clone, Debug)]
pub struct Attention {
    pub is_causal: bool,
    pub q_num_heads: Option<usize>,
    pub kv_num_heads: Option<usize>,
    pub qk_matmul_output_mode: i64,
    pub scale: Option<f32>,
    pub softcap: f32,
    pub softmax_precision: Option<DType>,
    /// −1 = unbounded.
    pub left_window: i64,
    pub right_window: i64,
}

impl OpSpec for Attention {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (q, k, v) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
        let dt = q.dtype;
        if !dt.is_float() {
            return Err(format!("Attention needs float Q, got {dt}"));
        }
        if k.dtype != dt || v.dtype != dt {
            return Err(format!("Q, K and V must share one dtype, got {dt}, {}, {}", k.dtype, v.dtype));
        }
        let rank = q.rank();
        if !(rank == 3 || rank == 4) || k.rank() != rank || v.rank() != rank {
            return Err(format!("Q, K and V must all be 3-D or all 4-D, got ranks {rank}, {}, {}", k.rank(), v.rank()));
        }
        if let Some(m) = cx.opt(3) {
            if m.dtype != DType::Bool && m.dtype != dt {
                return Err(format!("attn_mask must be bool or {dt}, got {}", m.dtype));
            }
            if m.rank() > 4 || m.rank() == 0 {
                return Err(format!("attn_mask must have rank 1 to 4, got {}", m.rank()));
            }
        }
        let (pk, pv) = (cx.opt(4), cx.opt(5));
        if pk.is_some() != pv.is_some() {
            return Err("past_key and past_value must be given together".into());
        }
        if let Some(n) = cx.opt(6) {
            if pk.is_some() {
                return Err("nonpad_kv_seqlen cannot be combined with past_key/past_value".into());
            }
            if n.dtype != DType::I64 || n.rank() != 1 {
                return Err("nonpad_kv_seqlen must be a 1-D int64 tensor".into());
            }
        }
        for p in [pk, pv].into_iter().flatten() {
            if p.rank() != 4 || p.dtype != dt {
                return Err(format!("past_key/past_value must be 4-D {dt} tensors"));
            }
        }
        // [b, heads, seq, size] of Q, K, V (symbolic).
        let (qb, qh, qs, qd, kh, ks, kd, vd) = if rank == 4 {
            check_eq(&k.dims[1], &v.dims[1], "K and V heads")?;
            check_eq(&k.dims[2], &v.dims[2], "K and V sequence lengths")?;
            check_eq(&q.dims[3], &k.dims[3], "Q and K head sizes")?;
            (
                q.dims[0].clone(),
                q.dims[1].clone(),
                q.dims[2].clone(),
                q.dims[3].clone(),
                k.dims[1].clone(),
                k.dims[2].clone(),
                k.dims[3].clone(),
                v.dims[3].clone(),
            )
        } else {
            let (Some(hq), Some(hkv)) = (self.q_num_heads, self.kv_num_heads) else {
                return Err("3-D Attention inputs need q_num_heads and kv_num_heads".into());
            };
            check_eq(&k.dims[1], &v.dims[1], "K and V sequence lengths")?;
            (
                q.dims[0].clone(),
                Dim::Known(hq),
                q.dims[1].clone(),
                div_dim(&q.dims[2], hq),
                Dim::Known(hkv),
                k.dims[1].clone(),
                div_dim(&k.dims[2], hkv),
                div_dim(&v.dims[2], hkv),
            )
        };
        check_eq(&qd, &kd, "Q and K head sizes")?;
        if let (Some(a), Some(b)) = (qh.known(), kh.known()) {
            if b == 0 || a % b != 0 {
                return Err(format!("{a} query heads are not a multiple of {b} key/value heads"));
            }
        }
        let past = pk.map(|p| p.dims[2].clone()).unwrap_or(Dim::Known(0));
        let total = past.add(&ks);
        let y = if rank == 4 {
            vec![qb.clone(), qh.clone(), qs.clone(), vd.clone()]
        } else {
            vec![qb.clone(), qs.clone(), qh.mul(&vd)]
        };
        if cx.n_outputs > 4 {
            return Err(format!("Attention has at most 4 outputs, got {}", cx.n_outputs));
        }
        let mut out = vec![
            vt(dt, y),
            vt(dt, vec![qb.clone(), kh.clone(), total.clone(), kd]),
            vt(dt, vec![qb.clone(), kh, total.clone(), vd]),
            vt(dt, vec![qb, qh, qs, total]),
        ];
        out.truncate(cx.n_outputs.max(1));
        Ok(out)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n_outputs: usize) -> Result<Vec<Tensor>, String> {
        let (qt, kt, vt_) = (need(inputs, 0)?, need(inputs, 1)?, need(inputs, 2)?);
        let dt = qt.dtype();
        let opt = |i: usize| inputs.get(i).copied().flatten();
        let rank = qt.rank();
        if kt.rank() != rank || vt_.rank() != rank {
            return Err("Q, K and V must have one rank".into());
        }
        let (hq, hkv) = if rank == 3 { (self.q_num_heads, self.kv_num_heads) } else { (None, None) };
        let q = Heads::new(qt, hq, "Q")?;
        let k_new = Heads::new(kt, hkv, "K")?;
        let v_new = Heads::new(vt_, hkv, "V")?;
        if k_new.b != q.b || v_new.b != q.b || k_new.h != v_new.h || k_new.s != v_new.s {
            return Err("Q, K and V disagree on batch, heads or sequence length".into());
        }
        if q.d != k_new.d {
            return Err(format!("Q head size {} differs from K head size {}", q.d, k_new.d));
        }
        if k_new.h == 0 || q.h % k_new.h != 0 {
            return Err(format!("{} query heads are not a multiple of {} key/value heads", q.h, k_new.h));
        }
        let (pk, pv) = (opt(4), opt(5));
        if pk.is_some() != pv.is_some() {
            return Err("past_key and past_value must be given together".into());
        }
        let pk = pk.map(|t| Heads::new(t, None, "past_key")).transpose()?;
        let pv = pv.map(|t| Heads::new(t, None, "past_value")).transpose()?;
        let past_len = pk.as_ref().map_or(0, |p| p.s);
        let k = concat_seq(pk.as_ref(), &k_new, "key")?;
        let v = concat_seq(pv.as_ref(), &v_new, "value")?;
        if k.s != v.s || k.b != v.b || k.h != v.h {
            return Err("the key and value caches disagree in shape".into());
        }
        let (b_n, sq, t_n) = (q.b, q.s, k.s);
        let reps = q.h / k.h;

        let nonpad = match opt(6) {
            Some(t) => {
                if pk.is_some() {
                    return Err("nonpad_kv_seqlen cannot be combined with past_key/past_value".into());
                }
                let n = t.to_i64_vec()?;
                if n.len() != b_n {
                    return Err(format!("nonpad_kv_seqlen has {} entries for batch {b_n}", n.len()));
                }
                Some(n)
            }
            None => None,
        };

        // The additive mask: leading dims broadcast (right-aligned) onto [b, hq, sq], the key
        // axis padded with −∞ up to the total length.
        let mask = match opt(3) {
            Some(m) => Some(Mask::new(m, [b_n, q.h, sq], t_n)?),
            None => None,
        };

        let scale = match self.scale {
            Some(s) => s as f64,
            None => 1.0 / (q.d as f64).sqrt(),
        };
        let sq_scale = round_to(dt, scale.sqrt());
        let qs: Vec<f64> = q.data.iter().map(|&x| round_to(dt, x * sq_scale)).collect();
        let ks: Vec<f64> = k.data.iter().map(|&x| round_to(dt, x * sq_scale)).collect();
        let softcap = self.softcap as f64;
        let sm_dt = self.softmax_precision.unwrap_or(dt);

        let dv = v.d;
        let mut y = vec![0.0; b_n * q.h * sq * dv];
        let mut qk_out = vec![0.0; b_n * q.h * sq * t_n];
        let mut logits = vec![0.0; t_n];
        let mut bias = vec![0.0; t_n];
        for b in 0..b_n {
            // The causal / window frontier offset for this batch entry.
            let offset: i64 = match (&nonpad, past_len) {
                (Some(n), _) => n[b] - sq as i64,
                (None, p) => p as i64,
            };
            for h in 0..q.h {
                let kvh = h / reps;
                for i in 0..sq {
                    let qo = ((b * q.h + h) * sq + i) * q.d;
                    let qrow = &qs[qo..qo + q.d];
                    for j in 0..t_n {
                        let ko = ((b * k.h + kvh) * t_n + j) * k.d;
                        let dot: f64 = qrow.iter().zip(&ks[ko..ko + k.d]).map(|(a, c)| a * c).sum();
                        let mut x = round_to(dt, dot);
                        let raw = x;
                        if softcap > 0.0 {
                            x = round_to(dt, softcap * (x / softcap).tanh());
                        }
                        // Bias.
                        let mut bj = mask.as_ref().map_or(0.0, |m| m.at(b, h, i, j));
                        let diff = i as i64 + offset - j as i64;
                        if self.is_causal && diff < 0 {
                            bj = f64::NEG_INFINITY;
                        }
                        if self.left_window >= 0 && diff > self.left_window {
                            bj = f64::NEG_INFINITY;
                        }
                        if self.right_window >= 0 && -diff > self.right_window {
                            bj = f64::NEG_INFINITY;
                        }
                        if let Some(n) = &nonpad {
                            if j as i64 >= n[b] {
                                bj = f64::NEG_INFINITY;
                            }
                        }
                        bias[j] = bj;
                        let with_bias = round_to(dt, x + bj);
                        let o = ((b * q.h + h) * sq + i) * t_n + j;
                        qk_out[o] = match self.qk_matmul_output_mode {
                            0 => raw,
                            1 => x,
                            _ => with_bias,
                        };
                        logits[j] = round_to(sm_dt, with_bias);
                    }
                    // Softmax over the keys, with the fully-masked-row guard.
                    let row_masked = bias.iter().all(|&x| x == f64::NEG_INFINITY);
                    let mx = logits.iter().cloned().fold(f64::NEG_INFINITY, |a, x| {
                        if x.is_nan() || a.is_nan() {
                            f64::NAN
                        } else {
                            a.max(x)
                        }
                    });
                    let probs: Vec<f64> = if row_masked || mx == f64::NEG_INFINITY {
                        vec![0.0; t_n]
                    } else {
                        let e: Vec<f64> = logits.iter().map(|&x| (x - mx).exp()).collect();
                        let s: f64 = e.iter().sum();
                        e.iter().map(|&x| round_to(dt, round_to(sm_dt, x / s))).collect()
                    };
                    let o = ((b * q.h + h) * sq + i) * t_n;
                    if self.qk_matmul_output_mode == 3 {
                        qk_out[o..o + t_n].copy_from_slice(&probs);
                    }
                    for c in 0..dv {
                        let mut acc = 0.0;
                        for (j, p) in probs.iter().enumerate() {
                            acc += p * v.data[((b * v.h + kvh) * t_n + j) * dv + c];
                        }
                        y[((b * q.h + h) * sq + i) * dv + c] = acc;
                    }
                }
            }
        }
        let y_t = if rank == 4 {
            Tensor::from_f64(dt, &[b_n, q.h, sq, dv], &y)?
        } else {
            // [b, h, s, dv] -> [b, s, h·dv]
            let mut r = vec![0.0; y.len()];
            for b in 0..b_n {
                for h in 0..q.h {
                    for i in 0..sq {
                        let src = ((b * q.h + h) * sq + i) * dv;
                        let dst = (b * sq + i) * q.h * dv + h * dv;
                        r[dst..dst + dv].copy_from_slice(&y[src..src + dv]);
                    }
                }
            }
            Tensor::from_f64(dt, &[b_n, sq, q.h * dv], &r)?
        };
        let mut out = vec![y_t];
        if n_outputs > 1 {
            out.push(Tensor::from_f64(dt, &[b_n, k.h, t_n, k.d], &k.data)?);
            out.push(Tensor::from_f64(dt, &[b_n, v.h, t_n, v.d], &v.data)?);
            out.push(Tensor::from_f64(dt, &[b_n, q.h, sq, t_n], &qk_out)?);
            out.truncate(n_outputs);
        }
        Ok(out)
    }
}

pub fn import_attention(c: &NodeCtx) -> Result<Op, String> {
    let heads = |name: &str| -> Result<Option<usize>, String> {
        match c.attrs.opt_int(name)? {
            None => Ok(None),
            Some(h) if h > 0 => Ok(Some(h as usize)),
            Some(h) => Err(format!("{name} must be positive, got {h}")),
        }
    };
    let mode = c.attrs.int("qk_matmul_output_mode", 0)?;
    if !(0..=3).contains(&mode) {
        return Err(format!("qk_matmul_output_mode must be 0..3, got {mode}"));
    }
    let softmax_precision = match c.attrs.opt_int("softmax_precision")? {
        None => None,
        Some(code) => match DType::from_onnx(code as i32) {
            Some(d @ (DType::F32 | DType::F16 | DType::F64 | DType::BF16)) => Some(d),
            _ => return Err(format!("unsupported softmax_precision {code}")),
        },
    };
    let window = |name: &str| -> Result<i64, String> {
        if c.opset < 25 {
            return Ok(-1);
        }
        let w = c.attrs.int(name, -1)?;
        if w < -1 {
            return Err(format!("{name} must be -1 or nonnegative, got {w}"));
        }
        Ok(w)
    };
    Ok(Op::Attention(Attention {
        is_causal: c.attrs.int("is_causal", 0)? != 0,
        q_num_heads: heads("q_num_heads")?,
        kv_num_heads: heads("kv_num_heads")?,
        qk_matmul_output_mode: mode,
        scale: c.attrs.opt_float("scale")?,
        softcap: c.attrs.float("softcap", 0.0)?,
        softmax_precision,
        left_window: window("left_window_size")?,
        right_window: window("right_window_size")?,
    }))
}

// ---- RotaryEmbedding ----------------------------------------------------------------------

/// RotaryEmbedding (opset 23): rotates the first `rotary_embedding_dim` entries of each head
/// vector by position-dependent angles. X is [b, heads, seq, d] or [b, seq, heads·d]
/// (`num_heads` given); the caches are [positions, r/2] indexed by `position_ids` [b, seq], or
/// [b, seq, r/2] without them. Pairs are (x[c], x[c + r/2]) or, interleaved, (x[2c], x[2c+1]).
#[derive(Clone, Debug)]
pub struct RotaryEmbedding {
    pub interleaved: bool,
    /// 0 = the whole head.
    pub rotary_dim: usize,
    pub num_heads: Option<usize>,
}

impl OpSpec for RotaryEmbedding {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if !x.dtype.is_float() {
            return Err(format!("RotaryEmbedding needs a float input, got {}", x.dtype));
        }
        if x.rank() != 3 && x.rank() != 4 {
            return Err(format!("RotaryEmbedding input must be 3-D or 4-D, got rank {}", x.rank()));
        }
        if x.rank() == 3 && self.num_heads.is_none() {
            return Err("a 3-D RotaryEmbedding input needs num_heads".into());
        }
        let with_pos = cx.opt(3).is_some();
        for i in [1, 2] {
            let c = cx.input(i)?;
            if c.dtype != x.dtype {
                return Err(format!("cos/sin caches must be {}, got {}", x.dtype, c.dtype));
            }
            let want = if with_pos { 2 } else { 3 };
            if c.rank() != want {
                return Err(format!("cos/sin caches must be {want}-D here, got rank {}", c.rank()));
            }
        }
        if let Some(p) = cx.opt(3) {
            if !p.dtype.is_int() || p.rank() != 2 {
                return Err("position_ids must be a 2-D integer tensor".into());
            }
        }
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let xt = need(inputs, 0)?;
        let s = xt.shape().to_vec();
        // Element offset of (b, seq, head, c) and the sizes.
        let (b_n, seq, heads, d) = match s[..] {
            [b, h, sq, d] => (b, sq, h, d),
            [b, sq, hidden] => {
                let h = self.num_heads.ok_or("a 3-D RotaryEmbedding input needs num_heads")?;
                if h == 0 || hidden % h != 0 {
                    return Err(format!("hidden size {hidden} does not split into {h} heads"));
                }
                (b, sq, h, hidden / h)
            }
            _ => return Err(format!("RotaryEmbedding input must be 3-D or 4-D, got {s:?}")),
        };
        let at = |b: usize, t: usize, h: usize, c: usize| -> usize {
            if s.len() == 4 {
                ((b * heads + h) * seq + t) * d + c
            } else {
                ((b * seq + t) * heads + h) * d + c
            }
        };
        let r = if self.rotary_dim == 0 { d } else { self.rotary_dim };
        if r > d || r % 2 != 0 {
            return Err(format!("rotary_embedding_dim {r} must be even and at most the head size {d}"));
        }
        let half = r / 2;
        let (cos_t, sin_t) = (need(inputs, 1)?, need(inputs, 2)?);
        if cos_t.shape() != sin_t.shape() {
            return Err("cos_cache and sin_cache must have one shape".into());
        }
        let cs = cos_t.shape();
        if cs.last() != Some(&half) {
            return Err(format!("the caches' last dim must be rotary_dim/2 = {half}, got {cs:?}"));
        }
        let (cos, sin) = (cos_t.to_f64_vec()?, sin_t.to_f64_vec()?);
        let pos = match inputs.get(3).copied().flatten() {
            Some(p) => {
                if p.shape() != [b_n, seq] {
                    return Err(format!("position_ids must be [{b_n}, {seq}], got {:?}", p.shape()));
                }
                if cs.len() != 2 {
                    return Err("with position_ids the caches must be 2-D".into());
                }
                let v = p.to_i64_vec()?;
                if let Some(&bad) = v.iter().find(|&&x| x < 0 || x as usize >= cs[0]) {
                    return Err(format!("position id {bad} is out of range for {} cached positions", cs[0]));
                }
                Some(v)
            }
            None => {
                if cs != [b_n, seq, half] {
                    return Err(format!("without position_ids the caches must be [{b_n}, {seq}, {half}], got {cs:?}"));
                }
                None
            }
        };
        let x = xt.to_f64_vec()?;
        let mut y = x.clone();
        for b in 0..b_n {
            for t in 0..seq {
                let row = match &pos {
                    Some(p) => p[b * seq + t] as usize,
                    None => b * seq + t,
                };
                for h in 0..heads {
                    for c in 0..half {
                        let (co, si) = (cos[row * half + c], sin[row * half + c]);
                        let (i1, i2) = if self.interleaved { (2 * c, 2 * c + 1) } else { (c, c + half) };
                        let (x1, x2) = (x[at(b, t, h, i1)], x[at(b, t, h, i2)]);
                        y[at(b, t, h, i1)] = co * x1 - si * x2;
                        y[at(b, t, h, i2)] = si * x1 + co * x2;
                    }
                }
            }
        }
        Ok(vec![Tensor::from_f64(xt.dtype(), &s, &y)?])
    }
}

pub fn import_rotary_embedding(c: &NodeCtx) -> Result<Op, String> {
    let rd = c.attrs.int("rotary_embedding_dim", 0)?;
    if rd < 0 {
        return Err(format!("rotary_embedding_dim must be ≥ 0, got {rd}"));
    }
    let num_heads = match c.attrs.opt_int("num_heads")? {
        None | Some(0) => None,
        Some(h) if h > 0 => Some(h as usize),
        Some(h) => return Err(format!("num_heads must be positive, got {h}")),
    };
    Ok(Op::RotaryEmbedding(RotaryEmbedding {
        interleaved: c.attrs.int("interleaved", 0)? != 0,
        rotary_dim: rd as usize,
        num_heads,
    }))
}

// ---- LinearAttention ----------------------------------------------------------------------

/// LinearAttention (opset 27): a recurrent state S [b, h_kv, d_k, d_v] updated per token by
/// `linear` (S += k⊗v), `gated` (S = exp(g)·S + k⊗v), `delta` (S += k⊗β(v − Sᵀk)) or
/// `gated_delta` (decay first, then the delta rule); each query head reads
/// `o = scale · qᵀS` from its KV head's state. Inputs are packed [b, t, heads·size].
#[derive(Clone, Debug)]
pub struct LinearAttention {
    pub q_num_heads: usize,
    pub kv_num_heads: usize,
    pub scale: f32,
    pub gated: bool,
    pub delta: bool,
}

impl OpSpec for LinearAttention {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (q, k, v) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
        let dt = q.dtype;
        if !dt.is_float() || k.dtype != dt || v.dtype != dt {
            return Err(format!("query, key and value must share one float dtype, got {dt}, {}, {}", k.dtype, v.dtype));
        }
        if q.rank() != 3 || k.rank() != 3 || v.rank() != 3 {
            return Err("query, key and value must be 3-D [batch, time, heads·size]".into());
        }
        if cx.opt(4).is_some() != self.gated {
            return Err(format!("decay must {}be given for this update rule", if self.gated { "" } else { "not " }));
        }
        if cx.opt(5).is_some() != self.delta {
            return Err(format!("beta must {}be given for this update rule", if self.delta { "" } else { "not " }));
        }
        let dk = div_dim(&q.dims[2], self.q_num_heads);
        let dv = div_dim(&v.dims[2], self.kv_num_heads);
        let state_dt = cx.opt(3).map_or(dt, |p| p.dtype);
        Ok(vec![
            vt(dt, vec![q.dims[0].clone(), q.dims[1].clone(), dv.mul(&Dim::Known(self.q_num_heads))]),
            vt(state_dt, vec![q.dims[0].clone(), Dim::Known(self.kv_num_heads), dk, dv]),
        ])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (qt, kt, vt_) = (need(inputs, 0)?, need(inputs, 1)?, need(inputs, 2)?);
        let (hq, hk) = (self.q_num_heads, self.kv_num_heads);
        let [b_n, t_n, qhid] = *qt.shape() else {
            return Err("query must be 3-D".into());
        };
        let [kb, kt_n, khid] = *kt.shape() else {
            return Err("key must be 3-D".into());
        };
        let [vb, vt_n, vhid] = *vt_.shape() else {
            return Err("value must be 3-D".into());
        };
        if kb != b_n || vb != b_n || kt_n != t_n || vt_n != t_n {
            return Err("query, key and value disagree on batch or time".into());
        }
        if qhid % hq != 0 || vhid % hk != 0 {
            return Err("hidden sizes do not split into the heads".into());
        }
        let (dk, dv) = (qhid / hq, vhid / hk);
        if khid != hk * dk {
            return Err(format!("key hidden size {khid} must be kv_num_heads·d_k = {}", hk * dk));
        }
        let reps = hq / hk;
        let (q, k, v) = (qt.to_f64_vec()?, kt.to_f64_vec()?, vt_.to_f64_vec()?);
        let opt = |i: usize| inputs.get(i).copied().flatten();
        let mut state = vec![0.0; b_n * hk * dk * dv];
        let state_dt = match opt(3) {
            Some(p) => {
                if p.shape() != [b_n, hk, dk, dv] {
                    return Err(format!("past_state must be [{b_n}, {hk}, {dk}, {dv}], got {:?}", p.shape()));
                }
                state = p.to_f64_vec()?;
                p.dtype()
            }
            None => qt.dtype(),
        };
        // decay: per head ([b, t, hk]) or per key dim ([b, t, hk·dk]).
        let decay = match opt(4) {
            Some(g) if self.gated => {
                let gs = g.shape();
                if gs.len() != 3 || gs[0] != b_n || gs[1] != t_n || (gs[2] != hk && gs[2] != hk * dk) {
                    return Err(format!("decay must be [{b_n}, {t_n}, {hk} or {}], got {gs:?}", hk * dk));
                }
                Some((g.to_f64_vec()?, gs[2] == hk))
            }
            Some(_) => return Err("this update rule takes no decay".into()),
            None if self.gated => return Err("this update rule needs decay".into()),
            None => None,
        };
        let beta = match opt(5) {
            Some(bt) if self.delta => {
                let bs = bt.shape();
                if bs.len() != 3 || bs[0] != b_n || bs[1] != t_n || (bs[2] != hk && bs[2] != 1) {
                    return Err(format!("beta must be [{b_n}, {t_n}, {hk} or 1], got {bs:?}"));
                }
                Some((bt.to_f64_vec()?, bs[2]))
            }
            Some(_) => return Err("this update rule takes no beta".into()),
            None if self.delta => return Err("this update rule needs beta".into()),
            None => None,
        };
        let scale = if self.scale == 0.0 { 1.0 / (dk as f64).sqrt() } else { self.scale as f64 };
        let mut out = vec![0.0; b_n * t_n * hq * dv];
        let mut vt_row = vec![0.0; dv];
        for b in 0..b_n {
            for t in 0..t_n {
                for h in 0..hk {
                    let s = &mut state[(b * hk + h) * dk * dv..(b * hk + h + 1) * dk * dv];
                    let kr = &k[(b * t_n + t) * khid + h * dk..][..dk];
                    let vr = &v[(b * t_n + t) * vhid + h * dv..][..dv];
                    if let Some((g, per_head)) = &decay {
                        for i in 0..dk {
                            let gi = if *per_head {
                                g[(b * t_n + t) * hk + h]
                            } else {
                                g[(b * t_n + t) * hk * dk + h * dk + i]
                            };
                            let f = gi.exp();
                            s[i * dv..(i + 1) * dv].iter_mut().for_each(|x| *x *= f);
                        }
                    }
                    vt_row.copy_from_slice(vr);
                    if let Some((bv, width)) = &beta {
                        let bh = bv[(b * t_n + t) * width + if *width == 1 { 0 } else { h }];
                        for (m, e) in vt_row.iter_mut().enumerate() {
                            let retrieved: f64 = (0..dk).map(|i| s[i * dv + m] * kr[i]).sum();
                            *e = bh * (*e - retrieved);
                        }
                    }
                    for i in 0..dk {
                        for m in 0..dv {
                            s[i * dv + m] += kr[i] * vt_row[m];
                        }
                    }
                }
                for h in 0..hq {
                    let kvh = h / reps;
                    let s = &state[(b * hk + kvh) * dk * dv..(b * hk + kvh + 1) * dk * dv];
                    let qr = &q[(b * t_n + t) * qhid + h * dk..][..dk];
                    for m in 0..dv {
                        let acc: f64 = (0..dk).map(|i| qr[i] * s[i * dv + m]).sum();
                        out[(b * t_n + t) * hq * dv + h * dv + m] = scale * acc;
                    }
                }
            }
        }
        Ok(vec![
            Tensor::from_f64(qt.dtype(), &[b_n, t_n, hq * dv], &out)?,
            Tensor::from_f64(state_dt, &[b_n, hk, dk, dv], &state)?,
        ])
    }
}

pub fn import_linear_attention(c: &NodeCtx) -> Result<Op, String> {
    let hq = c.attrs.opt_int("q_num_heads")?.ok_or("LinearAttention needs q_num_heads")?;
    let hk = c.attrs.opt_int("kv_num_heads")?.ok_or("LinearAttention needs kv_num_heads")?;
    if hq <= 0 || hk <= 0 || hq % hk != 0 {
        return Err(format!("q_num_heads ({hq}) must be a positive multiple of kv_num_heads ({hk})"));
    }
    let (gated, delta) = match c.attrs.string("update_rule", "gated_delta")?.as_str() {
        "linear" => (false, false),
        "gated" => (true, false),
        "delta" => (false, true),
        "gated_delta" => (true, true),
        r => return Err(format!("unknown update_rule '{r}'")),
    };
    Ok(Op::LinearAttention(LinearAttention {
        q_num_heads: hq as usize,
        kv_num_heads: hk as usize,
        scale: c.attrs.float("scale", 0.0)?,
        gated,
        delta,
    }))
}

// ---- FlexAttention (ai.onnx.preview) ------------------------------------------------------

/// FlexAttention (ai.onnx.preview opset 1) without modifier subgraphs: rank-4 Q/K/V,
/// `softmax((Q·√s)(K·√s)ᵀ) V` with GQA head sharing. The scores, softmax and the product with V
/// are evaluated in the softmax precision (f32 for inputs narrower than f64 unless
/// `softmax_precision` says otherwise) and the result cast to V's type.
#[derive(Clone, Debug)]
pub struct FlexAttention {
    pub scale: Option<f32>,
    pub softmax_precision: Option<DType>,
}

impl OpSpec for FlexAttention {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (q, k, v) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
        if !q.dtype.is_float() || k.dtype != q.dtype || v.dtype != q.dtype {
            return Err(format!("Q, K and V must share one float dtype, got {}, {}, {}", q.dtype, k.dtype, v.dtype));
        }
        if q.rank() != 4 || k.rank() != 4 || v.rank() != 4 {
            return Err("FlexAttention needs rank-4 Q, K and V".into());
        }
        check_eq(&q.dims[3], &k.dims[3], "Q and K head sizes")?;
        check_eq(&k.dims[1], &v.dims[1], "K and V heads")?;
        check_eq(&k.dims[2], &v.dims[2], "K and V sequence lengths")?;
        Ok(vec![vt(v.dtype, vec![q.dims[0].clone(), q.dims[1].clone(), q.dims[2].clone(), v.dims[3].clone()])])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (qt, kt, vt_) = (need(inputs, 0)?, need(inputs, 1)?, need(inputs, 2)?);
        let dt = qt.dtype();
        let (q, k, v) = (Heads::new(qt, None, "Q")?, Heads::new(kt, None, "K")?, Heads::new(vt_, None, "V")?);
        if qt.rank() != 4 || kt.rank() != 4 || vt_.rank() != 4 {
            return Err("FlexAttention needs rank-4 Q, K and V".into());
        }
        if k.b != q.b || v.b != q.b || k.h != v.h || k.s != v.s || k.d != q.d {
            return Err("Q, K and V shapes disagree".into());
        }
        if k.h == 0 || q.h % k.h != 0 {
            return Err(format!("{} query heads are not a multiple of {} key/value heads", q.h, k.h));
        }
        let reps = q.h / k.h;
        let cd = self.softmax_precision.unwrap_or(if dt == DType::F64 { DType::F64 } else { DType::F32 });
        let scale = self.scale.map_or(1.0 / (q.d as f64).sqrt(), |s| s as f64);
        let sq_scale = round_to(dt, (scale as f32).sqrt() as f64);
        let qs: Vec<f64> = q.data.iter().map(|&x| round_to(dt, x * sq_scale)).collect();
        let ks: Vec<f64> = k.data.iter().map(|&x| round_to(dt, x * sq_scale)).collect();
        let mut y = vec![0.0; q.b * q.h * q.s * v.d];
        let mut scores = vec![0.0; k.s];
        for b in 0..q.b {
            for h in 0..q.h {
                let kvh = h / reps;
                for i in 0..q.s {
                    let qo = ((b * q.h + h) * q.s + i) * q.d;
                    for (j, sc) in scores.iter_mut().enumerate() {
                        let ko = ((b * k.h + kvh) * k.s + j) * k.d;
                        let dot: f64 = qs[qo..qo + q.d].iter().zip(&ks[ko..ko + k.d]).map(|(a, c)| a * c).sum();
                        *sc = round_to(cd, round_to(dt, dot));
                    }
                    let mx = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = scores.iter().map(|&x| (x - mx).exp()).collect();
                    let sum: f64 = e.iter().sum();
                    let yo = ((b * q.h + h) * q.s + i) * v.d;
                    for c in 0..v.d {
                        let acc: f64 = e
                            .iter()
                            .enumerate()
                            .map(|(j, &p)| round_to(cd, p / sum) * v.data[((b * v.h + kvh) * v.s + j) * v.d + c])
                            .sum();
                        y[yo + c] = acc;
                    }
                }
            }
        }
        Ok(vec![Tensor::from_f64(vt_.dtype(), &[q.b, q.h, q.s, v.d], &y)?])
    }
}

pub fn import_flex_attention(c: &NodeCtx) -> Result<Op, String> {
    for g in ["score_mod", "prob_mod"] {
        if c.attrs.has(g) {
            return Err(format!("FlexAttention with a '{g}' subgraph is not supported (needs subgraph evaluation)"));
        }
    }
    let softmax_precision = match c.attrs.opt_int("softmax_precision")? {
        None => None,
        Some(code) => match DType::from_onnx(code as i32) {
            Some(d @ (DType::F32 | DType::F16 | DType::F64 | DType::BF16)) => Some(d),
            _ => return Err(format!("unsupported softmax_precision {code}")),
        },
    };
    Ok(Op::FlexAttention(FlexAttention { scale: c.attrs.opt_float("scale")?, softmax_precision }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attention() -> Attention {
        Attention {
            is_causal: false,
            q_num_heads: None,
            kv_num_heads: None,
            qk_matmul_output_mode: 0,
            scale: None,
            softcap: 0.0,
            softmax_precision: None,
            left_window: -1,
            right_window: -1,
        }
    }

    fn t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::new(shape, v.to_vec()).unwrap()
    }

    #[test]
    fn fully_masked_rows_are_zero_and_short_masks_pad_with_neg_inf() {
        // One head, 2 queries, 2 keys; V rows [1] and [3].
        let q = t(&[1, 1, 2, 1], &[0.0, 0.0]);
        let k = t(&[1, 1, 2, 1], &[0.0, 0.0]);
        let v = t(&[1, 1, 2, 1], &[1.0, 3.0]);
        // A 1-key mask: key 1 is padded with −∞; query 0 also masks key 0 → all masked.
        let m = Tensor::from_bools(&[2, 1], &[false, true]).unwrap();
        let y = attention().eval(&[Some(&q), Some(&k), Some(&v), Some(&m)], 1).unwrap().remove(0);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![0.0, 1.0]);
        // No mask: uniform weights.
        let y = attention().eval(&[Some(&q), Some(&k), Some(&v)], 1).unwrap().remove(0);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![2.0, 2.0]);
    }

    #[test]
    fn causal_offset_and_gqa() {
        // Two query heads share one KV head; one query at past length 1 sees both keys.
        let mut a = attention();
        a.is_causal = true;
        let q = t(&[1, 2, 1, 1], &[0.0, 0.0]);
        let k = t(&[1, 1, 1, 1], &[0.0]);
        let v = t(&[1, 1, 1, 1], &[4.0]);
        let pk = t(&[1, 1, 1, 1], &[0.0]);
        let pv = t(&[1, 1, 1, 1], &[2.0]);
        let out = a.eval(&[Some(&q), Some(&k), Some(&v), None, Some(&pk), Some(&pv)], 3).unwrap();
        assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![3.0, 3.0]);
        assert_eq!(out[2].to_vec::<f32>().unwrap(), vec![2.0, 4.0]);
        // Without the cache the single query sees only its key.
        let y = a.eval(&[Some(&q), Some(&k), Some(&v)], 1).unwrap().remove(0);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![4.0, 4.0]);
    }

    #[test]
    fn rotary_rotates_half_pairs() {
        let r = RotaryEmbedding { interleaved: false, rotary_dim: 0, num_heads: None };
        // [b=1, h=1, s=1, d=2]; angle 90°: (x1, x2) → (−x2, x1).
        let x = t(&[1, 1, 1, 2], &[1.0, 2.0]);
        let cos = t(&[1, 1], &[0.0]);
        let sin = t(&[1, 1], &[1.0]);
        let pos = Tensor::new(&[1, 1], vec![0i64]).unwrap();
        let y = r.eval(&[Some(&x), Some(&cos), Some(&sin), Some(&pos)], 1).unwrap().remove(0);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![-2.0, 1.0]);
        let bad = Tensor::new(&[1, 1], vec![5i64]).unwrap();
        assert!(r.eval(&[Some(&x), Some(&cos), Some(&sin), Some(&bad)], 1).is_err());
    }
}
