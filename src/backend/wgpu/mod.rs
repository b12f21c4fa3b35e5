//! The wgpu backend: runs plans as WGSL compute shaders on Vulkan, Metal, DX12 (or GL when
//! asked for). [`device`] opens the shared device, [`shaders`] holds the WGSL table and
//! prelude, [`pipeline`] caches pipelines and layouts, [`kernels`] lowers ops to dispatches and
//! [`exec`] prepares and runs plans. Only this module imports wgpu.

pub mod device;
pub mod exec;
pub mod kernels;
pub mod pipeline;
pub mod shaders;

use super::{Engine, PlanCache, PlanReport};
use crate::error::Result;
use crate::ir::Graph;
use crate::plan::{self, PlanLimits};
use crate::tensor::Tensor;
use device::GpuContext;
use exec::{Prepared, WeightCache};
use kernels::GpuLowering;
use std::sync::Arc;

pub(crate) struct GpuEngine {
    graph: Arc<Graph>,
    ctx: Arc<GpuContext>,
    lowering: GpuLowering,
    weights: WeightCache,
    plans: PlanCache<Prepared>,
    max_binding: Option<u64>,
}

impl GpuEngine {
    /// `max_binding` caps the adapter's storage binding limit (see `SessionBuilder`).
    pub fn new(graph: Arc<Graph>, ctx: Arc<GpuContext>, max_binding: Option<u64>) -> Self {
        let lowering = GpuLowering { f16: ctx.has_f16() };
        GpuEngine { graph, ctx, lowering, weights: WeightCache::default(), plans: PlanCache::default(), max_binding }
    }

    pub fn limits(&self) -> PlanLimits {
        let l = &self.ctx.limits;
        PlanLimits {
            align: (l.min_storage_buffer_offset_alignment as u64).max(4),
            max_binding: l.max_storage_buffer_binding_size.min(self.max_binding.unwrap_or(u64::MAX)),

            max_buffer: l.max_buffer_size,
        }
    }

    fn prepared(&self, shapes: &[Vec<usize>]) -> Result<Arc<Prepared>> {
        self.plans.get_or_build(shapes, || {
            let p = plan::build(&self.graph, shapes, &self.lowering, &self.limits())?;
            Prepared::new(&self.ctx, &self.graph, p, &self.weights)
        })
    }
}

impl Engine for GpuEngine {
    fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|t| t.shape().to_vec()).collect();
        let p = self.prepared(&shapes)?;
        p.run(&self.ctx, &self.graph, inputs, &self.weights)
    }

    fn prepare(&self, shapes: &[Vec<usize>]) -> Result<()> {
        self.prepared(shapes).map(|_| ())
    }

    fn describe(&self, shapes: &[Vec<usize>]) -> Result<PlanReport> {
        let p = plan::build(&self.graph, shapes, &self.lowering, &self.limits())?;
        Ok(super::report(&self.graph, &p))
    }

    fn device_name(&self) -> String {
        self.ctx.describe()
    }
}
