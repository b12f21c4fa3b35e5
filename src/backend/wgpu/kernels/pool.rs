//! Pooling kernels (`shaders/pool/pool2d.wgsl`): 1-D and 2-D MaxPool / AveragePool / LpPool
//! with pads, strides, dilations and ceil_mode (resolved on the host). MaxPool's Indices output
//! and 3-D pooling have no GPU kernel yet.

use super::conv::Geo3;
use super::{grid_1d, u32_of, GpuKernel, GpuLowering, GpuType, KernelKey};
use crate::backend::wgpu::shaders::Prelude;
use crate::gpu_params;
use crate::ops::pool::{Pool, PoolKind};
use crate::plan::{LowerCx, Lowered, Ref};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolOp {
    Max,
    Avg,
    Lp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolVariant {
    pub op: PoolOp,
    pub count_pad: bool,
    pub t: GpuType,
    /// MaxPool's int64 Indices output is bound and written.
    pub indices: bool,
    pub col_major: bool,
}

impl PoolVariant {
    pub fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.codes("POOL", &[PoolOp::Max, PoolOp::Avg, PoolOp::Lp], |o| o as u32);
        p.u32("OP", self.op as u32).bool("COUNT_PAD", self.count_pad);
        p.bool("WITH_INDICES", self.indices).bool("COL_MAJOR", self.col_major);
    }
}

gpu_params!(
    /// `shaders/pool/pool2d.wgsl` Params.
    PoolParams {
        total: u32,
        lp: f32,
        pad0: u32,
        pad1: u32,
        in_sp: [u32; 4],
        out_sp: [u32; 4],
        kernel: [u32; 4],
        stride: [u32; 4],
        dilation: [u32; 4],
        pad: [u32; 4],
        pad_end: [u32; 4],
    }
);

pub fn lower_pool(l: &GpuLowering, cx: &LowerCx, p: &Pool) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let with_indices = cx.outputs.get(1).is_some_and(|o| o.is_some());
    let t = l.ty(x)?;
    let narrow_int = matches!(t, GpuType::I8 | GpuType::U8 | GpuType::I16 | GpuType::U16);
    if t == GpuType::F64 || !(t.is_float() || narrow_int && p.kind == PoolKind::Max) {
        return Err(format!("{:?} pooling of {} has no GPU kernel", p.kind, x.dtype));
    }
    let win = p.resolve(&x.shape)?;
    let geo = Geo3::of(&win)?;
    let (op, count_pad, lp) = match p.kind {
        PoolKind::Max => (PoolOp::Max, false, 0.0),
        PoolKind::Avg { count_include_pad } => (PoolOp::Avg, count_include_pad, 0.0),
        PoolKind::Lp { p } => (PoolOp::Lp, false, p),
    };
    let total: usize = y.shape.iter().product();
    let params = PoolParams {
        total: u32_of(total)?,
        lp,
        pad0: 0,
        pad1: 0,
        in_sp: geo.input,
        out_sp: geo.output,
        kernel: geo.kernel,
        stride: geo.stride,
        dilation: geo.dilation,
        pad: geo.pad,
        pad_end: geo.pad_end,
    };
    let v = PoolVariant { op, count_pad, t, indices: with_indices, col_major: p.column_major_indices };
    let k = GpuKernel::new(KernelKey::Pool2d(v), &params, grid_1d(total, 256));
    let idx = if with_indices { Ref::Output(1) } else { Ref::Output(0) };
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0), idx]))
}

pub fn variants() -> Vec<KernelKey> {
    let mut v = Vec::new();
    for t in [GpuType::F32, GpuType::F16, GpuType::BF16, GpuType::U8, GpuType::I8] {
        for (op, count_pad) in [(PoolOp::Max, false), (PoolOp::Avg, false), (PoolOp::Avg, true), (PoolOp::Lp, false)] {
            v.push(KernelKey::Pool2d(PoolVariant { op, count_pad, t, indices: false, col_major: false }));
        }
        v.push(KernelKey::Pool2d(PoolVariant { op: PoolOp::Max, count_pad: false, t, indices: true, col_major: true }));
    }
    v
}
