//! Runs the ops' shape/type rules over a graph in topological order. The same rules serve the
//! planner with concrete shapes; [`node_cx`] builds a rule's input from any source of types
//! and values.

use super::{Graph, Node, ValueId, ValueType};
use crate::error::{Error, Result};
use crate::ops::{InferCx, InferIn};
use crate::tensor::Tensor;

/// Builds a shape rule's context for `node` from `ty` (type of a value) and `val` (value when
/// known). Fails naming the first input whose type is unknown.
pub fn node_cx<'a>(
    node: &Node,
    g: &Graph,
    ty: impl Fn(ValueId) -> Option<ValueType>,
    val: impl Fn(ValueId) -> Option<&'a Tensor>,
) -> Result<InferCx<'a>, String> {
    let mut inputs = Vec::with_capacity(node.inputs.len());
    for slot in &node.inputs {
        inputs.push(match slot {
            None => None,
            Some(v) => {
                let t = ty(*v).ok_or_else(|| format!("the type of input '{}' is unknown", g.value(*v).name))?;
                Some(InferIn { dtype: t.dtype, dims: t.dims, value: val(*v) })
            }
        });
    }
    Ok(InferCx { inputs, n_outputs: node.outputs.len(), missing_value: Default::default() })
}

/// Infers the type of every node output; declared types of intermediate values are
/// overwritten (they are hints only). A node whose output shape depends on values known only
/// at run time (or on inputs of unknown type) leaves its outputs untyped: the planner infers
/// them again with concrete shapes.
pub fn infer_graph(g: &mut Graph) -> Result<()> {
    infer_kinds(g, 0);
    infer_list(g, 0)
}

/// Sets the kind (tensor / sequence / optional) of every value produced in list `l`, from the
/// kinds of graph inputs through the ops' kind rules and control-flow bodies.
pub fn infer_kinds(g: &mut Graph, l: u32) {
    use crate::ir::Op;
    use crate::tensor::Kind;
    for i in 0..g.list(l).len() {
        let node = g.list(l)[i].clone();
        let kind_of = |g: &Graph, v: Option<ValueId>| v.map(|v| g.value(v).kind.clone()).unwrap_or_default();
        let ins: Vec<Kind> = node.inputs.iter().map(|v| kind_of(g, *v)).collect();
        let outs: Vec<Kind> = match &node.op {
            Op::If(b) => {
                infer_kinds(g, b.then_branch as u32 + 1);
                infer_kinds(g, b.else_branch as u32 + 1);
                g.subgraphs[b.then_branch].outputs.iter().map(|v| g.value(*v).kind.clone()).collect()
            }
            Op::Loop(lp) => {
                let body = g.subgraphs[lp.body].clone();
                for (k, v) in body.inputs.iter().enumerate().skip(2) {
                    g.values[v.idx()].kind = ins.get(k).cloned().unwrap_or_default();
                }
                infer_kinds(g, lp.body as u32 + 1);
                let n_carried = ins.len().saturating_sub(2);
                body.outputs
                    .iter()
                    .skip(1)
                    .enumerate()
                    .map(|(k, v)| if k < n_carried { g.value(*v).kind.clone() } else { Kind::Tensor })
                    .collect()
            }
            Op::Scan(s) => {
                infer_kinds(g, s.body as u32 + 1);
                vec![Kind::Tensor; node.outputs.len()]
            }
            Op::SequenceMap(m) => {
                let body = g.subgraphs[m.body].clone();
                for (k, v) in body.inputs.iter().enumerate() {
                    g.values[v.idx()].kind = match ins.get(k) {
                        Some(Kind::Sequence(e)) => (**e).clone(),
                        Some(k) => k.clone(),
                        None => Kind::Tensor,
                    };
                }
                infer_kinds(g, m.body as u32 + 1);
                body.outputs.iter().map(|v| Kind::Sequence(Box::new(g.value(*v).kind.clone()))).collect()
            }
            op => op.spec().output_kinds(&ins, node.outputs.len()),
        };
        for (slot, k) in node.outputs.iter().zip(outs) {
            if let Some(v) = slot {
                g.values[v.idx()].kind = k;
            }
        }
    }
}

/// Infers the nodes of list `l` (0: the main graph, `k + 1`: subgraph `k`).
pub fn infer_list(g: &mut Graph, l: u32) -> Result<()> {
    for i in 0..g.list(l).len() {
        let node = g.list(l)[i].clone();
        let label = node.label(g).to_string();
        let err = |r: String| Error::node(&label, &node.op_type, r);
        if crate::ops::control::is_control(&node.op) {
            crate::ops::control::infer_control(g, &node).map_err(err)?;
            continue;
        }
        if node.inputs.iter().flatten().any(|v| g.value(*v).ty.is_none()) {
            continue;
        }
        let cx = node_cx(&node, g, |v| g.value(v).ty.clone(), |v| g.value(v).konst.as_ref()).map_err(err)?;
        let out = match node.op.spec().infer(&cx) {
            Ok(out) => out,
            Err(_) if cx.missing_value.get().is_some() => continue,
            Err(e) => return Err(err(e)),
        };
        if out.len() < node.outputs.iter().rposition(|o| o.is_some()).map_or(0, |p| p + 1) {
            return Err(err(format!(
                "the op yields {} outputs but the node declares {}",
                out.len(),
                node.outputs.len()
            )));
        }
        for (slot, t) in node.outputs.iter().zip(out) {
            if let Some(v) = slot {
                g.values[v.idx()].ty = Some(t);
            }
        }
    }
    Ok(())
}
