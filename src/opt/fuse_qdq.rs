//! QDQ fusion: the `DequantizeLinear → op → QuantizeLinear` groups a QDQ-format model is made
//! of become one integer node, as ONNX Runtime's QDQ selectors/actions
//! (`onnxruntime/core/optimizer/qdq_transformer/selectors_actions`) rewrite them, so that the
//! result is the integer kernel's (with its requantization rounding) rather than float ops
//! between (de)quantizations:
//! - `DQ(x), DQ(w) [, DQ(int32 bias)] → Conv → Q` ⇒ QLinearConv;
//! - `DQ(a), DQ(b) → MatMul → Q` ⇒ QLinearMatMul; without any Q reader ⇒ com.microsoft
//!   MatMulIntegerToFloat;
//! - `DQ(a), DQ(b) [, DQ(int32 C)] → Gemm [→ Q]` ⇒ com.microsoft QGemm (float output without Q);
//! - `DQ, DQ → Add/Mul → Q` ⇒ QLinearAdd/QLinearMul; `DQ → Sigmoid/LeakyRelu/GlobalAveragePool/
//!   Softmax → Q` ⇒ QLinearSigmoid/QLinearLeakyRelu/QLinearGlobalAveragePool/QLinearSoftmax;
//!   `DQ… → Concat → Q` ⇒ QLinearConcat (all com.microsoft);
//! - "drop QDQ": `DQ → Reshape/Transpose/Squeeze/Unsqueeze/Flatten/Gather/GatherElements/Slice/
//!   Expand/Tile/MaxPool → Q` with the same scale and zero point on both sides ⇒ the op runs on
//!   the integer tensor (MaxPool also needs a positive scale);
//! - a Relu or Clip whose only reader is a Q that saturates to the same range (Relu: the zero
//!   point is the type's minimum; Clip: `round(min / scale) + zp ≤ qmin` and
//!   `round(max / scale) + zp ≥ qmax`) is removed, standalone (ORT's ClipQuantFusion) and so
//!   also between an op and its Q.
//!
//! ORT's conditions are kept: every input of the op that exists comes from a DQ (the variadic
//! Concat included; the drop rules need exactly input 0 from one); the op's output is read by
//! exactly one Q (no other reader, not a graph output); 8-bit data only, the activation's,
//! the second operand's (for Conv/MatMul/Gemm: int8 activations need int8 weights) and the
//! output's types match; activation scales and zero points are per-tensor constants; weights
//! may be per output channel (Conv: DQ axis 0; MatMul/Gemm: per column of B); an int32 bias
//! must have zero point 0 and scale `x_scale · w_scale` (per channel), so its integers add to
//! the accumulator unchanged. A DQ read by several ops serves each of them (the fused node
//! reads the DQ's integer input, which is what ORT's per-consumer DQ duplication achieves);
//! a DQ left without readers is removed.
//!
//! The pass must run before constant folding, which would turn `DQ(constant weight)` into a
//! float constant and hide the pattern.

use super::fuse_epilogue::hidden_reads;
use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Node, NodeId, Op, ValueId};
use crate::ops::contrib_quant::{QLinearBinary, QLinearSoftmax};
use crate::ops::elementwise::{BinaryOp, UnaryOp};
use crate::ops::pool::PoolKind;
use crate::ops::qoperator::{
    LookupFn, MatMulIntegerToFloat, QGemm, QLinearConcat, QLinearGlobalAveragePool, QLinearLookup,
};
use crate::ops::quant::{QLinearConv, QLinearMatMul};
use crate::ops::softmax::SoftmaxKind;
use crate::tensor::shape::norm_axis;
use crate::tensor::{DType, Tensor};

pub struct FuseQdq;

impl Pass for FuseQdq {
    fn name(&self) -> &'static str {
        "fuse-qdq"
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        // Every rewrite removes at least one node.
        Ok(super::rewrite_all(g, find, apply))
    }
}

/// A main-graph DequantizeLinear feeding a value: its integer input and parameters.
#[derive(Clone, Copy, Debug)]
struct Dq {
    x: ValueId,
    scale: ValueId,
    zp: Option<ValueId>,
    /// The integer type of `x`.
    dtype: DType,
    axis: i64,
}

/// The QuantizeLinear reading an op's output.
#[derive(Clone, Copy, Debug)]
struct Qn {
    node: usize,
    y: ValueId,
    scale: ValueId,
    zp: Option<ValueId>,
    dtype: DType,
}

/// What a found group becomes.
enum Rewrite {
    /// Node `target` becomes `node`; nodes `drop` (its Q, a redundant Clip) go.
    Replace { target: usize, node: Box<Node>, drop: Vec<usize>, zps: Vec<(usize, DType)> },
    /// The Relu/Clip `clip` goes; its Q reads the Clip's input instead.
    DropClip { clip: usize, q: usize, src: ValueId },
}

struct Cx<'g> {
    g: &'g Graph,
    cons: Vec<Vec<NodeId>>,
    hidden: Vec<bool>,
}

fn is_8bit(d: DType) -> bool {
    matches!(d, DType::U8 | DType::I8)
}

impl Cx<'_> {
    fn konst(&self, v: ValueId) -> Option<&Tensor> {
        self.g.value(v).konst.as_ref()
    }

    fn dtype(&self, v: ValueId) -> Option<DType> {
        self.g.value(v).ty.as_ref().map(|t| t.dtype)
    }

    /// The one-element float32 constant `v` holds.
    fn scalar_scale(&self, v: ValueId) -> Option<f32> {
        let t = self.konst(v).filter(|t| t.numel() == 1 && t.dtype() == DType::F32)?;
        t.as_slice::<f32>().ok()?.first().copied()
    }

    /// A zero point's integer value (0 when absent); `None` unless a one-element constant.
    fn scalar_zp(&self, v: Option<ValueId>) -> Option<i64> {
        match v {
            None => Some(0),
            Some(v) => {
                let t = self.konst(v).filter(|t| t.numel() == 1)?;
                t.to_i64_vec().ok()?.first().copied()
            }
        }
    }

    /// The DequantizeLinear producing `v`, with constant float32 parameters (not blocked).
    fn dq(&self, v: ValueId) -> Option<Dq> {
        let p = self.g.value(v).producer.filter(|p| p.list == 0)?;
        let n = &self.g.nodes[p.idx()];
        let Op::DequantizeLinear(d) = &n.op else { return None };
        if d.block_size != 0 || n.outputs.len() != 1 {
            return None;
        }
        let x = n.inputs.first().copied().flatten()?;
        let scale = n.inputs.get(1).copied().flatten()?;
        let zp = n.inputs.get(2).copied().flatten();
        let s = self.konst(scale)?;
        if s.dtype() != DType::F32 || zp.is_some_and(|z| self.konst(z).is_none()) {
            return None;
        }
        if self.dtype(v) != Some(DType::F32) {
            return None;
        }
        Some(Dq { x, scale, zp, dtype: self.dtype(x)?, axis: d.axis })
    }

    /// A DQ of 8-bit data with per-tensor constant parameters (an activation's).
    fn dq_tensor(&self, v: ValueId) -> Option<Dq> {
        let d = self.dq(v)?;
        (is_8bit(d.dtype) && self.scalar_scale(d.scale).is_some() && self.scalar_zp(d.zp).is_some()).then_some(d)
    }

    /// The only reader of `v`, when it is a QuantizeLinear to 8 bits with per-tensor constant
    /// parameters and `v` is not read elsewhere.
    fn q_after(&self, v: ValueId) -> Option<Qn> {
        if self.hidden[v.idx()] {
            return None;
        }
        let [c] = self.cons[v.idx()][..] else { return None };
        let n = &self.g.nodes[c.idx()];
        let Op::QuantizeLinear(q) = &n.op else { return None };
        if q.block_size != 0 || q.precision.is_some() || n.inputs.first() != Some(&Some(v)) {
            return None;
        }
        let y = n.outputs.first().copied().flatten()?;
        let scale = n.inputs.get(1).copied().flatten()?;
        let zp = n.inputs.get(2).copied().flatten();
        let dtype = self.dtype(y)?;
        if !is_8bit(dtype) || self.scalar_scale(scale).is_none() || self.scalar_zp(zp).is_none() {
            return None;
        }
        Some(Qn { node: c.idx(), y, scale, zp, dtype })
    }

    /// Whether no reader of `v` is a QuantizeLinear (the float result stays `v`, so graph
    /// outputs and other readers are fine).
    fn no_q_reader(&self, v: ValueId) -> bool {
        self.cons[v.idx()].iter().all(|c| !matches!(self.g.nodes[c.idx()].op, Op::QuantizeLinear(_)))
    }

    /// The (scale values, zero point values) of a weight DQ that is per tensor or per slice
    /// `len` along `axis` of a rank-`rank` weight.
    fn weight_params(&self, d: &Dq, rank: usize, axis: usize, len: usize) -> Option<(Vec<f32>, Vec<i64>)> {
        if !is_8bit(d.dtype) {
            return None;
        }
        let s = self.konst(d.scale)?;
        let sv: Vec<f32> = s.as_slice::<f32>().ok()?.to_vec();
        let zv = match d.zp {
            Some(z) => self.konst(z)?.to_i64_vec().ok()?,
            None => vec![0; sv.len()],
        };
        if sv.len() == 1 && zv.len() == 1 {
            return Some((sv, zv));
        }
        let per_axis = s.rank() == 1 && sv.len() == len && zv.len() == len && norm_axis(d.axis, rank).ok()? == axis;
        per_axis.then_some((sv, zv))
    }

    /// Whether an int32 bias DQ holds integers on the accumulator's scale `a_scale · w_scale[c]`
    /// with zero point 0 (`len` channels).
    fn bias_ok(&self, b: &Dq, a_scale: f32, w_scale: &[f32], len: usize) -> bool {
        if b.dtype != DType::I32 {
            return false;
        }
        let Some(bs) = self.konst(b.scale).and_then(|t| t.as_slice::<f32>().ok()) else { return false };
        let zeros = match b.zp {
            None => true,
            Some(z) => self.konst(z).and_then(|t| t.to_i64_vec().ok()).is_some_and(|v| v.iter().all(|&x| x == 0)),
        };
        if !zeros || !(bs.len() == 1 || bs.len() == len) {
            return false;
        }
        (0..len).all(|c| {
            let want = a_scale * w_scale[if w_scale.len() == 1 { 0 } else { c }];
            let have = bs[if bs.len() == 1 { 0 } else { c }];
            (have - want).abs() <= 1e-6 * want.abs()
        })
    }
}

/// The input slots of a node that exist.
fn present(n: &Node) -> Vec<ValueId> {
    n.inputs.iter().flatten().copied().collect()
}

fn find(g: &Graph) -> Option<Rewrite> {
    let cx = Cx { g, cons: g.consumers(), hidden: hidden_reads(g) };
    for (i, n) in g.nodes.iter().enumerate() {
        if let Some(rw) = redundant_clip(&cx, i, n) {
            return Some(rw);
        }
    }
    for (i, n) in g.nodes.iter().enumerate() {
        if let Some(rw) = group(&cx, i, n) {
            return Some(rw);
        }
    }
    None
}

/// The `(min, max)` a Relu or Clip node clamps to, when constant.
fn clip_range(cx: &Cx, n: &Node) -> Option<(f64, f64)> {
    match &n.op {
        Op::Unary(u) if u.op == UnaryOp::Relu => Some((0.0, f64::INFINITY)),
        Op::Clip(c) => {
            let bound = |k: usize, attr: Option<f32>, dflt: f64| -> Option<f64> {
                match n.inputs.get(k).copied().flatten() {
                    Some(v) => cx.konst(v).filter(|t| t.numel() == 1)?.to_f64_vec().ok()?.first().copied(),
                    None => Some(attr.map(f64::from).unwrap_or(dflt)),
                }
            };
            Some((bound(1, c.min, f64::NEG_INFINITY)?, bound(2, c.max, f64::INFINITY)?))
        }
        _ => None,
    }
}

/// ORT's ClipQuantFusion: a Relu/Clip whose range the following Q's saturation already imposes.
fn redundant_clip(cx: &Cx, i: usize, n: &Node) -> Option<Rewrite> {
    let (lo, hi) = clip_range(cx, n)?;
    let src = n.inputs.first().copied().flatten()?;
    let v = n.outputs.first().copied().flatten()?;
    if n.outputs.len() != 1 || cx.dtype(src) != Some(DType::F32) {
        return None;
    }
    let q = cx.q_after(v)?;
    let scale = cx.scalar_scale(q.scale)? as f64;
    let zp = cx.scalar_zp(q.zp)? as f64;
    let (qmin, qmax) = if q.dtype == DType::U8 { (0.0, 255.0) } else { (-128.0, 127.0) };
    let redundant = match &n.op {
        Op::Unary(_) => zp == qmin,
        _ => {
            // round(bound / scale) + zp, in f32 as ORT computes it.
            let q_of = |b: f64| ((b as f32 / scale as f32).round_ties_even() as f64) + zp;
            scale > 0.0 && q_of(lo) <= qmin && q_of(hi) >= qmax
        }
    };
    redundant.then_some(Rewrite::DropClip { clip: i, q: q.node, src })
}

/// The node names of the new op: domain and op type.
fn ms(op_type: &str) -> (&'static str, String) {
    ("com.microsoft", op_type.to_string())
}

/// Builds the replacement node for group target `i`.
fn replace(
    g: &Graph,
    i: usize,
    (domain, op_type): (&str, String),
    op: Op,
    inputs: Vec<Option<ValueId>>,
    (out, drop, zps): (ValueId, Vec<usize>, Vec<(usize, DType)>),
) -> Rewrite {
    let t = &g.nodes[i];
    let opset = if domain.is_empty() { t.opset } else { 1 };
    let node = Node {
        name: t.name.clone(),
        op_type,
        domain: domain.to_string(),
        opset,
        op,
        inputs,
        outputs: vec![Some(out)],
        captures: vec![],
    };
    Rewrite::Replace { target: i, node: Box::new(node), drop, zps }
}

/// Input slots `(data, scale, zero point)` of a DQ, and the slot index of a missing zero
/// point with its type (materialized as a constant 0 by `apply`).
fn triple(d: &Dq, base: usize, zps: &mut Vec<(usize, DType)>) -> [Option<ValueId>; 3] {
    if d.zp.is_none() {
        zps.push((base + 2, d.dtype));
    }
    [Some(d.x), Some(d.scale), d.zp]
}

fn q_pair(q: &Qn, base: usize, zps: &mut Vec<(usize, DType)>) -> [Option<ValueId>; 2] {
    if q.zp.is_none() {
        zps.push((base + 1, q.dtype));
    }
    [Some(q.scale), q.zp]
}

/// A DQ → op → Q group with `n` (index `i`) as the op.
fn group(cx: &Cx, i: usize, n: &Node) -> Option<Rewrite> {
    let g = cx.g;
    if n.outputs.len() != 1 {
        return None;
    }
    let out = n.outputs[0]?;
    let ins = present(n);
    let mut zps = Vec::new();
    match &n.op {
        Op::Conv(c) => {
            if !(ins.len() == 2 || ins.len() == 3) || n.inputs.iter().take(2).any(|s| s.is_none()) {
                return None;
            }
            let x = cx.dq_tensor(n.inputs[0]?)?;
            let w = cx.dq(n.inputs[1]?)?;
            let q = cx.q_after(out)?;
            if x.dtype != q.dtype || (x.dtype == DType::I8 && w.dtype != DType::I8) {
                return None;
            }
            let wt = g.value(w.x).ty.as_ref()?;
            let m = wt.dims.first()?.known()?;
            let (ws, _) = cx.weight_params(&w, wt.dims.len(), 0, m)?;
            let bias = match n.inputs.get(2).copied().flatten() {
                Some(b) => {
                    let b = cx.dq(b)?;
                    if !cx.bias_ok(&b, cx.scalar_scale(x.scale)?, &ws, m) {
                        return None;
                    }
                    Some(b.x)
                }
                None => None,
            };
            let mut inputs = Vec::with_capacity(9);
            inputs.extend(triple(&x, 0, &mut zps));
            inputs.extend(triple(&w, 3, &mut zps));
            inputs.extend(q_pair(&q, 6, &mut zps));
            if bias.is_some() {
                inputs.push(bias);
            }
            let op = Op::QLinearConv(QLinearConv { conv: c.clone() });
            Some(replace(g, i, ("", "QLinearConv".into()), op, inputs, (q.y, vec![q.node], zps)))
        }
        Op::MatMul(_) => {
            let [Some(av), Some(bv)] = n.inputs[..] else { return None };
            let a = cx.dq_tensor(av)?;
            let b = cx.dq(bv)?;
            if a.dtype == DType::I8 && b.dtype != DType::I8 {
                return None;
            }
            let bt = g.value(b.x).ty.as_ref()?;
            let r = bt.dims.len();
            if r >= 2 {
                let nn = bt.dims[r - 1].known()?;
                cx.weight_params(&b, r, r - 1, nn)?;
            } else {
                cx.weight_params(&b, r, 0, 0)?;
            }
            if let Some(q) = cx.q_after(out) {
                if q.dtype != a.dtype {
                    return None;
                }
                let mut inputs = Vec::with_capacity(8);
                inputs.extend(triple(&a, 0, &mut zps));
                inputs.extend(triple(&b, 3, &mut zps));
                inputs.extend(q_pair(&q, 6, &mut zps));
                let op = Op::QLinearMatMul(QLinearMatMul);
                Some(replace(g, i, ("", "QLinearMatMul".into()), op, inputs, (q.y, vec![q.node], zps)))
            } else if cx.no_q_reader(out) && cx.dtype(out) == Some(DType::F32) {
                let inputs = vec![Some(a.x), Some(b.x), Some(a.scale), Some(b.scale), a.zp, b.zp];
                let op = Op::MatMulIntegerToFloat(MatMulIntegerToFloat { dynamic: false });
                Some(replace(g, i, ms("MatMulIntegerToFloat"), op, inputs, (out, vec![], zps)))
            } else {
                None
            }
        }
        Op::Gemm(gm) => {
            if n.inputs.iter().take(2).any(|s| s.is_none()) {
                return None;
            }
            let a = cx.dq_tensor(n.inputs[0]?)?;
            let b = cx.dq(n.inputs[1]?)?;
            if a.dtype == DType::I8 && b.dtype != DType::I8 {
                return None;
            }
            let bt = g.value(b.x).ty.as_ref()?;
            if bt.dims.len() != 2 {
                return None;
            }
            let n_axis = if gm.trans_b { 0 } else { 1 };
            let nn = bt.dims[n_axis].known()?;
            let (bs, _) = cx.weight_params(&b, 2, n_axis, nn)?;
            let bias = match n.inputs.get(2).copied().flatten() {
                Some(c) => {
                    let c = cx.dq(c)?;
                    if gm.beta != 1.0 || !cx.bias_ok(&c, cx.scalar_scale(a.scale)?, &bs, nn) {
                        return None;
                    }
                    Some(c.x)
                }
                None => None,
            };
            let q = cx.q_after(out);
            if q.is_none() && !(cx.no_q_reader(out) && cx.dtype(out) == Some(DType::F32)) {
                return None;
            }
            if q.is_some_and(|q| q.dtype != a.dtype) {
                return None;
            }
            let mut inputs = Vec::with_capacity(9);
            inputs.extend(triple(&a, 0, &mut zps));
            inputs.extend(triple(&b, 3, &mut zps));
            inputs.push(bias);
            let (y, drop) = match &q {
                Some(q) => {
                    inputs.extend(q_pair(q, 7, &mut zps));
                    (q.y, vec![q.node])
                }
                None => (out, vec![]),
            };
            while inputs.last() == Some(&None) {
                inputs.pop();
            }
            let op = Op::QGemm(QGemm { alpha: gm.alpha, trans_a: gm.trans_a, trans_b: gm.trans_b });
            Some(replace(g, i, ms("QGemm"), op, inputs, (y, drop, zps)))
        }
        Op::Binary(b) if matches!(b.op, BinaryOp::Add | BinaryOp::Mul) => {
            let [Some(av), Some(bv)] = n.inputs[..] else { return None };
            let (a, bq) = (cx.dq_tensor(av)?, cx.dq_tensor(bv)?);
            let q = cx.q_after(out)?;
            if a.dtype != bq.dtype || a.dtype != q.dtype {
                return None;
            }
            let mut inputs = Vec::with_capacity(8);
            inputs.extend(triple(&a, 0, &mut zps));
            inputs.extend(triple(&bq, 3, &mut zps));
            inputs.extend(q_pair(&q, 6, &mut zps));
            let mul = b.op == BinaryOp::Mul;
            let op = Op::QLinearBinary(QLinearBinary { mul });
            let name = if mul { "QLinearMul" } else { "QLinearAdd" };
            Some(replace(g, i, ms(name), op, inputs, (q.y, vec![q.node], zps)))
        }
        Op::Unary(u) if matches!(u.op, UnaryOp::Sigmoid | UnaryOp::LeakyRelu) => {
            let (f, name) = match u.op {
                UnaryOp::Sigmoid => (LookupFn::Sigmoid, "QLinearSigmoid"),
                _ => (LookupFn::LeakyRelu(u.alpha), "QLinearLeakyRelu"),
            };
            unary(cx, i, n, out, Op::QLinearLookup(QLinearLookup { f }), name)
        }
        Op::GlobalPool(p) if matches!(p.kind, PoolKind::Avg { .. }) => {
            let op = Op::QLinearGlobalAveragePool(QLinearGlobalAveragePool { channels_last: false });
            unary(cx, i, n, out, op, "QLinearGlobalAveragePool")
        }
        Op::Softmax(s) if matches!(s.kind, SoftmaxKind::Softmax) => {
            let opset = if s.flatten_tail { 12 } else { 13 };
            unary(cx, i, n, out, Op::QLinearSoftmax(QLinearSoftmax { axis: s.axis, opset }), "QLinearSoftmax")
        }
        Op::Concat(c) => {
            if ins.len() != n.inputs.len() || ins.is_empty() {
                return None;
            }
            let dqs: Vec<Dq> = ins.iter().map(|&v| cx.dq_tensor(v)).collect::<Option<_>>()?;
            let q = cx.q_after(out)?;
            if dqs.iter().any(|d| d.dtype != q.dtype) {
                return None;
            }
            let mut inputs = Vec::with_capacity(2 + 3 * dqs.len());
            inputs.extend(q_pair(&q, 0, &mut zps));
            for (k, d) in dqs.iter().enumerate() {
                inputs.extend(triple(d, 2 + 3 * k, &mut zps));
            }
            let op = Op::QLinearConcat(QLinearConcat { axis: c.axis });
            Some(replace(g, i, ms("QLinearConcat"), op, inputs, (q.y, vec![q.node], zps)))
        }
        op if drop_qdq_op(op, n) => drop_qdq(cx, i, n, out, matches!(op, Op::Pool(_))),
        _ => None,
    }
}

/// `DQ → op → Q` for a one-input op that becomes a com.microsoft QLinear op.
fn unary(cx: &Cx, i: usize, n: &Node, out: ValueId, op: Op, name: &str) -> Option<Rewrite> {
    let [Some(xv)] = n.inputs[..] else { return None };
    let x = cx.dq_tensor(xv)?;
    let q = cx.q_after(out)?;
    if x.dtype != q.dtype {
        return None;
    }
    let mut zps = Vec::new();
    let mut inputs = Vec::with_capacity(5);
    inputs.extend(triple(&x, 0, &mut zps));
    inputs.extend(q_pair(&q, 3, &mut zps));
    Some(replace(cx.g, i, ms(name), op, inputs, (q.y, vec![q.node], zps)))
}

/// The ops ORT's drop-QDQ rules cover (data movement that commutes with (de)quantization).
fn drop_qdq_op(op: &Op, n: &Node) -> bool {
    match op {
        Op::Reshape(_)
        | Op::Transpose(_)
        | Op::Squeeze(_)
        | Op::Unsqueeze(_)
        | Op::Flatten(_)
        | Op::Gather(_)
        | Op::GatherElements(_)
        | Op::Slice(_)
        | Op::Expand(_)
        | Op::Tile(_) => true,
        Op::Pool(p) => matches!(p.kind, PoolKind::Max) && n.opset >= 12,
        _ => false,
    }
}

/// ORT's drop-QDQ rule: the op runs on the integer data when Q's parameters equal DQ's.
fn drop_qdq(cx: &Cx, i: usize, n: &Node, out: ValueId, positive: bool) -> Option<Rewrite> {
    let xv = n.inputs.first().copied().flatten()?;
    let x = cx.dq_tensor(xv)?;
    // Exactly one DQ among the inputs (ORT's num_dq_inputs = 1).
    if n.inputs.iter().flatten().skip(1).any(|&v| cx.dq(v).is_some()) {
        return None;
    }
    let q = cx.q_after(out)?;
    let (xs, qs) = (cx.scalar_scale(x.scale)?, cx.scalar_scale(q.scale)?);
    if x.dtype != q.dtype || xs != qs || cx.scalar_zp(x.zp)? != cx.scalar_zp(q.zp)? || (positive && xs <= 0.0) {
        return None;
    }
    let mut node = cx.g.nodes[i].clone();
    node.inputs[0] = Some(x.x);
    node.outputs = vec![Some(q.y)];
    Some(Rewrite::Replace { target: i, node: Box::new(node), drop: vec![q.node], zps: vec![] })
}

fn apply(g: &mut Graph, rw: Rewrite) {
    let mut gone = match rw {
        Rewrite::DropClip { clip, q, src } => {
            g.nodes[q].inputs[0] = Some(src);
            vec![clip]
        }
        Rewrite::Replace { target, mut node, drop, zps } => {
            for (slot, dt) in zps {
                let name = format!("{}.qdq_zero_point_{slot}", node.name);
                let t = match dt {
                    DType::U8 => Tensor::scalar(0u8),
                    _ => Tensor::scalar(0i8),
                };
                node.inputs[slot] = Some(g.add_const(&name, t));
            }
            let reads: Vec<ValueId> = g.nodes[target].reads().collect();
            g.nodes[target] = *node;
            let mut gone = drop;
            gone.extend(orphan_dqs(g, &reads));
            gone
        }
    };
    gone.sort_unstable();
    gone.dedup();
    for d in gone.into_iter().rev() {
        g.nodes.remove(d);
    }
    g.relink();
}

/// The DequantizeLinear nodes among the producers of `vals` that nothing reads any more.
fn orphan_dqs(g: &Graph, vals: &[ValueId]) -> Vec<usize> {
    let hidden = hidden_reads(g);
    let mut read = vec![false; g.values.len()];
    for n in &g.nodes {
        for v in n.reads() {
            read[v.idx()] = true;
        }
    }
    vals.iter()
        .filter(|v| !read[v.idx()] && !hidden[v.idx()])
        .filter_map(|&v| g.value(v).producer.filter(|p| p.list == 0))
        .map(|p| p.idx())
        .filter(|&p| matches!(g.nodes[p].op, Op::DequantizeLinear(_)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::builder::ModelBuilder;
    use crate::{Backend, Session};

    fn kinds(g: &Graph) -> Vec<String> {
        g.nodes.iter().map(|n| n.op_type.clone()).collect()
    }

    fn load(b: &ModelBuilder) -> Graph {
        crate::onnx::load_model(&b.to_bytes(), None, &Default::default()).unwrap()
    }

    fn ramp_f32(shape: &[usize], scale: f32) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::new(shape, (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) * scale).collect::<Vec<f32>>()).unwrap()
    }

    fn ramp_i8(shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::new(shape, (0..n).map(|i| ((i * 37 % 101) as i32 - 50) as i8).collect::<Vec<i8>>()).unwrap()
    }

    /// Q then DQ of `v` into `out` (uint8, scale `s`, zero point `z`).
    fn qdq(b: &mut ModelBuilder, v: &str, out: &str, s: f32, z: u8) {
        b.initializer(&format!("{out}_s"), Tensor::scalar(s));
        b.initializer(&format!("{out}_z"), Tensor::scalar(z));
        b.node("QuantizeLinear", &[v, &format!("{out}_s"), &format!("{out}_z")], &[&format!("{out}_q")], &[]);
        b.node("DequantizeLinear", &[&format!("{out}_q"), &format!("{out}_s"), &format!("{out}_z")], &[out], &[]);
    }

    /// Runs the model on the CPU with the full optimizer and without, and compares the
    /// outputs: equal up to `steps` quantization steps of `step`.
    fn compare(bytes: &[u8], x: &Tensor, step: f64, steps: f64) -> f64 {
        let run = |opt: bool| {
            let s = Session::builder().backend(Backend::Cpu).optimize(opt).from_bytes(bytes).unwrap();
            s.run(&[("x", x.clone())]).unwrap().into_vec().remove(0).1.to_f64_vec().unwrap()
        };
        let (a, b) = (run(false), run(true));
        assert_eq!(a.len(), b.len());
        let d = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        assert!(d <= steps * step * 1.0001, "max diff {d} > {steps} steps of {step}");
        d
    }

    #[test]
    fn conv_with_int32_bias_and_redundant_relu_becomes_qlinear_conv() {
        // before: Q(x) → DQ ─┐ DQ(w int8 per channel) ─ Conv ─ Relu ─ Q ─ DQ → out
        //                     DQ(bias int32) ────────┘
        // after:  Q(x) → QLinearConv → DQ → out
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[1, 2, 5, 5]);
        qdq(&mut b, "x", "xd", 0.05, 128);
        b.initializer("w", ramp_i8(&[3, 2, 3, 3]));
        b.initializer("w_s", Tensor::new(&[3], vec![0.01f32, 0.02, 0.015]).unwrap());
        b.initializer("w_z", Tensor::new(&[3], vec![0i8; 3]).unwrap());
        b.initializer("bias", Tensor::new(&[3], vec![100i32, -250, 7]).unwrap());
        b.initializer("b_s", Tensor::new(&[3], vec![0.05f32 * 0.01, 0.05 * 0.02, 0.05 * 0.015]).unwrap());
        b.initializer("b_z", Tensor::new(&[3], vec![0i32; 3]).unwrap());
        b.node("DequantizeLinear", &["w", "w_s", "w_z"], &["wd"], &[("axis", 0i64.into())]);
        b.node("DequantizeLinear", &["bias", "b_s", "b_z"], &["bd"], &[("axis", 0i64.into())]);
        b.node("Conv", &["xd", "wd", "bd"], &["y"], &[("pads", vec![1i64, 1, 1, 1].into())]);
        b.node("Relu", &["y"], &["r"], &[]);
        qdq(&mut b, "r", "out", 0.02, 0);
        b.output("out", DType::F32, &[1, 3, 5, 5]);
        let mut g = load(&b);
        assert!(FuseQdq.run(&mut g).unwrap());
        assert_eq!(kinds(&g), ["QuantizeLinear", "QLinearConv", "DequantizeLinear"]);
        assert_eq!(g.nodes[1].inputs.len(), 9, "x, x_s, x_z, w, w_s, w_z, y_s, y_z, bias");
        assert_eq!(g.value(g.nodes[1].inputs[8].unwrap()).name, "bias");
        let x = ramp_f32(&[1, 2, 5, 5], 0.4);
        compare(&b.to_bytes(), &x, 0.02, 1.0);
    }

    #[test]
    fn float_bias_or_wrong_bias_scale_is_not_fused() {
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[1, 1, 3, 3]);
        qdq(&mut b, "x", "xd", 0.05, 128);
        b.initializer("w", ramp_i8(&[1, 1, 1, 1]));
        b.initializer("w_s", Tensor::scalar(0.01f32));
        b.initializer("bias", Tensor::new(&[1], vec![10i32]).unwrap());
        b.initializer("b_s", Tensor::scalar(0.001f32));
        b.node("DequantizeLinear", &["w", "w_s"], &["wd"], &[]);
        b.node("DequantizeLinear", &["bias", "b_s"], &["bd"], &[]);
        b.node("Conv", &["xd", "wd", "bd"], &["y"], &[]);
        qdq(&mut b, "y", "out", 0.02, 128);
        b.output("out", DType::F32, &[1, 1, 3, 3]);
        let mut g = load(&b);
        assert!(!FuseQdq.run(&mut g).unwrap(), "bias scale 0.001 is not 0.05 · 0.01");
    }

    #[test]
    fn matmul_becomes_qlinear_matmul_or_matmul_integer_to_float() {
        // before: DQ(a) DQ(b per column) → MatMul → Q → DQ → out1 ; DQ(a) DQ(b) → MatMul → out2
        // after:  QLinearMatMul → DQ → out1 ; MatMulIntegerToFloat → out2
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[2, 4]);
        qdq(&mut b, "x", "xd", 0.03, 120);
        b.initializer("w", ramp_i8(&[4, 3]));
        b.initializer("w_s", Tensor::new(&[3], vec![0.01f32, 0.02, 0.03]).unwrap());
        b.initializer("w_z", Tensor::new(&[3], vec![0i8; 3]).unwrap());
        b.node("DequantizeLinear", &["w", "w_s", "w_z"], &["wd"], &[("axis", 1i64.into())]);
        b.node("MatMul", &["xd", "wd"], &["y"], &[]);
        qdq(&mut b, "y", "out", 0.01, 128);
        b.initializer("w2", ramp_i8(&[4, 3]));
        b.initializer("w2_s", Tensor::scalar(0.02f32));
        b.node("DequantizeLinear", &["w2", "w2_s"], &["w2d"], &[]);
        b.node("MatMul", &["xd", "w2d"], &["out2"], &[]);
        b.output("out", DType::F32, &[2, 3]);
        b.output("out2", DType::F32, &[2, 3]);
        let mut g = load(&b);
        assert!(FuseQdq.run(&mut g).unwrap());
        assert_eq!(kinds(&g), ["QuantizeLinear", "QLinearMatMul", "DequantizeLinear", "MatMulIntegerToFloat"]);
        let x = ramp_f32(&[2, 4], 0.3);
        compare(&b.to_bytes(), &x, 0.01, 1.0);
    }

    #[test]
    fn gemm_becomes_qgemm() {
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[2, 4]);
        qdq(&mut b, "x", "xd", 0.03, 120);
        b.initializer("w", ramp_i8(&[3, 4]));
        b.initializer("w_s", Tensor::scalar(0.02f32));
        b.initializer("c", Tensor::new(&[3], vec![5i32, -40, 300]).unwrap());
        b.initializer("c_s", Tensor::scalar(0.03f32 * 0.02));
        b.node("DequantizeLinear", &["w", "w_s"], &["wd"], &[]);
        b.node("DequantizeLinear", &["c", "c_s"], &["cd"], &[]);
        b.node("Gemm", &["xd", "wd", "cd"], &["y"], &[("transB", 1i64.into())]);
        qdq(&mut b, "y", "out", 0.01, 128);
        b.output("out", DType::F32, &[2, 3]);
        let mut g = load(&b);
        assert!(FuseQdq.run(&mut g).unwrap());
        assert_eq!(kinds(&g), ["QuantizeLinear", "QGemm", "DequantizeLinear"]);
        assert_eq!(g.nodes[1].inputs.len(), 9);
        compare(&b.to_bytes(), &ramp_f32(&[2, 4], 0.3), 0.01, 1.0);
    }

    #[test]
    fn add_mul_and_unary_ops_become_qlinear_ops() {
        // before: a, b quantized; Add → Q → DQ → Sigmoid → Q → DQ → Mul(·, b) → Q → DQ
        //         → Softmax → Q → DQ → Concat(·, b) → Q → DQ → out
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[1, 4]);
        qdq(&mut b, "x", "a", 0.05, 128);
        b.node("Neg", &["x"], &["nx"], &[]);
        qdq(&mut b, "nx", "bb", 0.04, 100);
        b.node("Add", &["a", "bb"], &["s"], &[]);
        qdq(&mut b, "s", "sd", 0.03, 128);
        b.node("Sigmoid", &["sd"], &["sg"], &[]);
        qdq(&mut b, "sg", "sgd", 1.0 / 256.0, 0);
        b.node("Mul", &["sgd", "bb"], &["m"], &[]);
        qdq(&mut b, "m", "md", 0.02, 128);
        b.node("LeakyRelu", &["md"], &["lr"], &[("alpha", 0.1f32.into())]);
        qdq(&mut b, "lr", "lrd", 0.02, 128);
        b.node("Softmax", &["lrd"], &["sm"], &[]);
        qdq(&mut b, "sm", "smd", 1.0 / 256.0, 0);
        b.node("Concat", &["smd", "bb"], &["c"], &[("axis", 1i64.into())]);
        qdq(&mut b, "c", "out", 0.04, 100);
        b.output("out", DType::F32, &[1, 8]);
        let mut g = load(&b);
        assert!(FuseQdq.run(&mut g).unwrap());
        let k = kinds(&g);
        assert_eq!(
            k,
            [
                "QuantizeLinear",
                "Neg",
                "QuantizeLinear",
                "QLinearAdd",
                "QLinearSigmoid",
                "QLinearMul",
                "QLinearLeakyRelu",
                "QLinearSoftmax",
                "QLinearConcat",
                "DequantizeLinear"
            ]
        );
        compare(&b.to_bytes(), &ramp_f32(&[1, 4], 0.5), 0.04, 1.0);
    }

    #[test]
    fn global_average_pool_becomes_qlinear() {
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[1, 2, 3, 3]);
        qdq(&mut b, "x", "xd", 0.05, 128);
        b.node("GlobalAveragePool", &["xd"], &["p"], &[]);
        qdq(&mut b, "p", "out", 0.02, 128);
        b.output("out", DType::F32, &[1, 2, 1, 1]);
        let mut g = load(&b);
        assert!(FuseQdq.run(&mut g).unwrap());
        assert_eq!(kinds(&g), ["QuantizeLinear", "QLinearGlobalAveragePool", "DequantizeLinear"]);
        compare(&b.to_bytes(), &ramp_f32(&[1, 2, 3, 3], 0.3), 0.02, 1.0);
    }

    #[test]
    fn data_movement_drops_its_qdq_pair_when_parameters_match() {
        // before: Q → DQ → Transpose → Q → DQ → MaxPool → Q → DQ → Reshape → Q(other scale) → DQ
        // after:  Q → Transpose → MaxPool → DQ → Reshape → Q → DQ (the last pair differs)
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[1, 2, 4, 4]);
        qdq(&mut b, "x", "xd", 0.05, 128);
        b.node("Transpose", &["xd"], &["t"], &[("perm", vec![0i64, 1, 3, 2].into())]);
        qdq(&mut b, "t", "td", 0.05, 128);
        b.node("MaxPool", &["td"], &["p"], &[("kernel_shape", vec![2i64, 2].into())]);
        qdq(&mut b, "p", "pd", 0.05, 128);
        b.initializer("shape", Tensor::new(&[2], vec![1i64, -1]).unwrap());
        b.node("Reshape", &["pd", "shape"], &["r"], &[]);
        qdq(&mut b, "r", "out", 0.1, 128);
        b.output("out", DType::F32, &[1, 18]);
        let mut g = load(&b);
        assert!(FuseQdq.run(&mut g).unwrap());
        assert_eq!(
            kinds(&g),
            [
                "QuantizeLinear",
                "Transpose",
                "MaxPool",
                "DequantizeLinear",
                "Reshape",
                "QuantizeLinear",
                "DequantizeLinear"
            ]
        );
        assert_eq!(g.value(g.nodes[2].outputs[0].unwrap()).ty.as_ref().unwrap().dtype, DType::U8);
        compare(&b.to_bytes(), &ramp_f32(&[1, 2, 4, 4], 0.3), 0.1, 0.0);
    }

    #[test]
    fn clip_is_removed_only_when_q_saturates_the_same() {
        // Clip(0, 6) before Q(scale 6/255, zp 0) is redundant; Clip(0, 1) is not.
        for (hi, fused) in [(6.0f32, true), (1.0, false)] {
            let mut b = ModelBuilder::new(13);
            b.input("x", DType::F32, &[1, 8]);
            b.initializer("lo", Tensor::scalar(0f32));
            b.initializer("hi", Tensor::scalar(hi));
            b.node("Clip", &["x", "lo", "hi"], &["c"], &[]);
            qdq(&mut b, "c", "out", 6.0 / 255.0, 0);
            b.output("out", DType::F32, &[1, 8]);
            let mut g = load(&b);
            assert_eq!(FuseQdq.run(&mut g).unwrap(), fused);
            assert_eq!(g.nodes.len(), if fused { 2 } else { 3 });
            compare(&b.to_bytes(), &ramp_f32(&[1, 8], 1.3), 6.0 / 255.0, 0.0);
        }
    }

    #[test]
    fn shared_or_graph_output_values_are_not_fused() {
        // The Add's output is also a graph output: no fusion; a DQ read by two Adds serves both.
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[4]);
        qdq(&mut b, "x", "a", 0.05, 128);
        b.node("Add", &["a", "a"], &["s"], &[]);
        qdq(&mut b, "s", "out", 0.1, 128);
        b.node("Mul", &["a", "a"], &["m"], &[]);
        qdq(&mut b, "m", "out2", 0.1, 128);
        b.output("out", DType::F32, &[4]);
        b.output("s", DType::F32, &[4]);
        b.output("out2", DType::F32, &[4]);
        let mut g = load(&b);
        assert!(FuseQdq.run(&mut g).unwrap());
        assert_eq!(
            kinds(&g),
            [
                "QuantizeLinear",
                "DequantizeLinear",
                "Add",
                "QuantizeLinear",
                "DequantizeLinear",
                "QLinearMul",
                "DequantizeLinear"
            ]
        );
    }
}
