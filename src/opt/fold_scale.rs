//! Scale folding into matrix products (ORT's MatMulScaleFusion): an operand of a MatMul-based
//! product that is `Mul(x, s)` or `Div(x, s)` with `s` a constant scalar (one element, the
//! operand's float type, rank ≤ x's) that only the product reads becomes `x`, and the product's
//! `alpha` takes the factor (`s` or `1/s`). Attention's `Q·√scale` and `K·√scale` (and
//! `Q / √d`) go, and the head-split Transpose under them can then fold into the operand's
//! strides. The product is rounded once instead of the scaled operands, which is within a
//! rounding of the unfused result.

use super::fold_transpose::{matmul_based, promote_matmul};
use super::fuse_epilogue::hidden_reads;
use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Op, ValueId};
use crate::ops::elementwise::BinaryOp;
use crate::tensor::DType;

pub struct FoldScale;

impl Pass for FoldScale {
    fn name(&self) -> &'static str {
        "fold-scale"
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let mut changed = false;
        for _ in 0..=g.nodes.len() {
            let Some((i, slot, x, factor)) = find(g) else { break };
            let n = &mut g.nodes[i];
            promote_matmul(n);
            if let Op::FusedMatMul(f) = &mut n.op {
                f.alpha = (f.alpha as f64 * factor) as f32;
            }
            n.inputs[slot] = Some(x);
            changed = true;
        }
        // The Mul/Div nodes no one reads now are left to dead-code elimination.
        Ok(changed)
    }
}

/// (product node, operand slot, the unscaled operand, the factor).
fn find(g: &Graph) -> Option<(usize, usize, ValueId, f64)> {
    let cons = g.consumers();
    let hidden = hidden_reads(g);
    for (i, n) in g.nodes.iter().enumerate() {
        if !matmul_based(&n.op) {
            continue;
        }
        for slot in 0..2 {
            let Some(&Some(v)) = n.inputs.get(slot) else { continue };
            let Some(p) = g.value(v).producer.filter(|p| p.list == 0) else { continue };
            let m = g.node(p);
            let Op::Binary(b) = &m.op else { continue };
            if !matches!(b.op, BinaryOp::Mul | BinaryOp::Div) || !m.captures.is_empty() || m.inputs.len() != 2 {
                continue;
            }
            if hidden[v.idx()] || g.outputs.contains(&v) || cons[v.idx()].iter().any(|c| c.idx() != i || c.list != 0) {
                continue;
            }
            let (Some(a0), Some(a1)) = (m.inputs[0], m.inputs[1]) else { continue };
            // Mul's scalar may be either operand; Div's must be the divisor.
            let scalar = |k: ValueId| -> Option<f64> {
                let t = g.value(k).konst.as_ref()?;
                let xt = g.value(if k == a0 { a1 } else { a0 }).ty.as_ref()?;
                let float = matches!(t.dtype(), DType::F32 | DType::F16 | DType::BF16);
                if !float || t.dtype() != xt.dtype || t.numel() != 1 || t.shape().len() > xt.dims.len() {
                    return None;
                }
                t.to_f64_vec().ok()?.first().copied().filter(|s| s.is_finite())
            };
            let found = match b.op {
                BinaryOp::Mul => scalar(a1).map(|s| (a0, s)).or_else(|| scalar(a0).map(|s| (a1, s))),
                _ => scalar(a1).filter(|&s| s != 0.0).map(|s| (a0, 1.0 / s)),
            };
            if let Some((x, s)) = found {
                if x != v {
                    return Some((i, slot, x, s));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::builder::{Attr, ModelBuilder};
    use crate::opt::testutil::{ramp, same_outputs};
    use crate::tensor::Tensor;

    #[test]
    fn scalar_factors_of_both_operands_fold_into_alpha() {
        // before: MatMul(Transpose(x, [0,2,1,3]) · 0.5, Transpose(x, [0,2,3,1]) / 4) → Softmax;
        // after: FusedMatMul(x, x) with alpha 0.125 and both permutations, then Softmax.
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[1, 4, 2, 3]);
        b.initializer("half", Tensor::new(&[], vec![0.5f32]).unwrap());
        b.initializer("four", Tensor::new(&[1], vec![4.0f32]).unwrap());
        b.node("Transpose", &["x"], &["q"], &[("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
        b.node("Transpose", &["x"], &["k"], &[("perm", Attr::Ints(vec![0, 2, 3, 1]))]);
        b.node("Mul", &["q", "half"], &["qs"], &[]);
        b.node("Div", &["k", "four"], &["ks"], &[]);
        b.node("MatMul", &["qs", "ks"], &["s"], &[]);
        b.node("Softmax", &["s"], &["out"], &[]);
        b.output("out", DType::F32, &[1, 2, 4, 4]);
        let bytes = b.to_bytes();
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        crate::opt::optimize(&mut g, &crate::opt::default_passes()).unwrap();
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["FusedMatMul", "Softmax"]);
        let Op::FusedMatMul(f) = &g.nodes[0].op else { panic!() };
        assert_eq!(f.alpha, 0.125);
        assert_eq!(f.perm_a.as_deref(), Some(&[0, 2, 1, 3][..]));
        assert_eq!(f.perm_b.as_deref(), Some(&[0, 2, 3, 1][..]));
        same_outputs(&bytes, ramp(&[1, 4, 2, 3], 0.7), 1e-5);
    }

    #[test]
    fn a_scaled_operand_read_elsewhere_or_a_tensor_factor_stays() {
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[3, 4]);
        b.initializer("w", ramp(&[4, 2], 0.2));
        b.initializer("half", Tensor::new(&[], vec![0.5f32]).unwrap());
        b.initializer("row", ramp(&[4], 0.3));
        b.node("Mul", &["x", "half"], &["xs"], &[]);
        b.node("MatMul", &["xs", "w"], &["y1"], &[]);
        b.node("Mul", &["x", "row"], &["xr"], &[]);
        b.node("MatMul", &["xr", "w"], &["y2"], &[]);
        b.output("y1", DType::F32, &[3, 2]);
        b.output("y2", DType::F32, &[3, 2]);
        b.output("xs", DType::F32, &[3, 4]);
        let mut g = crate::onnx::load_model(&b.to_bytes(), None, &Default::default()).unwrap();
        assert!(!FoldScale.run(&mut g).unwrap());
    }
}
