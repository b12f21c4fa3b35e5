//! Shape-producing ops (ai.onnx): Shape (with start/end), Size, ConstantOfShape, Range. Shape
//! and Size follow from input shapes alone, so the planner folds them on the host; with them,
//! int64 shape arithmetic (Shape → Gather → Concat → Reshape) folds whenever shapes are known.

use super::{ints_of, need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::{DType, Dim, Tensor};

#[derive(Clone, Debug)]
pub struct Shape {
    pub start: i64,
    pub end: Option<i64>,
}

impl Shape {
    fn range(&self, rank: usize) -> (usize, usize) {
        let r = rank as i64;
        let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
        let s = clamp(self.start);
        let e = clamp(self.end.unwrap_or(r));
        (s, e.max(s))
    }
}

impl OpSpec for Shape {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (s, e) = self.range(cx.input(0)?.rank());
        Ok(vec![vt(DType::I64, vec![Dim::Known(e - s)])])
    }
    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let (s, e) = self.range(x.rank());
        let v: Vec<i64> = x.shape()[s..e].iter().map(|&d| d as i64).collect();
        Ok(vec![Tensor::new(&[v.len()], v)?])
    }
    fn eval_from_shapes(&self, cx: &InferCx) -> Option<Result<Vec<Tensor>, String>> {
        let x = cx.opt(0)?;
        let (s, e) = self.range(x.rank());
        let dims: Option<Vec<i64>> = x.dims[s..e].iter().map(|d| d.known().map(|v| v as i64)).collect();
        dims.map(|v| Tensor::new(&[v.len()], v).map(|t| vec![t]))
    }
    fn reads_data(&self) -> bool {
        false
    }
}

#[derive(Clone, Debug)]
pub struct Size;

impl OpSpec for Size {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        cx.input(0)?;
        Ok(vec![vt(DType::I64, vec![])])
    }
    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        Ok(vec![Tensor::scalar(need(inputs, 0)?.numel() as i64)])
    }
    fn eval_from_shapes(&self, cx: &InferCx) -> Option<Result<Vec<Tensor>, String>> {
        let s = cx.opt(0)?.shape()?;
        Some(Ok(vec![Tensor::scalar(s.iter().product::<usize>() as i64)]))
    }
    fn reads_data(&self) -> bool {
        false
    }
}

/// ConstantOfShape: a tensor of the given shape filled with `value` (default float 0).
#[derive(Clone, Debug)]
pub struct ConstantOfShape {
    pub value: Tensor,
}

fn dims_of(t: &Tensor) -> Result<Vec<usize>, String> {
    ints_of(t)?.iter().map(|&d| if d >= 0 { Ok(d as usize) } else { Err(format!("negative dim {d}")) }).collect()
}

impl OpSpec for ConstantOfShape {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let s = cx.input(0)?;
        let dims = match cx.value(0) {
            Some(v) => dims_of(v)?.into_iter().map(Dim::Known).collect(),
            None => match s.dims.first().and_then(|d| d.known()) {
                Some(r) => vec![Dim::Unknown; r],
                None => return Err(cx.need_value(0).err().unwrap_or_default()),
            },
        };
        Ok(vec![vt(self.value.dtype(), dims)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let shape = dims_of(need(inputs, 0)?)?;
        let n: usize = crate::tensor::shape::checked_numel(&shape).ok_or("shape overflows")?;
        let idx = vec![0usize; n];
        self.value.take(&idx, &shape).map(|t| vec![t])
    }
    fn shape_inputs(&self) -> &'static [usize] {
        &[0]
    }
}

/// Range(start, limit, delta): `ceil((limit − start) / delta)` elements.
#[derive(Clone, Debug)]
pub struct Range;

impl OpSpec for Range {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let d = cx.input(0)?.dtype;
        let vals: Option<Vec<&Tensor>> = (0..3).map(|i| cx.value(i)).collect();
        let len = match vals {
            Some(v) => Dim::Known(self.eval(&[Some(v[0]), Some(v[1]), Some(v[2])], 1)?[0].numel()),
            None => Dim::Unknown,
        };
        Ok(vec![vt(d, vec![len])])
    }
    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (s, l, d) = (need(inputs, 0)?, need(inputs, 1)?, need(inputs, 2)?);
        let dt = s.dtype();
        if dt.is_int() {
            let (s, l, d) = (s.to_i64_vec()?[0], l.to_i64_vec()?[0], d.to_i64_vec()?[0]);
            if d == 0 {
                return Err("Range delta is 0".into());
            }
            let n = ((l - s) as f64 / d as f64).ceil().max(0.0) as usize;
            let v: Vec<i64> = (0..n as i64).map(|i| s + i * d).collect();
            Ok(vec![Tensor::from_i64(dt, &[n], &v)?])
        } else {
            let (s, l, d) = (s.to_f64_vec()?[0], l.to_f64_vec()?[0], d.to_f64_vec()?[0]);
            if d == 0.0 {
                return Err("Range delta is 0".into());
            }
            let n = ((l - s) / d).ceil().max(0.0) as usize;
            let v: Vec<f64> = if dt == DType::F32 {
                let (s, d) = (s as f32, d as f32);
                (0..n).map(|i| (s + i as f32 * d) as f64).collect()
            } else {
                (0..n).map(|i| s + i as f64 * d).collect()
            };
            Ok(vec![Tensor::from_f64(dt, &[n], &v)?])
        }
    }
    fn shape_inputs(&self) -> &'static [usize] {
        &[0, 1, 2]
    }
}

pub fn import_shape(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Shape(Shape { start: c.attrs.int("start", 0)?, end: c.attrs.opt_int("end")? }))
}
pub fn import_size(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Size(Size))
}
pub fn import_constant_of_shape(c: &NodeCtx) -> Result<Op, String> {
    let value = match c.attrs.opt_tensor("value")? {
        Some(t) => {
            if t.numel() != 1 {
                return Err("ConstantOfShape's value must hold one element".into());
            }
            t.reshape(&[1])?
        }
        None => Tensor::new(&[1], vec![0f32])?,
    };
    Ok(Op::ConstantOfShape(ConstantOfShape { value }))
}
pub fn import_range(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Range(Range))
}
