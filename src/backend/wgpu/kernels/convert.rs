//! Type conversion kernels (`shaders/convert/`): Cast and CastLike between every pair of GPU
//! layouts, the narrow types (float8, float4, E8M0, int4/int2) included, computed exactly in
//! integer arithmetic by the codec library (`types/codec.wgsl`, also used by the
//! quantization kernels), and BitCast. [`Repr`] describes how a dtype's elements sit in GPU
//! memory for these kernels.

use super::{grid_1d, u32_of, ElemBits, GpuKernel, GpuLowering, GpuType, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::backend::wgpu::types::NarrowType;
use crate::gpu_params;
use crate::ir::Op;
use crate::plan::{LowerCx, Lowered, Ref};
use crate::tensor::minifloat::{CastMode, E8M0Round};
use crate::tensor::DType;

/// How elements are laid out in a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// One u32 word per element.
    Word,
    /// Two 16-bit codes per u32 word (float16).
    Half,
    /// Two u32 words per element (64-bit types).
    Pair,
}

impl Layout {
    pub const ALL: [Layout; 3] = [Layout::Word, Layout::Half, Layout::Pair];
}

/// What the bits of an element mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// A float code of the format [`Repr::fmt`].
    Float,
    SInt,
    UInt,
    E8M0,
    /// 0/1 (as an input, bool reads as [`Class::UInt`]).
    Bool,
}

impl Class {
    pub const ALL: [Class; 5] = [Class::Float, Class::SInt, Class::UInt, Class::E8M0, Class::Bool];
}

/// Float formats of the codec library (`CV_FMT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fmt {
    F32 = 0,
    F16 = 1,
    BF16 = 2,
    F64 = 3,
    E4M3FN = 4,
    E4M3FNUZ = 5,
    E5M2 = 6,
    E5M2FNUZ = 7,
    E2M1 = 8,
}

/// A dtype as the conversion kernels see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    pub layout: Layout,
    pub class: Class,
    /// The float format to decode (a bfloat16 input decodes as the f32 word it is stored as).
    pub in_fmt: Fmt,
    /// The float format to encode.
    pub out_fmt: Fmt,
    /// Width of an integer stored in a word.
    pub bits: u32,
    /// Left shift of an encoded word code (bfloat16: stored in the high half of an f32).
    pub out_shift: u32,
    /// Whether Cast's `saturate` applies (float8 and E8M0 outputs).
    pub saturating: bool,
}

impl Repr {
    pub fn of(d: DType, l: &GpuLowering) -> Result<Repr, String> {
        let float = |layout, fmt| Repr {
            layout,
            class: Class::Float,
            in_fmt: fmt,
            out_fmt: fmt,
            bits: 32,
            out_shift: 0,
            saturating: false,
        };
        let int = |class, bits| Repr {
            layout: Layout::Word,
            class,
            in_fmt: Fmt::F32,
            out_fmt: Fmt::F32,
            bits,
            out_shift: 0,
            saturating: false,
        };
        let f8 = |fmt| Repr { saturating: true, ..float(Layout::Word, fmt) };
        if let Some(n) = NarrowType::of(d) {
            return Ok(match n {
                NarrowType::F8E4M3FN => f8(Fmt::E4M3FN),
                NarrowType::F8E4M3FNUZ => f8(Fmt::E4M3FNUZ),
                NarrowType::F8E5M2 => f8(Fmt::E5M2),
                NarrowType::F8E5M2FNUZ => f8(Fmt::E5M2FNUZ),
                NarrowType::F4E2M1 => float(Layout::Word, Fmt::E2M1),
                NarrowType::F8E8M0 => Repr { class: Class::E8M0, saturating: true, ..int(Class::E8M0, 8) },
                NarrowType::I4 => int(Class::SInt, 4),
                NarrowType::U4 => int(Class::UInt, 4),
                NarrowType::I2 => int(Class::SInt, 2),
                NarrowType::U2 => int(Class::UInt, 2),
            });
        }
        Ok(match GpuType::of(d, l.caps)? {
            GpuType::F32 => float(Layout::Word, Fmt::F32),
            GpuType::BF16 => Repr { out_fmt: Fmt::BF16, out_shift: 16, ..float(Layout::Word, Fmt::F32) },
            GpuType::F16 => float(Layout::Half, Fmt::F16),
            GpuType::F64 => float(Layout::Pair, Fmt::F64),
            GpuType::I8 => int(Class::SInt, 8),
            GpuType::I16 => int(Class::SInt, 16),
            GpuType::I32 => int(Class::SInt, 32),
            GpuType::U8 => int(Class::UInt, 8),
            GpuType::U16 => int(Class::UInt, 16),
            GpuType::U32 => int(Class::UInt, 32),
            GpuType::Bool => int(Class::Bool, 1),
            GpuType::I64 => Repr { layout: Layout::Pair, ..int(Class::SInt, 64) },
            GpuType::U64 => Repr { layout: Layout::Pair, ..int(Class::UInt, 64) },
        })
    }

    /// The class this dtype is read as (bool reads as an unsigned integer).
    pub fn in_class(&self) -> Class {
        if self.class == Class::Bool {
            Class::UInt
        } else {
            self.class
        }
    }

    /// Invocations of a kernel writing `n` elements in this layout (two per word for Half).
    pub fn invocations(&self, n: usize) -> usize {
        if self.layout == Layout::Half {
            n.div_ceil(2)
        } else {
            n
        }
    }
}

/// Adds the codec library and the `LAYOUT_*` / `CLASS_*` codes to a prelude.
pub fn codec_prelude(p: &mut Prelude) {
    p.codes("LAYOUT", &Layout::ALL, |x| x as u32).codes("CLASS", &Class::ALL, |x| x as u32);
    p.lib(&shaders::CONVERT_CODEC);
}

// ---- Cast ------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CastVariant {
    pub in_layout: Layout,
    pub in_class: Class,
    pub out_layout: Layout,
    pub out_class: Class,
}

impl KernelVariant for CastVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::CONVERT_CAST
    }
    fn prelude(&self, p: &mut Prelude) {
        codec_prelude(p);
        p.u32("IN_LAYOUT", self.in_layout as u32).u32("IN_CLASS", self.in_class as u32);
        p.u32("OUT_LAYOUT", self.out_layout as u32).u32("OUT_CLASS", self.out_class as u32);
    }
    fn storage_bindings(&self) -> u32 {
        2
    }
    fn all() -> Vec<Self> {
        let ins = [
            (Layout::Word, Class::Float),
            (Layout::Word, Class::SInt),
            (Layout::Word, Class::UInt),
            (Layout::Word, Class::E8M0),
            (Layout::Half, Class::Float),
            (Layout::Pair, Class::Float),
            (Layout::Pair, Class::SInt),
            (Layout::Pair, Class::UInt),
        ];
        let outs = [
            (Layout::Word, Class::Float),
            (Layout::Word, Class::SInt),
            (Layout::Word, Class::UInt),
            (Layout::Word, Class::E8M0),
            (Layout::Word, Class::Bool),
            (Layout::Half, Class::Float),
            (Layout::Pair, Class::Float),
            (Layout::Pair, Class::SInt),
            (Layout::Pair, Class::UInt),
        ];
        let mut v = Vec::new();
        for (in_layout, in_class) in ins {
            for (out_layout, out_class) in outs {
                v.push(CastVariant { in_layout, in_class, out_layout, out_class });
            }
        }
        v
    }
}

gpu_params!(
    /// `shaders/convert/cast.wgsl` Params.
    CastParams {
        n: u32,
        in_fmt: u32,
        out_fmt: u32,
        out_bits: u32,
        out_shift: u32,
        saturate: u32,
        round: u32,
        pad0: u32,
    }
);

fn round_code(r: E8M0Round) -> u32 {
    match r {
        E8M0Round::Up => 0,
        E8M0Round::Down => 1,
        E8M0Round::Nearest => 2,
    }
}

/// A dispatch casting `n` elements of `from` (binding 0) into `to` (binding 1).
pub fn cast_kernel(from: Repr, to: Repr, n: usize, mode: CastMode) -> Result<GpuKernel, String> {
    if from.layout == Layout::Pair || to.layout == Layout::Pair {
        // 64-bit elements are indexed by word
        u32_of(2 * n)?;
    }
    let v =
        CastVariant { in_layout: from.layout, in_class: from.in_class(), out_layout: to.layout, out_class: to.class };
    let p = CastParams {
        n: u32_of(n)?,
        in_fmt: from.in_fmt as u32,
        out_fmt: to.out_fmt as u32,
        out_bits: to.bits.min(32),
        out_shift: to.out_shift,
        saturate: (to.saturating && mode.saturate) as u32,
        round: round_code(mode.round),
        pad0: 0,
    };
    Ok(GpuKernel::new(super::KernelKey::Family(super::FamilyKey::ConvertCast(v)), &p, grid_1d(to.invocations(n), 256)))
}

/// Cast and CastLike.
pub fn lower_cast(l: &GpuLowering, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
    let mode = match &cx.node.op {
        Op::Cast(c) => c.mode,
        Op::CastLike(c) => c.mode,
        op => return Err(format!("{} is not a cast", op.kind())),
    };
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let n: usize = y.shape.iter().product();
    let (from, to) = (Repr::of(x.dtype, l)?, Repr::of(y.dtype, l)?);
    if n == 0 {
        return Ok(Lowered::empty());
    }
    if x.dtype == y.dtype {
        let k = super::layout::copy_kernel(l.elem(y)?, &[n], &[1], 0, &[1], 0)?;
        return Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]));
    }
    Ok(Lowered::single(cast_kernel(from, to, n, mode)?, vec![Ref::Input(0), Ref::Output(0)]))
}

// ---- BitCast ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BitCastVariant {
    pub in_half: bool,
    pub out_half: bool,
}

impl KernelVariant for BitCastVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::CONVERT_BITCAST
    }
    fn prelude(&self, p: &mut Prelude) {
        p.bool("IN_HALF", self.in_half).bool("OUT_HALF", self.out_half);
    }
    fn storage_bindings(&self) -> u32 {
        2
    }
    fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for in_half in [false, true] {
            for out_half in [false, true] {
                v.push(BitCastVariant { in_half, out_half });
            }
        }
        v
    }
}

gpu_params!(
    /// `shaders/convert/bitcast.wgsl` Params.
    BitCastParams { n: u32, bits: u32, in_shift: u32, out_shift: u32, out_signed: u32, pad0: u32, pad1: u32, pad2: u32 }
);

pub fn lower_bitcast(l: &GpuLowering, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let n: usize = y.shape.iter().product();
    let bits = x.dtype.bits();
    if bits != y.dtype.bits() || bits == 0 {
        return Err(format!("BitCast from {} to {} has no GPU kernel", x.dtype, y.dtype));
    }
    if y.dtype == DType::Bool && x.dtype != DType::Bool {
        return Err("BitCast to bool has no GPU kernel".into());
    }
    let (from, to) = (Repr::of(x.dtype, l)?, Repr::of(y.dtype, l)?);
    if n == 0 {
        return Ok(Lowered::empty());
    }
    if bits > 32 {
        if bits != 64 || from.layout != Layout::Pair || to.layout != Layout::Pair {
            return Err(format!("BitCast from {} to {} has no GPU kernel", x.dtype, y.dtype));
        }
        let k = super::layout::copy_kernel(ElemBits::B64, &[n], &[1], 0, &[1], 0)?;
        return Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]));
    }
    // A bfloat16 input is stored as the f32 word whose high half it is.
    let in_shift = if from.out_shift == 16 { 16 } else { 0 };
    let p = BitCastParams {
        n: u32_of(n)?,
        bits: bits as u32,
        in_shift,
        out_shift: to.out_shift,
        out_signed: (to.class == Class::SInt) as u32,
        pad0: 0,
        pad1: 0,
        pad2: 0,
    };
    let v = BitCastVariant { in_half: from.layout == Layout::Half, out_half: to.layout == Layout::Half };
    let k = GpuKernel::new(KernelKey::Family(super::FamilyKey::ConvertBitCast(v)), &p, grid_1d(to.invocations(n), 256));
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::kernels::tests::check;
    use crate::backend::wgpu::kernels::FamilyKey;

    #[test]
    fn params_match() {
        let v = CastVariant {
            in_layout: Layout::Half,
            in_class: Class::Float,
            out_layout: Layout::Word,
            out_class: Class::E8M0,
        };
        check::<CastParams>(KernelKey::Family(FamilyKey::ConvertCast(v)));
        let v = BitCastVariant { in_half: true, out_half: false };
        check::<BitCastParams>(KernelKey::Family(FamilyKey::ConvertBitCast(v)));
    }
}
