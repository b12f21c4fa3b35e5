//! Backends execute chains of [`Stage`]s: [`cpu`] with the ops' reference kernels, [`wgpu`]
//! with WGSL compute shaders. [`Driver`] holds what they share: the stage tree cache (one
//! root per input-shape signature, one child per set of values read back at a barrier), the
//! run loop, and the CPU execution of host-placed nodes.

pub mod cpu;
pub mod profile;
pub mod wgpu;

use crate::error::{Error, Result};
use crate::ir::{Graph, ValueId};
use crate::plan::{self, host_value, KernelInfo, MemoryStats, NodeFate, PlanEnv, Stage, StageEnd};
use crate::tensor::{Data, Tensor};
use profile::{host_now_ns, Clock, Profile, RawTiming, StepTiming};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A backend bound to one graph.
pub(crate) trait Engine: Send + Sync {
    /// Runs the graph; `inputs` follow `graph.inputs` order and are already validated.
    fn run(&self, inputs: &[Data]) -> Result<Vec<Data>>;
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
    fn run_device(
        &self,
        g: &Graph,
        p: &Self::Prepared,
        host: &mut HashMap<ValueId, Data>,
        state: &mut Self::RunState,
    ) -> Result<()>;
    /// `run_device`, also timing each step: (step index, start, duration) on [`Self::clock`],
    /// and why there are no timings where there are none.
    fn run_device_profiled(
        &self,
        g: &Graph,
        p: &Self::Prepared,
        host: &mut HashMap<ValueId, Data>,
        state: &mut Self::RunState,
    ) -> Result<(Vec<RawTiming>, Option<String>)> {
        self.run_device(g, p, host, state)?;
        Ok((vec![], Some("this backend does not time its steps".into())))
    }
    /// The clock of `run_device_profiled`'s timings.
    fn clock(&self) -> Clock {
        Clock::Host
    }
}

/// A prepared stage and its children, keyed by the values read back at its barrier.
pub(crate) struct StageNode<P> {
    pub prepared: P,
    children: Mutex<HashMap<Vec<Vec<u8>>, Arc<StageNode<P>>>>,
}

/// Stages one run may chain (each barrier or CPU-placed group starts one).
const MAX_STAGES: usize = 100_000;

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
    roots: Mutex<HashMap<Vec<Vec<usize>>, (Arc<StageNode<B::Prepared>>, Arc<Mutex<()>>)>>,
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

    fn root(&self, shapes: &[Vec<usize>]) -> Result<(Arc<StageNode<B::Prepared>>, Arc<Mutex<()>>)> {
        if let Some(r) = self.roots.lock().unwrap().get(shapes) {
            return Ok(r.clone());
        }
        let env = PlanEnv::start(&self.graph, shapes);
        let st = self.backend.plan(&self.graph, &env)?;
        let node =
            Arc::new(StageNode { prepared: self.backend.prepare(&self.graph, st, &[])?, children: Default::default() });
        let entry = (node, Arc::new(Mutex::new(())));
        self.roots.lock().unwrap().insert(shapes.to_vec(), entry.clone());
        Ok(entry)
    }

    pub fn prepare(&self, shapes: &[Vec<usize>]) -> Result<()> {
        self.root(shapes).map(|_| ())
    }

    pub fn run(&self, inputs: &[Data]) -> Result<Vec<Data>> {
        let g = &*self.graph;
        let shapes: Vec<Vec<usize>> = inputs
            .iter()
            .map(|d| match d {
                Data::Tensor(t) => t.shape().to_vec(),
                _ => vec![],
            })
            .collect();
        let (root, lock) = self.root(&shapes)?;
        // Runs of one shape signature share the stages' buffers: one at a time.
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut host: HashMap<ValueId, Data> = g.inputs.iter().copied().zip(inputs.iter().cloned()).collect();
        let mut state = B::RunState::default();
        let mut chain: Vec<Arc<StageNode<B::Prepared>>> = vec![root];
        let mut prof = self.profiling.load(Ordering::SeqCst).then(|| (host_now_ns(), Profile::default()));
        loop {
            let node = chain.last().unwrap().clone();
            let st = self.backend.stage(&node.prepared);
            match &mut prof {
                None => {
                    self.backend.run_device(g, &node.prepared, &mut host, &mut state)?;
                    for &n in &st.host_nodes {
                        run_host_node(g, n, &st.env, &mut host)?;
                    }
                }
                Some((_, p)) => {
                    let (raw, note) = self.backend.run_device_profiled(g, &node.prepared, &mut host, &mut state)?;
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
                        let t0 = host_now_ns();
                        run_host_node(g, n, &st.env, &mut host)?;
                        let t1 = host_now_ns();
                        let i = st.steps.len() + k;
                        p.steps.push(step_timing(g, st.index, i, n, "host".into(), t0, t1 - t0, Clock::Host));
                    }
                }
            }
            let get = |v: &ValueId| {
                host_value(&st.env, &host, *v)
                    .ok_or_else(|| Error::Model(format!("'{}' is not on the host", g.value(*v).name)))
            };
            match &st.end {
                StageEnd::Done => {
                    let outs = g.outputs.iter().map(get).collect();
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
                    let existing = node.children.lock().unwrap().get(&k).cloned();
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
                            node.children.lock().unwrap().insert(k, c.clone());
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
