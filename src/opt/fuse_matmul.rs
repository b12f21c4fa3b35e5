//! Matrix-product epilogue fusion: `MatMul` followed by an `Add` (or two-input `Sum`) that
//! only it feeds, whose other operand broadcasts to the product's shape without changing it
//! (a bias row, a full residual), becomes `FusedMatMul { MatMul }` with that operand as C, and a
//! second such Add of a tensor with exactly the product's shape (the residual after a biased
//! projection) its residual R (input 3);
//! a `MatMul`/`Gemm`/bias-only `FusedMatMul` whose result only an activation reads (Relu,
//! Clip with constant bounds, Sigmoid, HardSigmoid, HardSwish, LeakyRelu, Tanh, Gelu, and SiLU
//! as `Mul(y, Sigmoid(y))`) takes it as its epilogue. Float types f32, f16, bf16. The fused node takes the last absorbed node's
//! place in the order (a bias computed after the product is still ready in time).

use super::fuse_epilogue::{hidden_reads, silu_readers};
use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Node, Op, ValueId};
use crate::ops::elementwise::{BinaryOp, VariadicOp};
use crate::ops::fused::{Act, ActKind};
use crate::ops::fused_ew::{FusedMatMul, MatMulBase};
use crate::tensor::shape::broadcast_dims;
use crate::tensor::DType;

pub struct FuseMatMul;

impl Pass for FuseMatMul {
    fn name(&self) -> &'static str {
        "fuse-matmul"
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let mut changed = false;
        while let Some((i, j, also, op, inputs)) = find(g) {
            let n = &g.nodes[i];
            let fused = Node {
                name: n.name.clone(),
                op_type: "FusedMatMul".into(),
                domain: n.domain.clone(),
                opset: n.opset,
                op: Op::FusedMatMul(op),
                inputs,
                outputs: g.nodes[j].outputs.clone(),
                captures: vec![],
            };
            g.nodes[j] = fused;
            let mut gone: Vec<usize> = std::iter::once(i).chain(also).collect();
            gone.sort_unstable();
            for k in gone.into_iter().rev() {
                g.nodes.remove(k);
            }
            g.relink();
            changed = true;
        }
        Ok(changed)
    }
}

/// (product node, absorbed node, another absorbed node (SiLU's Sigmoid), fused op, fused inputs).
type Found = (usize, usize, Option<usize>, FusedMatMul, Vec<Option<ValueId>>);

fn find(g: &Graph) -> Option<Found> {
    let cons = g.consumers();
    let hidden = hidden_reads(g);
    for (i, n) in g.nodes.iter().enumerate() {
        let cur = match &n.op {
            Op::MatMul(_) => FusedMatMul::plain(MatMulBase::MatMul),
            Op::Gemm(gm) => FusedMatMul::plain(MatMulBase::Gemm(gm.clone())),
            Op::FusedMatMul(f) if f.act.kind == ActKind::None => f.clone(),
            _ => continue,
        };
        let Some(Some(y)) = n.outputs.first().copied() else { continue };
        let Some(yty) = g.value(y).ty.as_ref() else { continue };
        if n.outputs.len() != 1 || hidden[y.idx()] || !matches!(yty.dtype, DType::F32 | DType::F16 | DType::BF16) {
            continue;
        }
        let j = match cons[y.idx()][..] {
            [j] => j.idx(),
            [a, b] => {
                if let Some((s, m)) = silu_readers(g, &cons, y, a.idx(), b.idx()) {
                    let act = Act { kind: ActKind::Silu, alpha: 0.0, beta: 0.0 };
                    return Some((i, m, Some(s), FusedMatMul { act, ..cur }, n.inputs.clone()));
                }
                continue;
            }
            _ => continue,
        };
        let c = &g.nodes[j];
        if c.outputs.len() != 1 || !c.captures.is_empty() {
            continue;
        }
        let is_add = match &c.op {
            Op::Binary(b) => b.op == BinaryOp::Add,
            Op::Variadic(v) => v.op == VariadicOp::Sum,
            _ => false,
        };
        let mut inputs = n.inputs.clone();
        // A bias adds to the product before a folded result permutation: none then.
        let unpermuted = cur.perm_y.is_none();
        if is_add && matches!(cur.base, MatMulBase::MatMul) && unpermuted && matches!(inputs.len(), 2 | 3) {
            // The Add's other operand: as C (no bias yet) it may broadcast to the product's
            // shape; as the residual R after a bias (the residual stream after a biased
            // projection) it must have exactly that shape.
            let ins: Vec<ValueId> = c.inputs.iter().flatten().copied().collect();
            if c.inputs.len() != 2 || ins.len() != 2 || ins.iter().filter(|&&v| v == y).count() != 1 {
                continue;
            }
            let Some(&other) = ins.iter().find(|&&v| v != y) else { continue };
            let Some(oty) = g.value(other).ty.as_ref() else { continue };
            let fits = match inputs.len() {
                2 => broadcast_dims(&[&yty.dims, &oty.dims]).is_ok_and(|d| d == yty.dims),
                _ => oty.dims == yty.dims,
            };
            if oty.dtype != yty.dtype || !fits {
                continue;
            }
            inputs.push(Some(other));
            return Some((i, j, None, cur, inputs));
        }
        let act = match &c.op {
            Op::Unary(u) if c.inputs.first() == Some(&Some(y)) => Act::of_unary(u),
            Op::Clip(cl) if c.inputs.first() == Some(&Some(y)) => {
                let bound = |k: usize, attr: Option<f32>, dflt: f32| -> Option<f32> {
                    match c.inputs.get(k).copied().flatten() {
                        Some(v) => g.value(v).konst.as_ref()?.to_f64_vec().ok()?.first().map(|&x| x as f32),
                        None => Some(attr.unwrap_or(dflt)),
                    }
                };
                match (bound(1, cl.min, f32::NEG_INFINITY), bound(2, cl.max, f32::INFINITY)) {
                    (Some(lo), Some(hi)) => Some(Act { kind: ActKind::Clip, alpha: lo, beta: hi }),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(act) = act {
            return Some((i, j, None, FusedMatMul { act, ..cur }, inputs));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::builder::ModelBuilder;
    use crate::opt::testutil::{ramp, same_outputs};

    #[test]
    fn matmul_bias_relu_and_gemm_tanh_fuse() {
        // before: MatMul(x, w) → Add(·, b) → Relu → Gemm(·, w2, c) → Tanh
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[3, 4]);
        b.initializer("w", ramp(&[4, 5], 0.2));
        b.initializer("b", ramp(&[5], 0.3));
        b.initializer("w2", ramp(&[5, 2], 0.1));
        b.initializer("c", ramp(&[2], 0.4));
        b.node("MatMul", &["x", "w"], &["m"], &[]);
        b.node("Add", &["b", "m"], &["a"], &[]);
        b.node("Relu", &["a"], &["r"], &[]);
        b.node("Gemm", &["r", "w2", "c"], &["q"], &[]);
        b.node("Tanh", &["q"], &["out"], &[]);
        b.output("out", DType::F32, &[3, 2]);
        let bytes = b.to_bytes();
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        assert!(FuseMatMul.run(&mut g).unwrap());
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["FusedMatMul", "FusedMatMul"]);
        let Op::FusedMatMul(f) = &g.nodes[0].op else { panic!() };
        assert_eq!(f.act.kind, ActKind::Relu);
        assert_eq!(g.value(g.nodes[0].inputs[2].unwrap()).name, "b");
        let Op::FusedMatMul(f) = &g.nodes[1].op else { panic!() };
        assert!(matches!(f.base, MatMulBase::Gemm(_)) && f.act.kind == ActKind::Tanh);
        same_outputs(&bytes, ramp(&[3, 4], 0.7), 1e-5);
    }

    #[test]
    fn silu_after_a_biased_matmul_fuses() {
        // before: MatMul(x, w) → Add(·, b) → Sigmoid, Mul(·, sigmoid); after: one FusedMatMul.
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[3, 4]);
        b.initializer("w", ramp(&[4, 5], 0.2));
        b.initializer("b", ramp(&[5], 0.3));
        b.node("MatMul", &["x", "w"], &["m"], &[]);
        b.node("Add", &["m", "b"], &["a"], &[]);
        b.node("Sigmoid", &["a"], &["s"], &[]);
        b.node("Mul", &["a", "s"], &["out"], &[]);
        b.output("out", DType::F32, &[3, 5]);
        let bytes = b.to_bytes();
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        assert!(FuseMatMul.run(&mut g).unwrap());
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["FusedMatMul"]);
        let Op::FusedMatMul(f) = &g.nodes[0].op else { panic!() };
        assert_eq!(f.act.kind, ActKind::Silu);
        assert_eq!(g.nodes[0].inputs.len(), 3, "the bias joined");
        same_outputs(&bytes, ramp(&[3, 4], 0.7), 1e-5);
    }

    #[test]
    fn bias_that_widens_the_product_is_not_fused() {
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[1, 4]);
        b.initializer("w", ramp(&[4, 5], 0.2));
        b.initializer("b", ramp(&[3, 5], 0.3));
        b.node("MatMul", &["x", "w"], &["m"], &[]);
        b.node("Add", &["m", "b"], &["out"], &[]);
        b.output("out", DType::F32, &[3, 5]);
        let mut g = crate::onnx::load_model(&b.to_bytes(), None, &Default::default()).unwrap();
        assert!(!FuseMatMul.run(&mut g).unwrap());
    }

    #[test]
    fn a_residual_after_the_bias_becomes_input_3() {
        // before: Relu((MatMul(x, w) + b) + x); after: one FusedMatMul(x, w, b, x) with Relu.
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[2, 3, 4]);
        b.initializer("w", ramp(&[4, 4], 0.2));
        b.initializer("b", ramp(&[4], 0.1));
        b.node("MatMul", &["x", "w"], &["m"], &[]);
        b.node("Add", &["m", "b"], &["mb"], &[]);
        b.node("Add", &["x", "mb"], &["r"], &[]);
        b.node("Relu", &["r"], &["out"], &[]);
        b.output("out", DType::F32, &[2, 3, 4]);
        let bytes = b.to_bytes();
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        assert!(FuseMatMul.run(&mut g).unwrap());
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["FusedMatMul"]);
        let names: Vec<&str> = g.nodes[0].inputs.iter().flatten().map(|v| g.value(*v).name.as_str()).collect();
        assert_eq!(names, ["x", "w", "b", "x"]);
        let Op::FusedMatMul(f) = &g.nodes[0].op else { panic!() };
        assert_eq!(f.act.kind, ActKind::Relu);
        same_outputs(&bytes, ramp(&[2, 3, 4], 0.7), 1e-6);
    }
}
