//! Graph optimization: a [`Pass`] trait and the driver that runs the default pipeline. One
//! pass per file; each states what it rewrites and is tested on a before/after graph.

pub mod dead_code;
pub mod fold;
pub mod fold_batchnorm;
pub mod fold_index_cast;
pub mod fold_scale;
pub mod fuse_epilogue;
// --- passes (cpu) ---
pub mod fuse_matmul_integer;
pub mod fuse_qdq;
// --- end passes (cpu) ---
pub mod noop;
pub mod sequences;
// --- passes (attn) ---
pub mod to_fp16;
// --- end passes (attn) ---
// --- passes (opt) ---
pub mod fold_transpose;
pub mod fuse_elementwise;
pub mod fuse_matmul;
pub mod layout_chains;
pub mod recognize;
#[cfg(test)]
pub(crate) mod testutil;
// --- end passes (opt) ---
// --- passes (io) ---
pub mod fuse_bias_gelu;
// --- end passes (io) ---

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
        Box::new(fuse_matmul_integer::FuseMatMulInteger),
        // --- end passes (cpu) ---
        Box::new(fold::ConstantFold),
        Box::new(sequences::ResolveSequences),
        Box::new(noop::NoOp),
        Box::new(fold_batchnorm::FoldBatchNorm),
        Box::new(fuse_epilogue::FuseEpilogue),
        // --- passes (opt) ---
        Box::new(recognize::Recognize),
        Box::new(fuse_matmul::FuseMatMul),
        Box::new(fold_scale::FoldScale),
        Box::new(fold_transpose::FoldTranspose),
        Box::new(fuse_elementwise::FuseElementwise),
        Box::new(layout_chains::LayoutChains),
        // --- end passes (opt) ---
        // --- passes (io) ---
        Box::new(fuse_bias_gelu::FuseBiasGelu),
        // --- end passes (io) ---
        Box::new(fold_index_cast::FoldIndexCast),
        Box::new(dead_code::DeadCode),
    ]
}

// --- passes (attn) ---
/// The passes `SessionBuilder::precision(Precision::F16)` adds after the default pipeline.
pub fn fp16_passes() -> Vec<Box<dyn Pass>> {
    vec![Box::new(to_fp16::ToFp16), Box::new(dead_code::DeadCode)]
}
// --- end passes (attn) ---

/// Applies the rewrites `find` returns with `apply` until it finds none, bounded by the node
/// count (each rewrite must remove at least one node); returns whether anything changed.
pub(crate) fn rewrite_all<R>(g: &mut Graph, find: impl Fn(&Graph) -> Option<R>, apply: impl Fn(&mut Graph, R)) -> bool {
    let mut changed = false;
    for _ in 0..=g.nodes.len() {
        let Some(rw) = find(g) else { break };
        apply(g, rw);
        changed = true;
    }
    changed
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
