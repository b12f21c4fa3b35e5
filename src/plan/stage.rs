//! Building one [`Stage`]: concrete inference, host folding, placement (device or CPU),
//! barriers on run-time values, liveness and allocation. See the module docs of `plan`.

use super::alloc::{self, Interval};
use super::*;
use crate::error::{Error, Result};
use crate::ir::{infer::node_cx, Graph, ValueType};
use crate::tensor::shape::known_dims;
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
    /// The first node not yet planned.
    pub next_node: usize,
    /// The index of the next stage.
    pub stage: u32,
    needed: Arc<Vec<bool>>,
    consumers: Arc<Vec<Vec<usize>>>,
}

/// Which values a graph's outputs need as data (a value read only by Shape/Size is not).
pub fn needed_values(g: &Graph) -> Vec<bool> {
    let mut needed = vec![false; g.values.len()];
    for o in &g.outputs {
        needed[o.idx()] = true;
    }
    for n in g.nodes.iter().rev() {
        if n.outputs.iter().flatten().any(|v| needed[v.idx()]) && n.op.spec().reads_data() {
            for v in n.inputs.iter().flatten() {
                needed[v.idx()] = true;
            }
        }
    }
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
            next_node: 0,
            stage: 0,
            needed: Arc::new(needed_values(g)),
            consumers: Arc::new({
                let mut c = vec![Vec::new(); nv];
                for (i, n) in g.nodes.iter().enumerate() {
                    for v in n.inputs.iter().flatten() {
                        c[v.idx()].push(i);
                    }
                }
                c
            }),
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

    /// Records a run-time value read back at a barrier.
    pub fn learn(&mut self, v: ValueId, t: Tensor) {
        self.known[v.idx()] = Some(t);
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
    /// Another stage follows, planned once the values of `key` are known on the host (empty:
    /// unconditionally).
    Next { key: Vec<ValueId> },
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
    /// Host views computed before the uploads: `(out, src)`.
    pub host_aliases: Vec<(ValueId, ValueId)>,
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

/// Binding sizes are whole 4-byte words, at least one.
fn padded(bytes: u64) -> u64 {
    bytes.max(4).div_ceil(4) * 4
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

/// Plans the stage that starts at `env.next_node`.
pub fn build_stage<L: Lowering>(
    g: &Graph,
    env: &PlanEnv,
    lowering: &L,
    limits: &PlanLimits,
    opts: PlanOptions,
) -> Result<Stage<L::Kernel>> {
    let mut env = env.clone();
    let stage = env.stage;
    let nv = g.values.len();
    let mut fates = Vec::new();
    let mut roots: Vec<Root> = Vec::new();
    let mut root_of: Vec<Option<usize>> = vec![None; nv];
    let mut uploads: Vec<ValueId> = Vec::new();
    let mut host_aliases: Vec<(ValueId, ValueId)> = Vec::new();
    let mut host_nodes: Vec<NodeId> = Vec::new();
    let mut readback: Vec<ValueId> = Vec::new();
    let mut lowered: Vec<(usize, Lowered<L::Kernel>, Vec<usize>, usize)> = Vec::new();
    let mut plan_consts: Vec<Tensor> = Vec::new();
    let size_of = |types: &Vec<Option<(DType, Vec<usize>)>>, v: ValueId| {
        let (d, s) = types[v.idx()].as_ref().expect("typed");
        padded(lowering.storage_bytes(*d, s.iter().product()))
    };
    let mut t = 0usize;
    let mut ni = env.next_node;
    let end = loop {
        let Some(node) = g.nodes.get(ni) else { break StageEnd::Done };
        let spec = node.op.spec();

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
                break StageEnd::Next { key };
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
                break StageEnd::Next { key };
            }
        }

        for (k, slot) in node.outputs.iter().enumerate() {
            if let Some(v) = slot {
                let ty = out.get(k).ok_or_else(|| node_err(g, node, "the op yields fewer outputs than declared"))?;
                let s = crate::tensor::shape::concrete(&ty.dims)
                    .ok_or_else(|| node_err(g, node, format!("could not determine a concrete output shape ({ty})")))?;
                env.types[v.idx()] = Some((ty.dtype, s));
            }
        }
        let node_needed = node.outputs.iter().flatten().any(|v| env.needed(*v));
        if !node_needed {
            fates.push((NodeId(ni as u32), NodeFate::Dead));
            ni += 1;
            continue;
        }

        // 2. Host folding: every input known while planning.
        let all_known = node.inputs.iter().flatten().all(|v| env.known[v.idx()].is_some());
        let folded = if all_known && spec.foldable() {
            let ins: Vec<Option<&Tensor>> =
                node.inputs.iter().map(|s| s.and_then(|v| env.known[v.idx()].as_ref())).collect();
            Some(spec.eval(&ins, node.outputs.len()).map_err(|e| node_err(g, node, e))?)
        } else {
            spec.eval_from_shapes(&cx).transpose().map_err(|e| node_err(g, node, e))?
        };
        if let Some(outs) = folded {
            for (slot, t) in node.outputs.iter().zip(outs) {
                if let Some(v) = slot {
                    env.types[v.idx()] = Some((t.dtype(), t.shape().to_vec()));
                    env.known[v.idx()] = Some(t);
                }
            }
            fates.push((NodeId(ni as u32), NodeFate::Folded));
            ni += 1;
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
                    fates.push((NodeId(ni as u32), NodeFate::Alias));
                    ni += 1;
                    continue;
                }
                if env.on_host[src.idx()] && host_nodes.is_empty() {
                    host_aliases.push((out, src));
                    env.on_host[out.idx()] = true;
                    fates.push((NodeId(ni as u32), NodeFate::Alias));
                    ni += 1;
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
                    break StageEnd::Next { key: vec![] };
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
                lowered.push((ni, low, scratch, base));
                t += 1;
            }
            Err(reason) if opts.fallback => {
                for v in node.inputs.iter().flatten() {
                    if env.known[v.idx()].is_none() && !env.on_host[v.idx()] && !readback.contains(v) {
                        readback.push(*v);
                    }
                }
                for v in node.outputs.iter().flatten() {
                    env.on_host[v.idx()] = true;
                }
                host_nodes.push(NodeId(ni as u32));
                fates.push((NodeId(ni as u32), NodeFate::Host(reason)));
            }
            Err(reason) => return Err(node_err(g, node, format!("{reason} (and CPU fallback is disabled)"))),
        }
        ni += 1;
    };

    // Graph outputs computed on the device come back to the host at the end of the stage that
    // made them.
    for &o in &g.outputs {
        if env.known[o.idx()].is_none() && !env.on_host[o.idx()] && root_of[o.idx()].is_some() && !readback.contains(&o)
        {
            readback.push(o);
        }
    }
    // Values read later (next stages, read-backs, outputs) live to the end of this stage.
    let final_t = t.max(1);
    for r in roots.iter_mut() {
        if let Some(v) = r.value {
            let later =
                env.consumers[v.idx()].iter().any(|&c| c >= ni) || g.outputs.contains(&v) || readback.contains(&v);
            if later {
                r.end = final_t;
            }
        }
    }
    // Aliases: a value aliased in this stage shares its root; extend for aliases' consumers.
    for v in 0..nv {
        if let Some(r) = root_of[v] {
            let vid = ValueId(v as u32);
            if env.consumers[v].iter().any(|&c| c >= ni) || g.outputs.contains(&vid) || readback.contains(&vid) {
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
            let (d, s) = env.types[v].clone().expect("typed");
            env.on_device[v] = Some(Slot { buf: root_buf(r), dtype: d, shape: s });
        }
    }

    // Resolve bindings.
    let mut graph_consts: Vec<ValueId> = Vec::new();
    let mut plan_const_of: std::collections::HashMap<ValueId, u32> = Default::default();
    let mut steps = Vec::new();
    for (ni, low, scratch, base) in lowered {
        let node = &g.nodes[ni];
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
            steps.push(Step { node: NodeId(ni as u32), kernel: d.kernel, bindings });
        }
        if let Some(f) = fates.iter_mut().find(|(n, _)| n.idx() == ni) {
            f.1 = NodeFate::Dispatch(first..steps.len());
        } else {
            fates.push((NodeId(ni as u32), NodeFate::Dispatch(first..steps.len())));
        }
    }
    fates.sort_by_key(|f| f.0);

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
    if matches!(end, StageEnd::Next { .. }) && ni == env.next_node && steps.is_empty() && host_nodes.is_empty() {
        if let StageEnd::Next { key } = &end {
            if key.iter().all(|v| env.known[v.idx()].is_some()) {
                return Err(node_err(g, &g.nodes[ni], "planning made no progress"));
            }
        }
    }
    env.next_node = ni;
    env.stage += 1;
    Ok(Stage {
        index: stage,
        steps,
        arenas: a.arenas,
        plan_consts,
        graph_consts,
        uploads,
        host_aliases,
        readbacks,
        host_nodes,
        end,
        fates,
        memory,
        env,
    })
}
