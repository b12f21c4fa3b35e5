//! Padding (ai.onnx): Pad in every form (pads and value as attributes before opset 11; pads,
//! constant_value and axes as inputs after; modes constant/reflect/edge/wrap; negative pads
//! crop) and CenterCropPad (opset 18).
//!
//! Both are separable per axis: every output coordinate on an axis maps to one source
//! coordinate or to the fill value, so the kernels build one map per axis and gather.

use super::{ints_of, need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::{norm_axis, strides};
use crate::tensor::{DType, Dim, Tensor};

/// Builds a tensor whose element at coordinates `(o_0, …, o_r)` is `x[maps[0][o_0], …]`, or
/// `fill` (a one-element tensor of `x`'s dtype) where any map gives `None`.
pub fn gather_axes(x: &Tensor, maps: &[Vec<Option<usize>>], fill: &Tensor) -> Result<Tensor, String> {
    if maps.len() != x.rank() {
        return Err(format!("expected {} axis maps, got {}", x.rank(), maps.len()));
    }
    if fill.numel() != 1 || fill.dtype() != x.dtype() {
        return Err("the fill value must be one element of the data's type".into());
    }
    let out: Vec<usize> = maps.iter().map(|m| m.len()).collect();
    let n: usize = crate::tensor::shape::checked_numel(&out).ok_or("the output shape overflows")?;
    let xs = strides(x.shape());
    let fill_at = x.numel();
    let mut idx = Vec::with_capacity(n);
    let mut coord = vec![0usize; out.len()];
    for _ in 0..n {
        let mut src = Some(0usize);
        for (a, &c) in coord.iter().enumerate() {
            src = match (src, maps[a][c]) {
                (Some(s), Some(m)) if m < x.shape()[a] => Some(s + m * xs[a]),
                (Some(_), Some(m)) => return Err(format!("source index {m} is out of range on axis {a}")),
                _ => None,
            };
        }
        idx.push(src.unwrap_or(fill_at));
        for a in (0..out.len()).rev() {
            coord[a] += 1;
            if coord[a] < out[a] {
                break;
            }
            coord[a] = 0;
        }
    }
    x.concat_flat(fill)?.take(&idx, &out)
}

// ---- Pad -----------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadMode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

#[derive(Clone, Debug)]
pub struct Pad {
    pub mode: PadMode,
    /// Opset < 11: the pads and the constant value come from attributes.
    pub attr: Option<(Vec<i64>, f32)>,
}

/// Per-axis (begin, end) pads from the flat `pads` list and the optional `axes`.
fn pads_per_axis(rank: usize, pads: &[i64], axes: Option<&[i64]>) -> Result<Vec<(i64, i64)>, String> {
    let axes: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&v| norm_axis(v, rank)).collect::<Result<_, _>>()?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(format!("pads has {} values, expected 2 x {} axes", pads.len(), axes.len()));
    }
    let mut per = vec![(0i64, 0i64); rank];
    let mut seen = vec![false; rank];
    for (i, &a) in axes.iter().enumerate() {
        if std::mem::replace(&mut seen[a], true) {
            return Err(format!("axis {a} is listed twice"));
        }
        per[a] = (pads[i], pads[axes.len() + i]);
    }
    Ok(per)
}

/// The output length of an axis of length `d` padded by `(b, e)`.
fn padded_len(d: usize, b: i64, e: i64) -> Result<usize, String> {
    let (b, e) = (b as i128, e as i128);
    let crop = (-b).max(0) + (-e).max(0);
    if crop > d as i128 {
        return Err(format!("pads ({b}, {e}) crop more than the axis length {d}"));
    }
    usize::try_from(d as i128 + b + e).map_err(|_| format!("pads ({b}, {e}) make axis length {d} overflow"))
}

/// The source coordinate of every output coordinate on one axis.
pub fn pad_map(d: usize, b: i64, e: i64, mode: PadMode) -> Result<Vec<Option<usize>>, String> {
    let out = padded_len(d, b, e)?;
    // Negative pads crop first; the kept window is [lo, lo + len).
    let lo = (-b).max(0) as usize;
    let len = d - lo - (-e).max(0) as usize;
    let pb = b.max(0);
    if len == 0 && mode != PadMode::Constant && out > 0 {
        return Err(format!("{mode:?} padding needs a non-empty axis"));
    }
    let l = len as i64;
    Ok((0..out as i64)
        .map(|o| {
            let j = o - pb;
            let k = if (0..l).contains(&j) {
                Some(j)
            } else {
                match mode {
                    PadMode::Constant => None,
                    PadMode::Edge => Some(j.clamp(0, l - 1)),
                    PadMode::Wrap => Some(j.rem_euclid(l)),
                    PadMode::Reflect if l == 1 => Some(0),
                    PadMode::Reflect => {
                        let period = 2 * (l - 1);
                        let m = j.rem_euclid(period);
                        Some(if m < l { m } else { period - m })
                    }
                }
            };
            k.map(|k| lo + k as usize)
        })
        .collect())
}

impl Pad {
    pub fn params<'a>(
        &self,
        get: impl Fn(usize) -> Result<Option<&'a Tensor>, String>,
        rank: usize,
    ) -> Result<Vec<(i64, i64)>, String> {
        if let Some((p, _)) = &self.attr {
            return pads_per_axis(rank, p, None);
        }
        let pads = ints_of(get(1)?.ok_or("Pad needs pads")?)?;
        let axes = get(3)?.map(ints_of).transpose()?;
        pads_per_axis(rank, &pads, axes.as_deref())
    }
}

impl OpSpec for Pad {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if let Some(c) = cx.opt(2) {
            if c.dtype != x.dtype {
                return Err(format!("constant_value is {}, data is {}", c.dtype, x.dtype));
            }
        }
        let per = self.params(|i| if cx.opt(i).is_some() { cx.need_value(i).map(Some) } else { Ok(None) }, x.rank())?;
        let dims = x
            .dims
            .iter()
            .zip(&per)
            .map(|(d, &(b, e))| match d.known() {
                Some(n) => padded_len(n, b, e).map(Dim::Known),
                None if b == 0 && e == 0 => Ok(d.clone()),
                None => Ok(Dim::Unknown),
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(vec![vt(x.dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let per = self.params(|i| Ok(inputs.get(i).copied().flatten()), x.rank())?;
        let fill = match (&self.attr, inputs.get(2).copied().flatten()) {
            (Some((_, v)), _) => Tensor::from_f64(x.dtype(), &[1], &[*v as f64])?,
            (None, Some(c)) if c.numel() == 0 => Tensor::zeros(x.dtype(), &[1])?,
            (None, Some(c)) => {
                if c.dtype() != x.dtype() || c.numel() != 1 {
                    return Err(format!(
                        "constant_value must be one {} element, got {} of shape {:?}",
                        x.dtype(),
                        c.dtype(),
                        c.shape()
                    ));
                }
                c.reshape(&[1])?
            }
            (None, None) => Tensor::zeros(x.dtype(), &[1])?,
        };
        let maps = x
            .shape()
            .iter()
            .zip(&per)
            .map(|(&d, &(b, e))| pad_map(d, b, e, self.mode))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(vec![gather_axes(x, &maps, &fill)?])
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[1, 3]
    }
}

pub fn import_pad(c: &NodeCtx) -> Result<Op, String> {
    let mode = match c.attrs.string("mode", "constant")?.as_str() {
        "constant" => PadMode::Constant,
        "reflect" => PadMode::Reflect,
        "edge" => PadMode::Edge,
        "wrap" if c.opset >= 19 => PadMode::Wrap,
        m => return Err(format!("unsupported Pad mode '{m}' at opset {}", c.opset)),
    };
    let attr = if c.opset < 11 {
        let key = if c.opset < 2 { "paddings" } else { "pads" };
        let pads = c.attrs.opt_ints(key)?.ok_or_else(|| format!("Pad needs the '{key}' attribute"))?;
        Some((pads, c.attrs.float("value", 0.0)?))
    } else {
        None
    };
    Ok(Op::Pad(Pad { mode, attr }))
}

// ---- CenterCropPad -------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct CenterCropPad {
    pub axes: Option<Vec<i64>>,
}

impl CenterCropPad {
    /// Per-axis target lengths (None = unchanged).
    fn targets(&self, rank: usize, shape: &Tensor) -> Result<Vec<Option<usize>>, String> {
        if !matches!(shape.dtype(), DType::I32 | DType::I64) {
            return Err(format!("shape must be int32 or int64, got {}", shape.dtype()));
        }
        let s = ints_of(shape)?;
        let axes: Vec<usize> = match &self.axes {
            Some(a) => a.iter().map(|&v| norm_axis(v, rank)).collect::<Result<_, _>>()?,
            None => (0..rank).collect(),
        };
        if s.len() != axes.len() {
            return Err(format!("shape has {} values for {} axes", s.len(), axes.len()));
        }
        let mut t = vec![None; rank];
        for (&a, &v) in axes.iter().zip(&s) {
            if v < 0 {
                return Err(format!("negative target size {v}"));
            }
            if t[a].replace(v as usize).is_some() {
                return Err(format!("axis {a} is listed twice"));
            }
        }
        Ok(t)
    }
}

impl OpSpec for CenterCropPad {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let t = self.targets(x.rank(), cx.need_value(1)?)?;
        let dims = x.dims.iter().zip(&t).map(|(d, t)| t.map(Dim::Known).unwrap_or_else(|| d.clone())).collect();
        Ok(vec![vt(x.dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let maps = self.maps(x.shape(), need(inputs, 1)?)?;
        Ok(vec![gather_axes(x, &maps, &Tensor::zeros(x.dtype(), &[1])?)?])
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[1]
    }
}

impl CenterCropPad {
    /// The source coordinate (None: padding) of every output coordinate, per axis.
    pub fn maps(&self, shape: &[usize], target: &Tensor) -> Result<Vec<Vec<Option<usize>>>, String> {
        let t = self.targets(shape.len(), target)?;
        Ok(shape
            .iter()
            .zip(&t)
            .map(|(&d, t)| {
                let t = t.unwrap_or(d);
                if t <= d {
                    // Crop: the window starts at the rounded-down centre offset.
                    let s = (d - t) / 2;
                    (0..t).map(|o| Some(s + o)).collect()
                } else {
                    // Pad: the odd extra element goes to the end.
                    let b = (t - d) / 2;
                    (0..t).map(|o| o.checked_sub(b).filter(|&i| i < d)).collect()
                }
            })
            .collect())
    }
}

pub fn import_center_crop_pad(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::CenterCropPad(CenterCropPad { axes: c.attrs.opt_ints("axes")? }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(d: usize, b: i64, e: i64, m: PadMode) -> Vec<Option<usize>> {
        pad_map(d, b, e, m).unwrap()
    }

    #[test]
    fn modes_follow_numpy() {
        let s = |v: &[usize]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();
        // np.pad(arange(3), (4, 4), 'reflect') -> 0 1 2 1 | 0 1 2 | 1 0 1 2
        assert_eq!(map(3, 4, 4, PadMode::Reflect), s(&[0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2]));
        assert_eq!(map(3, 2, 2, PadMode::Edge), s(&[0, 0, 0, 1, 2, 2, 2]));
        assert_eq!(map(3, 4, 1, PadMode::Wrap), s(&[2, 0, 1, 2, 0, 1, 2, 0]));
        assert_eq!(map(2, 1, 0, PadMode::Constant), vec![None, Some(0), Some(1)]);
    }

    #[test]
    fn negative_pads_crop() {
        assert_eq!(map(4, -1, -2, PadMode::Constant), vec![Some(1)]);
        // Crop one from the front, then reflect the kept [1, 2, 3] at the end.
        assert_eq!(map(4, -1, 2, PadMode::Reflect), vec![Some(1), Some(2), Some(3), Some(2), Some(1)]);
        assert!(pad_map(2, -2, -1, PadMode::Constant).is_err());
        assert!(pad_map(0, 1, 0, PadMode::Edge).is_err());
    }

    #[test]
    fn pad_with_axes_and_value() {
        let p = Pad { mode: PadMode::Constant, attr: None };
        let x = Tensor::new(&[2, 2], vec![1i32, 2, 3, 4]).unwrap();
        let pads = Tensor::new(&[2], vec![1i64, 0]).unwrap();
        let v = Tensor::scalar(9i32);
        let axes = Tensor::new(&[1], vec![-1i64]).unwrap();
        let y = p.eval(&[Some(&x), Some(&pads), Some(&v), Some(&axes)], 1).unwrap().remove(0);
        assert_eq!(y.shape(), &[2, 3]);
        assert_eq!(y.as_slice::<i32>().unwrap(), &[9, 1, 2, 9, 3, 4]);
        let bad = Tensor::new(&[3], vec![1i64, 0, 0]).unwrap();
        assert!(p.eval(&[Some(&x), Some(&bad), None, None], 1).is_err());
    }
}
