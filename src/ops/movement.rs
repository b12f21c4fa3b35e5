//! Rearrangements (ai.onnx): Tile, DepthToSpace and SpaceToDepth (DCR/CRD), Trilu, OneHot,
//! EyeLike, ReverseSequence and Col2Im. Kernels compute a source index per output element and
//! gather, so they work for every dtype; Col2Im (a sum of overlapping blocks) needs numbers.

use super::cumulative::{AccOp, Vals};
use super::gather_scatter::each_coord;
use super::pad::gather_axes;
use super::{ints_of, need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::{checked_numel, fmt_shape, norm_axis, strides};
use crate::tensor::{DType, Dim, Tensor};

fn int_input(t: &Tensor, what: &str) -> Result<Vec<i64>, String> {
    if !matches!(t.dtype(), DType::I32 | DType::I64) {
        return Err(format!("{what} must be int32 or int64, got {}", t.dtype()));
    }
    t.to_i64_vec()
}

/// `d × k`, an error on overflow.
fn mul_dim(d: &Dim, k: usize) -> Result<Dim, String> {
    match d.known() {
        Some(v) => v.checked_mul(k).map(Dim::Known).ok_or_else(|| format!("{v} x {k} overflows")),
        None => Ok(d.mul(&Dim::Known(k))),
    }
}

// ---- Tile ----------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Tile {
    /// Opset 1: inputs (input, tiles, axis) instead of (input, repeats).
    pub legacy: bool,
}

impl Tile {
    pub fn repeats<'a>(
        &self,
        rank: usize,
        get: impl Fn(usize) -> Result<&'a Tensor, String>,
    ) -> Result<Vec<usize>, String> {
        let reps = if self.legacy {
            let tiles = int_input(get(1)?, "tiles")?;
            let axis = int_input(get(2)?, "axis")?;
            if tiles.len() != 1 || axis.len() != 1 {
                return Err("tiles and axis must be scalars".into());
            }
            let mut r = vec![1i64; rank];
            r[norm_axis(axis[0], rank)?] = tiles[0];
            r
        } else {
            int_input(get(1)?, "repeats")?
        };
        if reps.len() != rank {
            return Err(format!("repeats has {} values for rank {rank}", reps.len()));
        }
        reps.iter().map(|&r| if r >= 0 { Ok(r as usize) } else { Err(format!("negative repeat {r}")) }).collect()
    }
}

impl OpSpec for Tile {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let reps = self.repeats(x.rank(), |i| cx.need_value(i))?;
        let dims = x.dims.iter().zip(&reps).map(|(d, &r)| mul_dim(d, r)).collect::<Result<_, _>>()?;
        Ok(vec![vt(x.dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let reps = self.repeats(x.rank(), |i| need(inputs, i))?;
        let maps: Vec<Vec<Option<usize>>> = x
            .shape()
            .iter()
            .zip(&reps)
            .map(|(&d, &r)| {
                let n = d.checked_mul(r).ok_or("the tiled shape overflows")?;
                Ok((0..n).map(|o| Some(o % d)).collect())
            })
            .collect::<Result<_, String>>()?;
        Ok(vec![gather_axes(x, &maps, &Tensor::zeros(x.dtype(), &[1])?)?])
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[1, 2]
    }
}

pub fn import_tile(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Tile(Tile { legacy: c.opset < 6 }))
}

// ---- DepthToSpace / SpaceToDepth -----------------------------------------------------------

#[derive(Clone, Debug)]
pub struct BlockShuffle {
    /// DepthToSpace (true) or SpaceToDepth (false).
    pub to_space: bool,
    pub blocksize: usize,
    /// Column-row-depth channel order instead of the default depth-column-row.
    pub crd: bool,
}

impl BlockShuffle {
    fn out_dims(&self, d: &[Dim]) -> Result<Vec<Dim>, String> {
        if d.len() != 4 {
            return Err(format!("input must have rank 4, got {}", d.len()));
        }
        let b = self.blocksize;
        let bb = b.checked_mul(b).ok_or("blocksize overflows")?;
        let div = |x: &Dim, by: usize, what: &str| match x.known() {
            Some(v) if v % by == 0 => Ok(Dim::Known(v / by)),
            Some(v) => Err(format!("{what} {v} is not a multiple of {by}")),
            None => Ok(Dim::Unknown),
        };
        Ok(if self.to_space {
            vec![d[0].clone(), div(&d[1], bb, "channels")?, mul_dim(&d[2], b)?, mul_dim(&d[3], b)?]
        } else {
            vec![d[0].clone(), mul_dim(&d[1], bb)?, div(&d[2], b, "height")?, div(&d[3], b, "width")?]
        })
    }
}

impl OpSpec for BlockShuffle {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        Ok(vec![vt(x.dtype, self.out_dims(&x.dims)?)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let dims: Vec<Dim> = x.shape().iter().map(|&d| Dim::Known(d)).collect();
        let out: Vec<usize> = self.out_dims(&dims)?.iter().map(|d| d.known().unwrap_or(0)).collect();
        let xs = strides(x.shape());
        let b = self.blocksize;
        let mut idx = Vec::with_capacity(out.iter().product());
        each_coord(&out, |_, o| {
            let (n, c, h, w) = (o[0], o[1], o[2], o[3]);
            let (sc, sh, sw) = if self.to_space {
                let (by, bx) = (h % b, w % b);
                let sc = if self.crd { c * b * b + by * b + bx } else { (by * b + bx) * out[1] + c };
                (sc, h / b, w / b)
            } else {
                let cin = x.shape()[1];
                let (ci, by, bx) =
                    if self.crd { (c / (b * b), (c / b) % b, c % b) } else { (c % cin, c / (b * cin), (c / cin) % b) };
                (ci, h * b + by, w * b + bx)
            };
            idx.push(n * xs[0] + sc * xs[1] + sh * xs[2] + sw * xs[3]);
            Ok(())
        })?;
        Ok(vec![x.take(&idx, &out)?])
    }
}

fn import_block_shuffle(c: &NodeCtx, to_space: bool) -> Result<Op, String> {
    let b = c.attrs.opt_int("blocksize")?.ok_or("the 'blocksize' attribute is required")?;
    if b < 1 {
        return Err(format!("blocksize must be ≥ 1, got {b}"));
    }
    let has_mode = if to_space { c.opset >= 11 } else { c.opset >= 28 };
    let crd = match c.attrs.string("mode", "DCR")?.as_str() {
        "DCR" => false,
        "CRD" if has_mode => true,
        m => return Err(format!("unsupported mode '{m}' at opset {}", c.opset)),
    };
    Ok(Op::BlockShuffle(BlockShuffle { to_space, blocksize: b as usize, crd }))
}

pub fn import_depth_to_space(c: &NodeCtx) -> Result<Op, String> {
    import_block_shuffle(c, true)
}

pub fn import_space_to_depth(c: &NodeCtx) -> Result<Op, String> {
    import_block_shuffle(c, false)
}

// ---- Trilu ---------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Trilu {
    pub upper: bool,
}

impl OpSpec for Trilu {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if x.rank() < 2 {
            return Err(format!("input must have rank ≥ 2, got {}", x.rank()));
        }
        if let Some(k) = cx.opt(1) {
            if k.dtype != DType::I64 {
                return Err(format!("k must be int64, got {}", k.dtype));
            }
        }
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let r = x.rank();
        if r < 2 {
            return Err(format!("input must have rank ≥ 2, got {r}"));
        }
        let k = match inputs.get(1).copied().flatten() {
            Some(t) => match ints_of(t)?.as_slice() {
                [k] => *k,
                _ => return Err("k must be a single value".into()),
            },
            None => 0,
        };
        let zero = x.numel();
        let mut idx = Vec::with_capacity(zero);
        each_coord(x.shape(), |i, c| {
            let d = c[r - 1] as i64 - c[r - 2] as i64;
            let keep = if self.upper { d >= k } else { d <= k };
            idx.push(if keep { i } else { zero });
            Ok(())
        })?;
        Ok(vec![x.concat_flat(&Tensor::zeros(x.dtype(), &[1])?)?.take(&idx, x.shape())?])
    }
}

pub fn import_trilu(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Trilu(Trilu { upper: c.attrs.int("upper", 1)? != 0 }))
}

// ---- OneHot --------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct OneHot {
    pub axis: i64,
}

pub fn onehot_depth(t: &Tensor) -> Result<usize, String> {
    if t.numel() != 1 {
        return Err(format!("depth must hold one value, got shape {}", fmt_shape(t.shape())));
    }
    let d = t.to_f64_vec()?[0];
    if !(d >= 0.0 && d <= (1u64 << 40) as f64) {
        return Err(format!("invalid depth {d}"));
    }
    Ok(d as usize)
}

impl OpSpec for OneHot {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (i, v) = (cx.input(0)?, cx.input(2)?);
        let depth = onehot_depth(cx.need_value(1)?)?;
        let axis = norm_axis(self.axis, i.rank() + 1)?;
        let mut dims = i.dims.clone();
        dims.insert(axis, Dim::Known(depth));
        Ok(vec![vt(v.dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (ind, values) = (need(inputs, 0)?, need(inputs, 2)?);
        let depth = onehot_depth(need(inputs, 1)?)?;
        if values.numel() != 2 {
            return Err(format!("values must hold [off, on], got shape {}", fmt_shape(values.shape())));
        }
        let axis = norm_axis(self.axis, ind.rank() + 1)?;
        // Indices as i64; floats truncate, uint64 beyond i64 is simply out of range.
        let iv: Vec<i64> = match ind.dtype() {
            DType::U64 => ind.as_slice::<u64>()?.iter().map(|&u| i64::try_from(u).unwrap_or(i64::MAX)).collect(),
            d if d.is_int() || d.is_float() => ind.to_i64_vec()?,
            d => return Err(format!("indices must be numeric, got {d}")),
        };
        let mut out = ind.shape().to_vec();
        out.insert(axis, depth);
        checked_numel(&out).ok_or("the output shape overflows")?;
        let outer: usize = ind.shape()[..axis].iter().product();
        let inner: usize = ind.shape()[axis..].iter().product();
        let mut idx = Vec::with_capacity(outer * depth * inner);
        for o in 0..outer {
            for d in 0..depth as i64 {
                for i in 0..inner {
                    let k = iv[o * inner + i];
                    let k = if k < 0 { k + depth as i64 } else { k };
                    idx.push(usize::from(k == d));
                }
            }
        }
        Ok(vec![values.take(&idx, &out)?])
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[1]
    }
}

pub fn import_onehot(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::OneHot(OneHot { axis: c.attrs.int("axis", -1)? }))
}

// ---- EyeLike -------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct EyeLike {
    pub dtype: Option<DType>,
    pub k: i64,
}

impl EyeLike {
    fn out_dtype(&self, input: DType) -> Result<DType, String> {
        let d = self.dtype.unwrap_or(input);
        if !(d.is_int() || d == DType::Bool || matches!(d, DType::F32 | DType::F64 | DType::F16 | DType::BF16)) {
            return Err(format!("EyeLike cannot produce {d}"));
        }
        Ok(d)
    }
}

impl OpSpec for EyeLike {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if x.rank() != 2 {
            return Err(format!("input must have rank 2, got {}", x.rank()));
        }
        Ok(vec![vt(self.out_dtype(x.dtype)?, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        if x.rank() != 2 {
            return Err(format!("input must have rank 2, got {}", x.rank()));
        }
        let (r, c) = (x.shape()[0], x.shape()[1]);
        let v: Vec<i64> = (0..r * c).map(|i| ((i % c) as i64 - (i / c) as i64 == self.k) as i64).collect();
        Ok(vec![Tensor::from_i64(self.out_dtype(x.dtype())?, x.shape(), &v)?])
    }
}

pub fn import_eyelike(c: &NodeCtx) -> Result<Op, String> {
    let dtype = match c.attrs.opt_int("dtype")? {
        Some(code) => Some(
            DType::from_onnx(i32::try_from(code).unwrap_or(0)).ok_or_else(|| format!("unknown dtype code {code}"))?,
        ),
        None => None,
    };
    Ok(Op::EyeLike(EyeLike { dtype, k: c.attrs.int("k", 0)? }))
}

// ---- ReverseSequence -----------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct ReverseSequence {
    pub batch_axis: usize,
    pub time_axis: usize,
}

impl OpSpec for ReverseSequence {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, l) = (cx.input(0)?, cx.input(1)?);
        if x.rank() < 2 {
            return Err(format!("input must have rank ≥ 2, got {}", x.rank()));
        }
        if l.dtype != DType::I64 || l.rank() != 1 {
            return Err(format!("sequence_lens must be a 1-D int64 tensor, got {} of rank {}", l.dtype, l.rank()));
        }
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, l) = (need(inputs, 0)?, need(inputs, 1)?);
        if x.rank() < 2 {
            return Err(format!("input must have rank ≥ 2, got {}", x.rank()));
        }
        let (ba, ta) = (self.batch_axis, self.time_axis);
        let lens = ints_of(l)?;
        let (batch, time) = (x.shape()[ba], x.shape()[ta]);
        if lens.len() != batch {
            return Err(format!("sequence_lens has {} values for a batch of {batch}", lens.len()));
        }
        if let Some(bad) = lens.iter().find(|&&v| v < 0 || v > time as i64) {
            return Err(format!("sequence length {bad} is outside [0, {time}]"));
        }
        let xs = strides(x.shape());
        let mut idx = Vec::with_capacity(x.numel());
        each_coord(x.shape(), |i, c| {
            let (b, t) = (c[ba], c[ta]);
            let len = lens[b] as usize;
            idx.push(if t < len { i - t * xs[ta] + (len - 1 - t) * xs[ta] } else { i });
            Ok(())
        })?;
        Ok(vec![x.take(&idx, x.shape())?])
    }
}

pub fn import_reverse_sequence(c: &NodeCtx) -> Result<Op, String> {
    let (b, t) = (c.attrs.int("batch_axis", 1)?, c.attrs.int("time_axis", 0)?);
    if !matches!((b, t), (0, 1) | (1, 0)) {
        return Err(format!("batch_axis {b} and time_axis {t} must be 0 and 1 in some order"));
    }
    Ok(Op::ReverseSequence(ReverseSequence { batch_axis: b as usize, time_axis: t as usize }))
}

// ---- Col2Im --------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Col2Im {
    pub dilations: Option<Vec<i64>>,
    pub pads: Option<Vec<i64>>,
    pub strides: Option<Vec<i64>>,
}

/// Col2Im's resolved geometry.
pub struct Geometry {
    pub image: Vec<usize>,
    pub block: Vec<usize>,
    pub dil: Vec<usize>,
    pub pad_begin: Vec<usize>,
    pub stride: Vec<usize>,
    /// Number of block positions per spatial dim.
    pub n_blocks: Vec<usize>,
}

impl Col2Im {
    pub fn geometry(&self, image: &Tensor, block: &Tensor) -> Result<Geometry, String> {
        let pos = |v: Vec<i64>, what: &str, min: i64| -> Result<Vec<usize>, String> {
            v.iter()
                .map(|&x| if x >= min { Ok(x as usize) } else { Err(format!("invalid {what} value {x}")) })
                .collect()
        };
        let image = pos(int_input(image, "image_shape")?, "image_shape", 1)?;
        let block = pos(int_input(block, "block_shape")?, "block_shape", 1)?;
        let n = image.len();
        if block.len() != n || n == 0 {
            return Err(format!("image_shape {image:?} and block_shape {block:?} must have one non-zero length"));
        }
        let attr = |a: &Option<Vec<i64>>, len: usize, what: &str, min: i64, dflt: i64| {
            let v = a.clone().unwrap_or_else(|| vec![dflt; len]);
            if v.len() != len {
                return Err(format!("{what} has {} values, expected {len}", v.len()));
            }
            pos(v, what, min)
        };
        let dil = attr(&self.dilations, n, "dilations", 1, 1)?;
        let pads = attr(&self.pads, 2 * n, "pads", 0, 0)?;
        let stride = attr(&self.strides, n, "strides", 1, 1)?;
        let mut n_blocks = Vec::with_capacity(n);
        for i in 0..n {
            let overflow = || format!("Col2Im geometry overflows on spatial dim {i}");
            let span = dil[i].checked_mul(block[i] - 1).and_then(|v| v.checked_add(1)).ok_or_else(overflow)?;
            let padded = image[i].checked_add(pads[i]).and_then(|v| v.checked_add(pads[n + i])).ok_or_else(overflow)?;
            if padded < span {
                return Err(format!("block {} (dilated {span}) does not fit the padded image dim {padded}", block[i]));
            }
            n_blocks.push((padded - span) / stride[i] + 1);
        }
        Ok(Geometry { image, block, dil, pad_begin: pads[..n].to_vec(), stride, n_blocks })
    }
}

impl OpSpec for Col2Im {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if x.rank() != 3 {
            return Err(format!("input must have rank 3, got {}", x.rank()));
        }
        let g = self.geometry(cx.need_value(1)?, cx.need_value(2)?)?;
        let k = checked_numel(&g.block).ok_or("the block size overflows")?;
        let c = match x.dims[1].known() {
            Some(c) if c % k == 0 => Dim::Known(c / k),
            Some(c) => return Err(format!("input dim 1 ({c}) is not a multiple of the block size {k}")),
            None => Dim::Unknown,
        };
        let mut dims = vec![x.dims[0].clone(), c];
        dims.extend(g.image.iter().map(|&d| Dim::Known(d)));
        Ok(vec![vt(x.dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let g = self.geometry(need(inputs, 1)?, need(inputs, 2)?)?;
        let s = x.shape();
        if s.len() != 3 {
            return Err(format!("input must have rank 3, got {}", s.len()));
        }
        let k = checked_numel(&g.block).ok_or("the block size overflows")?;
        let l = checked_numel(&g.n_blocks).ok_or("the block count overflows")?;
        if s[1] % k != 0 {
            return Err(format!("input dim 1 ({}) is not a multiple of the block size {k}", s[1]));
        }
        if s[2] != l {
            return Err(format!("input dim 2 is {}, but the blocks number {:?} = {l}", s[2], g.n_blocks));
        }
        let (n, c) = (s[0], s[1] / k);
        let mut out_shape = vec![n, c];
        out_shape.extend(&g.image);
        checked_numel(&out_shape).ok_or("the output shape overflows")?;
        let img: usize = g.image.iter().product();
        let is = strides(&g.image);
        let xv = Vals::of(x)?;
        let mut out = xv.identity_like(AccOp::Add, n * c * img)?;
        let nd = g.image.len();
        for plane in 0..n * c {
            each_coord(&g.block, |kk, off| {
                each_coord(&g.n_blocks, |bl, pos| {
                    let mut at = 0usize;
                    for d in 0..nd {
                        let p = (pos[d] * g.stride[d] + off[d] * g.dil[d]) as i64 - g.pad_begin[d] as i64;
                        if p < 0 || p >= g.image[d] as i64 {
                            return Ok(());
                        }
                        at += p as usize * is[d];
                    }
                    let dst = plane * img + at;
                    out.combine(dst, dst, &xv, (plane * k + kk) * l + bl, AccOp::Add)
                })
            })?;
        }
        Ok(vec![out.to_tensor(&out_shape)?])
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[1, 2]
    }
}

pub fn import_col2im(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Col2Im(Col2Im {
        dilations: c.attrs.opt_ints("dilations")?,
        pads: c.attrs.opt_ints("pads")?,
        strides: c.attrs.opt_ints("strides")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_space_round_trip() {
        let x = Tensor::new(&[1, 8, 2, 3], (0..48).collect::<Vec<i32>>()).unwrap();
        for crd in [false, true] {
            let d2s = BlockShuffle { to_space: true, blocksize: 2, crd };
            let s2d = BlockShuffle { to_space: false, blocksize: 2, crd };
            let y = d2s.eval(&[Some(&x)], 1).unwrap().remove(0);
            assert_eq!(y.shape(), &[1, 2, 4, 6]);
            let z = s2d.eval(&[Some(&y)], 1).unwrap().remove(0);
            assert_eq!(z, x);
        }
    }

    #[test]
    fn trilu_and_eyelike() {
        let x = Tensor::new(&[2, 3], vec![1i64, 2, 3, 4, 5, 6]).unwrap();
        let k = Tensor::scalar(1i64);
        let y = Trilu { upper: true }.eval(&[Some(&x), Some(&k)], 1).unwrap().remove(0);
        assert_eq!(y.as_slice::<i64>().unwrap(), &[0, 2, 3, 0, 0, 6]);
        let y = Trilu { upper: false }.eval(&[Some(&x), None], 1).unwrap().remove(0);
        assert_eq!(y.as_slice::<i64>().unwrap(), &[1, 0, 0, 4, 5, 0]);
        let e = EyeLike { dtype: Some(DType::F32), k: -1 }.eval(&[Some(&x)], 1).unwrap().remove(0);
        assert_eq!(e.as_slice::<f32>().unwrap(), &[0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn onehot_out_of_range_is_off() {
        let i = Tensor::new(&[3], vec![1i64, -1, 7]).unwrap();
        let depth = Tensor::scalar(3.0f32);
        let v = Tensor::new(&[2], vec![0i32, 5]).unwrap();
        let y = OneHot { axis: 0 }.eval(&[Some(&i), Some(&depth), Some(&v)], 1).unwrap().remove(0);
        assert_eq!(y.shape(), &[3, 3]);
        assert_eq!(y.as_slice::<i32>().unwrap(), &[0, 0, 0, 5, 0, 0, 0, 5, 0]);
    }

    #[test]
    fn reverse_sequence_rejects_long_lengths() {
        let rs = ReverseSequence { batch_axis: 0, time_axis: 1 };
        let x = Tensor::new(&[2, 3], vec![1i32, 2, 3, 4, 5, 6]).unwrap();
        let l = Tensor::new(&[2], vec![3i64, 2]).unwrap();
        let y = rs.eval(&[Some(&x), Some(&l)], 1).unwrap().remove(0);
        assert_eq!(y.as_slice::<i32>().unwrap(), &[3, 2, 1, 5, 4, 6]);
        let bad = Tensor::new(&[2], vec![4i64, 2]).unwrap();
        assert!(rs.eval(&[Some(&x), Some(&bad)], 1).is_err());
    }

    #[test]
    fn col2im_sums_overlaps() {
        // One channel, 1-D image of 3 with blocks of 2 at stride 1: two blocks overlap at 1.
        let c = Col2Im { dilations: None, pads: None, strides: None };
        let x = Tensor::new(&[1, 2, 2], vec![1.0f32, 2.0, 10.0, 20.0]).unwrap();
        let img = Tensor::new(&[2], vec![1i64, 3]).unwrap();
        let blk = Tensor::new(&[2], vec![1i64, 2]).unwrap();
        let y = c.eval(&[Some(&x), Some(&img), Some(&blk)], 1).unwrap().remove(0);
        assert_eq!(y.shape(), &[1, 1, 1, 3]);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[1.0, 12.0, 20.0]);
    }
}
