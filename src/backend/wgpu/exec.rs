//! Preparing and running a GPU plan. Preparation (once per shape signature) creates the arena
//! buffers, uploads plan constants, writes every dispatch's params into one uniform buffer and
//! builds all bind groups. A run writes the inputs, records every dispatch into one compute
//! pass of one command encoder, copies only the outputs to a reused staging buffer, submits
//! once and maps the staging buffer.

use super::device::GpuContext;
use super::kernels::GpuKernel;
use crate::error::{Error, Result};
use crate::ir::{Graph, ValueId};
use crate::plan::{BufRef, OutputSource, Plan, Slot};
use crate::tensor::{DType, Tensor};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Bytes as the GPU stores a tensor: bool widened to u32, everything padded to 4 bytes.
pub fn to_gpu_bytes(t: &Tensor) -> Vec<u8> {
    let mut b: Vec<u8> = if t.dtype() == DType::Bool {
        t.bytes().iter().flat_map(|&x| (x as u32).to_le_bytes()).collect()
    } else {
        t.bytes().to_vec()
    };
    b.resize(b.len().div_ceil(4).max(1) * 4, 0);
    b
}

/// A host tensor from GPU bytes.
pub fn from_gpu_bytes(dtype: DType, shape: &[usize], b: &[u8]) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let r = if dtype == DType::Bool {
        let v: Vec<bool> = b[..4 * n].chunks_exact(4).map(|c| c.iter().any(|&x| x != 0)).collect();
        Tensor::from_bools(shape, &v)
    } else {
        Tensor::from_bytes(dtype, shape, &b[..dtype.storage_bytes(n)])
    };
    r.map_err(|e| Error::Gpu(format!("readback: {e}")))
}

/// A buffer holding `bytes` (at least 4), usable as storage and copy source/destination.
pub fn storage_buffer(ctx: &GpuContext, label: &str, bytes: &[u8]) -> ::wgpu::Buffer {
    use ::wgpu::util::DeviceExt;
    ctx.device.create_buffer_init(&::wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytes,
        usage: ::wgpu::BufferUsages::STORAGE | ::wgpu::BufferUsages::COPY_SRC | ::wgpu::BufferUsages::COPY_DST,
    })
}

/// Weights uploaded once per session, by value.
#[derive(Default)]
pub struct WeightCache {
    map: Mutex<HashMap<ValueId, Arc<::wgpu::Buffer>>>,
}

impl WeightCache {
    pub fn get(&self, ctx: &GpuContext, g: &Graph, v: ValueId) -> Arc<::wgpu::Buffer> {
        let mut m = self.map.lock().unwrap();
        m.entry(v)
            .or_insert_with(|| {
                let t = g.value(v).konst.as_ref().expect("a graph constant");
                Arc::new(storage_buffer(ctx, &g.value(v).name, &to_gpu_bytes(t)))
            })
            .clone()
    }

    pub fn bytes(&self) -> u64 {
        self.map.lock().unwrap().values().map(|b| b.size()).sum()
    }
}

struct Dispatch {
    pipeline: Arc<::wgpu::ComputePipeline>,
    bind_group: ::wgpu::BindGroup,
    grid: [u32; 3],
}

/// A plan with its GPU resources, ready to run.
pub struct Prepared {
    pub plan: Plan<GpuKernel>,
    arenas: Vec<::wgpu::Buffer>,
    _consts: Vec<::wgpu::Buffer>,
    _weights: Vec<Arc<::wgpu::Buffer>>,
    _uniform: Option<::wgpu::Buffer>,
    dispatches: Vec<Dispatch>,
    /// (arena, offset, bytes, staging offset) per output slot.
    readback: Vec<Option<(usize, u64, u64, u64)>>,
    staging: Option<::wgpu::Buffer>,
    /// Serializes runs of this plan: they share its arenas.
    lock: Mutex<()>,
}

impl Prepared {
    pub fn new(ctx: &GpuContext, g: &Graph, plan: Plan<GpuKernel>, weights: &WeightCache) -> Result<Prepared> {
        let dev = &ctx.device;
        let scope = dev.push_error_scope(::wgpu::ErrorFilter::OutOfMemory);
        let arenas: Vec<::wgpu::Buffer> = plan
            .arenas
            .iter()
            .enumerate()
            .map(|(i, &size)| {
                dev.create_buffer(&::wgpu::BufferDescriptor {
                    label: Some(&format!("arena{i}")),
                    size: size.max(4),
                    usage: ::wgpu::BufferUsages::STORAGE
                        | ::wgpu::BufferUsages::COPY_SRC
                        | ::wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .collect();
        let consts: Vec<::wgpu::Buffer> = plan
            .plan_consts
            .iter()
            .enumerate()
            .map(|(i, t)| storage_buffer(ctx, &format!("const{i}"), &to_gpu_bytes(t)))
            .collect();
        let wbufs: HashMap<ValueId, Arc<::wgpu::Buffer>> =
            plan.graph_consts.iter().map(|&v| (v, weights.get(ctx, g, v))).collect();

        // All params in one uniform buffer, each at an aligned offset.
        let ua = ctx.limits.min_uniform_buffer_offset_alignment as usize;
        let mut ubytes: Vec<u8> = Vec::new();
        let mut uoffs = Vec::with_capacity(plan.steps.len());
        for s in &plan.steps {
            let off = ubytes.len().div_ceil(ua) * ua;
            ubytes.resize(off, 0);
            uoffs.push(off as u64);
            ubytes.extend_from_slice(&s.kernel.params);
            ubytes.resize(ubytes.len().div_ceil(16) * 16, 0);
        }
        let uniform = if ubytes.is_empty() {
            None
        } else {
            use ::wgpu::util::DeviceExt;
            Some(dev.create_buffer_init(&::wgpu::util::BufferInitDescriptor {
                label: Some("params"),
                contents: &ubytes,
                usage: ::wgpu::BufferUsages::UNIFORM,
            }))
        };
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu(format!("allocating the plan's buffers: {e}")));
        }

        let scope = dev.push_error_scope(::wgpu::ErrorFilter::Validation);
        let mut dispatches = Vec::with_capacity(plan.steps.len());
        for (i, s) in plan.steps.iter().enumerate() {
            let pipeline = ctx.pipelines.get(dev, &s.kernel.key)?;
            let layout = ctx.pipelines.layout(dev, s.kernel.key.storage_bindings());
            if s.bindings.len() != s.kernel.key.storage_bindings() as usize {
                return Err(Error::Kernel {
                    kernel: s.kernel.key.label(),
                    reason: format!(
                        "{} bindings for a layout of {}",
                        s.bindings.len(),
                        s.kernel.key.storage_bindings()
                    ),
                });
            }
            let mut entries: Vec<::wgpu::BindGroupEntry> = Vec::with_capacity(s.bindings.len() + 1);
            for (b, r) in s.bindings.iter().enumerate() {
                let (buffer, offset, size) = match *r {
                    BufRef::Arena { arena, offset, size } => (&arenas[arena as usize], offset, size),
                    BufRef::GraphConst { value, offset, size } => (&*wbufs[&value], offset, size),
                    BufRef::PlanConst { index, offset, size } => (&consts[index as usize], offset, size),
                };
                entries.push(::wgpu::BindGroupEntry {
                    binding: b as u32,
                    resource: ::wgpu::BindingResource::Buffer(::wgpu::BufferBinding {
                        buffer,
                        offset,
                        size: ::wgpu::BufferSize::new(size),
                    }),
                });
            }
            let ub = uniform.as_ref().unwrap();
            entries.push(::wgpu::BindGroupEntry {
                binding: s.bindings.len() as u32,
                resource: ::wgpu::BindingResource::Buffer(::wgpu::BufferBinding {
                    buffer: ub,
                    offset: uoffs[i],
                    size: ::wgpu::BufferSize::new(s.kernel.params.len().div_ceil(16) as u64 * 16),
                }),
            });
            let bind_group = dev.create_bind_group(&::wgpu::BindGroupDescriptor {
                label: Some(&s.kernel.key.label()),
                layout: &layout.0,
                entries: &entries,
            });
            dispatches.push(Dispatch { pipeline, bind_group, grid: s.kernel.grid });
        }
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu(format!("building bind groups: {e}")));
        }

        // Staging layout for the outputs.
        let mut readback = Vec::new();
        let mut total = 0u64;
        for o in &plan.outputs {
            match o {
                OutputSource::Slot(Slot { buf: BufRef::Arena { arena, offset, size }, .. }) => {
                    readback.push(Some((*arena as usize, *offset, *size, total)));
                    total += size.div_ceil(8) * 8;
                }
                _ => readback.push(None),
            }
        }
        let staging = (total > 0).then(|| {
            dev.create_buffer(&::wgpu::BufferDescriptor {
                label: Some("staging"),
                size: total,
                usage: ::wgpu::BufferUsages::MAP_READ | ::wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        Ok(Prepared {
            plan,
            arenas,
            _consts: consts,
            _weights: wbufs.into_values().collect(),
            _uniform: uniform,
            dispatches,
            readback,
            staging,
            lock: Mutex::new(()),
        })
    }

    /// Runs the plan: `inputs` follow `g.inputs` order.
    pub fn run(&self, ctx: &GpuContext, g: &Graph, inputs: &[Tensor], weights: &WeightCache) -> Result<Vec<Tensor>> {
        ctx.check_lost()?;
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let dev = &ctx.device;
        let scope_oom = dev.push_error_scope(::wgpu::ErrorFilter::OutOfMemory);
        let scope = dev.push_error_scope(::wgpu::ErrorFilter::Validation);
        for (v, slot) in &self.plan.inputs {
            let i = g.inputs.iter().position(|x| x == v).expect("plan input is a graph input");
            if let BufRef::Arena { arena, offset, .. } = slot.buf {
                ctx.queue.write_buffer(&self.arenas[arena as usize], offset, &to_gpu_bytes(&inputs[i]));
            }
        }
        let mut enc = dev.create_command_encoder(&::wgpu::CommandEncoderDescriptor { label: Some("run") });
        {
            let mut pass =
                enc.begin_compute_pass(&::wgpu::ComputePassDescriptor { label: Some("plan"), timestamp_writes: None });
            for d in &self.dispatches {
                pass.set_pipeline(&d.pipeline);
                pass.set_bind_group(0, &d.bind_group, &[]);
                pass.dispatch_workgroups(d.grid[0], d.grid[1], d.grid[2]);
            }
        }
        if let Some(st) = &self.staging {
            for &(arena, off, size, at) in self.readback.iter().flatten() {
                enc.copy_buffer_to_buffer(&self.arenas[arena], off, st, at, size);
            }
        }
        ctx.queue.submit([enc.finish()]);
        let validation = pollster::block_on(scope.pop());
        let oom = pollster::block_on(scope_oom.pop());
        if let Some(e) = validation.or(oom) {
            return Err(Error::Gpu(format!("running the plan: {e}")));
        }
        let mapped = if let Some(st) = &self.staging {
            let (tx, rx) = std::sync::mpsc::channel();
            st.slice(..).map_async(::wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
            dev.poll(::wgpu::PollType::wait_indefinitely())
                .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
            rx.recv()
                .map_err(|_| Error::Gpu("the readback was dropped".into()))?
                .map_err(|e| Error::Gpu(format!("mapping the outputs: {e}")))?;
            Some(st.get_mapped_range(..).map_err(|e| Error::Gpu(format!("mapping the outputs: {e:?}")))?.to_vec())
        } else {
            None
        };
        if let Some(st) = &self.staging {
            st.unmap();
        }
        ctx.check_lost()?;
        let _ = weights;
        let mut out = Vec::with_capacity(self.plan.outputs.len());
        for (o, rb) in self.plan.outputs.iter().zip(&self.readback) {
            out.push(match (o, rb) {
                (OutputSource::Known(t), _) => t.clone(),
                (OutputSource::Slot(s), Some((_, _, size, at))) => {
                    let b = mapped.as_ref().unwrap();
                    from_gpu_bytes(s.dtype, &s.shape, &b[*at as usize..(*at + *size) as usize])?
                }
                (OutputSource::Slot(s), None) => match s.buf {
                    BufRef::GraphConst { value, .. } => g.value(value).konst.clone().unwrap(),
                    BufRef::PlanConst { index, .. } => self.plan.plan_consts[index as usize].clone(),
                    BufRef::Arena { .. } => unreachable!(),
                },
            });
        }
        Ok(out)
    }
}
