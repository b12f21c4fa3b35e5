//! Single-dispatch GPU kernels for ONNX Runtime's fused normalization contrib ops
//! (`crate::ops::contrib`): SkipLayerNormalization / SkipSimplifiedLayerNormalization as one row
//! kernel that forms the residual sum x + skip (+ bias) while it loads each row
//! (`shaders/contrib_norm/skip_norm.wgsl`), and EmbedLayerNormalization's gathers, sum and norm
//! and the mask index as one row kernel (`shaders/contrib_norm/embed_norm.wgsl`). Nodes the kernels do not cover return `None`, and `kernels::contrib` composes the
//! op from generic kernels instead.

use super::{grid_groups, u32_of, FamilyKey, GpuKernel, GpuLowering, GpuType, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::contrib::{skip_len, SkipLayerNorm};
use crate::plan::{LowerCx, Lowered, Ref};
use crate::tensor::DType;

const FLOATS: [GpuType; 3] = [GpuType::F32, GpuType::F16, GpuType::BF16];

/// Which row kernel, and its element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContribNormVariant {
    /// SkipLayerNormalization; `simplified`: SkipSimplifiedLayerNormalization (RMS).
    Skip { t: GpuType, simplified: bool },
    /// EmbedLayerNormalization (int32 or int64 indices, told apart by uniform flags).
    Embed { t: GpuType },
}

impl KernelVariant for ContribNormVariant {
    fn file(&self) -> &'static ShaderFile {
        match self {
            ContribNormVariant::Skip { .. } => &shaders::CONTRIB_NORM_SKIP,
            ContribNormVariant::Embed { .. } => &shaders::CONTRIB_NORM_EMBED,
        }
    }
    fn prelude(&self, p: &mut Prelude) {
        match *self {
            ContribNormVariant::Skip { t, simplified } => {
                t.lib(p);
                p.bool("SIMPLIFIED", simplified).lib(&shaders::ROW_SUM_LIB);
            }
            ContribNormVariant::Embed { t } => {
                t.lib(p);
                p.lib(&shaders::INDEX_REPORT).lib(&shaders::ROW_SUM_LIB);
            }
        }
    }
    fn storage_bindings(&self) -> u32 {
        match self {
            ContribNormVariant::Skip { .. } => 9,
            // The index error record is the last binding.
            ContribNormVariant::Embed { .. } => 13,
        }
    }
    fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for t in FLOATS {
            v.push(ContribNormVariant::Skip { t, simplified: false });
            v.push(ContribNormVariant::Skip { t, simplified: true });
            v.push(ContribNormVariant::Embed { t });
        }
        v
    }
}

gpu_params!(
    /// `shaders/contrib_norm/skip_norm.wgsl` Params.
    SkipNormParams { rows: u32, len: u32, skip_rows: u32, flags: u32, epsilon: f32, pad0: u32, pad1: u32, pad2: u32 }
);

gpu_params!(
    /// `shaders/contrib_norm/embed_norm.wgsl` Params.
    EmbedNormParams { rows: u32, len: u32, seq: u32, flags: u32, epsilon: f32, n_word: u32, n_pos: u32, n_seg: u32 }
);

const HAS_BETA: u32 = 1;
const HAS_BIAS: u32 = 2;
const WRITE_SUM: u32 = 4;
const WRITE_MEAN: u32 = 8;
const WRITE_INV: u32 = 16;

fn opt<'a>(cx: &'a LowerCx, i: usize) -> Option<&'a crate::plan::Operand> {
    cx.inputs.get(i).and_then(|o| o.as_ref())
}

fn opt_out<'a>(cx: &'a LowerCx, i: usize) -> Option<&'a crate::plan::Operand> {
    cx.outputs.get(i).and_then(|o| o.as_ref())
}

/// SkipLayerNormalization in one dispatch, or `None` when the fused kernel does not cover the
/// node (non-float types, per-column parameters that are not `len` long, non-f32 statistics,
/// statistics of the simplified form).
pub fn lower_skip_norm(l: &GpuLowering, cx: &LowerCx, s: &SkipLayerNorm) -> Result<Option<Lowered<GpuKernel>>, String> {
    let (x, skip, gamma) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let t = l.ty(x)?;
    if !FLOATS.contains(&t) {
        return Ok(None);
    }
    let len = match x.shape.last() {
        Some(&n) if n > 0 => n,
        _ => return Ok(None),
    };
    let rows: usize = x.shape[..x.shape.len() - 1].iter().product();
    let sl = skip_len(&x.shape, &skip.shape)?;
    let (beta_i, bias_i) = s.beta_bias();
    let beta = beta_i.and_then(|i| opt(cx, i));
    let bias = opt(cx, bias_i);
    let per_col = |o: &crate::plan::Operand| o.dtype == x.dtype && o.shape.iter().product::<usize>() == len;
    if skip.dtype != x.dtype || !per_col(gamma) || !beta.is_none_or(per_col) || !bias.is_none_or(per_col) {
        return Ok(None);
    }
    let (mean, inv, sum) = (opt_out(cx, 1), opt_out(cx, 2), opt_out(cx, 3));
    let stats = [mean, inv];
    if stats.iter().flatten().any(|o| o.dtype != DType::F32) || (s.simplified && stats.iter().any(|o| o.is_some())) {
        return Ok(None);
    }
    if rows == 0 {
        return Ok(Some(Lowered::empty()));
    }
    let mut flags = 0;
    let mut set = |on: bool, f: u32| flags |= if on { f } else { 0 };
    set(beta.is_some(), HAS_BETA);
    set(bias.is_some(), HAS_BIAS);
    set(sum.is_some(), WRITE_SUM);
    set(mean.is_some(), WRITE_MEAN);
    set(inv.is_some(), WRITE_INV);
    let p = SkipNormParams {
        rows: u32_of(rows)?,
        len: u32_of(len)?,
        skip_rows: u32_of(sl / len)?,
        flags,
        epsilon: s.epsilon,
        pad0: 0,
        pad1: 0,
        pad2: 0,
    };
    let pick = |on: bool, r: Ref| if on { r } else { Ref::Input(0) };
    let bindings = vec![
        Ref::Input(0),
        Ref::Input(1),
        Ref::Input(2),
        pick(beta.is_some(), Ref::Input(beta_i.unwrap_or(0))),
        pick(bias.is_some(), Ref::Input(bias_i)),
        Ref::Output(0),
        pick(mean.is_some(), Ref::Output(1)),
        pick(inv.is_some(), Ref::Output(2)),
        pick(sum.is_some(), Ref::Output(3)),
    ];
    let v = ContribNormVariant::Skip { t, simplified: s.simplified };
    let k = GpuKernel::new(KernelKey::Family(FamilyKey::ContribNorm(v)), &p, grid_groups(rows));
    Ok(Some(Lowered::single(k, bindings)))
}

/// EmbedLayerNormalization (the embedding sum and norm, outputs 0 and 2, and the mask index,
/// output 1) in one dispatch, or `None` when the fused kernel does not cover the node
/// (indices or mask neither int32 nor int64, non-float or empty tables, per-column parameters
/// that are not `hidden` long).
pub fn lower_embed_norm(l: &GpuLowering, cx: &LowerCx, epsilon: f32) -> Result<Option<Lowered<GpuKernel>>, String> {
    let (ids, word, pos) = (cx.input(0)?, cx.input(2)?, cx.input(3)?);
    let (gamma, beta) = (cx.input(5)?, cx.input(6)?);
    let t = l.ty(word)?;
    let (b, s) = match ids.shape[..] {
        [b, s] => (b, s),
        _ => return Ok(None),
    };
    let h = match word.shape[..] {
        [_, h] if h > 0 => h,
        _ => return Ok(None),
    };
    let table =
        |o: &crate::plan::Operand| o.dtype == word.dtype && o.shape.len() == 2 && o.shape[1] == h && o.shape[0] > 0;
    let per_col = |o: &crate::plan::Operand| o.dtype == word.dtype && o.shape.iter().product::<usize>() == h;
    let index_ty = |o: &crate::plan::Operand| matches!(o.dtype, DType::I32 | DType::I64);
    if !FLOATS.contains(&t) || !index_ty(ids) || !table(word) || !table(pos) || !per_col(gamma) || !per_col(beta) {
        return Ok(None);
    }
    let (si, se) = (opt(cx, 1), opt(cx, 4));
    let segment = match (si, se) {
        (Some(i), Some(e)) if index_ty(i) && i.shape == ids.shape && table(e) => Some(e.shape[0]),
        (None, None) => None,
        _ => return Ok(None),
    };
    let pid = opt(cx, 8);
    if let Some(p) = pid {
        if !index_ty(p) || (p.shape != ids.shape && p.shape != [1, s]) {
            return Ok(None);
        }
    }
    let mask = opt(cx, 7);
    if mask.is_some_and(|m| !index_ty(m) || m.shape != ids.shape) {
        return Ok(None);
    }
    if b * s == 0 {
        // The mask index of a batch of empty sequences is left to the composed lowering.
        return Ok(None);
    }
    let sum = opt_out(cx, 2).is_some();
    let mask_index = opt_out(cx, 1).is_some();
    let mut flags = 0;
    let mut set = |on: bool, f: u32| flags |= if on { f } else { 0 };
    set(segment.is_some(), 1);
    set(pid.is_some(), 2);
    set(pid.is_some_and(|p| p.shape[0] == 1), 4);
    set(sum, 8);
    set(mask_index, 16);
    set(mask.is_some(), 32);
    let wide = |o: Option<&crate::plan::Operand>| o.is_some_and(|o| o.dtype == DType::I64);
    set(wide(Some(ids)), 64);
    set(wide(si), 128);
    set(wide(pid), 256);
    set(wide(mask), 512);
    let p = EmbedNormParams {
        rows: u32_of(b * s)?,
        len: u32_of(h)?,
        seq: u32_of(s)?,
        flags,
        epsilon,
        n_word: u32_of(word.shape[0])?,
        n_pos: u32_of(pos.shape[0])?,
        n_seg: u32_of(segment.unwrap_or(0))?,
    };
    let pick = |on: bool, r: Ref| if on { r } else { Ref::Input(0) };
    let bindings = vec![
        Ref::Input(0),
        pick(segment.is_some(), Ref::Input(1)),
        pick(pid.is_some(), Ref::Input(8)),
        Ref::Input(2),
        Ref::Input(3),
        pick(segment.is_some(), Ref::Input(4)),
        Ref::Input(5),
        Ref::Input(6),
        Ref::Output(0),
        pick(sum, Ref::Output(2)),
        pick(mask.is_some(), Ref::Input(7)),
        pick(mask_index, Ref::Output(1)),
    ];
    let k = GpuKernel::new(
        KernelKey::Family(FamilyKey::ContribNorm(ContribNormVariant::Embed { t })),
        &p,
        grid_groups(b * s),
    );
    Ok(Some(Lowered::single(k, bindings)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_wgsl() {
        let key = |v| KernelKey::Family(FamilyKey::ContribNorm(v));
        let t = GpuType::F32;
        crate::backend::wgpu::kernels::tests::check::<SkipNormParams>(key(ContribNormVariant::Skip {
            t,
            simplified: false,
        }));
        crate::backend::wgpu::kernels::tests::check::<EmbedNormParams>(key(ContribNormVariant::Embed { t }));
    }
}
