//! Operators, one file per family. Each op is a struct holding its decoded attributes (with
//! opset-dependent defaults applied at import) and implements [`OpSpec`]: its shape/type rule
//! and its CPU reference kernel. [`registry`] is the one table from (domain, op_type, opset)
//! to importer; `ir::Op` is the closed enum over these structs.

pub mod conv;
pub mod elementwise;
pub mod layout;
pub mod matmul;
pub mod norm;
pub mod pool;
pub mod reduce;
pub mod registry;
pub mod shape_ops;
pub mod softmax;
// --- convert: casts, quantization, signal (h1) ---
pub mod convert;
pub mod quant;
pub mod signal;
// --- end convert ---
// --- normalization, losses, attention (h2) ---
pub mod attention;
pub mod einsum;
pub mod loss;
pub mod misc;
// --- end normalization ---
// --- data movement (h3) ---
pub mod cumulative;
pub mod gather_scatter;
pub mod movement;
pub mod pad;
pub mod select;
// --- end data movement ---
// --- vision (h4) ---
pub mod resize;
pub mod vision;
// --- end vision ---
// --- recurrent, random, strings, ml (h5) ---
pub mod ml;
pub mod recurrent;
// --- end recurrent ---
// --- strings (s1) ---
pub mod strings;
// --- end strings ---
// --- contrib (c1) ---
pub mod contrib;
// --- end contrib ---
// --- contrib quant (q1) ---
pub mod contrib_quant;
// --- end contrib quant ---
// --- contrib attention (attn) ---
pub mod contrib_attention;
pub mod contrib_qattention;
pub mod contrib_qlstm;
// --- end contrib attention (attn) ---
// --- qoperator (quant) ---
pub mod qoperator;
// --- end qoperator (quant) ---
// --- fused (opt) ---
pub mod fused;
pub mod fused_ew;
// --- end fused (opt) ---
// --- control flow, sequences (core) ---
pub mod control;
pub mod sequence;

// --- end control flow ---

use crate::ir::ValueType;
use crate::onnx::attrs::Attrs;
use crate::tensor::{shape::concrete, DType, Data, Dim, Kind, Tensor};

/// What a shape rule knows about one input.
#[derive(Clone, Debug)]
pub struct InferIn<'a> {
    pub dtype: DType,
    pub dims: Vec<Dim>,
    /// The value, when it is a constant or was folded (always known for shape tensors once the
    /// input shapes are concrete).
    pub value: Option<&'a Tensor>,
}

impl InferIn<'_> {
    pub fn rank(&self) -> usize {
        self.dims.len()
    }
    /// The concrete shape, if every dim is known.
    pub fn shape(&self) -> Option<Vec<usize>> {
        concrete(&self.dims)
    }
}

/// Inputs to a shape rule: one entry per declared input slot (`None` = omitted optional).
pub struct InferCx<'a> {
    pub inputs: Vec<Option<InferIn<'a>>>,
    /// How many outputs the node declares (some ops, e.g. Split, size their result by it).
    pub n_outputs: usize,
    /// Set when the rule failed only because an input's value is not known (yet).
    pub missing_value: std::cell::Cell<Option<usize>>,
}

impl<'a> InferCx<'a> {
    /// A required input.
    pub fn input(&self, i: usize) -> Result<&InferIn<'a>, String> {
        self.inputs.get(i).and_then(|x| x.as_ref()).ok_or_else(|| format!("input {i} is required"))
    }
    /// An optional input.
    pub fn opt(&self, i: usize) -> Option<&InferIn<'a>> {
        self.inputs.get(i).and_then(|x| x.as_ref())
    }
    /// The value of input `i` when known.
    pub fn value(&self, i: usize) -> Option<&'a Tensor> {
        self.opt(i).and_then(|x| x.value)
    }
    /// The value of input `i`, which decides the output shape. When it is not known the rule
    /// fails and [`InferCx::missing_value`] records which input it needed.
    pub fn need_value(&self, i: usize) -> Result<&'a Tensor, String> {
        self.input(i)?;
        self.value(i).ok_or_else(|| {
            self.missing_value.set(Some(i));
            format!("the output shape depends on the value of input {i}, which is not known before run time")
        })
    }
}

/// The behaviour every operator provides.
pub trait OpSpec {
    /// Output dtypes and (possibly symbolic) shapes from the inputs'. Returns the reason on
    /// failure; the caller adds the node's name.
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String>;

    /// The CPU reference kernel: all outputs from the inputs (`None` = omitted optional).
    fn eval(&self, inputs: &[Option<&Tensor>], n_outputs: usize) -> Result<Vec<Tensor>, String>;

    /// Outputs that follow from input shapes alone (Shape, Size), when those are concrete.
    fn eval_from_shapes(&self, _cx: &InferCx) -> Option<Result<Vec<Tensor>, String>> {
        None
    }

    /// True when output 0 is input 0's data under a new shape (Reshape, Flatten, Squeeze,
    /// Unsqueeze, Identity, Dropout): the plan aliases instead of copying, provided the node's
    /// other outputs (Dropout's mask) are unused.
    fn is_alias(&self) -> bool {
        false
    }

    /// False for ops whose result must not be computed ahead of time (random generators).
    fn foldable(&self) -> bool {
        true
    }

    /// Indices of inputs whose *values* (not just shapes) decide the output shape, so the
    /// plan must know them before it can allocate (Reshape's shape, Slice's starts, …).
    fn shape_inputs(&self) -> &'static [usize] {
        &[]
    }

    /// False for ops that read only their inputs' shapes (Shape, Size): the inputs' data is
    /// then not needed and their producers may be skipped.
    fn reads_data(&self) -> bool {
        true
    }

    /// The kinds of the outputs (tensor, sequence, optional) from the inputs' kinds; tensor
    /// ops yield tensors.
    fn output_kinds(&self, _inputs: &[Kind], n_outputs: usize) -> Vec<Kind> {
        vec![Kind::Tensor; n_outputs]
    }

    /// The host kernel over run-time values (sequences and optionals included). Tensor ops
    /// keep the default, which unwraps tensors and calls [`OpSpec::eval`].
    fn eval_data(&self, inputs: &[Option<&Data>], n_outputs: usize) -> Result<Vec<Data>, String> {
        let ts: Vec<Option<&Tensor>> =
            inputs.iter().map(|d| d.map(|d| d.as_tensor()).transpose()).collect::<Result<_, _>>()?;
        Ok(self.eval(&ts, n_outputs)?.into_iter().map(Data::Tensor).collect())
    }
}

/// What an importer sees of a node.
pub struct NodeCtx<'a> {
    pub name: &'a str,
    pub op_type: &'a str,
    pub domain: &'a str,
    /// The opset version the model imports for the node's domain.
    pub opset: i64,
    pub attrs: &'a Attrs,
    pub n_inputs: usize,
    pub n_outputs: usize,
    /// Whether each declared output is present (an empty name marks an omitted optional output).
    pub outputs_present: &'a [bool],
    /// Graph-valued attributes, imported as subgraphs: (attribute name, subgraph index).
    pub subgraphs: &'a [(String, usize)],
}

impl NodeCtx<'_> {
    /// The subgraph imported from graph attribute `name`.
    pub fn subgraph(&self, name: &str) -> Result<usize, String> {
        self.subgraphs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, i)| *i)
            .ok_or_else(|| format!("missing graph attribute '{name}'"))
    }
}

/// Shorthand for building output types.
pub fn vt(dtype: DType, dims: Vec<Dim>) -> ValueType {
    ValueType { dtype, dims }
}

/// Requires input `i` to be a float tensor of any supported float width.
pub fn expect_float(cx: &InferCx, i: usize) -> Result<DType, String> {
    let d = cx.input(i)?.dtype;
    if !d.is_float() {
        return Err(format!("input {i} must be a float tensor, got {d}"));
    }
    Ok(d)
}

/// Reads a 1-D (or scalar) int tensor as i64s.
pub fn ints_of(t: &Tensor) -> Result<Vec<i64>, String> {
    if !t.dtype().is_int() {
        return Err(format!("expected an integer tensor, got {}", t.dtype()));
    }
    t.to_i64_vec()
}

/// Reads a required input's value for the reference kernels.
pub fn need<'t>(inputs: &[Option<&'t Tensor>], i: usize) -> Result<&'t Tensor, String> {
    inputs.get(i).copied().flatten().ok_or_else(|| format!("input {i} is required"))
}
