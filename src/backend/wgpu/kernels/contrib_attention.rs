//! GPU lowerings of the ONNX Runtime contrib attention operators
//! (`crate::ops::contrib_attention`), composed from the existing attention machinery:
//! MultiHeadAttention and GroupQueryAttention end in the ONNX Attention kernels
//! (`kernels::attention`, scores + softmax·V with past caches read in place), with ORT's key
//! mask from `kernels::contrib::ort_mask_bias`, bias adds as broadcast binary adds, packed
//! inputs split by strided copies; RotaryEmbedding (and GQA's rotary) runs the ONNX rotary
//! shader. Two small shaders of its own (`shaders/contrib_attention/`): GQA's per-batch key
//! limits and rotary positions from `seqlens_k`, and GQA's present-cache append at each batch
//! entry's own past length. f32 only (ORT's CPU provider, the reference, is f32 for these).

use super::attention::{rotary_kernel, RotaryParams};
use super::contrib::{add, opnd, opt, opt_out, ort_mask_bias, sub_cx, Compose, MaskGeom};
use super::layout::copy_kernel;
use super::{grid_1d, u32_of, FamilyKey, GpuKernel, GpuLowering, GpuType, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::attention::Attention;
use crate::ops::contrib_attention::{ContribRotary, GroupQueryAttention, MultiHeadAttention};
use crate::plan::{LowerCx, Lowered, Operand, Ref};
use crate::tensor::DType;

/// This family's own shaders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContribAttnKernel {
    GqaMask,
    KvAppend,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContribAttnVariant {
    pub kind: ContribAttnKernel,
}

impl KernelVariant for ContribAttnVariant {
    fn file(&self) -> &'static ShaderFile {
        match self.kind {
            ContribAttnKernel::GqaMask => &shaders::CONTRIB_GQA_MASK,
            ContribAttnKernel::KvAppend => &shaders::CONTRIB_KV_APPEND,
        }
    }
    fn prelude(&self, p: &mut Prelude) {
        if self.kind == ContribAttnKernel::GqaMask {
            p.lib(&shaders::INDEX_REPORT);
        }
    }
    fn storage_bindings(&self) -> u32 {
        match self.kind {
            // The last one is the index error record of bad seqlens_k entries.
            ContribAttnKernel::GqaMask => 4,
            ContribAttnKernel::KvAppend => 4,
        }
    }
    fn all() -> Vec<Self> {
        [ContribAttnKernel::GqaMask, ContribAttnKernel::KvAppend].map(|kind| ContribAttnVariant { kind }).to_vec()
    }
}

gpu_params!(
    /// `shaders/contrib_attention/gqa_mask.wgsl` Params.
    GqaMaskParams { n: u32, s: u32, t: u32, first_prompt: u32, causal: u32, window: i32, p_len: u32, pad1: u32 }
);

gpu_params!(
    /// `shaders/contrib_attention/kv_append.wgsl` Params.
    KvAppendParams { n: u32, kvn: u32, s: u32, h: u32, p_len: u32, t: u32, first_prompt: u32, has_past: u32 }
);

fn key(kind: ContribAttnKernel) -> KernelKey {
    KernelKey::Family(FamilyKey::ContribAttention(ContribAttnVariant { kind }))
}

/// Requires an f32 operand.
fn f32_only(l: &GpuLowering, o: &Operand, what: &str) -> Result<(), String> {
    if l.ty(o)? != GpuType::F32 || o.dtype != DType::F32 {
        return Err(format!("{what} on {} has no GPU kernel (f32 only)", o.dtype));
    }
    Ok(())
}

/// The ONNX Attention settings of a contrib attention: explicit heads and scale, no causal
/// flag or window (the additive mask carries them), an optional softcap.
fn onnx_attention(q_heads: usize, kv_heads: usize, scale: f32, softcap: f32) -> Attention {
    Attention {
        is_causal: false,
        q_num_heads: Some(q_heads),
        kv_num_heads: Some(kv_heads),
        qk_matmul_output_mode: 0,
        scale: Some(scale),
        softcap,
        softmax_precision: None,
        left_window: -1,
        right_window: -1,
    }
}

/// `dst = src + bias[off..off + width]` over a [rows, width] tensor (the slice is copied out
/// first); returns `src` unchanged without a bias.
fn add_bias_slice(
    c: &mut Compose,
    src: Ref,
    rows: usize,
    width: usize,
    bias: Option<Ref>,
    off: usize,
) -> Result<Ref, String> {
    let Some(bias) = bias else {
        return Ok(src);
    };
    if rows * width == 0 {
        return Ok(src);
    }
    let slice = c.scratch(GpuType::F32, width);
    c.push(copy_kernel(super::ElemBits::B32, &[width], &[1], off, &[1], 0)?, vec![bias, slice]);
    let dst = c.scratch(GpuType::F32, rows * width);
    add(c, GpuType::F32, &[rows, width], src, slice, &[width], dst)?;
    Ok(dst)
}

pub fn lower_mha(l: &GpuLowering, cx: &LowerCx, m: &MultiHeadAttention) -> Result<Lowered<GpuKernel>, String> {
    let q = cx.input(0)?;
    f32_only(l, q, "MultiHeadAttention")?;
    let (k, v) = match (opt(cx, 1), opt(cx, 2)) {
        (Some(k), Some(v)) => (k, v),
        _ => return Err("packed QKV/KV MultiHeadAttention has no GPU kernel".into()),
    };
    if opt(cx, 8).is_some() || opt(cx, 9).is_some() {
        return Err("past_sequence_length / cache_indirection have no GPU kernel".into());
    }
    let [b, s, d] = *q.shape.as_slice() else {
        return Err(format!("query must be 3-D, got {:?}", q.shape));
    };
    let n = m.num_heads;
    if n == 0 || d % n != 0 || b * s == 0 {
        return Err(format!("query {:?} does not split into {n} heads", q.shape));
    }
    let hs = d / n;
    let bnsh = k.shape.len() == 4;
    let (l_len, hv) = match (bnsh, &k.shape[..], &v.shape[..]) {
        (false, &[kb, kl, kd], &[vb, vl, vd]) if kb == b && vb == b && kl == vl && kd == d && vd % n == 0 => {
            (kl, vd / n)
        }
        (true, &[kb, kn, kl, kh], &[vb, vn, vl, vh])
            if kb == b && vb == b && kn == n && vn == n && kl == vl && kh == hs =>
        {
            (kl, vh)
        }
        _ => return Err(format!("key {:?} / value {:?} do not match query {:?}", k.shape, v.shape, q.shape)),
    };
    let dv = n * hv;
    let (pk, pv) = (opt(cx, 6), opt(cx, 7));
    if pk.is_some() != pv.is_some() || (bnsh && pk.is_some()) {
        return Err("past_key/past_value must be given together, with 3-D key/value".into());
    }
    let past = match pk {
        Some(p) => match p.shape[..] {
            [pb, pn, pl, ph] if pb == b && pn == n && ph == hs => pl,
            _ => return Err(format!("past_key shape {:?} must be [{b}, {n}, P, {hs}]", p.shape)),
        },
        None => 0,
    };
    if let (Some(a), Some(c)) = (pk, pv) {
        if c.shape.len() != 4 || a.shape[..3] != c.shape[..3] || c.shape[3] != hv {
            return Err("past_value does not match past_key".into());
        }
    }
    for i in [1, 2, 3, 5, 6, 7] {
        if let Some(o) = opt(cx, i) {
            f32_only(l, o, "MultiHeadAttention")?;
        }
    }
    let total = past + l_len;
    let mut c = Compose::new();
    let bias = opt(cx, 3).map(|_| Ref::Input(3));
    let q_ref = add_bias_slice(&mut c, Ref::Input(0), b * s, d, bias, 0)?;
    let geom = MaskGeom { batch: b, seq: s, heads: n, past, total };
    let mask = ort_mask_bias(&mut c, cx, Some(4), Some(5), &geom, m.mask_filter_value, m.unidirectional)?;
    let (mask_ref, mask_op) = match mask {
        Some((r, o)) => (r, Some(o)),
        None => (Ref::Input(0), None),
    };
    let scale = m.scale.unwrap_or(1.0 / (hs as f32).sqrt());
    let attn = onnx_attention(n, n, scale, 0.0);
    let f = |shape: &[usize]| opnd(DType::F32, shape);
    if !bnsh {
        let k_ref = add_bias_slice(&mut c, Ref::Input(1), b * l_len, d, bias, d)?;
        let v_ref = add_bias_slice(&mut c, Ref::Input(2), b * l_len, dv, bias, 2 * d)?;
        let inputs = vec![
            f(&[b, s, d]),
            f(&[b, l_len, d]),
            f(&[b, l_len, dv]),
            mask_op,
            pk.and_then(|_| f(&[b, n, past, hs])),
            pv.and_then(|_| f(&[b, n, past, hv])),
        ];
        let outputs = vec![
            f(&[b, s, dv]),
            opt_out(cx, 1).and_then(|_| f(&[b, n, total, hs])),
            opt_out(cx, 2).and_then(|_| f(&[b, n, total, hv])),
        ];
        let sub = super::attention::lower_attention(l, &sub_cx(cx, inputs, outputs), &attn)?;
        let ins = [q_ref, k_ref, v_ref, mask_ref, Ref::Input(6), Ref::Input(7)];
        c.sub(sub, &ins, &[Ref::Output(0), Ref::Output(1), Ref::Output(2)])?;
        return Ok(c.low);
    }
    // BNSH key/value (cross attention without bias on K/V): Q goes to BNSH, Y comes back.
    let q4 = c.scratch(GpuType::F32, b * s * d);
    let to_bnsh = copy_kernel(
        super::ElemBits::B32,
        &[b, n, s, hs],
        &[(s * d) as isize, hs as isize, d as isize, 1],
        0,
        &[n * s * hs, s * hs, hs, 1],
        0,
    )?;
    c.push(to_bnsh, vec![q_ref, q4]);
    let y4 = c.scratch(GpuType::F32, b * s * dv);
    let inputs = vec![f(&[b, n, s, hs]), f(&k.shape), f(&v.shape), mask_op];
    let sub = super::attention::lower_attention(l, &sub_cx(cx, inputs, vec![f(&[b, n, s, hv])]), &attn)?;
    c.sub(sub, &[q4, Ref::Input(1), Ref::Input(2), mask_ref], &[y4])?;
    let from_bnsh = copy_kernel(
        super::ElemBits::B32,
        &[b, s, n, hv],
        &[(n * s * hv) as isize, hv as isize, (s * hv) as isize, 1],
        0,
        &[s * dv, dv, hv, 1],
        0,
    )?;
    c.push(from_bnsh, vec![y4, Ref::Output(0)]);
    // The present caches are the given key/value.
    for (out, src, shape) in [(1usize, 1usize, &k.shape), (2, 2, &v.shape)] {
        if opt_out(cx, out).is_some() {
            let len: usize = shape.iter().product();
            c.push(
                copy_kernel(super::ElemBits::B32, &[len], &[1], 0, &[1], 0)?,
                vec![Ref::Input(src), Ref::Output(out)],
            );
        }
    }
    Ok(c.low)
}

pub fn lower_rotary(l: &GpuLowering, cx: &LowerCx, r: &ContribRotary) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let t = l.ty(x)?;
    if !t.is_float() {
        return Err(format!("RotaryEmbedding on {} has no GPU kernel", x.dtype));
    }
    let (pos, cos, sin) = (cx.input(1)?, cx.input(2)?, cx.input(3)?);
    if cos.shape != sin.shape || cos.dtype != x.dtype || sin.dtype != x.dtype {
        return Err("cos_cache and sin_cache must have one shape and the input's dtype".into());
    }
    let (b, s, n, h, rot, first) = r.geometry(&x.shape, &cos.shape)?;
    let pos_kind = match pos.dtype {
        DType::I32 => 1,
        DType::I64 => 2,
        dt => return Err(format!("{dt} position_ids have no GPU kernel")),
    };
    let pos_offset = match pos.shape[..] {
        [1] => true,
        [pb, ps] if pb == b && ps == s => false,
        _ => return Err(format!("position_ids must be [1] or [{b}, {s}], got {:?}", pos.shape)),
    };
    let count = b * s * n * h;
    if count == 0 {
        return Ok(Lowered::empty());
    }
    if cos.shape[0] == 0 {
        return Err("empty cos/sin caches".into());
    }
    let p = RotaryParams {
        n: u32_of(count)?,
        d: u32_of(h)?,
        heads: u32_of(n)?,
        seq: u32_of(s)?,
        half: u32_of(rot / 2)?,
        rot: u32_of(rot)?,
        interleaved: r.interleaved as u32,
        heads_first: first as u32,
        pos_kind,
        n_rows: u32_of(cos.shape[0])?,
        pos_offset: pos_offset as u32,
        pad1: 0,
    };
    let k = rotary_kernel(t, &p);
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Input(2), Ref::Input(3), Ref::Input(1), Ref::Output(0)]))
}

pub fn lower_gqa(l: &GpuLowering, cx: &LowerCx, g: &GroupQueryAttention) -> Result<Lowered<GpuKernel>, String> {
    let q = cx.input(0)?;
    f32_only(l, q, "GroupQueryAttention")?;
    for i in [1, 2, 3, 4, 7, 8, 10] {
        if let Some(o) = opt(cx, i) {
            f32_only(l, o, "GroupQueryAttention")?;
        }
    }
    if (11..cx.inputs.len()).any(|i| opt(cx, i).is_some()) {
        return Err(
            "GroupQueryAttention's head_sink, quantized caches, norms and query_seqlens have no GPU kernel".into()
        );
    }
    let total_t = cx.input(6)?;
    let total = match total_t.value.as_ref().map(|t| t.to_i64_vec()).transpose()?.as_deref() {
        Some(&[t]) if t >= 0 => t as usize,
        _ => return Err("total_sequence_length must be a known scalar at plan time".into()),
    };
    let (k_in, pk) = (opt(cx, 1), opt(cx, 3));
    let d = g.dims(&q.shape, k_in.map(|k| k.shape.as_slice()), pk.map(|p| p.shape.as_slice()), total)?;
    if let (Some(a), Some(c)) = (pk, opt(cx, 4)) {
        if a.shape != c.shape {
            return Err("past_key and past_value shapes differ".into());
        }
    }
    let seqlens = cx.input(5)?;
    if seqlens.dtype != DType::I32 || seqlens.shape != [d.batch] {
        return Err(format!("seqlens_k must be int32 [{}]", d.batch));
    }
    let (b, s, h, t) = (d.batch, d.seq, d.head, d.present);
    let (n, kvn) = (g.num_heads, g.kv_num_heads);
    if b * s * h == 0 || t == 0 {
        return Err("empty GroupQueryAttention has no GPU kernel".into());
    }
    let first_prompt = s == total;
    let mut c = Compose::new();
    // Q, K, V as [b, s, heads·h].
    let (mut q_ref, mut k_ref, v_ref) = if d.packed {
        let w = (n + 2 * kvn) * h;
        let mut parts = Vec::new();
        for (off, width) in [(0, n * h), (n * h, kvn * h), ((n + kvn) * h, kvn * h)] {
            let dst = c.scratch(GpuType::F32, b * s * width);
            c.push(
                copy_kernel(super::ElemBits::B32, &[b * s, width], &[w as isize, 1], off, &[width, 1], 0)?,
                vec![Ref::Input(0), dst],
            );
            parts.push(dst);
        }
        (parts[0], parts[1], parts[2])
    } else {
        (Ref::Input(0), Ref::Input(1), Ref::Input(2))
    };
    // Key limits and rotary positions from seqlens_k.
    let mask = c.scratch(GpuType::F32, b * s * t);
    let pos = c.scratch(GpuType::F32, b * s);
    let window = if g.local_window >= 0 { i32::try_from(g.local_window).unwrap_or(i32::MAX) } else { -1 };
    let mp = GqaMaskParams {
        n: u32_of(b * s * t)?,
        s: u32_of(s)?,
        t: u32_of(t)?,
        first_prompt: first_prompt as u32,
        causal: g.causal as u32,
        window,
        p_len: u32_of(d.past)?,
        pad1: 0,
    };
    c.push(
        GpuKernel::new(key(ContribAttnKernel::GqaMask), &mp, grid_1d(b * s * t, 256)),
        vec![Ref::Input(5), pos, mask],
    );
    if g.do_rotary {
        let (cos, sin) = (cx.input(7)?, cx.input(8)?);
        if cos.shape != sin.shape
            || cos.shape.len() != 2
            || 2 * cos.shape[1] > h
            || cos.shape[1] == 0
            || cos.shape[0] == 0
        {
            return Err(format!("cos/sin caches {:?} do not fit head size {h}", cos.shape));
        }
        let half = cos.shape[1];
        let (pos_ref, pos_kind) = match opt(cx, 9) {
            Some(p) => {
                if p.dtype != DType::I64 || p.shape != [b, s] {
                    return Err(format!("position_ids must be int64 [{b}, {s}]"));
                }
                (Ref::Input(9), 2)
            }
            None => (pos, 1),
        };
        // Given position ids count from their first entry on the first prompt.
        let pos_offset = opt(cx, 9).is_some() && first_prompt;
        for (src, heads, is_q) in [(q_ref, n, true), (k_ref, kvn, false)] {
            let count = b * s * heads * h;
            let dst = c.scratch(GpuType::F32, count);
            let p = RotaryParams {
                n: u32_of(count)?,
                d: u32_of(h)?,
                heads: u32_of(heads)?,
                seq: u32_of(s)?,
                half: u32_of(half)?,
                rot: u32_of(2 * half)?,
                interleaved: g.rotary_interleaved as u32,
                heads_first: 0,
                pos_kind,
                n_rows: u32_of(cos.shape[0])?,
                pos_offset: pos_offset as u32,
                pad1: 0,
            };
            c.push(rotary_kernel(GpuType::F32, &p), vec![src, Ref::Input(7), Ref::Input(8), pos_ref, dst]);
            if is_q {
                q_ref = dst;
            } else {
                k_ref = dst;
            }
        }
    }
    // Present caches: each entry's past rows, then its new rows at its own past length.
    let cache = b * kvn * t * h;
    let mut present = Vec::new();
    for (out, cur, past_i) in [(1usize, k_ref, 3usize), (2, v_ref, 4)] {
        let dst = match opt_out(cx, out) {
            Some(_) => Ref::Output(out),
            None => c.scratch(GpuType::F32, cache),
        };
        let kp = KvAppendParams {
            n: u32_of(cache)?,
            kvn: u32_of(kvn)?,
            s: u32_of(s)?,
            h: u32_of(h)?,
            p_len: u32_of(d.past)?,
            t: u32_of(t)?,
            first_prompt: first_prompt as u32,
            has_past: pk.is_some() as u32,
        };
        let past_ref = if pk.is_some() { Ref::Input(past_i) } else { cur };
        c.push(
            GpuKernel::new(key(ContribAttnKernel::KvAppend), &kp, grid_1d(cache, 256)),
            vec![past_ref, cur, Ref::Input(5), dst],
        );
        present.push(dst);
    }
    // The attention bias joins the key limits.
    let (mut mask_ref, mut mask_shape) = (mask, vec![b, 1, s, t]);
    if let Some(ab) = opt(cx, 10) {
        let sh = &ab.shape;
        if t != total
            || sh.len() != 4
            || !(sh[0] == b || sh[0] == 1)
            || !(sh[1] == n || sh[1] == 1)
            || sh[2] != s
            || sh[3] != t
        {
            return Err(format!("attention_bias shape {sh:?} with a {t}-long cache has no GPU kernel"));
        }
        let full = vec![b, sh[1], s, t];
        let dst = c.scratch(GpuType::F32, full.iter().product());
        let k = super::elementwise::binary_kernel(
            crate::ops::elementwise::BinaryOp::Add,
            GpuType::F32,
            sh,
            &mask_shape,
            &full,
        )?;
        c.push(k, vec![Ref::Input(10), mask, dst]);
        (mask_ref, mask_shape) = (dst, full);
    }
    // Attention over the present caches (as the ONNX kernel's past; no new keys).
    let f = |shape: &[usize]| opnd(DType::F32, shape);
    let inputs = vec![
        f(&[b, s, n * h]),
        f(&[b, 0, kvn * h]),
        f(&[b, 0, kvn * h]),
        f(&mask_shape),
        f(&[b, kvn, t, h]),
        f(&[b, kvn, t, h]),
    ];
    let scale = g.scale.unwrap_or(1.0 / (h as f32).sqrt());
    let attn = onnx_attention(n, kvn, scale, g.softcap);
    let sub = super::attention::lower_attention(l, &sub_cx(cx, inputs, vec![f(&[b, s, n * h])]), &attn)?;
    c.sub(sub, &[q_ref, k_ref, v_ref, mask_ref, present[0], present[1]], &[Ref::Output(0)])?;
    Ok(c.low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::kernels::tests::check;

    #[test]
    fn params_match_wgsl() {
        check::<GqaMaskParams>(key(ContribAttnKernel::GqaMask));
        check::<KvAppendParams>(key(ContribAttnKernel::KvAppend));
    }
}
