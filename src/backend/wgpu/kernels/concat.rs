//! Concat of 2 to 4 inputs and Split into 2 to 4 outputs as one dispatch each
//! (`shaders/concat/parts.wgsl`), instead of one copy per part; other Concats and Splits (more parts,
//! empty parts, unused Split outputs) keep `layout`'s per-part copies.

use super::{grid_1d, u32_of, GpuKernel, GpuLowering, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::backend::wgpu::types::ElemBits;
use crate::gpu_params;
use crate::ops::layout::{Concat, Split};
use crate::plan::{LowerCx, Lowered, Ref};
use crate::tensor::shape::norm_axis;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConcatVariant {
    pub elem: ElemBits,
    /// Split (the whole in binding 0, the parts after) rather than Concat.
    pub split: bool,
}

impl KernelVariant for ConcatVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::CONCAT_PARTS
    }
    fn prelude(&self, p: &mut Prelude) {
        p.alias("E", self.elem.wgsl());
        p.bool("SPLIT", self.split);
    }
    fn storage_bindings(&self) -> u32 {
        5
    }
    fn all() -> Vec<Self> {
        let elems = [ElemBits::B16, ElemBits::B32, ElemBits::B64];
        elems.into_iter().flat_map(|elem| [false, true].map(|split| ConcatVariant { elem, split })).collect()
    }
}

gpu_params!(
    /// `shaders/concat/parts.wgsl` Params.
    ConcatParams { n: u32, inner: u32, pad0: u32, pad1: u32, ends: [u32; 4] }
);

/// One dispatch for 2 to 4 non-empty inputs; `Err` sends the node to the per-input copies.
pub fn lower_concat_multi(l: &GpuLowering, cx: &LowerCx, c: &Concat) -> Result<Lowered<GpuKernel>, String> {
    let y = cx.output(0)?;
    let parts: Option<Vec<&[usize]>> = cx.inputs.iter().map(|i| i.as_ref().map(|x| &x.shape[..])).collect();
    let p = params(&y.shape, c.axis, &parts.ok_or("an input is missing")?)?;
    let key = KernelKey::Family(super::FamilyKey::ConcatMulti(ConcatVariant { elem: l.elem(y)?, split: false }));
    let k = cx.inputs.len();
    let mut bindings: Vec<Ref> = (0..4).map(|q| Ref::Input(if q < k { q } else { 0 })).collect();
    bindings.push(Ref::Output(0));
    Ok(Lowered::single(GpuKernel::new(key, &p, grid_1d(y.shape.iter().product(), 256)), bindings))
}

/// One dispatch for 2 to 4 outputs, all read and non-empty.
pub fn lower_split_multi(l: &GpuLowering, cx: &LowerCx, s: &Split) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let parts: Option<Vec<&[usize]>> = cx.outputs.iter().map(|o| o.as_ref().map(|y| &y.shape[..])).collect();
    let p = params(&x.shape, s.axis, &parts.ok_or("an output is unused")?)?;
    let key = KernelKey::Family(super::FamilyKey::ConcatMulti(ConcatVariant { elem: l.elem(x)?, split: true }));
    let k = cx.outputs.len();
    let mut bindings = vec![Ref::Input(0)];
    bindings.extend((0..4).map(|q| Ref::Output(if q < k { q } else { 0 })));
    Ok(Lowered::single(GpuKernel::new(key, &p, grid_1d(x.shape.iter().product(), 256)), bindings))
}

/// Params for the whole tensor `full` cut along `axis` into `parts` (2 to 4, non-empty).
fn params(full: &[usize], axis: i64, parts: &[&[usize]]) -> Result<ConcatParams, String> {
    let axis = norm_axis(axis, full.len())?;
    if !(2..=4).contains(&parts.len()) {
        return Err(format!("{} parts", parts.len()));
    }
    let mut ends = [0u32; 4];
    let mut at = 0usize;
    for (q, s) in parts.iter().enumerate() {
        if s.len() != full.len() || s[axis] == 0 {
            return Err("an empty or mismatched part".into());
        }
        at += s[axis];
        ends[q] = u32_of(at)?;
    }
    if at != full[axis] {
        return Err("the parts do not cover the axis".into());
    }
    for e in parts.len()..4 {
        ends[e] = ends[parts.len() - 1];
    }
    let n: usize = full.iter().product();
    let inner: usize = full[axis + 1..].iter().product();
    if n == 0 || inner == 0 {
        return Err("an empty tensor".into());
    }
    Ok(ConcatParams { n: u32_of(n)?, inner: u32_of(inner)?, ends, ..Default::default() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::kernels::FamilyKey;

    #[test]
    fn params_match_the_shader() {
        crate::backend::wgpu::kernels::tests::check::<ConcatParams>(KernelKey::Family(FamilyKey::ConcatMulti(
            ConcatVariant { elem: ElemBits::B32, split: false },
        )));
        crate::backend::wgpu::kernels::tests::check::<ConcatParams>(KernelKey::Family(FamilyKey::ConcatMulti(
            ConcatVariant { elem: ElemBits::B32, split: true },
        )));
    }
}
