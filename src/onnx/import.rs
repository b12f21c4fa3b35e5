//! `ModelProto` bytes → [`Graph`]: decodes the protobuf, resolves opset imports per domain,
//! turns initializers and `Constant` nodes into constant values, maps every node through the
//! op registry (reporting all unsupported ops at once), checks names (duplicates, values that
//! nothing produces), orders the nodes and infers types.

use super::attrs::{self, AttrValue, Attrs};
use super::proto::{type_proto, GraphProto, ModelProto, ValueInfoProto};
use super::tensor_proto::{to_tensor, ExternalBase};
use crate::error::{Error, Result, UnsupportedOp};
use crate::ir::{infer, topo, Graph, Node, ValueId, ValueType};
use crate::ops::{registry, NodeCtx};
use crate::tensor::{DType, Dim, Tensor};
use prost::Message;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Limits applied while loading untrusted files.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Largest element count accepted for one tensor (initializer, attribute, input).
    pub max_tensor_elements: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { max_tensor_elements: 1 << 32 }
    }
}

/// Decodes and imports a model. `dir` is the model's folder (for external data).
pub fn load_model(bytes: &[u8], dir: Option<&Path>, opts: &LoadOptions) -> Result<Graph> {
    let model = ModelProto::decode(bytes).map_err(|e| Error::Decode(e.to_string()))?;
    let graph = model.graph.as_ref().ok_or_else(|| Error::Decode("the model has no graph".into()))?;
    let mut opsets = BTreeMap::new();
    for o in &model.opset_import {
        let d = canonical_domain(o.domain());
        opsets.insert(d.to_string(), o.version());
    }
    if opsets.is_empty() {
        // IR version 1/2 models without opset_import mean ai.onnx opset 1.
        opsets.insert(String::new(), 1);
    }
    if let Some(&v) = opsets.get("") {
        if !(1..=registry::MAX_ONNX_OPSET).contains(&v) {
            return Err(Error::Model(format!(
                "the model imports ai.onnx opset {v}; this engine knows opsets 1 to {}",
                registry::MAX_ONNX_OPSET
            )));
        }
    }
    if !model.functions.is_empty() {
        let used: Vec<&str> = model.functions.iter().map(|f| f.name()).collect();
        let calls = graph.node.iter().any(|n| used.contains(&n.op_type()));
        if calls {
            return Err(Error::Unsupported(
                model
                    .functions
                    .iter()
                    .map(|f| UnsupportedOp {
                        domain: f.domain().to_string(),
                        op_type: format!("{} (model-local function)", f.name()),
                        opset: 1,
                        nodes: graph
                            .node
                            .iter()
                            .filter(|n| n.op_type() == f.name())
                            .map(|n| n.name().to_string())
                            .collect(),
                    })
                    .filter(|u| !u.nodes.is_empty())
                    .collect(),
            ));
        }
    }
    let base = ExternalBase { dir };
    let mut g = import_graph(graph, &opsets, &base, opts)?;
    g.opsets = opsets;
    Ok(g)
}

fn canonical_domain(d: &str) -> &str {
    if d == "ai.onnx" {
        ""
    } else {
        d
    }
}

/// The declared type of a graph input/output.
pub fn value_info_type(vi: &ValueInfoProto) -> Result<Option<ValueType>> {
    let Some(tp) = &vi.r#type else {
        return Ok(None);
    };
    match &tp.value {
        Some(type_proto::Value::TensorType(t)) => {
            let dtype = DType::from_onnx(t.elem_type()).ok_or_else(|| {
                Error::Model(format!("value '{}' has unknown elem_type {}", vi.name(), t.elem_type()))
            })?;
            let dims = match &t.shape {
                None => return Ok(None),
                Some(s) => s
                    .dim
                    .iter()
                    .map(|d| match &d.value {
                        Some(super::proto::tensor_shape_proto::dimension::Value::DimValue(v)) if *v >= 0 => {
                            Dim::Known(*v as usize)
                        }
                        Some(super::proto::tensor_shape_proto::dimension::Value::DimParam(p)) if !p.is_empty() => {
                            Dim::Sym(p.as_str().into())
                        }
                        _ => Dim::Unknown,
                    })
                    .collect(),
            };
            Ok(Some(ValueType { dtype, dims }))
        }
        None => Ok(None),
        Some(_) => Err(Error::Model(format!(
            "value '{}' is a sequence, map or optional; only tensors are supported so far",
            vi.name()
        ))),
    }
}

/// Decodes the value of a `Constant` node from whichever attribute it uses.
fn constant_value(a: &Attrs) -> Result<Tensor, String> {
    let one = a.map.len();
    if one != 1 {
        return Err(format!("Constant needs exactly one value attribute, got {one}"));
    }
    let (k, v) = a.map.iter().next().unwrap();
    match (k.as_str(), v) {
        ("value", AttrValue::Tensor(t)) => Ok(t.clone()),
        ("value_float", AttrValue::Float(f)) => Ok(Tensor::scalar(*f)),
        ("value_floats", AttrValue::Floats(f)) => Tensor::from_slice(&[f.len()], f),
        ("value_int", AttrValue::Int(i)) => Ok(Tensor::scalar(*i)),
        ("value_ints", AttrValue::Ints(i)) => Tensor::from_slice(&[i.len()], i),
        ("value_string", AttrValue::String(s)) => {
            Tensor::from_strings(&[], vec![String::from_utf8_lossy(s).into_owned()])
        }
        ("value_strings", AttrValue::Strings(s)) => {
            Tensor::from_strings(&[s.len()], s.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect())
        }
        ("sparse_value", _) => Err("sparse Constant values are not supported".into()),
        (k, v) => Err(format!("attribute '{k}' of type {} is not a Constant value", v.type_name())),
    }
}

fn import_graph(
    gp: &GraphProto,
    opsets: &BTreeMap<String, i64>,
    base: &ExternalBase<'_>,
    opts: &LoadOptions,
) -> Result<Graph> {
    let mut g = Graph::default();
    let mut by_name: HashMap<String, ValueId> = HashMap::new();
    fn define(
        by_name: &mut HashMap<String, ValueId>,
        g: &mut Graph,
        name: &str,
        ty: Option<ValueType>,
        k: Option<Tensor>,
        what: &str,
    ) -> Result<ValueId> {
        if by_name.contains_key(name) {
            return Err(Error::Model(format!("{what} '{name}' reuses a name that is already defined")));
        }
        let id = g.add_value(name, ty, k);
        by_name.insert(name.to_string(), id);
        Ok(id)
    }

    for init in &gp.initializer {
        let t = to_tensor(init, base, opts.max_tensor_elements)?;
        let ty = ValueType { dtype: t.dtype(), dims: t.shape().iter().map(|&d| Dim::Known(d)).collect() };
        define(&mut by_name, &mut g, init.name(), Some(ty), Some(t), "initializer")?;
    }
    if !gp.sparse_initializer.is_empty() {
        return Err(Error::Model("sparse initializers are not supported".into()));
    }
    for vi in &gp.input {
        if by_name.contains_key(vi.name()) {
            continue; // an initializer also listed as input (IR < 4): a constant
        }
        let ty = value_info_type(vi)?
            .ok_or_else(|| Error::Model(format!("graph input '{}' has no tensor type", vi.name())))?;
        let id = define(&mut by_name, &mut g, vi.name(), Some(ty), None, "graph input")?;
        g.inputs.push(id);
    }

    // Decode attributes, turn Constant nodes into constants, define every node output.
    struct Pending {
        node: usize,
        attrs: Attrs,
    }
    let mut pending = Vec::new();
    let mut unsupported: BTreeMap<(String, String, i64), Vec<String>> = BTreeMap::new();
    for (i, n) in gp.node.iter().enumerate() {
        let label = if n.name().is_empty() {
            n.output.first().cloned().unwrap_or_else(|| format!("#{i}"))
        } else {
            n.name().to_string()
        };
        let mut a = Attrs::default();
        for ap in &n.attribute {
            if ap.ref_attr_name.is_some() && !ap.ref_attr_name().is_empty() {
                return Err(Error::node(&label, n.op_type(), "attribute references are only valid inside functions"));
            }
            let v = attrs::decode(ap, base, opts.max_tensor_elements)
                .map_err(|e| Error::node(&label, n.op_type(), format!("attribute '{}': {e}", ap.name())))?;
            a.map.insert(ap.name().to_string(), v);
        }
        let domain = canonical_domain(n.domain());
        if (domain.is_empty()) && n.op_type() == "Constant" {
            let t = constant_value(&a).map_err(|e| Error::node(&label, "Constant", e))?;
            if n.output.len() != 1 {
                return Err(Error::node(&label, "Constant", "a Constant has exactly one output"));
            }
            let ty = ValueType { dtype: t.dtype(), dims: t.shape().iter().map(|&d| Dim::Known(d)).collect() };
            define(&mut by_name, &mut g, &n.output[0], Some(ty), Some(t), "Constant output")?;
            continue;
        }
        let opset = match opsets.get(domain) {
            Some(&v) => v,
            None => {
                unsupported
                    .entry((domain.to_string(), format!("{} (domain not imported)", n.op_type()), 0))
                    .or_default()
                    .push(label.clone());
                continue;
            }
        };
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            define(&mut by_name, &mut g, o, None, None, "node output")?;
        }
        if registry::find(domain, n.op_type(), opset).is_none() {
            unsupported.entry((domain.to_string(), n.op_type().to_string(), opset)).or_default().push(label.clone());
        }
        pending.push(Pending { node: i, attrs: a });
    }
    if !unsupported.is_empty() {
        return Err(Error::Unsupported(
            unsupported
                .into_iter()
                .map(|((domain, op_type, opset), nodes)| UnsupportedOp { domain, op_type, opset, nodes })
                .collect(),
        ));
    }

    for p in pending {
        let n = &gp.node[p.node];
        let domain = canonical_domain(n.domain());
        let opset = opsets[domain];
        let label =
            if n.name().is_empty() { n.output.first().cloned().unwrap_or_default() } else { n.name().to_string() };
        let resolve = |name: &String| -> Result<Option<ValueId>> {
            if name.is_empty() {
                return Ok(None);
            }
            by_name.get(name).copied().map(Some).ok_or_else(|| {
                Error::node(
                    &label,
                    n.op_type(),
                    format!("reads '{name}', which no node, graph input or initializer produces"),
                )
            })
        };
        let inputs = n.input.iter().map(resolve).collect::<Result<Vec<_>>>()?;
        let outputs = n.output.iter().map(resolve).collect::<Result<Vec<_>>>()?;
        let row = registry::find(domain, n.op_type(), opset).unwrap();
        let cx = NodeCtx {
            name: &label,
            op_type: n.op_type(),
            domain,
            opset,
            attrs: &p.attrs,
            n_inputs: n.input.len(),
            n_outputs: n.output.len(),
        };
        let op = (row.import)(&cx).map_err(|e| Error::node(&label, n.op_type(), e))?;
        g.nodes.push(Node {
            name: n.name().to_string(),
            op_type: n.op_type().to_string(),
            domain: domain.to_string(),
            opset,
            op,
            inputs,
            outputs,
        });
    }

    for vi in &gp.output {
        let id = *by_name.get(vi.name()).ok_or_else(|| {
            Error::Model(format!("graph output '{}' is not produced by any node, input or initializer", vi.name()))
        })?;
        if g.outputs.contains(&id) {
            return Err(Error::Model(format!("graph output '{}' is listed twice", vi.name())));
        }
        g.outputs.push(id);
    }
    topo::sort(&mut g)?;
    infer::infer_graph(&mut g)?;
    Ok(g)
}
