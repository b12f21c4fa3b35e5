//! The CPU backend: executes the same stages as the GPU, step by step. Nodes whose tensors
//! are f32 and whose geometry [`fast`] covers run fast kernels on the arena slices in place,
//! split over the session's rayon pool; every other node runs its op's reference kernel.
//! Activations live in host arenas at the offsets the allocator chose, so every run also
//! exercises the memory plan; the arenas (and the kernels' scratch) are kept per stage and
//! reused by the next run. `ONNX_WGPU_CPU_PROFILE=1` prints per-op times after each run. Its
//! device tensors are host tensors, so device inputs and outputs move no data between
//! memories (its transfer statistics stay zero).

pub mod fast;

use super::resident::{Bound, DeviceData, DeviceTensor, TransferStats};
use super::{Driver, DriverIo, Engine, PlanReport, StageBackend};
use crate::error::{Error, Result};
use crate::ir::{Graph, ValueId};
use crate::plan::{
    build_stage, BufRef, KernelInfo, LowerCx, Lowered, Lowering, PlanEnv, PlanLimits, PlanOptions, Ref, Slot, Stage,
};
use crate::tensor::{DType, Data, Tensor};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A CPU step: run the node's fast kernel when it has one, else its reference kernel.
/// Bindings are the present inputs, then the outputs to compute, in slot order.
#[derive(Clone, Debug)]
pub struct CpuKernel {
    pub op: &'static str,
    pub inputs: Vec<bool>,
    pub outputs: Vec<bool>,
    pub fast: Option<Arc<fast::Fast>>,
}

impl KernelInfo for CpuKernel {
    fn label(&self) -> String {
        match &self.fast {
            Some(f) => format!("cpu_{}", f.label()),
            None => format!("cpu_{}", self.op.to_lowercase()),
        }
    }
}

pub struct CpuLowering;

impl Lowering for CpuLowering {
    type Kernel = CpuKernel;

    fn storage_bytes(&self, dtype: DType, n: usize) -> u64 {
        dtype.storage_bytes(n) as u64
    }

    fn lower(&self, cx: &LowerCx) -> Result<Lowered<CpuKernel>, String> {
        if cx.inputs.iter().flatten().chain(cx.outputs.iter().flatten()).any(|o| o.dtype == DType::String) {
            // String tensors have no byte layout for the arenas: the node runs on the host.
            return Err("string tensors are kept on the host".into());
        }
        let mut b = Vec::new();
        b.extend(cx.inputs.iter().enumerate().filter(|(_, o)| o.is_some()).map(|(i, _)| Ref::Input(i)));
        b.extend(cx.outputs.iter().enumerate().filter(|(_, o)| o.is_some()).map(|(i, _)| Ref::Output(i)));
        Ok(Lowered::single(
            CpuKernel {
                op: cx.node.op.kind(),
                inputs: cx.inputs.iter().map(|o| o.is_some()).collect(),
                outputs: cx.outputs.iter().map(|o| o.is_some()).collect(),
                fast: fast::Fast::select(cx).map(Arc::new),
            },
            b,
        ))
    }
}

/// Plan limits for host memory: 64-byte alignment, no binding limit.
pub const CPU_LIMITS: PlanLimits = PlanLimits { align: 64, max_binding: u64::MAX, max_buffer: u64::MAX };

pub(crate) struct CpuBackend;

/// Arenas and scratch of one stage, kept between runs.
#[derive(Default)]
struct Buffers {
    arenas: Vec<Vec<u64>>,
    scratch: Vec<f32>,
}

/// A planned stage with its buffers for reuse (runs of one shape signature are serialized by
/// the driver; the mutex makes that explicit).
pub(crate) struct CpuStage {
    stage: Stage<CpuKernel>,
    spare: Arc<Mutex<Option<Buffers>>>,
    /// Per step: a Clip/Relu of the next step fused onto this one's result.
    fused: Vec<Option<Fused>>,
}

/// A Clip/Relu run as part of the step before it: that step writes the clamped result
/// straight into the activation's output (its own output has no other reader).
#[derive(Clone, Copy, Debug)]
struct Fused {
    lo: f32,
    hi: f32,
    out: ValueId,
}

/// Finds Conv/MatMul/Gemm steps followed by a Clip/Relu that is the only reader of their
/// result, with plan-time bounds.
fn find_fusions(g: &Graph, st: &Stage<CpuKernel>) -> Vec<Option<Fused>> {
    let mut fused = vec![None; st.steps.len()];
    if !g.subgraphs.is_empty() {
        return fused;
    }
    let consumers = g.consumers();
    for i in 0..st.steps.len().saturating_sub(1) {
        let (a, b) = (&st.steps[i], &st.steps[i + 1]);
        if !a.kernel.fast.as_ref().is_some_and(|f| f.fusable()) || b.kernel.fast.is_none() {
            continue;
        }
        let (na, nb) = (g.node(a.node), g.node(b.node));
        let Some(v) = na.outputs.first().copied().flatten() else { continue };
        let Some(out) = nb.outputs.first().copied().flatten() else { continue };
        let only_reader = consumers[v.idx()].len() == 1
            && nb.inputs.first().copied().flatten() == Some(v)
            && !g.outputs.contains(&v)
            && !st.readbacks.iter().any(|(r, _)| *r == v);
        if !only_reader || st.env.on_device[out.idx()].is_none() {
            continue;
        }
        let known = |k: usize| -> Option<Option<f32>> {
            match nb.inputs.get(k).copied().flatten() {
                None => Some(None),
                Some(x) => {
                    let t = st.env.known[x.idx()].as_ref()?;
                    (t.dtype() == DType::F32 && t.numel() == 1).then(|| t.as_slice::<f32>().ok()?.first().copied())
                }
            }
        };
        let bounds = match &nb.op {
            crate::ir::Op::Unary(u) if u.op == crate::ops::elementwise::UnaryOp::Relu => Some((0.0, f32::INFINITY)),
            crate::ir::Op::Clip(c) => match (known(1), known(2)) {
                (Some(lo), Some(hi)) => {
                    Some((lo.or(c.min).unwrap_or(f32::NEG_INFINITY), hi.or(c.max).unwrap_or(f32::INFINITY)))
                }
                _ => None,
            },
            _ => None,
        };
        if let Some((lo, hi)) = bounds {
            fused[i] = Some(Fused { lo, hi, out });
        }
    }
    fused
}

/// Host arenas of every stage of one run; given back to their stages when the run ends.
#[derive(Default)]
pub(crate) struct CpuRun {
    arenas: HashMap<u32, Vec<Vec<u64>>>,
    scratch: Vec<f32>,
    homes: Vec<(u32, Arc<Mutex<Option<Buffers>>>)>,
    profile: Option<HashMap<String, (usize, Duration)>>,
    /// Wall-clock (step, start, duration) of each step, when profiling.
    timings: Option<Vec<super::profile::RawTiming>>,
}

impl Drop for CpuRun {
    fn drop(&mut self) {
        let mut scratch = std::mem::take(&mut self.scratch);
        for (stage, home) in self.homes.drain(..) {
            if let Some(arenas) = self.arenas.remove(&stage) {
                let b = Buffers { arenas, scratch: std::mem::take(&mut scratch) };
                *home.lock().unwrap_or_else(|e| e.into_inner()) = Some(b);
            }
        }
        if let Some(p) = self.profile.take() {
            let mut rows: Vec<_> = p.into_iter().collect();
            rows.sort_by_key(|r| std::cmp::Reverse(r.1 .1));
            let total: Duration = rows.iter().map(|r| r.1 .1).sum();
            eprintln!("cpu profile: {:.3} ms in kernels", total.as_secs_f64() * 1e3);
            for (k, (n, t)) in rows {
                eprintln!("  {:>9.3} ms {:>5}x {k}", t.as_secs_f64() * 1e3, n);
            }
        }
    }
}

impl CpuRun {
    fn bytes(&self, b: BufRef, len: usize) -> &[u8] {
        match b {
            BufRef::Arena { stage, arena, offset, .. } => {
                &bytemuck::cast_slice::<u64, u8>(&self.arenas[&stage][arena as usize])
                    [offset as usize..offset as usize + len]
            }
            _ => unreachable!("constants are read from the plan"),
        }
    }
    fn write(&mut self, b: BufRef, t: &Tensor) {
        if let BufRef::Arena { stage, arena, offset, .. } = b {
            let bytes = t.bytes();
            let a = self.arenas.get_mut(&stage).expect("stage arenas");
            bytemuck::cast_slice_mut::<u64, u8>(&mut a[arena as usize])[offset as usize..offset as usize + bytes.len()]
                .copy_from_slice(bytes);
        }
    }
    fn read(&self, slot: &Slot) -> Result<Tensor> {
        let len = slot.dtype.storage_bytes(slot.numel());
        Tensor::from_bytes(slot.dtype, &slot.shape, self.bytes(slot.buf, len))
            .map_err(|e| Error::Model(format!("host arena: {e}")))
    }
    /// Base pointer and byte length of an arena.
    fn arena_ptr(&mut self, stage: u32, arena: u32) -> Option<(*mut u8, usize)> {
        let a = self.arenas.get_mut(&stage)?.get_mut(arena as usize)?;
        Some((a.as_mut_ptr() as *mut u8, a.len() * 8))
    }
}

fn value_of(g: &Graph, st: &Stage<CpuKernel>, run: &CpuRun, v: ValueId) -> Result<Tensor> {
    if let Some(k) = &st.env.known[v.idx()] {
        return Ok(k.clone());
    }
    let slot = st.env.on_device[v.idx()]
        .as_ref()
        .ok_or_else(|| Error::Model(format!("value '{}' has no storage", g.value(v).name)))?;
    run.read(slot)
}

/// Where a fast kernel's operand lives: arena (stage, arena, byte range) or a plan constant.
enum Loc<'a> {
    Arena(u32, u32, usize, usize),
    Const(&'a [u8]),
}

fn loc_of<'a>(st: &'a Stage<CpuKernel>, v: ValueId) -> Option<Loc<'a>> {
    if let Some(k) = &st.env.known[v.idx()] {
        return Some(Loc::Const(k.bytes()));
    }
    let slot = st.env.on_device[v.idx()].as_ref()?;
    match slot.buf {
        BufRef::Arena { stage, arena, offset, .. } => {
            Some(Loc::Arena(stage, arena, offset as usize, slot.dtype.storage_bytes(slot.numel())))
        }
        _ => None,
    }
}

/// Runs a step's fast kernel on the arena bytes in place. `Ok(false)`: the operands cannot be
/// viewed in place (e.g. the output overlaps an input), so the caller runs the reference.
fn run_fast(
    g: &Graph,
    st: &Stage<CpuKernel>,
    run: &mut CpuRun,
    node: &crate::ir::Node,
    f: &fast::Fast,
    fused: Option<Fused>,
) -> Result<bool> {
    let out_v = match fused {
        Some(fu) => fu.out,
        None => match node.outputs.first().copied().flatten() {
            Some(v) => v,
            None => return Ok(false),
        },
    };
    let Some(Loc::Arena(os, oa, ooff, olen)) = loc_of(st, out_v) else { return Ok(false) };
    let mut ins: Vec<Option<Loc>> = Vec::with_capacity(node.inputs.len());
    for v in &node.inputs {
        match v {
            None => ins.push(None),
            Some(v) => match loc_of(st, *v) {
                Some(l) => ins.push(Some(l)),
                None => return Ok(false),
            },
        }
    }
    let overlaps = ins.iter().flatten().any(|l| match *l {
        Loc::Arena(s, a, off, len) => s == os && a == oa && off < ooff + olen && ooff < off + len,
        Loc::Const(_) => false,
    });
    if overlaps {
        return Ok(false);
    }
    let mut views: Vec<Option<&[u8]>> = Vec::with_capacity(ins.len());
    for l in &ins {
        views.push(match l {
            None => None,
            Some(Loc::Const(b)) => Some(b),
            Some(Loc::Arena(s, a, off, len)) => {
                let (s, a, off, len) = (*s, *a, *off, *len);
                let Some((p, total)) = run.arena_ptr(s, a) else { return Ok(false) };
                if off + len > total {
                    return Ok(false);
                }
                // SAFETY: in bounds (checked), and disjoint from the output range (checked
                // above); the arenas are not resized while the views live.
                Some(unsafe { std::slice::from_raw_parts(p.add(off) as *const u8, len) })
            }
        });
    }
    let Some((p, total)) = run.arena_ptr(os, oa) else { return Ok(false) };
    if ooff + olen > total {
        return Ok(false);
    }
    // SAFETY: in bounds and disjoint from every input view.
    let out = unsafe { std::slice::from_raw_parts_mut(p.add(ooff), olen) };
    let mut scratch = std::mem::take(&mut run.scratch);
    let r = f.run(&views, out, &mut scratch, fused.map(|fu| (fu.lo, fu.hi)));
    run.scratch = scratch;
    r.map_err(|e| Error::node(node.label(g), &node.op_type, e))?;
    Ok(true)
}

impl StageBackend for CpuBackend {
    type Kernel = CpuKernel;
    type Prepared = CpuStage;
    type RunState = CpuRun;

    fn plan(&self, g: &Graph, env: &PlanEnv) -> Result<Stage<CpuKernel>> {
        build_stage(g, env, &CpuLowering, &CPU_LIMITS, PlanOptions { fallback: true })
    }

    fn prepare(&self, g: &Graph, stage: Stage<CpuKernel>, _chain: &[&CpuStage]) -> Result<CpuStage> {
        let fused = find_fusions(g, &stage);
        Ok(CpuStage { stage, spare: Default::default(), fused })
    }

    fn stage<'a>(&self, p: &'a CpuStage) -> &'a Stage<CpuKernel> {
        &p.stage
    }

    fn run_device(
        &self,
        g: &Graph,
        p: &CpuStage,
        host: &mut HashMap<ValueId, Data>,
        dev: &HashMap<ValueId, DeviceTensor>,
        run: &mut CpuRun,
    ) -> Result<()> {
        let st = &p.stage;
        if run.homes.is_empty() && std::env::var_os("ONNX_WGPU_CPU_PROFILE").is_some_and(|v| v != "0") {
            run.profile = Some(HashMap::new());
        }
        let spare = p.spare.lock().unwrap_or_else(|e| e.into_inner()).take();
        let fits = |b: &Buffers| b.arenas.len() == st.arenas.len();
        let arenas = match spare {
            Some(b) if fits(&b) => {
                if b.scratch.len() > run.scratch.len() {
                    run.scratch = b.scratch;
                }
                b.arenas
            }
            _ => st.arenas.iter().map(|&s| vec![0u64; (s as usize).div_ceil(8)]).collect(),
        };
        run.arenas.insert(st.index, arenas);
        run.homes.push((st.index, p.spare.clone()));
        for (v, slot) in &st.uploads {
            if let Some(d) = super::device_source(&st.env, host, dev, *v) {
                run.write(slot.buf, &self.download(d)?);
                continue;
            }
            let t = crate::plan::host_value(&st.env, host, *v)
                .ok_or_else(|| Error::Model(format!("'{}' is not on the host", g.value(*v).name)))?
                .into_tensor()
                .map_err(|e| Error::Model(format!("'{}': {e}", g.value(*v).name)))?;
            run.write(slot.buf, &t);
        }
        let mut skip_next = false;
        for (i, step) in st.steps.iter().enumerate() {
            if std::mem::take(&mut skip_next) {
                continue;
            }
            let ts = run.timings.is_some().then(super::profile::host_now_ns);
            let node = g.node(step.node);
            let t0 = run.profile.is_some().then(Instant::now);
            let mut done = false;
            if let Some(f) = &step.kernel.fast {
                // A fused activation writes into the activation's output, which may overlap this
                // node's inputs: then the two steps run apart.
                if p.fused[i].is_some() {
                    done = run_fast(g, st, run, node, f, p.fused[i])?;
                    skip_next = done;
                }
                if !done {
                    done = run_fast(g, st, run, node, f, None)?;
                }
            }
            if !done {
                run_reference(g, st, run, node, &step.kernel)?;
            }
            if let (Some(t0), Some(prof)) = (t0, run.profile.as_mut()) {
                let how = if done { step.kernel.label() } else { format!("{} (reference)", step.kernel.label()) };
                let key = format!("{} {how}", node.op_type);
                let e = prof.entry(key).or_default();
                e.0 += 1;
                e.1 += t0.elapsed();
            }
            if let (Some(ts), Some(tm)) = (ts, run.timings.as_mut()) {
                tm.push((i, ts, super::profile::host_now_ns() - ts));
            }
        }
        for (v, slot) in &st.readbacks {
            host.insert(*v, Data::Tensor(run.read(slot)?));
        }
        Ok(())
    }

    fn check_device(&self, t: &DeviceTensor) -> std::result::Result<(), String> {
        match &t.data {
            DeviceData::Host(_) => Ok(()),
            DeviceData::Gpu(_) => Err(format!(
                "a device tensor on {} cannot feed a session on the CPU (download it with to_host)",
                t.device()
            )),
        }
    }

    fn download(&self, t: &DeviceTensor) -> Result<Tensor> {
        match &t.data {
            DeviceData::Host(h) => Ok(h.clone()),
            DeviceData::Gpu(_) => Err(Error::Usage(format!("the CPU backend cannot read a tensor on {}", t.device()))),
        }
    }

    fn upload(&self, t: &Tensor) -> Result<DeviceTensor> {
        Ok(DeviceTensor::new(t.dtype(), t.shape().to_vec(), DeviceData::Host(t.clone())))
    }

    fn export(&self, _last: &CpuStage, run: &CpuRun, slots: &[&Slot]) -> Result<Vec<DeviceTensor>> {
        slots.iter().map(|s| self.upload(&run.read(s)?)).collect()
    }

    fn transfer_stats(&self) -> TransferStats {
        TransferStats::default()
    }

    fn run_device_profiled(
        &self,
        g: &Graph,
        p: &CpuStage,
        host: &mut HashMap<ValueId, Data>,
        dev: &HashMap<ValueId, DeviceTensor>,
        run: &mut CpuRun,
    ) -> Result<(Vec<super::profile::RawTiming>, Option<String>)> {
        run.timings = Some(Vec::new());
        let r = self.run_device(g, p, host, dev, run);
        let t = run.timings.take().unwrap_or_default();
        r.map(|_| (t, None))
    }
}

/// Runs a node's reference kernel on copies of its inputs and writes its outputs back.
fn run_reference(
    g: &Graph,
    st: &Stage<CpuKernel>,
    run: &mut CpuRun,
    node: &crate::ir::Node,
    k: &CpuKernel,
) -> Result<()> {
    let mut ins: Vec<Option<Tensor>> = Vec::with_capacity(node.inputs.len());
    for (i, present) in k.inputs.iter().enumerate() {
        ins.push(if *present { Some(value_of(g, st, run, node.inputs[i].unwrap())?) } else { None });
    }
    let refs: Vec<Option<&Tensor>> = ins.iter().map(|t| t.as_ref()).collect();
    let outs =
        node.op.spec().eval(&refs, node.outputs.len()).map_err(|e| Error::node(node.label(g), &node.op_type, e))?;
    for (i, present) in k.outputs.iter().enumerate() {
        if !*present {
            continue;
        }
        let v = node.outputs[i].unwrap();
        let slot = st.env.on_device[v.idx()].as_ref().expect("output slot");
        let t = outs.get(i).ok_or_else(|| Error::node(node.label(g), &node.op_type, "missing output"))?;
        if t.shape() != slot.shape.as_slice() || t.dtype() != slot.dtype {
            return Err(Error::node(
                node.label(g),
                &node.op_type,
                format!(
                    "kernel produced {}{:?}, the plan expected {}{:?}",
                    t.dtype(),
                    t.shape(),
                    slot.dtype,
                    slot.shape
                ),
            ));
        }
        run.write(slot.buf, t);
    }
    Ok(())
}

pub(crate) struct CpuEngine {
    driver: Driver<CpuBackend>,
    pool: rayon::ThreadPool,
}

impl CpuEngine {
    /// An engine whose kernels use `threads` pool threads (`None`: one per available core).
    pub fn new(graph: Arc<Graph>, threads: Option<usize>) -> Result<Self> {
        let n = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("onnx-wgpu-cpu-{i}"))
            .build()
            .map_err(|e| Error::Limit(format!("cannot start {n} CPU threads: {e}")))?;
        Ok(CpuEngine { driver: Driver::new(graph, CpuBackend), pool })
    }
}

/// IO-binding runs go through the session's pool too, like [`Engine::run`].
impl DriverIo for CpuEngine {
    fn run_io(&self, inputs: Vec<Bound>, device_outputs: &[bool]) -> Result<Vec<Bound>> {
        self.pool.install(|| self.driver.run_io(inputs, device_outputs))
    }
    fn to_device(&self, t: &Tensor) -> Result<DeviceTensor> {
        self.driver.to_device(t)
    }
    fn transfer_stats(&self) -> TransferStats {
        DriverIo::transfer_stats(&self.driver)
    }
}

impl Engine for CpuEngine {
    fn run(&self, inputs: &[Data]) -> Result<Vec<Data>> {
        self.pool.install(|| self.driver.run(inputs))
    }
    fn io(&self) -> &dyn DriverIo {
        self
    }
    fn prepare(&self, shapes: &[Vec<usize>]) -> Result<()> {
        self.driver.prepare(shapes)
    }
    fn describe(&self, shapes: &[Vec<usize>]) -> Result<PlanReport> {
        self.driver.describe(shapes)
    }
    fn device_name(&self) -> String {
        format!("CPU ({} threads)", self.pool.current_num_threads())
    }
    fn set_profiling(&self, on: bool) {
        self.driver.set_profiling(on)
    }
    fn last_profile(&self) -> Option<super::profile::Profile> {
        self.driver.last_profile()
    }
}
