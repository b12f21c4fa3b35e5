//! Dead-code elimination: removes nodes none of whose outputs reaches a graph output.

use super::Pass;
use crate::error::Result;
use crate::ir::Graph;

pub struct DeadCode;

impl Pass for DeadCode {
    fn name(&self) -> &'static str {
        "dead-code"
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let mut needed = vec![false; g.values.len()];
        for o in &g.outputs {
            needed[o.idx()] = true;
        }
        let mut keep = vec![false; g.nodes.len()];
        for (i, n) in g.nodes.iter().enumerate().rev() {
            if n.outputs.iter().flatten().any(|v| needed[v.idx()]) {
                keep[i] = true;
                for v in n.reads() {
                    needed[v.idx()] = true;
                }
            }
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
    use super::*;
    use crate::onnx::builder::ModelBuilder;
    use crate::tensor::DType;

    #[test]
    fn removes_unused_branch() {
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[4]);
        b.node("Relu", &["x"], &["y"], &[]);
        b.node("Exp", &["x"], &["unused"], &[]);
        b.output("y", DType::F32, &[4]);
        let mut g = crate::onnx::load_model(&b.to_bytes(), None, &Default::default()).unwrap();
        assert_eq!(g.nodes.len(), 2);
        assert!(DeadCode.run(&mut g).unwrap());
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(g.nodes[0].op_type, "Relu");
    }
}
