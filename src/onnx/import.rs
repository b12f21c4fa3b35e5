//! `ModelProto` bytes → [`Graph`]: decodes the protobuf, resolves opset imports per domain,
//! turns initializers and `Constant` nodes into constant values, maps every node through the
//! op registry (reporting all unsupported ops at once), checks names (duplicates, values that
//! nothing produces), orders the nodes and infers types.

use super::attrs::{self, AttrValue, Attrs};
use super::proto::{type_proto, GraphProto, ModelProto, ValueInfoProto};
use super::tensor_proto::{to_tensor, ExternalBase};
use crate::error::{Error, Result, UnsupportedOp};
use crate::ir::{infer, topo, Graph, Node, SubGraph, ValueId, ValueType};
use crate::ops::{registry, NodeCtx};
use crate::tensor::{DType, Dim, Kind, Tensor};
use prost::Message;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Limits applied while loading untrusted files.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Largest element count accepted for one tensor (initializer, attribute, input).
    pub max_tensor_elements: usize,
    /// Bound on the initializers' total bytes, and (through [`crate::ir::Limits`]) on every
    /// tensor folding or planning sizes.
    pub max_memory_bytes: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { max_tensor_elements: 1 << 32, max_memory_bytes: u64::MAX }
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
    match value_info_kind(vi)? {
        (t, Kind::Tensor) => Ok(t),
        _ => Err(Error::Model(format!("value '{}' is a sequence or optional, not a tensor", vi.name()))),
    }
}

/// The declared element type (for tensors: the type; for sequences and optionals: the type of
/// the tensors inside) and kind of a graph input/output. Maps are refused.
pub fn value_info_kind(vi: &ValueInfoProto) -> Result<(Option<ValueType>, Kind)> {
    match &vi.r#type {
        None => Ok((None, Kind::Tensor)),
        Some(tp) => type_kind(tp).map_err(|e| Error::Model(format!("value '{}': {e}", vi.name()))),
    }
}

fn type_kind(tp: &super::proto::TypeProto) -> Result<(Option<ValueType>, Kind), String> {
    match &tp.value {
        Some(type_proto::Value::TensorType(t)) => {
            let dtype =
                DType::from_onnx(t.elem_type()).ok_or_else(|| format!("unknown elem_type {}", t.elem_type()))?;
            let dims = match &t.shape {
                None => return Ok((None, Kind::Tensor)),
                Some(s) => s
                    .dim
                    .iter()
                    .map(|d| match &d.value {
                        Some(super::proto::tensor_shape_proto::dimension::Value::DimValue(v)) if *v >= 0 => {
                            Ok(Dim::Known(*v as usize))
                        }
                        // -1 is how some exporters (Paddle2ONNX) write a dynamic dim; ORT reads it
                        // as unknown, and so do we. Other negative sizes are an error.
                        Some(super::proto::tensor_shape_proto::dimension::Value::DimValue(-1)) => Ok(Dim::Unknown),
                        Some(super::proto::tensor_shape_proto::dimension::Value::DimValue(v)) => {
                            Err(format!("negative dim {v}"))
                        }
                        Some(super::proto::tensor_shape_proto::dimension::Value::DimParam(p))
                            if !p.is_empty() && p != "?" =>
                        {
                            Ok(Dim::Sym(p.as_str().into()))
                        }
                        _ => Ok(Dim::Unknown),
                    })
                    .collect::<Result<_, String>>()?,
            };
            Ok((Some(ValueType { dtype, dims }), Kind::Tensor))
        }
        Some(type_proto::Value::SequenceType(s)) => {
            let (t, k) = match &s.elem_type {
                Some(e) => type_kind(e)?,
                None => (None, Kind::Tensor),
            };
            Ok((t, Kind::Sequence(Box::new(k))))
        }
        Some(type_proto::Value::OptionalType(o)) => {
            let (t, k) = match &o.elem_type {
                Some(e) => type_kind(e)?,
                None => (None, Kind::Tensor),
            };
            Ok((t, Kind::Optional(Box::new(k))))
        }
        None => Ok((None, Kind::Tensor)),
        Some(_) => Err("maps and sparse tensors are not supported".into()),
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

/// Imports a graph and its nested graphs into one value arena, with name scopes: a nested
/// graph sees the names of enclosing graphs (and may shadow them).
struct Importer<'a> {
    g: Graph,
    opsets: &'a BTreeMap<String, i64>,
    base: &'a ExternalBase<'a>,
    opts: &'a LoadOptions,
    scopes: Vec<HashMap<String, ValueId>>,
    unsupported: BTreeMap<(String, String, i64), Vec<String>>,
    /// Bytes of initializers and constant attributes decoded so far.
    const_bytes: u64,
}

/// An imported graph body.
struct Body {
    nodes: Vec<Node>,
    inputs: Vec<ValueId>,
    outputs: Vec<ValueId>,
    /// Values defined in this body's scope.
    defined: Vec<ValueId>,
}

/// Nesting limit for subgraphs (hostile models nest thousands deep).
const MAX_DEPTH: usize = 64;

impl Importer<'_> {
    fn lookup(&self, name: &str) -> Option<ValueId> {
        self.scopes.iter().rev().find_map(|s| s.get(name).copied())
    }

    fn define(&mut self, name: &str, ty: Option<ValueType>, k: Option<Tensor>, what: &str) -> Result<ValueId> {
        let scope = self.scopes.last_mut().expect("a scope");
        if scope.contains_key(name) {
            return Err(Error::Model(format!("{what} '{name}' reuses a name that is already defined")));
        }
        let id = self.g.add_value(name, ty, k);
        self.scopes.last_mut().unwrap().insert(name.to_string(), id);
        Ok(id)
    }

    fn body(&mut self, gp: &GraphProto, main: bool) -> Result<Body> {
        if self.scopes.len() >= MAX_DEPTH {
            return Err(Error::Model(format!("subgraphs nest deeper than {MAX_DEPTH} levels")));
        }
        self.scopes.push(HashMap::new());
        let r = self.body_in_scope(gp, main);
        let scope = self.scopes.pop().unwrap();
        let mut b = r?;
        b.defined = scope.into_values().collect();
        Ok(b)
    }

    fn body_in_scope(&mut self, gp: &GraphProto, main: bool) -> Result<Body> {
        let (base, opts) = (self.base, self.opts);
        for init in &gp.initializer {
            // Size the tensor from its declared dims before decoding (external data is read
            // only after this check).
            let shape = super::tensor_proto::dims_of(init, opts.max_tensor_elements)?;
            if let Some(dt) = DType::from_onnx(init.data_type()) {
                let bytes = self
                    .g
                    .limits
                    .check_tensor("initializer", dt, &shape)
                    .map_err(|e| Error::Limit(format!("tensor '{}': {e}", init.name())))?;
                self.const_bytes = self.const_bytes.saturating_add(bytes);
                self.g
                    .limits
                    .check_bytes("the initializers together", self.const_bytes)
                    .map_err(|e| Error::Limit(format!("tensor '{}': {e}", init.name())))?;
            }
            let t = to_tensor(init, base, opts.max_tensor_elements)?;
            let ty = ValueType { dtype: t.dtype(), dims: t.shape().iter().map(|&d| Dim::Known(d)).collect() };
            self.define(init.name(), Some(ty), Some(t), "initializer")?;
        }
        if !gp.sparse_initializer.is_empty() {
            return Err(Error::Model("sparse initializers are not supported".into()));
        }
        let mut inputs = Vec::new();
        for vi in &gp.input {
            if main && self.scopes.last().unwrap().contains_key(vi.name()) {
                continue; // an initializer also listed as input (IR < 4): a constant
            }
            let (ty, kind) = value_info_kind(vi)?;
            if main && ty.is_none() && kind.is_tensor() {
                return Err(Error::Model(format!("graph input '{}' has no tensor type", vi.name())));
            }
            if let Some(t) = &ty {
                // The declared sizes alone must fit (unknown dims count as 1).
                let known: Vec<usize> = t.dims.iter().map(|d| d.known().unwrap_or(1)).collect();
                self.g
                    .limits
                    .check_tensor("its declared shape", t.dtype, &known)
                    .map_err(|e| Error::Limit(format!("graph input '{}': {e}", vi.name())))?;
            }
            let id = self.define(vi.name(), ty, None, "graph input")?;
            self.g.values[id.idx()].kind = kind;
            inputs.push(id);
        }

        // Decode attributes, turn Constant nodes into constants, define every node output.
        struct Pending {
            node: usize,
            attrs: Attrs,
        }
        let mut pending = Vec::new();
        for (i, n) in gp.node.iter().enumerate() {
            let label = if n.name().is_empty() {
                n.output.first().cloned().unwrap_or_else(|| format!("#{i}"))
            } else {
                n.name().to_string()
            };
            let mut a = Attrs::default();
            for ap in &n.attribute {
                if ap.ref_attr_name.is_some() && !ap.ref_attr_name().is_empty() {
                    return Err(Error::node(
                        &label,
                        n.op_type(),
                        "attribute references are only valid inside functions",
                    ));
                }
                let v = attrs::decode(ap, base, opts.max_tensor_elements)
                    .map_err(|e| Error::node(&label, n.op_type(), format!("attribute '{}': {e}", ap.name())))?;
                a.map.insert(ap.name().to_string(), v);
            }
            let domain = canonical_domain(n.domain());
            if domain.is_empty() && n.op_type() == "Constant" {
                let t = constant_value(&a).map_err(|e| Error::node(&label, "Constant", e))?;
                if n.output.len() != 1 {
                    return Err(Error::node(&label, "Constant", "a Constant has exactly one output"));
                }
                let ty = ValueType { dtype: t.dtype(), dims: t.shape().iter().map(|&d| Dim::Known(d)).collect() };
                self.define(&n.output[0], Some(ty), Some(t), "Constant output")?;
                continue;
            }
            for o in n.output.iter().filter(|o| !o.is_empty()) {
                self.define(o, None, None, "node output")?;
            }
            match self.opsets.get(domain) {
                Some(&opset) => {
                    if registry::find(domain, n.op_type(), opset).is_none() {
                        self.unsupported
                            .entry((domain.to_string(), n.op_type().to_string(), opset))
                            .or_default()
                            .push(label.clone());
                    }
                }
                None => {
                    self.unsupported
                        .entry((domain.to_string(), format!("{} (domain not imported)", n.op_type()), 0))
                        .or_default()
                        .push(label.clone());
                }
            }
            pending.push(Pending { node: i, attrs: a });
        }

        let mut nodes = Vec::new();
        for p in pending {
            let n = &gp.node[p.node];
            let domain = canonical_domain(n.domain());
            let label =
                if n.name().is_empty() { n.output.first().cloned().unwrap_or_default() } else { n.name().to_string() };
            // Nested graphs first: they see every name of this scope.
            let mut subgraphs: Vec<(String, usize)> = Vec::new();
            let mut captures: Vec<ValueId> = Vec::new();
            for (name, v) in &p.attrs.map {
                if let AttrValue::Graph(sub) = v {
                    let b = self.body(sub, false)?;
                    for r in b.nodes.iter().flat_map(|n| n.reads().collect::<Vec<_>>()).chain(b.outputs.iter().copied())
                    {
                        if !b.defined.contains(&r) && self.g.value(r).konst.is_none() && !captures.contains(&r) {
                            captures.push(r);
                        }
                    }
                    self.g.subgraphs.push(SubGraph {
                        name: sub.name().to_string(),
                        nodes: b.nodes,
                        inputs: b.inputs,
                        outputs: b.outputs,
                    });
                    subgraphs.push((name.clone(), self.g.subgraphs.len() - 1));
                }
            }
            let resolve = |name: &String| -> Result<Option<ValueId>> {
                if name.is_empty() {
                    return Ok(None);
                }
                self.lookup(name).map(Some).ok_or_else(|| {
                    Error::node(
                        &label,
                        n.op_type(),
                        format!("reads '{name}', which no node, graph input or initializer produces"),
                    )
                })
            };
            let inputs = n.input.iter().map(resolve).collect::<Result<Vec<_>>>()?;
            let outputs = n.output.iter().map(resolve).collect::<Result<Vec<_>>>()?;
            let Some(&opset) = self.opsets.get(domain) else { continue };
            let Some(row) = registry::find(domain, n.op_type(), opset) else { continue };
            let outputs_present: Vec<bool> = n.output.iter().map(|o| !o.is_empty()).collect();
            let cx = NodeCtx {
                name: &label,
                op_type: n.op_type(),
                domain,
                opset,
                attrs: &p.attrs,
                n_inputs: n.input.len(),
                n_outputs: n.output.len(),
                outputs_present: &outputs_present,
                subgraphs: &subgraphs,
            };
            let op = (row.import)(&cx).map_err(|e| Error::node(&label, n.op_type(), e))?;
            nodes.push(Node {
                name: n.name().to_string(),
                op_type: n.op_type().to_string(),
                domain: domain.to_string(),
                opset,
                op,
                inputs,
                outputs,
                captures,
            });
        }

        let mut outputs = Vec::new();
        for vi in &gp.output {
            let id = self.lookup(vi.name()).ok_or_else(|| {
                Error::Model(format!("graph output '{}' is not produced by any node, input or initializer", vi.name()))
            })?;
            if main && outputs.contains(&id) {
                return Err(Error::Model(format!("graph output '{}' is listed twice", vi.name())));
            }
            outputs.push(id);
        }
        let nodes = topo::sort(&self.g, nodes)?;
        Ok(Body { nodes, inputs, outputs, defined: vec![] })
    }
}

fn import_graph(
    gp: &GraphProto,
    opsets: &BTreeMap<String, i64>,
    base: &ExternalBase<'_>,
    opts: &LoadOptions,
) -> Result<Graph> {
    let mut g = Graph::default();
    g.limits.max_memory_bytes = opts.max_memory_bytes;
    let mut im = Importer { g, opsets, base, opts, scopes: vec![], unsupported: BTreeMap::new(), const_bytes: 0 };
    let body = im.body(gp, true)?;
    if !im.unsupported.is_empty() {
        return Err(Error::Unsupported(
            std::mem::take(&mut im.unsupported)
                .into_iter()
                .map(|((domain, op_type, opset), nodes)| UnsupportedOp { domain, op_type, opset, nodes })
                .collect(),
        ));
    }
    let mut g = im.g;
    g.nodes = body.nodes;
    g.inputs = body.inputs;
    g.outputs = body.outputs;
    g.relink();
    infer::infer_graph(&mut g)?;
    Ok(g)
}
