//! GPU lowerings of com.microsoft QAttention and QEmbedLayerNormalization
//! (`crate::ops::contrib_qattention`): the quantized inputs are dequantized into f32 scratch
//! buffers with the DequantizeLinear kernel (per tensor, or per weight column for QAttention),
//! then the float op's lowering (`contrib::lower_attention`, `contrib::lower_embed_layer_norm`)
//! runs on them. No shader of its own.

use super::contrib::{lower_attention, lower_embed_layer_norm, opnd, opt, sub_cx, Compose};
use super::{GpuKernel, GpuLowering};
use crate::backend::wgpu::types::GpuType;
use crate::ops::contrib_qattention::{QAttention, QEmbedLayerNorm, QEMBED_TABLES};
use crate::ops::quant::DequantizeLinear;
use crate::plan::{LowerCx, Lowered, Operand, Ref};
use crate::tensor::DType;

/// Dequantizes input `d` (scale `s`, optional zero point `z`) of `cx` into a new f32 scratch
/// buffer; `axis` is the per-column axis when the scale has more than one value.
fn dequant_to_scratch(
    l: &GpuLowering,
    c: &mut Compose,
    cx: &LowerCx,
    (d, s, z): (usize, usize, usize),
    axis: i64,
) -> Result<Ref, String> {
    let x = cx.input(d)?;
    let scale = cx.input(s)?;
    if scale.dtype != DType::F32 {
        return Err(format!("a {} scale (input {s}) has no GPU kernel", scale.dtype));
    }
    // One-element scales and zero points as scalars, so either may be [] or [1].
    let scalar = |o: &Operand| {
        let n: usize = o.shape.iter().product();
        Operand { shape: if n == 1 { vec![] } else { o.shape.clone() }, value: None, ..o.clone() }
    };
    let (mut so, mut zo) = (scalar(scale), opt(cx, z).map(scalar));
    let (mut sref, mut zref) = (Ref::Input(s), if zo.is_some() { Ref::Input(z) } else { Ref::Input(d) });
    // A per-column scale with a one-value zero point, or the reverse (ORT allows both): the
    // one-value parameter, known when planning, is broadcast to a per-column constant.
    if let Some(zp) = zo.as_mut() {
        if zp.shape != so.shape {
            let (one, one_ref, other) =
                if zp.shape.is_empty() { (zp, &mut zref, &so.shape) } else { (&mut so, &mut sref, &zp.shape) };
            let i = if let Ref::Input(i) = *one_ref { i } else { return Err("unexpected parameter binding".into()) };
            let known = cx.input(i)?.value.as_ref().ok_or_else(|| {
                format!("a one-value quantization parameter (input {i}) beside a per-column one must be known when planning")
            })?;
            let wide = known.take(&vec![0; other.iter().product()], other)?;
            c.low.consts.push(wide);
            *one_ref = Ref::Const(c.low.consts.len() - 1);
            one.shape = other.clone();
        }
    }
    let n: usize = x.shape.iter().product();
    let dst = c.scratch(GpuType::F32, n);
    let scx =
        sub_cx(cx, vec![Some(Operand { value: None, ..x.clone() }), Some(so), zo], vec![opnd(DType::F32, &x.shape)]);
    let dq = DequantizeLinear { axis, block_size: 0, output_dtype: Some(DType::F32) };
    let sub = super::quant::lower_dequantize(l, &scx, &dq)?;
    c.sub(sub, &[Ref::Input(d), sref, zref], &[dst])?;
    Ok(dst)
}

/// An f32 operand of `o`'s shape (the dequantized form of a quantized input).
fn as_f32(o: &Operand) -> Option<Operand> {
    opnd(DType::F32, &o.shape)
}

pub fn lower_qattention(l: &GpuLowering, cx: &LowerCx, q: &QAttention) -> Result<Lowered<GpuKernel>, String> {
    let (x, w, bias) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    if bias.dtype != DType::F32 {
        return Err(format!("QAttention producing {} has no GPU kernel", bias.dtype));
    }
    let mut c = Compose::new();
    let xf = dequant_to_scratch(l, &mut c, cx, (0, 3, 6), -1)?;
    let wf = dequant_to_scratch(l, &mut c, cx, (1, 4, 7), 1)?;
    let slot = |i: usize| opt(cx, i).cloned();
    let inner = sub_cx(cx, vec![as_f32(x), as_f32(w), slot(2), slot(5), slot(8)], cx.outputs.clone());
    let sub = lower_attention(l, &inner, &q.attn)?;
    let fill = |i: usize| if opt(cx, i).is_some() { Ref::Input(i) } else { Ref::Input(0) };
    c.sub(sub, &[xf, wf, Ref::Input(2), fill(5), fill(8)], &[Ref::Output(0), Ref::Output(1)])?;
    Ok(c.low)
}

pub fn lower_qembed_layer_norm(
    l: &GpuLowering,
    cx: &LowerCx,
    e: &QEmbedLayerNorm,
) -> Result<Lowered<GpuKernel>, String> {
    let scale = cx.input(8)?;
    if scale.dtype != DType::F32 {
        return Err(format!("QEmbedLayerNormalization producing {} has no GPU kernel", scale.dtype));
    }
    let mut c = Compose::new();
    let mut inputs = vec![opt(cx, 0).cloned(), opt(cx, 1).cloned()];
    let mut ins = vec![Ref::Input(0), Ref::Input(1)];
    for t in QEMBED_TABLES {
        match opt(cx, t.0) {
            Some(o) => {
                ins.push(dequant_to_scratch(l, &mut c, cx, t, -1)?);
                inputs.push(as_f32(o));
            }
            None => {
                ins.push(Ref::Input(0));
                inputs.push(None);
            }
        }
    }
    inputs.push(opt(cx, 7).cloned());
    ins.push(if opt(cx, 7).is_some() { Ref::Input(7) } else { Ref::Input(0) });
    let inner = sub_cx(cx, inputs, cx.outputs.clone());
    let sub = lower_embed_layer_norm(l, &inner, &e.norm)?;
    c.sub(sub, &ins, &[Ref::Output(0), Ref::Output(1)])?;
    Ok(c.low)
}
