//! onnx-wgpu: a GPU inference engine for ONNX models. Models run as WGSL compute shaders
//! through wgpu (Vulkan, Metal, DX12), or on the CPU reference backend.
//!
//! ```no_run
//! use onnx_wgpu::{Backend, Session, Tensor};
//! let session = Session::builder().backend(Backend::Auto).from_file("model.onnx")?;
//! let x = Tensor::new(&[1, 3, 224, 224], vec![0.5f32; 3 * 224 * 224]).unwrap();
//! let outputs = session.run(&[("input", x)])?;
//! let probs: &[f32] = outputs[0].as_slice().unwrap();
//! println!("{} on {}", probs.len(), session.device_name());
//! # Ok::<(), onnx_wgpu::Error>(())
//! ```
//!
//! The data flows one way: bytes ─[`onnx`]→ [`ir::Graph`] ─[`opt`]→ graph ─[`plan`]→ plan ─
//! [`backend`]→ outputs.

// Index loops read like the math in kernels and shape rules; plan tuples stay local.
#![allow(clippy::needless_range_loop, clippy::type_complexity)]

pub mod backend;

pub mod embedded;
pub mod error;
pub mod ir;
pub mod onnx;
pub mod ops;
pub mod opt;
pub mod plan;
pub mod tensor;
pub mod testing;

pub use backend::profile::{Clock, OpTime, Profile, StepTiming};
pub use backend::PlanReport;
pub use error::{Error, Result, UnsupportedOp};
pub use tensor::{DType, Data, Dim, Element, Kind, Tensor};

use backend::{cpu::CpuEngine, wgpu::device::GpuContext, wgpu::GpuEngine, Engine};
use ir::Graph;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Where a session runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The GPU if an adapter exists, else the CPU.
    Auto,
    /// The GPU through wgpu; fails if no adapter exists.
    Gpu,
    /// The CPU reference backend.
    Cpu,
}

impl std::str::FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Backend> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Backend::Auto),
            "gpu" => Ok(Backend::Gpu),
            "cpu" => Ok(Backend::Cpu),
            _ => Err(Error::Usage(format!("unknown backend '{s}' (expected auto, gpu or cpu)"))),
        }
    }
}

/// A graph input or output as declared (inputs) or inferred (outputs).
#[derive(Clone, Debug, PartialEq)]
pub struct IoInfo {
    pub name: String,
    pub dtype: DType,
    /// Known sizes, named symbolic dims, or unknown.
    pub dims: Vec<Dim>,
    /// Tensor, sequence or optional (`dtype`/`dims` then describe the tensors inside).
    pub kind: Kind,
}

/// Options for building a [`Session`].
#[derive(Clone, Debug)]
pub struct SessionBuilder {
    backend: Backend,
    load: onnx::LoadOptions,
    optimize: bool,
    max_binding_bytes: Option<u64>,
    cpu_fallback: bool,
    profile: bool,
}

impl Default for SessionBuilder {
    fn default() -> Self {
        SessionBuilder {
            backend: Backend::Auto,
            load: Default::default(),
            optimize: true,
            max_binding_bytes: None,
            cpu_fallback: true,
            profile: false,
        }
    }
}

impl SessionBuilder {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn backend(mut self, b: Backend) -> Self {
        self.backend = b;
        self
    }
    /// Runs the graph optimizer (constant folding, dead code) at creation; on by default.
    pub fn optimize(mut self, on: bool) -> Self {
        self.optimize = on;
        self
    }
    /// Largest element count accepted for one tensor of the model.
    pub fn max_tensor_elements(mut self, n: usize) -> Self {
        self.load.max_tensor_elements = n;
        self
    }

    /// Caps the size of one GPU buffer binding below the adapter's limit (tensors larger than
    /// this are bound in slices where the kernel supports it). For testing and diagnosis.
    pub fn max_binding_bytes(mut self, n: u64) -> Self {
        self.max_binding_bytes = Some(n);
        self
    }

    /// On the GPU, run nodes that have no GPU kernel on the CPU (with the transfers that
    /// needs); on by default. Off, such a node is an error naming it — the honest measure of
    /// GPU coverage.
    pub fn cpu_fallback(mut self, on: bool) -> Self {
        self.cpu_fallback = on;
        self
    }

    /// Records per-step timings of every run (GPU timestamp queries, or the wall clock on the
    /// CPU), read with [`Session::last_profile`]; off by default. A profiled GPU run puts each
    /// dispatch in its own compute pass, so it is a little slower than an unprofiled one.
    pub fn profile(mut self, on: bool) -> Self {
        self.profile = on;
        self
    }

    fn gpu_options(&self) -> backend::wgpu::GpuOptions {
        backend::wgpu::GpuOptions { max_binding: self.max_binding_bytes, no_fallback: !self.cpu_fallback }
    }

    /// Loads a model file (external data resolves relative to its folder).
    pub fn from_file(self, path: impl AsRef<Path>) -> Result<Session> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let dir = path.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p });
        self.build(&bytes, dir)
    }

    /// Loads a model from memory (external data is refused).
    pub fn from_bytes(self, bytes: &[u8]) -> Result<Session> {
        self.build(bytes, None)
    }

    fn build(self, bytes: &[u8], dir: Option<&Path>) -> Result<Session> {
        let mut g = onnx::load_model(bytes, dir, &self.load)?;
        if self.optimize {
            opt::optimize(&mut g, &opt::default_passes())?;
        }
        let graph = Arc::new(g);
        let (engine, backend): (Box<dyn Engine>, Backend) = match self.backend {
            Backend::Cpu => (Box::new(CpuEngine::new(graph.clone())), Backend::Cpu),
            Backend::Gpu => {
                (Box::new(GpuEngine::new(graph.clone(), GpuContext::shared()?, self.gpu_options())), Backend::Gpu)
            }
            Backend::Auto => match GpuContext::shared() {
                Ok(ctx) => (Box::new(GpuEngine::new(graph.clone(), ctx, self.gpu_options())), Backend::Gpu),
                Err(_) => (Box::new(CpuEngine::new(graph.clone())), Backend::Cpu),
            },
        };
        let info = |v: ir::ValueId| {
            let val = graph.value(v);
            let (dtype, dims) = match &val.ty {
                Some(t) => (t.dtype, t.dims.clone()),
                None => (DType::F32, vec![]),
            };
            IoInfo { name: val.name.clone(), dtype, dims, kind: val.kind.clone() }
        };
        let inputs = graph.inputs.iter().map(|&v| info(v)).collect();
        let outputs = graph.outputs.iter().map(|&v| info(v)).collect();
        engine.set_profiling(self.profile);
        let s = Session { graph, engine, backend, inputs, outputs };
        // With static input shapes, plan (and compile pipelines) now rather than on first run.
        if let Some(shapes) = s.static_shapes() {
            s.engine.prepare(&shapes)?;
        }
        Ok(s)
    }
}

/// A loaded model bound to a backend. `Send + Sync`: share it between threads.
pub struct Session {
    graph: Arc<Graph>,
    engine: Box<dyn Engine>,
    backend: Backend,
    inputs: Vec<IoInfo>,
    outputs: Vec<IoInfo>,
}

/// A run's outputs, in the graph's output order, addressable by name.
#[derive(Clone, Debug)]
pub struct Outputs(pub Vec<(String, Tensor)>);

impl Outputs {
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
    pub fn iter(&self) -> impl Iterator<Item = &(String, Tensor)> {
        self.0.iter()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn into_vec(self) -> Vec<(String, Tensor)> {
        self.0
    }
}

impl std::ops::Index<usize> for Outputs {
    type Output = Tensor;
    fn index(&self, i: usize) -> &Tensor {
        &self.0[i].1
    }
}

impl std::ops::Index<&str> for Outputs {
    type Output = Tensor;
    fn index(&self, name: &str) -> &Tensor {
        self.get(name).unwrap_or_else(|| panic!("no output named '{name}'"))
    }
}

impl Session {
    /// Loads a model file on the best available backend.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Session> {
        SessionBuilder::new().from_file(path)
    }
    /// Loads a model from memory on the best available backend.
    pub fn from_bytes(bytes: &[u8]) -> Result<Session> {
        SessionBuilder::new().from_bytes(bytes)
    }
    pub fn builder() -> SessionBuilder {
        SessionBuilder::new()
    }

    pub fn inputs(&self) -> &[IoInfo] {
        &self.inputs
    }
    pub fn outputs(&self) -> &[IoInfo] {
        &self.outputs
    }
    /// The backend the session runs on (`Auto` resolved).
    pub fn backend(&self) -> Backend {
        self.backend
    }
    /// The device that runs the model.
    pub fn device_name(&self) -> String {
        self.engine.device_name()
    }
    /// Compute pipelines compiled so far on this session's GPU device (shared by every session
    /// on that device; `None` on the CPU). Pipelines depend on kernel variants only, never on
    /// shapes, so new input shapes compile nothing new.
    pub fn pipelines_compiled(&self) -> Option<usize> {
        self.engine.pipelines_compiled()
    }
    /// Switches per-step profiling of the following runs on or off (see
    /// [`SessionBuilder::profile`]).
    pub fn set_profiling(&self, on: bool) {
        self.engine.set_profiling(on)
    }
    /// The step timings of the last run made with profiling on (`None` before one).
    pub fn last_profile(&self) -> Option<Profile> {
        self.engine.last_profile()
    }
    /// The optimized graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    fn static_shapes(&self) -> Option<Vec<Vec<usize>>> {
        self.inputs.iter().map(|i| if i.kind.is_tensor() { tensor::shape::concrete(&i.dims) } else { None }).collect()
    }

    /// Checks named inputs against the declared ones and orders them like the graph.
    fn bind(&self, inputs: &[(&str, Data)]) -> Result<Vec<Data>> {
        let mut ordered: Vec<Option<Data>> = vec![None; self.inputs.len()];
        for (name, t) in inputs {
            let i = self.inputs.iter().position(|x| x.name == *name).ok_or_else(|| {
                Error::input(
                    name,
                    format!(
                        "the model has no such input (its inputs: {})",
                        self.inputs.iter().map(|x| x.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )
            })?;
            if ordered[i].is_some() {
                return Err(Error::input(name, "given twice"));
            }
            ordered[i] = Some(t.clone());
        }
        let mut syms: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::with_capacity(ordered.len());
        for (info, d) in self.inputs.iter().zip(ordered) {
            let d = d.ok_or_else(|| Error::input(&info.name, "missing"))?;
            let t = match (&d, &info.kind) {
                (Data::Tensor(t), Kind::Tensor) => t,
                (Data::Sequence(_), Kind::Sequence(_)) | (Data::Optional(_), Kind::Optional(_)) => {
                    out.push(d);
                    continue;
                }
                (d, k) => return Err(Error::input(&info.name, format!("expected a {k}, got a {}", d.kind_name()))),
            };
            if t.dtype() != info.dtype {
                return Err(Error::input(&info.name, format!("expected {}, got {}", info.dtype, t.dtype())));
            }
            if t.rank() != info.dims.len() {
                return Err(Error::input(
                    &info.name,
                    format!(
                        "expected rank {} {}, got shape {:?}",
                        info.dims.len(),
                        tensor::shape::fmt_dims(&info.dims),
                        t.shape()
                    ),
                ));
            }
            for (k, (d, &s)) in info.dims.iter().zip(t.shape()).enumerate() {
                match d {
                    Dim::Known(n) if *n != s => {
                        return Err(Error::input(
                            &info.name,
                            format!("dim {k} must be {n}, got {s} (shape {:?})", t.shape()),
                        ))
                    }
                    Dim::Sym(name) => {
                        if let Some(&prev) = syms.get(name.as_ref()) {
                            if prev != s {
                                return Err(Error::input(
                                    &info.name,
                                    format!("dim {k} ('{name}') is {s}, but another input gave '{name}' = {prev}"),
                                ));
                            }
                        }
                        syms.insert(name, s);
                    }
                    _ => {}
                }
            }
            out.push(d);
        }
        Ok(out)
    }

    /// Runs the model on named tensor inputs; returns every graph output by name. For models
    /// with sequence- or optional-typed inputs or outputs, use [`Session::run_data`].
    pub fn run(&self, inputs: &[(&str, Tensor)]) -> Result<Outputs> {
        let data: Vec<(&str, Data)> = inputs.iter().map(|(n, t)| (*n, Data::Tensor(t.clone()))).collect();
        let outs = self.run_data(&data)?;
        let mut res = Vec::with_capacity(outs.len());
        for (name, d) in outs {
            let t =
                d.into_tensor().map_err(|e| Error::Usage(format!("output '{name}': {e}; use Session::run_data")))?;
            res.push((name, t));
        }
        Ok(Outputs(res))
    }

    /// Runs the model on named values of any kind (tensors, sequences, optionals).
    pub fn run_data(&self, inputs: &[(&str, Data)]) -> Result<Vec<(String, Data)>> {
        let ordered = self.bind(inputs)?;
        let outs = self.engine.run(&ordered)?;
        Ok(self.outputs.iter().map(|o| o.name.clone()).zip(outs).collect())
    }

    /// The plan the backend uses for these input shapes (in input order).
    pub fn plan_report(&self, shapes: &[Vec<usize>]) -> Result<PlanReport> {
        self.engine.describe(shapes)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<super::Session>();
    }
}
