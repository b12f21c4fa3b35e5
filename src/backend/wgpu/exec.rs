//! Preparing and running one GPU stage. Preparation (once per stage) creates the stage's arena
//! buffers, uploads its plan constants, writes every dispatch's params into one uniform buffer
//! and builds all bind groups (binding earlier stages' arenas for values they hold). A run
//! writes the uploads, records every dispatch into one compute pass of one command encoder,
//! copies only the read-backs to a reused staging buffer, submits once and maps it. Device-
//! resident inputs are copied buffer-to-buffer into the arena in the same encoder; uploads and
//! read-backs are counted in the session's transfer counters.
//!
//! Kernels that read indices ([`reports_bad_indices`]) get one more storage binding: their own
//! 16-byte record in the stage's index error buffer (`shaders/layout/index_report_lib.wgsl`), cleared
//! at the start of each run and copied into the same staging buffer as the outputs, so an
//! out-of-range index computed on the device fails the run with an error naming the node and
//! the index, at the cost of one small copy and no extra submit.
//!
//! Device errors: a run's uploads, encoding and submit sit inside validation and out-of-memory
//! error scopes, so an error they raise fails that run naming the stage (wgpu's message names
//! the labelled kernel or buffer); errors the device reported outside any scope since the
//! previous run (collected by the handler of `device.rs`) fail the next run rather than
//! passing unseen.

use super::device::{describe_error, GpuContext};
use super::kernels::movement::MoveVariant;
use super::kernels::{FamilyKey, GpuKernel, KernelKey};
use crate::backend::resident::{DeviceData, DeviceTensor, TransferCounters};
use crate::error::{Error, Result};
use crate::ir::{Graph, ValueId};
use crate::plan::{BufRef, Slot, Stage};
use crate::tensor::Data;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::types::{from_gpu_bytes, to_gpu_bytes};

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
    /// Bytes uploaded so far.
    uploaded: AtomicU64,
}

impl WeightCache {
    pub fn get(&self, ctx: &GpuContext, g: &Graph, v: ValueId) -> Result<Arc<::wgpu::Buffer>> {
        let mut m = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = m.get(&v) {
            return Ok(b.clone());
        }
        let t = g.value(v).konst.as_ref().expect("a graph constant");
        let b = Arc::new(storage_buffer(ctx, &g.value(v).name, &to_gpu_bytes(t, ctx.caps())?));
        self.uploaded.fetch_add(b.size(), Ordering::Relaxed);
        m.insert(v, b.clone());
        Ok(b)
    }

    /// Bytes of weights uploaded so far.
    pub fn uploaded(&self) -> u64 {
        self.uploaded.load(Ordering::Relaxed)
    }
}

/// Whether `key`'s kernel reads indices and reports an out-of-range one through an error record
/// bound after its planned bindings (`shaders/layout/index_report_lib.wgsl`).
pub fn reports_bad_indices(key: &KernelKey) -> bool {
    bad_index_noun(key).is_some()
}

/// What the indices of a reporting kernel are and what bounds them, for its error message:
/// "{noun} {value} is out of range for {bound} {record's length}".
fn bad_index_noun(key: &KernelKey) -> Option<(&'static str, &'static str)> {
    use super::kernels::attention::{AttnKernel, AttnVariant};
    use super::kernels::contrib_attention::ContribAttnKernel;
    use super::kernels::recurrent::{RecKernel, RecurrentVariant};
    use super::kernels::vision::VisionVariant;
    Some(match key {
        KernelKey::Gather(_)
        | KernelKey::Family(FamilyKey::Movement(
            MoveVariant::PosElements { .. } | MoveVariant::PosNd { .. } | MoveVariant::PosTensorScatter,
        )) => ("index", "an axis of size"),
        KernelKey::Family(FamilyKey::Movement(MoveVariant::ReverseSequence { .. }))
        | KernelKey::Family(FamilyKey::Recurrent(RecurrentVariant {
            kernel: RecKernel::Init | RecKernel::SeqProj,
            ..
        })) => ("sequence length", "a sequence of length"),
        KernelKey::Family(FamilyKey::Movement(MoveVariant::Cumulative { .. })) => ("axis", "rank"),
        KernelKey::Family(FamilyKey::Vision(VisionVariant::MaxUnpool { .. })) => {
            ("unpooling index", "an unpooled tensor of size")
        }
        KernelKey::Family(FamilyKey::Vision(VisionVariant::RoiAlign { .. })) => ("batch index", "a batch of"),
        KernelKey::Family(FamilyKey::NormLoss(_)) => ("target", "a class count of"),
        KernelKey::Family(FamilyKey::ContribAttention(v)) if v.kind == ContribAttnKernel::GqaMask => {
            ("seqlens_k entry", "a KV cache of length")
        }
        KernelKey::Family(FamilyKey::Attention(AttnVariant { kind: AttnKernel::Rotary, .. })) => {
            ("position id", "cos/sin caches of length")
        }
        KernelKey::Family(FamilyKey::ContribNorm(super::kernels::contrib_norm::ContribNormVariant::Embed {
            ..
        })) => ("embedding index", "an embedding table of"),
        _ => return None,
    })
}

/// Bytes of one index error record: [flag, index lo, index hi, axis length] as u32.
const ERR_RECORD: u64 = 16;

/// The stage's index error records: one per reporting step, `stride` bytes apart.
struct IndexErrors {
    buffer: ::wgpu::Buffer,
    stride: u64,
    /// The step of each record.
    steps: Vec<usize>,
    /// Where the records start in the staging buffer.
    staging_at: u64,
}

struct Dispatch {
    pipeline: Arc<::wgpu::ComputePipeline>,
    bind_group: ::wgpu::BindGroup,
    grid: [u32; 3],
}

/// A stage with its GPU resources, ready to run.
pub struct Prepared {
    pub stage: Stage<GpuKernel>,
    /// This stage's arenas.
    pub arenas: Vec<::wgpu::Buffer>,
    /// Arenas of this and earlier stages, by stage index (for uploads and read-backs).
    chain_arenas: HashMap<u32, Vec<::wgpu::Buffer>>,
    _consts: Vec<::wgpu::Buffer>,
    _weights: Vec<Arc<::wgpu::Buffer>>,
    _uniform: Option<::wgpu::Buffer>,
    dispatches: Vec<Dispatch>,
    /// (buffer, offset, bytes, staging offset) per read-back.
    readback: Vec<(::wgpu::Buffer, u64, u64, u64)>,
    staging: Option<::wgpu::Buffer>,
    index_errors: Option<IndexErrors>,
    /// Timestamp queries, made on the first profiled run (or why there are none).
    timestamps: std::sync::OnceLock<std::result::Result<super::profile::Timestamps, String>>,
}

impl Prepared {
    pub fn new(
        ctx: &GpuContext,
        g: &Graph,
        stage: Stage<GpuKernel>,
        chain: &[&Prepared],
        weights: &WeightCache,
    ) -> Result<Prepared> {
        let dev = &ctx.device;
        let oom = dev.push_error_scope(::wgpu::ErrorFilter::OutOfMemory);
        let arenas: Vec<::wgpu::Buffer> = stage
            .arenas
            .iter()
            .enumerate()
            .map(|(i, &size)| {
                dev.create_buffer(&::wgpu::BufferDescriptor {
                    label: Some(&format!("stage{}.arena{i}", stage.index)),
                    size: size.max(4),
                    usage: ::wgpu::BufferUsages::STORAGE
                        | ::wgpu::BufferUsages::COPY_SRC
                        | ::wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .collect();
        let mut chain_arenas: HashMap<u32, Vec<::wgpu::Buffer>> = HashMap::new();
        for p in chain {
            chain_arenas.insert(p.stage.index, p.arenas.clone());
        }
        chain_arenas.insert(stage.index, arenas.clone());
        let consts: Vec<::wgpu::Buffer> = stage
            .plan_consts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                Ok(storage_buffer(ctx, &format!("stage{}.const{i}", stage.index), &to_gpu_bytes(t, ctx.caps())?))
            })
            .collect::<Result<_>>()?;
        let wbufs: HashMap<ValueId, Arc<::wgpu::Buffer>> =
            stage.graph_consts.iter().map(|&v| Ok((v, weights.get(ctx, g, v)?))).collect::<Result<_>>()?;

        // All params in one uniform buffer, each at an aligned offset.
        let ua = ctx.limits.min_uniform_buffer_offset_alignment as usize;
        let mut ubytes: Vec<u8> = Vec::new();
        let mut uoffs = Vec::with_capacity(stage.steps.len());
        for s in &stage.steps {
            let off = ubytes.len().div_ceil(ua) * ua;
            ubytes.resize(off, 0);
            uoffs.push(off as u64);
            ubytes.extend_from_slice(&s.kernel.params);
            ubytes.resize(ubytes.len().div_ceil(16) * 16, 0);
        }
        let uniform = (!ubytes.is_empty()).then(|| {
            use ::wgpu::util::DeviceExt;
            dev.create_buffer_init(&::wgpu::util::BufferInitDescriptor {
                label: Some("params"),
                contents: &ubytes,
                usage: ::wgpu::BufferUsages::UNIFORM,
            })
        });
        let err_steps: Vec<usize> =
            (0..stage.steps.len()).filter(|&i| reports_bad_indices(&stage.steps[i].kernel.key)).collect();
        let err_stride = (ctx.limits.min_storage_buffer_offset_alignment as u64).max(ERR_RECORD);
        let err_buffer = (!err_steps.is_empty()).then(|| {
            dev.create_buffer(&::wgpu::BufferDescriptor {
                label: Some(&format!("stage{}.index_errors", stage.index)),
                size: err_steps.len() as u64 * err_stride,
                usage: ::wgpu::BufferUsages::STORAGE | ::wgpu::BufferUsages::COPY_SRC | ::wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        if let Some(e) = pollster::block_on(oom.pop()) {
            return Err(Error::Gpu(format!("allocating stage {}'s buffers: {}", stage.index, describe_error(&e))));
        }

        let resolve = |b: &BufRef| -> (&::wgpu::Buffer, u64, u64) {
            match *b {
                BufRef::Arena { stage: s, arena, offset, size } => (&chain_arenas[&s][arena as usize], offset, size),
                BufRef::GraphConst { value, offset, size } => (&*wbufs[&value], offset, size),
                BufRef::PlanConst { index, offset, size, .. } => (&consts[index as usize], offset, size),
            }
        };
        ctx.pipelines.precompile(dev, stage.steps.iter().map(|s| &s.kernel.key))?;
        ctx.pipelines.persist();
        let scope = dev.push_error_scope(::wgpu::ErrorFilter::Validation);
        let mut dispatches = Vec::with_capacity(stage.steps.len());
        for (i, s) in stage.steps.iter().enumerate() {
            let key = &s.kernel.key;
            let pipeline = ctx.pipelines.get(dev, key)?;
            let layout = ctx.pipelines.layout(dev, key.storage_bindings());
            let err_slot = err_steps.binary_search(&i).ok();
            if s.bindings.len() + err_slot.is_some() as usize != key.storage_bindings() as usize {
                return Err(Error::Kernel {
                    kernel: key.label(),
                    reason: format!("{} bindings for a layout of {}", s.bindings.len(), key.storage_bindings()),
                });
            }
            let mut entries: Vec<::wgpu::BindGroupEntry> = Vec::with_capacity(s.bindings.len() + 1);
            for (b, r) in s.bindings.iter().enumerate() {
                let (buffer, offset, size) = resolve(r);
                entries.push(::wgpu::BindGroupEntry {
                    binding: b as u32,
                    resource: ::wgpu::BindingResource::Buffer(::wgpu::BufferBinding {
                        buffer,
                        offset,
                        size: ::wgpu::BufferSize::new(size),
                    }),
                });
            }
            if let (Some(slot), Some(buffer)) = (err_slot, &err_buffer) {
                entries.push(::wgpu::BindGroupEntry {
                    binding: entries.len() as u32,
                    resource: ::wgpu::BindingResource::Buffer(::wgpu::BufferBinding {
                        buffer,
                        offset: slot as u64 * err_stride,
                        size: ::wgpu::BufferSize::new(ERR_RECORD),
                    }),
                });
            }
            entries.push(::wgpu::BindGroupEntry {
                binding: entries.len() as u32,
                resource: ::wgpu::BindingResource::Buffer(::wgpu::BufferBinding {
                    buffer: uniform.as_ref().unwrap(),
                    offset: uoffs[i],
                    size: ::wgpu::BufferSize::new(s.kernel.params.len().div_ceil(16) as u64 * 16),
                }),
            });
            let bind_group = dev.create_bind_group(&::wgpu::BindGroupDescriptor {
                label: Some(&key.label()),
                layout: &layout.0,
                entries: &entries,
            });
            dispatches.push(Dispatch { pipeline, bind_group, grid: s.kernel.grid });
        }
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Gpu(format!("building stage {}'s bind groups: {}", stage.index, describe_error(&e))));
        }

        let mut readback = Vec::new();
        let mut total = 0u64;
        for (_, slot) in &stage.readbacks {
            let (buf, off, size) = resolve(&slot.buf);
            readback.push((buf.clone(), off, size, total));
            total += size.div_ceil(8) * 8;
        }
        let index_errors = err_buffer.map(|buffer| {
            let e = IndexErrors { buffer, stride: err_stride, steps: err_steps, staging_at: total };
            total += e.buffer.size();
            e
        });
        let staging = (total > 0).then(|| {
            dev.create_buffer(&::wgpu::BufferDescriptor {
                label: Some("staging"),
                size: total,
                usage: ::wgpu::BufferUsages::MAP_READ | ::wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        Ok(Prepared {
            stage,
            arenas,
            chain_arenas,
            _consts: consts,
            _weights: wbufs.into_values().collect(),
            _uniform: uniform,
            dispatches,
            readback,
            staging,
            index_errors,
            timestamps: Default::default(),
        })
    }

    /// The buffer of arena `arena` of stage `stage` of this stage's chain.
    pub fn arena(&self, stage: u32, arena: u32) -> Option<&::wgpu::Buffer> {
        self.chain_arenas.get(&stage)?.get(arena as usize)
    }

    /// Bytes this stage uploaded when prepared: plan constants and kernel parameters.
    pub fn prepared_bytes(&self) -> u64 {
        self._consts.iter().map(|b| b.size()).sum::<u64>() + self._uniform.as_ref().map_or(0, |u| u.size())
    }

    /// Uploads (device inputs: buffer copies), device steps and read-backs of this stage.
    pub(crate) fn run(
        &self,
        ctx: &GpuContext,
        g: &Graph,
        host: &mut HashMap<ValueId, Data>,
        dev_inputs: &HashMap<ValueId, DeviceTensor>,
        counters: &TransferCounters,
    ) -> Result<()> {
        self.run_timed(ctx, g, host, dev_inputs, counters, false).map(|_| ())
    }

    /// [`Prepared::run`]; with `profile`, each dispatch in its own timestamped pass, and the
    /// (step, start, duration) GPU times returned, or why there are none. A run that fails
    /// because the device was lost (or destroyed) in the meantime reports the loss.
    pub(crate) fn run_timed(
        &self,
        ctx: &GpuContext,
        g: &Graph,
        host: &mut HashMap<ValueId, Data>,
        dev_inputs: &HashMap<ValueId, DeviceTensor>,
        counters: &TransferCounters,
        profile: bool,
    ) -> Result<(Vec<crate::backend::profile::RawTiming>, Option<String>)> {
        ctx.check_lost()?;
        let mut run = || -> Result<(Vec<crate::backend::profile::RawTiming>, Option<String>)> {
            let st = &self.stage;
            if st.uploads.is_empty() && self.dispatches.is_empty() && self.readback.is_empty() {
                return Ok((vec![], None));
            }
            let timestamps = match profile && !self.dispatches.is_empty() {
                true => {
                    match self.timestamps.get_or_init(|| super::profile::Timestamps::new(ctx, self.dispatches.len())) {
                        Ok(t) => Ok(Some(t)),
                        Err(why) => Err(why.clone()),
                    }
                }
                false => Ok(None),
            };
            let dev = &ctx.device;
            let scope_oom = dev.push_error_scope(::wgpu::ErrorFilter::OutOfMemory);
            let scope = dev.push_error_scope(::wgpu::ErrorFilter::Validation);
            let mut copies: Vec<(&::wgpu::Buffer, &::wgpu::Buffer, u64, u64)> = Vec::new();
            for (v, slot) in &st.uploads {
                if let Some(d) = crate::backend::device_source(&st.env, host, dev_inputs, *v) {
                    let (DeviceData::Gpu(src), BufRef::Arena { stage, arena, offset, size }) = (&d.data, slot.buf)
                    else {
                        return Err(Error::Gpu(format!("'{}' is not a GPU tensor", g.value(*v).name)));
                    };
                    copies.push((
                        &src.buffer,
                        &self.chain_arenas[&stage][arena as usize],
                        offset,
                        size.min(src.size()),
                    ));
                    continue;
                }
                let t = crate::plan::host_value(&st.env, host, *v)
                    .ok_or_else(|| Error::Model(format!("'{}' is not on the host", g.value(*v).name)))?
                    .into_tensor()
                    .map_err(|e| Error::Model(format!("'{}': {e}", g.value(*v).name)))?;
                if let BufRef::Arena { stage, arena, offset, .. } = slot.buf {
                    ctx.queue.write_buffer(
                        &self.chain_arenas[&stage][arena as usize],
                        offset,
                        &to_gpu_bytes(&t, ctx.caps())?,
                    );
                    counters.upload(t.byte_len() as u64);
                }
            }
            let mut enc = dev.create_command_encoder(&::wgpu::CommandEncoderDescriptor { label: Some("run") });
            if let Some(e) = &self.index_errors {
                enc.clear_buffer(&e.buffer, 0, None);
            }
            for (src, dst, offset, size) in copies {
                enc.copy_buffer_to_buffer(src, 0, dst, offset, size);
                counters.device_copy(size);
            }
            if let Ok(Some(ts)) = &timestamps {
                for (i, d) in self.dispatches.iter().enumerate() {
                    let mut pass = enc.begin_compute_pass(&::wgpu::ComputePassDescriptor {
                        label: Some("step"),
                        timestamp_writes: Some(ts.writes(i)),
                    });
                    pass.set_pipeline(&d.pipeline);
                    pass.set_bind_group(0, &d.bind_group, &[]);
                    pass.dispatch_workgroups(d.grid[0], d.grid[1], d.grid[2]);
                }
                ts.resolve(&mut enc);
            } else if !self.dispatches.is_empty() {
                let mut pass = enc.begin_compute_pass(&::wgpu::ComputePassDescriptor {
                    label: Some("stage"),
                    timestamp_writes: None,
                });
                for d in &self.dispatches {
                    pass.set_pipeline(&d.pipeline);
                    pass.set_bind_group(0, &d.bind_group, &[]);
                    pass.dispatch_workgroups(d.grid[0], d.grid[1], d.grid[2]);
                }
            }
            if let Some(staging) = &self.staging {
                for (buf, off, size, at) in &self.readback {
                    enc.copy_buffer_to_buffer(buf, *off, staging, *at, *size);
                }
                if let Some(e) = &self.index_errors {
                    enc.copy_buffer_to_buffer(&e.buffer, 0, staging, e.staging_at, e.buffer.size());
                }
            }
            ctx.queue.submit([enc.finish()]);
            let validation = pollster::block_on(scope.pop());
            let oom = pollster::block_on(scope_oom.pop());
            if let Some(e) = validation.or(oom) {
                return Err(Error::Gpu(format!("running stage {}: {}", st.index, describe_error(&e))));
            }
            if let Some(staging) = &self.staging {
                let (tx, rx) = std::sync::mpsc::channel();
                staging.slice(..).map_async(::wgpu::MapMode::Read, move |r| {
                    let _ = tx.send(r);
                });
                dev.poll(::wgpu::PollType::wait_indefinitely())
                    .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
                rx.recv()
                    .map_err(|_| Error::Gpu("the read-back was dropped".into()))?
                    .map_err(|e| Error::Gpu(format!("mapping the outputs: {e}")))?;
                let result = (|| {
                    let view =
                        staging.get_mapped_range(..).map_err(|e| Error::Gpu(format!("mapping the outputs: {e:?}")))?;
                    if let Some(e) = &self.index_errors {
                        self.check_index_errors(g, e, &view)?;
                    }
                    for ((v, slot), (_, _, size, at)) in st.readbacks.iter().zip(&self.readback) {
                        let Slot { dtype, shape, .. } = slot;
                        let t = from_gpu_bytes(*dtype, shape, &view[*at as usize..(*at + *size) as usize], ctx.caps())?;
                        counters.download(t.byte_len() as u64);
                        host.insert(*v, Data::Tensor(t));
                    }
                    Ok(())
                })();
                staging.unmap();
                result?;
            } else {
                dev.poll(::wgpu::PollType::wait_indefinitely())
                    .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
            }
            ctx.check_lost()?;
            // Errors outside every error scope (this run's are scoped above; these come from
            // device work elsewhere, e.g. a device tensor's buffer) fail the run rather than
            // passing unseen: its results may depend on the failed operation.
            let stray = ctx.take_uncaptured();
            if !stray.is_empty() {
                return Err(Error::Gpu(format!(
                    "stage {}: the device reported {} error(s) outside any error scope since the previous run: {}",
                    st.index,
                    stray.len(),
                    stray.join("; ")
                )));
            }
            match timestamps {
                Ok(Some(ts)) => Ok((ts.read(ctx)?, None)),
                Ok(None) => Ok((vec![], None)),
                Err(why) => Ok((vec![], Some(why))),
            }
        };
        run().map_err(|e| match ctx.check_lost() {
            Err(lost) => lost,
            Ok(()) => e,
        })
    }

    /// The first out-of-range index a kernel of this run recorded, as an error naming its node.
    fn check_index_errors(&self, g: &Graph, e: &IndexErrors, view: &[u8]) -> Result<()> {
        let word = |at: u64| -> u32 {
            let at = at as usize;
            view.get(at..at + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        for (slot, &step) in e.steps.iter().enumerate() {
            let at = e.staging_at + slot as u64 * e.stride;
            if word(at) == 0 {
                continue;
            }
            let index = ((word(at + 8) as u64) << 32 | word(at + 4) as u64) as i64;
            let s = &self.stage.steps[step];
            let node = g.node(s.node);
            let (noun, bound) = bad_index_noun(&s.kernel.key).unwrap_or(("index", "an axis of size"));
            return Err(Error::node(
                node.label(g),
                &node.op_type,
                format!(
                    "{noun} {index} is out of range for {bound} {} (computed on the device; stage {} step {step}, kernel {})",
                    word(at + 12),
                    self.stage.index,
                    s.kernel.key.label()
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::device::GpuContext;
    use crate::onnx::builder::ModelBuilder;
    use crate::{Backend, DType, IoBinding, Session, Tensor};

    /// A device error raised by a run (here: its device-resident input's buffer was destroyed,
    /// so the copy into the arena fails validation at submit) fails that run with a GPU error
    /// naming the stage; a run with a sound input afterwards works.
    #[test]
    fn a_device_error_in_a_run_fails_that_run() {
        if GpuContext::shared().is_err() {
            eprintln!("SKIP a_device_error_in_a_run_fails_that_run: no GPU adapter");
            return;
        }
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[4]);
        b.node("Relu", &["x"], &["y"], &[]);
        b.output("y", DType::F32, &[4]);
        let s = Session::builder().backend(Backend::Gpu).from_bytes(&b.to_bytes()).unwrap();
        let x = Tensor::new(&[4], vec![-1f32, 2., -3., 4.]).unwrap();
        let run = |d: crate::DeviceTensor| {
            let mut io = IoBinding::new();
            io.bind_input("x", d).bind_output_to_host("y");
            s.run_binding(&mut io).map(|_| io.output("y").unwrap().to_host().unwrap())
        };
        let bad = s.to_device(&x).unwrap();
        match &bad.data {
            DeviceData::Gpu(g) => g.buffer.destroy(),
            _ => panic!("not a GPU tensor"),
        }
        let e = run(bad).expect_err("a run reading a destroyed buffer");
        eprintln!("{e}");
        assert!(matches!(e, Error::Gpu(_)) && e.to_string().contains("running stage"), "{e}");
        let y = run(s.to_device(&x).unwrap()).expect("a run after the error");
        assert_eq!(y.as_slice::<f32>().unwrap(), &[0., 2., 0., 4.]);
    }

    /// The executor binds an index error record exactly to the kernels whose source reports
    /// indices through `layout/index_report_lib`.
    #[test]
    fn index_error_records_bind_to_the_kernels_that_report() {
        for k in KernelKey::all_variants() {
            assert_eq!(k.source().contains("fn report_bad_index"), reports_bad_indices(&k), "{}", k.label());
        }
    }
}
