//! Normalization and small elementwise kernels (`shaders/normalize/`):
//! - `rows.wgsl`: row statistics with one workgroup per row — LayerNormalization (with its Mean
//!   and InvStdDev outputs), RMSNormalization, GroupNormalization, InstanceNormalization,
//!   LpNormalization, MeanVarianceNormalization and training-mode BatchNormalization (with its
//!   running mean/variance outputs). Rows and row elements are arbitrary sets of dims described
//!   by strides into X, Scale and Bias, so no op needs a transpose or a broadcast copy.
//! - `pointwise.wgsl`: Swish, SwiGLU, Shrink, BitwiseNot.
//! - `det.wgsl`: Det (LU with partial pivoting, one invocation per matrix).
//!
//! Statistics and float math run in f32 (16-bit floats included); f64 inputs are left to the
//! CPU.

use super::{
    dims8, grid_1d, grid_groups, u32_of, FamilyKey, GpuKernel, GpuLowering, GpuType, KernelKey, KernelVariant,
};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::misc::{Shrink, SwiGlu, Swish};
use crate::ops::norm::{BatchNormTrain, GroupNorm, InstanceNorm, LayerNorm, LpNorm, Mvn, RmsNorm};
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Operand, Ref};
use crate::tensor::shape::{broadcast_strides, norm_axis, strides};

/// The float types the f32-math kernels serve.
const FLOATS: [GpuType; 3] = [GpuType::F32, GpuType::F16, GpuType::BF16];

/// The element type of a float operand computed in f32 (not f64).
fn float32(l: &GpuLowering, o: &Operand, what: &str) -> Result<GpuType, String> {
    let t = l.ty(o)?;
    if !FLOATS.contains(&t) {
        return Err(format!("{what} on {} has no GPU kernel", o.dtype));
    }
    Ok(t)
}

fn opt_input<'a>(cx: &'a LowerCx, i: usize) -> Option<&'a Operand> {
    cx.inputs.get(i).and_then(|o| o.as_ref())
}

fn opt_output<'a>(cx: &'a LowerCx, i: usize) -> Option<&'a Operand> {
    cx.outputs.get(i).and_then(|o| o.as_ref())
}

// ---- row statistics ------------------------------------------------------------------------

/// What a row kernel computes (see `shaders/normalize/rows.wgsl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RowMode {
    MeanVar,
    Running,
    Rms,
    L1,
    L2,
    Mvn,
}

impl RowMode {
    pub const ALL: [RowMode; 6] =
        [RowMode::MeanVar, RowMode::Running, RowMode::Rms, RowMode::L1, RowMode::L2, RowMode::Mvn];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RowsVariant {
    pub mode: RowMode,
    /// X, Scale, Bias and Y.
    pub t: GpuType,
    /// The statistics outputs (Mean/InvStdDev, running mean/var).
    pub s: GpuType,
}

impl KernelVariant for RowsVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::NORM_ROWS
    }
    fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.alias("S", self.s.storage()).bool("S_BF16", self.s == GpuType::BF16);
        p.codes("ROWS", &RowMode::ALL, |m| m as u32).u32("MODE", self.mode as u32).lib(&shaders::ROW_SUM_LIB);
    }
    fn storage_bindings(&self) -> u32 {
        6
    }
    fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for mode in RowMode::ALL {
            for t in FLOATS {
                for s in FLOATS {
                    v.push(RowsVariant { mode, t, s });
                }
            }
        }
        v
    }
}

gpu_params!(
    /// `shaders/normalize/rows.wgsl` Params.
    RowsParams {
        rows: u32,
        len: u32,
        kept_rank: u32,
        red_rank: u32,
        epsilon: f32,
        momentum: f32,
        flags: u32,
        pad0: u32,
        kept_shape: super::Dims8,
        kept_x: super::Dims8,
        kept_s: super::Dims8,
        kept_b: super::Dims8,
        red_shape: super::Dims8,
        red_x: super::Dims8,
        red_s: super::Dims8,
        red_b: super::Dims8,
    }
);

const HAS_SCALE: u32 = 1;
const HAS_BIAS: u32 = 2;
const WRITE_ST0: u32 = 4;
const WRITE_ST1: u32 = 8;

/// One dim of a row kernel's view: its size, its strides into X (and Y), Scale and Bias, and
/// whether it is reduced (part of a row) or kept (enumerates rows, row-major in view order).
#[derive(Clone, Copy, Debug)]
struct ViewDim {
    size: usize,
    x: usize,
    s: usize,
    b: usize,
    red: bool,
}

/// The view of X's own dims, `red(d)` telling the reduced ones; no Scale/Bias strides.
fn plain_view(shape: &[usize], red: impl Fn(usize) -> bool) -> Vec<ViewDim> {
    let st = strides(shape);
    (0..shape.len()).map(|d| ViewDim { size: shape[d], x: st[d], s: 0, b: 0, red: red(d) }).collect()
}

/// `view` without size-1 dims and with neighbours of one kind merged where all three strides
/// are contiguous across them (fewer index divisions; the row order is unchanged).
fn collapse(view: &[ViewDim]) -> Vec<ViewDim> {
    let mut out: Vec<ViewDim> = Vec::new();
    for &d in view.iter().filter(|d| d.size != 1) {
        match out.last_mut() {
            Some(p) if p.red == d.red && p.x == d.size * d.x && p.s == d.size * d.s && p.b == d.size * d.b => {
                p.size *= d.size;
                p.x = d.x;
                p.s = d.s;
                p.b = d.b;
            }
            _ => out.push(d),
        }
    }
    out
}

struct RowsSpec {
    mode: RowMode,
    t: GpuType,
    s: GpuType,
    epsilon: f32,
    momentum: f32,
    flags: u32,
}

/// The row kernel over `view`; `Ok(None)` when there is nothing to compute.
fn rows_kernel(spec: &RowsSpec, view: &[ViewDim]) -> Result<Option<GpuKernel>, String> {
    let (kept, red): (Vec<ViewDim>, Vec<ViewDim>) = collapse(view).into_iter().partition(|d| !d.red);
    let rows: usize = kept.iter().map(|d| d.size).product();
    let len: usize = red.iter().map(|d| d.size).product();
    if rows == 0 {
        return Ok(None);
    }
    if len == 0 {
        // Y is empty; statistics of empty rows are undefined.
        if spec.flags & (WRITE_ST0 | WRITE_ST1) == 0 {
            return Ok(None);
        }
        return Err("normalization statistics over an empty set of elements".into());
    }
    let f = |v: &[ViewDim], g: fn(&ViewDim) -> usize| dims8(&v.iter().map(g).collect::<Vec<_>>());
    let p = RowsParams {
        rows: u32_of(rows)?,
        len: u32_of(len)?,
        kept_rank: kept.len() as u32,
        red_rank: red.len() as u32,
        epsilon: spec.epsilon,
        momentum: spec.momentum,
        flags: spec.flags,
        pad0: 0,
        kept_shape: f(&kept, |d| d.size)?,
        kept_x: f(&kept, |d| d.x)?,
        kept_s: f(&kept, |d| d.s)?,
        kept_b: f(&kept, |d| d.b)?,
        red_shape: f(&red, |d| d.size)?,
        red_x: f(&red, |d| d.x)?,
        red_s: f(&red, |d| d.s)?,
        red_b: f(&red, |d| d.b)?,
    };
    let v = RowsVariant { mode: spec.mode, t: spec.t, s: spec.s };
    Ok(Some(GpuKernel::new(KernelKey::Family(FamilyKey::NormRows(v)), &p, grid_groups(rows))))
}

/// Lowered row kernel with bindings (x, scale, bias, y, st0, st1) after `pre` dispatches.
fn rows_lowered(
    spec: &RowsSpec,
    view: &[ViewDim],
    bindings: [Ref; 6],
    mut pre: Vec<LoweredDispatch<GpuKernel>>,
) -> Result<Lowered<GpuKernel>, String> {
    match rows_kernel(spec, view)? {
        Some(k) => pre.push(LoweredDispatch { kernel: k, bindings: bindings.to_vec() }),
        None => return Ok(Lowered::empty()),
    }
    Ok(Lowered { dispatches: pre, scratch: vec![], consts: vec![] })
}

/// Strides of a parameter of shape `p` broadcast unidirectionally onto `x`.
fn param_strides(p: &[usize], x: &[usize], what: &str) -> Result<Vec<usize>, String> {
    let bad = p.len() > x.len() || p.iter().rev().zip(x.iter().rev()).any(|(&a, &b)| a != b && a != 1);
    if bad {
        return Err(format!("{what} of shape {p:?} does not broadcast onto {x:?}"));
    }
    Ok(broadcast_strides(p, x))
}

/// The type of an optional statistics output (f32 when none is computed).
fn stats_type(l: &GpuLowering, outs: &[Option<&Operand>]) -> Result<GpuType, String> {
    let mut s = None;
    for o in outs.iter().flatten() {
        let t = float32(l, o, "a statistics output")?;
        if s.is_some_and(|s| s != t) {
            return Err("statistics outputs of different types have no GPU kernel".into());
        }
        s = Some(t);
    }
    Ok(s.unwrap_or(GpuType::F32))
}

fn same_type(l: &GpuLowering, o: &Operand, t: GpuType, what: &str) -> Result<(), String> {
    if l.ty(o)? != t {
        return Err(format!("{what} of another type than X has no GPU kernel"));
    }
    Ok(())
}

pub fn lower_layer_norm(l: &GpuLowering, cx: &LowerCx, ln: &LayerNorm) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let t = float32(l, x, "LayerNormalization")?;
    let axis = norm_axis(ln.axis, x.shape.len())?;
    let scale = cx.input(1)?;
    same_type(l, scale, t, "Scale")?;
    let sst = param_strides(&scale.shape, &x.shape, "Scale")?;
    let bias = opt_input(cx, 2);
    let bst = match bias {
        Some(b) => {
            same_type(l, b, t, "B")?;
            param_strides(&b.shape, &x.shape, "B")?
        }
        None => vec![0; x.shape.len()],
    };
    let (mean, inv) = (opt_output(cx, 1), opt_output(cx, 2));
    let s = stats_type(l, &[mean, inv])?;
    let mut flags = HAS_SCALE;
    flags |= if bias.is_some() { HAS_BIAS } else { 0 };
    flags |= if mean.is_some() { WRITE_ST0 } else { 0 };
    flags |= if inv.is_some() { WRITE_ST1 } else { 0 };
    let xst = strides(&x.shape);
    let view: Vec<ViewDim> = (0..x.shape.len())
        .map(|d| ViewDim { size: x.shape[d], x: xst[d], s: sst[d], b: bst[d], red: d >= axis })
        .collect();
    let spec = RowsSpec { mode: RowMode::MeanVar, t, s, epsilon: ln.epsilon, momentum: 0.0, flags };
    let pick = |o: Option<&Operand>, r: Ref| if o.is_some() { r } else { Ref::Input(0) };
    let bindings = [
        Ref::Input(0),
        Ref::Input(1),
        pick(bias, Ref::Input(2)),
        Ref::Output(0),
        pick(mean, Ref::Output(1)),
        pick(inv, Ref::Output(2)),
    ];
    rows_lowered(&spec, &view, bindings, vec![])
}

pub fn lower_rms_norm(l: &GpuLowering, cx: &LowerCx, r: &RmsNorm) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let t = float32(l, x, "RMSNormalization")?;
    let axis = norm_axis(r.axis, x.shape.len())?;
    let scale = cx.input(1)?;
    same_type(l, scale, t, "scale")?;
    let sst = param_strides(&scale.shape, &x.shape, "scale")?;
    let xst = strides(&x.shape);
    let view: Vec<ViewDim> =
        (0..x.shape.len()).map(|d| ViewDim { size: x.shape[d], x: xst[d], s: sst[d], b: 0, red: d >= axis }).collect();
    let spec = RowsSpec { mode: RowMode::Rms, t, s: GpuType::F32, epsilon: r.epsilon, momentum: 0.0, flags: HAS_SCALE };
    let bindings = [Ref::Input(0), Ref::Input(1), Ref::Input(0), Ref::Output(0), Ref::Input(0), Ref::Input(0)];
    rows_lowered(&spec, &view, bindings, vec![])
}

/// Checks a 1-D per-channel (or per-group) parameter of `n` entries.
fn check_param(l: &GpuLowering, o: &Operand, t: GpuType, n: usize, what: &str) -> Result<(), String> {
    same_type(l, o, t, what)?;
    if o.shape != [n] {
        return Err(format!("{what} has shape {:?}, expected [{n}]", o.shape));
    }
    Ok(())
}

pub fn lower_group_norm(l: &GpuLowering, cx: &LowerCx, g: &GroupNorm) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let t = float32(l, x, "GroupNormalization")?;
    if x.shape.len() < 2 {
        return Err(format!("GroupNormalization needs rank ≥ 2, got {}", x.shape.len()));
    }
    let (n, c, groups) = (x.shape[0], x.shape[1], g.num_groups);
    if groups == 0 || c % groups != 0 {
        return Err(format!("{c} channels do not split into {groups} groups"));
    }
    let per = c / groups;
    let spatial: usize = x.shape[2..].iter().product();
    let want = if g.per_channel { c } else { groups };
    check_param(l, cx.input(1)?, t, want, "scale")?;
    check_param(l, cx.input(2)?, t, want, "bias")?;
    // [N, G, C/G, S]: rows (N, G), elements (C/G, S).
    let (gs, cs) = if g.per_channel { (per, 1) } else { (1, 0) };
    let view = [
        ViewDim { size: n, x: c * spatial, s: 0, b: 0, red: false },
        ViewDim { size: groups, x: per * spatial, s: gs, b: gs, red: false },
        ViewDim { size: per, x: spatial, s: cs, b: cs, red: true },
        ViewDim { size: spatial, x: 1, s: 0, b: 0, red: true },
    ];
    let spec = RowsSpec {
        mode: RowMode::MeanVar,
        t,
        s: GpuType::F32,
        epsilon: g.epsilon,
        momentum: 0.0,
        flags: HAS_SCALE | HAS_BIAS,
    };
    let bindings = [Ref::Input(0), Ref::Input(1), Ref::Input(2), Ref::Output(0), Ref::Input(0), Ref::Input(0)];
    rows_lowered(&spec, &view, bindings, vec![])
}

pub fn lower_instance_norm(l: &GpuLowering, cx: &LowerCx, i: &InstanceNorm) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let t = float32(l, x, "InstanceNormalization")?;
    if x.shape.len() < 3 {
        return Err(format!("InstanceNormalization needs rank ≥ 3, got {}", x.shape.len()));
    }
    let (n, c) = (x.shape[0], x.shape[1]);
    let spatial: usize = x.shape[2..].iter().product();
    check_param(l, cx.input(1)?, t, c, "scale")?;
    check_param(l, cx.input(2)?, t, c, "B")?;
    let view = [
        ViewDim { size: n, x: c * spatial, s: 0, b: 0, red: false },
        ViewDim { size: c, x: spatial, s: 1, b: 1, red: false },
        ViewDim { size: spatial, x: 1, s: 0, b: 0, red: true },
    ];
    let spec = RowsSpec {
        mode: RowMode::MeanVar,
        t,
        s: GpuType::F32,
        epsilon: i.epsilon,
        momentum: 0.0,
        flags: HAS_SCALE | HAS_BIAS,
    };
    let bindings = [Ref::Input(0), Ref::Input(1), Ref::Input(2), Ref::Output(0), Ref::Input(0), Ref::Input(0)];
    rows_lowered(&spec, &view, bindings, vec![])
}

/// A row kernel without parameters or statistics over X's dims.
fn unary_rows(
    mode: RowMode,
    t: GpuType,
    x: &Operand,
    red: impl Fn(usize) -> bool,
) -> Result<Lowered<GpuKernel>, String> {
    let spec = RowsSpec { mode, t, s: GpuType::F32, epsilon: 0.0, momentum: 0.0, flags: 0 };
    let view = plain_view(&x.shape, red);
    let bindings = [Ref::Input(0), Ref::Input(0), Ref::Input(0), Ref::Output(0), Ref::Input(0), Ref::Input(0)];
    rows_lowered(&spec, &view, bindings, vec![])
}

pub fn lower_lp_norm(l: &GpuLowering, cx: &LowerCx, n: &LpNorm) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let t = float32(l, x, "LpNormalization")?;
    let axis = norm_axis(n.axis, x.shape.len())?;
    let mode = match n.p {
        1 => RowMode::L1,
        2 => RowMode::L2,
        p => return Err(format!("LpNormalization with p={p} has no GPU kernel")),
    };
    if x.shape[axis] == 0 {
        return Ok(Lowered::empty());
    }
    unary_rows(mode, t, x, |d| d == axis)
}

pub fn lower_mvn(l: &GpuLowering, cx: &LowerCx, m: &Mvn) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let t = float32(l, x, "MeanVarianceNormalization")?;
    let rank = x.shape.len();
    let mut red = vec![false; rank];
    for &a in &m.axes {
        red[norm_axis(a, rank)?] = true;
    }
    unary_rows(RowMode::Mvn, t, x, |d| red[d])
}

pub fn lower_batch_norm_train(l: &GpuLowering, cx: &LowerCx, b: &BatchNormTrain) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let t = float32(l, x, "BatchNormalization")?;
    if x.shape.len() < 2 {
        return Err(format!("BatchNormalization needs rank ≥ 2, got {}", x.shape.len()));
    }
    let c = x.shape[1];
    check_param(l, cx.input(1)?, t, c, "scale")?;
    check_param(l, cx.input(2)?, t, c, "B")?;
    let (in_mean, in_var) = (cx.input(3)?, cx.input(4)?);
    for (o, what) in [(in_mean, "input_mean"), (in_var, "input_var")] {
        if o.shape != [c] {
            return Err(format!("{what} has shape {:?}, expected [{c}]", o.shape));
        }
    }
    let (run_mean, run_var) = (opt_output(cx, 1), opt_output(cx, 2));
    let s = stats_type(l, &[run_mean.map(|_| in_mean), run_var.map(|_| in_var)])?;
    // The running statistics start as copies of the inputs and are updated in place.
    let mut pre = Vec::new();
    let mut flags = HAS_SCALE | HAS_BIAS;
    let mut st = [Ref::Input(0), Ref::Input(0)];
    for (k, (out, input)) in [(run_mean, 3), (run_var, 4)].into_iter().enumerate() {
        if let Some(o) = out {
            let kernel = super::layout::copy_kernel(l.elem(o)?, &[c], &[1], 0, &[1], 0)?;
            pre.push(LoweredDispatch { kernel, bindings: vec![Ref::Input(input), Ref::Output(k + 1)] });
            flags |= if k == 0 { WRITE_ST0 } else { WRITE_ST1 };
            st[k] = Ref::Output(k + 1);
        }
    }
    let mut view = plain_view(&x.shape, |d| d != 1);
    view[1].s = 1;
    view[1].b = 1;
    let spec = RowsSpec { mode: RowMode::Running, t, s, epsilon: b.epsilon, momentum: b.momentum, flags };
    let bindings = [Ref::Input(0), Ref::Input(1), Ref::Input(2), Ref::Output(0), st[0], st[1]];
    rows_lowered(&spec, &view, bindings, pre)
}

// ---- pointwise -----------------------------------------------------------------------------

/// The op of `shaders/normalize/pointwise.wgsl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PointwiseOp {
    Swish,
    SwiGlu,
    Shrink,
    BitwiseNot,
}

impl PointwiseOp {
    pub const ALL: [PointwiseOp; 4] =
        [PointwiseOp::Swish, PointwiseOp::SwiGlu, PointwiseOp::Shrink, PointwiseOp::BitwiseNot];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PointwiseVariant {
    pub op: PointwiseOp,
    pub t: GpuType,
}

const INTS: [GpuType; 8] =
    [GpuType::I8, GpuType::U8, GpuType::I16, GpuType::U16, GpuType::I32, GpuType::U32, GpuType::I64, GpuType::U64];

impl KernelVariant for PointwiseVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::NORM_POINTWISE
    }
    fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.codes("POINTWISE", &PointwiseOp::ALL, |o| o as u32).u32("MODE", self.op as u32);
    }
    fn storage_bindings(&self) -> u32 {
        3
    }
    fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for op in [PointwiseOp::Swish, PointwiseOp::SwiGlu, PointwiseOp::Shrink] {
            v.extend(FLOATS.iter().map(|&t| PointwiseVariant { op, t }));
        }
        v.extend(INTS.iter().map(|&t| PointwiseVariant { op: PointwiseOp::BitwiseNot, t }));
        v
    }
}

gpu_params!(
    /// `shaders/normalize/pointwise.wgsl` Params.
    PointwiseParams { n: u32, alpha: f32, beta: f32, pad0: u32 }
);

fn pointwise(op: PointwiseOp, t: GpuType, cx: &LowerCx, alpha: f32, beta: f32) -> Result<Lowered<GpuKernel>, String> {
    let y = cx.output(0)?;
    let n: usize = y.shape.iter().product();
    if n == 0 {
        return Ok(Lowered::empty());
    }
    let p = PointwiseParams { n: u32_of(n)?, alpha, beta, pad0: 0 };
    let k =
        GpuKernel::new(KernelKey::Family(FamilyKey::NormPointwise(PointwiseVariant { op, t })), &p, grid_1d(n, 256));
    let b = if op == PointwiseOp::SwiGlu { Ref::Input(1) } else { Ref::Input(0) };
    Ok(Lowered::single(k, vec![Ref::Input(0), b, Ref::Output(0)]))
}

pub fn lower_swish(l: &GpuLowering, cx: &LowerCx, s: &Swish) -> Result<Lowered<GpuKernel>, String> {
    let t = float32(l, cx.input(0)?, "Swish")?;
    pointwise(PointwiseOp::Swish, t, cx, s.alpha, 0.0)
}

pub fn lower_swiglu(l: &GpuLowering, cx: &LowerCx, s: &SwiGlu) -> Result<Lowered<GpuKernel>, String> {
    let (a, b) = (cx.input(0)?, cx.input(1)?);
    let t = float32(l, a, "SwiGLU")?;
    same_type(l, b, t, "B")?;
    if a.shape != b.shape {
        return Err(format!("SwiGLU inputs must have one shape, got {:?} and {:?}", a.shape, b.shape));
    }
    pointwise(PointwiseOp::SwiGlu, t, cx, s.alpha, 0.0)
}

pub fn lower_shrink(l: &GpuLowering, cx: &LowerCx, s: &Shrink) -> Result<Lowered<GpuKernel>, String> {
    let t = float32(l, cx.input(0)?, "Shrink")?;
    pointwise(PointwiseOp::Shrink, t, cx, s.lambd, s.bias)
}

pub fn lower_bitwise_not(l: &GpuLowering, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let t = l.ty(x)?;
    if !INTS.contains(&t) {
        return Err(format!("BitwiseNot on {} has no GPU kernel", x.dtype));
    }
    pointwise(PointwiseOp::BitwiseNot, t, cx, 0.0, 0.0)
}

// ---- Det -----------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DetVariant {
    pub t: GpuType,
}

impl KernelVariant for DetVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::NORM_DET
    }
    fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
    }
    fn storage_bindings(&self) -> u32 {
        3
    }
    fn all() -> Vec<Self> {
        FLOATS.iter().map(|&t| DetVariant { t }).collect()
    }
}

gpu_params!(
    /// `shaders/normalize/det.wgsl` Params.
    DetParams { batch: u32, n: u32, pad0: u32, pad1: u32 }
);

pub fn lower_det(l: &GpuLowering, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let t = float32(l, x, "Det")?;
    let r = x.shape.len();
    if r < 2 || x.shape[r - 1] != x.shape[r - 2] {
        return Err(format!("Det needs [.., M, M], got {:?}", x.shape));
    }
    let n = x.shape[r - 1];
    let batch: usize = x.shape[..r - 2].iter().product();
    if batch == 0 {
        return Ok(Lowered::empty());
    }
    let work = batch.checked_mul(n * n).ok_or("Det too large")?;
    u32_of(work)?;
    let p = DetParams { batch: u32_of(batch)?, n: u32_of(n)?, pad0: 0, pad1: 0 };
    let k = GpuKernel::new(KernelKey::Family(FamilyKey::NormDet(DetVariant { t })), &p, grid_1d(batch, 64));
    Ok(Lowered {
        dispatches: vec![LoweredDispatch { kernel: k, bindings: vec![Ref::Input(0), Ref::Scratch(0), Ref::Output(0)] }],
        scratch: vec![(work.max(1) * 4) as u64],
        consts: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::kernels::tests::check;

    #[test]
    fn params_match_wgsl() {
        let f = GpuType::F32;
        check::<RowsParams>(KernelKey::Family(FamilyKey::NormRows(RowsVariant { mode: RowMode::MeanVar, t: f, s: f })));
        check::<PointwiseParams>(KernelKey::Family(FamilyKey::NormPointwise(PointwiseVariant {
            op: PointwiseOp::Swish,
            t: f,
        })));
        check::<DetParams>(KernelKey::Family(FamilyKey::NormDet(DetVariant { t: f })));
    }

    #[test]
    fn views_collapse_contiguous_dims_of_one_kind() {
        // LayerNorm of [2, 3, 4, 5] over axis 2 with a [4, 5] scale: two kept dims and two
        // reduced dims merge into one each; size-1 dims vanish.
        let mut v = plain_view(&[2, 3, 1, 4, 5], |d| d >= 2);
        v[3].s = 5;
        v[4].s = 1;
        let c = collapse(&v);
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].size, c[0].x, c[0].s, c[0].red), (6, 20, 0, false));
        assert_eq!((c[1].size, c[1].x, c[1].s, c[1].red), (20, 1, 1, true));
        // A scale broadcast over the inner reduced dim keeps it apart.
        let mut v = plain_view(&[3, 4, 5], |d| d >= 1);
        v[1].s = 1;
        assert_eq!(collapse(&v).len(), 3);
        // Kept dims separated by a reduced one stay apart (MVN over axis 1).
        assert_eq!(collapse(&plain_view(&[2, 3, 4], |d| d == 1)).len(), 3);
    }
}
