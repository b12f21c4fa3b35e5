//! Fast f32 kernels of the CPU backend. The reference kernels in `ops/` stay the oracle
//! (f64 math, every dtype); where a node's tensors are f32 (bool for masks) and its geometry
//! is one these kernels cover, the CPU lowering picks a [`Fast`] kernel at plan time with the
//! geometry resolved, and the backend runs it on the arena slices directly (no copies, no
//! f64 round trip), split over the session's rayon pool. MatMul/Gemm/Conv use a packed GEMM
//! (`matrixmultiply`) accumulating in f32; elementwise arithmetic gives the reference's
//! results bit for bit; reductions accumulate in f64.

pub mod conv;
pub mod elementwise;
pub mod gemm;
pub mod packed;
pub mod rows;

use crate::ir::Op;
use crate::plan::LowerCx;
use crate::tensor::DType;

/// A node's fast kernel with its plan-time geometry.
#[derive(Debug)]
pub enum Fast {
    MatMul(rows::MatMulPlan),
    Gemm(rows::GemmPlan),
    Conv(conv::ConvPlan),
    /// The optimizer's FusedConv with a clamp activation (none, Relu, Clip): `clamp(Conv + Z)`,
    /// the residual Z (input 3) optional.
    FusedConv(conv::ConvPlan, f32, f32),
    MaxPool(conv::PoolPlan),
    GlobalPool(conv::GlobalPoolPlan),
    Unary(elementwise::UnaryPlan),
    Binary(elementwise::BinaryPlan),
    Where(elementwise::Bcast),
    Gather(rows::GatherPlan),
    /// And/Or/Xor on bools.
    Logic(crate::ops::elementwise::BinaryOp, elementwise::Bcast),
    Clip(elementwise::ClipPlan),
    Softmax(rows::SoftmaxPlan),
    LayerNorm(rows::LayerNormPlan),
    Reduce(rows::ReducePlan),
    Transpose(rows::TransposePlan),
    Concat(rows::ConcatPlan),
    /// The optimizer's FusedMatMul: the product (a MatMul or Gemm plan), then its epilogue.
    FusedMatMul(Box<Fast>, MatMulEpilogue),
    /// The optimizer's FusedElementwise on f32 tensors.
    FusedElementwise(elementwise::Bcast, crate::ops::fused_ew::FusedElementwise),
}

/// What a MatMul-based FusedMatMul applies to the product, in this order: the scale alpha, the
/// bias Add (input 2, broadcast), the residual Add (input 3, the product's shape), the
/// activation. A Gemm-based one has only the activation (Gemm's plan applies its own alpha
/// and C).
#[derive(Debug)]
pub struct MatMulEpilogue {
    alpha: f32,
    bias: Option<elementwise::BinaryPlan>,
    residual: bool,
    act: crate::ops::fused::Act,
}

impl MatMulEpilogue {
    fn act(act: crate::ops::fused::Act) -> Self {
        MatMulEpilogue { alpha: 1.0, bias: None, residual: false, act }
    }
}

impl Fast {
    /// A short name for plan listings.
    pub fn label(&self) -> &'static str {
        match self {
            Fast::MatMul(_) => "sgemm",
            Fast::Gemm(_) => "sgemm",
            Fast::Conv(p) | Fast::FusedConv(p, ..) => p.label(),
            Fast::MaxPool(_) => "maxpool2d_f32",
            Fast::GlobalPool(_) => "globalpool_f32",
            Fast::Unary(_) => "unary_f32",
            Fast::Binary(_) => "binary_f32",
            Fast::Where(_) => "where_f32",
            Fast::Gather(_) => "gather",
            Fast::Logic(..) => "logic_bool",
            Fast::Clip(_) => "clip_f32",
            Fast::Softmax(_) => "softmax_f32",
            Fast::LayerNorm(_) => "layernorm_f32",
            Fast::Reduce(_) => "reduce_f32",
            Fast::Transpose(_) => "transpose",
            Fast::Concat(_) => "concat",
            Fast::FusedMatMul(p, _) => p.label(),
            Fast::FusedElementwise(..) => "fused_elementwise_f32",
        }
    }

    /// True for kernels that may take a fused Clip/Relu on their f32 result.
    pub fn fusable(&self) -> bool {
        matches!(self, Fast::Conv(_) | Fast::MatMul(_) | Fast::Gemm(_))
    }

    /// Picks a fast kernel for a node, or `None` (the reference kernel runs).
    pub fn select(cx: &LowerCx) -> Option<Fast> {
        // Only nodes whose declared outputs are all computed here, other than the first, are
        // candidates when they have a single output.
        let n_out = cx.outputs.iter().filter(|o| o.is_some()).count();
        if n_out != 1 || cx.outputs[0].is_none() {
            return None;
        }
        let out = cx.outputs[0].as_ref()?;
        if out.shape.iter().product::<usize>() == 0 {
            return None;
        }
        let f32_in = |i: usize| cx.inputs.get(i).and_then(|o| o.as_ref()).is_some_and(|o| o.dtype == DType::F32);
        let shape = |i: usize| cx.inputs.get(i).and_then(|o| o.as_ref()).map(|o| o.shape.as_slice());
        match &cx.node.op {
            Op::MatMul(_) if f32_in(0) && f32_in(1) => rows::MatMulPlan::new(shape(0)?, shape(1)?).map(Fast::MatMul),
            Op::Gemm(g) if f32_in(0) && f32_in(1) && (cx.inputs.len() < 3 || cx.inputs[2].is_none() || f32_in(2)) => {
                rows::GemmPlan::new(g, shape(0)?, shape(1)?, shape(2)).map(Fast::Gemm)
            }
            Op::Conv(c) if f32_in(0) && f32_in(1) && (cx.inputs.len() < 3 || cx.inputs[2].is_none() || f32_in(2)) => {
                let mut p = conv::ConvPlan::new(c, shape(0)?, shape(1)?, shape(2), &out.shape)?;
                prepack_weights(&mut p, cx);
                Some(Fast::Conv(p))
            }
            Op::FusedConv(fc)
                if f32_in(0)
                    && f32_in(1)
                    && (cx.inputs.len() < 3 || cx.inputs[2].is_none() || f32_in(2))
                    && (cx.inputs.len() < 4 || cx.inputs[3].is_none() || f32_in(3)) =>
            {
                use crate::ops::fused::ActKind;
                let (lo, hi) = match fc.act.kind {
                    ActKind::None => (f32::NEG_INFINITY, f32::INFINITY),
                    ActKind::Relu => (0.0, f32::INFINITY),
                    ActKind::Clip => (fc.act.alpha, fc.act.beta),
                    _ => return None,
                };
                let mut p = conv::ConvPlan::new(&fc.conv, shape(0)?, shape(1)?, shape(2), &out.shape)?;
                prepack_weights(&mut p, cx);
                Some(Fast::FusedConv(p, lo, hi))
            }
            Op::FusedMatMul(f)
                if f32_in(0)
                    && f32_in(1)
                    && (cx.inputs.len() < 3 || cx.inputs[2].is_none() || f32_in(2))
                    && (cx.inputs.len() < 4
                        || cx.inputs[3].is_none()
                        || (f32_in(3) && shape(3) == Some(&out.shape[..]))) =>
            {
                use crate::ops::fused_ew::MatMulBase;
                use crate::ops::matmul::Gemm;
                match &f.base {
                    MatMulBase::Gemm(g) => {
                        let g = Gemm { trans_a: g.trans_a ^ f.trans_a, trans_b: g.trans_b ^ f.trans_b, ..g.clone() };
                        rows::GemmPlan::new(&g, shape(0)?, shape(1)?, shape(2))
                            .map(|p| Fast::FusedMatMul(Box::new(Fast::Gemm(p)), MatMulEpilogue::act(f.act)))
                    }
                    MatMulBase::MatMul => {
                        let l = crate::ops::matmul::matmul_layout(
                            (shape(0)?, f.perm_a.as_deref(), f.trans_a),
                            (shape(1)?, f.perm_b.as_deref(), f.trans_b),
                            f.perm_y.as_deref(),
                        )
                        .ok()?;
                        let p = rows::MatMulPlan::new_layout(&l)?;
                        let bias = match shape(2) {
                            Some(c) => Some(elementwise::BinaryPlan::new(
                                crate::ops::elementwise::BinaryOp::Add,
                                &out.shape,
                                c,
                                &out.shape,
                            )?),
                            None => None,
                        };
                        let residual = shape(3).is_some();
                        let ep = MatMulEpilogue { alpha: f.alpha, bias, residual, act: f.act };
                        Some(Fast::FusedMatMul(Box::new(Fast::MatMul(p)), ep))
                    }
                }
            }
            Op::FusedElementwise(f) if f.dtype == DType::F32 && (0..f.n_inputs).all(f32_in) => {
                let shapes: Option<Vec<&[usize]>> = (0..f.n_inputs).map(shape).collect();
                elementwise::Bcast::new(&shapes?, &out.shape).map(|b| Fast::FusedElementwise(b, f.clone()))
            }
            Op::Pool(p) if f32_in(0) => conv::PoolPlan::new(p, shape(0)?, &out.shape).map(Fast::MaxPool),
            Op::GlobalPool(p) if f32_in(0) => conv::GlobalPoolPlan::new(p, shape(0)?, &out.shape).map(Fast::GlobalPool),
            Op::Unary(u) if f32_in(0) => elementwise::UnaryPlan::new(u, out.dtype).map(Fast::Unary),
            Op::Binary(b) if f32_in(0) && f32_in(1) && out.dtype == DType::F32 => {
                elementwise::BinaryPlan::new(b.op, shape(0)?, shape(1)?, &out.shape).map(Fast::Binary)
            }
            Op::Binary(b)
                if b.op.is_logic()
                    && cx.input(0).ok()?.dtype == DType::Bool
                    && cx.input(1).ok()?.dtype == DType::Bool
                    && out.dtype == DType::Bool =>
            {
                elementwise::Bcast::new(&[shape(0)?, shape(1)?], &out.shape).map(|bc| Fast::Logic(b.op, bc))
            }
            Op::Where(_)
                if cx.input(0).ok()?.dtype == DType::Bool && f32_in(1) && f32_in(2) && out.dtype == DType::F32 =>
            {
                elementwise::Bcast::new(&[shape(0)?, shape(1)?, shape(2)?], &out.shape).map(Fast::Where)
            }
            Op::Clip(c) if f32_in(0) => {
                let bound = |i: usize, attr: Option<f32>| -> Option<Option<f32>> {
                    match cx.inputs.get(i).and_then(|o| o.as_ref()) {
                        None => Some(attr),
                        // Run-time bounds: read at run time (scalars).
                        Some(o) if o.dtype == DType::F32 && o.shape.iter().product::<usize>() == 1 => Some(None),
                        Some(_) => None,
                    }
                };
                Some(Fast::Clip(elementwise::ClipPlan { min: bound(1, c.min)?, max: bound(2, c.max)? }))
            }
            Op::Softmax(s) if f32_in(0) => rows::SoftmaxPlan::new(s, shape(0)?).map(Fast::Softmax),
            Op::LayerNorm(l)
                if f32_in(0) && f32_in(1) && (cx.inputs.len() < 3 || cx.inputs[2].is_none() || f32_in(2)) =>
            {
                rows::LayerNormPlan::new(l, shape(0)?, shape(1)?, shape(2)).map(Fast::LayerNorm)
            }
            Op::Reduce(r) if f32_in(0) => {
                let axes_t = if r.axes_input {
                    cx.inputs.get(1).and_then(|o| o.as_ref()).map(|o| o.value.as_ref())
                } else {
                    None
                };
                if r.axes_input && axes_t.is_some_and(|v| v.is_none()) {
                    return None;
                }
                rows::ReducePlan::new(r, shape(0)?, axes_t.flatten()).map(Fast::Reduce)
            }
            Op::Gather(g) => {
                let (x, i) = (cx.input(0).ok()?, cx.input(1).ok()?);
                rows::GatherPlan::new(g.axis, &x.shape, x.dtype, i.dtype).map(Fast::Gather)
            }
            Op::Transpose(t) => {
                let x = cx.input(0).ok()?;
                rows::TransposePlan::new(t, &x.shape, x.dtype).map(Fast::Transpose)
            }
            Op::Concat(c) => {
                let ins: Option<Vec<&crate::plan::Operand>> = cx.inputs.iter().map(|o| o.as_ref()).collect();
                rows::ConcatPlan::new(c, &ins?, &out.shape).map(Fast::Concat)
            }
            _ => None,
        }
    }

    /// Runs the kernel: `ins` holds every input slot's bytes (`None` = omitted), `out` the
    /// first output's bytes; `scratch` is reused between steps and runs; `act`: clamp bounds
    /// of a Clip/Relu fused onto this node's (f32) result.
    pub fn run(
        &self,
        ins: &[Option<&[u8]>],
        out: &mut [u8],
        scratch: &mut Vec<f32>,
        act: Option<(f32, f32)>,
    ) -> Result<(), String> {
        if let Fast::Conv(p) = self {
            return p.run(
                f32s(req(ins, 0)?)?,
                f32s(req(ins, 1)?)?,
                opt_f32s(ins, 2)?,
                f32s_mut(out)?,
                scratch,
                act,
                None,
            );
        }
        if let Fast::FusedConv(p, lo, hi) = self {
            let (lo, hi) = match act {
                Some((l, h)) => (lo.max(l), hi.min(h)),
                None => (*lo, *hi),
            };
            let clamp = (lo > f32::NEG_INFINITY || hi < f32::INFINITY).then_some((lo, hi));
            let (x, w, b, y) = (f32s(req(ins, 0)?)?, f32s(req(ins, 1)?)?, opt_f32s(ins, 2)?, f32s_mut(out)?);
            return p.run(x, w, b, y, scratch, clamp, opt_f32s(ins, 3)?);
        }
        self.run_plain(ins, out, scratch)?;
        if let Some((lo, hi)) = act {
            conv::clamp(f32s_mut(out)?, lo, hi);
        }
        Ok(())
    }

    fn run_plain(&self, ins: &[Option<&[u8]>], out: &mut [u8], scratch: &mut Vec<f32>) -> Result<(), String> {
        match self {
            Fast::MatMul(p) => p.run(f32s(req(ins, 0)?)?, f32s(req(ins, 1)?)?, f32s_mut(out)?),
            Fast::Gemm(p) => p.run(f32s(req(ins, 0)?)?, f32s(req(ins, 1)?)?, opt_f32s(ins, 2)?, f32s_mut(out)?),
            Fast::Conv(p) => {
                p.run(f32s(req(ins, 0)?)?, f32s(req(ins, 1)?)?, opt_f32s(ins, 2)?, f32s_mut(out)?, scratch, None, None)
            }
            Fast::FusedConv(..) => self.run(ins, out, scratch, None),
            Fast::MaxPool(p) => p.run(f32s(req(ins, 0)?)?, f32s_mut(out)?),
            Fast::GlobalPool(p) => p.run(f32s(req(ins, 0)?)?, f32s_mut(out)?),
            Fast::Unary(p) => p.run(f32s(req(ins, 0)?)?, out),
            Fast::Binary(p) => p.run(f32s(req(ins, 0)?)?, f32s(req(ins, 1)?)?, f32s_mut(out)?),
            Fast::Logic(op, b) => elementwise::logic_bool(b, *op, req(ins, 0)?, req(ins, 1)?, out),
            Fast::Gather(p) => p.run(req(ins, 0)?, req(ins, 1)?, out),
            Fast::Where(b) => {
                elementwise::where_f32(b, req(ins, 0)?, f32s(req(ins, 1)?)?, f32s(req(ins, 2)?)?, f32s_mut(out)?)
            }
            Fast::Clip(p) => {
                let lo = opt_f32s(ins, 1)?.and_then(|v| v.first().copied()).or(p.min);
                let hi = opt_f32s(ins, 2)?.and_then(|v| v.first().copied()).or(p.max);
                elementwise::clip(f32s(req(ins, 0)?)?, lo, hi, f32s_mut(out)?);
                Ok(())
            }
            Fast::Softmax(p) => p.run(f32s(req(ins, 0)?)?, f32s_mut(out)?),
            Fast::LayerNorm(p) => p.run(f32s(req(ins, 0)?)?, f32s(req(ins, 1)?)?, opt_f32s(ins, 2)?, f32s_mut(out)?),
            Fast::Reduce(p) => p.run(f32s(req(ins, 0)?)?, f32s_mut(out)?),
            Fast::Transpose(p) => p.run(req(ins, 0)?, out),
            Fast::Concat(p) => p.run(ins, out),
            Fast::FusedElementwise(b, f) => {
                let ins: Vec<&[f32]> = (0..f.n_inputs).map(|i| f32s(req(ins, i)?)).collect::<Result<_, _>>()?;
                elementwise::fused_f32(b, f, &ins, f32s_mut(out)?);
                Ok(())
            }
            Fast::FusedMatMul(p, MatMulEpilogue { alpha, bias, residual, act }) => {
                p.run_plain(ins, out, scratch)?;
                let y = f32s_mut(out)?;
                if *alpha != 1.0 {
                    let a = *alpha;
                    elementwise::map_in_place(y, move |v| v * a);
                }
                if let Some(b) = bias {
                    let c = f32s(req(ins, 2)?)?;
                    if b.b.dims.len() == 2 && b.b.strides[1] == [0, 1] && c.len() == b.b.dims[1] {
                        // A bias row added to every row of the product, in place.
                        elementwise::add_rows(y, c);
                    } else {
                        scratch.clear();
                        scratch.extend_from_slice(y);
                        b.run(scratch, c, y)?;
                    }
                }
                if *residual {
                    let r = f32s(req(ins, 3)?)?;
                    if r.len() != y.len() {
                        return Err("FusedMatMul: the residual's size differs from the product's".into());
                    }
                    y.iter_mut().zip(r).for_each(|(v, &e)| *v += e);
                }
                use crate::ops::elementwise::UnaryOp;
                use crate::ops::fused::ActKind;
                let op = match act.kind {
                    ActKind::None => return Ok(()),
                    ActKind::Silu => {
                        elementwise::map_in_place(y, |v| v * UnaryOp::Sigmoid.apply(v as f64, 0.0, 0.0) as f32);
                        return Ok(());
                    }
                    k => k.unary().ok_or_else(|| format!("activation {k:?} has no unary op"))?,
                };
                let (al, be) = (act.alpha as f64, act.beta as f64);
                // The common activations with the op a constant, so the per-element match folds away.
                match op {
                    UnaryOp::Relu => {
                        elementwise::map_in_place(y, |v| elementwise::unary_one(UnaryOp::Relu, v, 0.0, 0.0))
                    }
                    UnaryOp::Gelu => {
                        elementwise::map_in_place(y, |v| elementwise::unary_one(UnaryOp::Gelu, v, 0.0, 0.0))
                    }
                    _ => elementwise::map_in_place(y, move |v| elementwise::unary_one(op, v, al, be)),
                }
                Ok(())
            }
        }
    }
}

/// Packs a Conv's weights at plan time when they are a known constant.
fn prepack_weights(p: &mut conv::ConvPlan, cx: &LowerCx) {
    if let Some(w) = cx.inputs.get(1).and_then(|o| o.as_ref()).and_then(|o| o.value.as_ref()) {
        if let Ok(w) = w.as_slice::<f32>() {
            p.prepack(w);
        }
    }
}

fn req<'a>(ins: &[Option<&'a [u8]>], i: usize) -> Result<&'a [u8], String> {
    ins.get(i).copied().flatten().ok_or_else(|| format!("input {i} is required"))
}

pub(crate) fn f32s(b: &[u8]) -> Result<&[f32], String> {
    bytemuck::try_cast_slice(b).map_err(|e| format!("f32 view of {} bytes: {e}", b.len()))
}

pub(crate) fn f32s_mut(b: &mut [u8]) -> Result<&mut [f32], String> {
    let n = b.len();
    bytemuck::try_cast_slice_mut(b).map_err(|e| format!("f32 view of {n} bytes: {e}"))
}

fn opt_f32s<'a>(ins: &[Option<&'a [u8]>], i: usize) -> Result<Option<&'a [f32]>, String> {
    ins.get(i).copied().flatten().map(f32s).transpose()
}

/// Splits `0..n` into about one chunk per pool thread (at least `min` items each).
pub(crate) fn chunk_len(n: usize, min: usize) -> usize {
    let t = rayon::current_num_threads().max(1);
    n.div_ceil(t).max(min).max(1)
}
