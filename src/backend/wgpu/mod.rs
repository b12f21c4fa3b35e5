//! The wgpu backend: runs stages as WGSL compute shaders on Vulkan, Metal, DX12 (or GL when
//! asked for). [`device`] opens the shared device, [`shaders`] holds the WGSL table and
//! prelude, [`pipeline`] caches pipelines and layouts, [`kernels`] lowers ops to dispatches and
//! [`exec`] prepares and runs stages. Only this module imports wgpu.

pub mod device;
pub mod exec;
pub mod kernels;
pub mod pipeline;
pub mod profile;
pub mod shaders;
pub mod types;

use super::{Driver, Engine, PlanReport, StageBackend};
use crate::error::Result;
use crate::ir::{Graph, ValueId};
use crate::plan::{build_stage, PlanEnv, PlanLimits, PlanOptions, Stage};
use crate::tensor::Data;
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
}

pub(crate) struct GpuBackend {
    ctx: Arc<GpuContext>,
    lowering: GpuLowering,
    weights: WeightCache,
    opts: GpuOptions,
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
        Prepared::new(&self.ctx, g, stage, chain, &self.weights)
    }

    fn stage<'a>(&self, p: &'a Prepared) -> &'a Stage<GpuKernel> {
        &p.stage
    }

    fn run_device(&self, g: &Graph, p: &Prepared, host: &mut HashMap<ValueId, Data>, _: &mut ()) -> Result<()> {
        p.run(&self.ctx, g, host)
    }

    fn run_device_profiled(
        &self,
        g: &Graph,
        p: &Prepared,
        host: &mut HashMap<ValueId, Data>,
        _: &mut (),
    ) -> Result<(Vec<crate::backend::profile::RawTiming>, Option<String>)> {
        p.run_timed(&self.ctx, g, host, true)
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
        let lowering = GpuLowering { caps: ctx.caps() };
        GpuEngine { driver: Driver::new(graph, GpuBackend { ctx, lowering, weights: WeightCache::default(), opts }) }
    }
}

impl Engine for GpuEngine {
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
