//! Graph → executable stages for concrete input shapes. Pure (no wgpu).
//!
//! A run is a chain of [`Stage`]s. Each stage is planned with everything known so far: input
//! shapes, constants, values folded on the host (shape arithmetic included) and values read
//! back at earlier stage ends. A stage holds device steps (a backend's [`Lowering`] of each
//! node into dispatches, Reshape-like nodes as aliases), then a host part: values read back,
//! and nodes placed on the CPU because the device has no kernel for them. A stage ends when
//! the graph ends, after host-placed nodes, or at a *barrier*: a node whose output shape
//! depends on a value computed at run time (a Reshape target, Slice starts, TopK's k …); the
//! next stage is planned once that value is known, and cached under it. [`alloc`] places each
//! stage's intermediates by liveness.

pub mod alloc;
pub mod describe;
pub mod stage;

pub use describe::describe;
pub use stage::{build_stage, host_value, needed_values, Frame, PlanEnv, PlanOptions, Stage, StageEnd};

use crate::ir::{Node, NodeId, ValueId};
use crate::tensor::{DType, Tensor};

/// Where a planned tensor's bytes live on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BufRef {
    /// A slice of activation arena `arena` of stage `stage`.
    Arena { stage: u32, arena: u32, offset: u64, size: u64 },
    /// A byte range of a graph constant (initializer or folded at load), uploaded once per
    /// session.
    GraphConst { value: ValueId, offset: u64, size: u64 },
    /// A byte range of a constant computed for stage `stage` (shape-dependent folding,
    /// derived parameters).
    PlanConst { stage: u32, index: u32, offset: u64, size: u64 },
}

impl BufRef {
    pub fn size(&self) -> u64 {
        match *self {
            BufRef::Arena { size, .. } | BufRef::GraphConst { size, .. } | BufRef::PlanConst { size, .. } => size,
        }
    }

    /// The bytes `[offset, offset + size)` of this buffer.
    pub fn narrow(self, off: u64, len: u64) -> Result<BufRef, String> {
        let total = self.size();
        if off.checked_add(len).is_none_or(|e| e > total) {
            return Err(format!("byte range [{off}, +{len}) lies outside a binding of {total} bytes"));
        }
        Ok(match self {
            BufRef::Arena { stage, arena, offset, .. } => {
                BufRef::Arena { stage, arena, offset: offset + off, size: len }
            }
            BufRef::GraphConst { value, offset, .. } => BufRef::GraphConst { value, offset: offset + off, size: len },
            BufRef::PlanConst { stage, index, offset, .. } => {
                BufRef::PlanConst { stage, index, offset: offset + off, size: len }
            }
        })
    }
}

/// A concrete tensor on the device.
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    pub buf: BufRef,
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl Slot {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A binding as a lowering names it, relative to its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ref {
    Input(usize),
    /// Bytes `[offset, offset + size)` of an input (to bind part of a tensor larger than
    /// the adapter's binding limit); `offset` must respect [`PlanLimits::align`].
    InputSlice {
        input: usize,
        offset: u64,
        size: u64,
    },
    Output(usize),
    Scratch(usize),
    /// A constant the lowering derived (index into [`Lowered::consts`]).
    Const(usize),
}

/// One kernel launch of a lowered node.
#[derive(Clone, Debug)]
pub struct LoweredDispatch<K> {
    pub kernel: K,
    pub bindings: Vec<Ref>,
}

/// A backend's lowering of one node.
#[derive(Clone, Debug)]
pub struct Lowered<K> {
    pub dispatches: Vec<LoweredDispatch<K>>,
    /// Byte sizes of temporary buffers live only during this node.
    pub scratch: Vec<u64>,
    /// Constants derived at plan time (e.g. reformatted parameters).
    pub consts: Vec<Tensor>,
}

impl<K> Lowered<K> {
    /// One dispatch.
    pub fn single(kernel: K, bindings: Vec<Ref>) -> Self {
        Lowered { dispatches: vec![LoweredDispatch { kernel, bindings }], scratch: vec![], consts: vec![] }
    }
    /// No work (e.g. an empty output).
    pub fn empty() -> Self {
        Lowered { dispatches: vec![], scratch: vec![], consts: vec![] }
    }
}

/// A tensor operand as a lowering sees it.
#[derive(Clone, Debug)]
pub struct Operand {
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// The value when known on the host at plan time.
    pub value: Option<Tensor>,
}

/// What a lowering knows about a node.
pub struct LowerCx<'a> {
    pub node: &'a Node,
    pub label: &'a str,
    pub inputs: Vec<Option<Operand>>,
    /// Outputs to compute (`None`: absent, or read by nothing).
    pub outputs: Vec<Option<Operand>>,
    pub limits: &'a PlanLimits,
}

impl LowerCx<'_> {
    pub fn input(&self, i: usize) -> Result<&Operand, String> {
        self.inputs.get(i).and_then(|o| o.as_ref()).ok_or_else(|| format!("input {i} is required"))
    }
    pub fn output(&self, i: usize) -> Result<&Operand, String> {
        self.outputs.get(i).and_then(|o| o.as_ref()).ok_or_else(|| format!("output {i} is required"))
    }
}

/// A backend's kernel description, as stored in the plan.
pub trait KernelInfo: Clone + std::fmt::Debug + Send + Sync {
    /// A short name for plan listings and profiles (`conv2d_igemm`, `binary_add`, …).
    fn label(&self) -> String;
}

/// How a backend turns nodes into dispatches.
pub trait Lowering {
    type Kernel: KernelInfo;
    /// Bytes the backend stores for `n` elements of `dtype` (before alignment).
    fn storage_bytes(&self, dtype: DType, n: usize) -> u64;
    /// Lowers one node; an error is the reason the device cannot run it (the planner then
    /// places the node on the CPU, or reports the reason with the node's name).
    fn lower(&self, cx: &LowerCx) -> Result<Lowered<Self::Kernel>, String>;
}

/// Plan limits from the backend/adapter.
#[derive(Clone, Debug)]
pub struct PlanLimits {
    /// Offset alignment of bindings (`min_storage_buffer_offset_alignment`).
    pub align: u64,
    /// Largest single binding (`max_storage_buffer_binding_size`).
    pub max_binding: u64,
    /// Largest buffer (`max_buffer_size`): the arena size limit.
    pub max_buffer: u64,
}

/// One kernel launch with resolved buffers.
#[derive(Clone, Debug)]
pub struct Step<K> {
    pub node: NodeId,
    pub kernel: K,
    pub bindings: Vec<BufRef>,
}

/// What became of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeFate {
    /// Computed on the host while planning.
    Folded,
    /// An If whose taken branch (`then`/`else`) is planned in its place.
    Inlined(&'static str),
    /// Its output shares its input's buffer.
    Alias,
    /// Launched on the device as these steps (indices into [`Stage::steps`]).
    Dispatch(std::ops::Range<usize>),
    /// Run on the CPU (the device has no kernel for it), with the reason.
    Host(String),
    /// Not needed for any output.
    Dead,
}

/// Memory figures of a stage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    pub peak_activation_bytes: u64,
    pub activation_lower_bound_bytes: u64,
    pub arenas: usize,
    pub weight_bytes: u64,
    pub plan_const_bytes: u64,
}

impl MemoryStats {
    /// Figures of a chain of stages whose arenas are all alive during a run.
    pub fn sum<'a>(it: impl IntoIterator<Item = &'a MemoryStats>) -> MemoryStats {
        let mut m = MemoryStats::default();
        for s in it {
            m.peak_activation_bytes += s.peak_activation_bytes;
            m.activation_lower_bound_bytes += s.activation_lower_bound_bytes;
            m.arenas += s.arenas;
            m.weight_bytes += s.weight_bytes;
            m.plan_const_bytes += s.plan_const_bytes;
        }
        m
    }
}
