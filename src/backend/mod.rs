//! Backends execute chains of [`Stage`]s: [`cpu`] with the ops' reference kernels, [`wgpu`]
//! with WGSL compute shaders. [`Driver`] holds what they share: the stage tree cache (one
//! root per input-shape signature, one child per set of values read back at a barrier), the
//! run loop, and the CPU execution of host-placed nodes. [`resident`] holds the device-resident
//! tensors a run may take as inputs and keep as outputs (IO binding).

pub mod cpu;
pub mod profile;
pub mod resident;
pub mod wgpu;

use crate::error::{Error, Result};
use crate::ir::{Graph, ValueId};
use crate::plan::{self, host_value, KernelInfo, MemoryStats, NodeFate, PlanEnv, Slot, Stage, StageEnd};
use crate::tensor::{Data, Tensor};
use profile::{host_now_ns, Clock, Profile, RawTiming, StepTiming};
use resident::{Bound, DeviceTensor, TransferStats};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A backend bound to one graph.
pub(crate) trait Engine: Send + Sync {
    /// Runs the graph; `inputs` follow `graph.inputs` order and are already validated.
    fn run(&self, inputs: &[Data]) -> Result<Vec<Data>>;
    /// Device-resident inputs and outputs (the engine's driver).
    fn io(&self) -> &dyn DriverIo;
    /// Builds (and caches) the first stage for these input shapes ahead of the first run.
    fn prepare(&self, shapes: &[Vec<usize>]) -> Result<()>;
    /// The plan for these input shapes, as far as it can be planned without running.
    fn describe(&self, shapes: &[Vec<usize>]) -> Result<PlanReport>;
    /// The device that runs the plan.
    fn device_name(&self) -> String;
    /// Compute pipelines compiled so far on the device (none for the CPU).
    fn pipelines_compiled(&self) -> Option<usize> {
        None
    }
    /// Records per-step timings of the following runs (see [`profile`]).
    fn set_profiling(&self, on: bool);
    /// The timings of the last run made with profiling on.
    fn last_profile(&self) -> Option<Profile>;
}

/// The IO-binding entry points of a driver.
pub(crate) trait DriverIo: Send + Sync {
    /// Runs the graph on host or device inputs (`graph.inputs` order, validated); the outputs
    /// flagged in `device_outputs` (graph output order) stay on the device.
    fn run_io(&self, inputs: Vec<Bound>, device_outputs: &[bool]) -> Result<Vec<Bound>>;
    /// Uploads a tensor to the session's device.
    fn to_device(&self, t: &Tensor) -> Result<DeviceTensor>;
    /// Host↔device transfers so far.
    fn transfer_stats(&self) -> TransferStats;
}

impl<B: StageBackend> DriverIo for Driver<B> {
    fn run_io(&self, inputs: Vec<Bound>, device_outputs: &[bool]) -> Result<Vec<Bound>> {
        Driver::run_io(self, inputs, device_outputs)
    }
    fn to_device(&self, t: &Tensor) -> Result<DeviceTensor> {
        self.backend.upload(t)
    }
    fn transfer_stats(&self) -> TransferStats {
        self.backend.transfer_stats()
    }
}

/// What `info --plan` prints.
#[derive(Clone, Debug)]
pub struct PlanReport {
    pub text: String,
    pub memory: MemoryStats,
    pub stages: usize,
    pub dispatches: usize,
    pub nodes_folded: usize,
    pub nodes_aliased: usize,
    pub nodes_on_cpu: usize,
    /// False when a barrier stops the description (later stages depend on run-time values).
    pub complete: bool,
}

/// What a backend provides to the shared driver.
pub(crate) trait StageBackend: Send + Sync {
    type Kernel: KernelInfo;
    /// A stage with its device resources.
    type Prepared: Send + Sync;
    /// Per-run device state (e.g. host arenas).
    type RunState: Default;

    fn plan(&self, g: &Graph, env: &PlanEnv) -> Result<Stage<Self::Kernel>>;
    /// `chain` holds the earlier stages of the same run, whose buffers this stage may bind.
    fn prepare(&self, g: &Graph, stage: Stage<Self::Kernel>, chain: &[&Self::Prepared]) -> Result<Self::Prepared>;
    fn stage<'a>(&self, p: &'a Self::Prepared) -> &'a Stage<Self::Kernel>;
    /// Uploads, device steps and read-backs of one stage.
    /// `dev` holds the run's device-resident inputs (uploads of those are device copies).
    fn run_device(
        &self,
        g: &Graph,
        p: &Self::Prepared,
        host: &mut HashMap<ValueId, Data>,
        dev: &HashMap<ValueId, DeviceTensor>,
        state: &mut Self::RunState,
    ) -> Result<()>;
    /// `run_device`, also timing each step: (step index, start, duration) on [`Self::clock`],
    /// and why there are no timings where there are none.
    fn run_device_profiled(
        &self,
        g: &Graph,
        p: &Self::Prepared,
        host: &mut HashMap<ValueId, Data>,
        dev: &HashMap<ValueId, DeviceTensor>,
        state: &mut Self::RunState,
    ) -> Result<(Vec<RawTiming>, Option<String>)> {
        self.run_device(g, p, host, dev, state)?;
        Ok((vec![], Some("this backend does not time its steps".into())))
    }
    /// The clock of `run_device_profiled`'s timings.
    fn clock(&self) -> Clock {
        Clock::Host
    }
    /// Why a device tensor cannot be an input of this backend (it lives on another device).
    fn check_device(&self, t: &DeviceTensor) -> std::result::Result<(), String>;
    /// Reads a device input to the host (a counted download).
    fn download(&self, t: &DeviceTensor) -> Result<Tensor>;
    /// Puts a host tensor on the device (a counted upload).
    fn upload(&self, t: &Tensor) -> Result<DeviceTensor>;
    /// Copies values the finished run holds on the device (`slots`, in the arenas of `last`'s
    /// chain) into device tensors of their own.
    fn export(&self, last: &Self::Prepared, state: &Self::RunState, slots: &[&Slot]) -> Result<Vec<DeviceTensor>>;
    fn transfer_stats(&self) -> TransferStats;
}

/// The device input whose bytes `v` holds (itself, or through host aliases such as a Reshape
/// of a graph input), unless the value is on the host.
pub(crate) fn device_source<'a>(
    env: &PlanEnv,
    host: &HashMap<ValueId, Data>,
    dev: &'a HashMap<ValueId, DeviceTensor>,
    mut v: ValueId,
) -> Option<&'a DeviceTensor> {
    loop {
        if let Some(t) = dev.get(&v) {
            return Some(t);
        }
        if host.contains_key(&v) || env.known[v.idx()].is_some() {
            return None;
        }
        v = env.host_alias[v.idx()]?;
    }
}

/// A prepared stage and its children, keyed by the values read back at its barrier.
pub(crate) struct StageNode<P> {
    pub prepared: P,
    children: Mutex<HashMap<Vec<Vec<u8>>, Arc<StageNode<P>>>>,
}

/// Stages one run may chain (each barrier or CPU-placed group starts one).
const MAX_STAGES: usize = 100_000;

/// Prepared plans kept per session for input shape signatures, and per stage for the values
/// read back at its barrier. Past this, the cache is emptied before the next insertion, so a
/// session fed ever new shapes or shape values (found by the `run` fuzz target: 20,000 runs
/// held 721 MB) keeps bounded memory; evicted plans are rebuilt when seen again.
const MAX_CACHED_PLANS: usize = 256;

fn shape_bytes(t: &Tensor) -> Vec<u8> {
    let mut k = vec![0xff];
    k.extend_from_slice(&t.dtype().onnx_code().to_le_bytes());
    for d in t.shape() {
        k.extend_from_slice(&(*d as u64).to_le_bytes());
    }
    k
}

fn key_bytes(t: &Tensor) -> Vec<u8> {
    let mut k = Vec::new();
    k.extend_from_slice(&t.dtype().onnx_code().to_le_bytes());
    for d in t.shape() {
        k.extend_from_slice(&(*d as u64).to_le_bytes());
    }
    k.extend_from_slice(t.bytes());
    k
}

/// The shared run loop and stage cache.
pub(crate) struct Driver<B: StageBackend> {
    pub graph: Arc<Graph>,
    pub backend: B,
    /// Keyed by the input shapes and which outputs stay on the device.
    roots: Mutex<HashMap<(Vec<Vec<usize>>, Vec<bool>), (Arc<StageNode<B::Prepared>>, Arc<Mutex<()>>)>>,
    profiling: AtomicBool,
    last_profile: Mutex<Option<Profile>>,
}

impl<B: StageBackend> Driver<B> {
    pub fn new(graph: Arc<Graph>, backend: B) -> Self {
        Driver {
            graph,
            backend,
            roots: Mutex::new(HashMap::new()),
            profiling: AtomicBool::new(false),
            last_profile: Mutex::new(None),
        }
    }

    pub fn set_profiling(&self, on: bool) {
        self.profiling.store(on, Ordering::SeqCst);
    }

    pub fn last_profile(&self) -> Option<Profile> {
        self.last_profile.lock().unwrap().clone()
    }

    fn root(
        &self,
        shapes: &[Vec<usize>],
        device_outputs: &[bool],
    ) -> Result<(Arc<StageNode<B::Prepared>>, Arc<Mutex<()>>)> {
        let key = (shapes.to_vec(), device_outputs.to_vec());
        if let Some(r) = self.roots.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(r.clone());
        }
        let env = PlanEnv::start(&self.graph, shapes).keep_on_device(device_outputs);
        let st = self.backend.plan(&self.graph, &env)?;
        let node =
            Arc::new(StageNode { prepared: self.backend.prepare(&self.graph, st, &[])?, children: Default::default() });
        let entry = (node, Arc::new(Mutex::new(())));
        let mut roots = self.roots.lock().unwrap_or_else(|e| e.into_inner());
        if roots.len() >= MAX_CACHED_PLANS {
            roots.clear();
        }
        roots.insert(key, entry.clone());
        Ok(entry)
    }

    pub fn prepare(&self, shapes: &[Vec<usize>]) -> Result<()> {
        self.root(shapes, &vec![false; self.graph.outputs.len()]).map(|_| ())
    }

    pub fn run(&self, inputs: &[Data]) -> Result<Vec<Data>> {
        let outs =
            self.run_io(inputs.iter().cloned().map(Bound::Host).collect(), &vec![false; self.graph.outputs.len()])?;
        outs.into_iter()
            .map(|b| match b {
                Bound::Host(d) => Ok(d),
                Bound::Device(t) => self.backend.download(&t).map(Data::Tensor),
            })
            .collect()
    }

    /// Downloads the device input behind `v` (if any, and not already on the host) so that
    /// `host_value` finds it.
    fn materialize(
        &self,
        env: &PlanEnv,
        host: &mut HashMap<ValueId, Data>,
        dev: &HashMap<ValueId, DeviceTensor>,
        v: ValueId,
    ) -> Result<()> {
        let mut u = v;
        loop {
            if host.contains_key(&u) || env.known[u.idx()].is_some() {
                return Ok(());
            }
            if let Some(t) = dev.get(&u) {
                host.insert(u, Data::Tensor(self.backend.download(t)?));
                return Ok(());
            }
            match env.host_alias[u.idx()] {
                Some(s) => u = s,
                None => return Ok(()),
            }
        }
    }

    pub fn run_io(&self, inputs: Vec<Bound>, device_outputs: &[bool]) -> Result<Vec<Bound>> {
        let g = &*self.graph;
        let shapes: Vec<Vec<usize>> = inputs
            .iter()
            .map(|d| match d {
                Bound::Host(Data::Tensor(t)) => t.shape().to_vec(),
                Bound::Device(t) => t.shape().to_vec(),
                _ => vec![],
            })
            .collect();
        let mut host: HashMap<ValueId, Data> = HashMap::new();
        let mut dev: HashMap<ValueId, DeviceTensor> = HashMap::new();
        for (&v, b) in g.inputs.iter().zip(inputs) {
            match b {
                Bound::Host(d) => {
                    host.insert(v, d);
                }
                Bound::Device(t) => {
                    self.backend.check_device(&t).map_err(|e| Error::input(&g.value(v).name, e))?;
                    dev.insert(v, t);
                }
            }
        }
        let (root, lock) = self.root(&shapes, device_outputs)?;
        // Runs of one shape signature share the stages' buffers: one at a time.
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut state = B::RunState::default();
        let mut chain: Vec<Arc<StageNode<B::Prepared>>> = vec![root];
        let mut prof = self.profiling.load(Ordering::SeqCst).then(|| (host_now_ns(), Profile::default()));
        loop {
            let node = chain.last().unwrap().clone();
            let st = self.backend.stage(&node.prepared);
            match &mut prof {
                None => {
                    self.backend.run_device(g, &node.prepared, &mut host, &dev, &mut state)?;
                    for &n in &st.host_nodes {
                        for v in g.node(n).reads() {
                            self.materialize(&st.env, &mut host, &dev, v)?;
                        }
                        run_host_node(g, n, &st.env, &mut host)?;
                    }
                }
                Some((_, p)) => {
                    let (raw, note) =
                        self.backend.run_device_profiled(g, &node.prepared, &mut host, &dev, &mut state)?;
                    p.note = p.note.take().or(note);
                    for (i, start, nanos) in raw {
                        let s = &st.steps[i];
                        p.steps.push(step_timing(
                            g,
                            st.index,
                            i,
                            s.node,
                            s.kernel.label(),
                            start,
                            nanos,
                            self.backend.clock(),
                        ));
                    }
                    for (k, &n) in st.host_nodes.iter().enumerate() {
                        for v in g.node(n).reads() {
                            self.materialize(&st.env, &mut host, &dev, v)?;
                        }
                        let t0 = host_now_ns();
                        run_host_node(g, n, &st.env, &mut host)?;
                        let t1 = host_now_ns();
                        let i = st.steps.len() + k;
                        p.steps.push(step_timing(g, st.index, i, n, "host".into(), t0, t1 - t0, Clock::Host));
                    }
                }
            }
            if let StageEnd::Next { key, shapes } = &st.end {
                for &v in key.iter().chain(shapes) {
                    self.materialize(&st.env, &mut host, &dev, v)?;
                }
            }
            let get = |v: &ValueId| {
                host_value(&st.env, &host, *v)
                    .ok_or_else(|| Error::Model(format!("'{}' is not on the host", g.value(*v).name)))
            };
            match &st.end {
                StageEnd::Done => {
                    let outs = self.finish(&st.env, &node.prepared, &state, &mut host, &dev, device_outputs);
                    if let Some((t0, mut p)) = prof {
                        p.wall_ns = host_now_ns() - t0;
                        for clock in [Clock::Gpu, Clock::Host] {
                            let origin = p.steps.iter().filter(|s| s.clock == clock).map(|s| s.start_ns).min();
                            for s in p.steps.iter_mut().filter(|s| s.clock == clock) {
                                s.start_ns -= origin.unwrap_or(0);
                            }
                        }
                        *self.last_profile.lock().unwrap() = Some(p);
                    }
                    return outs;
                }
                StageEnd::Next { key, shapes } => {
                    let tensor = |v: &ValueId| {
                        get(v)?.into_tensor().map_err(|e| Error::Model(format!("'{}': {e}", g.value(*v).name)))
                    };
                    let vals: Vec<Tensor> = key.iter().map(tensor).collect::<Result<_>>()?;
                    let shaped: Vec<Tensor> =
                        shapes.iter().filter(|v| g.value(**v).kind.is_tensor()).map(tensor).collect::<Result<_>>()?;
                    let shapes: Vec<ValueId> =
                        shapes.iter().copied().filter(|v| g.value(*v).kind.is_tensor()).collect();
                    let mut k: Vec<Vec<u8>> = vals.iter().map(key_bytes).collect();
                    k.extend(shaped.iter().map(shape_bytes));
                    let existing = node.children.lock().unwrap_or_else(|e| e.into_inner()).get(&k).cloned();
                    let child = match existing {
                        Some(c) => c,
                        None => {
                            let mut env = st.env.clone();
                            for (v, t) in key.iter().zip(vals) {
                                env.learn(*v, t);
                            }
                            for (v, t) in shapes.iter().zip(&shaped) {
                                env.learn_type(*v, t);
                            }
                            let s = self.backend.plan(g, &env)?;
                            let prev: Vec<&B::Prepared> = chain.iter().map(|n| &n.prepared).collect();
                            let c = Arc::new(StageNode {
                                prepared: self.backend.prepare(g, s, &prev)?,
                                children: Default::default(),
                            });
                            let mut children = node.children.lock().unwrap_or_else(|e| e.into_inner());
                            if children.len() >= MAX_CACHED_PLANS {
                                children.clear();
                            }
                            children.insert(k, c.clone());
                            c
                        }
                    };
                    chain.push(child);
                    if chain.len() > MAX_STAGES {
                        return Err(Error::Limit(format!("a run needs more than {MAX_STAGES} stages")));
                    }
                }
            }
        }
    }

    /// The graph outputs of a finished run: device tensors where asked for (a device input, or
    /// a view of one, passed through; else copied out of the arenas; else uploaded), the others
    /// on the host (read back by the last stage, or downloaded from a device input).
    fn finish(
        &self,
        env: &PlanEnv,
        last: &B::Prepared,
        state: &B::RunState,
        host: &mut HashMap<ValueId, Data>,
        dev: &HashMap<ValueId, DeviceTensor>,
        device_outputs: &[bool],
    ) -> Result<Vec<Bound>> {
        let g = &*self.graph;
        let mut outs: Vec<Option<Bound>> = vec![None; g.outputs.len()];
        let mut exports: Vec<(usize, &Slot)> = Vec::new();
        for (i, &v) in g.outputs.iter().enumerate() {
            if !device_outputs.get(i).copied().unwrap_or(false) {
                continue;
            }
            let name = &g.value(v).name;
            if !g.value(v).kind.is_tensor() {
                return Err(Error::Usage(format!(
                    "output '{name}' is a {}: only tensors stay on the device",
                    g.value(v).kind
                )));
            }
            if env.known[v.idx()].is_none() {
                if let Some(t) = device_source(env, host, dev, v) {
                    let shape =
                        env.types[v.idx()].as_ref().map(|(_, s)| s.clone()).unwrap_or_else(|| t.shape().to_vec());
                    outs[i] = Some(Bound::Device(t.reshaped(&shape)?));
                    continue;
                }
                if let Some(slot) = &env.on_device[v.idx()] {
                    exports.push((i, slot));
                    continue;
                }
            }
            let t = host_value(env, host, v)
                .ok_or_else(|| Error::Model(format!("'{name}' is not on the host")))?
                .into_tensor()
                .map_err(|e| Error::Model(format!("'{name}': {e}")))?;
            outs[i] = Some(Bound::Device(self.backend.upload(&t)?));
        }
        let slots: Vec<&Slot> = exports.iter().map(|(_, s)| *s).collect();
        for ((i, _), t) in exports.iter().zip(self.backend.export(last, state, &slots)?) {
            outs[*i] = Some(Bound::Device(t));
        }
        for (i, &v) in g.outputs.iter().enumerate() {
            if outs[i].is_none() {
                self.materialize(env, host, dev, v)?;
                let d = host_value(env, host, v)
                    .ok_or_else(|| Error::Model(format!("'{}' is not on the host", g.value(v).name)))?;
                outs[i] = Some(Bound::Host(d));
            }
        }
        Ok(outs.into_iter().flatten().collect())
    }

    /// Plans (without preparing) the stages that need no run-time values.
    pub fn describe(&self, shapes: &[Vec<usize>]) -> Result<PlanReport> {
        let g = &*self.graph;
        let mut env = PlanEnv::start(g, shapes);
        let mut stages = Vec::new();
        let complete = loop {
            let st = self.backend.plan(g, &env)?;
            let end = st.end.clone();
            env = st.env.clone();
            stages.push(st);
            match end {
                StageEnd::Done => break true,
                StageEnd::Next { key, shapes } if key.is_empty() && shapes.is_empty() => {}
                StageEnd::Next { .. } => break false,
            }
            if stages.len() > 10_000 {
                return Err(Error::Limit("more than 10,000 stages".into()));
            }
        };
        let refs: Vec<&Stage<B::Kernel>> = stages.iter().collect();
        let mut text = plan::describe(g, &refs);
        if !complete {
            text.push_str("(later stages depend on values computed at run time)\n");
        }
        let count = |f: fn(&NodeFate) -> bool| stages.iter().flat_map(|s| s.fates.iter()).filter(|(_, x)| f(x)).count();
        Ok(PlanReport {
            text,
            memory: MemoryStats::sum(stages.iter().map(|s| &s.memory)),
            stages: stages.len(),
            dispatches: stages.iter().map(|s| s.steps.len()).sum(),
            nodes_folded: count(|f| *f == NodeFate::Folded),
            nodes_aliased: count(|f| *f == NodeFate::Alias),
            nodes_on_cpu: count(|f| matches!(f, NodeFate::Host(_))),
            complete,
        })
    }
}

/// Checks the indices of every gather/scatter step of `st` whose index tensor is on the host
/// (graph inputs, values of CPU-placed nodes, read-backs) before the stage runs on the device
/// (see [`crate::ops::gather_scatter::validate_indices`]), sparing a device run. Indices computed on
/// the device itself are not seen here: the kernels report those (`shaders/layout/index_report_lib.wgsl`,
/// checked by the GPU executor after the run), reading zero or skipping the write meanwhile.
pub(crate) fn check_host_indices<K>(g: &Graph, st: &Stage<K>, host: &HashMap<ValueId, Data>) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for step in &st.steps {
        if !seen.insert(step.node) {
            continue;
        }
        let node = g.node(step.node);
        let (Some(Some(data)), Some(Some(idx))) = (node.inputs.first(), node.inputs.get(1)) else { continue };
        let Some(Data::Tensor(t)) = host.get(idx) else { continue };
        let Some((_, shape)) = &st.env.types[data.idx()] else { continue };
        if let Some(Err(e)) = crate::ops::gather_scatter::validate_indices(&node.op, shape, t) {
            return Err(Error::node(node.label(g), &node.op_type, e));
        }
    }
    Ok(())
}

/// A timing with the node's name and op type.
#[allow(clippy::too_many_arguments)]
fn step_timing(
    g: &Graph,
    stage: u32,
    step: usize,
    n: crate::ir::NodeId,
    kernel: String,
    start_ns: u64,
    nanos: u64,
    clock: Clock,
) -> StepTiming {
    let node = g.node(n);
    StepTiming {
        stage,
        step,
        node: node.label(g).to_string(),
        op_type: node.op_type.clone(),
        kernel,
        start_ns,
        nanos,
        clock,
    }
}

/// Runs one node on the CPU with host inputs (run-time values or plan-time constants).
pub(crate) fn run_host_node(
    g: &Graph,
    n: crate::ir::NodeId,
    env: &PlanEnv,
    host: &mut HashMap<ValueId, Data>,
) -> Result<()> {
    let node = g.node(n);
    let err = |e: String| Error::node(node.label(g), &node.op_type, e);
    let mut ins: Vec<Option<Data>> = Vec::with_capacity(node.inputs.len());
    for slot in &node.inputs {
        ins.push(match slot {
            None => None,
            Some(v) => Some(
                host_value(env, host, *v)
                    .ok_or_else(|| err(format!("input '{}' is not on the host", g.value(*v).name)))?,
            ),
        });
    }
    let outs = if crate::ops::control::is_control(&node.op) {
        let scope = |v: ValueId| host_value(env, host, v);
        crate::ops::control::eval_control(g, node, &ins, &scope).map_err(err)?
    } else {
        let refs: Vec<Option<&Data>> = ins.iter().map(|t| t.as_ref()).collect();
        node.op.spec().eval_data(&refs, node.outputs.len()).map_err(err)?
    };

    for (slot, t) in node.outputs.iter().zip(outs) {
        if let Some(v) = slot {
            host.insert(*v, t);
        }
    }
    Ok(())
}
