//! Sequence and optional ops (ai.onnx): SequenceConstruct, SequenceEmpty, SequenceAt,
//! SequenceInsert, SequenceErase, SequenceLength, SplitToSequence, ConcatFromSequence,
//! Optional, OptionalHasElement, OptionalGetElement. They run on the host over [`Data`]
//! (`eval_data`); their shape rules type the tensors inside.

use super::{ints_of, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::{norm_axis, strides};
use crate::tensor::{DType, Data, Dim, Kind, Tensor};

const HOST_ONLY: &str = "sequence and optional ops run over host values";

fn arg<'a>(inputs: &[Option<&'a Data>], i: usize) -> Result<&'a Data, String> {
    inputs.get(i).copied().flatten().ok_or_else(|| format!("input {i} is required"))
}

fn position(p: Option<&Data>, len: usize, insert: bool) -> Result<usize, String> {
    let Some(p) = p else { return Ok(if insert { len } else { len.saturating_sub(1) }) };
    let i = ints_of(p.as_tensor()?)?.first().copied().ok_or("position is empty")?;
    let n = len as i64 + insert as i64;
    let k = if i < 0 { i + len as i64 } else { i };
    if k < 0 || k >= n {
        return Err(format!("position {i} is out of range for a sequence of {len}"));
    }
    Ok(k as usize)
}

fn seq_kind() -> Vec<Kind> {
    vec![Kind::Sequence(Box::new(Kind::Tensor))]
}

macro_rules! host_op {
    ($t:ident) => {
        #[derive(Clone, Debug)]
        pub struct $t;
    };
}

host_op!(SequenceConstruct);
host_op!(SequenceAt);
host_op!(SequenceInsert);
host_op!(SequenceErase);
host_op!(SequenceLength);
host_op!(OptionalHasElement);
host_op!(OptionalGetElement);

/// SequenceEmpty of `dtype`.
#[derive(Clone, Debug)]
pub struct SequenceEmpty {
    pub dtype: DType,
}

/// Optional(input) or an empty optional of the declared type.
#[derive(Clone, Debug)]
pub struct OptionalOp {
    pub elem_dtype: DType,
    pub elem_kind: Kind,
}

#[derive(Clone, Debug)]
pub struct SplitToSequence {
    pub axis: i64,
    pub keepdims: bool,
}

#[derive(Clone, Debug)]
pub struct ConcatFromSequence {
    pub axis: i64,
    pub new_axis: bool,
}

impl OpSpec for SequenceConstruct {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let first = cx.input(0)?;
        let mut dims = first.dims.clone();
        for x in cx.inputs.iter().flatten() {
            if x.dtype != first.dtype {
                return Err(format!("sequence elements must share a dtype, got {} and {}", first.dtype, x.dtype));
            }
            if x.dims != dims {
                dims = if x.rank() == dims.len() { vec![Dim::Unknown; dims.len()] } else { vec![] };
            }
        }
        Ok(vec![vt(first.dtype, dims)])
    }
    fn eval(&self, _: &[Option<&Tensor>], _: usize) -> Result<Vec<Tensor>, String> {
        Err(HOST_ONLY.into())
    }
    fn output_kinds(&self, _: &[Kind], _: usize) -> Vec<Kind> {
        seq_kind()
    }
    fn eval_data(&self, inputs: &[Option<&Data>], _: usize) -> Result<Vec<Data>, String> {
        let v: Vec<Data> = inputs.iter().map(|d| d.cloned().ok_or("missing element")).collect::<Result<_, _>>()?;
        for d in &v {
            d.as_tensor()?;
        }
        Ok(vec![Data::Sequence(v)])
    }
}

impl OpSpec for SequenceEmpty {
    fn infer(&self, _: &InferCx) -> Result<Vec<ValueType>, String> {
        Ok(vec![vt(self.dtype, vec![])])
    }
    fn eval(&self, _: &[Option<&Tensor>], _: usize) -> Result<Vec<Tensor>, String> {
        Err(HOST_ONLY.into())
    }
    fn foldable(&self) -> bool {
        false
    }
    fn output_kinds(&self, _: &[Kind], _: usize) -> Vec<Kind> {
        seq_kind()
    }
    fn eval_data(&self, _: &[Option<&Data>], _: usize) -> Result<Vec<Data>, String> {
        Ok(vec![Data::Sequence(vec![])])
    }
}

impl OpSpec for SequenceAt {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let s = cx.input(0)?;
        Ok(vec![vt(s.dtype, vec![Dim::Unknown; s.rank()])])
    }
    fn eval(&self, _: &[Option<&Tensor>], _: usize) -> Result<Vec<Tensor>, String> {
        Err(HOST_ONLY.into())
    }
    fn eval_data(&self, inputs: &[Option<&Data>], _: usize) -> Result<Vec<Data>, String> {
        let s = arg(inputs, 0)?.as_sequence()?;
        let k = position(Some(arg(inputs, 1)?), s.len(), false)?;
        Ok(vec![s[k].clone()])
    }
}

impl OpSpec for SequenceInsert {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let s = cx.input(0)?;
        Ok(vec![vt(s.dtype, vec![])])
    }
    fn eval(&self, _: &[Option<&Tensor>], _: usize) -> Result<Vec<Tensor>, String> {
        Err(HOST_ONLY.into())
    }
    fn output_kinds(&self, _: &[Kind], _: usize) -> Vec<Kind> {
        seq_kind()
    }
    fn eval_data(&self, inputs: &[Option<&Data>], _: usize) -> Result<Vec<Data>, String> {
        let mut s = arg(inputs, 0)?.as_sequence()?.to_vec();
        let t = arg(inputs, 1)?;
        if let (Some(first), Ok(tt)) = (s.first(), t.as_tensor()) {
            if first.as_tensor()?.dtype() != tt.dtype() {
                return Err("the inserted tensor's dtype differs from the sequence's".into());
            }
        }
        let k = position(inputs.get(2).copied().flatten(), s.len(), true)?;
        s.insert(k, t.clone());
        Ok(vec![Data::Sequence(s)])
    }
}

impl OpSpec for SequenceErase {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let s = cx.input(0)?;
        Ok(vec![vt(s.dtype, vec![])])
    }
    fn eval(&self, _: &[Option<&Tensor>], _: usize) -> Result<Vec<Tensor>, String> {
        Err(HOST_ONLY.into())
    }
    fn output_kinds(&self, _: &[Kind], _: usize) -> Vec<Kind> {
        seq_kind()
    }
    fn eval_data(&self, inputs: &[Option<&Data>], _: usize) -> Result<Vec<Data>, String> {
        let mut s = arg(inputs, 0)?.as_sequence()?.to_vec();
        if s.is_empty() {
            return Err("cannot erase from an empty sequence".into());
        }
        let k = position(inputs.get(1).copied().flatten(), s.len(), false)?;
        s.remove(k);
        Ok(vec![Data::Sequence(s)])
    }
}

impl OpSpec for SequenceLength {
    fn infer(&self, _: &InferCx) -> Result<Vec<ValueType>, String> {
        Ok(vec![vt(DType::I64, vec![])])
    }
    fn eval(&self, _: &[Option<&Tensor>], _: usize) -> Result<Vec<Tensor>, String> {
        Err(HOST_ONLY.into())
    }
    fn eval_data(&self, inputs: &[Option<&Data>], _: usize) -> Result<Vec<Data>, String> {
        Ok(vec![Data::Tensor(Tensor::scalar(arg(inputs, 0)?.as_sequence()?.len() as i64))])
    }
}

impl SplitToSequence {
    fn parts(&self, x: &Tensor, split: Option<&Tensor>) -> Result<Vec<Tensor>, String> {
        let axis = norm_axis(self.axis, x.rank())?;
        let len = x.shape()[axis];
        let (sizes, squeeze) = match split {
            None => (vec![1; len], !self.keepdims),
            Some(s) => {
                let v = ints_of(s)?;
                if s.rank() == 0 {
                    let k = *v.first().ok_or("empty split")?;
                    if k <= 0 {
                        return Err(format!("split size {k} must be positive"));
                    }
                    let k = k as usize;
                    ((0..len.div_ceil(k)).map(|i| k.min(len - i * k)).collect(), false)
                } else {
                    if v.iter().any(|&x| x < 0) || v.iter().sum::<i64>() as usize != len {
                        return Err(format!("split {v:?} does not divide {len}"));
                    }
                    (v.iter().map(|&x| x as usize).collect(), false)
                }
            }
        };
        let st = strides(x.shape());
        let mut at = 0;
        let mut out = Vec::new();
        for s in sizes {
            let mut shape = x.shape().to_vec();
            shape[axis] = s;
            let src: Vec<isize> = st.iter().map(|&v| v as isize).collect();
            let t = x.take(&super::layout::strided_indices(&shape, &src, (at * st[axis]) as isize), &shape)?;
            at += s;
            if squeeze {
                shape.remove(axis);
                out.push(t.reshape(&shape)?);
            } else {
                out.push(t);
            }
        }
        Ok(out)
    }
}

impl OpSpec for SplitToSequence {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        Ok(vec![vt(x.dtype, vec![])])
    }
    fn eval(&self, _: &[Option<&Tensor>], _: usize) -> Result<Vec<Tensor>, String> {
        Err(HOST_ONLY.into())
    }
    fn output_kinds(&self, _: &[Kind], _: usize) -> Vec<Kind> {
        seq_kind()
    }
    fn eval_data(&self, inputs: &[Option<&Data>], _: usize) -> Result<Vec<Data>, String> {
        let x = arg(inputs, 0)?.as_tensor()?;
        let split = inputs.get(1).copied().flatten().map(|d| d.as_tensor()).transpose()?;
        Ok(vec![Data::Sequence(self.parts(x, split)?.into_iter().map(Data::Tensor).collect())])
    }
}

impl OpSpec for ConcatFromSequence {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let s = cx.input(0)?;
        Ok(vec![vt(s.dtype, vec![Dim::Unknown; s.rank() + self.new_axis as usize])])
    }
    fn eval(&self, _: &[Option<&Tensor>], _: usize) -> Result<Vec<Tensor>, String> {
        Err(HOST_ONLY.into())
    }
    fn eval_data(&self, inputs: &[Option<&Data>], _: usize) -> Result<Vec<Data>, String> {
        let s = arg(inputs, 0)?.as_sequence()?;
        let ts: Vec<Tensor> = s.iter().map(|d| d.as_tensor().cloned()).collect::<Result<_, _>>()?;
        let first = ts.first().ok_or("cannot concatenate an empty sequence")?;
        let rank = first.rank() + self.new_axis as usize;
        let axis = norm_axis(self.axis, rank)?;
        let parts: Vec<Tensor> = if self.new_axis {
            ts.iter()
                .map(|t| {
                    let mut sh = t.shape().to_vec();
                    sh.insert(axis, 1);
                    t.reshape(&sh)
                })
                .collect::<Result<_, _>>()?
        } else {
            ts
        };
        let refs: Vec<Option<&Tensor>> = parts.iter().map(Some).collect();
        let c = super::layout::Concat { axis: axis as i64 };
        Ok(vec![Data::Tensor(c.eval(&refs, 1)?.remove(0))])
    }
}

impl OpSpec for OptionalOp {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        Ok(vec![match cx.opt(0) {
            Some(x) => vt(x.dtype, x.dims.clone()),
            None => vt(self.elem_dtype, vec![]),
        }])
    }
    fn eval(&self, _: &[Option<&Tensor>], _: usize) -> Result<Vec<Tensor>, String> {
        Err(HOST_ONLY.into())
    }
    fn foldable(&self) -> bool {
        false
    }
    fn output_kinds(&self, inputs: &[Kind], _: usize) -> Vec<Kind> {
        vec![Kind::Optional(Box::new(inputs.first().cloned().unwrap_or_else(|| self.elem_kind.clone())))]
    }
    fn eval_data(&self, inputs: &[Option<&Data>], _: usize) -> Result<Vec<Data>, String> {
        Ok(vec![Data::Optional(inputs.first().copied().flatten().map(|d| Box::new(d.clone())))])
    }
}

impl OpSpec for OptionalHasElement {
    fn infer(&self, _: &InferCx) -> Result<Vec<ValueType>, String> {
        Ok(vec![vt(DType::Bool, vec![])])
    }
    fn eval(&self, inputs: &[Option<&Tensor>], _: usize) -> Result<Vec<Tensor>, String> {
        // A tensor given where an optional is expected is a present value.
        Ok(vec![Tensor::from_bools(&[], &[inputs.first().copied().flatten().is_some()])?])
    }
    fn eval_data(&self, inputs: &[Option<&Data>], _: usize) -> Result<Vec<Data>, String> {
        let has = match inputs.first().copied().flatten() {
            None | Some(Data::Optional(None)) => false,
            Some(_) => true,
        };
        Ok(vec![Data::Tensor(Tensor::from_bools(&[], &[has])?)])
    }
}

impl OpSpec for OptionalGetElement {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }
    fn eval(&self, inputs: &[Option<&Tensor>], _: usize) -> Result<Vec<Tensor>, String> {
        Ok(vec![super::need(inputs, 0)?.clone()])
    }
    fn output_kinds(&self, inputs: &[Kind], _: usize) -> Vec<Kind> {
        match inputs.first() {
            Some(Kind::Optional(k)) => vec![(**k).clone()],
            Some(k) => vec![k.clone()],
            None => vec![Kind::Tensor],
        }
    }
    fn eval_data(&self, inputs: &[Option<&Data>], _: usize) -> Result<Vec<Data>, String> {
        match arg(inputs, 0)? {
            Data::Optional(Some(d)) => Ok(vec![(**d).clone()]),
            Data::Optional(None) => Err("the optional is empty".into()),
            d => Ok(vec![d.clone()]),
        }
    }
}

pub fn import_sequence_construct(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::SequenceConstruct(SequenceConstruct))
}
pub fn import_sequence_empty(c: &NodeCtx) -> Result<Op, String> {
    let d = c.attrs.int("dtype", 1)?;
    let dtype = DType::from_onnx(d as i32).ok_or_else(|| format!("unknown dtype {d}"))?;
    Ok(Op::SequenceEmpty(SequenceEmpty { dtype }))
}
pub fn import_sequence_at(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::SequenceAt(SequenceAt))
}
pub fn import_sequence_insert(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::SequenceInsert(SequenceInsert))
}
pub fn import_sequence_erase(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::SequenceErase(SequenceErase))
}
pub fn import_sequence_length(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::SequenceLength(SequenceLength))
}
pub fn import_split_to_sequence(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::SplitToSequence(SplitToSequence {
        axis: c.attrs.int("axis", 0)?,
        keepdims: c.attrs.int("keepdims", 1)? != 0,
    }))
}
pub fn import_concat_from_sequence(c: &NodeCtx) -> Result<Op, String> {
    let axis = c.attrs.opt_int("axis")?.ok_or("ConcatFromSequence needs an 'axis' attribute")?;
    Ok(Op::ConcatFromSequence(ConcatFromSequence { axis, new_axis: c.attrs.int("new_axis", 0)? != 0 }))
}
pub fn import_optional(c: &NodeCtx) -> Result<Op, String> {
    let (elem_dtype, elem_kind) = match c.attrs.get("type") {
        Some(crate::onnx::attrs::AttrValue::TypeProto(tp)) => {
            let vi = crate::onnx::proto::ValueInfoProto { r#type: Some((**tp).clone()), ..Default::default() };
            let (t, k) = crate::onnx::import::value_info_kind(&vi).map_err(|e| e.to_string())?;
            (t.map(|t| t.dtype).unwrap_or(DType::F32), k)
        }
        _ => (DType::F32, Kind::Tensor),
    };
    Ok(Op::Optional(OptionalOp { elem_dtype, elem_kind }))
}
pub fn import_optional_has_element(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::OptionalHasElement(OptionalHasElement))
}
pub fn import_optional_get_element(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::OptionalGetElement(OptionalGetElement))
}
