//! Graph → [`Plan`] for concrete input shapes. Pure (no wgpu): shapes are inferred concretely,
//! everything computable on the host is folded (constants, and shape arithmetic now that the
//! shapes are known), Reshape-like nodes become aliases, the rest is lowered by a backend's
//! [`Lowering`] into dispatches, and [`alloc`] places every intermediate by liveness.

pub mod alloc;

use crate::error::{Error, Result};
use crate::ir::{infer::node_cx, Graph, Node, NodeId, ValueId, ValueType};
use crate::tensor::shape::{fmt_shape, known_dims};
use crate::tensor::{DType, Tensor};
use alloc::Interval;

/// Where a planned tensor's bytes live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BufRef {
    /// A slice of activation arena `arena`.
    Arena { arena: u32, offset: u64, size: u64 },
    /// A byte range of a graph constant (initializer or folded at load), uploaded once per
    /// session.
    GraphConst { value: ValueId, offset: u64, size: u64 },
    /// A byte range of a constant computed for this plan (shape-dependent folding, derived
    /// parameters).
    PlanConst { index: u32, offset: u64, size: u64 },
}

impl BufRef {
    /// The bytes `[offset, offset + size)` of this buffer.
    pub fn narrow(self, off: u64, len: u64) -> Result<BufRef, String> {
        let (base, total) = match self {
            BufRef::Arena { offset, size, .. }
            | BufRef::GraphConst { offset, size, .. }
            | BufRef::PlanConst { offset, size, .. } => (offset, size),
        };
        if off.checked_add(len).is_none_or(|e| e > total) {
            return Err(format!("byte range [{off}, +{len}) lies outside a binding of {total} bytes"));
        }
        Ok(match self {
            BufRef::Arena { arena, .. } => BufRef::Arena { arena, offset: base + off, size: len },
            BufRef::GraphConst { value, .. } => BufRef::GraphConst { value, offset: base + off, size: len },
            BufRef::PlanConst { index, .. } => BufRef::PlanConst { index, offset: base + off, size: len },
        })
    }
}

/// A concrete tensor of the plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    pub buf: BufRef,
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl Slot {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A binding as a lowering names it, relative to its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ref {
    Input(usize),
    /// Bytes `[offset, offset + size)` of an input (to bind part of a tensor larger than
    /// the adapter's binding limit); `offset` must respect [`PlanLimits::align`].
    InputSlice {
        input: usize,
        offset: u64,
        size: u64,
    },
    Output(usize),
    Scratch(usize),
    /// A constant the lowering derived (index into [`Lowered::consts`]).
    Const(usize),
}

/// One kernel launch of a lowered node.
#[derive(Clone, Debug)]
pub struct LoweredDispatch<K> {
    pub kernel: K,
    pub bindings: Vec<Ref>,
}

/// A backend's lowering of one node.
#[derive(Clone, Debug)]
pub struct Lowered<K> {
    pub dispatches: Vec<LoweredDispatch<K>>,
    /// Byte sizes of temporary buffers live only during this node.
    pub scratch: Vec<u64>,
    /// Constants derived at plan time (e.g. reformatted parameters).
    pub consts: Vec<Tensor>,
}

impl<K> Lowered<K> {
    /// One dispatch binding all inputs then all outputs.
    pub fn single(kernel: K, bindings: Vec<Ref>) -> Self {
        Lowered { dispatches: vec![LoweredDispatch { kernel, bindings }], scratch: vec![], consts: vec![] }
    }
}

/// A tensor operand as a lowering sees it.
#[derive(Clone, Debug)]
pub struct Operand {
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// The value when known on the host at plan time.
    pub value: Option<Tensor>,
}

/// What a lowering knows about a node.
pub struct LowerCx<'a> {
    pub node: &'a Node,
    pub label: &'a str,
    pub inputs: Vec<Option<Operand>>,
    /// Outputs to compute (`None`: absent, or read by nothing).
    pub outputs: Vec<Option<Operand>>,
    pub limits: &'a PlanLimits,
}

impl LowerCx<'_> {
    pub fn input(&self, i: usize) -> Result<&Operand, String> {
        self.inputs.get(i).and_then(|o| o.as_ref()).ok_or_else(|| format!("input {i} is required"))
    }
    pub fn output(&self, i: usize) -> Result<&Operand, String> {
        self.outputs.get(i).and_then(|o| o.as_ref()).ok_or_else(|| format!("output {i} is required"))
    }
}

/// A backend's kernel description, as stored in the plan.
pub trait KernelInfo: Clone + std::fmt::Debug + Send + Sync {
    /// A short name for plan listings and profiles (`conv2d_igemm`, `binary_add`, …).
    fn label(&self) -> String;
}

/// How a backend turns nodes into dispatches.
pub trait Lowering {
    type Kernel: KernelInfo;
    /// Bytes the backend stores for `n` elements of `dtype` (before alignment).
    fn storage_bytes(&self, dtype: DType, n: usize) -> u64;
    /// Lowers one node; errors are reasons (the planner adds the node's name).
    fn lower(&self, cx: &LowerCx) -> Result<Lowered<Self::Kernel>, String>;
}

/// Plan limits from the backend/adapter.
#[derive(Clone, Debug)]
pub struct PlanLimits {
    /// Offset alignment of bindings (`min_storage_buffer_offset_alignment`).
    pub align: u64,
    /// Largest single binding (`max_storage_buffer_binding_size`).
    pub max_binding: u64,
    /// Largest buffer (`max_buffer_size`): the arena size limit.
    pub max_buffer: u64,
}

/// One kernel launch with resolved buffers.
#[derive(Clone, Debug)]
pub struct Step<K> {
    pub node: NodeId,
    pub kernel: K,
    pub bindings: Vec<BufRef>,
}

/// What became of a node in this plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeFate {
    /// Computed on the host while planning.
    Folded,
    /// Its output shares its input's buffer.
    Alias,
    /// Launched as these steps (indices into [`Plan::steps`]).
    Dispatch(std::ops::Range<usize>),
    /// Not needed for any output.
    Dead,
}

/// A graph output: in a slot, or known on the host.
#[derive(Clone, Debug)]
pub enum OutputSource {
    Slot(Slot),
    Known(Tensor),
}

/// Memory figures of a plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    pub peak_activation_bytes: u64,
    pub activation_lower_bound_bytes: u64,
    pub arenas: usize,
    pub weight_bytes: u64,
    pub plan_const_bytes: u64,
}

/// An executable schedule for one input-shape signature.
#[derive(Clone, Debug)]
pub struct Plan<K> {
    pub steps: Vec<Step<K>>,
    /// Slots of every stored value, by ValueId.
    pub slots: Vec<Option<Slot>>,
    /// The runtime inputs the plan reads, with their slots.
    pub inputs: Vec<(ValueId, Slot)>,
    /// Per graph output.
    pub outputs: Vec<OutputSource>,
    pub arenas: Vec<u64>,
    pub plan_consts: Vec<Tensor>,
    /// Graph constants bound by some step.
    pub graph_consts: Vec<ValueId>,
    pub fates: Vec<NodeFate>,
    pub memory: MemoryStats,
}

/// Binding sizes are whole 4-byte words, at least one.
fn padded(bytes: u64) -> u64 {
    bytes.max(4).div_ceil(4) * 4
}

fn node_err(g: &Graph, n: &Node, reason: impl Into<String>) -> Error {
    Error::node(n.label(g), &n.op_type, reason)
}

/// Builds the plan for concrete shapes of the graph's inputs (`shapes[i]` for `g.inputs[i]`).
pub fn build<L: Lowering>(
    g: &Graph,
    shapes: &[Vec<usize>],
    lowering: &L,
    limits: &PlanLimits,
) -> Result<Plan<L::Kernel>> {
    let nv = g.values.len();
    let mut types: Vec<Option<(DType, Vec<usize>)>> = vec![None; nv];
    let mut known: Vec<Option<Tensor>> = vec![None; nv];
    for (i, v) in g.values.iter().enumerate() {
        if let Some(k) = &v.konst {
            types[i] = Some((k.dtype(), k.shape().to_vec()));
            known[i] = Some(k.clone());
        }
    }
    for (&v, s) in g.inputs.iter().zip(shapes) {
        let dt = g.value(v).ty.as_ref().map(|t| t.dtype).unwrap_or(DType::F32);
        types[v.idx()] = Some((dt, s.clone()));
    }

    // 1. Concrete inference and host folding, in order.
    let mut fates = vec![NodeFate::Dead; g.nodes.len()];
    let mut live = vec![false; g.nodes.len()];
    for (ni, node) in g.nodes.iter().enumerate() {
        let spec = node.op.spec();
        let cx = node_cx(
            node,
            g,
            |v| types[v.idx()].as_ref().map(|(d, s)| ValueType { dtype: *d, dims: known_dims(s) }),
            |v| known[v.idx()].as_ref(),
        )
        .map_err(|e| node_err(g, node, e))?;
        let out = spec.infer(&cx).map_err(|e| match cx.missing_value.get() {
            Some(i) => node_err(
                g,
                node,
                format!(
                    "the output shape depends on the value of '{}', which is computed at run time; data-dependent shapes are not supported yet",
                    node.inputs[i].map(|v| g.value(v).name.as_str()).unwrap_or("?")
                ),
            ),
            None => node_err(g, node, e),
        })?;
        let mut concrete = Vec::with_capacity(out.len());
        for t in &out {
            let s = crate::tensor::shape::concrete(&t.dims)
                .ok_or_else(|| node_err(g, node, format!("could not determine a concrete output shape ({t})")))?;
            concrete.push((t.dtype, s));
        }
        let all_known = node.inputs.iter().flatten().all(|v| known[v.idx()].is_some());
        let folded = if all_known && spec.foldable() {
            let ins: Vec<Option<&Tensor>> =
                node.inputs.iter().map(|s| s.and_then(|v| known[v.idx()].as_ref())).collect();
            Some(spec.eval(&ins, node.outputs.len()).map_err(|e| node_err(g, node, e))?)
        } else {
            spec.eval_from_shapes(&cx).transpose().map_err(|e| node_err(g, node, e))?
        };
        for (k, slot) in node.outputs.iter().enumerate() {
            if let Some(v) = slot {
                types[v.idx()] = concrete.get(k).cloned();
            }
        }
        if let Some(outs) = folded {
            for (slot, t) in node.outputs.iter().zip(outs) {
                if let Some(v) = slot {
                    types[v.idx()] = Some((t.dtype(), t.shape().to_vec()));
                    known[v.idx()] = Some(t);
                }
            }
            fates[ni] = NodeFate::Folded;
        } else {
            live[ni] = true;
        }
    }

    // 2. Which live nodes are needed for the outputs.
    let mut needed = vec![false; nv];
    for o in &g.outputs {
        if known[o.idx()].is_none() {
            needed[o.idx()] = true;
        }
    }
    for (ni, node) in g.nodes.iter().enumerate().rev() {
        if !live[ni] {
            continue;
        }
        if node.outputs.iter().flatten().any(|v| needed[v.idx()]) {
            for v in node.inputs.iter().flatten() {
                if known[v.idx()].is_none() {
                    needed[v.idx()] = true;
                }
            }
        } else {
            live[ni] = false;
        }
    }

    // 3. Lower live nodes; collect storage roots and their live ranges.
    struct Root {
        size: u64,
        start: usize,
        end: usize,
    }
    let mut roots: Vec<Root> = Vec::new();
    let mut root_of: Vec<Option<usize>> = vec![None; nv]; // value → root
    let mut plan_consts: Vec<Tensor> = Vec::new();
    let mut lowered: Vec<(usize, Lowered<L::Kernel>, Vec<usize>, usize)> = Vec::new(); // (node, lowered, scratch roots, const base)
    let operand = |v: ValueId, types: &Vec<Option<(DType, Vec<usize>)>>, known: &Vec<Option<Tensor>>| {
        let (d, s) = types[v.idx()].clone().expect("typed");
        Operand { dtype: d, shape: s, value: known[v.idx()].clone() }
    };
    let size_of = |v: ValueId, types: &Vec<Option<(DType, Vec<usize>)>>| {
        let (d, s) = types[v.idx()].as_ref().unwrap();
        lowering.storage_bytes(*d, s.iter().product()).max(4).div_ceil(4) * 4
    };
    for &v in &g.inputs {
        if needed[v.idx()] {
            roots.push(Root { size: size_of(v, &types), start: 0, end: 0 });
            root_of[v.idx()] = Some(roots.len() - 1);
        }
    }
    let mut t = 0usize; // time = index among live nodes
    for (ni, node) in g.nodes.iter().enumerate() {
        if !live[ni] {
            continue;
        }
        let label = node.label(g).to_string();
        let spec = node.op.spec();
        // Inputs extend their roots' lifetimes.
        for v in node.inputs.iter().flatten() {
            if let Some(r) = root_of[v.idx()] {
                roots[r].end = roots[r].end.max(t);
            }
        }
        if spec.is_alias() && node.inputs.first().copied().flatten().is_some_and(|v| known[v.idx()].is_none()) {
            let src = node.inputs[0].unwrap();
            let out = node.outputs[0].ok_or_else(|| node_err(g, node, "alias without an output"))?;
            root_of[out.idx()] = root_of[src.idx()];
            fates[ni] = NodeFate::Alias;
            t += 1;
            continue;
        }
        // Outputs nothing reads (Dropout's mask, MaxPool's indices) are neither stored nor
        // computed: the lowering sees them as absent.
        for v in node.outputs.iter().flatten().filter(|v| needed[v.idx()]) {
            roots.push(Root { size: size_of(*v, &types), start: t, end: t });
            root_of[v.idx()] = Some(roots.len() - 1);
        }
        let cx = LowerCx {
            node,
            label: &label,
            inputs: node.inputs.iter().map(|s| s.map(|v| operand(v, &types, &known))).collect(),
            outputs: node
                .outputs
                .iter()
                .map(|s| s.filter(|v| needed[v.idx()]).map(|v| operand(v, &types, &known)))
                .collect(),
            limits,
        };
        let low = lowering.lower(&cx).map_err(|e| node_err(g, node, e))?;
        let mut scratch = Vec::new();
        for &s in &low.scratch {
            roots.push(Root { size: s.max(4).div_ceil(4) * 4, start: t, end: t });
            scratch.push(roots.len() - 1);
        }
        let base = plan_consts.len();
        plan_consts.extend(low.consts.iter().cloned());
        lowered.push((ni, low, scratch, base));
        t += 1;
    }
    for o in &g.outputs {
        if let Some(r) = root_of[o.idx()] {
            roots[r].end = t.max(1);
        }
    }

    // 4. Allocate.
    let ivs: Vec<Interval> = roots.iter().map(|r| Interval { size: r.size, start: r.start, end: r.end }).collect();
    for r in &roots {
        if r.size > limits.max_binding {
            return Err(Error::Limit(format!(
                "a tensor of {} bytes exceeds the adapter's largest storage binding ({} bytes)",
                r.size, limits.max_binding
            )));
        }
    }
    let a = alloc::allocate(&ivs, limits.align, limits.max_buffer).map_err(Error::Limit)?;
    let root_buf = |r: usize| BufRef::Arena {
        arena: a.placements[r].arena as u32,
        offset: a.placements[r].offset,
        size: roots[r].size,
    };

    // 5. Slots for every stored or known value.
    let mut slots: Vec<Option<Slot>> = vec![None; nv];
    let mut plan_const_of: Vec<Option<u32>> = vec![None; nv];
    for v in 0..nv {
        let Some((d, s)) = types[v].clone() else {
            continue;
        };
        let buf = if let Some(r) = root_of[v] {
            root_buf(r)
        } else if known[v].is_some() {
            if let Some(k) = &g.values[v].konst {
                BufRef::GraphConst {
                    value: ValueId(v as u32),
                    offset: 0,
                    size: padded(lowering.storage_bytes(k.dtype(), k.numel())),
                }
            } else {
                continue; // plan constants are added on first use below
            }
        } else {
            continue;
        };
        slots[v] = Some(Slot { buf, dtype: d, shape: s });
    }
    let mut graph_consts = Vec::new();
    let mut steps = Vec::new();
    for (ni, low, scratch, base) in lowered {
        let node = &g.nodes[ni];
        let first = steps.len();
        for d in low.dispatches {
            let mut bindings = Vec::with_capacity(d.bindings.len());
            for r in d.bindings {
                let b = match r {
                    Ref::Input(i) | Ref::Output(i) | Ref::InputSlice { input: i, .. } => {
                        let list = if !matches!(r, Ref::Output(_)) { &node.inputs } else { &node.outputs };
                        let v = list
                            .get(i)
                            .copied()
                            .flatten()
                            .ok_or_else(|| node_err(g, node, format!("binding {r:?} names an absent slot")))?;
                        let full = if let Some(s) = &slots[v.idx()] {
                            if let BufRef::GraphConst { value, .. } = s.buf {
                                if !graph_consts.contains(&value) {
                                    graph_consts.push(value);
                                }
                            }
                            s.buf
                        } else if let Some(k) = &known[v.idx()] {
                            let index = *plan_const_of[v.idx()].get_or_insert_with(|| {
                                plan_consts.push(k.clone());
                                (plan_consts.len() - 1) as u32
                            });
                            let buf = BufRef::PlanConst {
                                index,
                                offset: 0,
                                size: padded(lowering.storage_bytes(k.dtype(), k.numel())),
                            };
                            slots[v.idx()] = Some(Slot { buf, dtype: k.dtype(), shape: k.shape().to_vec() });
                            buf
                        } else {
                            return Err(node_err(g, node, format!("value '{}' has no storage", g.value(v).name)));
                        };
                        match r {
                            Ref::InputSlice { offset, size, .. } => {
                                full.narrow(offset, size).map_err(|e| node_err(g, node, e))?
                            }
                            _ => full,
                        }
                    }
                    Ref::Scratch(i) => root_buf(*scratch.get(i).ok_or_else(|| node_err(g, node, "bad scratch index"))?),
                    Ref::Const(i) => {
                        let k = &plan_consts[base + i];
                        BufRef::PlanConst {
                            index: (base + i) as u32,
                            offset: 0,
                            size: padded(lowering.storage_bytes(k.dtype(), k.numel())),
                        }
                    }
                };
                let size = match b {
                    BufRef::Arena { size, .. } | BufRef::GraphConst { size, .. } | BufRef::PlanConst { size, .. } => {
                        size
                    }
                };
                if size > limits.max_binding {
                    return Err(Error::Limit(format!(
                        "node '{}' ({}) binds {size} bytes at once, over the adapter's storage binding limit of {} bytes",
                        node.label(g),
                        node.op_type,
                        limits.max_binding
                    )));
                }
                bindings.push(b);
            }
            steps.push(Step { node: NodeId(ni as u32), kernel: d.kernel, bindings });
        }
        fates[ni] = NodeFate::Dispatch(first..steps.len());
    }

    let inputs: Vec<(ValueId, Slot)> =
        g.inputs.iter().filter_map(|&v| slots[v.idx()].clone().filter(|_| needed[v.idx()]).map(|s| (v, s))).collect();
    let mut outputs = Vec::new();
    for &o in &g.outputs {
        if let Some(k) = &known[o.idx()] {
            outputs.push(OutputSource::Known(k.clone()));
        } else {
            let s = slots[o.idx()]
                .clone()
                .ok_or_else(|| Error::Model(format!("graph output '{}' is never computed", g.value(o).name)))?;
            outputs.push(OutputSource::Slot(s));
        }
    }
    let weight_bytes = graph_consts.iter().map(|c| g.value(*c).konst.as_ref().unwrap().byte_len() as u64).sum();
    let memory = MemoryStats {
        peak_activation_bytes: a.peak(),
        activation_lower_bound_bytes: a.lower_bound,
        arenas: a.arenas.len(),
        weight_bytes,
        plan_const_bytes: plan_consts.iter().map(|c| c.byte_len() as u64).sum(),
    };
    Ok(Plan { steps, slots, inputs, outputs, arenas: a.arenas, plan_consts, graph_consts, fates, memory })
}

/// Renders a plan as text: one line per node fate and step, then the memory figures.
pub fn describe<K: KernelInfo>(g: &Graph, p: &Plan<K>) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let fmt_buf = |b: &BufRef| match b {
        BufRef::Arena { arena, offset, size } => format!("arena{arena}[{offset}+{size}]"),
        BufRef::GraphConst { value, offset, size } => {
            let k = g.value(*value).konst.as_ref().map(|k| k.byte_len() as u64).unwrap_or(0);
            if *offset == 0 && *size >= k {
                format!("weight '{}'", g.value(*value).name)
            } else {
                format!("weight '{}'[{offset}+{size}]", g.value(*value).name)
            }
        }
        BufRef::PlanConst { index, .. } => format!("const#{index}"),
    };
    for (ni, node) in g.nodes.iter().enumerate() {
        let out = node
            .outputs
            .iter()
            .flatten()
            .map(|v| match &p.slots[v.idx()] {
                Some(sl) => format!("{}{}", sl.dtype, fmt_shape(&sl.shape)),
                None => "-".into(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        match &p.fates[ni] {
            NodeFate::Folded => writeln!(s, "  fold      {:<28} {:<18} → {out}", node.label(g), node.op_type),
            NodeFate::Dead => writeln!(s, "  dead      {:<28} {}", node.label(g), node.op_type),
            NodeFate::Alias => writeln!(s, "  alias     {:<28} {:<18} → {out}", node.label(g), node.op_type),
            NodeFate::Dispatch(r) => {
                let _ = writeln!(s, "  run       {:<28} {:<18} → {out}", node.label(g), node.op_type);
                for st in &p.steps[r.clone()] {
                    let b: Vec<String> = st.bindings.iter().map(fmt_buf).collect();
                    let _ = writeln!(s, "              {:<24} {}", st.kernel.label(), b.join(" "));
                }
                Ok(())
            }
        }
        .ok();
    }
    let m = &p.memory;
    let _ = writeln!(
        s,
        "dispatches {}  arenas {}  peak activation {} B  liveness lower bound {} B  ({:.3}×)  weights {} B  plan constants {} B",
        p.steps.len(),
        m.arenas,
        m.peak_activation_bytes,
        m.activation_lower_bound_bytes,
        if m.activation_lower_bound_bytes > 0 { m.peak_activation_bytes as f64 / m.activation_lower_bound_bytes as f64 } else { 1.0 },
        m.weight_bytes,
        m.plan_const_bytes
    );
    s
}
