//! The CPU backend: executes the same [`Plan`] as the GPU, step by step, with the ops'
//! reference kernels. Activations live in host arenas at the offsets the allocator chose, so
//! every run also exercises the memory plan.

use super::{Engine, PlanCache, PlanReport};
use crate::error::{Error, Result};
use crate::ir::Graph;
use crate::plan::{self, BufRef, KernelInfo, LowerCx, Lowered, Lowering, OutputSource, Plan, PlanLimits, Ref, Slot};
use crate::tensor::{DType, Tensor};
use std::sync::Arc;

/// A CPU step: run node `op`'s reference kernel. Bindings are the present inputs, then the
/// present outputs, in slot order.
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
            return Err("string tensors are not supported".into());
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

/// Plan limits for host memory: byte alignment for every dtype, no binding limit.
pub const CPU_LIMITS: PlanLimits = PlanLimits { align: 64, max_binding: u64::MAX, max_buffer: u64::MAX };

pub(crate) struct CpuEngine {
    graph: Arc<Graph>,
    plans: PlanCache<Plan<CpuKernel>>,
}

impl CpuEngine {
    pub fn new(graph: Arc<Graph>) -> Self {
        CpuEngine { graph, plans: PlanCache::default() }
    }

    fn plan(&self, shapes: &[Vec<usize>]) -> Result<Arc<Plan<CpuKernel>>> {
        self.plans.get_or_build(shapes, || plan::build(&self.graph, shapes, &CpuLowering, &CPU_LIMITS))
    }
}

struct Arenas(Vec<Vec<u64>>);

impl Arenas {
    fn bytes(&self, a: u32, off: u64, len: usize) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.0[a as usize])[off as usize..off as usize + len]
    }
    fn bytes_mut(&mut self, a: u32, off: u64, len: usize) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<u64, u8>(&mut self.0[a as usize])[off as usize..off as usize + len]
    }
}

fn read(g: &Graph, p: &Plan<CpuKernel>, arenas: &Arenas, slot: &Slot) -> Result<Tensor> {
    match slot.buf {
        BufRef::GraphConst { value, .. } => Ok(g.value(value).konst.clone().expect("constant")),
        BufRef::PlanConst { index, .. } => Ok(p.plan_consts[index as usize].clone()),
        BufRef::Arena { arena, offset, .. } => {
            let len = slot.dtype.storage_bytes(slot.numel());
            Tensor::from_bytes(slot.dtype, &slot.shape, arenas.bytes(arena, offset, len))
                .map_err(|e| Error::Gpu(format!("host arena read: {e}")))
        }
    }
}

fn write(arenas: &mut Arenas, buf: BufRef, t: &Tensor) {
    if let BufRef::Arena { arena, offset, .. } = buf {
        let b = t.bytes();
        arenas.bytes_mut(arena, offset, b.len()).copy_from_slice(b);
    }
}

impl Engine for CpuEngine {
    fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let g = &self.graph;
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
        let p = self.plan(&shapes)?;
        let mut arenas = Arenas(p.arenas.iter().map(|&s| vec![0u64; (s as usize).div_ceil(8)]).collect());
        for (v, slot) in &p.inputs {
            let i = g.inputs.iter().position(|x| x == v).unwrap();
            write(&mut arenas, slot.buf, &inputs[i]);
        }
        for step in &p.steps {
            let node = &g.nodes[step.node.idx()];
            let mut b = step.bindings.iter();
            let mut ins: Vec<Option<Tensor>> = Vec::with_capacity(node.inputs.len());
            for (k, present) in step.kernel.inputs.iter().enumerate() {
                ins.push(if *present {
                    b.next();
                    let v = node.inputs[k].unwrap();
                    Some(read(g, &p, &arenas, p.slots[v.idx()].as_ref().expect("slot"))?)
                } else {
                    None
                });
            }
            let refs: Vec<Option<&Tensor>> = ins.iter().map(|t| t.as_ref()).collect();
            let outs = node
                .op
                .spec()
                .eval(&refs, node.outputs.len())
                .map_err(|e| Error::node(node.label(g), &node.op_type, e))?;
            for (k, present) in step.kernel.outputs.iter().enumerate() {
                if *present {
                    let buf = *b.next().unwrap();
                    let t = outs.get(k).ok_or_else(|| Error::node(node.label(g), &node.op_type, "missing output"))?;
                    let want = &p.slots[node.outputs[k].unwrap().idx()].as_ref().unwrap().shape;
                    if t.shape() != want.as_slice() {
                        return Err(Error::node(
                            node.label(g),
                            &node.op_type,
                            format!("kernel produced shape {:?}, the plan expected {want:?}", t.shape()),
                        ));
                    }
                    write(&mut arenas, buf, t);
                }
            }
        }
        p.outputs
            .iter()
            .map(|o| match o {
                OutputSource::Known(t) => Ok(t.clone()),
                OutputSource::Slot(s) => read(g, &p, &arenas, s),
            })
            .collect()
    }

    fn prepare(&self, shapes: &[Vec<usize>]) -> Result<()> {
        self.plan(shapes).map(|_| ())
    }

    fn describe(&self, shapes: &[Vec<usize>]) -> Result<PlanReport> {
        let p = self.plan(shapes)?;
        Ok(super::report(&self.graph, &p))
    }

    fn device_name(&self) -> String {
        "CPU (reference kernels)".into()
    }
}
