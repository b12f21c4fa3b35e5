//! The wgpu backend: runs stages as WGSL compute shaders on Vulkan, Metal, DX12 (or GL when
//! asked for). [`device`] opens the shared device, [`shaders`] holds the WGSL table and
//! prelude, [`pipeline`] caches pipelines and layouts, [`kernels`] lowers ops to dispatches and
//! [`exec`] prepares and runs stages; [`resident`] holds device-resident tensors' buffers. Only
//! this module imports wgpu.

pub mod device;
pub mod exec;
pub mod kernels;
pub mod pipeline;
pub mod profile;
pub mod resident;
pub mod shaders;
pub mod tune;
pub mod types;

use super::resident::{DeviceData, DeviceTensor, TransferCounters, TransferStats};
use super::{Driver, DriverIo, Engine, PlanReport, StageBackend};
use crate::error::{Error, Result};
use crate::ir::{Graph, ValueId};
use crate::plan::{build_stage, BufRef, PlanEnv, PlanLimits, PlanOptions, Slot, Stage};
use crate::tensor::{Data, Tensor};
use device::GpuContext;
use exec::{Prepared, WeightCache};
use kernels::{GpuKernel, GpuLowering};
use std::collections::HashMap;
use std::sync::Arc;

/// GPU session options.
#[derive(Clone, Copy, Debug, Default)]
pub struct GpuOptions {
    /// Caps the adapter's storage binding limit (see `SessionBuilder::max_binding_bytes`).
    pub max_binding: Option<u64>,
    /// Forbid CPU placement of nodes without a GPU kernel.
    pub no_fallback: bool,
    /// f16 matrix products may accumulate in f16 (`SessionBuilder::f16_accumulation`).
    pub f16_accumulation: bool,
}

pub(crate) struct GpuBackend {
    ctx: Arc<GpuContext>,
    lowering: GpuLowering,
    weights: WeightCache,
    opts: GpuOptions,
    counters: Arc<TransferCounters>,
}

impl GpuBackend {
    pub fn limits(&self) -> PlanLimits {
        let l = &self.ctx.limits;
        PlanLimits {
            align: (l.min_storage_buffer_offset_alignment as u64).max(4),
            max_binding: l.max_storage_buffer_binding_size.min(self.opts.max_binding.unwrap_or(u64::MAX)),
            max_buffer: l.max_buffer_size,
        }
    }
}

impl StageBackend for GpuBackend {
    type Kernel = GpuKernel;
    type Prepared = Prepared;
    type RunState = ();

    fn plan(&self, g: &Graph, env: &PlanEnv) -> Result<Stage<GpuKernel>> {
        build_stage(g, env, &self.lowering, &self.limits(), PlanOptions { fallback: !self.opts.no_fallback })
    }

    fn prepare(&self, g: &Graph, stage: Stage<GpuKernel>, chain: &[&Prepared]) -> Result<Prepared> {
        let before = self.weights.uploaded();
        let p = Prepared::new(&self.ctx, g, stage, chain, &self.weights)?;
        self.counters.plan_stage(p.prepared_bytes() + self.weights.uploaded().saturating_sub(before));
        Ok(p)
    }

    fn stage<'a>(&self, p: &'a Prepared) -> &'a Stage<GpuKernel> {
        &p.stage
    }

    fn run_device(
        &self,
        g: &Graph,
        p: &Prepared,
        host: &mut HashMap<ValueId, Data>,
        dev: &HashMap<ValueId, DeviceTensor>,
        _: &mut (),
    ) -> Result<()> {
        super::check_host_indices(g, &p.stage, host)?;
        p.run(&self.ctx, g, host, dev, &self.counters)
    }

    fn check_device(&self, t: &DeviceTensor) -> std::result::Result<(), String> {
        match &t.data {
            DeviceData::Gpu(b) if Arc::ptr_eq(&b.ctx, &self.ctx) => Ok(()),
            _ => Err(format!(
                "a device tensor on {} cannot feed a session on {} (download it with to_host)",
                t.device(),
                self.ctx.describe()
            )),
        }
    }

    fn download(&self, t: &DeviceTensor) -> Result<Tensor> {
        match &t.data {
            DeviceData::Gpu(b) => b.download(t.dtype(), t.shape(), Some(&self.counters)),
            DeviceData::Host(h) => Ok(h.clone()),
        }
    }

    fn upload(&self, t: &Tensor) -> Result<DeviceTensor> {
        resident::GpuBuffer::upload(&self.ctx, t, &self.counters)
    }

    fn export(&self, last: &Prepared, _: &(), slots: &[&Slot]) -> Result<Vec<DeviceTensor>> {
        let mut sources = Vec::with_capacity(slots.len());
        for s in slots {
            let BufRef::Arena { stage, arena, offset, size } = s.buf else {
                return Err(Error::Gpu("a device output outside the activation arenas".into()));
            };
            let buf =
                last.arena(stage, arena).ok_or_else(|| Error::Gpu(format!("stage {stage} has no arena {arena}")))?;
            sources.push((buf, offset, size, s.dtype, s.shape.clone()));
        }
        resident::export(&self.ctx, &sources, &self.counters)
    }

    fn transfer_stats(&self) -> TransferStats {
        self.counters.snapshot()
    }

    fn run_device_profiled(
        &self,
        g: &Graph,
        p: &Prepared,
        host: &mut HashMap<ValueId, Data>,
        dev: &HashMap<ValueId, DeviceTensor>,
        _: &mut (),
    ) -> Result<(Vec<crate::backend::profile::RawTiming>, Option<String>)> {
        super::check_host_indices(g, &p.stage, host)?;
        p.run_timed(&self.ctx, g, host, dev, &self.counters, true)
    }

    fn clock(&self) -> crate::backend::profile::Clock {
        crate::backend::profile::Clock::Gpu
    }
}

pub(crate) struct GpuEngine {
    driver: Driver<GpuBackend>,
}

impl GpuEngine {
    pub fn new(graph: Arc<Graph>, ctx: Arc<GpuContext>, opts: GpuOptions) -> Self {
        let matmul = kernels::matmul::MatMulConfig {
            f16_acc: opts.f16_accumulation,
            subgroups: ctx.has_subgroups(),
            cpu_adapter: ctx.info.device_type == ::wgpu::DeviceType::Cpu,
            tuner: tune::enabled(&ctx).then(|| Arc::new(tune::Tuner::new(ctx.clone()))),
            forced: std::env::var("ONNX_WGPU_MATMUL").ok().and_then(|s| kernels::matmul::Algo::from_name(&s)),
        };
        let lowering = GpuLowering { caps: ctx.caps(), matmul };
        GpuEngine {
            driver: Driver::new(
                graph,
                GpuBackend { ctx, lowering, weights: WeightCache::default(), opts, counters: Default::default() },
            ),
        }
    }
}

impl Engine for GpuEngine {
    fn run(&self, inputs: &[Data]) -> Result<Vec<Data>> {
        self.driver.run(inputs)
    }
    fn io(&self) -> &dyn DriverIo {
        &self.driver
    }
    fn prepare(&self, shapes: &[Vec<usize>]) -> Result<()> {
        self.driver.prepare(shapes)
    }
    fn describe(&self, shapes: &[Vec<usize>]) -> Result<PlanReport> {
        self.driver.describe(shapes)
    }
    fn device_name(&self) -> String {
        self.driver.backend.ctx.describe()
    }
    fn pipelines_compiled(&self) -> Option<usize> {
        Some(self.driver.backend.ctx.pipelines.created())
    }
    fn set_profiling(&self, on: bool) {
        self.driver.set_profiling(on)
    }
    fn last_profile(&self) -> Option<crate::backend::profile::Profile> {
        self.driver.last_profile()
    }
}
