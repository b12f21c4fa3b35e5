//! Data-movement kernels (`shaders/layout/`): one strided copy serves Transpose, Slice, Expand,
//! Concat (one dispatch per input, each writing its block of the output) and Split (one per
//! output); Gather along an axis with int32 or int64 indices. Elements move as 32- or 64-bit
//! patterns, so every dtype of those widths (and bool, stored as u32) is covered.

use super::{dims8, grid_1d, idims8, u32_of, ElemBits, GpuKernel, GpuLowering, KernelKey};
use crate::backend::wgpu::shaders::Prelude;
use crate::gpu_params;
use crate::ops::layout::{slice_plan, Concat, Gather, Slice, Split, Transpose};
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Ref};
use crate::tensor::shape::{broadcast_strides, norm_axis, strides};
use crate::tensor::DType;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CopyVariant {
    pub elem: ElemBits,
}

impl CopyVariant {
    pub fn prelude(&self, p: &mut Prelude) {
        p.alias("E", self.elem.wgsl());
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GatherVariant {
    pub elem: ElemBits,
    pub idx64: bool,
}

impl GatherVariant {
    pub fn prelude(&self, p: &mut Prelude) {
        p.alias("E", self.elem.wgsl())
            .bool("IDX64", self.idx64)
            .lib(&crate::backend::wgpu::shaders::INDEX_REPORT)
            .lib(&crate::backend::wgpu::shaders::INDEX_LIB);
    }
}

gpu_params!(
    /// `shaders/layout/copy.wgsl` Params.
    CopyParams {
        n: u32,
        rank: u32,
        src_offset: u32,
        dst_offset: u32,
        shape: super::Dims8,
        src_strides: super::IDims8,
        dst_strides: super::Dims8,
    }
);

gpu_params!(
    /// `shaders/layout/gather.wgsl` Params.
    GatherParams { n: u32, axis_len: u32, n_idx: u32, inner: u32 }
);

/// Copies the block `shape` from `src` (strides/offset in elements) into `dst`.
pub fn copy_kernel(
    elem: ElemBits,
    shape: &[usize],
    src_strides: &[isize],
    src_offset: usize,
    dst_strides: &[usize],
    dst_offset: usize,
) -> Result<GpuKernel, String> {
    let n: usize = shape.iter().product();
    let p = CopyParams {
        n: u32_of(n)?,
        rank: shape.len() as u32,
        src_offset: u32_of(src_offset)?,
        dst_offset: u32_of(dst_offset)?,
        shape: dims8(shape)?,
        src_strides: idims8(src_strides)?,
        dst_strides: dims8(dst_strides)?,
    };
    Ok(GpuKernel::new(KernelKey::Copy(CopyVariant { elem }), &p, grid_1d(n, 256)))
}

fn signed(v: &[usize]) -> Vec<isize> {
    v.iter().map(|&x| x as isize).collect()
}

/// A plain copy of input 0 to output 0 (aliasing ops that could not alias).
pub fn lower_copy_all(l: &GpuLowering, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
    let y = cx.output(0)?;
    let n: usize = y.shape.iter().product();
    let k = copy_kernel(l.elem(y)?, &[n], &[1], 0, &[1], 0)?;
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

pub fn lower_transpose(l: &GpuLowering, cx: &LowerCx, t: &Transpose) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let perm = t.perm(x.shape.len())?;
    let st = strides(&x.shape);
    let src: Vec<isize> = perm.iter().map(|&a| st[a] as isize).collect();
    let k = copy_kernel(l.elem(y)?, &y.shape, &src, 0, &strides(&y.shape), 0)?;
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

pub fn lower_concat(l: &GpuLowering, cx: &LowerCx, c: &Concat) -> Result<Lowered<GpuKernel>, String> {
    let y = cx.output(0)?;
    let axis = norm_axis(c.axis, y.shape.len())?;
    let ost = strides(&y.shape);
    let mut at = 0usize;
    let mut dispatches = Vec::new();
    for (i, inp) in cx.inputs.iter().enumerate() {
        let x = inp.as_ref().ok_or("Concat input missing")?;
        if x.shape.iter().product::<usize>() > 0 {
            let k = copy_kernel(l.elem(y)?, &x.shape, &signed(&strides(&x.shape)), 0, &ost, at * ost[axis])?;
            dispatches.push(LoweredDispatch { kernel: k, bindings: vec![Ref::Input(i), Ref::Output(0)] });
        }
        at += x.shape[axis];
    }
    Ok(Lowered { dispatches, scratch: vec![], consts: vec![] })
}

pub fn lower_split(l: &GpuLowering, cx: &LowerCx, s: &Split) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let ist = strides(&x.shape);
    let axis = norm_axis(s.axis, x.shape.len())?;
    // Offsets come from every part's size, including parts nobody reads (no operand).
    let split = match cx.inputs.get(1).and_then(|o| o.as_ref()) {
        Some(o) if s.split_input => {
            Some(o.value.as_ref().ok_or("Split sizes are not known at plan time")?.to_i64_vec()?)
        }
        _ => s.split_attr.clone(),
    };
    let sizes = s.sizes(x.shape[axis], split, cx.outputs.len())?;
    let mut at = 0usize;
    let mut dispatches = Vec::new();
    for (j, out) in cx.outputs.iter().enumerate() {
        if let Some(y) = out {
            if y.shape.iter().product::<usize>() > 0 {
                let k = copy_kernel(l.elem(y)?, &y.shape, &signed(&ist), at * ist[axis], &strides(&y.shape), 0)?;
                dispatches.push(LoweredDispatch { kernel: k, bindings: vec![Ref::Input(0), Ref::Output(j)] });
            }
        }
        at += sizes.get(j).copied().ok_or("Split has more outputs than parts")?;
    }
    Ok(Lowered { dispatches, scratch: vec![], consts: vec![] })
}

pub fn lower_slice(l: &GpuLowering, cx: &LowerCx, s: &Slice) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let val = |i: usize| -> Result<Option<Vec<i64>>, String> {
        match cx.inputs.get(i).and_then(|o| o.as_ref()) {
            None => Ok(None),
            Some(o) => o
                .value
                .as_ref()
                .map(|v| v.to_i64_vec())
                .transpose()?
                .map(Some)
                .ok_or_else(|| "Slice parameters must be known".to_string()),
        }
    };
    let (starts, ends, axes, steps) = match &s.attrs {
        Some((st, en, ax)) => (st.clone(), en.clone(), ax.clone(), None),
        None => (val(1)?.unwrap_or_default(), val(2)?.unwrap_or_default(), val(3)?, val(4)?),
    };
    let plan = slice_plan(&x.shape, &starts, &ends, axes.as_deref(), steps.as_deref())?;
    let xs = strides(&x.shape);
    let base: isize = plan.iter().zip(&xs).map(|(p, &s)| p.0 * s as isize).sum();
    let src: Vec<isize> = plan.iter().zip(&xs).map(|(p, &s)| p.1 * s as isize).collect();
    if y.shape.iter().product::<usize>() == 0 {
        return Ok(Lowered { dispatches: vec![], scratch: vec![], consts: vec![] });
    }
    let k = copy_kernel(l.elem(y)?, &y.shape, &src, base.max(0) as usize, &strides(&y.shape), 0)?;
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

pub fn lower_expand(l: &GpuLowering, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let src = signed(&broadcast_strides(&x.shape, &y.shape));
    let k = copy_kernel(l.elem(y)?, &y.shape, &src, 0, &strides(&y.shape), 0)?;
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

pub fn lower_gather(l: &GpuLowering, cx: &LowerCx, g: &Gather) -> Result<Lowered<GpuKernel>, String> {
    let (x, idx, y) = (cx.input(0)?, cx.input(1)?, cx.output(0)?);
    let axis = norm_axis(g.axis, x.shape.len())?;
    let idx64 = match idx.dtype {
        DType::I64 => true,
        DType::I32 => false,
        d => return Err(format!("Gather with {d} indices has no GPU kernel")),
    };
    if let Some(v) = &idx.value {
        let len = x.shape[axis] as i64;
        if let Some(bad) = v.to_i64_vec()?.into_iter().find(|&k| k < -len || k >= len) {
            return Err(format!("index {bad} is out of range for axis {axis} of size {len}"));
        }
    }
    let n: usize = y.shape.iter().product();
    let p = GatherParams {
        n: u32_of(n)?,
        axis_len: u32_of(x.shape[axis])?,
        n_idx: u32_of(idx.shape.iter().product::<usize>().max(1))?,
        inner: u32_of(x.shape[axis + 1..].iter().product::<usize>().max(1))?,
    };
    if n == 0 {
        return Ok(Lowered { dispatches: vec![], scratch: vec![], consts: vec![] });
    }
    let k = GpuKernel::new(KernelKey::Gather(GatherVariant { elem: l.elem(y)?, idx64 }), &p, grid_1d(n, 256));
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Input(1), Ref::Output(0)]))
}

pub fn variants() -> Vec<KernelKey> {
    let mut v = Vec::new();
    for elem in [ElemBits::B16, ElemBits::B32, ElemBits::B64] {
        v.push(KernelKey::Copy(CopyVariant { elem }));
        for idx64 in [false, true] {
            v.push(KernelKey::Gather(GatherVariant { elem, idx64 }));
        }
    }
    v
}

/// Dropout at inference when its mask is read: a copy of the data and an all-true mask (a
/// plan constant copied into place).
pub fn lower_dropout(l: &GpuLowering, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let n: usize = x.shape.iter().product();
    let mut low = Lowered::empty();
    if let Some(y) = cx.outputs.first().and_then(|o| o.as_ref()) {
        let k = copy_kernel(l.elem(y)?, &[n], &[1], 0, &[1], 0)?;
        low.dispatches.push(LoweredDispatch { kernel: k, bindings: vec![Ref::Input(0), Ref::Output(0)] });
    }
    if let Some(m) = cx.outputs.get(1).and_then(|o| o.as_ref()) {
        low.consts.push(crate::tensor::Tensor::from_bools(&m.shape, &vec![true; n])?);
        let k = copy_kernel(l.elem(m)?, &[n], &[1], 0, &[1], 0)?;
        low.dispatches.push(LoweredDispatch { kernel: k, bindings: vec![Ref::Const(0), Ref::Output(1)] });
    }
    Ok(low)
}
