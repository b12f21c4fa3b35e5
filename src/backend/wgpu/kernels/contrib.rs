//! GPU lowerings of the ONNX Runtime contrib operators (`crate::ops::contrib`), composed from
//! the existing kernels with scratch buffers: bias adds are broadcast binary adds; the GELU
//! family the unary Gelu/GeluTanh and pointwise Swish kernels, gelu(x + bias) one fused
//! elementwise program; SkipLayerNormalization one row kernel (`kernels::contrib_norm`) where it
//! applies, else (like the other layer norms) the row kernels of LayerNormalization /
//! RMSNormalization; embeddings the Gather kernel; Attention a MatMul projection with the bias in
//! its epilogue + the ONNX Attention kernels reading Q, K and V in place from the packed
//! projection (strided copies split only the past state). Two small shaders of its own
//! (`shaders/contrib/`): ORT's additive key mask from `mask_index` / `key_padding_mask` (shared
//! with `kernels::contrib_attention`), and EmbedLayerNormalization's per-batch mask length.

use super::elementwise::{binary_kernel, unary_kernel};
use super::layout::copy_kernel;
use super::{grid_1d, u32_of, FamilyKey, GpuKernel, GpuLowering, GpuType, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::attention::Attention;
use crate::ops::contrib::{
    skip_len, ContribAttention, ContribGelu, EmbedLayerNorm, GeluKind, SimplifiedLayerNorm, SkipLayerNorm,
};
use crate::ops::elementwise::{BinaryOp, UnaryOp};
use crate::ops::fused::Act;
use crate::ops::fused_ew::{Arg, EwOp, FusedElementwise, Instr};
use crate::ops::layout::Gather;
use crate::ops::misc::Swish;
use crate::ops::norm::{LayerNorm, RmsNorm};
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Operand, Ref};
use crate::tensor::DType;

/// This family's own shaders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContribKernel {
    AttnMask,
    MaskCount,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContribVariant {
    pub kind: ContribKernel,
}

impl KernelVariant for ContribVariant {
    fn file(&self) -> &'static ShaderFile {
        match self.kind {
            ContribKernel::AttnMask => &shaders::CONTRIB_ATTN_MASK,
            ContribKernel::MaskCount => &shaders::CONTRIB_MASK_COUNT,
        }
    }
    fn prelude(&self, _p: &mut Prelude) {}
    fn storage_bindings(&self) -> u32 {
        2
    }
    fn all() -> Vec<Self> {
        vec![ContribVariant { kind: ContribKernel::AttnMask }, ContribVariant { kind: ContribKernel::MaskCount }]
    }
}

gpu_params!(
    /// `shaders/contrib/attn_mask.wgsl` Params.
    AttnMaskParams { n: u32, batch: u32, s: u32, kind: u32, causal: u32, fill: f32, t: u32, past: u32 }
);

gpu_params!(
    /// `shaders/contrib/mask_count.wgsl` Params.
    MaskCountParams { batch: u32, s: u32, has_mask: u32, pad0: u32 }
);

pub(super) fn key(kind: ContribKernel) -> KernelKey {
    KernelKey::Family(FamilyKey::Contrib(ContribVariant { kind }))
}

/// A lowering assembled from several pieces.
pub(super) struct Compose {
    pub(super) low: Lowered<GpuKernel>,
}

impl Compose {
    pub(super) fn new() -> Self {
        Compose { low: Lowered::empty() }
    }

    /// A scratch buffer of `n` elements of `t`.
    pub(super) fn scratch(&mut self, t: GpuType, n: usize) -> Ref {
        self.low.scratch.push((n.max(1) * t.bytes()).max(16) as u64);
        Ref::Scratch(self.low.scratch.len() - 1)
    }

    pub(super) fn push(&mut self, kernel: GpuKernel, bindings: Vec<Ref>) {
        self.low.dispatches.push(LoweredDispatch { kernel, bindings });
    }

    /// Appends another lowering whose inputs are `ins` and outputs `outs` here.
    pub(super) fn sub(&mut self, sub: Lowered<GpuKernel>, ins: &[Ref], outs: &[Ref]) -> Result<(), String> {
        let (sb, cb) = (self.low.scratch.len(), self.low.consts.len());
        for d in sub.dispatches {
            let bindings = d
                .bindings
                .into_iter()
                .map(|r| match r {
                    Ref::Input(i) => ins.get(i).copied().ok_or_else(|| format!("sub-lowering input {i} unmapped")),
                    Ref::Output(i) => outs.get(i).copied().ok_or_else(|| format!("sub-lowering output {i} unmapped")),
                    Ref::Scratch(i) => Ok(Ref::Scratch(sb + i)),
                    Ref::Const(i) => Ok(Ref::Const(cb + i)),
                    Ref::InputSlice { .. } => Err("sub-lowering binds an input slice".to_string()),
                })
                .collect::<Result<Vec<_>, String>>()?;
            self.low.dispatches.push(LoweredDispatch { kernel: d.kernel, bindings });
        }
        self.low.scratch.extend(sub.scratch);
        self.low.consts.extend(sub.consts);
        Ok(())
    }
}

pub(super) fn opnd(dtype: DType, shape: &[usize]) -> Option<Operand> {
    Some(Operand { dtype, shape: shape.to_vec(), value: None })
}

pub(super) fn sub_cx<'a>(cx: &LowerCx<'a>, inputs: Vec<Option<Operand>>, outputs: Vec<Option<Operand>>) -> LowerCx<'a> {
    LowerCx { node: cx.node, label: cx.label, inputs, outputs, limits: cx.limits }
}

pub(super) fn opt<'a>(cx: &'a LowerCx, i: usize) -> Option<&'a Operand> {
    cx.inputs.get(i).and_then(|o| o.as_ref())
}

pub(super) fn opt_out<'a>(cx: &'a LowerCx, i: usize) -> Option<&'a Operand> {
    cx.outputs.get(i).and_then(|o| o.as_ref())
}

/// The f32-math float type of operand `o` (f64 stays on the CPU).
fn float_ty(l: &GpuLowering, o: &Operand, what: &str) -> Result<GpuType, String> {
    let t = l.ty(o)?;
    if !matches!(t, GpuType::F32 | GpuType::F16 | GpuType::BF16) {
        return Err(format!("{what} on {} has no GPU kernel", o.dtype));
    }
    Ok(t)
}

fn same(a: &Operand, b: &Operand, what: &str) -> Result<(), String> {
    if a.dtype != b.dtype {
        return Err(format!("{what} of type {} differs from the input's {}", b.dtype, a.dtype));
    }
    Ok(())
}

/// `dst = a + b` (b broadcast onto `shape`).
pub(super) fn add(
    c: &mut Compose,
    t: GpuType,
    shape: &[usize],
    a: Ref,
    b: Ref,
    b_shape: &[usize],
    dst: Ref,
) -> Result<(), String> {
    if shape.iter().product::<usize>() == 0 {
        return Ok(());
    }
    let k = binary_kernel(BinaryOp::Add, t, shape, b_shape, shape)?;
    c.push(k, vec![a, b, dst]);
    Ok(())
}

pub fn lower_gelu(l: &GpuLowering, cx: &LowerCx, g: &ContribGelu) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let t = float_ty(l, x, "Gelu")?;
    let n: usize = y.shape.iter().product();
    let mut c = Compose::new();
    if n == 0 {
        return Ok(c.low);
    }
    let unary = match g.kind {
        GeluKind::Erf => Some(UnaryOp::Gelu),
        GeluKind::Tanh => Some(UnaryOp::GeluTanh),
        GeluKind::Quick(_) => None,
    };
    if let (Some(b), Some(op)) = (opt(cx, 1), unary) {
        // gelu(x + bias) as one fused elementwise program.
        same(x, b, "bias")?;
        let prog = FusedElementwise {
            n_inputs: 2,
            prog: vec![
                Instr { op: EwOp::Binary(BinaryOp::Add), args: vec![Arg::Reg(0), Arg::Reg(1)] },
                Instr { op: EwOp::Unary(op, 0.0, 0.0), args: vec![Arg::Reg(2)] },
            ],
            dtype: x.dtype,
        };
        let ins = [x.shape.as_slice(), b.shape.as_slice()];
        let d =
            super::fused_ew::fused_dispatch(&prog, t, &ins, &y.shape, &[Ref::Input(0), Ref::Input(1)], Ref::Output(0))?;
        c.low.dispatches.push(d);
        return Ok(c.low);
    }
    let src = match opt(cx, 1) {
        Some(b) => {
            same(x, b, "bias")?;
            add(&mut c, t, &x.shape, Ref::Input(0), Ref::Input(1), &b.shape, Ref::Output(0))?;
            Ref::Output(0)
        }
        None => Ref::Input(0),
    };
    match g.kind {
        GeluKind::Erf | GeluKind::Tanh => {
            let op = if g.kind == GeluKind::Erf { UnaryOp::Gelu } else { UnaryOp::GeluTanh };
            c.push(unary_kernel(op, t, n, 0.0, 0.0)?, vec![src, Ref::Output(0)]);
        }
        GeluKind::Quick(alpha) => {
            let scx = sub_cx(cx, vec![opnd(x.dtype, &x.shape)], vec![opnd(y.dtype, &y.shape)]);
            let sub = super::normalize::lower_swish(l, &scx, &Swish { alpha })?;
            c.sub(sub, &[src], &[Ref::Output(0)])?;
        }
    }
    Ok(c.low)
}

pub fn lower_bias_add(l: &GpuLowering, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
    let (x, b, s) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let t = float_ty(l, x, "BiasAdd")?;
    same(x, b, "bias")?;
    same(x, s, "skip")?;
    if s.shape != x.shape {
        return Err(format!("skip shape {:?} differs from input shape {:?}", s.shape, x.shape));
    }
    let mut c = Compose::new();
    add(&mut c, t, &x.shape, Ref::Input(0), Ref::Input(1), &b.shape, Ref::Output(0))?;
    add(&mut c, t, &x.shape, Ref::Output(0), Ref::Input(2), &s.shape, Ref::Output(0))?;
    Ok(c.low)
}

pub fn lower_skip_layer_norm(l: &GpuLowering, cx: &LowerCx, s: &SkipLayerNorm) -> Result<Lowered<GpuKernel>, String> {
    let (x, skip, gamma) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let t = float_ty(l, x, "SkipLayerNormalization")?;
    same(x, skip, "skip")?;
    same(x, gamma, "gamma")?;
    skip_len(&x.shape, &skip.shape)?;
    if let Some(low) = super::contrib_norm::lower_skip_norm(l, cx, s)? {
        return Ok(low);
    }
    let (beta_i, bias_i) = s.beta_bias();
    let beta = beta_i.and_then(|i| opt(cx, i));
    let bias = opt(cx, bias_i);
    let n: usize = x.shape.iter().product();
    let mut c = Compose::new();
    let sum = match opt_out(cx, 3) {
        Some(_) => Ref::Output(3),
        None => c.scratch(t, n),
    };
    // The skip broadcasts over leading dims: right-align its trailing dims with x's.
    let sl = skip_len(&x.shape, &skip.shape)?;
    let mut skip_shape = x.shape.clone();
    let mut acc = 1;
    for d in skip_shape.iter_mut().rev() {
        if acc >= sl {
            *d = 1;
        }
        acc *= *d;
    }
    add(&mut c, t, &x.shape, Ref::Input(0), Ref::Input(1), &skip_shape, sum)?;
    if let Some(b) = bias {
        same(x, b, "bias")?;
        add(&mut c, t, &x.shape, sum, Ref::Input(bias_i), &b.shape, sum)?;
    }
    let (mean, inv) = (opt_out(cx, 1), opt_out(cx, 2));
    let xo = opnd(x.dtype, &x.shape);
    let yo = opnd(x.dtype, &x.shape);
    if s.simplified {
        if mean.is_some() || inv.is_some() {
            return Err("SkipSimplifiedLayerNormalization's statistics outputs have no GPU kernel".into());
        }
        let scx = sub_cx(cx, vec![xo, opnd(gamma.dtype, &gamma.shape)], vec![yo]);
        let sub = super::normalize::lower_rms_norm(l, &scx, &RmsNorm { axis: -1, epsilon: s.epsilon })?;
        c.sub(sub, &[sum, Ref::Input(2)], &[Ref::Output(0)])?;
    } else {
        if let Some(b) = beta {
            same(x, b, "beta")?;
        }
        let beta_op = beta.map(|b| Operand { value: None, ..b.clone() });
        let scx = sub_cx(
            cx,
            vec![xo, opnd(gamma.dtype, &gamma.shape), beta_op],
            vec![
                yo,
                mean.map(|m| Operand { value: None, ..m.clone() }),
                inv.map(|m| Operand { value: None, ..m.clone() }),
            ],
        );
        let ln = LayerNorm { axis: -1, epsilon: s.epsilon, stash: DType::F32 };
        let sub = super::normalize::lower_layer_norm(l, &scx, &ln)?;
        let beta_ref = Ref::Input(beta_i.unwrap_or(0));
        c.sub(sub, &[sum, Ref::Input(2), beta_ref], &[Ref::Output(0), Ref::Output(1), Ref::Output(2)])?;
    }
    Ok(c.low)
}

pub fn lower_simplified_layer_norm(
    l: &GpuLowering,
    cx: &LowerCx,
    s: &SimplifiedLayerNorm,
) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    float_ty(l, x, "SimplifiedLayerNormalization")?;
    if opt_out(cx, 1).is_some() {
        return Err("SimplifiedLayerNormalization's inv_std_var output has no GPU kernel".into());
    }
    let scx = sub_cx(cx, vec![cx.inputs[0].clone(), cx.inputs.get(1).cloned().flatten()], vec![cx.outputs[0].clone()]);
    super::normalize::lower_rms_norm(l, &scx, &RmsNorm { axis: s.axis, epsilon: s.epsilon })
}

pub fn lower_embed_layer_norm(l: &GpuLowering, cx: &LowerCx, e: &EmbedLayerNorm) -> Result<Lowered<GpuKernel>, String> {
    let ids = cx.input(0)?;
    let word = cx.input(2)?;
    let pos = cx.input(3)?;
    let (gamma, beta) = (cx.input(5)?, cx.input(6)?);
    let t = float_ty(l, word, "EmbedLayerNormalization")?;
    same(word, pos, "position_embedding")?;
    same(word, gamma, "gamma")?;
    same(word, beta, "beta")?;
    let (b, s) = match ids.shape[..] {
        [b, s] => (b, s),
        _ => return Err("input_ids must be 2-D".into()),
    };
    let h = *word.shape.get(1).ok_or("word_embedding must be 2-D")?;
    if pos.shape.len() != 2 || pos.shape[1] != h {
        return Err(format!("position_embedding shape {:?} does not match hidden size {h}", pos.shape));
    }
    let shape = [b, s, h];
    let n = b * s * h;
    let mut c = Compose::new();
    // One row kernel where it applies; else gathers, adds and the LayerNormalization kernel.
    let fused = match n {
        0 => None,
        _ => super::contrib_norm::lower_embed_norm(l, cx, e.epsilon)?,
    };
    if let Some(low) = &fused {
        c.low.dispatches.extend(low.dispatches.iter().cloned());
    }
    let gather = |c: &mut Compose, table: &Operand, idx: &Operand, ti: usize, ii: usize, dst: Ref| {
        if !matches!(idx.dtype, DType::I32 | DType::I64) {
            return Err(format!("{} indices have no GPU kernel", idx.dtype));
        }
        let scx = sub_cx(
            cx,
            vec![Some(Operand { value: None, ..table.clone() }), Some(Operand { value: None, ..idx.clone() })],
            vec![opnd(table.dtype, &shape)],
        );
        let sub = super::layout::lower_gather(l, &scx, &Gather { axis: 0 })?;
        c.sub(sub, &[Ref::Input(ti), Ref::Input(ii)], &[dst])
    };
    if n > 0 && fused.is_none() {
        let sum = match opt_out(cx, 2) {
            Some(_) => Ref::Output(2),
            None => c.scratch(t, n),
        };
        gather(&mut c, word, ids, 2, 0, sum)?;
        let tmp = c.scratch(t, n);
        match opt(cx, 8) {
            Some(p) => {
                if p.shape != ids.shape && p.shape != [1, s] {
                    return Err(format!("position_ids shape {:?} has no GPU kernel", p.shape));
                }
                let scx_shape = [p.shape[0], s, h];
                let scx = sub_cx(
                    cx,
                    vec![Some(Operand { value: None, ..pos.clone() }), Some(Operand { value: None, ..p.clone() })],
                    vec![opnd(pos.dtype, &scx_shape)],
                );
                let sub = super::layout::lower_gather(l, &scx, &Gather { axis: 0 })?;
                c.sub(sub, &[Ref::Input(3), Ref::Input(8)], &[tmp])?;
                add(&mut c, t, &shape, sum, tmp, &scx_shape, sum)?;
            }
            None => {
                if pos.shape[0] < s {
                    return Err(format!("{s} positions exceed the {} position embeddings", pos.shape[0]));
                }
                // Rows 0..s of the position table, broadcast over the batch.
                add(&mut c, t, &shape, sum, Ref::Input(3), &[s, h], sum)?;
            }
        }
        match (opt(cx, 1), opt(cx, 4)) {
            (Some(si), Some(se)) => {
                same(word, se, "segment_embedding")?;
                if se.shape.len() != 2 || se.shape[1] != h || si.shape != ids.shape {
                    return Err("segment inputs do not match input_ids / the hidden size".into());
                }
                gather(&mut c, se, si, 4, 1, tmp)?;
                add(&mut c, t, &shape, sum, tmp, &shape, sum)?;
            }
            (None, None) => {}
            _ => return Err("segment_ids and segment_embedding must be given together".into()),
        }
        let scx = sub_cx(
            cx,
            vec![opnd(word.dtype, &shape), opnd(gamma.dtype, &gamma.shape), opnd(beta.dtype, &beta.shape)],
            vec![opnd(word.dtype, &shape)],
        );
        let ln = LayerNorm { axis: -1, epsilon: e.epsilon, stash: DType::F32 };
        let sub = super::normalize::lower_layer_norm(l, &scx, &ln)?;
        c.sub(sub, &[sum, Ref::Input(5), Ref::Input(6)], &[Ref::Output(0)])?;
    }
    if opt_out(cx, 1).is_some() && b > 0 && fused.is_none() {
        let mask = opt(cx, 7);
        if let Some(m) = mask {
            if m.dtype != DType::I32 || m.shape != ids.shape {
                return Err(format!("a {} mask of shape {:?} has no GPU kernel", m.dtype, m.shape));
            }
        }
        let p = MaskCountParams { batch: u32_of(b)?, s: u32_of(s)?, has_mask: mask.is_some() as u32, pad0: 0 };
        let src = if mask.is_some() { Ref::Input(7) } else { Ref::Input(0) };
        c.push(GpuKernel::new(key(ContribKernel::MaskCount), &p, grid_1d(b, 64)), vec![src, Ref::Output(1)]);
    }
    Ok(c.low)
}

pub fn lower_attention(l: &GpuLowering, cx: &LowerCx, a: &ContribAttention) -> Result<Lowered<GpuKernel>, String> {
    let (x, w) = (cx.input(0)?, cx.input(1)?);
    let t = l.ty(x)?;
    if t != GpuType::F32 {
        return Err(format!("Attention on {} has no GPU kernel", x.dtype));
    }
    same(x, w, "weights")?;
    if opt(cx, 6).is_some() {
        return Err("Attention with past_sequence_length (buffer sharing) has no GPU kernel".into());
    }
    let d = a.dims(&x.shape, &w.shape)?;
    let (b, s) = (d.batch, d.seq);
    let wo = d.q + d.k + d.v;
    let rows = b * s;
    let mut c = Compose::new();
    let hs = d.head_size();
    let past = match opt(cx, 4) {
        Some(p) => {
            same(x, p, "past")?;
            a.past_len(&d, &p.shape)?
        }
        None => 0,
    };
    let total = past + s;
    if rows == 0 {
        return Err("Attention over an empty batch or sequence has no GPU kernel".into());
    }
    // QKV = X·W (+ bias, in the matmul's epilogue).
    let qkv = c.scratch(t, rows * wo);
    let bias = opt(cx, 2);
    if let Some(bias) = bias {
        same(x, bias, "bias")?;
        if bias.shape != [wo] {
            return Err(format!("bias shape {:?} must be [{wo}]", bias.shape));
        }
    }
    let mm_in = vec![opnd(x.dtype, &x.shape), opnd(w.dtype, &w.shape), bias.and_then(|o| opnd(o.dtype, &o.shape))];
    let scx = sub_cx(cx, mm_in, vec![opnd(x.dtype, &[b, s, wo])]);
    let pr = super::matmul::Product::plain(false, false, bias.is_some(), Act::NONE);
    let sub = super::matmul::lower_matmul_epilogue(l, &scx, pr)?;
    c.sub(sub, &[Ref::Input(0), Ref::Input(1), Ref::Input(2)], &[qkv])?;
    // Q, K and V are read in place from the packed rows of QKV.
    let elem = l.elem(x)?;
    let mut ins = vec![qkv, qkv, qkv];
    let mut inputs = vec![opnd(x.dtype, &[b, s, d.q]), opnd(x.dtype, &[b, s, d.k]), opnd(x.dtype, &[b, s, d.v])];
    // A 1-D mask_index of key end positions alone is read by the scores kernel itself; else
    // ORT's key mask and the attention bias become one additive mask.
    let key_end = match opt(cx, 3) {
        Some(m) => m.dtype == DType::I32 && m.shape == [b] && !a.unidirectional && opt(cx, 5).is_none(),
        None => false,
    };
    let geom = MaskGeom { batch: b, seq: s, heads: d.heads, past, total };
    let mask = match key_end {
        true => opt(cx, 3).map(|m| (Ref::Input(3), Operand { value: None, ..m.clone() })),
        false => ort_mask_bias(&mut c, cx, Some(3), Some(5), &geom, a.mask_filter_value, a.unidirectional)?,
    };
    match mask {
        Some((r, o)) => {
            ins.push(r);
            inputs.push(Some(o));
        }
        None => {
            ins.push(Ref::Input(0));
            inputs.push(None);
        }
    }
    // past (2, B, N, P, H) → key and value caches; present (2, B, N, T, H) from two halves.
    let cache = b * d.heads * hs;
    if past > 0 {
        for half in 0..2 {
            let dst = c.scratch(t, cache * past);
            c.push(copy_kernel(elem, &[cache * past], &[1], half * cache * past, &[1], 0)?, vec![Ref::Input(4), dst]);
            ins.push(dst);
            inputs.push(opnd(x.dtype, &[b, d.heads, past, hs]));
        }
    }
    let present = opt_out(cx, 1).is_some();
    let mut outs = vec![Ref::Output(0)];
    let mut outputs = vec![opnd(x.dtype, &[b, s, d.v])];
    if present {
        for _ in 0..2 {
            outs.push(c.scratch(t, cache * total));
            outputs.push(opnd(x.dtype, &[b, d.heads, total, hs]));
        }
    }
    let attn = Attention {
        is_causal: false,
        q_num_heads: Some(d.heads),
        kv_num_heads: Some(d.heads),
        qk_matmul_output_mode: 0,
        scale: Some(a.scale_for(&d)),
        softcap: 0.0,
        softmax_precision: None,
        left_window: -1,
        right_window: -1,
    };
    let scx = sub_cx(cx, inputs, outputs);
    let packed = super::attention::PackedQkv {
        row: wo,
        offs: [0, d.q, d.q + d.k],
        key_end_fill: key_end.then_some(a.mask_filter_value),
    };
    let sub = super::attention::lower_attention_packed(l, &scx, &attn, Some(packed))?;
    c.sub(sub, &ins, &outs)?;
    if present {
        for (half, src) in outs[1..].iter().enumerate() {
            let k = copy_kernel(elem, &[cache * total], &[1], 0, &[1], half * cache * total)?;
            c.push(k, vec![*src, Ref::Output(1)]);
        }
    }
    Ok(c.low)
}

/// The geometry of an ORT attention mask: [batch, seq, total] keys, `past` of them cached.
pub(super) struct MaskGeom {
    pub batch: usize,
    pub seq: usize,
    pub heads: usize,
    pub past: usize,
    pub total: usize,
}

/// ORT's additive key mask (`crate::ops::contrib_attention::ort_mask`) from the int32 mask
/// input `mask_i` and `causal`, plus the attention bias input `bias_i` (B|1, N|1, S, T), as one
/// f32 operand for the ONNX Attention kernel's mask input; `None` when there is neither.
pub(super) fn ort_mask_bias(
    c: &mut Compose,
    cx: &LowerCx,
    mask_i: Option<usize>,
    bias_i: Option<usize>,
    g: &MaskGeom,
    filter: f32,
    causal: bool,
) -> Result<Option<(Ref, Operand)>, String> {
    let (b, s, t) = (g.batch, g.seq, g.total);
    let mask = mask_i.and_then(|i| opt(cx, i));
    let mut out = None;
    if mask.is_some() || causal {
        let kind = match mask {
            None => 0,
            Some(m) => {
                if m.dtype != DType::I32 {
                    return Err(format!("a {} attention mask has no GPU kernel", m.dtype));
                }
                match m.shape[..] {
                    [n] if n == b || n == 3 * b + 2 => 1,
                    [n] if n == 2 * b => 2,
                    [mb, mt] if mb == b && mt == t => 3,
                    [mb, ms, mt] if mb == b && ms == s && mt == t => 4,
                    _ => return Err(format!("mask shape {:?} has no GPU kernel", m.shape)),
                }
            }
        };
        let n = b * s * t;
        let dst = c.scratch(GpuType::F32, n);
        let p = AttnMaskParams {
            n: u32_of(n)?,
            batch: u32_of(b)?,
            s: u32_of(s)?,
            kind,
            causal: causal as u32,
            fill: filter,
            t: u32_of(t)?,
            past: u32_of(g.past)?,
        };
        let src = match mask_i {
            Some(i) if mask.is_some() => Ref::Input(i),
            _ => Ref::Input(0),
        };
        if n > 0 {
            c.push(GpuKernel::new(key(ContribKernel::AttnMask), &p, grid_1d(n, 256)), vec![src, dst]);
        }
        out = Some((dst, Operand { dtype: DType::F32, shape: vec![b, 1, s, t], value: None }));
    }
    if let Some((i, ab)) = bias_i.and_then(|i| opt(cx, i).map(|o| (i, o))) {
        if ab.dtype != DType::F32 {
            return Err(format!("a {} attention_bias has no GPU kernel", ab.dtype));
        }
        let sh = &ab.shape;
        if sh.len() != 4 || !(sh[0] == b || sh[0] == 1) || !(sh[1] == g.heads || sh[1] == 1) || sh[2] != s || sh[3] != t
        {
            return Err(format!("attention_bias shape {sh:?} must be ({b} or 1, {} or 1, {s}, {t})", g.heads));
        }
        out = Some(match out {
            None => (Ref::Input(i), Operand { value: None, ..ab.clone() }),
            Some((m, _)) => {
                let full = [b, sh[1], s, t];
                let dst = c.scratch(GpuType::F32, full.iter().product());
                if full.iter().product::<usize>() > 0 {
                    let k = binary_kernel(BinaryOp::Add, GpuType::F32, sh, &[b, 1, s, t], &full)?;
                    c.push(k, vec![Ref::Input(i), m, dst]);
                }
                (dst, Operand { dtype: DType::F32, shape: full.to_vec(), value: None })
            }
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::kernels::tests::check;

    #[test]
    fn params_match_wgsl() {
        check::<AttnMaskParams>(key(ContribKernel::AttnMask));
        check::<MaskCountParams>(key(ContribKernel::MaskCount));
    }
}
