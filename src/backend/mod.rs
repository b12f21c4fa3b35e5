//! Backends execute [`crate::plan::Plan`]s: [`cpu`] with the ops' reference kernels, [`wgpu`]
//! with WGSL compute shaders. Both cache one prepared plan per input-shape signature.

pub mod cpu;
pub mod wgpu;

use crate::error::Result;
use crate::ir::Graph;
use crate::plan::MemoryStats;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A backend bound to one graph.
pub(crate) trait Engine: Send + Sync {
    /// Runs the graph; `inputs` follow `graph.inputs` order and are already validated.
    fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>>;
    /// Builds (and caches) the plan for these input shapes ahead of the first run.
    fn prepare(&self, shapes: &[Vec<usize>]) -> Result<()>;
    /// The plan for these input shapes, as text, with its memory figures and dispatch count.
    fn describe(&self, shapes: &[Vec<usize>]) -> Result<PlanReport>;
    /// The device that runs the plan.
    fn device_name(&self) -> String;
}

/// What `info --plan` prints.
#[derive(Clone, Debug)]
pub struct PlanReport {
    pub text: String,
    pub memory: MemoryStats,
    pub dispatches: usize,
    pub nodes_folded: usize,
    pub nodes_aliased: usize,
}

pub(crate) fn report<K: crate::plan::KernelInfo>(g: &Graph, p: &crate::plan::Plan<K>) -> PlanReport {
    use crate::plan::NodeFate;
    PlanReport {
        text: crate::plan::describe(g, p),
        memory: p.memory.clone(),
        dispatches: p.steps.len(),
        nodes_folded: p.fates.iter().filter(|f| **f == NodeFate::Folded).count(),
        nodes_aliased: p.fates.iter().filter(|f| **f == NodeFate::Alias).count(),
    }
}

/// A cache of prepared plans keyed by the input shapes.
pub(crate) struct PlanCache<P> {
    map: Mutex<HashMap<Vec<Vec<usize>>, Arc<P>>>,
}

impl<P> Default for PlanCache<P> {
    fn default() -> Self {
        PlanCache { map: Mutex::new(HashMap::new()) }
    }
}

impl<P> PlanCache<P> {
    /// The prepared plan for `shapes`, building it with `make` on first use.
    pub fn get_or_build(&self, shapes: &[Vec<usize>], make: impl FnOnce() -> Result<P>) -> Result<Arc<P>> {
        if let Some(p) = self.map.lock().unwrap().get(shapes) {
            return Ok(p.clone());
        }
        let p = Arc::new(make()?);
        self.map.lock().unwrap().insert(shapes.to_vec(), p.clone());
        Ok(p)
    }
}
