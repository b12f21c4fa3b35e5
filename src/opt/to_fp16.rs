//! fp32 → fp16 conversion (`SessionBuilder::precision(Precision::F16)`; not in the default
//! pipeline): runs a float32 model in float16 while its callers keep seeing float32.
//!
//! Every main-graph node that may run in f16 reads f16 values and its f32 outputs become f16:
//! f32 initializers it reads are converted once at load (a separate f16 copy where a kept-f32
//! node reads the same constant), and Casts are inserted where an f32 value (a graph input, the
//! output of a kept node) enters the f16 region and where an f16 value leaves it (a kept node's
//! input, a graph output, which keeps its name and f32 type). Kept in f32, with Casts around:
//! - onnxconverter-common's float16 block list (ML-domain ops, Resize/Upsample, Range, CumSum,
//!   Min/Max, TopK, NonMaxSuppression, RoiAlign, RandomUniformLike);
//! - ops whose output type comes from an attribute or whose float inputs are not data (Cast,
//!   ConstantOfShape, EyeLike, the random generators, quantize/dequantize and the QLinear/
//!   integer-matmul contrib ops), control flow and sequence ops, and any node whose types are not
//!   known at load time, and ops whose type rule does not map f16 inputs to f16 outputs;
//! - com.microsoft ops other than the layer norms, GELUs and BiasAdd (see `CONTRIB_F16`);
//! - ops that overflow easily in f16 (ReduceSumSquare, ReduceL2, ReduceLogSumExp, LpNormalization);
//! - any node reading an f32 constant with a finite value beyond f16's range (|x| > 65504,
//!   e.g. the -3.4e38 fill of attention masks).
//!
//! Reductions, Softmax and the normalizations of the GPU backend accumulate in f32 internally
//! whatever their storage type (the CPU reference computes in f64). A model with subgraphs
//! (If/Loop/Scan bodies read outer values directly) is left unchanged.

use super::Pass;
use crate::error::{Error, Result};
use crate::ir::{Graph, Node, Op, ValueId, ValueType};
use crate::ops::convert::Cast;
use crate::tensor::{DType, Kind, Tensor};
use std::collections::HashMap;

/// Op types never converted (see the module doc).
const KEEP_F32: &[&str] = &[
    // onnxconverter-common's DEFAULT_OP_BLOCK_LIST (ai.onnx part; the ML domain is kept whole).
    "Resize",
    "Upsample",
    "Range",
    "CumSum",
    "Min",
    "Max",
    "TopK",
    "NonMaxSuppression",
    "RoiAlign",
    "RandomUniformLike",
    // Output types from attributes, non-data float inputs.
    "Cast",
    "CastLike",
    "ConstantOfShape",
    "EyeLike",
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "Multinomial",
    "Bernoulli",
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeLinear",
    // Overflow-prone.
    "ReduceSumSquare",
    "ReduceL2",
    "ReduceLogSumExp",
    "LpNormalization",
];

/// com.microsoft ops run in f16. The rest of that domain stays f32: the quantized ops, and
/// Attention, MultiHeadAttention, GroupQueryAttention and RotaryEmbedding, whose GPU kernels are
/// f32-only (converting them would put them on the CPU; ORT runs them in f16).
const CONTRIB_F16: &[&str] = &[
    "SkipLayerNormalization",
    "SkipSimplifiedLayerNormalization",
    "SimplifiedLayerNormalization",
    "EmbedLayerNormalization",
    "BiasGelu",
    "FastGelu",
    "Gelu",
    "QuickGelu",
    "BiasAdd",
];

/// The largest finite f16.
const F16_MAX: f64 = 65504.0;

pub struct ToFp16;

fn dtype_of(g: &Graph, v: ValueId) -> Option<DType> {
    g.value(v).ty.as_ref().map(|t| t.dtype)
}

/// Whether `node` may run in f16.
fn convertible(g: &Graph, node: &Node) -> bool {
    let op_ok = match node.domain.as_str() {
        "" | "ai.onnx" => !KEEP_F32.contains(&node.op_type.as_str()),
        "com.microsoft" => CONTRIB_F16.contains(&node.op_type.as_str()),
        _ => false,
    };
    if !op_ok || crate::ops::control::is_control(&node.op) || !node.captures.is_empty() {
        return false;
    }
    let values = || node.inputs.iter().chain(&node.outputs).flatten();
    if values().any(|&v| g.value(v).kind != Kind::Tensor || g.value(v).ty.is_none()) {
        return false;
    }
    if !values().any(|&v| dtype_of(g, v) == Some(DType::F32)) {
        return false;
    }
    // An f32 constant that f16 cannot hold keeps its reader in f32.
    let overflow = node.inputs.iter().flatten().any(|&v| match &g.value(v).konst {
        Some(t) if t.dtype() == DType::F32 => {
            t.to_f64_vec().map(|d| d.iter().any(|x| x.is_finite() && x.abs() > F16_MAX)).unwrap_or(true)
        }
        _ => false,
    });
    !overflow && f16_in_f16_out(g, node)
}

/// Whether the op's type rule, given f16 for every f32 input, accepts them and yields f16 for
/// every f32 output (not so, e.g., for LayerNormalization's f32 statistics outputs).
fn f16_in_f16_out(g: &Graph, node: &Node) -> bool {
    let half = |v: ValueId| {
        g.value(v).ty.clone().map(|t| if t.dtype == DType::F32 { ValueType { dtype: DType::F16, ..t } } else { t })
    };
    let konst = |v: ValueId| g.value(v).konst.as_ref().filter(|t| t.dtype() != DType::F32);
    let Ok(cx) = crate::ir::infer::node_cx(node, g, half, konst) else { return false };
    let Ok(out) = node.op.spec().infer(&cx) else { return false };
    node.outputs.iter().enumerate().all(|(k, slot)| match slot {
        Some(v) if dtype_of(g, *v) == Some(DType::F32) => out.get(k).is_some_and(|t| t.dtype == DType::F16),
        _ => true,
    })
}

/// A Cast node `from → to` (named after the value it converts).
fn cast_node(g: &Graph, from: ValueId, to: ValueId, dtype: DType) -> Node {
    Node {
        name: format!("{}/to_fp16_cast", g.value(to).name),
        op_type: "Cast".into(),
        domain: String::new(),
        opset: g.opsets.get("").copied().unwrap_or(13).max(13),
        op: Op::Cast(Cast { to: dtype, mode: Default::default() }),
        inputs: vec![Some(from)],
        outputs: vec![Some(to)],
        captures: vec![],
    }
}

/// A new value like `v` but of `dtype` (and constant `konst`).
fn twin(g: &mut Graph, v: ValueId, suffix: &str, dtype: DType, konst: Option<Tensor>) -> ValueId {
    let val = g.value(v);
    let name = format!("{}{suffix}", val.name);
    let ty = val.ty.as_ref().map(|t| ValueType { dtype, dims: t.dims.clone() });
    g.add_value(&name, ty, konst)
}

impl Pass for ToFp16 {
    fn name(&self) -> &'static str {
        "to-fp16"
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        if !g.subgraphs.is_empty() {
            return Ok(false);
        }
        let conv: Vec<bool> = g.nodes.iter().map(|n| convertible(g, n)).collect();
        if !conv.iter().any(|&c| c) {
            return Ok(false);
        }
        let is_out: Vec<bool> = {
            let mut o = vec![false; g.values.len()];
            for v in &g.outputs {
                o[v.idx()] = true;
            }
            o
        };
        let f32_at_start: Vec<bool> =
            (0..g.values.len()).map(|i| dtype_of(g, ValueId(i as u32)) == Some(DType::F32)).collect();
        // f16 form of an f32 value, and f32 form of a value that became f16.
        let mut as_f16: HashMap<ValueId, ValueId> = HashMap::new();
        let mut as_f32: HashMap<ValueId, ValueId> = HashMap::new();
        // Values produced by converted nodes that now hold f16 in place.
        let mut now_f16 = vec![false; g.values.len()];
        let old_nodes = std::mem::take(&mut g.nodes);
        let mut nodes = Vec::with_capacity(old_nodes.len() + 8);
        for (mut node, c) in old_nodes.into_iter().zip(conv) {
            let mut after = Vec::new();
            if c {
                for slot in node.inputs.iter_mut() {
                    let Some(v) = *slot else { continue };
                    if !f32_at_start[v.idx()] || now_f16[v.idx()] {
                        continue;
                    }
                    let h = match as_f16.get(&v) {
                        Some(&h) => h,
                        None => {
                            let h = match g.value(v).konst.as_ref().filter(|t| t.dtype() == DType::F32) {
                                Some(t) => {
                                    let half = t
                                        .to_f64_vec()
                                        .and_then(|d| Tensor::from_f64(DType::F16, t.shape(), &d))
                                        .map_err(|reason| Error::Tensor { tensor: g.value(v).name.clone(), reason })?;
                                    twin(g, v, ".fp16", DType::F16, Some(half))
                                }
                                None => {
                                    let h = twin(g, v, ".fp16", DType::F16, None);
                                    nodes.push(cast_node(g, v, h, DType::F16));
                                    h
                                }
                            };
                            as_f16.insert(v, h);
                            h
                        }
                    };
                    *slot = Some(h);
                }
                for slot in node.outputs.iter_mut() {
                    let Some(v) = *slot else { continue };
                    if !f32_at_start[v.idx()] {
                        continue;
                    }
                    if is_out[v.idx()] {
                        // The graph output keeps its name and type: an f16 twin, then a Cast.
                        let h = twin(g, v, ".fp16", DType::F16, None);
                        *slot = Some(h);
                        as_f16.insert(v, h);
                        after.push((h, v));
                    } else {
                        if let Some(t) = g.values[v.idx()].ty.as_mut() {
                            t.dtype = DType::F16;
                        }
                        now_f16[v.idx()] = true;
                    }
                }
            } else {
                for slot in node.inputs.iter_mut() {
                    let Some(v) = *slot else { continue };
                    if !now_f16[v.idx()] {
                        continue;
                    }
                    let f = match as_f32.get(&v) {
                        Some(&f) => f,
                        None => {
                            let f = twin(g, v, ".fp32", DType::F32, None);
                            nodes.push(cast_node(g, v, f, DType::F32));
                            as_f32.insert(v, f);
                            f
                        }
                    };
                    *slot = Some(f);
                }
            }
            nodes.push(node);
            for (h, v) in after {
                nodes.push(cast_node(g, h, v, DType::F32));
            }
        }
        g.nodes = nodes;
        // Drop the f32 data of constants that only converted nodes read.
        let mut read = vec![false; g.values.len()];
        for v in g.nodes.iter().flat_map(|n| n.reads()).chain(g.outputs.iter().copied()) {
            read[v.idx()] = true;
        }
        for &v in as_f16.keys() {
            if !read[v.idx()] && g.values[v.idx()].konst.is_some() {
                g.values[v.idx()].konst = None;
            }
        }
        g.relink();
        crate::ir::infer::infer_graph(g)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::builder::ModelBuilder;

    fn kinds(g: &Graph) -> Vec<String> {
        g.nodes
            .iter()
            .map(|n| match &n.op {
                Op::Cast(c) => format!("Cast({})", c.to),
                _ => n.op_type.clone(),
            })
            .collect()
    }

    #[test]
    fn converts_weights_and_casts_at_the_region_borders() {
        // MatMul → Relu feeding Sigmoid (f16), TopK (kept f32) and an Add of an f16-overflowing constant.
        let mut b = ModelBuilder::new(17);
        b.input("x", DType::F32, &[2, 4]);
        b.initializer("w", Tensor::new(&[4, 3], vec![0.5f32; 12]).unwrap());
        b.initializer("big", Tensor::new(&[3], vec![-3.0e38f32, 0.0, 1.0]).unwrap());
        b.initializer("k", Tensor::new(&[1], vec![2i64]).unwrap());
        b.node("MatMul", &["x", "w"], &["m"], &[]);
        b.node("Relu", &["m"], &["r"], &[]);
        b.node("Add", &["r", "big"], &["masked"], &[]);
        b.node("TopK", &["r", "k"], &["top", "idx"], &[]);
        b.node("Sigmoid", &["r"], &["y"], &[]);
        b.output("y", DType::F32, &[2, 3]);
        b.output("masked", DType::F32, &[2, 3]);
        b.output("top", DType::F32, &[2, 2]);
        let mut g = crate::onnx::load_model(&b.to_bytes(), None, &Default::default()).unwrap();
        let before = g.weight_bytes();
        assert!(ToFp16.run(&mut g).unwrap());
        assert_eq!(
            kinds(&g),
            ["Cast(float16)", "MatMul", "Relu", "Cast(float)", "Add", "TopK", "Sigmoid", "Cast(float)"]
        );
        let ty = |name: &str| {
            let v = g.values.iter().find(|v| v.name == name).unwrap();
            v.ty.as_ref().unwrap().dtype
        };
        assert_eq!(
            (ty("m"), ty("r"), ty("masked"), ty("top"), ty("y")),
            (DType::F16, DType::F16, DType::F32, DType::F32, DType::F32)
        );
        // The graph's inputs and outputs are unchanged; W is stored in f16, `big` stays f32.
        assert_eq!(g.value(g.inputs[0]).ty.as_ref().unwrap().dtype, DType::F32);
        assert!(g.outputs.iter().all(|&o| g.value(o).ty.as_ref().unwrap().dtype == DType::F32));
        assert_eq!(g.weight_bytes(), before - 12 * 2);
        assert_eq!(ty("w.fp16"), DType::F16);
        assert!(!ToFp16.run(&mut g).unwrap(), "a second run has nothing to convert");
    }

    #[test]
    fn keeps_ops_whose_type_rule_does_not_give_f16() {
        // LayerNormalization's Mean output is f32 (stash_type) whatever X is: the node stays f32.
        let mut b = ModelBuilder::new(17);
        b.input("x", DType::F32, &[2, 4]);
        b.initializer("g", Tensor::new(&[4], vec![1f32; 4]).unwrap());
        b.node("LayerNormalization", &["x", "g"], &["y", "mean"], &[]);
        b.node("Relu", &["y"], &["r"], &[]);
        b.output("r", DType::F32, &[2, 4]);
        b.output("mean", DType::F32, &[2, 1]);
        let mut g = crate::onnx::load_model(&b.to_bytes(), None, &Default::default()).unwrap();
        assert!(ToFp16.run(&mut g).unwrap());
        assert_eq!(kinds(&g), ["LayerNormalization", "Cast(float16)", "Relu", "Cast(float)"]);
    }
}
