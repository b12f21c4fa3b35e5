//! The CPU backend: executes the same stages as the GPU, step by step, with the ops'
//! reference kernels. Activations live in host arenas at the offsets the allocator chose, so
//! every run also exercises the memory plan.

use super::{Driver, Engine, PlanReport, StageBackend};
use crate::error::{Error, Result};
use crate::ir::{Graph, ValueId};
use crate::plan::{
    build_stage, BufRef, KernelInfo, LowerCx, Lowered, Lowering, PlanEnv, PlanLimits, PlanOptions, Ref, Slot, Stage,
};
use crate::tensor::{DType, Data, Tensor};
use std::collections::HashMap;
use std::sync::Arc;

/// A CPU step: run the node's reference kernel. Bindings are the present inputs, then the
/// outputs to compute, in slot order.
#[derive(Clone, Debug)]
pub struct CpuKernel {
    pub op: &'static str,
    pub inputs: Vec<bool>,
    pub outputs: Vec<bool>,
}

impl KernelInfo for CpuKernel {
    fn label(&self) -> String {
        format!("cpu_{}", self.op.to_lowercase())
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
            },
            b,
        ))
    }
}

/// Plan limits for host memory: 64-byte alignment, no binding limit.
pub const CPU_LIMITS: PlanLimits = PlanLimits { align: 64, max_binding: u64::MAX, max_buffer: u64::MAX };

pub(crate) struct CpuBackend;

/// Host arenas of every stage of one run.
#[derive(Default)]
pub(crate) struct CpuRun {
    arenas: HashMap<u32, Vec<Vec<u64>>>,
    /// Wall-clock (step, start, duration) of each step, when profiling.
    timings: Option<Vec<super::profile::RawTiming>>,
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

impl StageBackend for CpuBackend {
    type Kernel = CpuKernel;
    type Prepared = Stage<CpuKernel>;
    type RunState = CpuRun;

    fn plan(&self, g: &Graph, env: &PlanEnv) -> Result<Stage<CpuKernel>> {
        build_stage(g, env, &CpuLowering, &CPU_LIMITS, PlanOptions { fallback: true })
    }

    fn prepare(&self, _g: &Graph, stage: Stage<CpuKernel>, _chain: &[&Stage<CpuKernel>]) -> Result<Stage<CpuKernel>> {
        Ok(stage)
    }

    fn stage<'a>(&self, p: &'a Stage<CpuKernel>) -> &'a Stage<CpuKernel> {
        p
    }

    fn run_device(
        &self,
        g: &Graph,
        st: &Stage<CpuKernel>,
        host: &mut HashMap<ValueId, Data>,
        run: &mut CpuRun,
    ) -> Result<()> {
        run.arenas.insert(st.index, st.arenas.iter().map(|&s| vec![0u64; (s as usize).div_ceil(8)]).collect());
        for (v, slot) in &st.uploads {
            let t = crate::plan::host_value(&st.env, host, *v)
                .ok_or_else(|| Error::Model(format!("'{}' is not on the host", g.value(*v).name)))?
                .into_tensor()
                .map_err(|e| Error::Model(format!("'{}': {e}", g.value(*v).name)))?;
            run.write(slot.buf, &t);
        }
        for (i, step) in st.steps.iter().enumerate() {
            let t0 = run.timings.is_some().then(super::profile::host_now_ns);
            let node = g.node(step.node);
            let mut ins: Vec<Option<Tensor>> = Vec::with_capacity(node.inputs.len());
            for (k, present) in step.kernel.inputs.iter().enumerate() {
                ins.push(if *present { Some(value_of(g, st, run, node.inputs[k].unwrap())?) } else { None });
            }
            let refs: Vec<Option<&Tensor>> = ins.iter().map(|t| t.as_ref()).collect();
            let outs = node
                .op
                .spec()
                .eval(&refs, node.outputs.len())
                .map_err(|e| Error::node(node.label(g), &node.op_type, e))?;
            for (k, present) in step.kernel.outputs.iter().enumerate() {
                if !*present {
                    continue;
                }
                let v = node.outputs[k].unwrap();
                let slot = st.env.on_device[v.idx()].as_ref().expect("output slot");
                let t = outs.get(k).ok_or_else(|| Error::node(node.label(g), &node.op_type, "missing output"))?;
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
            if let (Some(t0), Some(tm)) = (t0, run.timings.as_mut()) {
                tm.push((i, t0, super::profile::host_now_ns() - t0));
            }
        }
        for (v, slot) in &st.readbacks {
            host.insert(*v, Data::Tensor(run.read(slot)?));
        }
        Ok(())
    }

    fn run_device_profiled(
        &self,
        g: &Graph,
        st: &Stage<CpuKernel>,
        host: &mut HashMap<ValueId, Data>,
        run: &mut CpuRun,
    ) -> Result<(Vec<super::profile::RawTiming>, Option<String>)> {
        run.timings = Some(Vec::new());
        let r = self.run_device(g, st, host, run);
        let t = run.timings.take().unwrap_or_default();
        r.map(|_| (t, None))
    }
}

pub(crate) struct CpuEngine {
    driver: Driver<CpuBackend>,
}

impl CpuEngine {
    pub fn new(graph: Arc<Graph>) -> Self {
        CpuEngine { driver: Driver::new(graph, CpuBackend) }
    }
}

impl Engine for CpuEngine {
    fn run(&self, inputs: &[Data]) -> Result<Vec<Data>> {
        self.driver.run(inputs)
    }
    fn prepare(&self, shapes: &[Vec<usize>]) -> Result<()> {
        self.driver.prepare(shapes)
    }
    fn describe(&self, shapes: &[Vec<usize>]) -> Result<PlanReport> {
        self.driver.describe(shapes)
    }
    fn device_name(&self) -> String {
        "CPU (reference kernels)".into()
    }
    fn set_profiling(&self, on: bool) {
        self.driver.set_profiling(on)
    }
    fn last_profile(&self) -> Option<super::profile::Profile> {
        self.driver.last_profile()
    }
}
