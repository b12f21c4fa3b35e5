//! Layout-chain simplification:
//! - `Transpose(p2) ∘ Transpose(p1)` (the first read only by the second) becomes one
//!   `Transpose(q)`, `q[k] = p1[p2[k]]`, and disappears when `q` is the identity (its readers
//!   then read the original tensor; kept as an identity Transpose when it names a graph output);
//! - `Reshape ∘ Reshape` (the first read only by the second) becomes one Reshape of the
//!   original tensor, when the second's target shape is a constant without `0` entries (which
//!   would copy dims of the tensor in between);
//! - `Reshape ∘ Transpose(p)` (the Transpose read only by the Reshape) where the Reshape only
//!   inserts or removes size-1 dims becomes `Transpose(q) ∘ Reshape'`: the Reshape moves
//!   before the Transpose (x's size-1 dims dropped, the output's appended), where it meets
//!   other Reshapes, and the Transpose moves after it, where it meets other Transposes or a
//!   matrix product that reads it through strides (`fold_transpose`). Torch's attention export
//!   computes Kᵀ as Transpose → Reshape → Transpose → Reshape; this makes it one Transpose.
//!   Static shapes only.

use super::fuse_epilogue::hidden_reads;
use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Node, Op, ValueId, ValueType};
use crate::ops::layout::{Reshape, Transpose};
use crate::tensor::shape::known_dims;
use crate::tensor::Tensor;

pub struct LayoutChains;

impl Pass for LayoutChains {
    fn name(&self) -> &'static str {
        "layout-chains"
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let mut changed = false;
        while step(g) {
            changed = true;
        }
        Ok(changed)
    }
}

fn rank(g: &Graph, v: ValueId) -> Option<usize> {
    g.value(v).ty.as_ref().map(|t| t.dims.len())
}

/// One rewrite; false when none applies.
fn step(g: &mut Graph) -> bool {
    let cons = g.consumers();
    let hidden = hidden_reads(g);
    for j in 0..g.nodes.len() {
        let n = &g.nodes[j];
        let Some(Some(mid)) = n.inputs.first().copied() else { continue };
        let Some(p) = g.value(mid).producer else { continue };
        if p.list != 0 || cons[mid.idx()].len() != 1 || hidden[mid.idx()] {
            continue;
        }
        let i = p.idx();
        let first = &g.nodes[i];
        let Some(Some(x)) = first.inputs.first().copied() else { continue };
        match (&first.op, &n.op) {
            (Op::Transpose(t1), Op::Transpose(t2)) => {
                let Some(r) = rank(g, x) else { continue };
                let (Ok(p1), Ok(p2)) = (t1.perm(r), t2.perm(r)) else { continue };
                let q: Vec<usize> = p2.iter().map(|&k| p1[k]).collect();
                let Some(Some(y)) = n.outputs.first().copied() else { continue };
                let identity = q.iter().enumerate().all(|(k, &v)| k == v);
                if identity && !hidden[y.idx()] {
                    for m in &mut g.nodes {
                        for v in m.inputs.iter_mut().flatten() {
                            if *v == y {
                                *v = x;
                            }
                        }
                    }
                    g.nodes.remove(j);
                } else {
                    g.nodes[j].op = Op::Transpose(Transpose { perm: Some(q.iter().map(|&k| k as i64).collect()) });
                    g.nodes[j].inputs[0] = Some(x);
                }
                g.nodes.remove(i);
                g.relink();
                return true;
            }
            (Op::Reshape(r1), Op::Reshape(r2)) if r1.shape_attr.is_none() && r2.shape_attr.is_none() => {
                let Some(Some(s)) = n.inputs.get(1).copied() else { continue };
                let Some(k) = g.value(s).konst.as_ref() else { continue };
                let Ok(shape) = k.to_i64_vec() else { continue };
                if !r2.allowzero && shape.contains(&0) {
                    continue;
                }
                g.nodes[j].inputs[0] = Some(x);
                g.nodes.remove(i);
                g.relink();
                return true;
            }
            (Op::Transpose(t), Op::Reshape(r)) if r.shape_attr.is_none() => {
                let Some(Some(y)) = n.outputs.first().copied() else { continue };
                let Some((shape, q)) = unit_reshape_first(g, x, t, mid, y) else { continue };
                let Some(dtype) = g.value(x).ty.as_ref().map(|t| t.dtype) else { continue };
                let shape_t = Tensor::new(&[shape.len()], shape.iter().map(|&d| d as i64).collect::<Vec<_>>());
                let Ok(shape_t) = shape_t else { continue };
                let sv = g.add_const(&format!("{}_unit_reshape_shape", g.value(mid).name), shape_t);
                // The Transpose's slot becomes the Reshape of x; the Reshape's the Transpose.
                g.values[mid.idx()].ty = Some(ValueType { dtype, dims: known_dims(&shape) });
                let (tn, rn) = (g.nodes[i].clone(), g.nodes[j].clone());
                let reshape = Op::Reshape(Reshape { allowzero: false, shape_attr: None });
                g.nodes[i] =
                    Node { op: reshape, inputs: vec![Some(x), Some(sv)], outputs: tn.outputs.clone(), ..rn.clone() };
                let transpose = Op::Transpose(Transpose { perm: Some(q.iter().map(|&k| k as i64).collect()) });
                g.nodes[j] = Node { op: transpose, inputs: vec![Some(mid)], outputs: rn.outputs, ..tn };
                g.relink();
                return true;
            }
            _ => {}
        }
    }
    false
}

/// For `y = Reshape(u)`, `u = Transpose(x, t)`, with static shapes, when the Reshape only
/// inserts or removes size-1 dims: the shape of `Reshape'(x)` (x's dims other than 1, then as
/// many 1s as y has size-1 dims) and the permutation `q` with `y = Transpose(Reshape'(x), q)`.
fn unit_reshape_first(
    g: &Graph,
    x: ValueId,
    t: &Transpose,
    u: ValueId,
    y: ValueId,
) -> Option<(Vec<usize>, Vec<usize>)> {
    let known = |v: ValueId| -> Option<Vec<usize>> { g.value(v).ty.as_ref()?.dims.iter().map(|d| d.known()).collect() };
    let (dx, du, dy) = (known(x)?, known(u)?, known(y)?);
    let p = t.perm(dx.len()).ok()?;
    let nonunit = |d: &[usize]| -> Vec<usize> { d.iter().copied().filter(|&e| e != 1).collect() };
    if nonunit(&du) != nonunit(&dy) || g.outputs.contains(&u) {
        return None;
    }
    // x's non-unit dims, in order: the index of each in Reshape'(x).
    let mut slot = vec![usize::MAX; dx.len()];
    let mut shape = Vec::new();
    for (a, &d) in dx.iter().enumerate() {
        if d != 1 {
            slot[a] = shape.len();
            shape.push(d);
        }
    }
    let n = shape.len();
    // u's non-unit positions, in order: which x dim each is.
    let mut from = du.iter().enumerate().filter(|(_, &d)| d != 1).map(|(i, _)| slot[p[i]]);
    let mut units = n;
    let mut q = Vec::with_capacity(dy.len());
    for &d in &dy {
        if d == 1 {
            q.push(units);
            units += 1;
        } else {
            q.push(from.next()?);
        }
    }
    shape.resize(units, 1);
    Some((shape, q))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::builder::ModelBuilder;
    use crate::tensor::{DType, Tensor};

    fn kinds(g: &Graph) -> Vec<String> {
        g.nodes.iter().map(|n| n.op.kind().to_string()).collect()
    }

    #[test]
    fn transposes_compose_and_cancel_and_reshapes_collapse() {
        // before: Transpose(0 2 1) → Transpose(0 2 1) → Relu → Transpose(1 0 2) → Transpose(0 2 1)
        //         → Reshape([6, 4]) → Reshape([4, -1]) (output)
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[2, 3, 4]);
        b.initializer("s1", Tensor::new(&[2], vec![6i64, 4]).unwrap());
        b.initializer("s2", Tensor::new(&[2], vec![4i64, -1]).unwrap());
        let perm = |p: Vec<i64>| [("perm", p.into())];
        b.node("Transpose", &["x"], &["a"], &perm(vec![0, 2, 1]));
        b.node("Transpose", &["a"], &["b"], &perm(vec![0, 2, 1]));
        b.node("Relu", &["b"], &["c"], &[]);
        b.node("Transpose", &["c"], &["d"], &perm(vec![1, 0, 2]));
        b.node("Transpose", &["d"], &["e"], &perm(vec![0, 2, 1]));
        b.node("Reshape", &["e", "s1"], &["f"], &[]);
        b.node("Reshape", &["f", "s2"], &["out"], &[]);
        b.output("out", DType::F32, &[4, 6]);
        let bytes = b.to_bytes();
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        assert!(LayoutChains.run(&mut g).unwrap());
        assert_eq!(kinds(&g), ["Unary", "Transpose", "Reshape"]);
        assert_eq!(g.value(g.nodes[0].inputs[0].unwrap()).name, "x");
        let Op::Transpose(t) = &g.nodes[1].op else { panic!() };
        assert_eq!(t.perm, Some(vec![1, 2, 0]), "d[k] = c[p1[p2[k]]]");
        assert_eq!(g.value(g.nodes[2].inputs[0].unwrap()).name, "e");
        let x = Tensor::new(&[2, 3, 4], (0..24).map(|i| i as f32 - 11.5).collect::<Vec<f32>>()).unwrap();
        let run = |opt: bool| {
            let s = crate::Session::builder().backend(crate::Backend::Cpu).optimize(opt).from_bytes(&bytes).unwrap();
            s.run(&[("x", x.clone())]).unwrap().into_vec().remove(0).1.to_f64_vec().unwrap()
        };
        assert_eq!(run(false), run(true));
    }

    #[test]
    fn unit_reshapes_move_before_transposes_and_k_transposed_becomes_one_operand_permutation() {
        // Torch's Kᵀ: k [1,5,2,3] → Transpose(0 2 1 3) → Reshape([2,5,3]) → Transpose(0 2 1)
        // → Reshape([1,2,3,5]), read by MatMul(q, ·) with q [1,2,4,3]; after the default
        // passes: one FusedMatMul reading a Reshape of k through a permutation.
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[1, 5, 2, 3]);
        b.initializer("q", crate::opt::testutil::ramp(&[1, 2, 4, 3], 0.3));
        b.initializer("s1", Tensor::new(&[3], vec![2i64, 5, 3]).unwrap());
        b.initializer("s2", Tensor::new(&[4], vec![1i64, 2, 3, 5]).unwrap());
        let perm = |p: Vec<i64>| [("perm", p.into())];
        b.node("Transpose", &["x"], &["a"], &perm(vec![0, 2, 1, 3]));
        b.node("Reshape", &["a", "s1"], &["b"], &[]);
        b.node("Transpose", &["b"], &["c"], &perm(vec![0, 2, 1]));
        b.node("Reshape", &["c", "s2"], &["kt"], &[]);
        b.node("MatMul", &["q", "kt"], &["out"], &[]);
        b.output("out", DType::F32, &[1, 2, 4, 5]);
        let bytes = b.to_bytes();
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        crate::opt::optimize(&mut g, &crate::opt::default_passes()).unwrap();
        assert_eq!(kinds(&g), ["Reshape", "FusedMatMul"]);
        let Op::FusedMatMul(f) = &g.nodes[1].op else { panic!() };
        // Reshape'(x) is [5, 2, 3, 1]; Kᵀ[0, h, d, s] = x[0, s, h, d].
        assert_eq!(f.perm_b.as_deref(), Some(&[3, 1, 2, 0][..]));
        crate::opt::testutil::same_outputs(&bytes, crate::opt::testutil::ramp(&[1, 5, 2, 3], 0.7), 1e-6);
    }
}
