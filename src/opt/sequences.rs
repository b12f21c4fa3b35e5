//! Sequence resolution: sequences whose structure is known when the model loads are replaced
//! by their element tensors, so the ops around them run as ordinary tensor ops (on the GPU,
//! with no host round trip). A sequence is known when it is built by SequenceEmpty /
//! SequenceConstruct, by SequenceInsert / SequenceErase of a known sequence at constant
//! positions, or by SplitToSequence of a statically shaped tensor with a constant split. Then
//! SequenceAt at a constant position becomes an Identity of the element, SequenceLength a
//! constant, ConcatFromSequence a Concat (after Unsqueezes for `new_axis`), and
//! SplitToSequence a Split (plus Squeezes without keepdims). Sequence nodes left unread are
//! removed by the dead-code pass; anything not resolvable stays as it was (host-run).

use super::Pass;
use crate::error::Result;
use crate::ir::{Graph, Node, Op, Value, ValueId, ValueType};
use crate::ops::layout::{Concat, Identity, Split, Squeeze, Unsqueeze};
use crate::tensor::shape::norm_axis;
use crate::tensor::{Dim, Kind, Tensor};
use std::collections::HashMap;

pub struct ResolveSequences;

/// A constant integer scalar input, if the slot holds one.
fn const_int(g: &Graph, slot: Option<&Option<ValueId>>) -> Option<Option<i64>> {
    match slot.copied().flatten() {
        None => Some(None),
        Some(v) => g.value(v).konst.as_ref()?.to_i64_vec().ok()?.first().copied().map(Some),
    }
}

fn position(p: i64, len: usize, inclusive_end: bool) -> Option<usize> {
    let n = len as i64 + inclusive_end as i64;
    let q = if p < 0 { p + len as i64 } else { p };
    (0..n).contains(&q).then_some(q as usize)
}

fn new_value(g: &mut Graph, name: String, ty: Option<ValueType>) -> ValueId {
    g.values.push(Value { name, ty, konst: None, producer: None, kind: Kind::Tensor });
    ValueId((g.values.len() - 1) as u32)
}

fn node(template: &Node, suffix: &str, op_type: &str, op: Op, inputs: Vec<ValueId>, outputs: Vec<ValueId>) -> Node {
    Node {
        name: format!("{}/{suffix}", template.name),
        op_type: op_type.into(),
        domain: String::new(),
        opset: template.opset,
        op,
        inputs: inputs.into_iter().map(Some).collect(),
        outputs: outputs.into_iter().map(Some).collect(),
        captures: vec![],
    }
}

impl Pass for ResolveSequences {
    fn name(&self) -> &'static str {
        "resolve-sequences"
    }

    fn run(&self, g: &mut Graph) -> Result<bool> {
        let mut known: HashMap<ValueId, Vec<ValueId>> = HashMap::new();
        // Sequences whose length alone is known (e.g. a split given at run time with a
        // static number of parts).
        let mut lengths: HashMap<ValueId, usize> = HashMap::new();
        let mut out_nodes: Vec<Node> = Vec::with_capacity(g.nodes.len());
        let mut changed = false;
        let nodes = std::mem::take(&mut g.nodes);
        for n in nodes {
            let out = n.outputs.first().copied().flatten();
            let seq_in = n.inputs.first().copied().flatten().and_then(|v| known.get(&v).cloned());
            match &n.op {
                Op::SequenceEmpty(_) => {
                    if let Some(o) = out {
                        known.insert(o, vec![]);
                    }
                }
                Op::SequenceConstruct(_) => {
                    if let (Some(o), Some(items)) = (out, n.inputs.iter().copied().collect::<Option<Vec<_>>>()) {
                        known.insert(o, items);
                    }
                }
                Op::SequenceInsert(_) => {
                    if let (Some(o), Some(mut items), Some(t), Some(p)) =
                        (out, seq_in, n.inputs.get(1).copied().flatten(), const_int(g, n.inputs.get(2)))
                    {
                        let at = match p {
                            None => Some(items.len()),
                            Some(p) => position(p, items.len(), true),
                        };
                        if let Some(at) = at {
                            items.insert(at, t);
                            known.insert(o, items);
                        }
                    }
                }
                Op::SequenceErase(_) => {
                    if let (Some(o), Some(mut items), Some(p)) = (out, seq_in, const_int(g, n.inputs.get(1))) {
                        let at = match p {
                            None => items.len().checked_sub(1),
                            Some(p) => position(p, items.len(), false),
                        };
                        if let Some(at) = at {
                            items.remove(at);
                            known.insert(o, items);
                        }
                    }
                }
                Op::SequenceAt(_) => {
                    if let (Some(o), Some(items), Some(Some(p))) = (out, seq_in, const_int(g, n.inputs.get(1))) {
                        if let Some(at) = position(p, items.len(), false) {
                            out_nodes.push(node(
                                &n,
                                "at",
                                "Identity",
                                Op::Identity(Identity),
                                vec![items[at]],
                                vec![o],
                            ));
                            changed = true;
                            continue;
                        }
                    }
                }
                Op::SequenceLength(_) => {
                    let len = seq_in
                        .map(|s| s.len())
                        .or_else(|| n.inputs.first().copied().flatten().and_then(|v| lengths.get(&v).copied()));
                    if let (Some(o), Some(len)) = (out, len) {
                        let t = Tensor::scalar(len as i64);
                        let val = &mut g.values[o.idx()];
                        val.ty = Some(ValueType { dtype: t.dtype(), dims: vec![] });
                        val.konst = Some(t);
                        changed = true;
                        continue;
                    }
                }
                Op::ConcatFromSequence(c) => {
                    if let (Some(o), Some(items)) = (out, seq_in) {
                        if !items.is_empty() {
                            let mut parts = items.clone();
                            if c.new_axis {
                                for (k, item) in items.iter().enumerate() {
                                    let ty = g.value(*item).ty.clone().and_then(|t| {
                                        let mut dims = t.dims;
                                        let at = norm_axis(c.axis, dims.len() + 1).ok()?;
                                        dims.insert(at, Dim::Known(1));
                                        Some(ValueType { dtype: t.dtype, dims })
                                    });
                                    let u = new_value(g, format!("{}/unsqueezed{k}", g.value(o).name), ty);
                                    let op = Op::Unsqueeze(Unsqueeze { axes: Some(vec![c.axis]), axes_input: false });
                                    out_nodes.push(node(
                                        &n,
                                        &format!("unsqueeze{k}"),
                                        "Unsqueeze",
                                        op,
                                        vec![*item],
                                        vec![u],
                                    ));
                                    parts[k] = u;
                                }
                            }
                            let op = Op::Concat(Concat { axis: c.axis });
                            out_nodes.push(node(&n, "concat", "Concat", op, parts, vec![o]));
                            changed = true;
                            continue;
                        }
                    }
                }
                Op::SplitToSequence(s) => {
                    if let Some((o, items, split)) = self.split(g, &n, s.axis, s.keepdims, out) {
                        // An earlier run may have added the Split already (the node stays while
                        // something unresolvable still reads the sequence).
                        changed |= !split.is_empty();
                        out_nodes.extend(split);
                        known.insert(o, items);
                    } else if let (Some(o), Some(s)) = (out, n.inputs.get(1).copied().flatten()) {
                        if let Some([Dim::Known(k)]) = g.value(s).ty.as_ref().map(|t| t.dims.as_slice()) {
                            lengths.insert(o, *k);
                        }
                    }
                }
                _ => {}
            }
            out_nodes.push(n);
        }
        g.nodes = out_nodes;
        g.relink();
        Ok(changed)
    }
}

impl ResolveSequences {
    /// The Split (and Squeezes) producing a SplitToSequence's elements, when X's length along
    /// the axis and the split are known.
    fn split(
        &self,
        g: &mut Graph,
        n: &Node,
        axis: i64,
        keepdims: bool,
        out: Option<ValueId>,
    ) -> Option<(ValueId, Vec<ValueId>, Vec<Node>)> {
        let o = out?;
        let x = n.inputs.first().copied().flatten()?;
        let ty = g.value(x).ty.clone()?;
        let a = norm_axis(axis, ty.dims.len()).ok()?;
        let Dim::Known(len) = ty.dims[a] else { return None };
        let split = match n.inputs.get(1).copied().flatten() {
            None => None,
            Some(v) => Some(g.value(v).konst.as_ref()?.clone()),
        };
        let (sizes, squeeze): (Vec<usize>, bool) = match &split {
            None => (vec![1; len], !keepdims),
            Some(t) if t.rank() == 0 => {
                let k = usize::try_from(t.to_i64_vec().ok()?[0]).ok().filter(|&k| k > 0)?;
                ((0..len).step_by(k).map(|s| k.min(len - s)).collect(), false)
            }
            Some(t) => {
                let v = t.to_i64_vec().ok()?;
                let s: Vec<usize> = v.iter().map(|&x| usize::try_from(x).ok()).collect::<Option<_>>()?;
                (s.iter().sum::<usize>() == len).then_some((s, false))?
            }
        };
        if sizes.is_empty() {
            return None;
        }
        let base = g.value(o).name.clone();
        let named = |g: &Graph, name: String| g.values.iter().position(|v| v.name == name).map(|i| ValueId(i as u32));
        if named(g, format!("{base}/part0")).is_some() {
            let prefix = if squeeze { "item" } else { "part" };
            let parts =
                (0..sizes.len()).map(|k| named(g, format!("{base}/{prefix}{k}"))).collect::<Option<Vec<_>>>()?;
            return Some((o, parts, vec![]));
        }
        let mut nodes = Vec::new();
        let mut parts = Vec::new();
        for (k, &s) in sizes.iter().enumerate() {
            let mut dims = ty.dims.clone();
            dims[a] = Dim::Known(s);
            parts.push(new_value(g, format!("{base}/part{k}"), Some(ValueType { dtype: ty.dtype, dims })));
        }
        let split_attr = Some(sizes.iter().map(|&s| s as i64).collect());
        let op = Op::Split(Split { axis: a as i64, split_attr, split_input: false });
        nodes.push(node(n, "split", "Split", op, vec![x], parts.clone()));
        if squeeze {
            for (k, p) in parts.iter_mut().enumerate() {
                let mut dims = ty.dims.clone();
                dims.remove(a);
                let q = new_value(g, format!("{base}/item{k}"), Some(ValueType { dtype: ty.dtype, dims }));
                let op = Op::Squeeze(Squeeze { axes: Some(vec![a as i64]), axes_input: false });
                nodes.push(node(n, &format!("squeeze{k}"), "Squeeze", op, vec![*p], vec![q]));
                *p = q;
            }
        }
        Some((o, parts, nodes))
    }
}

#[cfg(test)]
mod tests {
    use crate::onnx::builder::{Attr, ModelBuilder};
    use crate::tensor::{DType, Tensor};

    fn kinds(model: &[u8]) -> Vec<String> {
        let mut g = crate::onnx::load_model(model, None, &Default::default()).unwrap();
        crate::opt::optimize(&mut g, &crate::opt::default_passes()).unwrap();
        g.nodes.iter().map(|n| n.op.kind().to_string()).collect()
    }

    #[test]
    fn constant_positions_resolve_to_tensor_ops() {
        // Construct → Erase(0) → Insert(x, 1) → At(-1): the element is y... then z.
        let mut b = ModelBuilder::new(13);
        for v in ["x", "y", "z"] {
            b.input(v, DType::F32, &[2]);
        }
        b.initializer("p0", Tensor::scalar(0i64)).initializer("p1", Tensor::scalar(1i64));
        b.initializer("last", Tensor::scalar(-1i64));
        b.node("SequenceConstruct", &["x", "y", "z"], &["s1"], &[]);
        b.node("SequenceErase", &["s1", "p0"], &["s2"], &[]);
        b.node("SequenceInsert", &["s2", "x", "p1"], &["s3"], &[]);
        b.node("SequenceAt", &["s3", "last"], &["out"], &[]);
        b.node("SequenceLength", &["s3"], &["len"], &[]);
        b.output("out", DType::F32, &[2]);
        b.output("len", DType::I64, &[]);
        let model = b.to_bytes();
        assert_eq!(kinds(&model), vec!["Identity"]);
        let s = crate::Session::builder().backend(crate::Backend::Cpu).from_bytes(&model).unwrap();
        let t = |v: f32| Tensor::new(&[2], vec![v, v]).unwrap();
        let r = s.run(&[("x", t(1.0)), ("y", t(2.0)), ("z", t(3.0))]).unwrap();
        assert_eq!(r[0].as_slice::<f32>().unwrap(), &[3.0, 3.0]);
        assert_eq!(r[1].to_i64_vec().unwrap(), vec![3]);
    }

    #[test]
    fn split_to_sequence_and_concat_become_split_and_concat() {
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[3, 2]);
        b.node("SplitToSequence", &["x"], &["s"], &[("keepdims", Attr::Int(0))]);
        b.node("ConcatFromSequence", &["s"], &["y"], &[("axis", Attr::Int(1)), ("new_axis", Attr::Int(1))]);
        b.output("y", DType::F32, &[2, 3]);
        let model = b.to_bytes();
        let k = kinds(&model);
        assert!(k.iter().all(|k| ["Split", "Squeeze", "Unsqueeze", "Concat"].contains(&k.as_str())), "{k:?}");
        let s = crate::Session::builder().backend(crate::Backend::Cpu).from_bytes(&model).unwrap();
        let x = Tensor::new(&[3, 2], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let r = s.run(&[("x", x)]).unwrap();
        assert_eq!(r[0].shape(), &[2, 3]);
        assert_eq!(r[0].as_slice::<f32>().unwrap(), &[1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
    }

    #[test]
    fn runtime_positions_are_left_alone() {
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[2]);
        b.input("p", DType::I64, &[]);
        b.node("SequenceConstruct", &["x", "x"], &["s"], &[]);
        b.node("SequenceAt", &["s", "p"], &["y"], &[]);
        b.output("y", DType::F32, &[2]);
        assert_eq!(kinds(&b.to_bytes()), vec!["SequenceConstruct", "SequenceAt"]);
    }
}
