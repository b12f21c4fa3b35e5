//! Elementwise kernels (`shaders/elementwise/`): unary functions (also Clip with plan-time
//! bounds and numeric Cast), binary ops with broadcasting (a fast path without index
//! arithmetic when shapes match), bitwise ops on 32-bit integers, and variadic Sum/Max/Min/Mean
//! as a chain of in-place binary dispatches.

use super::{dims8, grid_1d, u32_of, GpuKernel, GpuLowering, GpuType, KernelKey};
use crate::backend::wgpu::shaders::Prelude;
use crate::gpu_params;
use crate::ops::elementwise::{BinaryOp, Clip, Unary, UnaryOp, Variadic, VariadicOp};
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Ref};
use crate::tensor::shape::broadcast_strides;
use crate::tensor::DType;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UnaryVariant {
    pub op: UnaryOp,
    pub t: GpuType,
    pub o: GpuType,
}

impl UnaryVariant {
    pub fn prelude(&self, p: &mut Prelude) {
        p.alias("T", self.t.wgsl()).alias("O", self.o.wgsl());
        p.codes("UNARY", &UnaryOp::ALL, |o| o as u32).u32("OP", self.op as u32);
    }
}

gpu_params!(
    /// `shaders/elementwise/unary.wgsl` Params.
    UnaryParams { n: u32, alpha: f32, beta: f32, pad0: u32 }
);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BinaryVariant {
    pub op: BinaryOp,
    pub t: GpuType,
    pub o: GpuType,
    pub bcast: bool,
}

impl BinaryVariant {
    pub fn op_is_bitwise(&self) -> bool {
        self.op.is_bitwise()
    }
    pub fn prelude(&self, p: &mut Prelude) {
        p.alias("T", self.t.wgsl()).alias("O", self.o.wgsl());
        p.codes("BINARY", &BinaryOp::ALL, |o| o as u32).u32("OP", self.op as u32).bool("BCAST", self.bcast);
    }
}

gpu_params!(
    /// `shaders/elementwise/binary.wgsl` and `bitwise.wgsl` Params.
    BinaryParams {
        n: u32,
        rank: u32,
        pad0: u32,
        pad1: u32,
        shape: super::Dims8,
        a_strides: super::Dims8,
        b_strides: super::Dims8,
    }
);

/// A unary dispatch `bindings[0] → bindings[1]` over `n` elements.
pub fn unary_kernel(op: UnaryOp, t: GpuType, o: GpuType, n: usize, alpha: f32, beta: f32) -> Result<GpuKernel, String> {
    let params = UnaryParams { n: u32_of(n)?, alpha, beta, pad0: 0 };
    Ok(GpuKernel::new(KernelKey::Unary(UnaryVariant { op, t, o }), &params, grid_1d(n, 256)))
}

pub fn lower_unary(l: &GpuLowering, cx: &LowerCx, u: &Unary) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let k = unary_kernel(u.op, l.ty(x)?, l.ty(y)?, y.shape.iter().product(), u.alpha, u.beta)?;
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

/// A binary dispatch of `a` (shape `sa`) and `b` (shape `sb`) into `out`.
pub fn binary_kernel(
    op: BinaryOp,
    t: GpuType,
    o: GpuType,
    sa: &[usize],
    sb: &[usize],
    out: &[usize],
) -> Result<GpuKernel, String> {
    if op.is_bitwise() && t.is_float() {
        return Err(format!("{op:?} needs integer operands"));
    }
    let n: usize = out.iter().product();
    let bcast = !(sa == out && sb == out);
    let params = BinaryParams {
        n: u32_of(n)?,
        rank: out.len() as u32,
        pad0: 0,
        pad1: 0,
        shape: dims8(out)?,
        a_strides: dims8(&broadcast_strides(sa, out))?,
        b_strides: dims8(&broadcast_strides(sb, out))?,
    };
    Ok(GpuKernel::new(KernelKey::Binary(BinaryVariant { op, t, o, bcast }), &params, grid_1d(n, 256)))
}

pub fn lower_binary(l: &GpuLowering, cx: &LowerCx, op: BinaryOp) -> Result<Lowered<GpuKernel>, String> {
    let (a, b, y) = (cx.input(0)?, cx.input(1)?, cx.output(0)?);
    if a.dtype != b.dtype {
        return Err(format!("{op:?} of {} and {} has no GPU kernel", a.dtype, b.dtype));
    }
    let k = binary_kernel(op, l.ty(a)?, l.ty(y)?, &a.shape, &b.shape, &y.shape)?;
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Input(1), Ref::Output(0)]))
}

pub fn lower_variadic(l: &GpuLowering, cx: &LowerCx, v: &Variadic) -> Result<Lowered<GpuKernel>, String> {
    let y = cx.output(0)?;
    let t = l.ty(y)?;
    let n = cx.inputs.len();
    let op = v.pairwise();
    let mut dispatches = Vec::new();
    if n == 1 {
        let k = unary_kernel(UnaryOp::Affine, t, t, y.shape.iter().product(), 1.0, 0.0)?;
        dispatches.push(LoweredDispatch { kernel: k, bindings: vec![Ref::Input(0), Ref::Output(0)] });
    } else {
        let k = binary_kernel(op, t, t, &cx.input(0)?.shape, &cx.input(1)?.shape, &y.shape)?;
        dispatches.push(LoweredDispatch { kernel: k, bindings: vec![Ref::Input(0), Ref::Input(1), Ref::Output(0)] });
        // Later operands accumulate in place: every invocation reads and writes its own element.
        for i in 2..n {
            let k = binary_kernel(op, t, t, &y.shape, &cx.input(i)?.shape, &y.shape)?;
            dispatches
                .push(LoweredDispatch { kernel: k, bindings: vec![Ref::Output(0), Ref::Input(i), Ref::Output(0)] });
        }
    }
    if v.op == VariadicOp::Mean && n > 1 {
        let k = unary_kernel(UnaryOp::Affine, t, t, y.shape.iter().product(), 1.0 / n as f32, 0.0)?;
        dispatches.push(LoweredDispatch { kernel: k, bindings: vec![Ref::Output(0), Ref::Output(0)] });
    }
    Ok(Lowered { dispatches, scratch: vec![], consts: vec![] })
}

pub fn lower_clip(l: &GpuLowering, cx: &LowerCx, c: &Clip) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let bound = |i: usize, attr: Option<f32>, dflt: f32| -> Result<f32, String> {
        match cx.inputs.get(i).and_then(|o| o.as_ref()) {
            Some(o) => match &o.value {
                Some(v) => Ok(v.to_f64_vec()?.first().copied().unwrap_or(dflt as f64) as f32),
                None => Err("Clip bounds computed at run time have no GPU kernel yet".into()),
            },
            None => Ok(attr.unwrap_or(dflt)),
        }
    };
    let lo = bound(1, c.min, f32::NEG_INFINITY)?;
    let hi = bound(2, c.max, f32::INFINITY)?;
    let k = unary_kernel(UnaryOp::Clip, l.ty(x)?, l.ty(y)?, y.shape.iter().product(), lo, hi)?;
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

pub fn lower_cast(l: &GpuLowering, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    if y.dtype == DType::Bool && x.dtype != DType::Bool {
        return Err("Cast to bool has no GPU kernel yet".into());
    }
    let k = unary_kernel(UnaryOp::Affine, l.ty(x)?, l.ty(y)?, y.shape.iter().product(), 1.0, 0.0)?;
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

/// Variants for validation: every op code on every type it can run on.
pub fn variants() -> Vec<KernelKey> {
    let mut v = Vec::new();
    for op in UnaryOp::ALL {
        for t in [GpuType::F32, GpuType::F16] {
            v.push(KernelKey::Unary(UnaryVariant { op, t, o: t }));
        }
    }
    for (t, o) in [
        (GpuType::U32, GpuType::U32),
        (GpuType::I32, GpuType::F32),
        (GpuType::F32, GpuType::I32),
        (GpuType::F32, GpuType::U32),
    ] {
        v.push(KernelKey::Unary(UnaryVariant { op: UnaryOp::Affine, t, o }));
    }
    for op in BinaryOp::ALL {
        for bcast in [false, true] {
            if op.is_bitwise() {
                for t in [GpuType::I32, GpuType::U32] {
                    v.push(KernelKey::Binary(BinaryVariant { op, t, o: t, bcast }));
                }
            } else {
                let out = |t| {
                    if op.is_comparison() || op.is_logic() {
                        GpuType::U32
                    } else {
                        t
                    }
                };
                for t in [GpuType::F32, GpuType::F16, GpuType::I32, GpuType::U32] {
                    v.push(KernelKey::Binary(BinaryVariant { op, t, o: out(t), bcast }));
                }
            }
        }
    }
    v
}
