//! GPU lowerings of ONNX Runtime's QOperator contrib ops (`crate::ops::qoperator`), all in
//! integer arithmetic on uint8/int8 words (one 32-bit word per element, int8 sign-extended, the
//! GPU storage of 8-bit types) with MLAS's f32 requantization:
//! - QLinearSigmoid / QLinearLeakyRelu / QLinearConcat: the CPU reference's 256-entry tables,
//!   built on the host from the plan-time scales and zero points and looked up per element
//!   (`shaders/qoperator/lookup.wgsl`; Concat runs one dispatch per input into its slab);
//! - QLinearGlobalAveragePool: an int32 sum per (batch, channel), NCHW or channels_last;
//! - QGemm: int32 products with transposes, int32 bias C and per-column B parameters, then
//!   requantized or scaled to float32 (the packed product of `quant_dp4`, the naive kernel
//!   `qgemm.wgsl` where that refuses);
//! - MatMulIntegerToFloat / DynamicQuantizeMatMul: MatMulInteger's packed product with the
//!   float epilogue (`quant_dp4::Epi::Float`: scales and bias applied as each sum is stored;
//!   where the packed product refuses, int32 sums into a scratch then `int_to_float.wgsl`); the
//!   dynamic form first runs DynamicQuantizeLinear's kernels (`quant::dynamic_quantize_dispatches`)
//!   on A, so its scale and zero point never leave the GPU;
//! - GatherBlockQuantized: one invocation per output element, dequantizing the gathered
//!   int4/uint4 words or 2/4/8-bit values of uint8 bytes with their block's scale and zero point.
//!
//! Scales and zero points of the table, pool and QGemm kernels must be known at plan time
//! (initializers, as ORT's quantizer writes them); otherwise the lowering refuses.

use super::convert::Layout;
use super::quant::{dynamic_quantize_dispatches, matmul_integer_dispatches, packed_matmul, IntMatMul};
use super::quant_dp4::{Dp4Params, Epi, EpiRefs};
use super::{grid_1d, u32_of, FamilyKey, GpuKernel, GpuLowering, GpuType, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::contrib_quant::int8_range;
use crate::ops::matmul::MatMulShape;
use crate::ops::qoperator::{
    gemm_bias_strides, GatherBlockQuantized, MatMulIntegerToFloat, QGemm, QLinearConcat, QLinearGlobalAveragePool,
    QLinearLookup,
};
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Operand, Ref};
use crate::tensor::shape::norm_axis;
use crate::tensor::{DType, Tensor};

/// The plan-time values of the node's inputs (`None` for absent or run-time inputs), in the
/// form the CPU reference's parameter helpers take.
fn values<'a>(cx: &'a LowerCx) -> Vec<Option<&'a Tensor>> {
    cx.inputs.iter().map(|o| o.as_ref().and_then(|o| o.value.as_ref())).collect()
}

/// Fails unless every present input among `idx` is known at plan time.
fn need_consts(cx: &LowerCx, idx: impl IntoIterator<Item = usize>, op: &str) -> Result<(), String> {
    for i in idx {
        if let Some(Some(o)) = cx.inputs.get(i) {
            if o.value.is_none() {
                return Err(format!("{op} with a run-time scale or zero point (input {i}) has no GPU kernel"));
            }
        }
    }
    Ok(())
}

fn check_8bit(d: DType, op: &str) -> Result<(), String> {
    int8_range(d).map(|_| ()).map_err(|_| format!("{op} on {d} has no GPU kernel"))
}

fn table_const(t: &[i32; 256]) -> Result<Tensor, String> {
    Tensor::new(&[256], t.to_vec())
}

// ---- table lookups -------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LookupVariant;

impl KernelVariant for LookupVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::QOP_LOOKUP
    }
    fn prelude(&self, _p: &mut Prelude) {}
    fn storage_bindings(&self) -> u32 {
        3
    }
    fn all() -> Vec<Self> {
        vec![LookupVariant]
    }
}

gpu_params!(
    /// `shaders/qoperator/lookup.wgsl` Params.
    LookupParams { n: u32, pitch_in: u32, pitch_out: u32, offset: u32, copy: u32, pad0: u32, pad1: u32, pad2: u32 }
);

/// One table-lookup (or copy) dispatch of `n` elements into the output's slabs.
fn lookup_dispatch(
    n: usize,
    pitch_in: usize,
    pitch_out: usize,
    offset: usize,
    x: Ref,
    table: Option<Ref>,
    dummy: Ref,
) -> Result<LoweredDispatch<GpuKernel>, String> {
    let p = LookupParams {
        n: u32_of(n)?,
        pitch_in: u32_of(pitch_in.max(1))?,
        pitch_out: u32_of(pitch_out)?,
        offset: u32_of(offset)?,
        copy: table.is_none() as u32,
        ..Default::default()
    };
    let k = GpuKernel::new(KernelKey::Family(FamilyKey::QopLookup(LookupVariant)), &p, grid_1d(n, 256));
    Ok(LoweredDispatch { kernel: k, bindings: vec![x, table.unwrap_or(dummy), Ref::Output(0)] })
}

pub fn lower_qlinear_lookup(_l: &GpuLowering, cx: &LowerCx, q: &QLinearLookup) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    check_8bit(x.dtype, "QLinearSigmoid/QLinearLeakyRelu")?;
    need_consts(cx, 1..5, "QLinearSigmoid/QLinearLeakyRelu")?;
    let table = q.table(&values(cx), x.dtype)?;
    let n: usize = x.shape.iter().product();
    if n == 0 {
        return Ok(Lowered::empty());
    }
    let d = lookup_dispatch(n, n, n, 0, Ref::Input(0), Some(Ref::Const(0)), Ref::Const(0))?;
    Ok(Lowered { dispatches: vec![d], scratch: vec![], consts: vec![table_const(&table)?] })
}

pub fn lower_qlinear_concat(_l: &GpuLowering, cx: &LowerCx, q: &QLinearConcat) -> Result<Lowered<GpuKernel>, String> {
    let count = QLinearConcat::count(cx.inputs.len())?;
    let y = cx.output(0)?;
    check_8bit(y.dtype, "QLinearConcat")?;
    let params = [0, 1].into_iter().chain((0..count).flat_map(|k| [3 + 3 * k, 4 + 3 * k]));
    need_consts(cx, params, "QLinearConcat")?;
    let tables = q.tables(&values(cx), y.dtype)?;
    let ax = norm_axis(q.axis, y.shape.len())?;
    let pitch_out: usize = y.shape[ax..].iter().product();
    u32_of(y.shape.iter().product())?;
    let mut consts = vec![Tensor::zeros(DType::I32, &[1])?];
    let mut dispatches = Vec::new();
    let mut offset = 0usize;
    for (k, t) in tables.iter().enumerate() {
        let x = cx.input(2 + 3 * k)?;
        if x.dtype != y.dtype {
            return Err(format!("QLinearConcat input {} is {}, output {}", 2 + 3 * k, x.dtype, y.dtype));
        }
        let n: usize = x.shape.iter().product();
        let pitch_in: usize = x.shape[ax..].iter().product();
        if n > 0 {
            let table = match t {
                None => None,
                Some(t) => {
                    consts.push(table_const(t)?);
                    Some(Ref::Const(consts.len() - 1))
                }
            };
            dispatches.push(lookup_dispatch(
                n,
                pitch_in,
                pitch_out,
                offset,
                Ref::Input(2 + 3 * k),
                table,
                Ref::Const(0),
            )?);
        }
        offset += pitch_in;
    }
    Ok(Lowered { dispatches, scratch: vec![], consts })
}

// ---- QLinearGlobalAveragePool --------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GlobalAvgPoolVariant;

impl KernelVariant for GlobalAvgPoolVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::QOP_GLOBAL_AVG_POOL
    }
    fn prelude(&self, _p: &mut Prelude) {}
    fn storage_bindings(&self) -> u32 {
        2
    }
    fn all() -> Vec<Self> {
        vec![GlobalAvgPoolVariant]
    }
}

gpu_params!(
    /// `shaders/qoperator/global_avg_pool.wgsl` Params.
    GlobalAvgPoolParams {
        n_out: u32,
        channels: u32,
        image: u32,
        channels_last: u32,
        x_zp: i32,
        y_zp: i32,
        lo: i32,
        hi: i32,
        scale: f32,
        pad0: u32,
        pad1: u32,
        pad2: u32,
    }
);

/// A one-element parameter of the node as f64 (`default` when absent).
fn param(vals: &[Option<&Tensor>], i: usize, what: &str, default: Option<f64>) -> Result<f64, String> {
    crate::ops::contrib_quant::scalar(vals, i, what, default)
}

pub fn lower_qlinear_global_average_pool(
    _l: &GpuLowering,
    cx: &LowerCx,
    q: &QLinearGlobalAveragePool,
) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    check_8bit(x.dtype, "QLinearGlobalAveragePool")?;
    let (lo, hi) = int8_range(x.dtype)?;
    need_consts(cx, 1..5, "QLinearGlobalAveragePool")?;
    let v = values(cx);
    for i in [1, 3] {
        if cx.input(i)?.dtype != DType::F32 {
            return Err("QLinearGlobalAveragePool needs float32 scales".into());
        }
    }
    let (nb, c, image) = q.geometry(&x.shape)?;
    let xs = param(&v, 1, "x_scale", None)? as f32;
    let ys = param(&v, 3, "y_scale", None)? as f32;
    let p = GlobalAvgPoolParams {
        n_out: u32_of(nb * c)?,
        channels: u32_of(c)?,
        image: u32_of(image)?,
        channels_last: q.channels_last as u32,
        x_zp: param(&v, 2, "x_zero_point", Some(0.0))? as i32,
        y_zp: param(&v, 4, "y_zero_point", Some(0.0))? as i32,
        lo: lo as i32,
        hi: hi as i32,
        scale: QLinearGlobalAveragePool::multiplier(xs, ys, image),
        ..Default::default()
    };
    u32_of(x.shape.iter().product())?;
    if nb * c == 0 {
        return Ok(Lowered::empty());
    }
    let k =
        GpuKernel::new(KernelKey::Family(FamilyKey::QopGlobalAvgPool(GlobalAvgPoolVariant)), &p, grid_1d(nb * c, 256));
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]))
}

// ---- QGemm ---------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QGemmVariant {
    pub requant: bool,
}

impl KernelVariant for QGemmVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::QOP_QGEMM
    }
    fn prelude(&self, p: &mut Prelude) {
        p.bool("REQUANT", self.requant);
    }
    fn storage_bindings(&self) -> u32 {
        6
    }
    fn all() -> Vec<Self> {
        vec![QGemmVariant { requant: false }, QGemmVariant { requant: true }]
    }
}

gpu_params!(
    /// `shaders/qoperator/qgemm.wgsl` Params.
    QGemmParams {
        m: u32,
        n: u32,
        k: u32,
        per_col: u32,
        a_si: u32,
        a_st: u32,
        b_st: u32,
        b_sj: u32,
        has_c: u32,
        c_row: u32,
        c_col: u32,
        a_zp: i32,
        y_zp: i32,
        lo: i32,
        hi: i32,
        pad0: u32,
    }
);

/// f32 values of a plan-time scale with 1 or `n` elements.
fn scale_values(v: Option<&Tensor>, n: usize, what: &str) -> Result<Vec<f32>, String> {
    let t = v.ok_or_else(|| format!("{what} is required"))?;
    let s = t.as_slice::<f32>().map_err(|_| format!("{what} must be float32, got {}", t.dtype()))?;
    if s.len() != 1 && s.len() != n {
        return Err(format!("{what} must have 1 or {n} elements, got {}", s.len()));
    }
    Ok(s.to_vec())
}

pub fn lower_qgemm(_l: &GpuLowering, cx: &LowerCx, q: &QGemm) -> Result<Lowered<GpuKernel>, String> {
    let (a, b, y) = (cx.input(0)?, cx.input(3)?, cx.output(0)?);
    check_8bit(a.dtype, "QGemm")?;
    check_8bit(b.dtype, "QGemm")?;
    need_consts(cx, [1, 2, 4, 5, 7, 8], "QGemm")?;
    let v = values(cx);
    let (m, k, n) = q.dims(&a.shape, &b.shape)?;
    let a_s = scale_values(v[1], 1, "a_scale")?[0];
    let b_s = scale_values(v[4], n, "b_scale")?;
    let requant = cx.inputs.get(7).is_some_and(|o| o.is_some());
    let ys = if requant { Some(scale_values(v.get(7).copied().flatten(), 1, "y_scale")?[0]) } else { None };
    let scales = q.output_scales(a_s, &b_s, ys);
    let bz: Vec<i32> = match v.get(5).copied().flatten() {
        None => vec![0],
        Some(z) => z.to_i64_vec()?.iter().map(|&x| x as i32).collect(),
    };
    if bz.len() != 1 && bz.len() != n {
        return Err(format!("b_zero_point must have 1 or {n} elements"));
    }
    if bz.len() != scales.len() && bz.len() != 1 && scales.len() != 1 {
        return Err("b_scale and b_zero_point lengths differ".into());
    }
    let per_col = bz.len() > 1 || scales.len() > 1;
    let expand = |v: Vec<i32>| if per_col && v.len() == 1 { vec![v[0]; n] } else { v };
    let expandf = |v: Vec<f32>| if per_col && v.len() == 1 { vec![v[0]; n] } else { v };
    let mut consts = vec![Tensor::new(&[if per_col { n } else { 1 }], expand(bz))?];
    consts.push(Tensor::new(&[if per_col { n } else { 1 }], expandf(scales))?);
    let (c_ref, has_c, c_row, c_col) = match cx.inputs.get(6).and_then(|o| o.as_ref()) {
        None => {
            consts.push(Tensor::zeros(DType::I32, &[1])?);
            (Ref::Const(2), false, 0, 0)
        }
        Some(c) => {
            if c.dtype != DType::I32 {
                return Err(format!("C must be int32, got {}", c.dtype));
            }
            let (r, cs) = gemm_bias_strides(&c.shape, m, n)?;
            (Ref::Input(6), true, r, cs)
        }
    };
    let (lo, hi, y_zp) = if requant {
        let (lo, hi) = int8_range(y.dtype)?;
        (lo as i32, hi as i32, param(&v, 8, "y_zero_point", Some(0.0))? as i32)
    } else {
        if y.dtype != DType::F32 {
            return Err(format!("QGemm without y_scale must produce float32, got {}", y.dtype));
        }
        (0, 0, 0)
    };
    let (a_si, a_st) = if q.trans_a { (1, m) } else { (k, 1) };
    let (b_st, b_sj) = if q.trans_b { (1, k) } else { (n, 1) };
    let p = QGemmParams {
        m: u32_of(m)?,
        n: u32_of(n)?,
        k: u32_of(k)?,
        per_col: per_col as u32,
        a_si: u32_of(a_si)?,
        a_st: u32_of(a_st)?,
        b_st: u32_of(b_st)?,
        b_sj: u32_of(b_sj)?,
        has_c: has_c as u32,
        c_row: u32_of(c_row)?,
        c_col: u32_of(c_col)?,
        a_zp: param(&v, 2, "a_zero_point", Some(0.0))? as i32,
        y_zp,
        lo,
        hi,
        pad0: 0,
    };
    u32_of(m * n)?;
    u32_of(a.shape.iter().product())?;
    u32_of(b.shape.iter().product())?;
    if m * n == 0 {
        return Ok(Lowered::empty());
    }
    // The packed product (with the naive kernel below where it refuses).
    let g = MatMulShape { batch: vec![], m, k, n, a_batch_strides: vec![], b_batch_strides: vec![], out: vec![m, n] };
    let mut packed = Lowered { dispatches: vec![], scratch: vec![], consts: consts.clone() };
    let az = Ref::Const(packed.consts.len());
    packed.consts.push(Tensor::new(&[1], vec![p.a_zp])?);
    let opt = |i: usize| cx.inputs.get(i).and_then(|o| o.as_ref());
    let mm = IntMatMul {
        g: &g,
        a: (Ref::Input(0), a),
        b: (Ref::Input(3), b),
        az: (az, false, opt(2)),
        bz: (Ref::Const(0), per_col, opt(5)),
        trans: (q.trans_a, q.trans_b),
    };
    let d = Ref::Const(packed.consts.len());
    packed.consts.push(Tensor::zeros(DType::I32, &[1])?);
    let refs = EpiRefs { a_s: d, b_s: Ref::Const(1), y_s: d, yz: d, bias: has_c.then_some(c_ref) };
    let dp =
        Dp4Params { bs_col: per_col as u32, bias_row: p.c_row, bias_col: p.c_col, lo, hi, y_zp, ..Default::default() };
    let epi = if requant { Epi::QGemmQ } else { Epi::QGemmF32 };
    if packed_matmul(&mut packed, &mm, epi, Layout::Word, refs, dp, Ref::Output(0)).is_ok() {
        return Ok(packed);
    }
    let kernel =
        GpuKernel::new(KernelKey::Family(FamilyKey::QopQGemm(QGemmVariant { requant })), &p, grid_1d(m * n, 256));
    Ok(Lowered {
        dispatches: vec![LoweredDispatch {
            kernel,
            bindings: vec![Ref::Input(0), Ref::Input(3), Ref::Const(0), Ref::Const(1), c_ref, Ref::Output(0)],
        }],
        scratch: vec![],
        consts,
    })
}

// ---- MatMulIntegerToFloat / DynamicQuantizeMatMul -----------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IntToFloatVariant;

impl KernelVariant for IntToFloatVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::QOP_INT_TO_FLOAT
    }
    fn prelude(&self, _p: &mut Prelude) {}
    fn storage_bindings(&self) -> u32 {
        5
    }
    fn all() -> Vec<Self> {
        vec![IntToFloatVariant]
    }
}

gpu_params!(
    /// `shaders/qoperator/int_to_float.wgsl` Params.
    IntToFloatParams { n: u32, cols: u32, per_col: u32, has_bias: u32 }
);

pub fn lower_matmul_integer_to_float(
    l: &GpuLowering,
    cx: &LowerCx,
    q: &MatMulIntegerToFloat,
) -> Result<Lowered<GpuKernel>, String> {
    let (a, b, y) = (cx.input(0)?, cx.input(1)?, cx.output(0)?);
    let op = if q.dynamic { "DynamicQuantizeMatMul" } else { "MatMulIntegerToFloat" };
    check_8bit(b.dtype, op)?;
    if y.dtype != DType::F32 {
        return Err(format!("{op} to {} has no GPU kernel", y.dtype));
    }
    let g = crate::ops::matmul::matmul_shape(&a.shape, &b.shape)?;
    let total: usize = g.out.iter().product();
    let (bsi, bzi, biasi) = q.b_params();
    let opt = |i: usize| cx.inputs.get(i).and_then(|o| o.as_ref());
    let mut consts: Vec<Tensor> = Vec::new();
    let mut scratch: Vec<u64> = Vec::new();
    let mut dispatches = Vec::new();
    let scratch_ref = |bytes: usize, scratch: &mut Vec<u64>| {
        scratch.push(bytes.max(4) as u64);
        Ref::Scratch(scratch.len() - 1)
    };
    // A's words, zero point and scale.
    let (a_ref, az, a_s) = if q.dynamic {
        if a.dtype != DType::F32 {
            return Err(format!("{op} with {} A has no GPU kernel", a.dtype));
        }
        let na: usize = a.shape.iter().product();
        let (aq, s, z) =
            (scratch_ref(4 * na, &mut scratch), scratch_ref(4, &mut scratch), scratch_ref(4, &mut scratch));
        dispatches.extend(dynamic_quantize_dispatches(l, na, Ref::Input(0), Some(aq), s, z)?);
        (aq, z, s)
    } else {
        check_8bit(a.dtype, op)?;
        let s = cx.input(2)?;
        if s.dtype != DType::F32 || s.shape.iter().product::<usize>() != 1 {
            return Err(format!("{op} needs a one-element float32 a_scale"));
        }
        let az = match opt(4) {
            None => {
                consts.push(Tensor::zeros(DType::I32, &[1])?);
                Ref::Const(consts.len() - 1)
            }
            Some(z) if z.dtype == a.dtype && z.shape.iter().product::<usize>() == 1 => Ref::Input(4),
            Some(_) => return Err("a_zero_point must be one element of A's type".into()),
        };
        (Ref::Input(0), az, Ref::Input(2))
    };
    let bs = cx.input(bsi)?;
    let bsn: usize = bs.shape.iter().product();
    if bs.dtype != DType::F32 || (bsn != 1 && bsn != g.n) {
        return Err(format!("b_scale must be float32 with 1 or {} elements", g.n));
    }
    let (bz, bz_col) = match opt(bzi) {
        None => {
            consts.push(Tensor::zeros(DType::I32, &[1])?);
            (Ref::Const(consts.len() - 1), false)
        }
        Some(z) => {
            let zn: usize = z.shape.iter().product();
            if z.dtype != b.dtype || (zn != 1 && zn != g.n) {
                return Err(format!("b_zero_point must be {} with 1 or {} elements", b.dtype, g.n));
            }
            (Ref::Input(bzi), zn != 1)
        }
    };
    let (bias, has_bias) = match opt(biasi) {
        None => {
            consts.push(Tensor::zeros(DType::F32, &[1])?);
            (Ref::Const(consts.len() - 1), false)
        }
        Some(t) => {
            if t.dtype != DType::F32 || t.shape.iter().product::<usize>() != g.n {
                return Err(format!("bias must be float32 with {} elements", g.n));
            }
            (Ref::Input(biasi), true)
        }
    };
    if total == 0 {
        return Ok(Lowered::empty());
    }
    u32_of(a.shape.iter().product())?;
    u32_of(b.shape.iter().product())?;
    // A's operand as the product sees it: DynamicQuantizeMatMul's A is uint8 made on the GPU.
    let a_q = Operand { dtype: DType::U8, shape: a.shape.clone(), value: None };
    let (a_op, az_op) = if q.dynamic { (&a_q, Some(&a_q)) } else { (a, opt(4)) };
    let mm = IntMatMul {
        g: &g,
        a: (a_ref, a_op),
        b: (Ref::Input(1), b),
        az: (az, false, az_op),
        bz: (bz, bz_col, opt(bzi)),
        trans: (false, false),
    };
    // One packed product with the float epilogue; where it refuses, MatMulInteger's int32
    // sums into a scratch and the scaling pass.
    let mut packed = Lowered { dispatches: dispatches.clone(), scratch: scratch.clone(), consts: consts.clone() };
    let d = super::quant_dp4::dummy(&mut packed)?;
    let refs = EpiRefs { a_s, b_s: Ref::Input(bsi), y_s: d, yz: d, bias: has_bias.then_some(bias) };
    let dp = Dp4Params { bs_col: (bsn != 1) as u32, bias_col: 1, ..Default::default() };
    if packed_matmul(&mut packed, &mm, Epi::Float, Layout::Word, refs, dp, Ref::Output(0)).is_ok() {
        return Ok(packed);
    }
    let acc = scratch_ref(4 * total, &mut scratch);
    let mut out = Lowered { dispatches, scratch, consts };
    matmul_integer_dispatches(&mut out, &mm, acc)?;
    let Lowered { mut dispatches, scratch, consts } = out;
    let p = IntToFloatParams {
        n: u32_of(total)?,
        cols: u32_of(g.n)?,
        per_col: (bsn != 1) as u32,
        has_bias: has_bias as u32,
    };
    let k = GpuKernel::new(KernelKey::Family(FamilyKey::QopIntToFloat(IntToFloatVariant)), &p, grid_1d(total, 256));
    dispatches.push(LoweredDispatch { kernel: k, bindings: vec![acc, a_s, Ref::Input(bsi), bias, Ref::Output(0)] });
    Ok(Lowered { dispatches, scratch, consts })
}

// ---- GatherBlockQuantized ------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GbqVariant {
    /// Type of the scales and the output (f32 or f16).
    pub t: GpuType,
    pub idx64: bool,
}

impl KernelVariant for GbqVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::QOP_GATHER_BLOCK_QUANTIZED
    }
    fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.bool("IDX64", self.idx64);
    }
    fn storage_bindings(&self) -> u32 {
        5
    }
    fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for t in [GpuType::F32, GpuType::F16] {
            for idx64 in [false, true] {
                v.push(GbqVariant { t, idx64 });
            }
        }
        v
    }
}

gpu_params!(
    /// `shaders/qoperator/gather_block_quantized.wgsl` Params.
    GbqParams {
        n: u32,
        gather_block: u32,
        n_idx: u32,
        axis_dim: u32,
        qdim: u32,
        qn: u32,
        block: u32,
        sfb: u32,
        zp_row: u32,
        zp_mode: u32,
        packed: u32,
        bits: u32,
        comps: u32,
        default_zp: i32,
        pad0: u32,
        pad1: u32,
    }
);

pub fn lower_gather_block_quantized(
    l: &GpuLowering,
    cx: &LowerCx,
    q: &GatherBlockQuantized,
) -> Result<Lowered<GpuKernel>, String> {
    let (d, idx, s, y) = (cx.input(0)?, cx.input(1)?, cx.input(2)?, cx.output(0)?);
    let g = q.geometry(d.dtype, &d.shape, &idx.shape, &s.shape)?;
    let t = l.ty(s)?;
    if !matches!(t, GpuType::F32 | GpuType::F16) || y.dtype != s.dtype {
        return Err(format!("GatherBlockQuantized to {} has no GPU kernel", y.dtype));
    }
    let idx64 = match idx.dtype {
        DType::I64 => true,
        DType::I32 => false,
        dt => return Err(format!("GatherBlockQuantized with {dt} indices has no GPU kernel")),
    };
    let packed = d.dtype == DType::U8;
    let bits = if packed { q.bits } else { 4 };
    let sn: usize = s.shape.iter().product();
    let mut consts = Vec::new();
    let (zref, zp_mode) = match cx.inputs.get(3).and_then(|o| o.as_ref()) {
        None => {
            consts.push(Tensor::zeros(DType::U32, &[1])?);
            (Ref::Const(0), 0)
        }
        Some(z) => {
            let zn: usize = z.shape.iter().product();
            let want = if packed { sn / g.scale_full_block.max(1) * g.zp_row } else { sn };
            if z.dtype != d.dtype || zn != want {
                return Err(format!("zero_points must be {} with {want} elements", d.dtype));
            }
            (Ref::Input(3), if packed { 1 } else { 2 })
        }
    };
    let n: usize = g.out_shape.iter().product();
    let p = GbqParams {
        n: u32_of(n)?,
        gather_block: u32_of(g.gather_block.max(1))?,
        n_idx: u32_of(g.n_idx.max(1))?,
        axis_dim: u32_of(g.axis_dim)?,
        qdim: u32_of(g.qdim.max(1))?,
        qn: u32_of(g.qn.max(1))?,
        block: u32_of(q.block_size)?,
        sfb: u32_of(g.scale_full_block.max(1))?,
        zp_row: u32_of(g.zp_row)?,
        zp_mode,
        packed: packed as u32,
        bits: bits as u32,
        comps: u32_of(g.comps)?,
        default_zp: if packed { 1 << (bits - 1) } else { 0 },
        ..Default::default()
    };
    u32_of(d.shape.iter().product::<usize>() * g.comps)?;
    u32_of(g.axis_dim * g.gather_block * (n / g.gather_block.max(1) / g.n_idx.max(1)).max(1))?;
    if n == 0 {
        return Ok(Lowered::empty());
    }
    let k = GpuKernel::new(
        KernelKey::Family(FamilyKey::QopGatherBlockQuantized(GbqVariant { t, idx64 })),
        &p,
        grid_1d(n, 256),
    );
    Ok(Lowered {
        dispatches: vec![LoweredDispatch {
            kernel: k,
            bindings: vec![Ref::Input(0), Ref::Input(1), Ref::Input(2), zref, Ref::Output(0)],
        }],
        scratch: vec![],
        consts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::kernels::tests::check;

    #[test]
    fn params_match_shaders() {
        check::<LookupParams>(KernelKey::Family(FamilyKey::QopLookup(LookupVariant)));
        check::<GlobalAvgPoolParams>(KernelKey::Family(FamilyKey::QopGlobalAvgPool(GlobalAvgPoolVariant)));
        check::<QGemmParams>(KernelKey::Family(FamilyKey::QopQGemm(QGemmVariant { requant: true })));
        check::<IntToFloatParams>(KernelKey::Family(FamilyKey::QopIntToFloat(IntToFloatVariant)));
        let v = GbqVariant { t: GpuType::F16, idx64: true };
        check::<GbqParams>(KernelKey::Family(FamilyKey::QopGatherBlockQuantized(v)));
    }
}
