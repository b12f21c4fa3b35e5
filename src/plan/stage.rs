//! Building one [`Stage`]: concrete inference, host folding, placement (device or CPU),
//! barriers on run-time values, liveness and allocation. See the module docs of `plan`.

use super::alloc::{self, Interval};
use super::*;
use crate::error::{Error, Result};
use crate::ir::{infer::node_cx, Graph, ValueType};
use crate::tensor::shape::known_dims;
use crate::tensor::Data;

use std::sync::Arc;

/// Planning options.
#[derive(Clone, Copy, Debug)]
pub struct PlanOptions {
    /// Place nodes the device cannot run on the CPU (else such a node is an error).
    pub fallback: bool,
}

/// What is known when a stage is planned; a stage returns the state after it.
#[derive(Clone, Debug)]
pub struct PlanEnv {
    /// Concrete type of every value inferred so far.
    pub types: Vec<Option<(DType, Vec<usize>)>>,
    /// Values known on the host while planning: constants, folded values, and run-time
    /// values read back at barriers (the stage cache keys on these).
    pub known: Vec<Option<Tensor>>,
    /// Run-time values available on the host (graph inputs, CPU-node outputs, read-backs).
    pub on_host: Vec<bool>,
    /// Run-time values on the device, in some earlier stage's arena.
    pub on_device: Vec<Option<Slot>>,
    /// Host values that are views of other host values (Reshape-like nodes, If outputs).
    pub host_alias: Vec<Option<ValueId>>,
    /// Where planning resumes: a stack of node lists (the main graph, then the branches of
    /// the If nodes being inlined).
    pub frames: Vec<Frame>,
    /// The index of the next stage.
    pub stage: u32,
    /// Per graph output: the caller keeps it on the device (no read-back at the end).
    pub device_outputs: Arc<Vec<bool>>,
    needed: Arc<Vec<bool>>,
    order: Arc<Order>,
}

/// A position in a node list; `owner` is the If node whose taken branch the list is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub list: u32,
    pub index: usize,
    pub owner: Option<NodeId>,
}

/// A depth-first numbering of every node (a subgraph's nodes right after their owner), and
/// for each value the positions of the nodes that read it: a value is needed after a stage if
/// one of its readers has a position at or after the stage's stop.
#[derive(Debug, Default)]
struct Order {
    pos: Vec<Vec<usize>>,
    readers: Vec<Vec<usize>>,
}

impl Order {
    fn new(g: &Graph) -> Order {
        let mut o = Order { pos: vec![Vec::new(); g.subgraphs.len() + 1], readers: vec![Vec::new(); g.values.len()] };
        let mut next = 0usize;
        fn walk(g: &Graph, l: u32, o: &mut Order, next: &mut usize) {
            for n in g.list(l) {
                let p = *next;
                *next += 1;
                o.pos[l as usize].push(p);
                for v in n.reads() {
                    o.readers[v.idx()].push(p);
                }
                for sub in subgraphs_of(&n.op) {
                    walk(g, sub as u32 + 1, o, next);
                }
            }
        }
        walk(g, 0, &mut o, &mut next);
        o
    }
}

/// The subgraphs a control-flow op holds.
fn subgraphs_of(op: &crate::ir::Op) -> Vec<usize> {
    match op {
        crate::ir::Op::If(i) => vec![i.then_branch, i.else_branch],
        crate::ir::Op::Loop(l) => vec![l.body],
        crate::ir::Op::Scan(s) => vec![s.body],
        crate::ir::Op::SequenceMap(m) => vec![m.body],
        _ => vec![],
    }
}

/// Which values a graph's outputs need as data (a value read only by Shape/Size is not).
pub fn needed_values(g: &Graph) -> Vec<bool> {
    fn mark(g: &Graph, l: u32, needed: &mut Vec<bool>) {
        for n in g.list(l).iter().rev() {
            if !n.outputs.iter().flatten().any(|v| needed[v.idx()]) {
                continue;
            }
            let subs = subgraphs_of(&n.op);
            for &sub in &subs {
                for v in &g.subgraphs[sub].outputs {
                    needed[v.idx()] = true;
                }
                mark(g, sub as u32 + 1, needed);
            }
            if n.op.spec().reads_data() || !subs.is_empty() {
                for v in n.reads() {
                    needed[v.idx()] = true;
                }
            }
        }
    }
    let mut needed = vec![false; g.values.len()];
    for o in &g.outputs {
        needed[o.idx()] = true;
    }
    mark(g, 0, &mut needed);
    needed
}

impl PlanEnv {
    /// The state before the first stage, for concrete input shapes (in `g.inputs` order).
    pub fn start(g: &Graph, shapes: &[Vec<usize>]) -> PlanEnv {
        let nv = g.values.len();
        let mut env = PlanEnv {
            types: vec![None; nv],
            known: vec![None; nv],
            on_host: vec![false; nv],
            on_device: vec![None; nv],
            host_alias: vec![None; nv],
            frames: vec![Frame { list: 0, index: 0, owner: None }],
            stage: 0,
            device_outputs: Arc::new(vec![false; g.outputs.len()]),
            needed: Arc::new(needed_values(g)),
            order: Arc::new(Order::new(g)),
        };
        for (i, v) in g.values.iter().enumerate() {
            if let Some(k) = &v.konst {
                env.types[i] = Some((k.dtype(), k.shape().to_vec()));
                env.known[i] = Some(k.clone());
            }
        }
        for (&v, s) in g.inputs.iter().zip(shapes) {
            let dt = g.value(v).ty.as_ref().map(|t| t.dtype).unwrap_or(DType::F32);
            env.types[v.idx()] = Some((dt, s.clone()));
            env.on_host[v.idx()] = true;
        }
        env
    }

    /// Marks the graph outputs (by position) the caller keeps on the device: the stage that
    /// computes one keeps it alive in its arena to the end instead of reading it back.
    pub fn keep_on_device(mut self, device_outputs: &[bool]) -> PlanEnv {
        self.device_outputs = Arc::new(device_outputs.to_vec());
        self
    }

    /// Records a run-time value read back at a barrier.
    pub fn learn(&mut self, v: ValueId, t: Tensor) {
        self.types[v.idx()] = Some((t.dtype(), t.shape().to_vec()));
        self.known[v.idx()] = Some(t);
    }

    /// Records the type of a host value whose shape was known only once it was computed.
    pub fn learn_type(&mut self, v: ValueId, t: &Tensor) {
        self.types[v.idx()] = Some((t.dtype(), t.shape().to_vec()));
    }

    /// The position of the node where planning resumes (`usize::MAX` when done).
    fn position(&self, g: &Graph) -> usize {
        match self.frames.last() {
            Some(f) if f.index < g.list(f.list).len() => self.order.pos[f.list as usize][f.index],
            _ => usize::MAX,
        }
    }

    fn needed(&self, v: ValueId) -> bool {
        self.needed[v.idx()]
    }
}

/// How a stage ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StageEnd {
    /// The graph is done.
    Done,
    /// Another stage follows, planned once the values of `key` (and the shapes of `shapes`,
    /// host results whose shape is known only once computed) are known on the host; with both
    /// empty, unconditionally.
    Next { key: Vec<ValueId>, shapes: Vec<ValueId> },
}

/// One stage of a run: device steps, then read-backs and CPU-placed nodes.
#[derive(Clone, Debug)]
pub struct Stage<K> {
    pub index: u32,
    pub steps: Vec<Step<K>>,
    /// Sizes of this stage's activation arenas.
    pub arenas: Vec<u64>,
    pub plan_consts: Vec<Tensor>,
    /// Graph constants bound by this stage's steps.
    pub graph_consts: Vec<ValueId>,
    /// Host values written to this stage's arena before its steps.
    pub uploads: Vec<(ValueId, Slot)>,
    /// Device values copied to the host after the steps.
    pub readbacks: Vec<(ValueId, Slot)>,
    /// Nodes run on the CPU after the read-backs, in order.
    pub host_nodes: Vec<NodeId>,
    pub end: StageEnd,
    /// What became of each node this stage considered.
    pub fates: Vec<(NodeId, NodeFate)>,
    pub memory: MemoryStats,
    /// The planning state after this stage.
    pub env: PlanEnv,
}

/// Binding sizes are whole 4-byte words, at least 16 bytes: an empty tensor still binds one
/// element of the widest storage type (vec4 / f64 / u32 pairs).
fn padded(bytes: u64) -> u64 {
    bytes.max(16).div_ceil(4) * 4
}

fn node_err(g: &Graph, n: &Node, reason: impl Into<String>) -> Error {
    Error::node(n.label(g), &n.op_type, reason)
}

struct Root {
    size: u64,
    start: usize,
    end: usize,
    value: Option<ValueId>,
}

/// The host value of `v`: computed, read back, or a view (alias) of another host value.
pub fn host_value(env: &PlanEnv, host: &std::collections::HashMap<ValueId, Data>, v: ValueId) -> Option<Data> {
    if let Some(t) = host.get(&v) {
        return Some(t.clone());
    }
    if let Some(k) = &env.known[v.idx()] {
        return Some(Data::Tensor(k.clone()));
    }
    let src = env.host_alias[v.idx()]?;
    match host_value(env, host, src)? {
        Data::Tensor(t) => match &env.types[v.idx()] {
            Some((_, shape)) => t.reshape(shape).ok().map(Data::Tensor),
            None => Some(Data::Tensor(t)),
        },
        other => Some(other),
    }
}

fn advance(env: &mut PlanEnv) {
    env.frames.last_mut().expect("a frame").index += 1;
}

/// Plans the stage that starts where `env` stopped.
pub fn build_stage<L: Lowering>(
    g: &Graph,
    env: &PlanEnv,
    lowering: &L,
    limits: &PlanLimits,
    opts: PlanOptions,
) -> Result<Stage<L::Kernel>> {
    let start_frames = env.frames.clone();
    let mut env = env.clone();
    let stage = env.stage;
    let nv = g.values.len();
    let mut fates: Vec<(NodeId, NodeFate)> = Vec::new();
    let mut roots: Vec<Root> = Vec::new();
    let mut root_of: Vec<Option<usize>> = vec![None; nv];
    let mut uploads: Vec<ValueId> = Vec::new();
    let mut host_nodes: Vec<NodeId> = Vec::new();
    let mut readback: Vec<ValueId> = Vec::new();
    let mut lowered: Vec<(NodeId, Lowered<L::Kernel>, Vec<usize>, usize)> = Vec::new();
    let mut plan_consts: Vec<Tensor> = Vec::new();
    let size_of = |types: &Vec<Option<(DType, Vec<usize>)>>, v: ValueId| {
        let (d, s) = types[v.idx()].as_ref().expect("typed");
        padded(lowering.storage_bytes(*d, s.iter().product()))
    };
    let mut t = 0usize;
    let end = loop {
        // The node to plan; a finished branch list binds its If's outputs and returns to the
        // enclosing list.
        let (list, index) = {
            let f = env.frames.last().expect("a frame");
            (f.list, f.index)
        };
        if index >= g.list(list).len() {
            let f = env.frames.pop().expect("a frame");
            let Some(owner) = f.owner else { break StageEnd::Done };
            let sub = &g.subgraphs[f.list as usize - 1];
            for (slot, &src) in g.node(owner).outputs.iter().zip(&sub.outputs) {
                let Some(out) = slot else { continue };
                let out = *out;
                env.types[out.idx()] = env.types[src.idx()].clone();
                if let Some(k) = env.known[src.idx()].clone() {
                    env.known[out.idx()] = Some(k);
                }
                if let Some(r) = root_of[src.idx()] {
                    root_of[out.idx()] = Some(r);
                } else if let Some(d) = env.on_device[src.idx()].clone() {
                    env.on_device[out.idx()] = Some(d);
                }
                if env.on_host[src.idx()] {
                    env.on_host[out.idx()] = true;
                    env.host_alias[out.idx()] = Some(src);
                }
            }
            advance(&mut env);
            continue;
        }
        let id = NodeId { list, index: index as u32 };
        let node = g.node(id);
        let spec = node.op.spec();
        let node_needed = node.outputs.iter().flatten().any(|v| env.needed(*v));

        // Control flow: an If is inlined once its condition is known; Loop and Scan run on
        // the host (folded when everything they read is known).
        if crate::ops::control::is_control(&node.op) {
            if !node_needed {
                fates.push((id, NodeFate::Dead));
                advance(&mut env);
                continue;
            }
            if let crate::ir::Op::If(branches) = &node.op {
                let cond =
                    node.inputs.first().copied().flatten().ok_or_else(|| node_err(g, node, "If needs a condition"))?;
                let Some(c) = env.known[cond.idx()].clone() else {
                    if !env.on_host[cond.idx()] && !readback.contains(&cond) {
                        readback.push(cond);
                    }
                    break StageEnd::Next { key: vec![cond], shapes: vec![] };
                };
                let taken = c.to_i64_vec().map_err(|e| node_err(g, node, e))?.first().copied().unwrap_or(0) != 0;
                let b = if taken { branches.then_branch } else { branches.else_branch };
                fates.push((id, NodeFate::Inlined(if taken { "then" } else { "else" })));
                env.frames.push(Frame { list: b as u32 + 1, index: 0, owner: Some(id) });
                continue;
            }
            let tensors_out = node.outputs.iter().flatten().all(|v| g.value(*v).kind.is_tensor());
            if tensors_out && node.reads().all(|v| env.known[v.idx()].is_some()) {
                let ins: Vec<Option<Data>> =
                    node.inputs.iter().map(|s| s.and_then(|v| env.known[v.idx()].clone().map(Data::Tensor))).collect();
                let known = &env.known;
                let outs =
                    crate::ops::control::eval_control(g, node, &ins, &|v| known[v.idx()].clone().map(Data::Tensor))
                        .map_err(|e| node_err(g, node, e))?;
                for (slot, t) in node.outputs.iter().zip(outs) {
                    if let Some(v) = slot {
                        env.learn(*v, t.into_tensor().map_err(|e| node_err(g, node, e))?);
                    }
                }

                fates.push((id, NodeFate::Folded));
                advance(&mut env);
                continue;
            }
            if !opts.fallback {
                return Err(node_err(
                    g,
                    node,
                    format!("{} runs on the CPU (and CPU fallback is disabled)", node.op_type),
                ));
            }
            for v in node.reads() {
                if env.known[v.idx()].is_none() && !env.on_host[v.idx()] && !readback.contains(&v) {
                    readback.push(v);
                }
            }
            let mut pending = Vec::new();
            for v in node.outputs.iter().flatten() {
                env.on_host[v.idx()] = true;
                env.types[v.idx()] = None;
                pending.push(*v);
            }
            host_nodes.push(id);
            fates.push((id, NodeFate::Host(format!("{} runs on the CPU", node.op_type))));
            advance(&mut env);
            // Its output shapes are known once it has run.
            break StageEnd::Next { key: vec![], shapes: pending };
        }

        // Sequences and optionals live on the host: nodes that touch them run there. Tensor
        // outputs whose shape cannot be inferred yet are learned once computed.
        let touches_host_kinds =
            node.reads().chain(node.outputs.iter().flatten().copied()).any(|v| !g.value(v).kind.is_tensor());
        if touches_host_kinds {
            if !node_needed {
                fates.push((id, NodeFate::Dead));
                advance(&mut env);
                continue;
            }
            if !opts.fallback {
                return Err(node_err(
                    g,
                    node,
                    "sequences and optionals are kept on the CPU (and CPU fallback is disabled)",
                ));
            }
            let typed = node.inputs.iter().flatten().all(|v| env.types[v.idx()].is_some());
            let inferred = if typed {
                node_cx(
                    node,
                    g,
                    |v| env.types[v.idx()].as_ref().map(|(d, s)| ValueType { dtype: *d, dims: known_dims(s) }),
                    |v| env.known[v.idx()].as_ref(),
                )
                .ok()
                .and_then(|cx| spec.infer(&cx).ok())
            } else {
                None
            };
            for v in node.reads() {
                if env.known[v.idx()].is_none() && !env.on_host[v.idx()] && !readback.contains(&v) {
                    readback.push(v);
                }
            }
            let mut pending = Vec::new();
            for (k, slot) in node.outputs.iter().enumerate() {
                let Some(v) = slot else { continue };
                env.on_host[v.idx()] = true;
                let ty = inferred
                    .as_ref()
                    .and_then(|o| o.get(k))
                    .and_then(|t| crate::tensor::shape::concrete(&t.dims).map(|s| (t.dtype, s)));
                if ty.is_none() && g.value(*v).kind.is_tensor() {
                    pending.push(*v);
                }
                env.types[v.idx()] = ty;
            }
            host_nodes.push(id);
            fates.push((id, NodeFate::Host("sequences and optionals are kept on the host".into())));
            advance(&mut env);
            if !pending.is_empty() {
                break StageEnd::Next { key: vec![], shapes: pending };
            }
            continue;
        }

        // 1. Concrete inference (every node, so that Shape of a dead value still works).

        let cx = node_cx(
            node,
            g,
            |v| env.types[v.idx()].as_ref().map(|(d, s)| ValueType { dtype: *d, dims: known_dims(s) }),
            |v| env.known[v.idx()].as_ref(),
        )
        .map_err(|e| node_err(g, node, e))?;
        // A barrier: the shape depends on values known only at run time (the rule either
        // asked for a value or left dims unknown); plan the rest once they are read back.
        let barrier_key = || -> Vec<ValueId> {
            let mut key: Vec<ValueId> = spec
                .shape_inputs()
                .iter()
                .filter_map(|&i| node.inputs.get(i).copied().flatten())
                .filter(|v| env.known[v.idx()].is_none())
                .collect();
            key.dedup();
            key
        };
        let out = match spec.infer(&cx) {
            Ok(o) => o,
            Err(e) => {
                let key = if cx.missing_value.get().is_some() { barrier_key() } else { vec![] };
                if key.is_empty() {
                    return Err(node_err(g, node, e));
                }
                for &v in &key {
                    if !env.on_host[v.idx()] && !readback.contains(&v) {
                        readback.push(v);
                    }
                }
                break StageEnd::Next { key, shapes: vec![] };
            }
        };
        if out.iter().any(|t| crate::tensor::shape::concrete(&t.dims).is_none()) {
            let key = barrier_key();
            if !key.is_empty() {
                for &v in &key {
                    if !env.on_host[v.idx()] && !readback.contains(&v) {
                        readback.push(v);
                    }
                }
                break StageEnd::Next { key, shapes: vec![] };
            }
        }
        for (k, slot) in node.outputs.iter().enumerate() {
            if let Some(v) = slot {
                let ty = out.get(k).ok_or_else(|| node_err(g, node, "the op yields fewer outputs than declared"))?;
                let s = crate::tensor::shape::concrete(&ty.dims)
                    .ok_or_else(|| node_err(g, node, format!("could not determine a concrete output shape ({ty})")))?;
                g.limits
                    .check_tensor(&format!("output '{}'", g.value(*v).name), ty.dtype, &s)
                    .map_err(|e| Error::Limit(format!("node '{}' ({}): {e}", node.label(g), node.op_type)))?;
                env.types[v.idx()] = Some((ty.dtype, s));
            }
        }
        if !node_needed {
            fates.push((id, NodeFate::Dead));
            advance(&mut env);
            continue;
        }

        // 2. Host folding: every input known while planning.
        let all_known = node.inputs.iter().flatten().all(|v| env.known[v.idx()].is_some());
        // Outputs without elements need no kernel (and a kernel looping over a huge outer dim
        // of a zero-element tensor would hang): they are known from their shapes.
        let all_empty = node.outputs.iter().flatten().next().is_some()
            && node.outputs.iter().flatten().all(|v| env.types[v.idx()].as_ref().is_some_and(|(_, s)| s.contains(&0)));
        let folded = if all_empty {
            let mut outs = Vec::with_capacity(node.outputs.len());
            for slot in &node.outputs {
                let (d, s) = match slot.and_then(|v| env.types[v.idx()].clone()) {
                    Some(t) => t,
                    None => (crate::tensor::DType::F32, vec![0]),
                };
                outs.push(Tensor::zeros(d, &s).map_err(|e| node_err(g, node, e))?);
            }
            Some(outs)
        } else if all_known && spec.foldable() {
            let ins: Vec<Option<&Tensor>> =
                node.inputs.iter().map(|s| s.and_then(|v| env.known[v.idx()].as_ref())).collect();
            Some(spec.eval(&ins, node.outputs.len()).map_err(|e| node_err(g, node, e))?)
        } else {
            spec.eval_from_shapes(&cx).transpose().map_err(|e| node_err(g, node, e))?
        };
        if let Some(outs) = folded {
            for (slot, t) in node.outputs.iter().zip(outs) {
                if let Some(v) = slot {
                    env.learn(*v, t);
                }
            }
            fates.push((id, NodeFate::Folded));
            advance(&mut env);
            continue;
        }

        // 3. Aliases share their input's storage (device) or tensor (host).
        let extra_used = node.outputs.iter().skip(1).flatten().any(|v| env.needed(*v));
        if spec.is_alias() && !extra_used {
            if let (Some(src), Some(out)) = (node.inputs.first().copied().flatten(), node.outputs[0]) {
                let (d, s) = env.types[out.idx()].clone().unwrap();
                let on_dev = root_of[src.idx()].is_some() || env.on_device[src.idx()].is_some();
                if on_dev {
                    if let Some(r) = root_of[src.idx()] {
                        root_of[out.idx()] = Some(r);
                        roots[r].end = roots[r].end.max(t);
                    } else {
                        let prev = env.on_device[src.idx()].clone().unwrap();
                        env.on_device[out.idx()] = Some(Slot { buf: prev.buf, dtype: d, shape: s });
                    }
                    fates.push((id, NodeFate::Alias));
                    advance(&mut env);
                    continue;
                }
                if env.on_host[src.idx()] {
                    env.host_alias[out.idx()] = Some(src);
                    env.on_host[out.idx()] = true;
                    fates.push((id, NodeFate::Alias));
                    advance(&mut env);
                    continue;
                }
            }
        }

        // 4. Device lowering, else the CPU.
        let label = node.label(g).to_string();
        let operand = |v: ValueId| {
            let (d, s) = env.types[v.idx()].clone().expect("typed");
            Operand { dtype: d, shape: s, value: env.known[v.idx()].clone() }
        };
        let lcx = LowerCx {
            node,
            label: &label,
            inputs: node.inputs.iter().map(|s| s.map(operand)).collect(),
            outputs: node.outputs.iter().map(|s| s.filter(|v| env.needed(*v)).map(operand)).collect(),
            limits,
        };
        match lowering.lower(&lcx) {
            Ok(low) => {
                if !host_nodes.is_empty() {
                    // Device work after CPU nodes belongs to the next stage.
                    break StageEnd::Next { key: vec![], shapes: vec![] };
                }
                for v in node.inputs.iter().flatten() {
                    if env.known[v.idx()].is_some() {
                        continue;
                    }
                    if let Some(r) = root_of[v.idx()] {
                        roots[r].end = roots[r].end.max(t);
                    } else if env.on_device[v.idx()].is_none() {
                        if !env.on_host[v.idx()] {
                            return Err(node_err(g, node, format!("input '{}' is not available", g.value(*v).name)));
                        }
                        roots.push(Root { size: size_of(&env.types, *v), start: 0, end: t, value: Some(*v) });
                        root_of[v.idx()] = Some(roots.len() - 1);
                        uploads.push(*v);
                    }
                }
                for v in node.outputs.iter().flatten().filter(|v| env.needed(**v)) {
                    roots.push(Root { size: size_of(&env.types, *v), start: t, end: t, value: Some(*v) });
                    root_of[v.idx()] = Some(roots.len() - 1);
                }
                let mut scratch = Vec::new();
                for &s in &low.scratch {
                    roots.push(Root { size: padded(s), start: t, end: t, value: None });
                    scratch.push(roots.len() - 1);
                }
                let base = plan_consts.len();
                plan_consts.extend(low.consts.iter().cloned());
                lowered.push((id, low, scratch, base));
                fates.push((id, NodeFate::Dispatch(0..0)));
                t += 1;
            }
            Err(reason) if opts.fallback => {
                for v in node.reads() {
                    if env.known[v.idx()].is_none() && !env.on_host[v.idx()] && !readback.contains(&v) {
                        readback.push(v);
                    }
                }
                for v in node.outputs.iter().flatten() {
                    env.on_host[v.idx()] = true;
                }
                host_nodes.push(id);
                fates.push((id, NodeFate::Host(reason)));
            }
            Err(reason) => return Err(node_err(g, node, format!("{reason} (and CPU fallback is disabled)"))),
        }
        advance(&mut env);
    };

    // Graph outputs computed on the device come back to the host at the end of the stage that
    // made them, unless the caller keeps every use of them on the device.
    for &o in &g.outputs {
        let to_host =
            g.outputs.iter().enumerate().any(|(i, &x)| x == o && !env.device_outputs.get(i).copied().unwrap_or(false));
        if to_host
            && env.known[o.idx()].is_none()
            && !env.on_host[o.idx()]
            && root_of[o.idx()].is_some()
            && !readback.contains(&o)
        {
            readback.push(o);
        }
    }
    // Values read after this stage (later nodes, read-backs, outputs) live to its end.
    let stop = env.position(g);
    let final_t = t.max(1);
    for v in 0..nv {
        if let Some(r) = root_of[v] {
            let vid = ValueId(v as u32);
            if env.order.readers[v].iter().any(|&p| p >= stop) || g.outputs.contains(&vid) || readback.contains(&vid) {
                roots[r].end = final_t;
            }
        }
    }

    // Allocate.
    for r in &roots {
        if r.size > limits.max_binding {
            let what = r.value.map(|v| format!("'{}'", g.value(v).name)).unwrap_or_else(|| "a scratch buffer".into());
            return Err(Error::Limit(format!(
                "tensor {what} of {} bytes exceeds the adapter's largest storage binding ({} bytes)",
                r.size, limits.max_binding
            )));
        }
    }
    let ivs: Vec<Interval> = roots.iter().map(|r| Interval { size: r.size, start: r.start, end: r.end }).collect();
    let a = alloc::allocate(&ivs, limits.align, limits.max_buffer).map_err(Error::Limit)?;
    let root_buf = |r: usize| BufRef::Arena {
        stage,
        arena: a.placements[r].arena as u32,
        offset: a.placements[r].offset,
        size: roots[r].size,
    };
    for v in 0..nv {
        if let Some(r) = root_of[v] {
            if let Some((d, s)) = env.types[v].clone() {
                env.on_device[v] = Some(Slot { buf: root_buf(r), dtype: d, shape: s });
            }
        }
    }

    // Resolve bindings.
    let mut graph_consts: Vec<ValueId> = Vec::new();
    let mut plan_const_of: std::collections::HashMap<ValueId, u32> = Default::default();
    let mut steps = Vec::new();
    for (id, low, scratch, base) in lowered {
        let node = g.node(id);
        let first = steps.len();
        for d in low.dispatches {
            let mut bindings = Vec::with_capacity(d.bindings.len());
            for r in d.bindings {
                let b = match r {
                    Ref::Input(i) | Ref::Output(i) | Ref::InputSlice { input: i, .. } => {
                        let list = if matches!(r, Ref::Output(_)) { &node.outputs } else { &node.inputs };
                        let v = list
                            .get(i)
                            .copied()
                            .flatten()
                            .ok_or_else(|| node_err(g, node, format!("binding {r:?} names an absent slot")))?;
                        let full = if let Some(k) = &env.known[v.idx()] {
                            if g.value(v).konst.is_some() {
                                if !graph_consts.contains(&v) {
                                    graph_consts.push(v);
                                }
                                BufRef::GraphConst {
                                    value: v,
                                    offset: 0,
                                    size: padded(lowering.storage_bytes(k.dtype(), k.numel())),
                                }
                            } else {
                                let index = *plan_const_of.entry(v).or_insert_with(|| {
                                    plan_consts.push(k.clone());
                                    (plan_consts.len() - 1) as u32
                                });
                                BufRef::PlanConst {
                                    stage,
                                    index,
                                    offset: 0,
                                    size: padded(lowering.storage_bytes(k.dtype(), k.numel())),
                                }
                            }
                        } else if let Some(s) = &env.on_device[v.idx()] {
                            s.buf
                        } else {
                            return Err(node_err(
                                g,
                                node,
                                format!("value '{}' has no device storage", g.value(v).name),
                            ));
                        };
                        match r {
                            Ref::InputSlice { offset, size, .. } => {
                                full.narrow(offset, size).map_err(|e| node_err(g, node, e))?
                            }
                            _ => full,
                        }
                    }
                    Ref::Scratch(i) => {
                        root_buf(*scratch.get(i).ok_or_else(|| node_err(g, node, format!("bad scratch index {i}")))?)
                    }
                    Ref::Const(i) => {
                        let k = &plan_consts[base + i];
                        BufRef::PlanConst {
                            stage,
                            index: (base + i) as u32,
                            offset: 0,
                            size: padded(lowering.storage_bytes(k.dtype(), k.numel())),
                        }
                    }
                };
                if b.size() > limits.max_binding {
                    return Err(Error::Limit(format!(
                        "node '{}' ({}) binds {} bytes at once, over the adapter's storage binding limit of {} bytes",
                        node.label(g),
                        node.op_type,
                        b.size(),
                        limits.max_binding
                    )));
                }
                bindings.push(b);
            }
            steps.push(Step { node: id, kernel: d.kernel, bindings });
        }
        if let Some(f) = fates.iter_mut().find(|(n, _)| *n == id) {
            f.1 = NodeFate::Dispatch(first..steps.len());
        }
    }

    let slot_of = |v: &ValueId| env.on_device[v.idx()].clone().expect("device value");
    let uploads: Vec<(ValueId, Slot)> = uploads.iter().map(|v| (*v, slot_of(v))).collect();
    let readbacks: Vec<(ValueId, Slot)> = readback.iter().map(|v| (*v, slot_of(v))).collect();
    for (v, _) in &readbacks {
        env.on_host[v.idx()] = true;
    }
    let memory = MemoryStats {
        peak_activation_bytes: a.peak(),
        activation_lower_bound_bytes: a.lower_bound,
        arenas: a.arenas.len(),
        weight_bytes: graph_consts.iter().map(|c| g.value(*c).konst.as_ref().unwrap().byte_len() as u64).sum(),
        plan_const_bytes: plan_consts.iter().map(|c| c.byte_len() as u64).sum(),
    };
    let stage_bytes =
        memory.peak_activation_bytes.saturating_add(memory.weight_bytes).saturating_add(memory.plan_const_bytes);
    g.limits
        .check_bytes(&format!("stage {} (activations, weights and plan constants)", env.stage), stage_bytes)
        .map_err(Error::Limit)?;
    if let StageEnd::Next { key, shapes } = &end {
        let stuck = env.frames == start_frames && steps.is_empty() && host_nodes.is_empty() && shapes.is_empty();
        if stuck && key.iter().all(|v| env.known[v.idx()].is_some()) {
            let f = env.frames.last().unwrap();
            return Err(node_err(
                g,
                g.node(NodeId { list: f.list, index: f.index as u32 }),
                "planning made no progress",
            ));
        }
    }
    env.stage += 1;
    Ok(Stage {
        index: stage,
        steps,
        arenas: a.arenas,
        plan_consts,
        graph_consts,
        uploads,
        readbacks,
        host_nodes,
        end,
        fates,
        memory,
        env,
    })
}
