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
//! Outputs can stay on the device and feed the next run without a host round trip (an
//! IO binding, see [`IoBinding`]); [`Session::transfer_stats`] counts the transfers.
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
pub use backend::resident::{DeviceTensor, TransferStats, Value};
pub use backend::PlanReport;
pub use error::{Error, Result, UnsupportedOp};
pub use tensor::{DType, Data, Dim, Element, Kind, Tensor};

use backend::resident::Bound;
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
    threads: Option<usize>,
    profile: bool,
    precision: Precision,
    f16_accumulation: bool,
}

/// The default [`SessionBuilder::max_memory_bytes`]: half the host's physical memory (from
/// `/proc/meminfo`), or 4 GiB where that cannot be read.
pub fn default_max_memory_bytes() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib.saturating_mul(1024))
    });
    total.map(|t| t / 2).unwrap_or(4 << 30)
}

impl Default for SessionBuilder {
    fn default() -> Self {
        SessionBuilder {
            backend: Backend::Auto,
            load: onnx::LoadOptions { max_memory_bytes: default_max_memory_bytes(), ..Default::default() },
            optimize: true,
            max_binding_bytes: None,
            cpu_fallback: true,
            threads: None,
            profile: false,
            precision: Precision::F32,
            f16_accumulation: false,
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

    /// Bounds the memory a model may make the engine allocate: the initializers' total bytes,
    /// every tensor that constant folding or planning sizes (inferred output shapes, including
    /// shapes computed from run-time values), and each stage's planned activation arena plus the
    /// weights it binds. Exceeding it is an [`Error::Limit`] naming the node or tensor, raised
    /// before the allocation. Default: [`default_max_memory_bytes`] (half the host's memory); on
    /// the GPU the adapter's buffer limits apply as well.
    pub fn max_memory_bytes(mut self, n: u64) -> Self {
        self.load.max_memory_bytes = n;
        self
    }

    /// Caps the size of one GPU buffer binding below the adapter's limit (tensors larger than
    /// this are bound in slices where the kernel supports it). For testing and diagnosis.
    pub fn max_binding_bytes(mut self, n: u64) -> Self {
        self.max_binding_bytes = Some(n);
        self
    }

    /// Threads of the CPU backend's kernels (default: one per available core).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n.max(1));
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

    /// Runs an f32 model in [`Precision::F16`]: f32 weights converted to f16 at load, most ops
    /// in f16, inputs and outputs still f32 (the `opt::to_fp16` pass says what stays f32).
    pub fn precision(mut self, p: Precision) -> Self {
        self.precision = p;
        self
    }
    /// Lets f16 matrix products on the GPU accumulate in f16 instead of f32: faster where the
    /// hardware has f16 arithmetic, less accurate for long K. Off by default.
    pub fn f16_accumulation(mut self, on: bool) -> Self {
        self.f16_accumulation = on;
        self
    }

    fn gpu_options(&self) -> backend::wgpu::GpuOptions {
        backend::wgpu::GpuOptions {
            max_binding: self.max_binding_bytes,
            no_fallback: !self.cpu_fallback,
            f16_accumulation: self.f16_accumulation,
        }
    }

    /// Loads a model file (external data resolves relative to its folder).
    pub fn from_file(self, path: impl AsRef<Path>) -> Result<Session> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let dir = path.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p });
        error::guard("loading the model", || self.build(&bytes, dir))
    }

    /// Loads a model from memory (external data is refused).
    pub fn from_bytes(self, bytes: &[u8]) -> Result<Session> {
        error::guard("loading the model", || self.build(bytes, None))
    }

    fn build(self, bytes: &[u8], dir: Option<&Path>) -> Result<Session> {
        let mut g = onnx::load_model(bytes, dir, &self.load)?;
        if self.optimize {
            opt::optimize(&mut g, &opt::default_passes())?;
        }
        if self.precision == Precision::F16 {
            opt::optimize(&mut g, &opt::fp16_passes())?;
        }
        let graph = Arc::new(g);
        let (engine, backend): (Box<dyn Engine>, Backend) = match self.backend {
            Backend::Cpu => (Box::new(CpuEngine::new(graph.clone(), self.threads)?), Backend::Cpu),
            Backend::Gpu => {
                (Box::new(GpuEngine::new(graph.clone(), GpuContext::shared()?, self.gpu_options())), Backend::Gpu)
            }
            Backend::Auto => match GpuContext::shared() {
                Ok(ctx) => (Box::new(GpuEngine::new(graph.clone(), ctx, self.gpu_options())), Backend::Gpu),
                Err(_) => (Box::new(CpuEngine::new(graph.clone(), self.threads)?), Backend::Cpu),
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

/// The float precision a session computes an f32 model in ([`SessionBuilder::precision`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// As the model says.
    #[default]
    F32,
    /// f32 weights and activations in f16; model inputs and outputs stay f32.
    F16,
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

    /// Checks named inputs (host data or device tensors) against the declared ones and orders
    /// them like the graph.
    fn bind(&self, inputs: Vec<(&str, Bound)>) -> Result<Vec<Bound>> {
        let mut ordered: Vec<Option<Bound>> = vec![None; self.inputs.len()];
        for (name, t) in inputs {
            let i = self.inputs.iter().position(|x| x.name == name).ok_or_else(|| {
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
            ordered[i] = Some(t);
        }
        let mut syms: HashMap<&str, usize> = HashMap::new();
        let mut out = Vec::with_capacity(ordered.len());
        for (info, d) in self.inputs.iter().zip(ordered) {
            let d = d.ok_or_else(|| Error::input(&info.name, "missing"))?;
            let (dtype, shape) = match (&d, &info.kind) {
                (Bound::Host(Data::Tensor(t)), Kind::Tensor) => (t.dtype(), t.shape()),
                (Bound::Device(t), Kind::Tensor) => (t.dtype(), t.shape()),
                (Bound::Host(Data::Sequence(_)), Kind::Sequence(_))
                | (Bound::Host(Data::Optional(_)), Kind::Optional(_)) => {
                    out.push(d);
                    continue;
                }
                (Bound::Host(d), k) => {
                    return Err(Error::input(&info.name, format!("expected a {k}, got a {}", d.kind_name())))
                }
                (Bound::Device(_), k) => {
                    return Err(Error::input(&info.name, format!("expected a {k}, got a device tensor")))
                }
            };
            if dtype != info.dtype {
                return Err(Error::input(&info.name, format!("expected {}, got {}", info.dtype, dtype)));
            }
            if shape.len() != info.dims.len() {
                return Err(Error::input(
                    &info.name,
                    format!(
                        "expected rank {} {}, got shape {:?}",
                        info.dims.len(),
                        tensor::shape::fmt_dims(&info.dims),
                        shape
                    ),
                ));
            }
            for (k, (d, &s)) in info.dims.iter().zip(shape).enumerate() {
                match d {
                    Dim::Known(n) if *n != s => {
                        return Err(Error::input(&info.name, format!("dim {k} must be {n}, got {s} (shape {shape:?})")))
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
        let ordered = self.bind(inputs.iter().map(|(n, d)| (*n, Bound::Host(d.clone()))).collect())?;
        let ordered: Vec<Data> = ordered
            .into_iter()
            .map(|b| match b {
                Bound::Host(d) => d,
                Bound::Device(_) => unreachable!("host inputs only"),
            })
            .collect();
        let outs = error::guard("running the model", || self.engine.run(&ordered))?;
        Ok(self.outputs.iter().map(|o| o.name.clone()).zip(outs).collect())
    }

    /// Runs the model on the inputs bound in `io` (host tensors or [`DeviceTensor`]s of this
    /// session's device) and stores the outputs in `io`: on the device those bound there, on
    /// the host the others. Device inputs enter the run as device-to-device copies; device
    /// outputs are copied out of the run's working memory, so they stay valid across later
    /// runs. Inputs are checked like [`Session::run`]'s (same errors); a device tensor of
    /// another device is refused.
    pub fn run_binding(&self, io: &mut IoBinding) -> Result<()> {
        io.outputs.clear();
        for (name, _) in &io.placement {
            if !self.outputs.iter().any(|o| &o.name == name) {
                return Err(Error::Usage(format!(
                    "the model has no output '{name}' (its outputs: {})",
                    self.outputs.iter().map(|x| x.name.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
        }
        let inputs: Vec<(&str, Bound)> = io
            .inputs
            .iter()
            .map(|(n, v)| {
                let b = match v {
                    Value::Host(t) => Bound::Host(Data::Tensor(t.clone())),
                    Value::Device(t) => Bound::Device(t.clone()),
                };
                (n.as_str(), b)
            })
            .collect();
        let ordered = self.bind(inputs)?;
        let device: Vec<bool> = self.outputs.iter().map(|o| io.on_device(&o.name)).collect();
        let outs = error::guard("running the model", || self.engine.io().run_io(ordered, &device))?;
        for (o, b) in self.outputs.iter().zip(outs) {
            let v = match b {
                Bound::Device(t) => Value::Device(t),
                Bound::Host(d) => Value::Host(
                    d.into_tensor()
                        .map_err(|e| Error::Usage(format!("output '{}': {e}; use Session::run_data", o.name)))?,
                ),
            };
            io.outputs.push((o.name.clone(), v));
        }
        Ok(())
    }

    /// Copies a host tensor to this session's device (one counted upload on the GPU; the CPU
    /// backend's device tensors are host tensors).
    pub fn to_device(&self, t: &Tensor) -> Result<DeviceTensor> {
        self.engine.io().to_device(t)
    }

    /// Host↔device transfers of run-time data this session has made so far (zero on the CPU
    /// backend). Subtract two readings for the transfers in between.
    pub fn transfer_stats(&self) -> TransferStats {
        self.engine.io().transfer_stats()
    }

    /// The plan the backend uses for these input shapes (in input order).
    pub fn plan_report(&self, shapes: &[Vec<usize>]) -> Result<PlanReport> {
        error::guard("planning", || self.engine.describe(shapes))
    }
}

/// The inputs of a run and where its outputs go, reused across runs (ONNX Runtime's
/// IoBinding): inputs are host tensors or device tensors; outputs stay on the host unless
/// bound to the device. [`Session::run_binding`] fills the outputs; [`IoBinding::feed`] binds
/// an output of the last run as the next run's input, so a decode loop keeps its KV cache on
/// the device:
///
/// ```no_run
/// use onnx_wgpu::{IoBinding, Session, Tensor};
/// let session = Session::from_file("decoder.onnx")?;
/// let mut io = IoBinding::new();
/// io.bind_input("input_ids", Tensor::new(&[1, 1], vec![0i64]).unwrap())
///     .bind_input("past_key", Tensor::zeros(onnx_wgpu::DType::F32, &[1, 4, 0, 8]).unwrap())
///     .bind_input("past_value", Tensor::zeros(onnx_wgpu::DType::F32, &[1, 4, 0, 8]).unwrap())
///     .bind_outputs_to_device();                   // every output stays on the device
/// for _ in 0..16 {
///     session.run_binding(&mut io)?;
///     io.feed("next_token", "input_ids")?.feed("present_key", "past_key")?.feed("present_value", "past_value")?;
/// }
/// let last_token = io.output("next_token").unwrap().to_host()?;  // one download
/// println!("{:?}, {:?}", last_token.to_vec::<i64>(), session.transfer_stats());
/// # Ok::<(), onnx_wgpu::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct IoBinding {
    inputs: Vec<(String, Value)>,
    /// Outputs bound by name (true: on the device), over `all_on_device`.
    placement: Vec<(String, bool)>,
    all_on_device: bool,
    outputs: Vec<(String, Value)>,
}

impl IoBinding {
    pub fn new() -> IoBinding {
        IoBinding::default()
    }
    /// Binds an input (a host [`Tensor`] or a [`DeviceTensor`]), replacing an earlier binding
    /// of the same name.
    pub fn bind_input(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        let value = value.into();
        match self.inputs.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.inputs.push((name.to_string(), value)),
        }
        self
    }
    /// Removes every input binding.
    pub fn clear_inputs(&mut self) -> &mut Self {
        self.inputs.clear();
        self
    }
    fn place(&mut self, name: &str, device: bool) -> &mut Self {
        match self.placement.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = device,
            None => self.placement.push((name.to_string(), device)),
        }
        self
    }
    /// Keeps output `name` on the device.
    pub fn bind_output_to_device(&mut self, name: &str) -> &mut Self {
        self.place(name, true)
    }
    /// Brings output `name` to the host (the default).
    pub fn bind_output_to_host(&mut self, name: &str) -> &mut Self {
        self.place(name, false)
    }
    /// Keeps every output not bound by name on the device.
    pub fn bind_outputs_to_device(&mut self) -> &mut Self {
        self.all_on_device = true;
        self
    }
    fn on_device(&self, name: &str) -> bool {
        self.placement.iter().find(|(n, _)| n == name).map_or(self.all_on_device, |p| p.1)
    }
    /// The last run's outputs, in the graph's output order.
    pub fn outputs(&self) -> &[(String, Value)] {
        &self.outputs
    }
    /// One output of the last run.
    pub fn output(&self, name: &str) -> Option<&Value> {
        self.outputs.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
    /// Binds output `output` of the last run as input `input` (no copy: a device tensor is
    /// shared, and it is never written after it is made).
    pub fn feed(&mut self, output: &str, input: &str) -> Result<&mut Self> {
        let v = self
            .output(output)
            .cloned()
            .ok_or_else(|| Error::Usage(format!("no output '{output}' from the last run to feed as '{input}'")))?;
        Ok(self.bind_input(input, v))
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
