//! Elementwise fusion: a tree or DAG of elementwise nodes whose intermediate values are read
//! only inside it becomes one `FusedElementwise` node (one GPU dispatch). Fusable: the unary
//! functions `fusable_unary` accepts, Clip with constant bounds, the broadcasting binary arithmetic
//! and comparisons of `FUSABLE_BINARY`, two-input Sum/Max/Min, and Where. Tensors are of one
//! float type (f32, f16, bf16); bools (comparisons, IsNaN, Not, Where's condition) only live
//! inside the program. Scalar constants become immediates. A group has at most
//! `MAX_INPUTS` tensor inputs, `MAX_OPS` instructions and `MAX_IMMS` immediates.
//!
//! Groups grow backwards from a root (a fusable node whose result leaves the group) through
//! producers all of whose readers are already in the group; the fused node takes the root's
//! place in the order. A value read by a subgraph, a capture or a graph output is never
//! fused away.

use super::fuse_epilogue::hidden_reads;
use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Node, NodeId, Op, ValueId};
use crate::ops::elementwise::{BinaryOp, UnaryOp, VariadicOp};
use crate::ops::fused_ew::{fusable_unary, yields_bool, Arg, EwOp, FusedElementwise, Instr, FUSABLE_BINARY};
use crate::tensor::shape::broadcast_dims;
use crate::tensor::{DType, Dim};

pub struct FuseElementwise;

impl Pass for FuseElementwise {
    fn name(&self) -> &'static str {
        "fuse-elementwise"
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let groups = find_groups(g);
        if groups.is_empty() {
            return Ok(false);
        }
        let mut drop = Vec::new();
        for (members, f, leaves) in groups {
            let Some(&root) = members.last() else { continue };
            let r = &g.nodes[root];
            g.nodes[root] = Node {
                name: r.name.clone(),
                op_type: "FusedElementwise".into(),
                domain: r.domain.clone(),
                opset: r.opset,
                op: Op::FusedElementwise(f),
                inputs: leaves.into_iter().map(Some).collect(),
                outputs: r.outputs.clone(),
                captures: vec![],
            };
            drop.extend_from_slice(&members[..members.len() - 1]);
        }
        drop.sort_unstable();
        for d in drop.into_iter().rev() {
            g.nodes.remove(d);
        }
        g.relink();
        Ok(true)
    }
}

/// A fusable node's function and data inputs (a Clip's constant bounds become parameters).
fn function(g: &Graph, n: &Node) -> Option<(EwOp, Vec<ValueId>)> {
    if n.outputs.len() != 1 || n.outputs[0].is_none() || !n.captures.is_empty() {
        return None;
    }
    let all = |k: usize| -> Option<Vec<ValueId>> {
        if n.inputs.len() != k {
            return None;
        }
        n.inputs.iter().copied().collect()
    };
    match &n.op {
        Op::Unary(u) if fusable_unary(u.op) => Some((EwOp::Unary(u.op, u.alpha, u.beta), all(1)?)),
        Op::Binary(b) if FUSABLE_BINARY.contains(&b.op) => Some((EwOp::Binary(b.op), all(2)?)),
        Op::Variadic(v) => {
            let op = match v.op {
                VariadicOp::Sum => BinaryOp::Add,
                VariadicOp::Max => BinaryOp::Max,
                VariadicOp::Min => BinaryOp::Min,
                _ => return None,
            };
            Some((EwOp::Binary(op), all(2)?))
        }
        Op::Clip(c) => {
            let x = n.inputs.first().copied().flatten()?;
            let bound = |k: usize, attr: Option<f32>, dflt: f32| -> Option<f32> {
                match n.inputs.get(k).copied().flatten() {
                    Some(v) => g.value(v).konst.as_ref()?.to_f64_vec().ok()?.first().map(|&x| x as f32),
                    None => Some(attr.unwrap_or(dflt)),
                }
            };
            let lo = bound(1, c.min, f32::NEG_INFINITY)?;
            let hi = bound(2, c.max, f32::INFINITY)?;
            Some((EwOp::Unary(UnaryOp::Clip, lo, hi), vec![x]))
        }
        Op::Where(_) => Some((EwOp::Where, all(3)?)),
        _ => None,
    }
}

/// Whether node `n` computing `op` over `ins` fits a program over element type `t`.
fn types_fit(g: &Graph, n: &Node, op: EwOp, ins: &[ValueId], t: DType) -> bool {
    let dtype = |v: ValueId| g.value(v).ty.as_ref().map(|x| x.dtype);
    let Some(y) = n.outputs[0] else { return false };
    let out = if yields_bool(op) { DType::Bool } else { t };
    if dtype(y) != Some(out) {
        return false;
    }
    ins.iter().enumerate().all(|(k, &v)| {
        let bool_arg = matches!(op, EwOp::Where if k == 0) || matches!(op, EwOp::Unary(UnaryOp::Not, ..));
        dtype(v) == Some(if bool_arg { DType::Bool } else { t })
    })
}

/// A scalar float constant usable as an immediate.
fn immediate(g: &Graph, v: ValueId, t: DType) -> Option<f32> {
    let k = g.value(v).konst.as_ref()?;
    if k.numel() != 1 || k.dtype() != t {
        return None;
    }
    k.to_f64_vec().ok()?.first().map(|&x| x as f32)
}

/// The program of `members` (in graph order, the root last) and its tensor inputs. With
/// `partial`, bool leaves are allowed (their producers may join later).
fn build(g: &Graph, members: &[usize], t: DType, partial: bool) -> Option<(FusedElementwise, Vec<ValueId>)> {
    let mut leaves: Vec<ValueId> = Vec::new();
    let mut funcs = Vec::new();
    for &m in members {
        let (op, ins) = function(g, &g.nodes[m])?;
        funcs.push((op, ins));
    }
    let produced = |v: ValueId| members.iter().position(|&m| g.nodes[m].outputs[0] == Some(v));
    for (_, ins) in &funcs {
        for &v in ins {
            if produced(v).is_none() && immediate(g, v, t).is_none() && !leaves.contains(&v) {
                if !partial && g.value(v).ty.as_ref().map(|x| x.dtype) != Some(t) {
                    return None;
                }
                leaves.push(v);
            }
        }
    }
    let n_in = leaves.len();
    let mut prog = Vec::new();
    for (op, ins) in funcs {
        let args = ins
            .iter()
            .map(|&v| match (produced(v), leaves.iter().position(|&l| l == v)) {
                (Some(k), _) => Arg::Reg(n_in + k),
                (None, Some(l)) => Arg::Reg(l),
                (None, None) => Arg::Imm(immediate(g, v, t).unwrap_or(0.0)),
            })
            .collect();
        prog.push(Instr { op, args });
    }
    let f = FusedElementwise { n_inputs: n_in, prog, dtype: t };
    f.encode().ok()?;
    Some((f, leaves))
}

type Group = (Vec<usize>, FusedElementwise, Vec<ValueId>);

fn find_groups(g: &Graph) -> Vec<Group> {
    let cons = g.consumers();
    let hidden = hidden_reads(g);
    let mut taken = vec![false; g.nodes.len()];
    let mut groups = Vec::new();
    for root in (0..g.nodes.len()).rev() {
        let n = &g.nodes[root];
        if taken[root] {
            continue;
        }
        let Some((op, ins)) = function(g, n) else { continue };
        let Some(t) = n.outputs[0].and_then(|y| g.value(y).ty.as_ref()).map(|x| x.dtype) else { continue };
        if !matches!(t, DType::F32 | DType::F16 | DType::BF16) || !types_fit(g, n, op, &ins, t) {
            continue;
        }
        let mut members = vec![root];
        loop {
            let mut added = false;
            let mut k = 0;
            while k < members.len() {
                let m = members[k];
                k += 1;
                let Some((_, ins)) = function(g, &g.nodes[m]) else { continue };
                for v in ins {
                    let Some(pid) = g.value(v).producer else { continue };
                    let p = pid.idx();
                    if pid.list != 0 || taken[p] || members.contains(&p) || hidden[v.idx()] {
                        continue;
                    }
                    let pn = &g.nodes[p];
                    let Some((pop, pins)) = function(g, pn) else { continue };
                    if !types_fit(g, pn, pop, &pins, t) {
                        continue;
                    }
                    if !cons[v.idx()].iter().all(|c: &NodeId| c.list == 0 && members.contains(&c.idx())) {
                        continue;
                    }
                    let mut trial = members.clone();
                    trial.push(p);
                    trial.sort_unstable();
                    if build(g, &trial, t, true).is_some() {
                        members.push(p);
                        added = true;
                    }
                }
            }
            if !added {
                break;
            }
        }
        if members.len() < 2 {
            continue;
        }
        members.sort_unstable();
        let Some((f, leaves)) = build(g, &members, t, false) else { continue };
        if leaves.is_empty() || !same_dims(g, &leaves, n.outputs[0]) {
            continue;
        }
        for &m in &members {
            taken[m] = true;
        }
        groups.push((members, f, leaves));
    }
    groups
}

/// Whether the leaves broadcast to exactly the root's output dims.
fn same_dims(g: &Graph, leaves: &[ValueId], y: Option<ValueId>) -> bool {
    let dims: Option<Vec<&[Dim]>> = leaves.iter().map(|&v| g.value(v).ty.as_ref().map(|x| x.dims.as_slice())).collect();
    let want = y.and_then(|y| g.value(y).ty.as_ref()).map(|x| &x.dims);
    match (dims, want) {
        (Some(d), Some(w)) => broadcast_dims(&d).is_ok_and(|b| &b == w),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::builder::ModelBuilder;
    use crate::opt::testutil::{ramp, same_outputs};
    use crate::tensor::Tensor;

    fn kinds(g: &Graph) -> Vec<String> {
        g.nodes.iter().map(|n| n.op.kind().to_string()).collect()
    }

    #[test]
    fn gelu_by_parts_with_bias_and_nan_guard_fuse() {
        // before: y = x + b; Mul(Mul(y, Add(Erf(Div(y, √2)), 1)), 0.5) → Where(IsNaN(·), 0, ·)
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[2, 4]);
        b.initializer("b", ramp(&[4], 0.3));
        b.initializer("s2", Tensor::scalar(std::f32::consts::SQRT_2));
        b.initializer("one", Tensor::scalar(1f32));
        b.initializer("half", Tensor::scalar(0.5f32));
        b.initializer("zero", Tensor::scalar(0f32));
        b.node("Add", &["x", "b"], &["y"], &[]);
        b.node("Div", &["y", "s2"], &["d"], &[]);
        b.node("Erf", &["d"], &["e"], &[]);
        b.node("Add", &["e", "one"], &["a"], &[]);
        b.node("Mul", &["y", "a"], &["m"], &[]);
        b.node("Mul", &["m", "half"], &["g"], &[]);
        b.node("IsNaN", &["g"], &["nan"], &[]);
        b.node("Where", &["nan", "zero", "g"], &["out"], &[]);
        b.output("out", DType::F32, &[2, 4]);
        let bytes = b.to_bytes();
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        assert_eq!(g.nodes.len(), 8);
        assert!(FuseElementwise.run(&mut g).unwrap());
        assert_eq!(kinds(&g), ["FusedElementwise"]);
        let Op::FusedElementwise(f) = &g.nodes[0].op else { panic!() };
        assert_eq!(f.n_inputs, 2, "x and the bias; the scalars are immediates");
        assert_eq!(f.prog.len(), 8);
        assert_eq!(f.encode().unwrap().imms.len(), 4);
        let names: Vec<&str> = g.nodes[0].inputs.iter().map(|v| g.value(v.unwrap()).name.as_str()).collect();
        assert_eq!(names, ["x", "b"]);
        assert!(!FuseElementwise.run(&mut g).unwrap());
        same_outputs(&bytes, ramp(&[2, 4], 0.9), 1e-6);
    }

    #[test]
    fn shared_and_output_intermediates_stay() {
        // y = Relu(x) is a graph output and t = Tanh(y) feeds two separate roots: nothing
        // that another reader needs is fused away.
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[3]);
        b.node("Relu", &["x"], &["y"], &[]);
        b.node("Tanh", &["y"], &["t"], &[]);
        b.node("Exp", &["t"], &["o1"], &[]);
        b.node("Neg", &["t"], &["o2"], &[]);
        b.output("y", DType::F32, &[3]);
        b.output("o1", DType::F32, &[3]);
        b.output("o2", DType::F32, &[3]);
        let mut g = crate::onnx::load_model(&b.to_bytes(), None, &Default::default()).unwrap();
        assert!(!FuseElementwise.run(&mut g).unwrap());
        assert_eq!(kinds(&g), ["Unary", "Unary", "Unary", "Unary"]);
    }
}
