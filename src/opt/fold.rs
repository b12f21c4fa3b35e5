//! Constant folding: a node whose inputs are all constants is evaluated once with its CPU
//! reference kernel and replaced by its outputs; Shape/Size of statically shaped values fold
//! from the shapes alone. Random generators are never folded.

use super::Pass;
use crate::error::{Error, Result};
use crate::ir::{infer::node_cx, Graph, ValueType};
use crate::tensor::shape::known_dims;

pub struct ConstantFold;

impl Pass for ConstantFold {
    fn name(&self) -> &'static str {
        "constant-fold"
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let mut keep = vec![true; g.nodes.len()];
        for i in 0..g.nodes.len() {
            let node = &g.nodes[i];
            let spec = node.op.spec();
            if !spec.foldable() {
                continue;
            }
            let label = node.label(g).to_string();
            let all_const = node.inputs.iter().flatten().all(|v| g.value(*v).konst.is_some());
            // Bound what folding would allocate by the inferred output sizes.
            for v in node.outputs.iter().flatten() {
                let val = g.value(*v);
                if let Some(s) =
                    val.ty.as_ref().and_then(|t| crate::tensor::shape::concrete(&t.dims).map(|s| (t.dtype, s)))
                {
                    g.limits
                        .check_tensor(&format!("output '{}'", val.name), s.0, &s.1)
                        .map_err(|e| Error::Limit(format!("node '{label}' ({}): {e}", node.op_type)))?;
                }
            }
            // Zero-element outputs are known from their types alone (evaluating a kernel over
            // a huge outer dim of an empty tensor could hang).
            let empty: Option<Vec<crate::tensor::Tensor>> = node
                .outputs
                .iter()
                .map(|slot| {
                    let t = g.value((*slot)?).ty.as_ref()?;
                    let s = crate::tensor::shape::concrete(&t.dims).filter(|s| s.contains(&0))?;
                    crate::tensor::Tensor::zeros(t.dtype, &s).ok()
                })
                .collect();
            let outs = if let Some(e) = empty.filter(|e| !e.is_empty() && all_const) {
                Some(e)
            } else if all_const {
                let ins: Vec<Option<&crate::tensor::Tensor>> =
                    node.inputs.iter().map(|s| s.map(|v| g.value(v).konst.as_ref().unwrap())).collect();
                Some(spec.eval(&ins, node.outputs.len()).map_err(|e| Error::node(&label, &node.op_type, e))?)
            } else {
                if node.inputs.iter().flatten().any(|v| g.value(*v).ty.is_none()) {
                    continue;
                }
                let cx = node_cx(node, g, |v| g.value(v).ty.clone(), |v| g.value(v).konst.as_ref())
                    .map_err(|e| Error::node(&label, &node.op_type, e))?;
                match spec.eval_from_shapes(&cx) {
                    Some(r) => Some(r.map_err(|e| Error::node(&label, &node.op_type, e))?),
                    None => None,
                }
            };
            let Some(outs) = outs else { continue };
            let slots = node.outputs.clone();
            for (slot, t) in slots.iter().zip(outs) {
                if let Some(v) = slot {
                    let val = &mut g.values[v.idx()];
                    val.ty = Some(ValueType { dtype: t.dtype(), dims: known_dims(t.shape()) });
                    val.konst = Some(t);
                }
            }
            keep[i] = false;
        }
        if keep.iter().all(|&k| k) {
            return Ok(false);
        }
        let mut k = keep.into_iter();
        g.nodes.retain(|_| k.next().unwrap());
        g.relink();
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use crate::onnx::builder::ModelBuilder;

    use crate::tensor::{DType, Tensor};

    #[test]
    fn folds_shape_arithmetic_chain() {
        // x[2,3,4] → Shape → Gather(0) → Unsqueeze → Concat(-1) → Reshape(x)
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[2, 3, 4]);
        b.initializer("idx", Tensor::scalar(0i64));
        b.initializer("ax", Tensor::new(&[1], vec![0i64]).unwrap());
        b.initializer("minus1", Tensor::new(&[1], vec![-1i64]).unwrap());
        b.node("Shape", &["x"], &["s"], &[]);
        b.node("Gather", &["s", "idx"], &["d0"], &[]);
        b.node("Unsqueeze", &["d0", "ax"], &["d0v"], &[]);
        b.node("Concat", &["d0v", "minus1"], &["target"], &[("axis", 0i64.into())]);
        b.node("Reshape", &["x", "target"], &["y"], &[]);
        b.output("y", DType::F32, &[2, 12]);
        let mut g = crate::onnx::load_model(&b.to_bytes(), None, &Default::default()).unwrap();
        assert_eq!(g.nodes.len(), 5);
        crate::opt::optimize(&mut g, &crate::opt::default_passes()).unwrap();
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, vec!["Reshape"], "only the Reshape of runtime data remains");
        let target = g.nodes[0].inputs[1].unwrap();
        assert_eq!(g.value(target).konst.as_ref().unwrap().to_i64_vec().unwrap(), vec![2, -1]);
    }
}
