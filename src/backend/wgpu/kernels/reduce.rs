//! Reduction kernels (`shaders/reduce/reduce.wgsl`): every Reduce* kind over any axes (up to 8
//! kept and 8 reduced dims), and the Global*Pool ops as reductions over the spatial axes.

use super::{dims8, grid_groups, u32_of, GpuKernel, GpuLowering, GpuType, KernelKey};
use crate::backend::wgpu::shaders::Prelude;
use crate::gpu_params;
use crate::ops::pool::{GlobalPool, PoolKind};
use crate::ops::reduce::{ArgReduce, Reduce, ReduceAxes, ReduceKind};
use crate::plan::{LowerCx, Lowered, Ref};
use crate::tensor::shape::strides;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReduceVariant {
    pub kind: ReduceKind,
    pub t: GpuType,
}

impl ReduceVariant {
    pub fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.codes("REDUCE", &ReduceKind::ALL, |k| k as u32).u32("OP", self.kind as u32);
    }
}

gpu_params!(
    /// `shaders/reduce/reduce.wgsl` Params.
    ReduceParams {
        n_out: u32,
        n_red: u32,
        kept_rank: u32,
        red_rank: u32,
        kept_shape: super::Dims8,
        kept_strides: super::Dims8,
        red_shape: super::Dims8,
        red_strides: super::Dims8,
    }
);

/// A reduction of `shape` over `axes` (sorted, unique).
pub fn reduce_kernel(kind: ReduceKind, t: GpuType, shape: &[usize], axes: &[usize]) -> Result<GpuKernel, String> {
    let st = strides(shape);
    let (mut ks, mut kst, mut rs, mut rst) = (vec![], vec![], vec![], vec![]);
    for (i, &d) in shape.iter().enumerate() {
        if axes.contains(&i) {
            rs.push(d);
            rst.push(st[i]);
        } else {
            ks.push(d);
            kst.push(st[i]);
        }
    }
    let n_out: usize = ks.iter().product();
    let n_red: usize = rs.iter().product();
    let p = ReduceParams {
        n_out: u32_of(n_out)?,
        n_red: u32_of(n_red)?,
        kept_rank: ks.len() as u32,
        red_rank: rs.len() as u32,
        kept_shape: dims8(&ks)?,
        kept_strides: dims8(&kst)?,
        red_shape: dims8(&rs)?,
        red_strides: dims8(&rst)?,
    };
    Ok(GpuKernel::new(KernelKey::Reduce(ReduceVariant { kind, t }), &p, grid_groups(n_out)))
}

fn float(l: &GpuLowering, cx: &LowerCx) -> Result<GpuType, String> {
    let t = l.ty(cx.input(0)?)?;
    if !t.is_float() {
        return Err("integer pooling has no GPU kernel".into());
    }
    Ok(t)
}

pub fn lower_reduce(l: &GpuLowering, cx: &LowerCx, r: &Reduce) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let t = l.ty(x)?;
    let axes_t = cx.inputs.get(1).and_then(|o| o.as_ref()).and_then(|o| o.value.as_ref());
    match r.resolve(x.shape.len(), axes_t)? {
        ReduceAxes::Identity => {
            let k = super::layout::copy_kernel(l.elem(x)?, &[x.shape.iter().product()], &[1], 0, &[1], 0)?;
            Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
        }
        ReduceAxes::Axes(axes) => {
            let k = reduce_kernel(r.kind, t, &x.shape, &axes)?;
            Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
        }
    }
}

pub fn lower_global_pool(l: &GpuLowering, cx: &LowerCx, g: &GlobalPool) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let t = float(l, cx)?;
    let kind = match g.kind {
        PoolKind::Avg { .. } => ReduceKind::Mean,
        PoolKind::Max => ReduceKind::Max,
        PoolKind::Lp { p: 2.0 } => ReduceKind::L2,
        PoolKind::Lp { p: 1.0 } => ReduceKind::L1,

        PoolKind::Lp { p } => return Err(format!("GlobalLpPool with p={p} has no GPU kernel yet")),
    };
    let axes: Vec<usize> = (2..x.shape.len()).collect();
    let k = reduce_kernel(kind, t, &x.shape, &axes)?;
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

/// ArgMax / ArgMin with int64 output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArgReduceVariant {
    pub t: GpuType,
    pub is_max: bool,
    pub select_last: bool,
}

impl ArgReduceVariant {
    pub fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.bool("IS_MAX", self.is_max).bool("SELECT_LAST", self.select_last);
    }
}

gpu_params!(
    /// `shaders/reduce/argreduce.wgsl` Params.
    ArgReduceParams { rows: u32, len: u32, inner: u32, pad0: u32 }
);

pub fn lower_argreduce(l: &GpuLowering, cx: &LowerCx, a: &ArgReduce) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let axis = crate::tensor::shape::norm_axis(a.axis, x.shape.len())?;
    let len = x.shape[axis];
    if len == 0 {
        return Err("ArgMax/ArgMin over an empty axis".into());
    }
    let outer: usize = x.shape[..axis].iter().product();
    let inner: usize = x.shape[axis + 1..].iter().product();
    let rows = outer * inner;
    let v = ArgReduceVariant { t: l.ty(x)?, is_max: a.max, select_last: a.select_last_index };
    let p = ArgReduceParams { rows: u32_of(rows)?, len: u32_of(len)?, inner: u32_of(inner)?, pad0: 0 };
    let k = GpuKernel::new(KernelKey::ArgReduce(v), &p, grid_groups(rows));
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

pub fn variants() -> Vec<KernelKey> {
    let mut v = Vec::new();
    for t in GpuType::ALL {
        for kind in ReduceKind::ALL {
            v.push(KernelKey::Reduce(ReduceVariant { kind, t }));
        }
        for (is_max, select_last) in [(true, false), (false, true)] {
            v.push(KernelKey::ArgReduce(ArgReduceVariant { t, is_max, select_last }));
        }
    }
    v
}
