//! Pooling kernels (`shaders/pool/pool2d.wgsl`): 1-D and 2-D MaxPool / AveragePool / LpPool
//! with pads, strides, dilations and ceil_mode (resolved on the host). MaxPool's Indices output
//! and 3-D pooling have no GPU kernel yet.

use super::conv::as_2d;
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
}

impl PoolVariant {
    pub fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.codes("POOL", &[PoolOp::Max, PoolOp::Avg, PoolOp::Lp], |o| o as u32);
        p.u32("OP", self.op as u32).bool("COUNT_PAD", self.count_pad);
    }
}

gpu_params!(
    /// `shaders/pool/pool2d.wgsl` Params.
    PoolParams {
        total: u32,
        in_h: u32,
        in_w: u32,
        out_h: u32,
        out_w: u32,
        k_h: u32,
        k_w: u32,
        stride_h: u32,
        stride_w: u32,
        dil_h: u32,
        dil_w: u32,
        pad_h: u32,
        pad_w: u32,
        end_h: u32,
        end_w: u32,
        lp: f32,
    }
);

pub fn lower_pool(l: &GpuLowering, cx: &LowerCx, p: &Pool) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    if cx.outputs.get(1).is_some_and(|o| o.is_some()) {
        return Err("MaxPool's Indices output has no GPU kernel yet".into());
    }
    if x.shape.len() > 4 {
        return Err("3-D pooling has no GPU kernel yet".into());
    }
    let t = l.ty(x)?;
    let narrow_int = matches!(t, GpuType::I8 | GpuType::U8 | GpuType::I16 | GpuType::U16);
    if t == GpuType::F64 || !(t.is_float() || narrow_int && p.kind == PoolKind::Max) {
        return Err(format!("{:?} pooling of {} has no GPU kernel", p.kind, x.dtype));
    }
    let win = p.resolve(&x.shape)?;
    let [ih, iw, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow] = as_2d(&win);
    let (eh, ew) = if win.input.len() == 1 { (0, win.pads_end[0]) } else { (win.pads_end[0], win.pads_end[1]) };
    let (op, count_pad, lp) = match p.kind {
        PoolKind::Max => (PoolOp::Max, false, 0.0),
        PoolKind::Avg { count_include_pad } => (PoolOp::Avg, count_include_pad, 0.0),
        PoolKind::Lp { p } => (PoolOp::Lp, false, p),
    };
    let total: usize = y.shape.iter().product();
    let u = u32_of;
    let params = PoolParams {
        total: u(total)?,
        in_h: u(ih)?,
        in_w: u(iw)?,
        out_h: u(oh)?,
        out_w: u(ow)?,
        k_h: u(kh)?,
        k_w: u(kw)?,
        stride_h: u(sh)?,
        stride_w: u(sw)?,
        dil_h: u(dh)?,
        dil_w: u(dw)?,
        pad_h: u(ph)?,
        pad_w: u(pw)?,
        end_h: u(eh)?,
        end_w: u(ew)?,
        lp,
    };
    let k = GpuKernel::new(KernelKey::Pool2d(PoolVariant { op, count_pad, t }), &params, grid_1d(total, 256));
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

pub fn variants() -> Vec<KernelKey> {
    let mut v = Vec::new();
    for t in [GpuType::F32, GpuType::F16, GpuType::BF16, GpuType::U8, GpuType::I8] {
        for (op, count_pad) in [(PoolOp::Max, false), (PoolOp::Avg, false), (PoolOp::Avg, true), (PoolOp::Lp, false)] {
            v.push(KernelKey::Pool2d(PoolVariant { op, count_pad, t }));
        }
    }
    v
}
