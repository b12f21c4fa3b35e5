//! Epilogue fusion: a Conv followed by element-wise ops that only it feeds becomes one
//! `FusedConv` node computing `act(Conv(X, W, B) + Z)`:
//! - `Add` of a per-channel constant (`[M, 1, …]` after leading ones) joins the bias B;
//! - `Add` (or a two-input `Sum`) of a runtime tensor shaped like the output becomes the
//!   residual Z;
//! - Relu, Clip with constant bounds (Relu6), Sigmoid, `x * Sigmoid(x)` (SiLU), HardSigmoid,
//!   HardSwish, LeakyRelu, Tanh and Gelu (erf form) become the activation.
//!
//! The intermediate value must have no other reader (nodes, subgraphs, graph outputs). The
//! fused node takes the last absorbed node's place in the order, so a residual computed
//! after the Conv is still ready in time.

use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Node, NodeId, Op, ValueId};
use crate::ops::elementwise::{BinaryOp, UnaryOp, VariadicOp};
use crate::ops::fused::{Act, ActKind, FusedConv};
use crate::tensor::Tensor;

pub struct FuseEpilogue;

impl Pass for FuseEpilogue {
    fn name(&self) -> &'static str {
        "fuse-epilogue"
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let mut changed = false;
        while let Some(rw) = find(g) {
            apply(g, rw);
            changed = true;
        }
        Ok(changed)
    }
}

/// One rewrite: node `conv` absorbs `into` (whose place and outputs the fused node takes);
/// `also` are further absorbed nodes (SiLU's Sigmoid).
struct Rewrite {
    conv: usize,
    into: usize,
    also: Vec<usize>,
    op: FusedConv,
    inputs: Vec<Option<ValueId>>,
    new_bias: Option<Tensor>,
}

/// Values read where the pass cannot see them: captures and subgraph nodes.
pub(super) fn hidden_reads(g: &Graph) -> Vec<bool> {
    let mut hidden = vec![false; g.values.len()];
    for n in &g.nodes {
        for v in &n.captures {
            hidden[v.idx()] = true;
        }
    }
    for s in &g.subgraphs {
        for n in &s.nodes {
            for v in n.reads() {
                hidden[v.idx()] = true;
            }
        }
        for v in &s.outputs {
            hidden[v.idx()] = true;
        }
    }
    for v in &g.outputs {
        hidden[v.idx()] = true;
    }
    hidden
}

fn find(g: &Graph) -> Option<Rewrite> {
    let cons = g.consumers();
    let hidden = hidden_reads(g);
    for (i, n) in g.nodes.iter().enumerate() {
        let cur = match &n.op {
            Op::Conv(c) => FusedConv { conv: c.clone(), act: Act::NONE },
            Op::FusedConv(f) if f.act.kind == ActKind::None => f.clone(),
            _ => continue,
        };
        let Some(Some(y)) = n.outputs.first().copied() else { continue };
        if n.outputs.len() != 1 || hidden[y.idx()] {
            continue;
        }
        if let Some(rw) = absorb(g, &cons, i, n, y, cur) {
            return Some(rw);
        }
    }
    None
}

fn absorb(
    g: &Graph,
    cons: &[Vec<crate::ir::NodeId>],
    i: usize,
    n: &Node,
    y: ValueId,
    cur: FusedConv,
) -> Option<Rewrite> {
    let readers: Vec<usize> = cons[y.idx()].iter().map(|id| id.idx()).collect();
    let yty = g.value(y).ty.clone()?;
    let mut inputs = n.inputs.clone();
    inputs.resize(4, None);
    let has_residual = inputs[3].is_some();
    let base = |into: usize, act: Act, inputs: Vec<Option<ValueId>>, new_bias: Option<Tensor>| Rewrite {
        conv: i,
        into,
        also: vec![],
        op: FusedConv { conv: cur.conv.clone(), act },
        inputs,
        new_bias,
    };
    if let [j] = readers[..] {
        let c = &g.nodes[j];
        if c.outputs.len() != 1 {
            return None;
        }
        let two = c.inputs.len() == 2;
        let is_add = |op: &Op| match op {
            Op::Binary(b) => b.op == BinaryOp::Add,
            Op::Variadic(v) => v.op == VariadicOp::Sum,
            _ => false,
        };
        match &c.op {
            op if two && is_add(op) => {
                let other = c.inputs.iter().flatten().copied().find(|&v| v != y)?;
                if c.inputs.iter().flatten().filter(|&&v| v == y).count() != 1 {
                    return None;
                }
                let oty = g.value(other).ty.clone()?;
                if oty.dtype != yty.dtype {
                    return None;
                }
                if let Some(k) = g.value(other).konst.as_ref() {
                    // A per-channel constant joins the bias.
                    if has_residual {
                        return None;
                    }
                    let m = yty.dims.get(1)?.known()?;
                    let mut s: Vec<usize> = k.shape().to_vec();
                    while s.first() == Some(&1) && s.len() > yty.dims.len() - 1 {
                        s.remove(0);
                    }
                    let ok = s.len() == yty.dims.len() - 1 && s[0] == m && s[1..].iter().all(|&d| d == 1);
                    if !ok {
                        return None;
                    }
                    let add = k.to_f64_vec().ok()?;
                    let sum: Vec<f64> = match inputs[2] {
                        Some(b) => {
                            let bv = g.value(b).konst.as_ref()?.to_f64_vec().ok()?;
                            bv.iter().zip(&add).map(|(a, b)| a + b).collect()
                        }
                        None => add,
                    };
                    let t = Tensor::from_f64(yty.dtype, &[m], &sum).ok()?;
                    return Some(base(j, Act::NONE, inputs, Some(t)));
                }
                let known = oty.dims.iter().all(|d| d.known().is_some());
                if has_residual || !known || oty.dims != yty.dims {
                    return None;
                }
                inputs[3] = Some(other);
                Some(base(j, Act::NONE, inputs, None))
            }
            Op::Unary(u) if c.inputs.first() == Some(&Some(y)) => {
                let act = Act::of_unary(u)?;
                Some(base(j, act, inputs, None))
            }
            Op::Clip(cl) if c.inputs.first() == Some(&Some(y)) => {
                let bound = |k: usize, attr: Option<f32>, dflt: f32| -> Option<f32> {
                    match c.inputs.get(k).copied().flatten() {
                        Some(v) => g.value(v).konst.as_ref()?.to_f64_vec().ok()?.first().map(|&x| x as f32),
                        None => Some(attr.unwrap_or(dflt)),
                    }
                };
                let lo = bound(1, cl.min, f32::NEG_INFINITY)?;
                let hi = bound(2, cl.max, f32::INFINITY)?;
                Some(base(j, Act { kind: ActKind::Clip, alpha: lo, beta: hi }, inputs, None))
            }
            _ => None,
        }
    } else if let [a, b] = readers[..] {
        let (s, m) = silu_readers(g, cons, y, a, b)?;
        let mut rw = base(m, Act { kind: ActKind::Silu, alpha: 0.0, beta: 0.0 }, inputs, None);
        rw.also.push(s);
        Some(rw)
    } else {
        None
    }
}

/// SiLU: when `y`'s only readers, nodes `a` and `b`, are `Sigmoid(y)` and `Mul(y, Sigmoid(y))`
/// (either operand order), the (Sigmoid, Mul) node indices.
pub(super) fn silu_readers(g: &Graph, cons: &[Vec<NodeId>], y: ValueId, a: usize, b: usize) -> Option<(usize, usize)> {
    let (s, m) = if matches!(&g.nodes[a].op, Op::Unary(u) if u.op == UnaryOp::Sigmoid) { (a, b) } else { (b, a) };
    let sn = &g.nodes[s];
    let mn = &g.nodes[m];
    if !matches!(&sn.op, Op::Unary(u) if u.op == UnaryOp::Sigmoid) || sn.outputs.len() != 1 {
        return None;
    }
    let sv = sn.outputs[0]?;
    if !matches!(&mn.op, Op::Binary(b) if b.op == BinaryOp::Mul) || mn.outputs.len() != 1 || !mn.captures.is_empty() {
        return None;
    }
    let ins: Vec<ValueId> = mn.inputs.iter().flatten().copied().collect();
    let pair = ins == [y, sv] || ins == [sv, y];
    if !pair || cons[sv.idx()].len() != 1 || hidden_reads(g)[sv.idx()] {
        return None;
    }
    Some((s, m))
}

fn apply(g: &mut Graph, rw: Rewrite) {
    let mut inputs = rw.inputs;
    if let Some(t) = rw.new_bias {
        let name = format!("{}.fused_bias", g.nodes[rw.conv].label(g));
        let ty = g
            .value(inputs[0].unwrap_or(ValueId(0)))
            .ty
            .as_ref()
            .map(|x| crate::ir::ValueType { dtype: x.dtype, dims: vec![crate::tensor::Dim::Known(t.shape()[0])] });
        inputs[2] = Some(g.add_value(&name, ty, Some(t)));
    }
    while inputs.len() > 3 && inputs.last() == Some(&None) {
        inputs.pop();
    }
    let conv = &g.nodes[rw.conv];
    let fused = Node {
        name: conv.name.clone(),
        op_type: "FusedConv".into(),
        domain: conv.domain.clone(),
        opset: conv.opset,
        op: Op::FusedConv(rw.op),
        inputs,
        outputs: g.nodes[rw.into].outputs.clone(),
        captures: vec![],
    };
    g.nodes[rw.into] = fused;
    let mut drop = rw.also;
    drop.push(rw.conv);
    drop.sort_unstable();
    for d in drop.into_iter().rev() {
        g.nodes.remove(d);
    }
    g.relink();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::builder::ModelBuilder;
    use crate::tensor::DType;
    use crate::{Backend, Session};

    fn kinds(g: &Graph) -> Vec<String> {
        g.nodes.iter().map(|n| n.op.kind().to_string()).collect()
    }

    fn ramp(shape: &[usize], scale: f32) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor::new(shape, (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) * scale).collect::<Vec<f32>>()).unwrap()
    }

    /// Runs `bytes` on the CPU with and without the optimizer and compares the outputs.
    fn same_outputs(bytes: &[u8], x: Tensor) {
        let run = |opt: bool| {
            let s = Session::builder().backend(Backend::Cpu).optimize(opt).from_bytes(bytes).unwrap();
            s.run(&[("x", x.clone())]).unwrap().into_vec()
        };
        let (a, b) = (run(false), run(true));
        for ((_, ta), (_, tb)) in a.iter().zip(&b) {
            let (va, vb) = (ta.to_f64_vec().unwrap(), tb.to_f64_vec().unwrap());
            assert_eq!(va.len(), vb.len());
            for (x, y) in va.iter().zip(&vb) {
                assert!((x - y).abs() <= 1e-5 * (1.0 + x.abs()), "{x} vs {y}");
            }
        }
    }

    #[test]
    fn conv_bias_residual_relu6_and_silu_fuse() {
        // before: Conv → Add(const [1,4,1,1]) → Sum(x, ·) → Clip(0, 6) ; Conv → Sigmoid, Mul
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[1, 4, 5, 5]);
        b.initializer("w", ramp(&[4, 4, 3, 3], 0.05));
        b.initializer("w2", ramp(&[4, 1, 3, 3], 0.1));
        b.initializer("c", ramp(&[1, 4, 1, 1], 0.3));
        b.initializer("lo", Tensor::scalar(0f32));
        b.initializer("hi", Tensor::scalar(6f32));
        let pads = ("pads", vec![1i64, 1, 1, 1].into());
        b.node("Conv", &["x", "w"], &["y0"], std::slice::from_ref(&pads));
        b.node("Add", &["y0", "c"], &["y1"], &[]);
        b.node("Sum", &["x", "y1"], &["y2"], &[]);
        b.node("Clip", &["y2", "lo", "hi"], &["y3"], &[]);
        b.node("Conv", &["y3", "w2"], &["z0"], &[pads, ("group", 4i64.into())]);
        b.node("Sigmoid", &["z0"], &["s"], &[]);
        b.node("Mul", &["s", "z0"], &["out"], &[]);
        b.output("out", DType::F32, &[1, 4, 5, 5]);
        let bytes = b.to_bytes();
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        assert_eq!(kinds(&g), ["Conv", "Binary", "Variadic", "Clip", "Conv", "Unary", "Binary"]);
        assert!(FuseEpilogue.run(&mut g).unwrap());
        assert_eq!(kinds(&g), ["FusedConv", "FusedConv"]);
        let Op::FusedConv(f) = &g.nodes[0].op else { panic!() };
        assert_eq!(f.act, Act { kind: ActKind::Clip, alpha: 0.0, beta: 6.0 });
        assert_eq!(g.nodes[0].inputs.len(), 4, "X, W, the folded bias and the residual");
        assert_eq!(g.value(g.nodes[0].inputs[3].unwrap()).name, "x");
        let Op::FusedConv(f) = &g.nodes[1].op else { panic!() };
        assert_eq!(f.act.kind, ActKind::Silu);
        same_outputs(&bytes, ramp(&[1, 4, 5, 5], 0.7));
    }

    #[test]
    fn shared_intermediate_is_not_fused() {
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[1, 2, 3, 3]);
        b.initializer("w", ramp(&[2, 2, 1, 1], 0.1));
        b.node("Conv", &["x", "w"], &["y"], &[]);
        b.node("Relu", &["y"], &["r"], &[]);
        b.node("Add", &["y", "r"], &["out"], &[]);
        b.output("out", DType::F32, &[1, 2, 3, 3]);
        let mut g = crate::onnx::load_model(&b.to_bytes(), None, &Default::default()).unwrap();
        assert!(!FuseEpilogue.run(&mut g).unwrap());
        assert_eq!(kinds(&g), ["Conv", "Unary", "Binary"]);
    }
}
