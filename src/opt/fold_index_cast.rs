//! Index-cast folding: an int64 → int32 `Cast` whose only readers are the index inputs of
//! com.microsoft EmbedLayerNormalization (input_ids, segment_ids, mask, position_ids) is
//! removed, and the node reads the int64 tensor directly. ORT's transformer exports cast each
//! int64 model input to the int32 the contrib op requires; the op here accepts int64 indices
//! and reads them as that Cast would (the low 32 bits, wrapping: `EmbedLayerNorm`'s docs), so
//! the outputs are bit-identical and three dispatches go (bert_tiny-ort_fused: 22 → 19).

use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Op};
use crate::tensor::DType;

/// EmbedLayerNormalization's index inputs.
const INDEX_INPUTS: [usize; 4] = [0, 1, 7, 8];

pub struct FoldIndexCast;

impl Pass for FoldIndexCast {
    fn name(&self) -> &'static str {
        "fold-index-cast"
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let cons = g.consumers();
        let mut rewires = Vec::new();
        for (j, n) in g.nodes.iter().enumerate() {
            if !matches!(n.op, Op::EmbedLayerNorm(_)) {
                continue;
            }
            for slot in INDEX_INPUTS {
                let Some(&Some(v)) = n.inputs.get(slot) else { continue };
                let Some(p) = g.value(v).producer.filter(|p| p.list == 0) else { continue };
                let cast = g.node(p);
                let Op::Cast(c) = &cast.op else { continue };
                let Some(&Some(src)) = cast.inputs.first() else { continue };
                let src_is_i64 = g.value(src).ty.as_ref().is_some_and(|t| t.dtype == DType::I64);
                // Every reader of the cast must be an index input of an EmbedLayerNormalization
                // (the Cast then dies), and the cast must not be a graph output.
                let only_index_reads = cons[v.idx()].iter().all(|r| {
                    let rn = g.node(*r);
                    matches!(rn.op, Op::EmbedLayerNorm(_))
                        && rn.inputs.iter().enumerate().all(|(k, i)| *i != Some(v) || INDEX_INPUTS.contains(&k))
                });
                if c.to == DType::I32 && src_is_i64 && only_index_reads && !g.outputs.contains(&v) {
                    rewires.push((j, slot, src));
                }
            }
        }
        for &(j, slot, src) in &rewires {
            g.nodes[j].inputs[slot] = Some(src);
        }
        // The casts no one reads now are left to dead-code elimination.
        Ok(!rewires.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::builder::ModelBuilder;
    use crate::onnx::proto::OperatorSetIdProto;
    use crate::opt::testutil::ramp;
    use crate::tensor::Tensor;
    use crate::{Backend, Session};

    /// before: Cast(ids), Cast(segments), Cast(mask) → EmbedLayerNormalization; the mask's cast
    /// also feeds `mask_i32` as a graph output when `mask_escapes`.
    fn model(mask_escapes: bool) -> Vec<u8> {
        let mut b = ModelBuilder::new(17);
        b.model.opset_import.push(OperatorSetIdProto { domain: Some("com.microsoft".into()), version: Some(1) });
        for x in ["ids", "seg", "mask"] {
            b.input(x, DType::I64, &[2, 5]);
            b.node("Cast", &[x], &[&format!("{x}_i32")], &[("to", 6i64.into())]);
        }
        b.initializer("word", ramp(&[11, 8], 0.3));
        b.initializer("pos", ramp(&[5, 8], 0.2));
        b.initializer("segtab", ramp(&[2, 8], 0.1));
        b.initializer("gamma", ramp(&[8], 0.5));
        b.initializer("beta", ramp(&[8], 0.05));
        b.node_in(
            "com.microsoft",
            "EmbedLayerNormalization",
            &["ids_i32", "seg_i32", "word", "pos", "segtab", "gamma", "beta", "mask_i32"],
            &["y", "mask_index"],
            &[],
        );
        b.output("y", DType::F32, &[2, 5, 8]);
        b.output("mask_index", DType::I32, &[2]);
        if mask_escapes {
            b.output("mask_i32", DType::I32, &[2, 5]);
        }
        b.to_bytes()
    }

    fn ids(v: &[i64]) -> Tensor {
        Tensor::new(&[2, 5], v.to_vec()).unwrap()
    }

    #[test]
    fn casts_feeding_embed_layer_norm_fold() {
        let bytes = model(false);
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        assert!(FoldIndexCast.run(&mut g).unwrap());
        crate::opt::dead_code::DeadCode.run(&mut g).unwrap();
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["EmbedLayerNorm"]);
        let names: Vec<&str> = g.nodes[0].inputs.iter().flatten().map(|v| g.value(*v).name.as_str()).collect();
        assert_eq!(names, ["ids", "seg", "word", "pos", "segtab", "gamma", "beta", "mask"]);
        // Same outputs, bit for bit, with and without the pass, including an id whose high
        // word the Cast drops (2^32 + 3 reads as 3) and a mask entry 2^32 + 1 (counts as 1).
        let feeds = [
            ("ids", ids(&[1, 2, 3, 10, 0, (1 << 32) + 3, 4, 5, 6, 7])),
            ("seg", ids(&[0, 1, 0, 1, 1, 0, 0, 1, 1, 1])),
            ("mask", ids(&[1, 1, 1, 0, 0, 1, (1 << 32) + 1, 1, 1, 2])),
        ];
        let run = |opt: bool| {
            let s = Session::builder().backend(Backend::Cpu).optimize(opt).from_bytes(&bytes).unwrap();
            s.run(&feeds).unwrap().into_vec()
        };
        let (a, b) = (run(false), run(true));
        for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
            assert_eq!(na, nb);
            assert_eq!(ta.to_f64_vec().unwrap(), tb.to_f64_vec().unwrap(), "{na}");
        }
        assert_eq!(b[1].1.to_f64_vec().unwrap(), [3.0, 4.0]);
    }

    #[test]
    fn a_cast_that_is_also_a_graph_output_stays() {
        let bytes = model(true);
        let mut g = crate::onnx::load_model(&bytes, None, &Default::default()).unwrap();
        assert!(FoldIndexCast.run(&mut g).unwrap());
        crate::opt::dead_code::DeadCode.run(&mut g).unwrap();
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["Cast", "EmbedLayerNorm"]);
    }
}
