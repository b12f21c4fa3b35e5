//! Quantization kernels (`shaders/quant/`): QuantizeLinear and DequantizeLinear (per tensor,
//! per axis and blocked scales; integer, float8 and float4 quantized types; `precision` and
//! `saturate`), DynamicQuantizeLinear (a one-workgroup range pass, then QuantizeLinear's
//! kernel), and the integer products MatMulInteger, QLinearMatMul, ConvInteger and
//! QLinearConv (int32 accumulation; requantization through the exact codec library). Results
//! match the CPU reference bit for bit. The products run on the packed int8 kernels of
//! `quant_dp4` (operands four per u32, `dot4I8Packed`, convolutions as implicit GEMM); the
//! one-invocation-per-output kernels `matmul_int.wgsl` / `conv_int.wgsl` remain for shapes the
//! packed product refuses (an empty K, a grid over 65535) and depthwise convolutions other
//! than 2-D, which run on `conv_int_dw.wgsl` (four output columns per invocation, the window
//! looped directly).

use super::convert::{codec_prelude, Class, Layout, Repr};
use super::quant_dp4::{self as dp4, Dp4Params, Epi, EpiRefs, MatSrc};
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
    if x.layout == Layout::Pair {
        u32_of(2 * n)?;
    }
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
    if yr.layout == Layout::Pair {
        u32_of(2 * n)?;
    }
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

/// DynamicQuantizeLinear's range pass (`dynamic_range.wgsl`), or with `quantize` the whole op
/// in one workgroup (`dynamic_quantize.wgsl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DynamicRangeVariant {
    pub quantize: bool,
}

impl KernelVariant for DynamicRangeVariant {
    fn file(&self) -> &'static ShaderFile {
        if self.quantize {
            &shaders::QUANT_DYNAMIC_QUANTIZE
        } else {
            &shaders::QUANT_DYNAMIC_RANGE
        }
    }
    fn prelude(&self, p: &mut Prelude) {
        codec_prelude(p);
        p.lib(&shaders::QUANT_DYNAMIC_RANGE_LIB);
    }
    fn storage_bindings(&self) -> u32 {
        if self.quantize {
            4
        } else {
            3
        }
    }
    fn all() -> Vec<Self> {
        vec![DynamicRangeVariant { quantize: false }, DynamicRangeVariant { quantize: true }]
    }
}

/// Elements up to which DynamicQuantizeLinear runs as one dispatch of one workgroup (range and
/// quantization), above which the range pass and QuantizeLinear's parallel kernel run.
const DQL_ONE_PASS: usize = 1 << 18;

gpu_params!(
    /// `shaders/quant/dynamic_range.wgsl` and `dynamic_quantize.wgsl` Params.
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
    let y = cx.outputs.first().and_then(|o| o.as_ref()).map(|_| Ref::Output(0));
    let dispatches = dynamic_quantize_dispatches(l, n, Ref::Input(0), y, s, z)?;
    Ok(Lowered { dispatches, scratch, consts: vec![] })
}

/// DynamicQuantizeLinear of `n` float32 values at `x`: the range pass writing the scale (f32
/// bits) to word 0 of `s` and the zero point to word 0 of `z`, then (when `y` is given) the
/// uint8 data, one word per element; up to `DQL_ONE_PASS` elements both in one dispatch.
pub fn dynamic_quantize_dispatches(
    l: &GpuLowering,
    n: usize,
    x: Ref,
    y: Option<Ref>,
    s: Ref,
    z: Ref,
) -> Result<Vec<LoweredDispatch<GpuKernel>>, String> {
    let params = DynamicRangeParams { n: u32_of(n)?, pad0: 0, pad1: 0, pad2: 0 };
    if let (Some(y), true) = (y, n <= DQL_ONE_PASS) {
        let v = DynamicRangeVariant { quantize: true };
        let k = GpuKernel::new(KernelKey::Family(super::FamilyKey::QuantDynamicRange(v)), &params, [1, 1, 1]);
        return Ok(vec![LoweredDispatch { kernel: k, bindings: vec![x, s, z, y] }]);
    }
    let v = DynamicRangeVariant { quantize: false };
    let range = GpuKernel::new(KernelKey::Family(super::FamilyKey::QuantDynamicRange(v)), &params, [1, 1, 1]);
    let mut dispatches = vec![LoweredDispatch { kernel: range, bindings: vec![x, s, z] }];
    if let (Some(y), true) = (y, n > 0) {
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
        dispatches.push(LoweredDispatch { kernel: k, bindings: vec![x, s, z, y] });
    }
    Ok(dispatches)
}

// ---- integer products -----------------------------------------------------------------

/// A one-element zero constant bound where a kernel's optional input is absent.
fn dummy(consts: &mut Vec<Tensor>, dtype: DType) -> Result<Ref, String> {
    consts.push(Tensor::zeros(dtype, &[1])?);
    Ok(Ref::Const(consts.len() - 1))
}

fn check_int8(o: &Operand, what: &str) -> Result<(), String> {
    if matches!(o.dtype, DType::I8 | DType::U8) {
        Ok(())
    } else {
        Err(format!("{what} must be int8 or uint8 on the GPU, got {}", o.dtype))
    }
}

/// An optional zero point of an int8/uint8 input: per tensor, or 1-D of `per_len` elements
/// (one per row, column or channel). Returns its binding and whether it is per element.
fn int_zero_point(
    cx: &LowerCx,
    i: usize,
    of: &Operand,
    per_len: Option<usize>,
    consts: &mut Vec<Tensor>,
    what: &str,
) -> Result<(Ref, bool), String> {
    match cx.inputs.get(i).and_then(|o| o.as_ref()) {
        None => Ok((dummy(consts, DType::I32)?, false)),
        Some(z) => {
            if z.dtype != of.dtype {
                return Err(format!("{what} is {}, but its input is {}", z.dtype, of.dtype));
            }
            let zn: usize = z.shape.iter().product();
            if zn == 1 {
                return Ok((Ref::Input(i), false));
            }
            match per_len {
                Some(len) if z.shape.len() == 1 && z.shape[0] == len => Ok((Ref::Input(i), true)),
                _ => Err(format!("{what} of shape {} has no GPU kernel", fmt_shape(&z.shape))),
            }
        }
    }
}

/// The scales' common layout, float format and `round_to` format.
fn scales(l: &GpuLowering, ss: &[&Operand]) -> Result<(Layout, u32, u32), String> {
    let d = ss[0].dtype;
    if ss.iter().any(|s| s.dtype != d) || !matches!(d, DType::F32 | DType::F16 | DType::BF16) {
        return Err(format!(
            "scales of {} have no GPU kernel",
            ss.iter().map(|s| s.dtype.name()).collect::<Vec<_>>().join("/")
        ));
    }
    let r = Repr::of(d, l)?;
    Ok((r.layout, r.in_fmt as u32, round_fmt(d)))
}

fn requant_range(d: DType) -> Result<(i32, i32), String> {
    match (d, int_range(d)) {
        (DType::I8 | DType::U8, Some((lo, hi))) => Ok((lo as i32, hi as i32)),
        _ => Err(format!("a {d} output has no GPU kernel")),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatMulIntVariant {
    pub requant: bool,
    /// The scales' layout (Word or Half).
    pub s_layout: Layout,
}

impl KernelVariant for MatMulIntVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::QUANT_MATMUL_INT
    }
    fn prelude(&self, p: &mut Prelude) {
        codec_prelude(p);
        p.lib(&shaders::QUANT_REQUANT_LIB);
        p.bool("REQUANT", self.requant).u32("S_LAYOUT", self.s_layout as u32);
    }
    fn storage_bindings(&self) -> u32 {
        9
    }
    fn all() -> Vec<Self> {
        vec![
            MatMulIntVariant { requant: false, s_layout: Layout::Word },
            MatMulIntVariant { requant: true, s_layout: Layout::Word },
            MatMulIntVariant { requant: true, s_layout: Layout::Half },
        ]
    }
}

gpu_params!(
    /// `shaders/quant/matmul_int.wgsl` Params.
    MatMulIntParams {
        n: u32,
        m: u32,
        k: u32,
        cols: u32,
        batch_rank: u32,
        az_row: u32,
        bz_col: u32,
        as_row: u32,
        bs_col: u32,
        s_fmt: u32,
        ts_fmt: u32,
        pad0: u32,
        lo: i32,
        hi: i32,
        pad1: u32,
        pad2: u32,
        batch: super::Dims8,
        a_strides: super::Dims8,
        b_strides: super::Dims8,
    }
);

/// The product geometry of MatMulInteger's kernel; zero points per row of A / column of B.
fn matmul_int_params(
    g: &crate::ops::matmul::MatMulShape,
    az_row: bool,
    bz_col: bool,
) -> Result<MatMulIntParams, String> {
    Ok(MatMulIntParams {
        n: u32_of(g.out.iter().product())?,
        m: u32_of(g.m)?,
        k: u32_of(g.k)?,
        cols: u32_of(g.n)?,
        batch_rank: g.batch.len() as u32,
        az_row: az_row as u32,
        bz_col: bz_col as u32,
        batch: super::dims8(&g.batch)?,
        a_strides: super::dims8(&g.a_batch_strides)?,
        b_strides: super::dims8(&g.b_batch_strides)?,
        ..Default::default()
    })
}

/// An integer matmul's operands for the packed product: each with its binding and operand
/// (shape, type, plan-time value), the zero points with whether they are per row of A / per
/// column of B and their operands (`None`: absent, i.e. zero).
pub struct IntMatMul<'a> {
    pub g: &'a crate::ops::matmul::MatMulShape,
    pub a: (Ref, &'a Operand),
    pub b: (Ref, &'a Operand),
    pub az: (Ref, bool, Option<&'a Operand>),
    pub bz: (Ref, bool, Option<&'a Operand>),
    /// A stored K x M / B stored N x K (QGemm's transA / transB; 2-D only).
    pub trans: (bool, bool),
}

/// Appends the packed int8 product of `mm` to `out` (one dispatch; constants packed at plan
/// time, run-time operands packed by the product as it reads them), ending in epilogue `epi`
/// into `y`. `p` carries the epilogue's fields.
pub fn packed_matmul(
    out: &mut Lowered<GpuKernel>,
    mm: &IntMatMul,
    epi: Epi,
    s_layout: Layout,
    refs: EpiRefs,
    p: Dp4Params,
    y: Ref,
) -> Result<(), String> {
    let g = mm.g;
    let (m, k, n) = (g.m, g.k, g.n);
    if k == 0 {
        return Err("an empty reduction has no packed kernel".into());
    }
    let (oa, ob) = (dp4::offset(mm.a.1.dtype), dp4::offset(mm.b.1.dtype));
    let (na, nb): (usize, usize) = (mm.a.1.shape.iter().product(), mm.b.1.shape.iter().product());
    let ((asr, ask), (bsr, bsk)) = (if mm.trans.0 { (1, m) } else { (k, 1) }, if mm.trans.1 { (k, 1) } else { (1, n) });
    let a = MatSrc { r#ref: mm.a.0, op: mm.a.1, mats: na / (m * k), rows: m, k, sr: asr, sk: ask };
    let b = MatSrc { r#ref: mm.b.0, op: mm.b.1, mats: nb / (k * n), rows: n, k, sr: bsr, sk: bsk };
    let pa = dp4::operand(out, &a, dp4::may_differ(mm.bz.2, ob)?, &g.a_batch_strides)?;
    let pb = dp4::operand(out, &b, dp4::may_differ(mm.az.2, oa)?, &g.b_batch_strides)?;
    let p = Dp4Params { m: u32_of(m)?, n: u32_of(n)?, k: u32_of(k)?, row_mod: 1, ..p };
    dp4::product(out, pa, pb, (mm.az.0, mm.az.1), (mm.bz.0, mm.bz.1), (oa, ob), &g.batch, epi, s_layout, refs, p, y)
}

/// MatMulInteger's int32 sums `(A - az) @ (B - bz)` into `y`: the packed product, or where it
/// refuses (a grid too large, K = 0) the one-invocation-per-output kernel on A and B's words.
/// Appends to `out` (its consts already hold the zero points' constants).
pub fn matmul_integer_dispatches(out: &mut Lowered<GpuKernel>, mm: &IntMatMul, y: Ref) -> Result<(), String> {
    let mut packed = Lowered { dispatches: vec![], scratch: out.scratch.clone(), consts: out.consts.clone() };
    let d = dp4::dummy(&mut packed)?;
    let refs = EpiRefs { a_s: d, b_s: d, y_s: d, yz: d, bias: None };
    if packed_matmul(&mut packed, mm, Epi::Int, Layout::Word, refs, Dp4Params::default(), y).is_ok() {
        out.dispatches.append(&mut packed.dispatches);
        out.scratch = packed.scratch;
        out.consts = packed.consts;
        return Ok(());
    }
    let p = matmul_int_params(mm.g, mm.az.1, mm.bz.1)?;
    let d: Vec<Ref> = (0..4).map(|_| dummy(&mut out.consts, DType::F32)).collect::<Result<_, _>>()?;
    let v = MatMulIntVariant { requant: false, s_layout: Layout::Word };
    let k = GpuKernel::new(KernelKey::Family(super::FamilyKey::QuantMatMulInt(v)), &p, grid_1d(p.n as usize, 256));
    out.dispatches.push(LoweredDispatch {
        kernel: k,
        bindings: vec![mm.a.0, mm.b.0, mm.az.0, mm.bz.0, d[0], d[1], d[2], d[3], y],
    });
    Ok(())
}

/// MatMulInteger (`requant` false) and QLinearMatMul.
pub fn lower_matmul_int(l: &GpuLowering, cx: &LowerCx, requant: bool) -> Result<Lowered<GpuKernel>, String> {
    let (ai, bi) = if requant { (0, 3) } else { (0, 1) };
    let (a, b, y) = (cx.input(ai)?, cx.input(bi)?, cx.output(0)?);
    check_int8(a, "A")?;
    check_int8(b, "B")?;
    let g = crate::ops::matmul::matmul_shape(&a.shape, &b.shape)?;
    let n: usize = g.out.iter().product();
    let mut consts = Vec::new();
    let rows = (a.shape.len() >= 2).then_some(g.m);
    let cols = (b.shape.len() >= 2).then_some(g.n);
    let (az, az_row) = int_zero_point(cx, 2, a, rows, &mut consts, "a_zero_point")?;
    let (bz, bz_col) = int_zero_point(cx, if requant { 5 } else { 3 }, b, cols, &mut consts, "b_zero_point")?;
    let mut p = matmul_int_params(&g, az_row, bz_col)?;
    u32_of(a.shape.iter().product::<usize>())?;
    u32_of(b.shape.iter().product::<usize>())?;
    let (bindings, s_layout) = if requant {
        let (a_s, b_s, y_s) = (cx.input(1)?, cx.input(4)?, cx.input(6)?);
        let (s_layout, s_fmt, ts_fmt) = scales(l, &[a_s, b_s, y_s])?;
        let (an, bn) = (a_s.shape.iter().product::<usize>(), b_s.shape.iter().product::<usize>());
        let per = |s: &Operand, sn: usize, len: Option<usize>| -> Result<bool, String> {
            if (an == 1 && bn == 1) || sn == 1 {
                return Ok(false);
            }
            match len {
                Some(len) if s.shape.len() == 1 && s.shape[0] == len => Ok(true),
                _ => Err(format!("a scale of shape {} has no GPU kernel", fmt_shape(&s.shape))),
            }
        };
        let (as_row, bs_col) = (per(a_s, an, rows)?, per(b_s, bn, cols)?);
        if y_s.shape.iter().product::<usize>() != 1 {
            return Err("y_scale must be a scalar".into());
        }
        let out = y.dtype;
        let (lo, hi) = requant_range(out)?;
        let yz = match cx.inputs.get(7).and_then(|o| o.as_ref()) {
            Some(z) if z.shape.iter().product::<usize>() != 1 => return Err("y_zero_point must be a scalar".into()),
            Some(z) if z.dtype != out => return Err(format!("y_zero_point is {}, y is {out}", z.dtype)),
            Some(_) => Ref::Input(7),
            None => dummy(&mut consts, DType::I32)?,
        };
        p.as_row = as_row as u32;
        p.bs_col = bs_col as u32;
        p.s_fmt = s_fmt;
        p.ts_fmt = ts_fmt;
        p.lo = lo;
        p.hi = hi;
        (
            vec![Ref::Input(0), Ref::Input(3), az, bz, Ref::Input(1), Ref::Input(4), Ref::Input(6), yz, Ref::Output(0)],
            s_layout,
        )
    } else {
        if y.dtype != DType::I32 {
            return Err(format!("MatMulInteger to {} has no GPU kernel", y.dtype));
        }
        let d: Vec<Ref> = (0..4).map(|_| dummy(&mut consts, DType::F32)).collect::<Result<_, _>>()?;
        (vec![Ref::Input(0), Ref::Input(1), az, bz, d[0], d[1], d[2], d[3], Ref::Output(0)], Layout::Word)
    };
    if n == 0 {
        return Ok(Lowered::empty());
    }
    let opt = |i: usize| cx.inputs.get(i).and_then(|o| o.as_ref());
    let mm = IntMatMul {
        g: &g,
        a: (Ref::Input(ai), a),
        b: (Ref::Input(bi), b),
        az: (bindings[2], az_row, opt(2)),
        bz: (bindings[3], bz_col, opt(if requant { 5 } else { 3 })),
        trans: (false, false),
    };
    let refs = EpiRefs { a_s: bindings[4], b_s: bindings[5], y_s: bindings[6], yz: bindings[7], bias: None };
    let dp = Dp4Params {
        as_row: p.as_row,
        bs_col: p.bs_col,
        s_fmt: p.s_fmt,
        ts_fmt: p.ts_fmt,
        lo: p.lo,
        hi: p.hi,
        ..Default::default()
    };
    let epi = if requant { Epi::QLinear } else { Epi::Int };
    let mut packed = Lowered { dispatches: vec![], scratch: vec![], consts: consts.clone() };
    if packed_matmul(&mut packed, &mm, epi, s_layout, refs, dp, Ref::Output(0)).is_ok() {
        return Ok(packed);
    }
    let v = MatMulIntVariant { requant, s_layout };
    let k = GpuKernel::new(KernelKey::Family(super::FamilyKey::QuantMatMulInt(v)), &p, grid_1d(n, 256));
    Ok(Lowered { dispatches: vec![LoweredDispatch { kernel: k, bindings }], scratch: vec![], consts })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvIntVariant {
    pub requant: bool,
    pub bias: bool,
    /// The scales' layout (Word or Half).
    pub s_layout: Layout,
    /// `conv_int_dw.wgsl` (2-D, one input channel per group; same bindings) instead of
    /// `conv_int.wgsl`.
    pub depthwise: bool,
}

impl KernelVariant for ConvIntVariant {
    fn file(&self) -> &'static ShaderFile {
        if self.depthwise {
            &shaders::QUANT_CONV_INT_DW
        } else {
            &shaders::QUANT_CONV_INT
        }
    }
    fn prelude(&self, p: &mut Prelude) {
        codec_prelude(p);
        p.lib(&shaders::QUANT_REQUANT_LIB);
        p.bool("REQUANT", self.requant).bool("HAS_BIAS", self.bias).u32("S_LAYOUT", self.s_layout as u32);
    }
    fn storage_bindings(&self) -> u32 {
        10
    }
    fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for depthwise in [false, true] {
            v.push(ConvIntVariant { requant: false, bias: false, s_layout: Layout::Word, depthwise });
            for bias in [false, true] {
                for s_layout in [Layout::Word, Layout::Half] {
                    v.push(ConvIntVariant { requant: true, bias, s_layout, depthwise });
                }
            }
        }
        v
    }
}

gpu_params!(
    /// `shaders/quant/conv_int.wgsl` Params.
    ConvIntParams {
        n: u32,
        c_in: u32,
        m: u32,
        cg: u32,
        mg: u32,
        nd: u32,
        ksz: u32,
        osz: u32,
        isz: u32,
        wz_chan: u32,
        ws_chan: u32,
        s_fmt: u32,
        ts_fmt: u32,
        lo: i32,
        hi: i32,
        pad0: u32,
        in_sp: super::Dims8,
        out_sp: super::Dims8,
        kernel: super::Dims8,
        strides: super::Dims8,
        dilations: super::Dims8,
        pads: super::Dims8,
    }
);

/// Output columns per invocation of `conv_int_dw.wgsl` (its OX).
const DW_OX: usize = 4;

gpu_params!(
    /// `shaders/quant/conv_int_dw.wgsl` Params.
    ConvIntDwParams {
        n: u32,
        c_in: u32,
        m: u32,
        mg: u32,
        ih: u32,
        iw: u32,
        oh: u32,
        ow: u32,
        kh: u32,
        kw: u32,
        sh: u32,
        sw: u32,
        dh: u32,
        dw: u32,
        ph: u32,
        pw: u32,
        owq: u32,
        wz_chan: u32,
        ws_chan: u32,
        s_fmt: u32,
        ts_fmt: u32,
        lo: i32,
        hi: i32,
        pad0: u32,
    }
);

/// A convolution's implicit-GEMM geometry.
struct ConvGemm<'a> {
    batch: usize,
    groups: usize,
    c_in: usize,
    m: usize,
    kernel: &'a [usize],
    win: &'a crate::ops::conv::Window,
}

/// ConvInteger / QLinearConv as one packed product per (image, group): A = the group's
/// weights (M/G rows of K = C/G * window values), B^T = the input read in im2col order
/// (`quant_dp4::Src::Im2Col`; raw where the window is the identity), rows = output channels,
/// columns = output positions.
/// `zps`: (w's zero point binding, per channel, operand), (x's zero point binding, operand).
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn packed_conv(
    out: &mut Lowered<GpuKernel>,
    c: &ConvGemm,
    (x_ref, x): (Ref, &Operand),
    (w_ref, w): (Ref, &Operand),
    ((wz, wz_chan, wz_op), (xz, xz_op)): ((Ref, bool, Option<&Operand>), (Ref, Option<&Operand>)),
    epi: Epi,
    s_layout: Layout,
    refs: EpiRefs,
    p: Dp4Params,
) -> Result<(), String> {
    let (g, mg, cg) = (c.groups, c.m / c.groups, c.c_in / c.groups);
    let ksz: usize = c.kernel.iter().product();
    let k = cg * ksz;
    let osz: usize = c.win.output.iter().product();
    let (ow, ox) = (dp4::offset(w.dtype), dp4::offset(x.dtype));
    let wsrc = MatSrc { r#ref: w_ref, op: w, mats: g, rows: mg, k, sr: k, sk: 1 };
    let pw = dp4::operand(out, &wsrc, dp4::may_differ(xz_op, ox)?, &[0, mg * k])?;
    let isz: usize = c.win.input.iter().product();
    u32_of(x.shape.iter().product::<usize>())?;
    let window = dp4::Im2Col {
        cg,
        kernel: c.kernel.to_vec(),
        in_sp: c.win.input.clone(),
        out_sp: c.win.output.clone(),
        strides: c.win.strides.clone(),
        dilations: c.win.dilations.clone(),
        pads: c.win.pads_begin.clone(),
    };
    let sums = if dp4::may_differ(wz_op, ow)? { dp4::Sums::Calc } else { dp4::Sums::None };
    let strides = vec![c.c_in * isz, cg * isz];
    let px = if window.is_identity() {
        dp4::Dp4Operand { r#ref: x_ref, src: dp4::Src::Raw, sums, strides, sr: 1, sk: isz, im2col: None }
    } else {
        dp4::Dp4Operand { r#ref: x_ref, src: dp4::Src::Im2Col, sums, strides, sr: 0, sk: 0, im2col: Some(window) }
    };
    let p = Dp4Params { m: u32_of(mg)?, n: u32_of(osz)?, k: u32_of(k)?, row_mod: u32_of(g)?, ..p };
    dp4::product(
        out,
        pw,
        px,
        (wz, wz_chan),
        (xz, false),
        (ow, ox),
        &[c.batch, g],
        epi,
        s_layout,
        refs,
        p,
        Ref::Output(0),
    )
}

/// ConvInteger (`requant` false) and QLinearConv.
pub fn lower_conv_int(
    l: &GpuLowering,
    cx: &LowerCx,
    conv: &crate::ops::conv::Conv,
    requant: bool,
) -> Result<Lowered<GpuKernel>, String> {
    let (xi, wi) = if requant { (0, 3) } else { (0, 1) };
    let (x, w, y) = (cx.input(xi)?, cx.input(wi)?, cx.output(0)?);
    check_int8(x, "x")?;
    check_int8(w, "w")?;
    let (nb, c, m) = conv.channels(&x.shape, &w.shape)?;
    let kernel = conv.kernel(&w.shape)?;
    if kernel != w.shape[2..] {
        return Err(format!("kernel_shape {kernel:?} differs from W's {:?}", &w.shape[2..]));
    }
    let win = conv.window.resolve(&x.shape[2..], &kernel)?;
    let g = conv.group;
    let (osz, isz, ksz) =
        (win.output.iter().product::<usize>(), win.input.iter().product::<usize>(), kernel.iter().product::<usize>());
    let n = nb * m * osz;
    u32_of(x.shape.iter().product::<usize>())?;
    u32_of(w.shape.iter().product::<usize>())?;
    let mut consts = Vec::new();
    let (xz, x_per) = int_zero_point(cx, 2, x, None, &mut consts, "x_zero_point")?;
    debug_assert!(!x_per);
    let (wz, wz_chan) = int_zero_point(cx, if requant { 5 } else { 3 }, w, Some(m), &mut consts, "w_zero_point")?;
    let mut p = ConvIntParams {
        n: u32_of(n)?,
        c_in: u32_of(c)?,
        m: u32_of(m)?,
        cg: u32_of(c / g)?,
        mg: u32_of(m / g)?,
        nd: kernel.len() as u32,
        ksz: u32_of(ksz)?,
        osz: u32_of(osz)?,
        isz: u32_of(isz)?,
        wz_chan: wz_chan as u32,
        in_sp: super::dims8(&win.input)?,
        out_sp: super::dims8(&win.output)?,
        kernel: super::dims8(&kernel)?,
        strides: super::dims8(&win.strides)?,
        dilations: super::dims8(&win.dilations)?,
        pads: super::dims8(&win.pads_begin)?,
        ..Default::default()
    };
    let (bindings, s_layout, bias) = if requant {
        let (x_s, w_s, y_s) = (cx.input(1)?, cx.input(4)?, cx.input(6)?);
        let (s_layout, s_fmt, ts_fmt) = scales(l, &[x_s, w_s, y_s])?;
        if x_s.shape.iter().product::<usize>() != 1 || y_s.shape.iter().product::<usize>() != 1 {
            return Err("x_scale and y_scale must be scalars".into());
        }
        let wn: usize = w_s.shape.iter().product();
        if wn != 1 && (w_s.shape.len() != 1 || wn != m) {
            return Err(format!("w_scale must be a scalar or have {m} elements, got shape {}", fmt_shape(&w_s.shape)));
        }
        let out = y.dtype;
        let (lo, hi) = requant_range(out)?;
        let yz = match cx.inputs.get(7).and_then(|o| o.as_ref()) {
            Some(z) if z.shape.iter().product::<usize>() != 1 => return Err("y_zero_point must be a scalar".into()),
            Some(z) if z.dtype != out => return Err(format!("y_zero_point is {}, y is {out}", z.dtype)),
            Some(_) => Ref::Input(7),
            None => dummy(&mut consts, DType::I32)?,
        };
        let (bias, has_bias) = match cx.inputs.get(8).and_then(|o| o.as_ref()) {
            Some(b) if b.dtype != DType::I32 => return Err(format!("B must be int32, got {}", b.dtype)),
            Some(b) if b.shape.iter().product::<usize>() != m => {
                return Err(format!("B must have {m} elements, got shape {}", fmt_shape(&b.shape)))
            }
            Some(_) => (Ref::Input(8), true),
            None => (dummy(&mut consts, DType::I32)?, false),
        };
        p.ws_chan = (wn != 1) as u32;
        p.s_fmt = s_fmt;
        p.ts_fmt = ts_fmt;
        p.lo = lo;
        p.hi = hi;
        (
            vec![
                Ref::Input(0),
                Ref::Input(3),
                xz,
                wz,
                Ref::Input(1),
                Ref::Input(4),
                Ref::Input(6),
                yz,
                bias,
                Ref::Output(0),
            ],
            s_layout,
            has_bias,
        )
    } else {
        if y.dtype != DType::I32 {
            return Err(format!("ConvInteger to {} has no GPU kernel", y.dtype));
        }
        let d: Vec<Ref> = (0..5).map(|_| dummy(&mut consts, DType::F32)).collect::<Result<_, _>>()?;
        (vec![Ref::Input(0), Ref::Input(1), xz, wz, d[0], d[1], d[2], d[3], d[4], Ref::Output(0)], Layout::Word, false)
    };
    if n == 0 {
        return Ok(Lowered::empty());
    }
    // The implicit GEMM on packed operands; depthwise convolutions (one input channel per
    // group: K is the window alone) keep the direct kernel below, as does any shape the packed
    // product refuses.
    if c / g > 1 || m / g > 1 {
        let opt = |i: usize| cx.inputs.get(i).and_then(|o| o.as_ref());
        let mut packed = Lowered { dispatches: vec![], scratch: vec![], consts: consts.clone() };
        let geo = ConvGemm { batch: nb, groups: g, c_in: c, m, kernel: &kernel, win: &win };
        let zps = ((wz, wz_chan, opt(if requant { 5 } else { 3 })), (xz, opt(2)));
        let refs = EpiRefs {
            a_s: bindings[5],
            b_s: bindings[4],
            y_s: bindings[6],
            yz: bindings[7],
            bias: bias.then_some(bindings[8]),
        };
        let dp = Dp4Params {
            as_row: p.ws_chan,
            bs_col: 0,
            s_fmt: p.s_fmt,
            ts_fmt: p.ts_fmt,
            lo: p.lo,
            hi: p.hi,
            bias_row: 1,
            ..Default::default()
        };
        let epi = if requant { Epi::QLinear } else { Epi::Int };
        let (xr, wr) = ((Ref::Input(xi), x), (Ref::Input(wi), w));
        if packed_conv(&mut packed, &geo, xr, wr, zps, epi, s_layout, refs, dp).is_ok() {
            return Ok(packed);
        }
    }
    if kernel.len() == 2 && c / g == 1 {
        let owq = win.output[1].div_ceil(DW_OX);
        let items = nb * m * win.output[0] * owq;
        let d = |v: &[usize], i: usize| u32_of(v[i]);
        let dp = ConvIntDwParams {
            n: u32_of(items)?,
            c_in: p.c_in,
            m: p.m,
            mg: p.mg,
            ih: d(&win.input, 0)?,
            iw: d(&win.input, 1)?,
            oh: d(&win.output, 0)?,
            ow: d(&win.output, 1)?,
            kh: d(&kernel, 0)?,
            kw: d(&kernel, 1)?,
            sh: d(&win.strides, 0)?,
            sw: d(&win.strides, 1)?,
            dh: d(&win.dilations, 0)?,
            dw: d(&win.dilations, 1)?,
            ph: d(&win.pads_begin, 0)?,
            pw: d(&win.pads_begin, 1)?,
            owq: u32_of(owq)?,
            wz_chan: p.wz_chan,
            ws_chan: p.ws_chan,
            s_fmt: p.s_fmt,
            ts_fmt: p.ts_fmt,
            lo: p.lo,
            hi: p.hi,
            pad0: 0,
        };
        let v = ConvIntVariant { requant, bias, s_layout, depthwise: true };
        let k = GpuKernel::new(KernelKey::Family(super::FamilyKey::QuantConvInt(v)), &dp, grid_1d(items, 256));
        return Ok(Lowered { dispatches: vec![LoweredDispatch { kernel: k, bindings }], scratch: vec![], consts });
    }
    let v = ConvIntVariant { requant, bias, s_layout, depthwise: false };
    let k = GpuKernel::new(KernelKey::Family(super::FamilyKey::QuantConvInt(v)), &p, grid_1d(n, 256));
    Ok(Lowered { dispatches: vec![LoweredDispatch { kernel: k, bindings }], scratch: vec![], consts })
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
        for quantize in [false, true] {
            let v = DynamicRangeVariant { quantize };
            check::<DynamicRangeParams>(KernelKey::Family(FamilyKey::QuantDynamicRange(v)));
        }
        let v = MatMulIntVariant { requant: true, s_layout: Layout::Half };
        check::<MatMulIntParams>(KernelKey::Family(FamilyKey::QuantMatMulInt(v)));
        let v = ConvIntVariant { requant: true, bias: true, s_layout: Layout::Word, depthwise: false };
        check::<ConvIntParams>(KernelKey::Family(FamilyKey::QuantConvInt(v)));
        let v = ConvIntVariant { depthwise: true, ..v };
        check::<ConvIntDwParams>(KernelKey::Family(FamilyKey::QuantConvInt(v)));
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
