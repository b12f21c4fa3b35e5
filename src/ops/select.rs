//! Value-driven selection (ai.onnx): TopK (k as attribute before opset 10, as input after;
//! largest/sorted; ties keep the lower index first), Unique (flattened or along an axis,
//! sorted or in order of first occurrence, all four outputs), NonZero and Compress.
//! Unique, NonZero and Compress have output shapes decided by data: their rules ask for the
//! deciding input's value, which the planner reads back at run time.

use super::{ints_of, need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::{fmt_shape, norm_axis, strides};
use crate::tensor::{DType, Dim, Tensor};
use std::cmp::Ordering;

/// A tensor's elements in a totally ordered form: integers exactly, floats with every NaN
/// equal to the others and above all numbers (and -0 equal to +0), strings by bytes.
enum Keys {
    I(Vec<i128>),
    F(Vec<f64>),
    S(Vec<String>),
}

impl Keys {
    fn of(t: &Tensor) -> Result<Keys, String> {
        Ok(match t.dtype() {
            DType::F32 | DType::F64 | DType::F16 | DType::BF16 => Keys::F(t.to_f64_vec()?),
            DType::U64 => Keys::I(t.as_slice::<u64>()?.iter().map(|&v| v as i128).collect()),
            d if d.is_int() || d == DType::Bool => Keys::I(t.to_i64_vec()?.into_iter().map(|v| v as i128).collect()),
            DType::String => Keys::S(t.strings()?.to_vec()),
            d => return Err(format!("{d} elements cannot be ordered here")),
        })
    }

    fn cmp(&self, i: usize, j: usize) -> Ordering {
        match self {
            Keys::I(v) => v[i].cmp(&v[j]),
            Keys::S(v) => v[i].cmp(&v[j]),
            Keys::F(v) => {
                let (a, b) = (v[i], v[j]);
                match (a.is_nan(), b.is_nan()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
                }
            }
        }
    }
}

// ---- TopK ----------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct TopK {
    /// Opset 1: k is an attribute.
    pub k_attr: Option<i64>,
    pub axis: i64,
    pub largest: bool,
    /// Unsorted output may be in any order; this kernel always sorts.
    pub sorted: bool,
}

impl TopK {
    pub fn k(&self, t: Option<&Tensor>) -> Result<i64, String> {
        if let Some(k) = self.k_attr {
            return Ok(k);
        }
        let t = t.ok_or("TopK needs k")?;
        if t.dtype() != DType::I64 {
            return Err(format!("k must be int64, got {}", t.dtype()));
        }
        match ints_of(t)?.as_slice() {
            [k] => Ok(*k),
            _ => Err(format!("k must hold one value, got shape {}", fmt_shape(t.shape()))),
        }
    }

    pub fn check_k(k: i64, len: usize) -> Result<usize, String> {
        if k < 0 || k > len as i64 {
            return Err(format!("k = {k} is outside [0, {len}] (the axis length)"));
        }
        Ok(k as usize)
    }
}

impl OpSpec for TopK {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if x.rank() == 0 {
            return Err("input must have rank ≥ 1".into());
        }
        let axis = norm_axis(self.axis, x.rank())?;
        let k = self.k(if self.k_attr.is_some() { None } else { Some(cx.need_value(1)?) })?;
        let k = match x.dims[axis].known() {
            Some(len) => Self::check_k(k, len)?,
            None if k >= 0 => k as usize,
            None => return Err(format!("negative k {k}")),
        };
        let mut dims = x.dims.clone();
        dims[axis] = Dim::Known(k);
        Ok(vec![vt(x.dtype, dims.clone()), vt(DType::I64, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        if x.rank() == 0 {
            return Err("input must have rank ≥ 1".into());
        }
        let axis = norm_axis(self.axis, x.rank())?;
        let s = x.shape();
        let len = s[axis];
        let k = Self::check_k(self.k(inputs.get(1).copied().flatten())?, len)?;
        let keys = Keys::of(x)?;
        let inner = strides(s)[axis];
        let outer: usize = s[..axis].iter().product();
        let mut out = s.to_vec();
        out[axis] = k;
        let n_out: usize = out.iter().product();
        let (mut src, mut pos) = (vec![0usize; n_out], vec![0i64; n_out]);
        let mut order: Vec<usize> = Vec::with_capacity(len);
        for o in 0..outer {
            for i in 0..inner {
                let at = |j: usize| (o * len + j) * inner + i;
                order.clear();
                order.extend(0..len);
                // A stable sort keeps equal elements in index order.
                order.sort_by(|&a, &b| {
                    let c = keys.cmp(at(a), at(b));
                    if self.largest {
                        c.reverse()
                    } else {
                        c
                    }
                });
                for (r, &j) in order[..k].iter().enumerate() {
                    let dst = (o * k + r) * inner + i;
                    src[dst] = at(j);
                    pos[dst] = j as i64;
                }
            }
        }
        Ok(vec![x.take(&src, &out)?, Tensor::new(&out, pos)?])
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[1]
    }
}

pub fn import_topk(c: &NodeCtx) -> Result<Op, String> {
    let k_attr = if c.opset < 10 { Some(c.attrs.opt_int("k")?.ok_or("TopK needs the 'k' attribute")?) } else { None };
    Ok(Op::TopK(TopK {
        k_attr,
        axis: c.attrs.int("axis", -1)?,
        largest: c.attrs.int("largest", 1)? != 0,
        sorted: c.attrs.int("sorted", 1)? != 0,
    }))
}

// ---- Unique --------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Unique {
    pub axis: Option<i64>,
    pub sorted: bool,
}

/// Unique's result as indices.
struct Uniq {
    /// For each output item, the input item of its first occurrence.
    first: Vec<usize>,
    /// For each input item, its output item.
    inverse: Vec<usize>,
    counts: Vec<usize>,
    /// The axis (None = flattened), its length and the element count between items.
    axis: Option<usize>,
}

impl Unique {
    fn analyze(&self, x: &Tensor) -> Result<Uniq, String> {
        let keys = Keys::of(x)?;
        let s = x.shape();
        let (axis, items, outer, inner) = match self.axis {
            None => (None, x.numel(), 1, 1),
            Some(a) => {
                if s.is_empty() {
                    return Err("an axis needs an input of rank ≥ 1".into());
                }
                let a = norm_axis(a, s.len())?;
                (Some(a), s[a], s[..a].iter().product::<usize>(), s[a + 1..].iter().product::<usize>())
            }
        };
        // Item `p`'s elements, in row-major order of the remaining dims.
        let elem = |p: usize, e: usize| ((e / inner) * items + p) * inner + e % inner;
        let per_item = outer * inner;
        let cmp_items = |&p: &usize, &q: &usize| {
            (0..per_item).map(|e| keys.cmp(elem(p, e), elem(q, e))).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
        };
        let mut order: Vec<usize> = (0..items).collect();
        order.sort_by(cmp_items);
        // Groups of equal items; a stable sort puts the first occurrence first.
        let mut groups: Vec<(usize, usize)> = Vec::new(); // (first occurrence, count)
        let mut group_of = vec![0usize; items];
        for (r, &p) in order.iter().enumerate() {
            if r == 0 || cmp_items(&order[r - 1], &p).is_ne() {
                groups.push((p, 0));
            }
            let g = groups.len() - 1;
            groups[g].1 += 1;
            group_of[p] = g;
        }
        // Output order: sorted, or by first occurrence.
        let mut out_order: Vec<usize> = (0..groups.len()).collect();
        if !self.sorted {
            out_order.sort_by_key(|&g| groups[g].0);
        }
        let mut rank = vec![0usize; groups.len()];
        for (r, &g) in out_order.iter().enumerate() {
            rank[g] = r;
        }
        Ok(Uniq {
            first: out_order.iter().map(|&g| groups[g].0).collect(),
            inverse: group_of.iter().map(|&g| rank[g]).collect(),
            counts: out_order.iter().map(|&g| groups[g].1).collect(),
            axis,
        })
    }
}

impl OpSpec for Unique {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let u = self.analyze(cx.need_value(0)?)?;
        let n = u.first.len();
        let y = match u.axis {
            None => vec![Dim::Known(n)],
            Some(a) => {
                let mut d = x.dims.clone();
                d[a] = Dim::Known(n);
                d
            }
        };
        Ok(vec![
            vt(x.dtype, y),
            vt(DType::I64, vec![Dim::Known(n)]),
            vt(DType::I64, vec![Dim::Known(u.inverse.len())]),
            vt(DType::I64, vec![Dim::Known(n)]),
        ])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n_out: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let u = self.analyze(x)?;
        let n = u.first.len();
        let y = match u.axis {
            None => x.take(&u.first, &[n])?,
            Some(a) => {
                let s = x.shape();
                let (outer, len, inner) =
                    (s[..a].iter().product::<usize>(), s[a], s[a + 1..].iter().product::<usize>());
                let mut idx = Vec::with_capacity(outer * n * inner);
                for o in 0..outer {
                    for &p in &u.first {
                        let base = (o * len + p) * inner;
                        idx.extend(base..base + inner);
                    }
                }
                let mut shape = s.to_vec();
                shape[a] = n;
                x.take(&idx, &shape)?
            }
        };
        let ints = |v: &[usize]| Tensor::new(&[v.len()], v.iter().map(|&i| i as i64).collect::<Vec<_>>());
        let all = [Ok(y), ints(&u.first), ints(&u.inverse), ints(&u.counts)];
        all.into_iter().take(n_out.clamp(1, 4)).collect()
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[0]
    }
}

pub fn import_unique(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Unique(Unique { axis: c.attrs.opt_int("axis")?, sorted: c.attrs.int("sorted", 1)? != 0 }))
}

// ---- NonZero -------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct NonZero;

/// Whether each element is non-zero (non-empty for strings; NaN counts as non-zero).
fn nonzero_mask(x: &Tensor) -> Result<Vec<bool>, String> {
    let d = x.dtype();
    Ok(match d {
        DType::String => x.strings()?.iter().map(|s| !s.is_empty()).collect(),
        DType::Bool => x.as_bools()?,
        d if d.is_int() || matches!(d, DType::F32 | DType::F64 | DType::F16 | DType::BF16) => {
            x.to_f64_vec()?.iter().map(|&v| v != 0.0).collect()
        }
        d => return Err(format!("NonZero does not support {d}")),
    })
}

impl OpSpec for NonZero {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let nnz = nonzero_mask(cx.need_value(0)?)?.iter().filter(|&&b| b).count();
        Ok(vec![vt(DType::I64, vec![Dim::Known(x.rank().max(1)), Dim::Known(nnz)])])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let mask = nonzero_mask(x)?;
        // A scalar is treated as a one-element vector (as ONNX Runtime does).
        let shape = if x.rank() == 0 { vec![1] } else { x.shape().to_vec() };
        let st = strides(&shape);
        let hits: Vec<usize> = (0..mask.len()).filter(|&i| mask[i]).collect();
        let nnz = hits.len();
        let mut out = vec![0i64; shape.len() * nnz];
        for (j, &i) in hits.iter().enumerate() {
            for d in 0..shape.len() {
                out[d * nnz + j] = ((i / st[d]) % shape[d]) as i64;
            }
        }
        Ok(vec![Tensor::new(&[shape.len(), nnz], out)?])
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[0]
    }
}

pub fn import_nonzero(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::NonZero(NonZero))
}

// ---- Compress ------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Compress {
    pub axis: Option<i64>,
}

impl Compress {
    /// The selected positions along the axis (or of the flattened input) of length `len`.
    pub fn selected(cond: &Tensor, len: usize) -> Result<Vec<usize>, String> {
        if cond.dtype() != DType::Bool || cond.rank() != 1 {
            return Err(format!("condition must be a 1-D bool tensor, got {} of rank {}", cond.dtype(), cond.rank()));
        }
        let c = cond.as_bools()?;
        if let Some(p) = (len..c.len()).find(|&p| c[p]) {
            return Err(format!("condition selects position {p}, beyond the length {len}"));
        }
        Ok((0..c.len().min(len)).filter(|&p| c[p]).collect())
    }
}

impl OpSpec for Compress {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let cond = cx.need_value(1)?;
        match self.axis {
            None => {
                let len = x.shape().map(|s| s.iter().product()).unwrap_or(usize::MAX);
                Ok(vec![vt(x.dtype, vec![Dim::Known(Self::selected(cond, len)?.len())])])
            }
            Some(a) => {
                let a = norm_axis(a, x.rank())?;
                let len = x.dims[a].known().unwrap_or(usize::MAX);
                let mut dims = x.dims.clone();
                dims[a] = Dim::Known(Self::selected(cond, len)?.len());
                Ok(vec![vt(x.dtype, dims)])
            }
        }
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, cond) = (need(inputs, 0)?, need(inputs, 1)?);
        match self.axis {
            None => {
                let sel = Self::selected(cond, x.numel())?;
                Ok(vec![x.take(&sel, &[sel.len()])?])
            }
            Some(a) => {
                let s = x.shape();
                let a = norm_axis(a, s.len())?;
                let sel = Self::selected(cond, s[a])?;
                let (outer, inner) = (s[..a].iter().product::<usize>(), s[a + 1..].iter().product::<usize>());
                let mut idx = Vec::with_capacity(outer * sel.len() * inner);
                for o in 0..outer {
                    for &p in &sel {
                        let base = (o * s[a] + p) * inner;
                        idx.extend(base..base + inner);
                    }
                }
                let mut shape = s.to_vec();
                shape[a] = sel.len();
                Ok(vec![x.take(&idx, &shape)?])
            }
        }
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[1]
    }
}

pub fn import_compress(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Compress(Compress { axis: c.attrs.opt_int("axis")? }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topk_ties_keep_lower_index_first() {
        let x = Tensor::new(&[5], vec![1.0f32, 3.0, 3.0, 0.0, 3.0]).unwrap();
        let k = Tensor::new(&[1], vec![2i64]).unwrap();
        for largest in [true, false] {
            let t = TopK { k_attr: None, axis: -1, largest, sorted: true };
            let r = t.eval(&[Some(&x), Some(&k)], 2).unwrap();
            let want: &[i64] = if largest { &[1, 2] } else { &[3, 0] };
            assert_eq!(r[1].as_slice::<i64>().unwrap(), want);
        }
        let t = TopK { k_attr: None, axis: 0, largest: true, sorted: true };
        assert!(t.eval(&[Some(&x), Some(&Tensor::new(&[1], vec![6i64]).unwrap())], 2).is_err());
    }

    #[test]
    fn unique_unsorted_and_sorted() {
        let x = Tensor::new(&[6], vec![2i32, 1, 1, 3, 4, 3]).unwrap();
        let r = Unique { axis: None, sorted: false }.eval(&[Some(&x)], 4).unwrap();
        assert_eq!(r[0].as_slice::<i32>().unwrap(), &[2, 1, 3, 4]);
        assert_eq!(r[1].as_slice::<i64>().unwrap(), &[0, 1, 3, 4]);
        assert_eq!(r[2].as_slice::<i64>().unwrap(), &[0, 1, 1, 2, 3, 2]);
        assert_eq!(r[3].as_slice::<i64>().unwrap(), &[1, 2, 2, 1]);
        let r = Unique { axis: None, sorted: true }.eval(&[Some(&x)], 4).unwrap();
        assert_eq!(r[0].as_slice::<i32>().unwrap(), &[1, 2, 3, 4]);
        assert_eq!(r[1].as_slice::<i64>().unwrap(), &[1, 0, 3, 4]);
        assert_eq!(r[2].as_slice::<i64>().unwrap(), &[1, 0, 0, 2, 3, 2]);
    }

    #[test]
    fn unique_along_axis() {
        let x = Tensor::new(&[3, 3], vec![1i64, 0, 0, 1, 0, 0, 2, 3, 4]).unwrap();
        let r = Unique { axis: Some(0), sorted: true }.eval(&[Some(&x)], 4).unwrap();
        assert_eq!(r[0].shape(), &[2, 3]);
        assert_eq!(r[0].as_slice::<i64>().unwrap(), &[1, 0, 0, 2, 3, 4]);
        assert_eq!(r[2].as_slice::<i64>().unwrap(), &[0, 0, 1]);
        assert_eq!(r[3].as_slice::<i64>().unwrap(), &[2, 1]);
    }

    #[test]
    fn nonzero_and_compress() {
        let x = Tensor::new(&[2, 2], vec![1.0f32, 0.0, f32::NAN, 2.0]).unwrap();
        let y = NonZero.eval(&[Some(&x)], 1).unwrap().remove(0);
        assert_eq!(y.shape(), &[2, 3]);
        assert_eq!(y.as_slice::<i64>().unwrap(), &[0, 1, 1, 0, 0, 1]);
        let c = Tensor::from_bools(&[1], &[true]).unwrap();
        let y = Compress { axis: Some(1) }.eval(&[Some(&x), Some(&c)], 1).unwrap().remove(0);
        assert_eq!(y.shape(), &[2, 1]);
        let long = Tensor::from_bools(&[3], &[false, false, true]).unwrap();
        assert!(Compress { axis: Some(0) }.eval(&[Some(&x), Some(&long)], 1).is_err());
    }
}
