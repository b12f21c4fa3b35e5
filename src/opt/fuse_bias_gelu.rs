//! MatMul → com.microsoft BiasGelu fusion: a `MatMul` whose result only a BiasGelu (or a Gelu
//! given a bias: `ContribGelu` of the erf kind) reads, with a constant 1-D bias as long as the
//! product's last dim, becomes `FusedMatMul { MatMul }` with that bias as C and the erf Gelu as
//! its epilogue (one matrix-product dispatch instead of a product, a bias add and a Gelu).
//! Float types f32, f16, bf16. The fused node takes the BiasGelu's place in the order.

use super::fuse_epilogue::hidden_reads;
use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Node, Op, ValueId};
use crate::ops::contrib::GeluKind;
use crate::ops::fused::{Act, ActKind};
use crate::ops::fused_ew::{FusedMatMul, MatMulBase};
use crate::tensor::DType;

pub struct FuseBiasGelu;

impl Pass for FuseBiasGelu {
    fn name(&self) -> &'static str {
        "fuse-bias-gelu"
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let mut changed = false;
        while let Some((i, j, inputs)) = find(g) {
            let act = Act { kind: ActKind::Gelu, alpha: 0.0, beta: 0.0 };
            let op = FusedMatMul { act, ..FusedMatMul::plain(MatMulBase::MatMul) };
            // The MatMul's name, domain and opset; the BiasGelu's outputs.
            let fused = Node {
                op_type: "FusedMatMul".into(),
                op: Op::FusedMatMul(op),
                inputs,
                outputs: g.nodes[j].outputs.clone(),
                captures: vec![],
                ..g.nodes[i].clone()
            };
            g.nodes[j] = fused;
            g.nodes.remove(i);
            g.relink();
            changed = true;
        }
        Ok(changed)
    }
}

/// (MatMul node, BiasGelu node, the fused node's inputs: A, B, bias).
fn find(g: &Graph) -> Option<(usize, usize, Vec<Option<ValueId>>)> {
    let cons = g.consumers();
    let hidden = hidden_reads(g);
    for (i, n) in g.nodes.iter().enumerate() {
        if !matches!(n.op, Op::MatMul(_)) || n.inputs.len() != 2 || n.outputs.len() != 1 {
            continue;
        }
        let Some(Some(y)) = n.outputs.first().copied() else { continue };
        let Some(yty) = g.value(y).ty.as_ref() else { continue };
        if hidden[y.idx()] || !matches!(yty.dtype, DType::F32 | DType::F16 | DType::BF16) || yty.dims.len() < 2 {
            continue;
        }
        let [j] = cons[y.idx()][..] else { continue };
        let c = &g.nodes[j.idx()];
        let Op::ContribGelu(gelu) = &c.op else { continue };
        if gelu.kind != GeluKind::Erf || c.outputs.len() != 1 || !c.captures.is_empty() {
            continue;
        }
        let (Some(&Some(x)), Some(&Some(bias))) = (c.inputs.first(), c.inputs.get(1)) else { continue };
        if x != y || bias == y {
            continue;
        }
        let Some(b) = g.value(bias).konst.as_ref() else { continue };
        let cols = yty.dims.last().and_then(|d| d.known());
        if b.dtype() != yty.dtype || b.shape().len() != 1 || Some(b.shape()[0]) != cols {
            continue;
        }
        let mut inputs = n.inputs.clone();
        inputs.push(Some(bias));
        return Some((i, j.idx(), inputs));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::builder::ModelBuilder;
    use crate::onnx::proto::OperatorSetIdProto;
    use crate::opt::testutil::{ramp, same_outputs};

    fn model(const_bias: bool) -> Vec<u8> {
        // before: MatMul(x, w) → BiasGelu(·, b); after: FusedMatMul(x, w, b) with a Gelu epilogue.
        let mut b = ModelBuilder::new(17);
        b.model.opset_import.push(OperatorSetIdProto { domain: Some("com.microsoft".into()), version: Some(1) });
        b.input("x", DType::F32, &[2, 3, 4]);
        b.initializer("w", ramp(&[4, 5], 0.2));
        if const_bias {
            b.initializer("b", ramp(&[5], 0.3));
        } else {
            b.input("b", DType::F32, &[5]);
        }
        b.node("MatMul", &["x", "w"], &["m"], &[]);
        b.node_in("com.microsoft", "BiasGelu", &["m", "b"], &["out"], &[]);
        b.output("out", DType::F32, &[2, 3, 5]);
        b.to_bytes()
    }

    #[test]
    fn matmul_bias_gelu_fuses() {
        let bytes = model(true);
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        let before: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).collect();
        assert_eq!(before.len(), 2);
        assert!(FuseBiasGelu.run(&mut g).unwrap());
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["FusedMatMul"]);
        let Op::FusedMatMul(f) = &g.nodes[0].op else { panic!() };
        assert_eq!(f.act.kind, ActKind::Gelu);
        assert_eq!(g.value(g.nodes[0].inputs[2].unwrap()).name, "b");
        same_outputs(&bytes, ramp(&[2, 3, 4], 0.7), 1e-5);
    }

    #[test]
    fn a_runtime_bias_is_not_fused() {
        let bytes = model(false);
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        assert!(!FuseBiasGelu.run(&mut g).unwrap());
    }
}
