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
    infer_list(g, 0)
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
