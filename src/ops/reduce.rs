//! Reductions (ai.onnx): ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare with axes
//! as an attribute (older opsets) or as input 1 (ReduceSum ≥ 13, the rest ≥ 18), keepdims and
//! noop_with_empty_axes; ArgMax/ArgMin with select_last_index.

use super::{ints_of, need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::{norm_axis, strides};
use crate::tensor::{DType, Dim, Tensor};

/// The reduction function. The discriminant is the shader's op code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ReduceKind {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    L1,
    L2,
    LogSum,
    LogSumExp,
    SumSquare,
}

impl ReduceKind {
    /// Every variant, in discriminant order.
    pub const ALL: [ReduceKind; 10] = {
        use ReduceKind::*;
        [Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare]
    };
}

#[derive(Clone, Debug)]
pub struct Reduce {
    pub kind: ReduceKind,
    /// Axes from the attribute form.
    pub axes: Option<Vec<i64>>,
    /// Axes come from input 1 (when given).
    pub axes_input: bool,
    pub keepdims: bool,
    pub noop_with_empty_axes: bool,
}

/// The resolved reduction: which axes, or none at all (identity).
pub enum ReduceAxes {
    Identity,
    Axes(Vec<usize>),
}

impl Reduce {
    /// Resolves the axes given the rank and (for the input form) the axes tensor.
    pub fn resolve(&self, rank: usize, axes_t: Option<&Tensor>) -> Result<ReduceAxes, String> {
        let raw: Option<Vec<i64>> = if self.axes_input { axes_t.map(ints_of).transpose()? } else { self.axes.clone() };
        let raw = raw.unwrap_or_default();
        if raw.is_empty() {
            return Ok(if self.noop_with_empty_axes {
                ReduceAxes::Identity
            } else {
                ReduceAxes::Axes((0..rank).collect())
            });
        }
        let mut axes = raw.iter().map(|&a| norm_axis(a, rank)).collect::<Result<Vec<_>, _>>()?;
        axes.sort_unstable();
        axes.dedup();
        Ok(ReduceAxes::Axes(axes))
    }

    fn out_dtype(&self, d: DType) -> Result<DType, String> {
        // Opset 20 adds bool to ReduceMax/ReduceMin (any/all).
        let bool_ok = d == DType::Bool && matches!(self.kind, ReduceKind::Max | ReduceKind::Min);
        if !(d.is_float() || d.is_int() || bool_ok) {
            return Err(format!("cannot reduce {d}"));
        }
        Ok(d)
    }

    /// The output shape for concrete input dims.
    pub fn out_shape(&self, dims: &[usize], axes: &[usize]) -> Vec<usize> {
        let mut out = Vec::new();
        for (i, &d) in dims.iter().enumerate() {
            if axes.contains(&i) {
                if self.keepdims {
                    out.push(1);
                }
            } else {
                out.push(d);
            }
        }
        out
    }

    fn init(&self) -> f64 {
        match self.kind {
            ReduceKind::Max => f64::NEG_INFINITY,
            ReduceKind::Min => f64::INFINITY,
            ReduceKind::Prod => 1.0,
            _ => 0.0,
        }
    }

    fn step(&self, acc: f64, x: f64) -> f64 {
        match self.kind {
            ReduceKind::Sum | ReduceKind::Mean | ReduceKind::LogSum => acc + x,
            ReduceKind::Max => {
                if x.is_nan() || acc.is_nan() {
                    f64::NAN
                } else {
                    acc.max(x)
                }
            }
            ReduceKind::Min => {
                if x.is_nan() || acc.is_nan() {
                    f64::NAN
                } else {
                    acc.min(x)
                }
            }
            ReduceKind::Prod => acc * x,
            ReduceKind::L1 => acc + x.abs(),
            ReduceKind::L2 | ReduceKind::SumSquare => acc + x * x,
            ReduceKind::LogSumExp => unreachable!(),
        }
    }

    fn finish(&self, acc: f64, count: usize) -> f64 {
        match self.kind {
            ReduceKind::Mean => acc / count as f64,
            ReduceKind::L2 => acc.sqrt(),
            ReduceKind::LogSum => acc.ln(),
            _ => acc,
        }
    }
}

impl OpSpec for Reduce {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let dtype = self.out_dtype(x.dtype)?;
        let axes_t = if self.axes_input && cx.opt(1).is_some() { Some(cx.need_value(1)?) } else { None };
        match self.resolve(x.rank(), axes_t)? {
            ReduceAxes::Identity => Ok(vec![vt(dtype, x.dims.clone())]),
            ReduceAxes::Axes(axes) => {
                let mut out = Vec::new();
                for (i, d) in x.dims.iter().enumerate() {
                    if axes.contains(&i) {
                        if self.keepdims {
                            out.push(Dim::Known(1));
                        }
                    } else {
                        out.push(d.clone());
                    }
                }
                Ok(vec![vt(dtype, out)])
            }
        }
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let axes = match self.resolve(x.rank(), inputs.get(1).copied().flatten())? {
            ReduceAxes::Identity => return Ok(vec![x.clone()]),
            ReduceAxes::Axes(a) => a,
        };
        let shape = x.shape();
        let out_shape = self.out_shape(shape, &axes);
        // Output strides expressed per input axis (0 for reduced axes).
        let kept: Vec<usize> = (0..shape.len()).filter(|i| !axes.contains(i)).collect();
        let kept_dims: Vec<usize> = kept.iter().map(|&i| shape[i]).collect();
        let kst = strides(&kept_dims);
        let mut ost = vec![0usize; shape.len()];
        for (j, &i) in kept.iter().enumerate() {
            ost[i] = kst[j];
        }
        let ist = strides(shape);
        let n_out: usize = kept_dims.iter().product();
        let count: usize = axes.iter().map(|&a| shape[a]).product();
        let v = x.to_f64_vec()?;
        let out_index = |i: usize| -> usize {
            let mut o = 0;
            for d in 0..shape.len() {
                o += ((i / ist[d]) % shape[d]) * ost[d];
            }
            o
        };
        let res: Vec<f64> = if self.kind == ReduceKind::LogSumExp {
            let mut mx = vec![f64::NEG_INFINITY; n_out];
            for (i, &e) in v.iter().enumerate() {
                let o = out_index(i);
                mx[o] = mx[o].max(e);
            }
            let mut s = vec![0.0; n_out];
            for (i, &e) in v.iter().enumerate() {
                let o = out_index(i);
                s[o] += (e - mx[o]).exp();
            }
            s.iter().zip(&mx).map(|(s, m)| if m.is_finite() { s.ln() + m } else { s.ln() }).collect()
        } else {
            let mut acc = vec![self.init(); n_out];
            for (i, &e) in v.iter().enumerate() {
                let o = out_index(i);
                acc[o] = self.step(acc[o], e);
            }
            acc.into_iter().map(|a| self.finish(a, count)).collect()
        };
        if x.dtype().is_int() && count == 0 && matches!(self.kind, ReduceKind::Max | ReduceKind::Min) {
            return Err("cannot take the max/min of an empty integer set".into());
        }
        if x.dtype() == DType::Bool && count == 0 {
            // any() of nothing is false, all() of nothing is true.
            let fill = if self.kind == ReduceKind::Min { 1.0 } else { 0.0 };
            return Ok(vec![Tensor::from_f64(DType::Bool, &out_shape, &vec![fill; n_out])?]);
        }
        Ok(vec![Tensor::from_f64(x.dtype(), &out_shape, &res)?])
    }

    fn shape_inputs(&self) -> &'static [usize] {
        if self.axes_input {
            &[1]
        } else {
            &[]
        }
    }
}

/// ArgMax / ArgMin along one axis; int64 output.
#[derive(Clone, Debug)]
pub struct ArgReduce {
    pub max: bool,
    pub axis: i64,
    pub keepdims: bool,
    pub select_last_index: bool,
}

impl OpSpec for ArgReduce {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let axis = norm_axis(self.axis, x.rank())?;
        let mut out = x.dims.clone();
        if self.keepdims {
            out[axis] = Dim::Known(1);
        } else {
            out.remove(axis);
        }
        Ok(vec![vt(DType::I64, out)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let shape = x.shape();
        let axis = norm_axis(self.axis, shape.len())?;
        let outer: usize = shape[..axis].iter().product();
        let len = shape[axis];
        let inner: usize = shape[axis + 1..].iter().product();
        if len == 0 {
            return Err("ArgMax/ArgMin over an empty axis".into());
        }
        let v = x.to_f64_vec()?;
        let mut res = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            for i in 0..inner {
                let mut best = 0;
                for k in 1..len {
                    let a = v[(o * len + k) * inner + i];
                    let b = v[(o * len + best) * inner + i];
                    let better = if self.max { a > b } else { a < b };
                    if better || (self.select_last_index && a == b) {
                        best = k;
                    }
                }
                res.push(best as i64);
            }
        }
        let mut out: Vec<usize> = shape.to_vec();
        if self.keepdims {
            out[axis] = 1;
        } else {
            out.remove(axis);
        }
        Ok(vec![Tensor::new(&out, res)?])
    }
}

fn reduce(c: &NodeCtx, kind: ReduceKind) -> Result<Op, String> {
    let input_since = if kind == ReduceKind::Sum { 13 } else { 18 };
    let axes_input = c.opset >= input_since;
    if axes_input && c.attrs.has("axes") {
        return Err(format!("opset {} takes axes as an input, not an attribute", c.opset));
    }
    Ok(Op::Reduce(Reduce {
        kind,
        axes: c.attrs.opt_ints("axes")?,
        axes_input,
        keepdims: c.attrs.int("keepdims", 1)? != 0,
        noop_with_empty_axes: c.attrs.int("noop_with_empty_axes", 0)? != 0,
    }))
}

macro_rules! reduce_importers {
    ($($fn:ident => $k:ident),* $(,)?) => {
        $(pub fn $fn(c: &NodeCtx) -> Result<Op, String> { reduce(c, ReduceKind::$k) })*
    };
}

reduce_importers! {
    import_reduce_sum => Sum, import_reduce_mean => Mean, import_reduce_max => Max,
    import_reduce_min => Min, import_reduce_prod => Prod, import_reduce_l1 => L1,
    import_reduce_l2 => L2, import_reduce_log_sum => LogSum,
    import_reduce_log_sum_exp => LogSumExp, import_reduce_sum_square => SumSquare,
}

fn arg(c: &NodeCtx, max: bool) -> Result<Op, String> {
    Ok(Op::ArgReduce(ArgReduce {
        max,
        axis: c.attrs.int("axis", 0)?,
        keepdims: c.attrs.int("keepdims", 1)? != 0,
        select_last_index: c.attrs.int("select_last_index", 0)? != 0,
    }))
}
pub fn import_argmax(c: &NodeCtx) -> Result<Op, String> {
    arg(c, true)
}
pub fn import_argmin(c: &NodeCtx) -> Result<Op, String> {
    arg(c, false)
}
