//! Quantization kernels (`shaders/quant/`): QuantizeLinear and DequantizeLinear (per tensor,
//! per axis and blocked scales; integer, float8 and float4 quantized types; `precision` and
//! `saturate`), DynamicQuantizeLinear (a one-workgroup range pass, then QuantizeLinear's
//! kernel), and the integer products MatMulInteger, QLinearMatMul, ConvInteger and
//! QLinearConv (int32 accumulation; requantization through the exact codec library). Results
//! match the CPU reference bit for bit.

use super::convert::{codec_prelude, Class, Layout, Repr};
use super::{grid_1d, u32_of, GpuKernel, GpuLowering, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::quant::{int_range, is_float_quant, promote, DequantizeLinear, QuantizeLinear};
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Operand, Ref};
use crate::tensor::shape::{fmt_shape, norm_axis};
use crate::tensor::{DType, Tensor};

/// No rounding (`FMT_NONE` in the shaders).
const FMT_NONE: u32 = u32::MAX;

/// The codec format a value is rounded to by the reference's `round_to` (none for doubles
/// and non-float types, which it leaves unchanged).
fn round_fmt(d: DType) -> u32 {
    match d {
        DType::F32 => super::convert::Fmt::F32 as u32,
        DType::F16 => super::convert::Fmt::F16 as u32,
        DType::BF16 => super::convert::Fmt::BF16 as u32,
        _ => FMT_NONE,
    }
}

/// How scales and zero points index a tensor: element `i` uses
/// `(i / (inner * axis_len)) * o_stride + ((i / inner) % axis_len / block) * a_stride
/// + (i % inner) * i_stride` (the same layouts as `ops::quant::param_index`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParamLayout {
    pub inner: u32,
    pub axis_len: u32,
    pub block: u32,
    pub o_stride: u32,
    pub a_stride: u32,
    pub i_stride: u32,
}

impl ParamLayout {
    pub fn of(x: &[usize], p: &[usize], axis: i64, block: usize) -> Result<ParamLayout, String> {
        let per_tensor = ParamLayout { inner: 1, axis_len: 1, block: 1, o_stride: 0, a_stride: 0, i_stride: 0 };
        if p.iter().product::<usize>() == 1 {
            return Ok(per_tensor);
        }
        if x.is_empty() {
            return Err(format!("a scalar input needs a one-element scale, got shape {}", fmt_shape(p)));
        }
        let ax = norm_axis(axis, x.len())?;
        let inner: usize = x[ax + 1..].iter().product();
        if block == 0 {
            if p.len() != 1 || p[0] != x[ax] {
                return Err(format!("a per-axis scale must be 1-D of length {}, got shape {}", x[ax], fmt_shape(p)));
            }
            return Ok(ParamLayout {
                inner: u32_of(inner)?,
                axis_len: u32_of(x[ax])?,
                block: 1,
                o_stride: 0,
                a_stride: 1,
                i_stride: 0,
            });
        }
        let nb = x[ax].div_ceil(block);
        if p.len() != x.len() || (0..x.len()).any(|d| d != ax && p[d] != x[d]) || p[ax] != nb {
            return Err(format!(
                "a blocked scale for input {} with block_size {block} on axis {ax} must have {nb} at axis {ax}, got {}",
                fmt_shape(x),
                fmt_shape(p)
            ));
        }
        Ok(ParamLayout {
            inner: u32_of(inner)?,
            axis_len: u32_of(x[ax])?,
            block: u32_of(block)?,
            o_stride: u32_of(nb * inner)?,
            a_stride: u32_of(inner)?,
            i_stride: 1,
        })
    }

    /// The parameter index of element `i` (as the shaders compute it).
    pub fn index(&self, i: usize) -> usize {
        let (inner, len) = (self.inner as usize, self.axis_len as usize);
        (i / (inner * len)) * self.o_stride as usize
            + ((i / inner) % len / self.block as usize) * self.a_stride as usize
            + (i % inner) * self.i_stride as usize
    }
}

/// A zero point's binding: the input if given (its shape must match the scale's), else a
/// one-element zero constant of `dtype`. Returns the binding and whether it is a scalar.
fn zero_point(
    cx: &LowerCx,
    i: usize,
    dtype: DType,
    scale: &Operand,
    consts: &mut Vec<Tensor>,
) -> Result<(Ref, bool), String> {
    match cx.inputs.get(i).and_then(|o| o.as_ref()) {
        Some(z) => {
            if z.dtype != dtype {
                return Err(format!("zero point is {}, expected {dtype}", z.dtype));
            }
            let (zn, sn) = (z.shape.iter().product::<usize>(), scale.shape.iter().product::<usize>());
            if z.shape != scale.shape && !(zn == 1 && sn == 1) {
                return Err(format!(
                    "zero point shape {} differs from the scale's {}",
                    fmt_shape(&z.shape),
                    fmt_shape(&scale.shape)
                ));
            }
            Ok((Ref::Input(i), zn == 1))
        }
        None => {
            consts.push(Tensor::zeros(dtype, &[1])?);
            Ok((Ref::Const(consts.len() - 1), true))
        }
    }
}

// ---- QuantizeLinear --------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QuantizeVariant {
    pub x: (Layout, Class),
    pub s: (Layout, Class),
    /// SInt, UInt or Float (one word per element, like the zero point).
    pub y: Class,
}

const QUANT_INPUTS: [(Layout, Class); 4] = [
    (Layout::Word, Class::Float),
    (Layout::Half, Class::Float),
    (Layout::Pair, Class::Float),
    (Layout::Word, Class::SInt),
];

impl KernelVariant for QuantizeVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::QUANT_QUANTIZE
    }
    fn prelude(&self, p: &mut Prelude) {
        codec_prelude(p);
        p.u32("X_LAYOUT", self.x.0 as u32).u32("X_CLASS", self.x.1 as u32);
        p.u32("S_LAYOUT", self.s.0 as u32).u32("S_CLASS", self.s.1 as u32);
        p.u32("Y_CLASS", self.y as u32);
    }
    fn storage_bindings(&self) -> u32 {
        4
    }
    fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for x in QUANT_INPUTS {
            for s in QUANT_INPUTS.into_iter().chain([(Layout::Word, Class::E8M0)]) {
                for y in [Class::SInt, Class::UInt, Class::Float] {
                    v.push(QuantizeVariant { x, s, y });
                }
            }
        }
        v
    }
}

gpu_params!(
    /// `shaders/quant/quantize.wgsl` Params.
    QuantizeParams {
        n: u32,
        x_fmt: u32,
        s_fmt: u32,
        y_fmt: u32,
        pre_fmt: u32,
        prec_fmt: u32,
        saturate: u32,
        z_scalar: u32,
        lo: i32,
        hi: i32,
        inner: u32,
        axis_len: u32,
        block: u32,
        o_stride: u32,
        a_stride: u32,
        i_stride: u32,
    }
);

/// The variant and params quantizing `n` elements of `x` with scales `s` into `y`.
#[allow(clippy::too_many_arguments)]
fn quantize_kernel(
    x: Repr,
    s: Repr,
    y: DType,
    yr: Repr,
    n: usize,
    pre_fmt: u32,
    prec_fmt: u32,
    saturate: bool,
    z_scalar: bool,
    pl: ParamLayout,
) -> Result<GpuKernel, String> {
    let class = |r: Repr| (r.layout, r.in_class());
    if !QUANT_INPUTS.contains(&class(x)) {
        return Err(format!("QuantizeLinear of this input type ({:?}) has no GPU kernel", class(x)));
    }
    if !QUANT_INPUTS.contains(&class(s)) && class(s) != (Layout::Word, Class::E8M0) {
        return Err(format!("QuantizeLinear with this scale type ({:?}) has no GPU kernel", class(s)));
    }
    let (lo, hi, yc) = match int_range(y) {
        Some((lo, hi)) => (lo as i32, hi as i32, if lo < 0 { Class::SInt } else { Class::UInt }),
        None if is_float_quant(y) => (0, 0, Class::Float),
        None => return Err(format!("cannot quantize to {y}")),
    };
    let p = QuantizeParams {
        n: u32_of(n)?,
        x_fmt: x.in_fmt as u32,
        s_fmt: s.in_fmt as u32,
        y_fmt: yr.out_fmt as u32,
        pre_fmt,
        prec_fmt,
        saturate: saturate as u32,
        z_scalar: z_scalar as u32,
        lo,
        hi,
        inner: pl.inner,
        axis_len: pl.axis_len,
        block: pl.block,
        o_stride: pl.o_stride,
        a_stride: pl.a_stride,
        i_stride: pl.i_stride,
    };
    let v = QuantizeVariant { x: class(x), s: class(s), y: yc };
    Ok(GpuKernel::new(KernelKey::Family(super::FamilyKey::QuantQuantize(v)), &p, grid_1d(n, 256)))
}

pub fn lower_quantize(l: &GpuLowering, cx: &LowerCx, q: &QuantizeLinear) -> Result<Lowered<GpuKernel>, String> {
    let (x, s, y) = (cx.input(0)?, cx.input(1)?, cx.output(0)?);
    let n: usize = x.shape.iter().product();
    let (xr, sr, yr) = (Repr::of(x.dtype, l)?, Repr::of(s.dtype, l)?, Repr::of(y.dtype, l)?);
    let pl = ParamLayout::of(&x.shape, &s.shape, q.axis, q.block_size)?;
    let mut consts = Vec::new();
    let (z, z_scalar) = zero_point(cx, 2, y.dtype, s, &mut consts)?;
    let (pre_fmt, prec_fmt) = match q.precision {
        Some(p) => (round_fmt(p), round_fmt(p)),
        None => (FMT_NONE, round_fmt(promote(x.dtype, s.dtype))),
    };
    if n == 0 {
        return Ok(Lowered::empty());
    }
    let k = quantize_kernel(xr, sr, y.dtype, yr, n, pre_fmt, prec_fmt, q.saturate, z_scalar, pl)?;
    Ok(Lowered {
        dispatches: vec![LoweredDispatch {
            kernel: k,
            bindings: vec![Ref::Input(0), Ref::Input(1), z, Ref::Output(0)],
        }],
        scratch: vec![],
        consts,
    })
}

// ---- DequantizeLinear ------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DequantizeVariant {
    /// SInt, UInt or Float, one word per element (like the zero point).
    pub x: Class,
    pub s: (Layout, Class),
    pub y: Layout,
}

const DEQUANT_SCALES: [(Layout, Class); 4] = [
    (Layout::Word, Class::Float),
    (Layout::Half, Class::Float),
    (Layout::Pair, Class::Float),
    (Layout::Word, Class::E8M0),
];

impl KernelVariant for DequantizeVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::QUANT_DEQUANTIZE
    }
    fn prelude(&self, p: &mut Prelude) {
        codec_prelude(p);
        p.u32("X_CLASS", self.x as u32);
        p.u32("S_LAYOUT", self.s.0 as u32).u32("S_CLASS", self.s.1 as u32);
        p.u32("Y_LAYOUT", self.y as u32);
    }
    fn storage_bindings(&self) -> u32 {
        4
    }
    fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for x in [Class::SInt, Class::UInt, Class::Float] {
            for s in DEQUANT_SCALES {
                for y in Layout::ALL {
                    v.push(DequantizeVariant { x, s, y });
                }
            }
        }
        v
    }
}

gpu_params!(
    /// `shaders/quant/dequantize.wgsl` Params.
    DequantizeParams {
        n: u32,
        x_fmt: u32,
        s_fmt: u32,
        y_fmt: u32,
        y_shift: u32,
        z_scalar: u32,
        pad0: u32,
        pad1: u32,
        inner: u32,
        axis_len: u32,
        block: u32,
        o_stride: u32,
        a_stride: u32,
        i_stride: u32,
        pad2: u32,
        pad3: u32,
    }
);

pub fn lower_dequantize(l: &GpuLowering, cx: &LowerCx, d: &DequantizeLinear) -> Result<Lowered<GpuKernel>, String> {
    let (x, s, y) = (cx.input(0)?, cx.input(1)?, cx.output(0)?);
    let n: usize = x.shape.iter().product();
    let (xr, sr, yr) = (Repr::of(x.dtype, l)?, Repr::of(s.dtype, l)?, Repr::of(y.dtype, l)?);
    let xc = match (xr.layout, xr.in_class()) {
        (Layout::Word, c @ (Class::SInt | Class::UInt | Class::Float)) if x.dtype != DType::Bool => c,
        _ => return Err(format!("DequantizeLinear of {} has no GPU kernel", x.dtype)),
    };
    let sc = (sr.layout, sr.in_class());
    if !DEQUANT_SCALES.contains(&sc) {
        return Err(format!("DequantizeLinear with a {} scale has no GPU kernel", s.dtype));
    }
    if yr.class != Class::Float || !matches!(y.dtype, DType::F32 | DType::F16 | DType::BF16 | DType::F64) {
        return Err(format!("DequantizeLinear to {} has no GPU kernel", y.dtype));
    }
    let pl = ParamLayout::of(&x.shape, &s.shape, d.axis, d.block_size)?;
    let mut consts = Vec::new();
    let (z, z_scalar) = zero_point(cx, 2, x.dtype, s, &mut consts)?;
    if n == 0 {
        return Ok(Lowered::empty());
    }
    let p = DequantizeParams {
        n: u32_of(n)?,
        x_fmt: xr.in_fmt as u32,
        s_fmt: sr.in_fmt as u32,
        y_fmt: yr.out_fmt as u32,
        y_shift: yr.out_shift,
        z_scalar: z_scalar as u32,
        inner: pl.inner,
        axis_len: pl.axis_len,
        block: pl.block,
        o_stride: pl.o_stride,
        a_stride: pl.a_stride,
        i_stride: pl.i_stride,
        ..Default::default()
    };
    let v = DequantizeVariant { x: xc, s: sc, y: yr.layout };
    let k =
        GpuKernel::new(KernelKey::Family(super::FamilyKey::QuantDequantize(v)), &p, grid_1d(yr.invocations(n), 256));
    Ok(Lowered {
        dispatches: vec![LoweredDispatch {
            kernel: k,
            bindings: vec![Ref::Input(0), Ref::Input(1), z, Ref::Output(0)],
        }],
        scratch: vec![],
        consts,
    })
}

// ---- DynamicQuantizeLinear -------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DynamicRangeVariant;

impl KernelVariant for DynamicRangeVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::QUANT_DYNAMIC_RANGE
    }
    fn prelude(&self, p: &mut Prelude) {
        codec_prelude(p);
    }
    fn storage_bindings(&self) -> u32 {
        3
    }
    fn all() -> Vec<Self> {
        vec![DynamicRangeVariant]
    }
}

gpu_params!(
    /// `shaders/quant/dynamic_range.wgsl` Params.
    DynamicRangeParams { n: u32, pad0: u32, pad1: u32, pad2: u32 }
);

pub fn lower_dynamic_quantize(l: &GpuLowering, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    if x.dtype != DType::F32 {
        return Err(format!("DynamicQuantizeLinear of {} has no GPU kernel", x.dtype));
    }
    let n: usize = x.shape.iter().product();
    let mut scratch = Vec::new();
    // The scale and zero point go to their outputs, or to scratch words when nothing reads them.
    let mut out_or_scratch = |i: usize| match cx.outputs.get(i).and_then(|o| o.as_ref()) {
        Some(_) => Ref::Output(i),
        None => {
            scratch.push(4);
            Ref::Scratch(scratch.len() - 1)
        }
    };
    let (s, z) = (out_or_scratch(1), out_or_scratch(2));
    let range = GpuKernel::new(
        KernelKey::Family(super::FamilyKey::QuantDynamicRange(DynamicRangeVariant)),
        &DynamicRangeParams { n: u32_of(n)?, pad0: 0, pad1: 0, pad2: 0 },
        [1, 1, 1],
    );
    let mut dispatches = vec![LoweredDispatch { kernel: range, bindings: vec![Ref::Input(0), s, z] }];
    if cx.outputs.first().and_then(|o| o.as_ref()).is_some() && n > 0 {
        let f32r = Repr::of(DType::F32, l)?;
        let pl = ParamLayout { inner: 1, axis_len: 1, block: 1, ..Default::default() };
        let k = quantize_kernel(
            f32r,
            f32r,
            DType::U8,
            Repr::of(DType::U8, l)?,
            n,
            FMT_NONE,
            round_fmt(DType::F32),
            true,
            true,
            pl,
        )?;
        dispatches.push(LoweredDispatch { kernel: k, bindings: vec![Ref::Input(0), s, z, Ref::Output(0)] });
    }
    Ok(Lowered { dispatches, scratch, consts: vec![] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::kernels::tests::check;
    use crate::backend::wgpu::kernels::FamilyKey;
    use crate::ops::quant::param_index;

    #[test]
    fn params_match() {
        let v = QuantizeVariant { x: (Layout::Half, Class::Float), s: (Layout::Word, Class::Float), y: Class::SInt };
        check::<QuantizeParams>(KernelKey::Family(FamilyKey::QuantQuantize(v)));
        let v = DequantizeVariant { x: Class::Float, s: (Layout::Word, Class::E8M0), y: Layout::Half };
        check::<DequantizeParams>(KernelKey::Family(FamilyKey::QuantDequantize(v)));
        check::<DynamicRangeParams>(KernelKey::Family(FamilyKey::QuantDynamicRange(DynamicRangeVariant)));
    }

    #[test]
    fn param_layouts_match_the_reference() {
        let cases: [(&[usize], &[usize], i64, usize); 7] = [
            (&[2, 3], &[], 1, 0),
            (&[2, 3], &[3], 1, 0),
            (&[2, 3], &[2], 0, 0),
            (&[2, 3], &[2, 2], 1, 2),
            (&[1, 4, 3, 2], &[1, 2, 3, 2], 1, 2),
            (&[3, 5, 2], &[3, 2, 2], -2, 3),
            (&[4, 3], &[2, 3], 0, 2),
        ];
        for (x, p, axis, block) in cases {
            let want = param_index(x, p, axis, block).unwrap();
            let pl = ParamLayout::of(x, p, axis, block).unwrap();
            let got: Vec<usize> = (0..want.len()).map(|i| pl.index(i)).collect();
            assert_eq!(got, want, "{x:?} {p:?} axis {axis} block {block}");
        }
        assert!(ParamLayout::of(&[2, 3], &[2], 1, 0).is_err());
        assert!(ParamLayout::of(&[2, 3], &[2, 3], 1, 2).is_err());
    }
}
