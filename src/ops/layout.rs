//! Data movement (ai.onnx): the aliasing ops (Reshape, Flatten, Squeeze, Unsqueeze, Identity,
//! Dropout in inference mode) and the copying ones (Transpose, Concat, Split, Slice, Gather,
//! Expand). Reference kernels compute flat source indices and gather elements, so they work
//! for every dtype.

use super::{ints_of, need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::{broadcast_dims, broadcast_shapes, broadcast_strides, concrete, norm_axis, strides};
use crate::tensor::{DType, Dim, Tensor};

/// Flat source index of every element of `out_shape`, given per-output-axis source strides and
/// a base offset.
pub fn strided_indices(out_shape: &[usize], src_strides: &[isize], base: isize) -> Vec<usize> {
    let n: usize = out_shape.iter().product();
    let ost = strides(out_shape);
    (0..n)
        .map(|i| {
            let mut off = base;
            for d in 0..out_shape.len() {
                off += ((i / ost[d]) % out_shape[d]) as isize * src_strides[d];
            }
            off as usize
        })
        .collect()
}

// ---- Reshape -------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Reshape {
    pub allowzero: bool,
    /// Opset < 5 carries the shape as an attribute.
    pub shape_attr: Option<Vec<i64>>,
}

impl Reshape {
    /// Resolves a target shape against concrete input dims.
    pub fn resolve(&self, input: &[usize], target: &[i64]) -> Result<Vec<usize>, String> {
        let overflow = || format!("reshaping {input:?} to {target:?}: the element count overflows");
        let total = crate::tensor::shape::checked_numel(input).ok_or_else(overflow)?;
        let mut out = Vec::with_capacity(target.len());
        let mut infer_at = None;
        for (i, &t) in target.iter().enumerate() {
            match t {
                -1 => {
                    if infer_at.replace(i).is_some() {
                        return Err("the target shape has more than one -1".into());
                    }
                    out.push(1);
                }
                0 if !self.allowzero => {
                    out.push(*input.get(i).ok_or_else(|| format!("target dim {i} copies a dim the input lacks"))?)
                }
                t if t < 0 => return Err(format!("invalid target dim {t}")),
                t => out.push(t as usize),
            }
        }
        if let Some(i) = infer_at {
            let rest = out
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .try_fold(1usize, |acc, (_, &d)| acc.checked_mul(d))
                .ok_or_else(overflow)?;
            if rest == 0 || total % rest != 0 {
                return Err(format!("cannot reshape {input:?} to {target:?}"));
            }
            out[i] = total / rest;
        }
        if crate::tensor::shape::checked_numel(&out) != Some(total) {
            return Err(format!("cannot reshape {input:?} ({total} elements) to {target:?}"));
        }
        Ok(out)
    }

    fn target<'a>(&'a self, cx: &InferCx<'a>) -> Result<Vec<i64>, String> {
        match &self.shape_attr {
            Some(s) => Ok(s.clone()),
            None => ints_of(cx.need_value(1)?),
        }
    }
}

impl OpSpec for Reshape {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let target = self.target(cx)?;
        if let Some(s) = x.shape() {
            return Ok(vec![vt(x.dtype, self.resolve(&s, &target)?.into_iter().map(Dim::Known).collect())]);
        }
        // Symbolic input: copy dims for 0, keep known sizes, infer -1 only when computable.
        let out = target
            .iter()
            .enumerate()
            .map(|(i, &t)| match t {
                0 if !self.allowzero => x.dims.get(i).cloned().unwrap_or(Dim::Unknown),
                t if t > 0 => Dim::Known(t as usize),
                0 => Dim::Known(0),
                _ => Dim::Unknown,
            })
            .collect();
        Ok(vec![vt(x.dtype, out)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let target = match &self.shape_attr {
            Some(s) => s.clone(),
            None => ints_of(need(inputs, 1)?)?,
        };
        Ok(vec![x.reshape(&self.resolve(x.shape(), &target)?)?])
    }

    fn is_alias(&self) -> bool {
        true
    }
    fn shape_inputs(&self) -> &'static [usize] {
        &[1]
    }
}

// ---- Flatten -------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Flatten {
    pub axis: i64,
}

impl Flatten {
    fn split(&self, rank: usize) -> Result<usize, String> {
        let a = if self.axis < 0 { self.axis + rank as i64 } else { self.axis };
        if a < 0 || a > rank as i64 {
            return Err(format!("axis {} is out of range for rank {rank}", self.axis));
        }
        Ok(a as usize)
    }
}

impl OpSpec for Flatten {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let a = self.split(x.rank())?;
        let prod = |d: &[Dim]| d.iter().fold(Dim::Known(1), |acc, e| acc.mul(e));
        Ok(vec![vt(x.dtype, vec![prod(&x.dims[..a]), prod(&x.dims[a..])])])
    }
    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let a = self.split(x.rank())?;
        let s = x.shape();
        Ok(vec![x.reshape(&[s[..a].iter().product(), s[a..].iter().product()])?])
    }
    fn is_alias(&self) -> bool {
        true
    }
}

// ---- Squeeze / Unsqueeze -------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Squeeze {
    pub axes: Option<Vec<i64>>,
    pub axes_input: bool,
}

fn axes_from<'a>(attr: &Option<Vec<i64>>, from_input: bool, cx: &InferCx<'a>) -> Result<Option<Vec<i64>>, String> {
    if from_input {
        if cx.opt(1).is_some() {
            return Ok(Some(ints_of(cx.need_value(1)?)?));
        }
        return Ok(None);
    }
    Ok(attr.clone())
}

fn axes_eval(
    attr: &Option<Vec<i64>>,
    from_input: bool,
    inputs: &[Option<&Tensor>],
) -> Result<Option<Vec<i64>>, String> {
    if from_input {
        return inputs.get(1).copied().flatten().map(ints_of).transpose();
    }
    Ok(attr.clone())
}

impl Squeeze {
    fn out(&self, dims: &[Dim], axes: Option<Vec<i64>>) -> Result<Vec<Dim>, String> {
        let axes: Vec<usize> = match axes {
            Some(a) => a.iter().map(|&x| norm_axis(x, dims.len())).collect::<Result<_, _>>()?,
            None => {
                if dims.iter().any(|d| d.known().is_none()) {
                    return Err("squeezing all size-1 dims needs known dims".into());
                }
                (0..dims.len()).filter(|&i| dims[i] == Dim::Known(1)).collect()
            }
        };
        for &a in &axes {
            if let Some(d) = dims[a].known() {
                if d != 1 {
                    return Err(format!("cannot squeeze axis {a} of size {d}"));
                }
            }
        }
        Ok(dims.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, d)| d.clone()).collect())
    }
}

impl OpSpec for Squeeze {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let axes = axes_from(&self.axes, self.axes_input, cx)?;
        Ok(vec![vt(x.dtype, self.out(&x.dims, axes)?)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let dims: Vec<Dim> = x.shape().iter().map(|&d| Dim::Known(d)).collect();
        let out = concrete(&self.out(&dims, axes_eval(&self.axes, self.axes_input, inputs)?)?).unwrap();
        Ok(vec![x.reshape(&out)?])
    }
    fn is_alias(&self) -> bool {
        true
    }
    fn shape_inputs(&self) -> &'static [usize] {
        &[1]
    }
}

#[derive(Clone, Debug)]
pub struct Unsqueeze {
    pub axes: Option<Vec<i64>>,
    pub axes_input: bool,
}

impl Unsqueeze {
    fn out(&self, dims: &[Dim], axes: Option<Vec<i64>>) -> Result<Vec<Dim>, String> {
        let axes = axes.ok_or("Unsqueeze needs axes")?;
        let rank = dims.len() + axes.len();
        let mut norm = axes.iter().map(|&a| norm_axis(a, rank)).collect::<Result<Vec<_>, _>>()?;
        norm.sort_unstable();
        if norm.windows(2).any(|w| w[0] == w[1]) {
            return Err("Unsqueeze axes repeat".into());
        }
        let mut it = dims.iter();
        Ok((0..rank).map(|i| if norm.contains(&i) { Dim::Known(1) } else { it.next().unwrap().clone() }).collect())
    }
}

impl OpSpec for Unsqueeze {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let axes = axes_from(&self.axes, self.axes_input, cx)?;
        Ok(vec![vt(x.dtype, self.out(&x.dims, axes)?)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let dims: Vec<Dim> = x.shape().iter().map(|&d| Dim::Known(d)).collect();
        let out = concrete(&self.out(&dims, axes_eval(&self.axes, self.axes_input, inputs)?)?).unwrap();
        Ok(vec![x.reshape(&out)?])
    }
    fn is_alias(&self) -> bool {
        true
    }
    fn shape_inputs(&self) -> &'static [usize] {
        &[1]
    }
}

// ---- Identity / Dropout --------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Identity;

impl OpSpec for Identity {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }
    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        Ok(vec![need(inputs, 0)?.clone()])
    }
    fn is_alias(&self) -> bool {
        true
    }
    fn output_kinds(&self, inputs: &[crate::tensor::Kind], _n: usize) -> Vec<crate::tensor::Kind> {
        vec![inputs.first().cloned().unwrap_or_default()]
    }
    fn eval_data(
        &self,
        inputs: &[Option<&crate::tensor::Data>],
        _n: usize,
    ) -> Result<Vec<crate::tensor::Data>, String> {
        Ok(vec![inputs.first().copied().flatten().ok_or("input 0 is required")?.clone()])
    }
}

/// Dropout at inference: the identity, plus an all-true mask when the node declares one.
#[derive(Clone, Debug)]
pub struct Dropout;

impl OpSpec for Dropout {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        // Training mode (input 2) with a nonzero ratio (input 1, default 0.5) drops at random;
        // with ratio 0 it is the identity. Both values are read before planning.
        if cx.opt(2).is_some() && cx.need_value(2)?.to_i64_vec()?.iter().any(|&b| b != 0) {
            let ratio = match cx.opt(1) {
                Some(_) => cx.need_value(1)?.to_f64_vec()?.first().copied().unwrap_or(0.5),
                None => 0.5,
            };
            if ratio != 0.0 {
                return Err(format!("training-mode Dropout with ratio {ratio} (random dropping) is not supported"));
            }
        }
        let mut r = vec![vt(x.dtype, x.dims.clone())];
        if cx.n_outputs > 1 {
            r.push(vt(DType::Bool, x.dims.clone()));
        }
        Ok(r)
    }
    fn eval(&self, inputs: &[Option<&Tensor>], n_out: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let mut r = vec![x.clone()];
        if n_out > 1 {
            r.push(Tensor::from_bools(x.shape(), &vec![true; x.numel()])?);
        }
        Ok(r)
    }
    fn is_alias(&self) -> bool {
        true
    }
    fn shape_inputs(&self) -> &'static [usize] {
        &[1, 2]
    }
}

// ---- Transpose -----------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Transpose {
    pub perm: Option<Vec<i64>>,
}

impl Transpose {
    pub fn perm(&self, rank: usize) -> Result<Vec<usize>, String> {
        let p: Vec<usize> = match &self.perm {
            None => (0..rank).rev().collect(),
            Some(p) => p.iter().map(|&a| norm_axis(a, rank)).collect::<Result<_, _>>()?,
        };
        let mut seen = vec![false; rank];
        if p.len() != rank || p.iter().any(|&a| std::mem::replace(&mut seen[a], true)) {
            return Err(format!("perm {:?} is not a permutation of rank {rank}", self.perm));
        }
        Ok(p)
    }
}

impl OpSpec for Transpose {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let p = self.perm(x.rank())?;
        Ok(vec![vt(x.dtype, p.iter().map(|&a| x.dims[a].clone()).collect())])
    }
    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let p = self.perm(x.rank())?;
        let st = strides(x.shape());
        let out: Vec<usize> = p.iter().map(|&a| x.shape()[a]).collect();
        let src: Vec<isize> = p.iter().map(|&a| st[a] as isize).collect();
        Ok(vec![x.take(&strided_indices(&out, &src, 0), &out)?])
    }
}

// ---- Concat / Split ------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Concat {
    pub axis: i64,
}

impl OpSpec for Concat {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let first = cx.input(0)?;
        let axis = norm_axis(self.axis, first.rank())?;
        let mut out = first.dims.clone();
        for (i, x) in cx.inputs.iter().enumerate().skip(1) {
            let x = x.as_ref().ok_or_else(|| format!("input {i} is missing"))?;
            if x.dtype != first.dtype || x.rank() != first.rank() {
                return Err(format!(
                    "input {i} is {}{} but input 0 is {}{} (ranks and dtypes must match)",
                    x.dtype,
                    crate::tensor::shape::fmt_dims(&x.dims),
                    first.dtype,
                    crate::tensor::shape::fmt_dims(&first.dims)
                ));
            }
            for d in 0..out.len() {
                if d == axis {
                    out[d] = out[d].add(&x.dims[d]);
                } else if let (Some(a), Some(b)) = (out[d].known(), x.dims[d].known()) {
                    if a != b {
                        return Err(format!("input {i} has size {b} on axis {d}, expected {a}"));
                    }
                } else if out[d].known().is_none() {
                    out[d] = x.dims[d].clone();
                }
            }
        }
        Ok(vec![vt(first.dtype, out)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let first = need(inputs, 0)?;
        let axis = norm_axis(self.axis, first.rank())?;
        let mut all = first.clone();
        let mut shape = first.shape().to_vec();
        for i in 1..inputs.len() {
            let x = need(inputs, i)?;
            let outer: usize = shape[..axis].iter().product();
            let (ia, ib) = (shape[axis..].iter().product::<usize>(), x.shape()[axis..].iter().product::<usize>());
            // Interleave rows of both: element index into all ++ x.
            let base = all.numel();
            let mut idx = Vec::with_capacity(outer * (ia + ib));
            for o in 0..outer {
                idx.extend(o * ia..(o + 1) * ia);
                idx.extend((base + o * ib)..(base + (o + 1) * ib));
            }
            shape[axis] += x.shape()[axis];
            all = all.concat_flat(x)?.take(&idx, &shape)?;
        }
        Ok(vec![all.reshape(&shape)?])
    }
}

#[derive(Clone, Debug)]
pub struct Split {
    pub axis: i64,
    pub split_attr: Option<Vec<i64>>,
    pub split_input: bool,
}

impl Split {
    /// The part sizes along the axis, from the split (attribute or input value) or equal parts.
    pub fn sizes(&self, len: usize, split: Option<Vec<i64>>, n_out: usize) -> Result<Vec<usize>, String> {
        match split {
            Some(s) => {
                if s.len() != n_out || s.iter().any(|&x| x < 0) || s.iter().sum::<i64>() as usize != len {
                    return Err(format!("split {s:?} does not divide {len} into {n_out} parts"));
                }
                Ok(s.iter().map(|&x| x as usize).collect())
            }
            None => {
                // Equal parts; the last part may be smaller (opset 18 num_outputs semantics).
                let part = len.div_ceil(n_out.max(1));
                Ok((0..n_out).map(|i| part.min(len.saturating_sub(i * part))).collect())
            }
        }
    }
}

impl OpSpec for Split {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let axis = norm_axis(self.axis, x.rank())?;
        let split = if self.split_input && cx.opt(1).is_some() {
            Some(ints_of(cx.need_value(1)?)?)
        } else {
            self.split_attr.clone()
        };
        let len = x.dims[axis].known();
        let sizes: Vec<Dim> = match len {
            Some(l) => self.sizes(l, split, cx.n_outputs)?.into_iter().map(Dim::Known).collect(),
            None => match split {
                Some(s) => s.iter().map(|&v| Dim::Known(v.max(0) as usize)).collect(),
                None => vec![Dim::Unknown; cx.n_outputs],
            },
        };
        Ok(sizes
            .into_iter()
            .map(|d| {
                let mut dims = x.dims.clone();
                dims[axis] = d;
                vt(x.dtype, dims)
            })
            .collect())
    }
    fn eval(&self, inputs: &[Option<&Tensor>], n_out: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let axis = norm_axis(self.axis, x.rank())?;
        let split = if self.split_input {
            inputs.get(1).copied().flatten().map(ints_of).transpose()?
        } else {
            self.split_attr.clone()
        };
        let sizes = self.sizes(x.shape()[axis], split, n_out)?;
        let st = strides(x.shape());
        let mut start = 0;
        let mut res = Vec::new();
        for s in sizes {
            let mut shape = x.shape().to_vec();
            shape[axis] = s;
            let src: Vec<isize> = st.iter().map(|&v| v as isize).collect();
            res.push(x.take(&strided_indices(&shape, &src, (start * st[axis]) as isize), &shape)?);
            start += s;
        }
        Ok(res)
    }
    fn shape_inputs(&self) -> &'static [usize] {
        &[1]
    }
}

// ---- Slice ---------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Slice {
    /// Opset < 10: starts, ends, axes as attributes.
    pub attrs: Option<(Vec<i64>, Vec<i64>, Option<Vec<i64>>)>,
}

/// The resolved slice: per axis (start, step, count).
pub fn slice_plan(
    shape: &[usize],
    starts: &[i64],
    ends: &[i64],
    axes: Option<&[i64]>,
    steps: Option<&[i64]>,
) -> Result<Vec<(isize, isize, usize)>, String> {
    let rank = shape.len();
    if starts.len() != ends.len() {
        return Err("starts and ends differ in length".into());
    }
    let axes: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&x| norm_axis(x, rank)).collect::<Result<_, _>>()?,
        None => (0..starts.len()).collect(),
    };
    if axes.len() != starts.len() {
        return Err("axes and starts differ in length".into());
    }
    let mut plan: Vec<(isize, isize, usize)> = shape.iter().map(|&d| (0, 1, d)).collect();
    let mut seen = vec![false; rank];
    for (i, &a) in axes.iter().enumerate() {
        if std::mem::replace(&mut seen[a], true) {
            return Err(format!("axis {a} is sliced twice"));
        }
        let dim = shape[a] as i64;
        let step = steps.map(|s| s[i]).unwrap_or(1);
        if step == 0 {
            return Err("slice step 0".into());
        }
        let clamp = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
        let norm = |v: i64| if v < 0 { v + dim } else { v };
        let (s, e) = if step > 0 {
            (clamp(norm(starts[i]), 0, dim), clamp(norm(ends[i]), 0, dim))
        } else {
            (clamp(norm(starts[i]), -1, dim - 1), clamp(norm(ends[i]), -1, dim - 1))
        };
        let count = if step > 0 {
            if e > s {
                (e - s + step - 1) / step
            } else {
                0
            }
        } else if s > e {
            (s - e + (-step) - 1) / (-step)
        } else {
            0
        };
        plan[a] = (s as isize, step as isize, count as usize);
    }
    Ok(plan)
}

impl Slice {
    fn params<'a>(
        &self,
        get: impl Fn(usize) -> Result<Option<&'a Tensor>, String>,
    ) -> Result<(Vec<i64>, Vec<i64>, Option<Vec<i64>>, Option<Vec<i64>>), String> {
        if let Some((s, e, a)) = &self.attrs {
            return Ok((s.clone(), e.clone(), a.clone(), None));
        }
        let starts = ints_of(get(1)?.ok_or("Slice needs starts")?)?;
        let ends = ints_of(get(2)?.ok_or("Slice needs ends")?)?;
        let axes = get(3)?.map(ints_of).transpose()?;
        let steps = get(4)?.map(ints_of).transpose()?;
        Ok((starts, ends, axes, steps))
    }
}

impl OpSpec for Slice {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let (s, e, a, st) = self.params(|i| if cx.opt(i).is_some() { cx.need_value(i).map(Some) } else { Ok(None) })?;
        match x.shape() {
            Some(shape) => {
                let plan = slice_plan(&shape, &s, &e, a.as_deref(), st.as_deref())?;
                Ok(vec![vt(x.dtype, plan.iter().map(|p| Dim::Known(p.2)).collect())])
            }
            None => {
                // Unsliced axes keep their dims; sliced ones are known only with known sizes.
                let mut dims = x.dims.clone();
                let axes: Vec<usize> = match &a {
                    Some(a) => a.iter().map(|&v| norm_axis(v, x.rank())).collect::<Result<_, _>>()?,
                    None => (0..s.len()).collect(),
                };
                for (i, &ax) in axes.iter().enumerate() {
                    dims[ax] = match dims[ax].known() {
                        Some(d) => {
                            let mut one = vec![1usize; x.rank()];
                            one[ax] = d;
                            let p = slice_plan(
                                &one,
                                &[s[i]],
                                &[e[i]],
                                Some(&[ax as i64]),
                                st.as_ref().map(|v| &v[i..i + 1]),
                            )?;
                            Dim::Known(p[ax].2)
                        }
                        None => Dim::Unknown,
                    };
                }
                Ok(vec![vt(x.dtype, dims)])
            }
        }
    }
    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let (s, e, a, st) = self.params(|i| Ok(inputs.get(i).copied().flatten()))?;
        let plan = slice_plan(x.shape(), &s, &e, a.as_deref(), st.as_deref())?;
        let xs = strides(x.shape());
        let out: Vec<usize> = plan.iter().map(|p| p.2).collect();
        let base: isize = plan.iter().zip(&xs).map(|(p, &s)| p.0 * s as isize).sum();
        let src: Vec<isize> = plan.iter().zip(&xs).map(|(p, &s)| p.1 * s as isize).collect();
        Ok(vec![x.take(&strided_indices(&out, &src, base), &out)?])
    }
    fn shape_inputs(&self) -> &'static [usize] {
        &[1, 2, 3, 4]
    }
}

// ---- Gather --------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Gather {
    pub axis: i64,
}

impl OpSpec for Gather {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, i) = (cx.input(0)?, cx.input(1)?);
        if !i.dtype.is_int() {
            return Err(format!("indices must be int32/int64, got {}", i.dtype));
        }
        let axis = norm_axis(self.axis, x.rank())?;
        let mut out = x.dims[..axis].to_vec();
        out.extend(i.dims.iter().cloned());
        out.extend(x.dims[axis + 1..].iter().cloned());
        Ok(vec![vt(x.dtype, out)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, ind) = (need(inputs, 0)?, need(inputs, 1)?);
        let axis = norm_axis(self.axis, x.rank())?;
        let s = x.shape();
        let len = s[axis] as i64;
        let outer: usize = s[..axis].iter().product();
        let inner: usize = s[axis + 1..].iter().product();
        let iv = ints_of(ind)?;
        let mut idx = Vec::with_capacity(outer * iv.len() * inner);
        for o in 0..outer {
            for &k in &iv {
                let v = if k < 0 { k + len } else { k };
                if v < 0 || v >= len {
                    return Err(format!("index {k} is out of range for axis {axis} of size {len}"));
                }
                let base = (o * s[axis] + v as usize) * inner;
                idx.extend(base..base + inner);
            }
        }
        let mut out = s[..axis].to_vec();
        out.extend(ind.shape());
        out.extend(&s[axis + 1..]);
        Ok(vec![x.take(&idx, &out)?])
    }
}

// ---- Expand --------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Expand;

impl OpSpec for Expand {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let shape: Vec<Dim> = ints_of(cx.need_value(1)?)?
            .iter()
            .map(|&d| if d >= 0 { Ok(Dim::Known(d as usize)) } else { Err(format!("negative dim {d}")) })
            .collect::<Result<_, String>>()?;
        Ok(vec![vt(x.dtype, broadcast_dims(&[&x.dims, &shape])?)])
    }
    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let shape: Vec<usize> = ints_of(need(inputs, 1)?)?.iter().map(|&d| d.max(0) as usize).collect();
        let out = broadcast_shapes(&[x.shape(), &shape])?;
        let st: Vec<isize> = broadcast_strides(x.shape(), &out).iter().map(|&v| v as isize).collect();
        Ok(vec![x.take(&strided_indices(&out, &st, 0), &out)?])
    }
    fn shape_inputs(&self) -> &'static [usize] {
        &[1]
    }
}

// ---- importers -----------------------------------------------------------------------------

pub fn import_reshape(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Reshape(Reshape {
        allowzero: c.attrs.int("allowzero", 0)? != 0,
        shape_attr: if c.opset < 5 { Some(c.attrs.opt_ints("shape")?.ok_or("Reshape needs 'shape'")?) } else { None },
    }))
}
pub fn import_flatten(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Flatten(Flatten { axis: c.attrs.int("axis", 1)? }))
}
pub fn import_squeeze(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Squeeze(Squeeze { axes: c.attrs.opt_ints("axes")?, axes_input: c.opset >= 13 }))
}
pub fn import_unsqueeze(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Unsqueeze(Unsqueeze { axes: c.attrs.opt_ints("axes")?, axes_input: c.opset >= 13 }))
}
pub fn import_identity(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Identity(Identity))
}
pub fn import_dropout(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Dropout(Dropout))
}
pub fn import_transpose(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Transpose(Transpose { perm: c.attrs.opt_ints("perm")? }))
}
pub fn import_concat(c: &NodeCtx) -> Result<Op, String> {
    let axis = match c.attrs.opt_int("axis")? {
        Some(a) => a,
        None if c.opset < 4 => 1,
        None => return Err("Concat needs an 'axis' attribute".into()),
    };
    Ok(Op::Concat(Concat { axis }))
}
pub fn import_split(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Split(Split {
        axis: c.attrs.int("axis", 0)?,
        split_attr: c.attrs.opt_ints("split")?,
        split_input: c.opset >= 13,
    }))
}
pub fn import_slice(c: &NodeCtx) -> Result<Op, String> {
    if c.opset < 10 {
        let s = c.attrs.opt_ints("starts")?.ok_or("Slice needs 'starts'")?;
        let e = c.attrs.opt_ints("ends")?.ok_or("Slice needs 'ends'")?;
        return Ok(Op::Slice(Slice { attrs: Some((s, e, c.attrs.opt_ints("axes")?)) }));
    }
    Ok(Op::Slice(Slice { attrs: None }))
}
pub fn import_gather(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Gather(Gather { axis: c.attrs.int("axis", 0)? }))
}
pub fn import_expand(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Expand(Expand))
}
