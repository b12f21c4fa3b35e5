//! Transpose folding into matrix products. A `Transpose` feeding operand A or B of a `MatMul`,
//! `Gemm` or `FusedMatMul`, or reading a product's result, is read (written) through the
//! product's strides instead of being copied:
//! - one that swaps the last two axes (and keeps the others) becomes the transposed-operand
//!   flag (the K^T of attention, `x · Wᵀ` exports): a MatMul becomes a `FusedMatMul` with
//!   `trans_a`/`trans_b`, a Gemm (2-D, perm [1, 0]) toggles `transA`/`transB`, a FusedMatMul
//!   its flag;
//! - any other permutation of an operand of rank 3 to 6 of a MatMul-based product becomes the
//!   operand's `perm_a`/`perm_b` (the [0, 2, 1, 3] head splits of attention), composed with a
//!   permutation already folded;
//! - a permutation keeping the last axis last that is the only reader of a MatMul-based
//!   product without bias (rank 3 to 6, both operands of rank ≥ 2) becomes its `perm_y` (the
//!   heads merged back after P·V): the product takes the Transpose's output.
//!
//! Both backends read and write through strides (`ops::matmul::matmul_layout`), so no copy is
//! made; an operand Transpose stays only while another node reads its output (dead-code
//! elimination removes it otherwise).

use super::fuse_epilogue::hidden_reads;
use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Node, Op, ValueId};
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
                while let Some((x, perm)) = source(g, &producer, i, slot) {
                    let n = &mut g.nodes[i];
                    promote_matmul(n);
                    let swap = is_swap(&perm);
                    match &mut n.op {
                        Op::Gemm(gm) if swap => toggle(&mut gm.trans_a, &mut gm.trans_b, slot),
                        Op::FusedMatMul(f) => {
                            let cur = if slot == 0 { &mut f.perm_a } else { &mut f.perm_b };
                            match cur {
                                // A swap before any permutation is the transposed flag.
                                None if swap => toggle(&mut f.trans_a, &mut f.trans_b, slot),
                                None => *cur = Some(perm),
                                // Transpose(Transpose(x, p), q) = Transpose(x, [p[q[i]]]).
                                Some(q) => *q = q.iter().map(|&k| perm[k]).collect(),
                            }
                        }
                        _ => break,
                    }
                    n.inputs[slot] = Some(x);
                    changed = true;
                }
            }
        }
        while let Some((i, j, perm)) = result_transpose(g) {
            let outputs = g.nodes[j].outputs.clone();
            let n = &mut g.nodes[i];
            promote_matmul(n);
            if let Op::FusedMatMul(f) = &mut n.op {
                // Transpose(Transpose(y, q), p) = Transpose(y, [q[p[i]]]).
                f.perm_y = Some(match &f.perm_y {
                    None => perm,
                    Some(q) => perm.iter().map(|&k| q[k]).collect(),
                });
            }
            n.outputs = outputs;
            // result_transpose reads consumers, not producers: one relink at the end does.
            g.nodes.remove(j);
            changed = true;
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

/// Whether `perm` swaps the last two axes and keeps the others.
fn is_swap(perm: &[usize]) -> bool {
    let r = perm.len();
    r >= 2 && perm[r - 2] == r - 1 && perm[r - 1] == r - 2 && perm[..r - 2].iter().enumerate().all(|(d, &p)| d == p)
}

/// Ranks whose general permutations fold (the GPU kernel has at most 4 batch dims).
fn foldable_rank(r: usize) -> bool {
    (3..=6).contains(&r)
}

/// The MatMul-based products (plain MatMul or FusedMatMul over MatMul).
pub(crate) fn matmul_based(op: &Op) -> bool {
    matches!(op, Op::MatMul(_)) || matches!(op, Op::FusedMatMul(f) if matches!(f.base, MatMulBase::MatMul))
}

/// Turns a plain MatMul node into the equivalent FusedMatMul (other nodes are left as they are).
pub(crate) fn promote_matmul(n: &mut Node) {
    if let Op::MatMul(_) = n.op {
        n.op = Op::FusedMatMul(FusedMatMul::plain(MatMulBase::MatMul));
        n.op_type = "FusedMatMul".into();
    }
}

/// `(x, perm)` when input `slot` of node `i` (a product) is `Transpose(x, perm)` that the
/// product can read through strides: a last-two-axes swap for every product, any permutation
/// of rank 3 to 6 for a MatMul-based one.
fn source(g: &Graph, producer: &[Option<usize>], i: usize, slot: usize) -> Option<(ValueId, Vec<usize>)> {
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
    let permuted_already = match &n.op {
        Op::FusedMatMul(f) => {
            if slot == 0 {
                f.perm_a.is_some()
            } else {
                f.perm_b.is_some()
            }
        }
        _ => false,
    };
    let general = matmul_based(&n.op) && foldable_rank(rank);
    ((is_swap(&perm) && !permuted_already) || general).then_some((x, perm))
}

/// `(product, transpose, perm)`: a MatMul-based product without bias whose result only a
/// Transpose keeping the last axis last reads.
fn result_transpose(g: &Graph) -> Option<(usize, usize, Vec<usize>)> {
    let cons = g.consumers();
    let hidden = hidden_reads(g);
    for (i, n) in g.nodes.iter().enumerate() {
        if !matmul_based(&n.op) || n.inputs.iter().skip(2).any(|c| c.is_some()) || n.outputs.len() != 1 {
            continue;
        }
        let Some(Some(y)) = n.outputs.first().copied() else { continue };
        if hidden[y.idx()] || g.outputs.contains(&y) {
            continue;
        }
        let operand_rank =
            |k: usize| n.inputs.get(k).copied().flatten().and_then(|v| g.value(v).ty.as_ref()).map(|t| t.dims.len());
        if operand_rank(0).is_none_or(|r| r < 2) || operand_rank(1).is_none_or(|r| r < 2) {
            continue;
        }
        let [j] = cons[y.idx()][..] else { continue };
        let t = &g.nodes[j.idx()];
        let Op::Transpose(tr) = &t.op else { continue };
        let Some(rank) = g.value(y).ty.as_ref().map(|t| t.dims.len()) else { continue };
        let Ok(perm) = tr.perm(rank) else { continue };
        if t.captures.is_empty() && foldable_rank(rank) && perm[rank - 1] == rank - 1 && t.outputs.len() == 1 {
            return Some((i, j.idx(), perm));
        }
    }
    None
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
    fn attention_head_permutations_fold_into_the_products() {
        // before: Q = Transpose(x, [0,2,1,3]), Kᵀ = Transpose(k, [0,2,3,1]),
        // V = Transpose(v, [0,2,1,3]), out = Transpose(MatMul(MatMul(Q, Kᵀ), V), [0,2,1,3]);
        // after: two FusedMatMuls with perm_a / perm_b / perm_y, and no Transpose.
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[2, 5, 3, 4]);
        b.initializer("k", ramp(&[2, 6, 3, 4], 0.2));
        b.initializer("v", ramp(&[2, 6, 3, 4], 0.3));
        b.node("Transpose", &["x"], &["q"], &[("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
        b.node("Transpose", &["k"], &["kt"], &[("perm", Attr::Ints(vec![0, 2, 3, 1]))]);
        b.node("Transpose", &["v"], &["vh"], &[("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
        b.node("MatMul", &["q", "kt"], &["s"], &[]);
        b.node("MatMul", &["s", "vh"], &["o"], &[]);
        b.node("Transpose", &["o"], &["out"], &[("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
        b.output("out", DType::F32, &[2, 5, 3, 4]);
        let bytes = b.to_bytes();
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        assert!(FoldTranspose.run(&mut g).unwrap());
        DeadCode.run(&mut g).unwrap();
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["FusedMatMul", "FusedMatMul"]);
        let Op::FusedMatMul(f) = &g.nodes[0].op else { panic!() };
        assert_eq!(
            (f.perm_a.as_deref(), f.perm_b.as_deref(), f.perm_y.as_deref()),
            (Some(&[0, 2, 1, 3][..]), Some(&[0, 2, 3, 1][..]), None)
        );
        let Op::FusedMatMul(f) = &g.nodes[1].op else { panic!() };
        assert_eq!(
            (f.perm_a.as_deref(), f.perm_b.as_deref(), f.perm_y.as_deref()),
            (None, Some(&[0, 2, 1, 3][..]), Some(&[0, 2, 1, 3][..]))
        );
        assert_eq!(g.value(g.nodes[1].outputs[0].unwrap()).name, "out");
        assert!(!FoldTranspose.run(&mut g).unwrap(), "nothing left to fold");
        same_outputs(&bytes, ramp(&[2, 5, 3, 4], 0.7), 1e-5);
    }

    #[test]
    fn permutations_compose_and_a_biased_result_keeps_its_transpose() {
        // before: MatMul(Transpose(Transpose(x, [1,0,2]), [0,2,1]), w) + c → Transpose([1,0,2]);
        // after: the operand's two Transposes become perm [1,0,2] and the swap flag; the
        // result's Transpose stays (the product has a bias).
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[3, 2, 4]);
        b.initializer("w", ramp(&[2, 3, 5], 0.2));
        b.initializer("c", ramp(&[5], 0.1));
        b.node("Transpose", &["x"], &["x1"], &[("perm", Attr::Ints(vec![1, 0, 2]))]);
        b.node("Transpose", &["x1"], &["x2"], &[("perm", Attr::Ints(vec![0, 2, 1]))]);
        b.node("MatMul", &["x2", "w"], &["m"], &[]);
        b.node("Add", &["m", "c"], &["mc"], &[]);
        b.node("Transpose", &["mc"], &["out"], &[("perm", Attr::Ints(vec![1, 0, 2]))]);
        b.output("out", DType::F32, &[4, 2, 5]);
        let bytes = b.to_bytes();
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        crate::opt::optimize(&mut g, &crate::opt::default_passes()).unwrap();
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["FusedMatMul", "Transpose"]);
        let Op::FusedMatMul(f) = &g.nodes[0].op else { panic!() };
        // x2 = swap(Transpose(x, [1,0,2])): the outer swap is the flag, the inner permutation
        // applies first.
        assert_eq!((f.perm_a.as_deref(), f.trans_a, f.perm_y.as_deref()), (Some(&[1, 0, 2][..]), true, None));
        same_outputs(&bytes, ramp(&[3, 2, 4], 0.7), 1e-5);
    }
}
