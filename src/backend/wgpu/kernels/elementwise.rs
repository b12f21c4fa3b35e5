//! Elementwise kernels (`shaders/elementwise/`): unary functions (also Clip with plan-time
//! bounds), predicates (IsNaN, IsInf, Not), arithmetic/bitwise binary ops and comparisons with
//! broadcasting (a fast path without index arithmetic when shapes match), variadic
//! Sum/Max/Min/Mean as a chain of in-place dispatches, Cast between every GPU layout, and
//! Where. Every GPU element type is served through its type library.

use super::{dims8, grid_1d, u32_of, ElemBits, GpuKernel, GpuLowering, GpuType, KernelKey};
use crate::backend::wgpu::shaders::{self, Prelude};
use crate::gpu_params;
use crate::ops::elementwise::{BinaryOp, Clip, Unary, UnaryOp, Variadic, VariadicOp};
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Lowering, Operand, Ref};
use crate::tensor::shape::broadcast_strides;
use crate::tensor::DType;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UnaryVariant {
    pub op: UnaryOp,
    pub t: GpuType,
}

impl UnaryVariant {
    pub fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.codes("UNARY", &UnaryOp::ALL, |o| o as u32).u32("OP", self.op as u32).lib(&shaders::UNARY_LIB);
    }
}

gpu_params!(
    /// `shaders/elementwise/unary.wgsl` and `predicate.wgsl` Params.
    UnaryParams { n: u32, alpha: f32, beta: f32, pad0: u32 }
);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BinaryVariant {
    pub op: BinaryOp,
    /// The operand type (comparisons write bools).
    pub t: GpuType,
    pub bcast: bool,
}

impl BinaryVariant {
    pub fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.codes("BINARY", &BinaryOp::ALL, |o| o as u32).u32("OP", self.op as u32).bool("BCAST", self.bcast);
    }
}

gpu_params!(
    /// `shaders/elementwise/binary.wgsl` and `compare.wgsl` Params.
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

/// Unary functions defined exactly on integers (and computed exactly for doubles).
fn exact_unary(op: UnaryOp) -> bool {
    matches!(op, UnaryOp::Relu | UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign)
}

/// A unary dispatch `bindings[0] → bindings[1]` over `n` elements.
pub fn unary_kernel(op: UnaryOp, t: GpuType, n: usize, alpha: f32, beta: f32) -> Result<GpuKernel, String> {
    // Doubles: the exact functions, and exp/log from the f64 type library's own routines.
    // (division and sqrt are correctly rounded in f64 as IEEE requires).
    let f64_ok = matches!(op, UnaryOp::Exp | UnaryOp::Log | UnaryOp::Reciprocal | UnaryOp::Sqrt);
    if t == GpuType::F64 && !exact_unary(op) && !f64_ok {
        return Err(format!("{op:?} on double has no exact GPU kernel"));
    }
    let params = UnaryParams { n: u32_of(n)?, alpha, beta, pad0: 0 };
    let key = match op {
        UnaryOp::IsNaN | UnaryOp::IsInf | UnaryOp::Not => KernelKey::Predicate(UnaryVariant { op, t }),
        _ => KernelKey::Unary(UnaryVariant { op, t }),
    };
    Ok(GpuKernel::new(key, &params, grid_1d(n, 256)))
}

pub fn lower_unary(l: &GpuLowering, cx: &LowerCx, u: &Unary) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let t = l.ty(x)?;
    if !t.is_float() && !matches!(u.op, UnaryOp::Not) && !exact_unary(u.op) {
        return Err(format!("{:?} is not defined on {}", u.op, x.dtype));
    }
    let k = unary_kernel(u.op, t, y.shape.iter().product(), u.alpha, u.beta)?;
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

/// A binary dispatch of `a` (shape `sa`) and `b` (shape `sb`) into `out`.
pub fn binary_kernel(op: BinaryOp, t: GpuType, sa: &[usize], sb: &[usize], out: &[usize]) -> Result<GpuKernel, String> {
    if (op.is_bitwise() || op == BinaryOp::BitShiftLeft || op == BinaryOp::BitShiftRight) && t.is_float() {
        return Err(format!("{op:?} needs integer operands"));
    }
    if t == GpuType::F64 && op == BinaryOp::Pow {
        return Err("Pow on double has no exact GPU kernel".into());
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
    let v = BinaryVariant { op, t, bcast };
    let key = if op.is_comparison() || op.is_logic() { KernelKey::Compare(v) } else { KernelKey::Binary(v) };
    Ok(GpuKernel::new(key, &params, grid_1d(n, 256)))
}

pub fn lower_binary(l: &GpuLowering, cx: &LowerCx, op: BinaryOp) -> Result<Lowered<GpuKernel>, String> {
    let (a, b, y) = (cx.input(0)?, cx.input(1)?, cx.output(0)?);
    if op == BinaryOp::Pow && a.dtype != b.dtype {
        return lower_mixed_pow(l, a, b, y);
    }
    if a.dtype != b.dtype {
        return Err(format!("{op:?} of {} and {} has no GPU kernel", a.dtype, b.dtype));
    }
    let k = binary_kernel(op, l.ty(a)?, &a.shape, &b.shape, &y.shape)?;
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Input(1), Ref::Output(0)]))
}

pub fn lower_variadic(l: &GpuLowering, cx: &LowerCx, v: &Variadic) -> Result<Lowered<GpuKernel>, String> {
    let y = cx.output(0)?;
    let t = l.ty(y)?;
    let n = cx.inputs.len();
    let op = v.pairwise();
    let mut dispatches = Vec::new();
    if n == 1 {
        let k = super::layout::copy_kernel(l.elem(y)?, &[y.shape.iter().product()], &[1], 0, &[1], 0)?;
        dispatches.push(LoweredDispatch { kernel: k, bindings: vec![Ref::Input(0), Ref::Output(0)] });
    } else {
        let k = binary_kernel(op, t, &cx.input(0)?.shape, &cx.input(1)?.shape, &y.shape)?;
        dispatches.push(LoweredDispatch { kernel: k, bindings: vec![Ref::Input(0), Ref::Input(1), Ref::Output(0)] });
        // Later operands accumulate in place: every invocation reads and writes its own element.
        for i in 2..n {
            let k = binary_kernel(op, t, &y.shape, &cx.input(i)?.shape, &y.shape)?;
            dispatches
                .push(LoweredDispatch { kernel: k, bindings: vec![Ref::Output(0), Ref::Input(i), Ref::Output(0)] });
        }
    }
    if v.op == VariadicOp::Mean && n > 1 {
        if !t.is_float() || t == GpuType::F64 {
            return Err("Mean of integers or doubles has no GPU kernel".into());
        }
        let k = unary_kernel(UnaryOp::Affine, t, y.shape.iter().product(), 1.0 / n as f32, 0.0)?;
        dispatches.push(LoweredDispatch { kernel: k, bindings: vec![Ref::Output(0), Ref::Output(0)] });
    }
    Ok(Lowered { dispatches, scratch: vec![], consts: vec![] })
}

pub fn lower_clip(l: &GpuLowering, cx: &LowerCx, c: &Clip) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let t = l.ty(x)?;
    let bound = |i: usize| cx.inputs.get(i).and_then(|o| o.as_ref());
    let (lo, hi) = (bound(1), bound(2));
    let runtime = lo.is_some_and(|o| o.value.is_none()) || hi.is_some_and(|o| o.value.is_none());
    if runtime || !t.is_float() || t == GpuType::F64 {
        // Clip(x, lo, hi) = Min(Max(x, lo), hi), exact for every type, bounds on the device.
        let mut dispatches = Vec::new();
        let mut src = Ref::Input(0);
        for (i, op) in [(1usize, BinaryOp::Max), (2usize, BinaryOp::Min)] {
            if let Some(b) = bound(i) {
                let k =
                    binary_kernel(op, t, if src == Ref::Input(0) { &x.shape } else { &y.shape }, &b.shape, &y.shape)?;
                dispatches.push(LoweredDispatch { kernel: k, bindings: vec![src, Ref::Input(i), Ref::Output(0)] });
                src = Ref::Output(0);
            }
        }
        if dispatches.is_empty() {
            if c.min.is_some() || c.max.is_some() {
                return Err("Clip with attribute bounds on integers has no GPU kernel".into());
            }
            let k = super::layout::copy_kernel(l.elem(y)?, &[y.shape.iter().product()], &[1], 0, &[1], 0)?;
            dispatches.push(LoweredDispatch { kernel: k, bindings: vec![Ref::Input(0), Ref::Output(0)] });
        }
        return Ok(Lowered { dispatches, scratch: vec![], consts: vec![] });
    }
    let value = |i: usize, attr: Option<f32>, dflt: f32| -> Result<f32, String> {
        match bound(i) {
            Some(o) => Ok(o
                .value
                .as_ref()
                .map(|v| v.to_f64_vec())
                .transpose()?
                .and_then(|v| v.first().copied())
                .unwrap_or(dflt as f64) as f32),
            None => Ok(attr.unwrap_or(dflt)),
        }
    };
    let lo = value(1, c.min, f32::NEG_INFINITY)?;
    let hi = value(2, c.max, f32::INFINITY)?;
    let k = unary_kernel(UnaryOp::Clip, t, y.shape.iter().product(), lo, hi)?;
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

// ---- Cast ------------------------------------------------------------------------------

/// Layout codes of `shaders/elementwise/cast.wgsl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CastKind {
    F32,
    F16,
    BF16,
    SInt,
    UInt,
    I64,
    U64,
}

impl CastKind {
    fn of(t: GpuType) -> Result<CastKind, String> {
        Ok(match t {
            GpuType::F32 => CastKind::F32,
            GpuType::F16 => CastKind::F16,
            GpuType::BF16 => CastKind::BF16,
            GpuType::I8 | GpuType::I16 | GpuType::I32 => CastKind::SInt,
            GpuType::U8 | GpuType::U16 | GpuType::U32 | GpuType::Bool => CastKind::UInt,
            GpuType::I64 => CastKind::I64,
            GpuType::U64 => CastKind::U64,
            GpuType::F64 => return Err("Cast of double has no GPU kernel".into()),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CastVariant {
    pub from: CastKind,
    pub to: CastKind,
    pub out_bits: u32,
    pub out_signed: bool,
    pub out_bool: bool,
}

impl CastVariant {
    /// The variant casting `from` to `to` (panics on doubles; lowering checks first).
    pub fn new(from: GpuType, to: GpuType) -> CastVariant {
        Self::try_new(from, to).expect("castable types")
    }

    pub fn try_new(from: GpuType, to: GpuType) -> Result<CastVariant, String> {
        let out_bits = match to {
            GpuType::I8 | GpuType::U8 => 8,
            GpuType::I16 | GpuType::U16 => 16,
            _ => 32,
        };
        Ok(CastVariant {
            from: CastKind::of(from)?,
            to: CastKind::of(to)?,
            out_bits,
            out_signed: matches!(to, GpuType::I8 | GpuType::I16 | GpuType::I32),
            out_bool: to == GpuType::Bool,
        })
    }

    pub fn prelude(&self, p: &mut Prelude) {
        p.u32("IN_KIND", self.from as u32).u32("OUT_KIND", self.to as u32);
        p.u32("OUT_BITS", self.out_bits).bool("OUT_SIGNED", self.out_signed).bool("OUT_BOOL", self.out_bool);
    }
}

gpu_params!(
    /// `shaders/elementwise/cast.wgsl` Params.
    CastParams { n: u32, pad0: u32, pad1: u32, pad2: u32 }
);

/// A dispatch casting `n` elements `bindings[0] → bindings[1]` (a copy when the types agree).
pub fn cast_kernel(from: GpuType, to: GpuType, n: usize) -> Result<GpuKernel, String> {
    if from == to {
        let elem = match to.bytes() {
            2 => ElemBits::B16,
            8 => ElemBits::B64,
            _ => ElemBits::B32,
        };
        return super::layout::copy_kernel(elem, &[n], &[1], 0, &[1], 0);
    }
    let v = CastVariant::try_new(from, to)?;
    let invocations = if to == GpuType::F16 { n.div_ceil(2) } else { n };
    Ok(GpuKernel::new(
        KernelKey::Cast(v),
        &CastParams { n: u32_of(n)?, pad0: 0, pad1: 0, pad2: 0 },
        grid_1d(invocations, 256),
    ))
}

pub fn lower_cast(l: &GpuLowering, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let k = cast_kernel(l.ty(x)?, l.ty(y)?, y.shape.iter().product())?;
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

// ---- Where -----------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WhereVariant {
    pub elem: ElemBits,
}

impl WhereVariant {
    pub fn prelude(&self, p: &mut Prelude) {
        p.alias("E", self.elem.wgsl());
    }
}

gpu_params!(
    /// `shaders/elementwise/where.wgsl` Params.
    WhereParams {
        n: u32,
        rank: u32,
        pad0: u32,
        pad1: u32,
        shape: super::Dims8,
        c_strides: super::Dims8,
        a_strides: super::Dims8,
        b_strides: super::Dims8,
    }
);

pub fn lower_where(l: &GpuLowering, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
    let (c, a, b, y) = (cx.input(0)?, cx.input(1)?, cx.input(2)?, cx.output(0)?);
    if c.dtype != DType::Bool {
        return Err("Where needs a bool condition".into());
    }
    let n: usize = y.shape.iter().product();
    let p = WhereParams {
        n: u32_of(n)?,
        rank: y.shape.len() as u32,
        pad0: 0,
        pad1: 0,
        shape: dims8(&y.shape)?,
        c_strides: dims8(&broadcast_strides(&c.shape, &y.shape))?,
        a_strides: dims8(&broadcast_strides(&a.shape, &y.shape))?,
        b_strides: dims8(&broadcast_strides(&b.shape, &y.shape))?,
    };
    let k = GpuKernel::new(KernelKey::Where(WhereVariant { elem: l.elem(y)? }), &p, grid_1d(n, 256));
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Input(1), Ref::Input(2), Ref::Output(0)]))
}

/// Variants for validation: every op code on every type it can run on.
pub fn variants() -> Vec<KernelKey> {
    let mut v = Vec::new();
    for op in UnaryOp::ALL {
        for t in GpuType::ALL {
            let ok = match op {
                UnaryOp::IsNaN | UnaryOp::IsInf | UnaryOp::Not => true,
                _ if t == GpuType::F64 => exact_unary(op),
                _ => t.is_float() || exact_unary(op),
            };
            if ok {
                v.push(match op {
                    UnaryOp::IsNaN | UnaryOp::IsInf | UnaryOp::Not => KernelKey::Predicate(UnaryVariant { op, t }),
                    _ => KernelKey::Unary(UnaryVariant { op, t }),
                });
            }
        }
    }
    for op in BinaryOp::ALL {
        for bcast in [false, true] {
            for t in GpuType::ALL {
                let int_only = op.is_bitwise() || op == BinaryOp::BitShiftLeft || op == BinaryOp::BitShiftRight;
                if (int_only && t.is_float()) || (t == GpuType::F64 && op == BinaryOp::Pow) {
                    continue;
                }
                let b = BinaryVariant { op, t, bcast };
                v.push(if op.is_comparison() || op.is_logic() { KernelKey::Compare(b) } else { KernelKey::Binary(b) });
            }
        }
    }
    for from in GpuType::ALL {
        for to in GpuType::ALL {
            if let Ok(c) = CastVariant::try_new(from, to) {
                v.push(KernelKey::Cast(c));
            }
        }
    }
    for elem in [ElemBits::B16, ElemBits::B32, ElemBits::B64] {
        v.push(KernelKey::Where(WhereVariant { elem }));
    }
    v
}

/// Pow whose exponent has another type than the base (as the CPU reference computes it): a
/// float base takes the exponent cast to its type; an integer base is raised in the
/// exponent's float type and the result cast back (truncated) to the base's type.
fn lower_mixed_pow(l: &GpuLowering, a: &Operand, b: &Operand, y: &Operand) -> Result<Lowered<GpuKernel>, String> {
    let (ta, tb) = (l.ty(a)?, l.ty(b)?);
    let (na, nb, ny) = (a.shape.iter().product(), b.shape.iter().product(), y.shape.iter().product::<usize>());
    let bytes = |t: DType, n: usize| l.storage_bytes(t, n);
    let d = |kernel, bindings| LoweredDispatch { kernel, bindings };
    if ta.is_float() {
        let dispatches = vec![
            d(cast_kernel(tb, ta, nb)?, vec![Ref::Input(1), Ref::Scratch(0)]),
            d(
                binary_kernel(BinaryOp::Pow, ta, &a.shape, &b.shape, &y.shape)?,
                vec![Ref::Input(0), Ref::Scratch(0), Ref::Output(0)],
            ),
        ];
        return Ok(Lowered { dispatches, scratch: vec![bytes(a.dtype, nb)], consts: vec![] });
    }
    if !tb.is_float() {
        return Err(format!("Pow of {} and {} has no GPU kernel", a.dtype, b.dtype));
    }
    let dispatches = vec![
        d(cast_kernel(ta, tb, na)?, vec![Ref::Input(0), Ref::Scratch(0)]),
        d(
            binary_kernel(BinaryOp::Pow, tb, &a.shape, &b.shape, &y.shape)?,
            vec![Ref::Scratch(0), Ref::Input(1), Ref::Scratch(1)],
        ),
        d(cast_kernel(tb, ta, ny)?, vec![Ref::Scratch(1), Ref::Output(0)]),
    ];
    Ok(Lowered { dispatches, scratch: vec![bytes(b.dtype, na), bytes(b.dtype, ny)], consts: vec![] })
}
