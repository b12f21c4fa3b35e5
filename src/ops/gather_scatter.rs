//! Index-driven gathers and scatters (ai.onnx): GatherElements, GatherND (with batch_dims),
//! ScatterElements and ScatterND (reductions none/add/mul/max/min), the deprecated Scatter, and
//! TensorScatter (opset 24, the KV-cache update). Every index is checked: negative indices
//! count from the end where ONNX allows them, anything else out of range is an error.

use super::cumulative::{AccOp, Vals};
use super::{ints_of, need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::{fmt_shape, norm_axis, strides};
use crate::tensor::{DType, Tensor};

/// Calls `f` with the flat index and the coordinates of every element of `shape`, row-major.
pub fn each_coord(shape: &[usize], mut f: impl FnMut(usize, &[usize]) -> Result<(), String>) -> Result<(), String> {
    let n: usize = shape.iter().product();
    let mut c = vec![0usize; shape.len()];
    for i in 0..n {
        f(i, &c)?;
        for a in (0..shape.len()).rev() {
            c[a] += 1;
            if c[a] < shape[a] {
                break;
            }
            c[a] = 0;
        }
    }
    Ok(())
}

/// A possibly negative index into an axis of length `len`.
pub fn norm_index(k: i64, len: usize, axis: usize) -> Result<usize, String> {
    let v = if k < 0 { k + len as i64 } else { k };
    if v < 0 || v >= len as i64 {
        return Err(format!("index {k} is out of range for axis {axis} of size {len}"));
    }
    Ok(v as usize)
}

fn int_indices(t: &Tensor) -> Result<Vec<i64>, String> {
    if !matches!(t.dtype(), DType::I32 | DType::I64) {
        return Err(format!("indices must be int32 or int64, got {}", t.dtype()));
    }
    t.to_i64_vec()
}

fn check_indices_type(d: DType) -> Result<(), String> {
    if !matches!(d, DType::I32 | DType::I64) {
        return Err(format!("indices must be int32 or int64, got {d}"));
    }
    Ok(())
}

/// How a scatter combines an update with the value already there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    None,
    Add,
    Mul,
    Max,
    Min,
}

fn reduction_attr(c: &NodeCtx) -> Result<Reduction, String> {
    let r = c.attrs.string("reduction", "none")?;
    Ok(match r.as_str() {
        "none" => Reduction::None,
        "add" if c.opset >= 16 => Reduction::Add,
        "mul" if c.opset >= 16 => Reduction::Mul,
        "max" if c.opset >= 18 => Reduction::Max,
        "min" if c.opset >= 18 => Reduction::Min,
        r => return Err(format!("unsupported reduction '{r}' at opset {}", c.opset)),
    })
}

/// `data` with update element `u` written to (or combined into) flat position `pos[u]`, in
/// update order (so a repeated position gets the last update for `None`).
pub fn scatter_apply(data: &Tensor, updates: &Tensor, pos: &[usize], red: Reduction) -> Result<Tensor, String> {
    if updates.dtype() != data.dtype() {
        return Err(format!("updates are {}, data is {}", updates.dtype(), data.dtype()));
    }
    if pos.len() != updates.numel() {
        return Err("one position per update is required".into());
    }
    let n = data.numel();
    if let Some(&p) = pos.iter().find(|&&p| p >= n) {
        return Err(format!("scatter position {p} is out of range for {n} elements"));
    }
    let op = match red {
        Reduction::None => {
            let mut src: Vec<usize> = (0..n).collect();
            for (u, &p) in pos.iter().enumerate() {
                src[p] = n + u;
            }
            return data.concat_flat(updates)?.take(&src, data.shape());
        }
        Reduction::Add => AccOp::Add,
        Reduction::Mul => AccOp::Mul,
        Reduction::Max => AccOp::Max,
        Reduction::Min => AccOp::Min,
    };
    let mut out = Vals::of(data)?;
    let upd = Vals::of(updates)?;
    for (u, &p) in pos.iter().enumerate() {
        out.combine(p, p, &upd, u, op)?;
    }
    out.to_tensor(data.shape())
}

// ---- GatherElements ------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct GatherElements {
    pub axis: i64,
}

/// The flat data position of every element of an indices tensor used GatherElements-style:
/// the index replaces the coordinate on `axis`, the other coordinates must lie in `data`.
fn elements_positions(data: &[usize], ind_shape: &[usize], ind: &[i64], axis: usize) -> Result<Vec<usize>, String> {
    if ind_shape.len() != data.len() {
        return Err(format!("indices {} and data {} must have the same rank", fmt_shape(ind_shape), fmt_shape(data)));
    }
    let ds = strides(data);
    let mut pos = Vec::with_capacity(ind.len());
    each_coord(ind_shape, |i, c| {
        let mut p = 0;
        for (a, &x) in c.iter().enumerate() {
            let x = if a == axis {
                norm_index(ind[i], data[a], a)?
            } else if x < data[a] {
                x
            } else {
                return Err(format!(
                    "indices shape {} exceeds data {} on axis {a}",
                    fmt_shape(ind_shape),
                    fmt_shape(data)
                ));
            };
            p += x * ds[a];
        }
        pos.push(p);
        Ok(())
    })?;
    Ok(pos)
}

impl OpSpec for GatherElements {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, i) = (cx.input(0)?, cx.input(1)?);
        check_indices_type(i.dtype)?;
        if x.rank() != i.rank() || x.rank() == 0 {
            return Err(format!("data (rank {}) and indices (rank {}) must have one rank ≥ 1", x.rank(), i.rank()));
        }
        norm_axis(self.axis, x.rank())?;
        Ok(vec![vt(x.dtype, i.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, ind) = (need(inputs, 0)?, need(inputs, 1)?);
        if x.rank() == 0 {
            return Err("data must have rank ≥ 1".into());
        }
        let axis = norm_axis(self.axis, x.rank())?;
        let pos = elements_positions(x.shape(), ind.shape(), &int_indices(ind)?, axis)?;
        Ok(vec![x.take(&pos, ind.shape())?])
    }
}

pub fn import_gather_elements(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::GatherElements(GatherElements { axis: c.attrs.int("axis", 0)? }))
}

// ---- GatherND ------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct GatherND {
    pub batch_dims: usize,
}

/// The common shape analysis of GatherND and ScatterND: (number of index tuples, tuple length
/// m, elements per addressed slice).
pub fn nd_layout(data: &[usize], ind: &[usize], b: usize) -> Result<(usize, usize, usize), String> {
    let (r, q) = (data.len(), ind.len());
    if q == 0 || r == 0 {
        return Err("data and indices must have rank ≥ 1".into());
    }
    if b >= q.min(r) {
        return Err(format!("batch_dims {b} must be less than both ranks ({r}, {q})"));
    }
    if data[..b] != ind[..b] {
        return Err(format!("the batch dims of data {} and indices {} differ", fmt_shape(data), fmt_shape(ind)));
    }
    let m = ind[q - 1];
    if m < 1 || m > r - b {
        return Err(format!("index tuples of length {m} do not fit data of rank {r} with batch_dims {b}"));
    }
    let tuples: usize = ind[..q - 1].iter().product();
    let inner: usize = data[b + m..].iter().product();
    Ok((tuples, m, inner))
}

/// The flat data offset of the slice each index tuple addresses.
fn nd_offsets(data: &[usize], ind_shape: &[usize], ind: &[i64], b: usize) -> Result<Vec<usize>, String> {
    let (tuples, m, _) = nd_layout(data, ind_shape, b)?;
    let ds = strides(data);
    // Tuples per batch entry.
    let per_batch: usize = ind_shape[b..ind_shape.len() - 1].iter().product();
    let batch_stride = if b == 0 { 0 } else { ds[b - 1] };
    (0..tuples)
        .map(|t| {
            let mut off = t.checked_div(per_batch).unwrap_or(0) * batch_stride;
            for j in 0..m {
                off += norm_index(ind[t * m + j], data[b + j], b + j)? * ds[b + j];
            }
            Ok(off)
        })
        .collect()
}

impl OpSpec for GatherND {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, i) = (cx.input(0)?, cx.input(1)?);
        check_indices_type(i.dtype)?;
        let b = self.batch_dims;
        let (r, q) = (x.rank(), i.rank());
        if q == 0 || r == 0 || b >= q.min(r) {
            return Err(format!("batch_dims {b} must be less than both ranks ({r}, {q}), which must be ≥ 1"));
        }
        let mut out = i.dims[..q - 1].to_vec();
        match i.dims[q - 1].known() {
            Some(m) if m >= 1 && m <= r - b => out.extend(x.dims[b + m..].iter().cloned()),
            Some(m) => return Err(format!("index tuples of length {m} do not fit data of rank {r}")),
            None => {
                // The output rank is unknown until the indices' shape is: leave the node
                // untyped at load time (the planner infers it again with concrete shapes).
                cx.missing_value.set(Some(1));
                return Err("the length of the index tuples is not known".into());
            }
        }
        Ok(vec![vt(x.dtype, out)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, ind) = (need(inputs, 0)?, need(inputs, 1)?);
        let b = self.batch_dims;
        let (data, is) = (x.shape(), ind.shape());
        let (_, m, inner) = nd_layout(data, is, b)?;
        let offs = nd_offsets(data, is, &int_indices(ind)?, b)?;
        let idx: Vec<usize> = offs.iter().flat_map(|&o| o..o + inner).collect();
        let mut out = is[..is.len() - 1].to_vec();
        out.extend(&data[b + m..]);
        Ok(vec![x.take(&idx, &out)?])
    }
}

pub fn import_gathernd(c: &NodeCtx) -> Result<Op, String> {
    let b = c.attrs.int("batch_dims", 0)?;
    if b < 0 {
        return Err(format!("batch_dims must be ≥ 0, got {b}"));
    }
    Ok(Op::GatherND(GatherND { batch_dims: b as usize }))
}

// ---- ScatterElements / Scatter -------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct ScatterElements {
    pub axis: i64,
    pub reduction: Reduction,
}

impl OpSpec for ScatterElements {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, i, u) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
        check_indices_type(i.dtype)?;
        if u.dtype != x.dtype {
            return Err(format!("updates are {}, data is {}", u.dtype, x.dtype));
        }
        if x.rank() == 0 || i.rank() != x.rank() || u.rank() != x.rank() {
            return Err("data, indices and updates must have one rank ≥ 1".into());
        }
        norm_axis(self.axis, x.rank())?;
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, ind, upd) = (need(inputs, 0)?, need(inputs, 1)?, need(inputs, 2)?);
        if ind.shape() != upd.shape() {
            return Err(format!(
                "indices {} and updates {} differ in shape",
                fmt_shape(ind.shape()),
                fmt_shape(upd.shape())
            ));
        }
        if x.rank() == 0 {
            return Err("data must have rank ≥ 1".into());
        }
        let axis = norm_axis(self.axis, x.rank())?;
        let pos = elements_positions(x.shape(), ind.shape(), &int_indices(ind)?, axis)?;
        Ok(vec![scatter_apply(x, upd, &pos, self.reduction)?])
    }
}

pub fn import_scatter_elements(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::ScatterElements(ScatterElements { axis: c.attrs.int("axis", 0)?, reduction: reduction_attr(c)? }))
}

/// The deprecated Scatter (opsets 9–10): ScatterElements without reduction.
pub fn import_scatter(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::ScatterElements(ScatterElements { axis: c.attrs.int("axis", 0)?, reduction: Reduction::None }))
}

// ---- ScatterND -----------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct ScatterND {
    pub reduction: Reduction,
}

impl OpSpec for ScatterND {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, i, u) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
        check_indices_type(i.dtype)?;
        if u.dtype != x.dtype {
            return Err(format!("updates are {}, data is {}", u.dtype, x.dtype));
        }
        if x.rank() == 0 || i.rank() == 0 {
            return Err("data and indices must have rank ≥ 1".into());
        }
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, ind, upd) = (need(inputs, 0)?, need(inputs, 1)?, need(inputs, 2)?);
        let (data, is) = (x.shape(), ind.shape());
        let (_, k, inner) = nd_layout(data, is, 0)?;
        let mut want = is[..is.len() - 1].to_vec();
        want.extend(&data[k..]);
        if upd.shape() != want.as_slice() {
            return Err(format!("updates have shape {}, expected {}", fmt_shape(upd.shape()), fmt_shape(&want)));
        }
        let offs = nd_offsets(data, is, &int_indices(ind)?, 0)?;
        let pos: Vec<usize> = offs.iter().flat_map(|&o| o..o + inner).collect();
        Ok(vec![scatter_apply(x, upd, &pos, self.reduction)?])
    }
}

pub fn import_scatternd(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::ScatterND(ScatterND { reduction: reduction_attr(c)? }))
}

// ---- TensorScatter -------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct TensorScatter {
    pub axis: i64,
    pub circular: bool,
}

impl TensorScatter {
    pub fn axis(&self, rank: usize) -> Result<usize, String> {
        let a = norm_axis(self.axis, rank)?;
        if a == 0 {
            return Err("axis must not be the batch axis 0".into());
        }
        Ok(a)
    }
}

impl OpSpec for TensorScatter {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (c, u) = (cx.input(0)?, cx.input(1)?);
        if u.dtype != c.dtype {
            return Err(format!("update is {}, past_cache is {}", u.dtype, c.dtype));
        }
        if u.rank() != c.rank() || c.rank() < 2 {
            return Err("past_cache and update must have one rank ≥ 2".into());
        }
        self.axis(c.rank())?;
        if let Some(w) = cx.opt(2) {
            if w.dtype != DType::I64 {
                return Err(format!("write_indices must be int64, got {}", w.dtype));
            }
        }
        Ok(vec![vt(c.dtype, c.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (cache, upd) = (need(inputs, 0)?, need(inputs, 1)?);
        let (cs, us) = (cache.shape(), upd.shape());
        if cs.len() != us.len() || cs.len() < 2 {
            return Err("past_cache and update must have one rank ≥ 2".into());
        }
        let axis = self.axis(cs.len())?;
        for a in 0..cs.len() {
            if (a == axis && us[a] > cs[a]) || (a != axis && us[a] != cs[a]) {
                return Err(format!("update {} does not fit past_cache {}", fmt_shape(us), fmt_shape(cs)));
            }
        }
        let batch = cs[0];
        let write = match inputs.get(2).copied().flatten() {
            Some(w) => {
                let v = ints_of(w)?;
                if w.shape() != [batch] {
                    return Err(format!("write_indices has shape {}, expected [{batch}]", fmt_shape(w.shape())));
                }
                v
            }
            None => vec![0; batch],
        };
        let max_len = cs[axis];
        let st = strides(cs);
        let mut pos = Vec::with_capacity(upd.numel());
        each_coord(us, |_, c| {
            let w = write[c[0]];
            if w < 0 {
                return Err(format!("write index {w} is negative"));
            }
            let mut s = w as usize + c[axis];
            if self.circular {
                s %= max_len.max(1);
            }
            if s >= max_len {
                return Err(format!("write index {w} + {} is past the cache length {max_len} on axis {axis}", c[axis]));
            }
            pos.push(c.iter().enumerate().map(|(a, &x)| if a == axis { s } else { x } * st[a]).sum());
            Ok(())
        })?;
        Ok(vec![scatter_apply(cache, upd, &pos, Reduction::None)?])
    }
}

pub fn import_tensor_scatter(c: &NodeCtx) -> Result<Op, String> {
    let circular = match c.attrs.string("mode", "linear")?.as_str() {
        "linear" => false,
        "circular" => true,
        m => return Err(format!("unsupported TensorScatter mode '{m}'")),
    };
    Ok(Op::TensorScatter(TensorScatter { axis: c.attrs.int("axis", -2)?, circular }))
}

// ---- index validation for backends that do not check ---------------------------------------

/// Checks the indices of an index-consuming node (Gather, GatherElements, GatherND,
/// ScatterElements/Scatter, ScatterND: the indices are input 1) against the data shape,
/// exactly as the CPU kernels do; `None` for other ops. The GPU backend runs this on index
/// tensors that are on the host before it uploads them, since its shaders can only read zero
/// (gathers) or skip the write (scatters) for an out-of-range index.
pub fn validate_indices(op: &Op, data: &[usize], idx: &Tensor) -> Option<Result<(), String>> {
    let r = data.len();
    let check = || -> Result<(), String> {
        let ind = int_indices(idx)?;
        match op {
            Op::Gather(g) => {
                let axis = norm_axis(g.axis, r)?;
                for &k in &ind {
                    norm_index(k, data[axis], axis)?;
                }
                Ok(())
            }
            Op::GatherElements(GatherElements { axis }) | Op::ScatterElements(ScatterElements { axis, .. }) => {
                let axis = norm_axis(*axis, r)?;
                elements_positions(data, idx.shape(), &ind, axis).map(|_| ())
            }
            Op::GatherND(GatherND { batch_dims }) => nd_offsets(data, idx.shape(), &ind, *batch_dims).map(|_| ()),
            Op::ScatterND(_) => nd_offsets(data, idx.shape(), &ind, 0).map(|_| ()),
            _ => Ok(()),
        }
    };
    match op {
        Op::Gather(_) | Op::GatherElements(_) | Op::ScatterElements(_) | Op::GatherND(_) | Op::ScatterND(_) => {
            Some(check())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t64(shape: &[usize], v: Vec<i64>) -> Tensor {
        Tensor::new(shape, v).unwrap()
    }

    #[test]
    fn gather_elements_checks_range() {
        let g = GatherElements { axis: 1 };
        let x = Tensor::new(&[2, 2], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        let i = t64(&[2, 2], vec![0, 0, -1, 0]);
        let y = g.eval(&[Some(&x), Some(&i)], 1).unwrap().remove(0);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[1.0, 1.0, 4.0, 3.0]);
        let bad = t64(&[2, 2], vec![0, 2, 0, 0]);
        assert!(g.eval(&[Some(&x), Some(&bad)], 1).is_err());
        let big = t64(&[3, 1], vec![0, 0, 0]);
        assert!(g.eval(&[Some(&x), Some(&big)], 1).is_err());
    }

    #[test]
    fn gathernd_batch_dims() {
        let g = GatherND { batch_dims: 1 };
        let x = Tensor::new(&[2, 2, 2], (0..8).collect::<Vec<i32>>()).unwrap();
        let i = t64(&[2, 1], vec![1, 0]);
        let y = g.eval(&[Some(&x), Some(&i)], 1).unwrap().remove(0);
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(y.as_slice::<i32>().unwrap(), &[2, 3, 4, 5]);
        let bad = t64(&[2, 1], vec![1, 2]);
        assert!(g.eval(&[Some(&x), Some(&bad)], 1).is_err());
    }

    #[test]
    fn scatternd_reductions() {
        let x = Tensor::new(&[4], vec![1i64, 2, 3, 4]).unwrap();
        let i = t64(&[3, 1], vec![1, 1, -1]);
        let u = Tensor::new(&[3], vec![10i64, 20, 30]).unwrap();
        let add = ScatterND { reduction: Reduction::Add };
        let y = add.eval(&[Some(&x), Some(&i), Some(&u)], 1).unwrap().remove(0);
        assert_eq!(y.as_slice::<i64>().unwrap(), &[1, 32, 3, 34]);
        let none = ScatterND { reduction: Reduction::None };
        let y = none.eval(&[Some(&x), Some(&i), Some(&u)], 1).unwrap().remove(0);
        assert_eq!(y.as_slice::<i64>().unwrap(), &[1, 20, 3, 30]);
        let bad = t64(&[3, 1], vec![1, 4, 0]);
        assert!(none.eval(&[Some(&x), Some(&bad), Some(&u)], 1).is_err());
    }

    #[test]
    fn tensor_scatter_linear_overflow_is_an_error() {
        let ts = TensorScatter { axis: -2, circular: false };
        let c = Tensor::new(&[1, 3, 1], vec![0.0f32; 3]).unwrap();
        let u = Tensor::new(&[1, 2, 1], vec![1.0f32, 2.0]).unwrap();
        let w = t64(&[1], vec![2]);
        assert!(ts.eval(&[Some(&c), Some(&u), Some(&w)], 1).is_err());
        let circ = TensorScatter { axis: -2, circular: true };
        let y = circ.eval(&[Some(&c), Some(&u), Some(&w)], 1).unwrap().remove(0);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[2.0, 0.0, 1.0]);
    }
}
