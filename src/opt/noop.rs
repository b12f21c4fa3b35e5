//! No-op elimination: nodes whose output equals their input are removed and their readers
//! read the input instead: Identity, inference-mode Dropout (no mask read, training mode
//! absent or constant false), Cast to the input's own type, and Reshape, Flatten, Squeeze,
//! Unsqueeze or Expand whose output type equals the input's (fully known shapes). A node whose
//! output is a graph output is kept (the output's name must survive).

use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Node, Op, ValueId};
use crate::tensor::Kind;

pub struct NoOp;

impl Pass for NoOp {
    fn name(&self) -> &'static str {
        "noop"
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let mut remove = Vec::new();
        let mut map: Vec<ValueId> = (0..g.values.len() as u32).map(ValueId).collect();
        for (i, n) in g.nodes.iter().enumerate() {
            if let Some((x, y)) = passthrough(g, n) {
                if g.outputs.contains(&y) {
                    continue;
                }
                map[y.idx()] = map[x.idx()];
                remove.push(i);
            }
        }
        if remove.is_empty() {
            return Ok(false);
        }
        let redirect = |v: &mut ValueId| *v = map[v.idx()];
        for n in g.nodes.iter_mut().chain(g.subgraphs.iter_mut().flat_map(|s| s.nodes.iter_mut())) {
            n.inputs.iter_mut().flatten().for_each(redirect);
            n.captures.iter_mut().for_each(redirect);
        }
        for s in &mut g.subgraphs {
            s.outputs.iter_mut().for_each(redirect);
        }
        for &i in remove.iter().rev() {
            g.nodes.remove(i);
        }
        g.relink();
        Ok(true)
    }
}

/// (input, output) when `n` passes its input through unchanged.
fn passthrough(g: &Graph, n: &Node) -> Option<(ValueId, ValueId)> {
    let x = n.inputs.first().copied().flatten()?;
    let y = n.outputs.first().copied().flatten()?;
    if n.outputs.iter().skip(1).any(|o| o.is_some()) || !n.captures.is_empty() {
        return None;
    }
    let (xv, yv) = (g.value(x), g.value(y));
    if xv.kind != Kind::Tensor || yv.kind != Kind::Tensor {
        return None;
    }
    let (xt, yt) = (xv.ty.as_ref()?, yv.ty.as_ref()?);
    let same = xt == yt && xt.dims.iter().all(|d| d.known().is_some());
    let ok = match &n.op {
        Op::Identity(_) => true,
        Op::Dropout(_) => match n.inputs.get(2).copied().flatten() {
            None => true,
            Some(t) => {
                g.value(t).konst.as_ref().and_then(|k| k.to_i64_vec().ok()).is_some_and(|v| v.iter().all(|&b| b == 0))
            }
        },
        Op::Cast(_) => xt.dtype == yt.dtype && xt.dims == yt.dims,
        Op::Reshape(_) | Op::Flatten(_) | Op::Squeeze(_) | Op::Unsqueeze(_) | Op::Expand(_) => same,
        _ => false,
    };
    ok.then_some((x, y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::builder::ModelBuilder;
    use crate::tensor::{DType, Tensor};

    #[test]
    fn identity_dropout_cast_and_reshape_noops_go() {
        // before: Identity → Dropout → Cast(float) → Reshape([2, 3]) → Relu → Identity (output)
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[2, 3]);
        b.initializer("shape", Tensor::new(&[2], vec![2i64, 3]).unwrap());
        b.node("Identity", &["x"], &["a"], &[]);
        b.node("Dropout", &["a"], &["b"], &[]);
        b.node("Cast", &["b"], &["c"], &[("to", 1i64.into())]);
        b.node("Reshape", &["c", "shape"], &["d"], &[]);
        b.node("Relu", &["d"], &["e"], &[]);
        b.node("Identity", &["e"], &["out"], &[]);
        b.output("out", DType::F32, &[2, 3]);
        let mut g = crate::onnx::load_model(&b.to_bytes(), None, &Default::default()).unwrap();
        assert_eq!(g.nodes.len(), 6);
        assert!(NoOp.run(&mut g).unwrap());
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["Unary", "Identity"], "the Identity naming the graph output stays");
        assert_eq!(g.value(g.nodes[0].inputs[0].unwrap()).name, "x");
        assert!(!NoOp.run(&mut g).unwrap());
    }
}
