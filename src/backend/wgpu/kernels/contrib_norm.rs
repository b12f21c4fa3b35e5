//! Single-dispatch GPU kernels for ONNX Runtime's fused normalization contrib ops
//! (`crate::ops::contrib`): SkipLayerNormalization / SkipSimplifiedLayerNormalization as one row
//! kernel that forms the residual sum x + skip (+ bias) while it loads each row
//! (`shaders/contrib_norm/skip_norm.wgsl`). Shapes the kernel does not cover return `None`, and
//! `kernels::contrib` composes the op from generic kernels instead.

use super::{grid_groups, u32_of, FamilyKey, GpuKernel, GpuLowering, GpuType, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::contrib::{skip_len, SkipLayerNorm};
use crate::plan::{LowerCx, Lowered, Ref};
use crate::tensor::DType;

const FLOATS: [GpuType; 3] = [GpuType::F32, GpuType::F16, GpuType::BF16];

/// Which row kernel, and its element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContribNormVariant {
    pub t: GpuType,
    /// SkipSimplifiedLayerNormalization (RMS) instead of the mean/variance form.
    pub simplified: bool,
}

impl KernelVariant for ContribNormVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::CONTRIB_NORM_SKIP
    }
    fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.bool("SIMPLIFIED", self.simplified);
    }
    fn storage_bindings(&self) -> u32 {
        9
    }
    fn all() -> Vec<Self> {
        FLOATS.iter().flat_map(|&t| [false, true].map(|simplified| ContribNormVariant { t, simplified })).collect()
    }
}

gpu_params!(
    /// `shaders/contrib_norm/skip_norm.wgsl` Params.
    SkipNormParams { rows: u32, len: u32, skip_rows: u32, flags: u32, epsilon: f32, pad0: u32, pad1: u32, pad2: u32 }
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
    let v = ContribNormVariant { t, simplified: s.simplified };
    let k = GpuKernel::new(KernelKey::Family(FamilyKey::ContribNorm(v)), &p, grid_groups(rows));
    Ok(Some(Lowered::single(k, bindings)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_wgsl() {
        let v = ContribNormVariant { t: GpuType::F32, simplified: false };
        crate::backend::wgpu::kernels::tests::check::<SkipNormParams>(KernelKey::Family(FamilyKey::ContribNorm(v)));
    }
}
