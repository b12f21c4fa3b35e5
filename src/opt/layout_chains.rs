//! Layout-chain simplification:
//! - `Transpose(p2) ∘ Transpose(p1)` (the first read only by the second) becomes one
//!   `Transpose(q)`, `q[k] = p1[p2[k]]`, and disappears when `q` is the identity (its readers
//!   then read the original tensor; kept as an identity Transpose when it names a graph output);
//! - `Reshape ∘ Reshape` (the first read only by the second) becomes one Reshape of the
//!   original tensor, when the second's target shape is a constant without `0` entries (which
//!   would copy dims of the tensor in between).
//!
//! Transposes folded into a MatMul's operand strides need the matrix-product kernel's
//! transposed-B form for batched products (see the report of issue 6); not done here.

use super::fuse_epilogue::hidden_reads;
use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Op, ValueId};
use crate::ops::layout::Transpose;

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
            _ => {}
        }
    }
    false
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
}
