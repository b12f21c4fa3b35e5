//! Transpose folding into matrix products: a `Transpose` that swaps the last two axes (and keeps
//! the others) feeding operand A or B of a `MatMul`, `Gemm` or `FusedMatMul` is read through
//! the product's transposed-operand flag instead (the K^T of attention, `x · Wᵀ` exports). A
//! MatMul becomes a `FusedMatMul` with `trans_a`/`trans_b`; a Gemm (2-D, perm [1, 0]) toggles its
//! `transA`/`transB`; a FusedMatMul toggles its flag. Both backends read the operand through
//! strides, so the transposed copy is never made; the Transpose node stays only while another
//! node reads its output (dead-code elimination removes it otherwise).

use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Op};
use crate::ops::fused_ew::{FusedMatMul, MatMulBase};

pub struct FoldTranspose;

impl Pass for FoldTranspose {
    fn name(&self) -> &'static str {
        "fold-transpose"
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let mut producer = vec![None; g.values.len()];
        for (i, n) in g.nodes.iter().enumerate() {
            for v in n.outputs.iter().flatten() {
                producer[v.idx()] = Some(i);
            }
        }
        let mut changed = false;
        for i in 0..g.nodes.len() {
            for slot in 0..2 {
                // Repeat: a transpose of a transpose folds twice.
                while let Some(x) = swapped_source(g, &producer, i, slot) {
                    let n = &mut g.nodes[i];
                    match &mut n.op {
                        Op::MatMul(_) => {
                            let mut f = FusedMatMul::plain(MatMulBase::MatMul);
                            toggle(&mut f.trans_a, &mut f.trans_b, slot);
                            n.op = Op::FusedMatMul(f);
                            n.op_type = "FusedMatMul".into();
                        }
                        Op::Gemm(gm) => toggle(&mut gm.trans_a, &mut gm.trans_b, slot),
                        Op::FusedMatMul(f) => toggle(&mut f.trans_a, &mut f.trans_b, slot),
                        _ => break,
                    }
                    n.inputs[slot] = Some(x);
                    changed = true;
                }
            }
        }
        if changed {
            g.relink();
        }
        Ok(changed)
    }
}

fn toggle(a: &mut bool, b: &mut bool, slot: usize) {
    let f = if slot == 0 { a } else { b };
    *f = !*f;
}

/// The Transpose input `x` when input `slot` of node `i` (a product) is `Transpose(x)` swapping
/// x's last two axes only.
fn swapped_source(g: &Graph, producer: &[Option<usize>], i: usize, slot: usize) -> Option<crate::ir::ValueId> {
    let n = &g.nodes[i];
    if !matches!(n.op, Op::MatMul(_) | Op::Gemm(_) | Op::FusedMatMul(_)) {
        return None;
    }
    let v = n.inputs.get(slot).copied().flatten()?;
    let t = &g.nodes[producer[v.idx()]?];
    let Op::Transpose(tr) = &t.op else { return None };
    let x = t.inputs.first().copied().flatten()?;
    if !t.captures.is_empty() {
        return None;
    }
    let rank = g.value(x).ty.as_ref()?.dims.len();
    let perm = tr.perm(rank).ok()?;
    let swaps = rank >= 2 && perm[rank - 2] == rank - 1 && perm[rank - 1] == rank - 2;
    (swaps && perm[..rank - 2].iter().enumerate().all(|(d, &p)| d == p)).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::builder::{Attr, ModelBuilder};
    use crate::opt::dead_code::DeadCode;
    use crate::opt::testutil::{ramp, same_outputs};
    use crate::tensor::DType;

    #[test]
    fn transposed_operands_become_flags() {
        // before: MatMul(x, Transpose(w, [0,2,1])) → Reshape → Gemm(Transpose(·), w2) → Reshape
        // → MatMul(Transpose(r, [0,2,1]), ·); after: FusedMatMul(x, w) with trans_b, Gemm with
        // transA, FusedMatMul(r, ·) with trans_a, and no Transpose.
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[2, 3, 4]);
        b.initializer("w", ramp(&[2, 5, 4], 0.2));
        b.initializer("w2", ramp(&[3, 6], 0.1));
        b.initializer("r", ramp(&[2, 5, 6], 0.1));
        b.node("Transpose", &["w"], &["wt"], &[("perm", Attr::Ints(vec![0, 2, 1]))]);
        b.node("MatMul", &["x", "wt"], &["m"], &[]);
        b.node("Reshape", &["m", "shape"], &["m2"], &[]);
        b.initializer("shape", crate::tensor::Tensor::new(&[2], vec![3i64, 10]).unwrap());
        b.node("Transpose", &["m2"], &["m2t"], &[]);
        b.node("Gemm", &["m2t", "w2"], &["q"], &[]);
        b.node("Reshape", &["q", "shape3"], &["q3"], &[]);
        b.initializer("shape3", crate::tensor::Tensor::new(&[3], vec![2i64, 5, 6]).unwrap());
        b.node("Transpose", &["r"], &["rt"], &[("perm", Attr::Ints(vec![0, 2, 1]))]);
        b.node("MatMul", &["rt", "q3"], &["out"], &[]);
        b.output("out", DType::F32, &[2, 6, 6]);
        let bytes = b.to_bytes();
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        assert!(FoldTranspose.run(&mut g).unwrap());
        DeadCode.run(&mut g).unwrap();
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["FusedMatMul", "Reshape", "Gemm", "Reshape", "FusedMatMul"]);
        let Op::FusedMatMul(f) = &g.nodes[0].op else { panic!() };
        assert!(!f.trans_a && f.trans_b);
        assert_eq!(g.value(g.nodes[0].inputs[1].unwrap()).name, "w");
        let Op::Gemm(gm) = &g.nodes[2].op else { panic!() };
        assert!(gm.trans_a && !gm.trans_b);
        let Op::FusedMatMul(f) = &g.nodes[4].op else { panic!() };
        assert!(f.trans_a && !f.trans_b);
        assert!(!FoldTranspose.run(&mut g).unwrap(), "nothing left to fold");
        same_outputs(&bytes, ramp(&[2, 3, 4], 0.7), 1e-5);
    }

    #[test]
    fn other_permutations_stay() {
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[2, 3, 4]);
        b.initializer("w", ramp(&[4, 2, 5], 0.2));
        b.node("Transpose", &["w"], &["wt"], &[("perm", Attr::Ints(vec![1, 0, 2]))]);
        b.node("MatMul", &["x", "wt"], &["out"], &[]);
        b.output("out", DType::F32, &[2, 3, 5]);
        let mut g = crate::onnx::load_model(&b.to_bytes(), None, &Default::default()).unwrap();
        assert!(!FoldTranspose.run(&mut g).unwrap());
    }
}
