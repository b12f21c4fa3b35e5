//! The graph IR: an arena of [`Value`]s and [`Node`]s addressed by [`ValueId`]/[`NodeId`],
//! nodes kept in topological order, each carrying a variant of the closed [`Op`] enum.
//! [`infer`] runs the ops' shape rules over the graph; [`topo`] orders nodes and finds cycles.

pub mod infer;
pub mod op;
pub mod topo;

pub use op::Op;

use crate::tensor::{shape::fmt_dims, DType, Dim, Kind, Tensor};

use std::collections::BTreeMap;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

/// A node's address: `list` 0 is the main graph, `k + 1` is subgraph `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub list: u32,
    pub index: u32,
}

impl ValueId {
    pub fn idx(self) -> usize {
        self.0 as usize
    }
}
impl NodeId {
    /// The `i`-th node of the main graph.
    pub fn top(i: usize) -> NodeId {
        NodeId { list: 0, index: i as u32 }
    }
    pub fn idx(self) -> usize {
        self.index as usize
    }
}

/// A dtype and a (possibly symbolic) shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ValueType {
    pub dtype: DType,
    pub dims: Vec<Dim>,
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.dtype, fmt_dims(&self.dims))
    }
}

/// A tensor-valued edge of the graph.
#[derive(Clone, Debug)]
pub struct Value {
    pub name: String,
    /// Inferred (or, for graph inputs, declared) type; `None` until inference runs.
    pub ty: Option<ValueType>,
    /// The constant data of initializers, `Constant` outputs and folded values.
    pub konst: Option<Tensor>,
    /// The node producing this value (`None` for graph inputs and constants).
    pub producer: Option<NodeId>,
    /// Tensor, sequence or optional (for the latter two, `ty` is the element type).
    pub kind: Kind,
}

/// One operator application.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub op_type: String,
    pub domain: String,
    pub opset: i64,
    pub op: Op,
    /// Input slots; `None` is an omitted optional input.
    pub inputs: Vec<Option<ValueId>>,
    /// Output slots; `None` is an output the model does not use.
    pub outputs: Vec<Option<ValueId>>,
    /// Values of enclosing scopes read inside this node's subgraphs (If/Loop/Scan bodies):
    /// dependencies like inputs for ordering and liveness.
    pub captures: Vec<ValueId>,
}

impl Node {
    /// Inputs and captures: every value the node reads.
    pub fn reads(&self) -> impl Iterator<Item = ValueId> + '_ {
        self.inputs.iter().flatten().copied().chain(self.captures.iter().copied())
    }
}

/// A nested graph (an If branch, a Loop or Scan body). Its values live in the main graph's
/// arena; it may read values of enclosing scopes directly.
#[derive(Clone, Debug, Default)]
pub struct SubGraph {
    pub name: String,
    /// Nodes in topological order.
    pub nodes: Vec<Node>,
    /// Formal inputs (Loop/Scan bodies; empty for If branches).
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
}

impl Node {
    /// The node's name, or its first output's name when the model left it empty.
    pub fn label<'a>(&'a self, g: &'a Graph) -> &'a str {
        if !self.name.is_empty() {
            return &self.name;
        }
        self.outputs.iter().flatten().next().map(|v| g.values[v.idx()].name.as_str()).unwrap_or("<unnamed>")
    }
}

/// A graph: values, nodes in topological order, and the graph's inputs/outputs.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub values: Vec<Value>,
    pub nodes: Vec<Node>,
    /// Runtime inputs (initializers excluded).
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
    /// Opset version per domain (`""` is ai.onnx).
    pub opsets: BTreeMap<String, i64>,
    /// Nested graphs, referenced by index from control-flow ops.
    pub subgraphs: Vec<SubGraph>,
    /// Resource bounds the session imposes while folding and planning.
    pub limits: Limits,
}

/// Resource bounds for one session (see `SessionBuilder::max_memory_bytes`): initializers,
/// every tensor that inference, folding or planning sizes, and a stage's planned memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_memory_bytes: u64,
}

impl Default for Limits {
    /// Unbounded: a graph built in code. Sessions set their own bound.
    fn default() -> Self {
        Limits { max_memory_bytes: u64::MAX }
    }
}

impl Limits {
    /// The bytes of a `dtype` tensor of `shape`, or an error when they overflow or exceed the
    /// bound. `what` names the tensor for the message.
    pub fn check_tensor(&self, what: &str, dtype: crate::tensor::DType, shape: &[usize]) -> Result<u64, String> {
        let bytes = crate::tensor::shape::checked_numel(shape)
            .and_then(|n| u64::try_from((n as u128 * dtype.bits().max(1) as u128).div_ceil(8)).ok())
            .ok_or_else(|| format!("{what} of shape {shape:?} has more elements than memory can address"))?;
        self.check_bytes(&format!("{what} ({dtype}, shape {shape:?})"), bytes)?;
        Ok(bytes)
    }

    /// An error when `bytes` exceed the bound.
    pub fn check_bytes(&self, what: &str, bytes: u64) -> Result<(), String> {
        if bytes > self.max_memory_bytes {
            return Err(format!(
                "{what} needs {bytes} bytes, over the session's max_memory_bytes of {} \
                 (SessionBuilder::max_memory_bytes)",
                self.max_memory_bytes
            ));
        }
        Ok(())
    }
}

impl Graph {
    pub fn value(&self, v: ValueId) -> &Value {
        &self.values[v.idx()]
    }

    pub fn add_value(&mut self, name: &str, ty: Option<ValueType>, konst: Option<Tensor>) -> ValueId {
        self.values.push(Value { name: name.to_string(), ty, konst, producer: None, kind: Kind::Tensor });
        ValueId(self.values.len() as u32 - 1)
    }

    /// A new constant value holding `t`, typed from it.
    pub fn add_const(&mut self, name: &str, t: Tensor) -> ValueId {
        let ty = ValueType { dtype: t.dtype(), dims: crate::tensor::shape::known_dims(t.shape()) };
        self.add_value(name, Some(ty), Some(t))
    }

    /// The nodes of list `l` (0: the main graph, `k + 1`: subgraph `k`).
    pub fn list(&self, l: u32) -> &[Node] {
        if l == 0 {
            &self.nodes
        } else {
            &self.subgraphs[l as usize - 1].nodes
        }
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.list(id.list)[id.idx()]
    }

    /// Recomputes every value's producer from the node lists.
    pub fn relink(&mut self) {
        for v in &mut self.values {
            v.producer = None;
        }
        let mut links = Vec::new();
        for l in 0..=self.subgraphs.len() as u32 {
            for (i, n) in self.list(l).iter().enumerate() {
                for o in n.outputs.iter().flatten() {
                    links.push((*o, NodeId { list: l, index: i as u32 }));
                }
            }
        }
        for (o, id) in links {
            self.values[o.idx()].producer = Some(id);
        }
    }

    /// For each value, the nodes that read it.
    pub fn consumers(&self) -> Vec<Vec<NodeId>> {
        let mut c = vec![Vec::new(); self.values.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for v in n.inputs.iter().flatten() {
                if !c[v.idx()].contains(&NodeId::top(i)) {
                    c[v.idx()].push(NodeId::top(i));
                }
            }
        }
        c
    }

    /// Total bytes of constant data referenced by nodes or outputs.
    pub fn weight_bytes(&self) -> usize {
        let mut used = vec![false; self.values.len()];
        for n in &self.nodes {
            for v in n.inputs.iter().flatten() {
                used[v.idx()] = true;
            }
        }
        self.values
            .iter()
            .enumerate()
            .filter(|(i, v)| used[*i] && v.konst.is_some())
            .map(|(_, v)| v.konst.as_ref().unwrap().byte_len())
            .sum()
    }

    /// Op-type histogram (domain-qualified for non-default domains).
    pub fn op_histogram(&self) -> BTreeMap<String, usize> {
        let mut h = BTreeMap::new();
        for n in &self.nodes {
            let k = if n.domain.is_empty() || n.domain == "ai.onnx" {
                n.op_type.clone()
            } else {
                format!("{}::{}", n.domain, n.op_type)
            };
            *h.entry(k).or_insert(0) += 1;
        }
        h
    }
}
