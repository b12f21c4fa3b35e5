//! Graph optimization: a [`Pass`] trait and the driver that runs the default pipeline. One
//! pass per file; each states what it rewrites and is tested on a before/after graph.

pub mod dead_code;
pub mod fold;
pub mod fold_batchnorm;
pub mod fuse_epilogue;
// --- passes (cpu) ---
pub mod fuse_qdq;
// --- end passes (cpu) ---
pub mod noop;
pub mod sequences;

use crate::error::Result;
use crate::ir::Graph;

/// A graph-to-graph rewrite.
pub trait Pass {
    fn name(&self) -> &'static str;
    /// Rewrites `g` in place; returns whether anything changed.
    fn run(&self, g: &mut Graph) -> Result<bool>;
}

/// The default pipeline, run at session creation.
pub fn default_passes() -> Vec<Box<dyn Pass>> {
    vec![
        // --- passes (cpu) ---
        // QDQ groups fuse before constant folding turns DQ(constant weight) into a float.
        Box::new(fuse_qdq::FuseQdq),
        // --- end passes (cpu) ---
        Box::new(fold::ConstantFold),
        Box::new(sequences::ResolveSequences),
        Box::new(noop::NoOp),
        Box::new(fold_batchnorm::FoldBatchNorm),
        Box::new(fuse_epilogue::FuseEpilogue),
        Box::new(dead_code::DeadCode),
    ]
}

/// Runs the passes until none changes the graph (bounded).
pub fn optimize(g: &mut Graph, passes: &[Box<dyn Pass>]) -> Result<()> {
    for _ in 0..4 {
        let mut changed = false;
        for p in passes {
            changed |= p.run(g)?;
        }
        if !changed {
            break;
        }
    }
    Ok(())
}
