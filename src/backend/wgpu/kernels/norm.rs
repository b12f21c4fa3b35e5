//! Normalization kernels (`shaders/norm/`): Softmax / LogSoftmax / Hardmax along one axis (or
//! the flattened tail, opset < 13), inference BatchNormalization, and LRN.

use super::{grid_1d, grid_groups, u32_of, GpuKernel, GpuLowering, GpuType, KernelKey};
use crate::backend::wgpu::shaders::Prelude;
use crate::gpu_params;
use crate::ops::norm::{BatchNorm, Lrn};
use crate::ops::softmax::{Softmax, SoftmaxKind};
use crate::plan::{LowerCx, Lowered, Ref};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SoftmaxVariant {
    pub kind: SoftmaxKind,
    pub t: GpuType,
}

impl SoftmaxVariant {
    pub fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.codes("SOFTMAX", &SoftmaxKind::ALL, |k| k as u32).u32("OP", self.kind as u32);
    }
}

/// Kernels parameterized by the element type only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NormVariant {
    pub t: GpuType,
}

impl NormVariant {
    pub fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
    }
}

gpu_params!(
    /// `shaders/norm/softmax.wgsl` Params.
    SoftmaxParams { rows: u32, len: u32, inner: u32, pad0: u32 }
);
gpu_params!(
    /// `shaders/norm/batchnorm.wgsl` Params.
    BatchNormParams { n: u32, channels: u32, inner: u32, epsilon: f32 }
);
gpu_params!(
    /// `shaders/norm/lrn.wgsl` Params.
    LrnParams { n: u32, channels: u32, inner: u32, size: u32, alpha: f32, beta: f32, bias: f32, pad0: u32 }
);

fn float(l: &GpuLowering, cx: &LowerCx) -> Result<GpuType, String> {
    let t = l.ty(cx.input(0)?)?;
    if !t.is_float() || t == GpuType::F64 {
        return Err(format!("{} input has no GPU kernel here (f32, f16 and bf16 do)", cx.input(0)?.dtype));
    }
    Ok(t)
}

pub fn lower_softmax(l: &GpuLowering, cx: &LowerCx, s: &Softmax) -> Result<Lowered<GpuKernel>, String> {
    let t = float(l, cx)?;
    let (outer, len, inner) = s.geometry(&cx.input(0)?.shape)?;
    let rows = outer * inner;
    let p = SoftmaxParams { rows: u32_of(rows)?, len: u32_of(len)?, inner: u32_of(inner)?, pad0: 0 };
    let k = GpuKernel::new(KernelKey::Softmax(SoftmaxVariant { kind: s.kind, t }), &p, grid_groups(rows));
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

pub fn lower_batchnorm(l: &GpuLowering, cx: &LowerCx, b: &BatchNorm) -> Result<Lowered<GpuKernel>, String> {
    let t = float(l, cx)?;
    let x = cx.input(0)?;
    for i in 1..5 {
        if l.ty(cx.input(i)?)? != t {
            return Err("BatchNormalization parameters of another type than X have no GPU kernel".into());
        }
    }
    let n: usize = x.shape.iter().product();
    let p = BatchNormParams {
        n: u32_of(n)?,
        channels: u32_of(x.shape[1])?,
        inner: u32_of(x.shape[2..].iter().product())?,
        epsilon: b.epsilon,
    };
    let k = GpuKernel::new(KernelKey::BatchNorm(NormVariant { t }), &p, grid_1d(n, 256));
    Ok(Lowered::single(
        k,
        vec![Ref::Input(0), Ref::Input(1), Ref::Input(2), Ref::Input(3), Ref::Input(4), Ref::Output(0)],
    ))
}

pub fn lower_lrn(l: &GpuLowering, cx: &LowerCx, r: &Lrn) -> Result<Lowered<GpuKernel>, String> {
    let t = float(l, cx)?;
    let x = cx.input(0)?;
    let n: usize = x.shape.iter().product();
    let p = LrnParams {
        n: u32_of(n)?,
        channels: u32_of(x.shape[1])?,
        inner: u32_of(x.shape[2..].iter().product())?,
        size: u32_of(r.size)?,
        alpha: r.alpha,
        beta: r.beta,
        bias: r.bias,
        pad0: 0,
    };
    let k = GpuKernel::new(KernelKey::Lrn(NormVariant { t }), &p, grid_1d(n, 256));
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

pub fn variants() -> Vec<KernelKey> {
    let mut v = Vec::new();
    for t in [GpuType::F32, GpuType::F16, GpuType::BF16] {
        for kind in SoftmaxKind::ALL {
            v.push(KernelKey::Softmax(SoftmaxVariant { kind, t }));
        }
        v.push(KernelKey::BatchNorm(NormVariant { t }));
        v.push(KernelKey::Lrn(NormVariant { t }));
    }
    v
}
