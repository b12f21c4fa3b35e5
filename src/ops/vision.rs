//! Spatial sampling and detection ops (ai.onnx): GridSample (opsets 16 and 20+, N-D, nearest /
//! linear / cubic, zeros / border / reflection padding), AffineGrid, RoiAlign (avg / max,
//! half_pixel or output_half_pixel), NonMaxSuppression and MaxUnpool.
//!
//! Reference kernels compute in f64; NonMaxSuppression evaluates its IoU test in the boxes'
//! own precision so that boundary cases decide as they do in single precision.

use super::resize::{allocatable, to_dtype};
use super::{ints_of, need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::strides;
use crate::tensor::{DType, Dim, Tensor};

// ---- GridSample ----------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleMode {
    Nearest,
    Linear,
    Cubic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaddingMode {
    Zeros,
    Border,
    Reflection,
}

#[derive(Clone, Debug)]
pub struct GridSample {
    pub mode: SampleMode,
    pub padding: PaddingMode,
    pub align_corners: bool,
}

/// Reflects `x` into `[lo, hi]` by bouncing off the borders.
fn reflect(x: f64, lo: f64, hi: f64) -> f64 {
    let range = hi - lo;
    if range <= 0.0 {
        return lo;
    }
    if x < lo {
        let dx = lo - x;
        let n = (dx / range).floor();
        let r = dx - n * range;
        if n % 2.0 == 0.0 {
            lo + r
        } else {
            hi - r
        }
    } else if x > hi {
        let dx = x - hi;
        let n = (dx / range).floor();
        let r = dx - n * range;
        if n % 2.0 == 0.0 {
            hi - r
        } else {
            lo + r
        }
    } else {
        x
    }
}

/// Keys' cubic convolution weights (a = -0.75) of the taps at -1, 0, 1, 2 for fraction `t`.
fn cubic_weights(t: f64) -> [f64; 4] {
    let a = -0.75;
    let w = |x: f64| {
        let x = x.abs();
        if x <= 1.0 {
            ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
        } else if x < 2.0 {
            ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
        } else {
            0.0
        }
    };
    [w(t + 1.0), w(t), w(1.0 - t), w(2.0 - t)]
}

impl GridSample {
    /// The input index an integer tap reads along one axis (None = zero padding).
    fn tap(&self, i: i64, len: usize, lo: f64, hi: f64) -> Option<usize> {
        let last = len as i64 - 1;
        match self.padding {
            PaddingMode::Zeros => (0..=last).contains(&i).then_some(i as usize),
            PaddingMode::Border => Some(i.clamp(0, last) as usize),
            PaddingMode::Reflection => Some((reflect(i as f64, lo, hi) as i64).clamp(0, last) as usize),
        }
    }

    /// (index, weight) taps of one sampling coordinate along an axis of length `len`.
    fn axis_taps(&self, g: f64, len: usize) -> Vec<(Option<usize>, f64)> {
        let n = len as f64;
        let (lo, hi) = if self.align_corners { (0.0, n - 1.0) } else { (-0.5, n - 0.5) };
        let mut x = if self.align_corners { (g + 1.0) / 2.0 * (n - 1.0) } else { ((g + 1.0) * n - 1.0) / 2.0 };
        if self.mode == SampleMode::Nearest {
            x = x.round_ties_even();
        }
        // Cubic pads each tap rather than the coordinate (PyTorch's grid_sample, which the spec
        // follows, and ONNX Runtime; the ONNX Python reference clamps the coordinate first).
        if (x < lo || x > hi) && self.mode != SampleMode::Cubic {
            match self.padding {
                PaddingMode::Border => x = x.clamp(0.0, n - 1.0),
                PaddingMode::Reflection => x = reflect(x, lo, hi),
                PaddingMode::Zeros => {}
            }
        }
        if !x.is_finite() {
            return vec![(None, 0.0)];
        }
        match self.mode {
            SampleMode::Nearest => vec![(self.tap(x.trunc() as i64, len, lo, hi), 1.0)],
            SampleMode::Linear => {
                let x0 = x.floor();
                let t = x - x0;
                let i = x0 as i64;
                vec![(self.tap(i, len, lo, hi), 1.0 - t), (self.tap(i.saturating_add(1), len, lo, hi), t)]
            }
            SampleMode::Cubic => {
                let x0 = x.floor();
                let w = cubic_weights(x - x0);
                let i = x0 as i64;
                (0..4).map(|j| (self.tap(i.saturating_add(j as i64 - 1), len, lo, hi), w[j])).collect()
            }
        }
    }
}

impl OpSpec for GridSample {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, g) = (cx.input(0)?, cx.input(1)?);
        if !g.dtype.is_float() {
            return Err(format!("grid must be a float tensor, got {}", g.dtype));
        }
        let r = x.rank();
        if r < 3 || g.rank() != r {
            return Err(format!("X (rank {r}) and grid (rank {}) must have equal rank ≥ 3", g.rank()));
        }
        if let Some(k) = g.dims[r - 1].known() {
            if k != r - 2 {
                return Err(format!("grid's last dim is {k}, expected {}", r - 2));
            }
        }
        let mut out = vec![x.dims[0].clone(), x.dims[1].clone()];
        out.extend(g.dims[1..r - 1].iter().cloned());
        Ok(vec![vt(x.dtype, out)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, grid) = (need(inputs, 0)?, need(inputs, 1)?);
        let (xs, gs) = (x.shape(), grid.shape());
        let r = xs.len();
        if r < 3 || gs.len() != r || gs[0] != xs[0] || gs[r - 1] != r - 2 {
            return Err(format!("X {xs:?} and grid {gs:?} do not match (grid must be (N, D1…Dr, r))"));
        }
        let nd = r - 2;
        let (n, c) = (xs[0], xs[1]);
        let sp_in = &xs[2..];
        let sp_out = &gs[1..r - 1];
        let isz: usize = sp_in.iter().product();
        let osz: usize = sp_out.iter().product();
        let ist = strides(sp_in);
        let xv = x.to_f64_vec()?;
        let gv = grid.to_f64_vec()?;
        let mut out = vec![0.0; n * c * osz];
        for b in 0..n {
            for o in 0..osz {
                let gp = &gv[(b * osz + o) * nd..(b * osz + o + 1) * nd];
                // The grid lists coordinates innermost axis first (x, y, z).
                let taps: Vec<Vec<(Option<usize>, f64)>> =
                    (0..nd).map(|d| self.axis_taps(gp[nd - 1 - d], sp_in[d])).collect();
                let mut combos: Vec<(Option<usize>, f64)> = vec![(Some(0), 1.0)];
                for (d, t) in taps.iter().enumerate() {
                    let mut next = Vec::with_capacity(combos.len() * t.len());
                    for &(off, w) in &combos {
                        for &(i, wi) in t {
                            next.push((off.zip(i).map(|(a, i)| a + i * ist[d]), w * wi));
                        }
                    }
                    combos = next;
                }
                for ch in 0..c {
                    let base = (b * c + ch) * isz;
                    let mut acc = 0.0;
                    for &(off, w) in &combos {
                        if let Some(off) = off {
                            acc += w * xv[base + off];
                        }
                    }
                    out[(b * c + ch) * osz + o] = acc;
                }
            }
        }
        let mut shape = vec![n, c];
        shape.extend(sp_out);
        Ok(vec![to_dtype(x.dtype(), &shape, out)?])
    }
}

pub fn import_grid_sample(c: &NodeCtx) -> Result<Op, String> {
    let a = c.attrs;
    let default_mode = if c.opset >= 20 { "linear" } else { "bilinear" };
    let mode = match a.string("mode", default_mode)?.as_str() {
        "nearest" => SampleMode::Nearest,
        "linear" | "bilinear" => SampleMode::Linear,
        "cubic" | "bicubic" => SampleMode::Cubic,
        s => return Err(format!("unknown GridSample mode '{s}'")),
    };
    let padding = match a.string("padding_mode", "zeros")?.as_str() {
        "zeros" => PaddingMode::Zeros,
        "border" => PaddingMode::Border,
        "reflection" => PaddingMode::Reflection,
        s => return Err(format!("unknown padding_mode '{s}'")),
    };
    Ok(Op::GridSample(GridSample { mode, padding, align_corners: a.int("align_corners", 0)? != 0 }))
}

// ---- AffineGrid ----------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct AffineGrid {
    pub align_corners: bool,
}

impl AffineGrid {
    /// The normalized coordinate of position `i` along an axis of `n` positions.
    fn coord(&self, i: usize, n: usize) -> f64 {
        if n <= 1 {
            return 0.0;
        }
        if self.align_corners {
            -1.0 + 2.0 * i as f64 / (n - 1) as f64
        } else {
            -1.0 + (2 * i + 1) as f64 / n as f64
        }
    }

    /// Checks theta's shape against `size` and returns the spatial size.
    fn spatial(theta: &[Dim], size: &[i64]) -> Result<Vec<usize>, String> {
        if size.len() != 4 && size.len() != 5 {
            return Err(format!("size must have 4 or 5 values, got {size:?}"));
        }
        let nd = size.len() - 2;
        if let Some(&bad) = size.iter().find(|&&v| v < 0) {
            return Err(format!("size values must be ≥ 0, got {bad}"));
        }
        let expect = [Dim::Known(size[0] as usize), Dim::Known(nd), Dim::Known(nd + 1)];
        if theta.len() != 3 || theta.iter().zip(&expect).any(|(t, e)| t.known().is_some() && t != e) {
            return Err(format!("theta must have shape ({}, {nd}, {}) for size {size:?}", size[0], nd + 1));
        }
        let sp: Vec<usize> = size[2..].iter().map(|&v| v as usize).collect();
        let mut all = sp.clone();
        all.extend([size[0] as usize, nd]);
        allocatable(&all)?;
        Ok(sp)
    }
}

impl OpSpec for AffineGrid {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let t = cx.input(0)?;
        if !t.dtype.is_float() {
            return Err(format!("theta must be a float tensor, got {}", t.dtype));
        }
        let size = ints_of(cx.need_value(1)?)?;
        let sp = Self::spatial(&t.dims, &size)?;
        let mut out = vec![Dim::Known(size[0] as usize)];
        out.extend(sp.iter().map(|&d| Dim::Known(d)));
        out.push(Dim::Known(sp.len()));
        Ok(vec![vt(t.dtype, out)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let theta = need(inputs, 0)?;
        let size = ints_of(need(inputs, 1)?)?;
        let tdims: Vec<Dim> = theta.shape().iter().map(|&d| Dim::Known(d)).collect();
        let sp = Self::spatial(&tdims, &size)?;
        let nd = sp.len();
        let n = size[0] as usize;
        let tv = theta.to_f64_vec()?;
        let osz: usize = sp.iter().product();
        let ost = strides(&sp);
        let mut out = Vec::with_capacity(n * osz * nd);
        for b in 0..n {
            let th = &tv[b * nd * (nd + 1)..(b + 1) * nd * (nd + 1)];
            for o in 0..osz {
                // Homogeneous base point, innermost axis first: (x, y[, z], 1).
                let mut p: Vec<f64> = (0..nd)
                    .map(|j| {
                        let d = nd - 1 - j;
                        self.coord((o / ost[d]) % sp[d], sp[d])
                    })
                    .collect();
                p.push(1.0);
                for row in 0..nd {
                    out.push(th[row * (nd + 1)..(row + 1) * (nd + 1)].iter().zip(&p).map(|(a, b)| a * b).sum());
                }
            }
        }
        let mut shape = vec![n];
        shape.extend(&sp);
        shape.push(nd);
        Ok(vec![Tensor::from_f64(theta.dtype(), &shape, &out)?])
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[1]
    }
}

pub fn import_affine_grid(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::AffineGrid(AffineGrid { align_corners: c.attrs.int("align_corners", 0)? != 0 }))
}

// ---- RoiAlign ------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct RoiAlign {
    pub max: bool,
    /// `half_pixel` (opset 16 default): shift pixel coordinates by -0.5.
    pub half_pixel: bool,
    pub output_height: usize,
    pub output_width: usize,
    pub sampling_ratio: usize,
    pub spatial_scale: f64,
}

/// One bilinear sample: four flat offsets in the H×W plane and their weights.
type Sample = ([usize; 4], [f64; 4]);

impl RoiAlign {
    fn bilinear(y: f64, x: f64, h: usize, w: usize) -> Sample {
        if y < -1.0 || y > h as f64 || x < -1.0 || x > w as f64 {
            return ([0; 4], [0.0; 4]);
        }
        let (mut y, mut x) = (y.max(0.0), x.max(0.0));
        let (mut yl, mut xl) = (y as usize, x as usize);
        let (yh, xh);
        if yl >= h - 1 {
            yl = h - 1;
            yh = h - 1;
            y = yl as f64;
        } else {
            yh = yl + 1;
        }
        if xl >= w - 1 {
            xl = w - 1;
            xh = w - 1;
            x = xl as f64;
        } else {
            xh = xl + 1;
        }
        let (ly, lx) = (y - yl as f64, x - xl as f64);
        let (hy, hx) = (1.0 - ly, 1.0 - lx);
        ([yl * w + xl, yl * w + xh, yh * w + xl, yh * w + xh], [hy * hx, hy * lx, ly * hx, ly * lx])
    }
}

impl OpSpec for RoiAlign {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, rois, bi) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
        if !x.dtype.is_float() || rois.dtype != x.dtype {
            return Err(format!("X and rois must be float tensors of one dtype, got {} and {}", x.dtype, rois.dtype));
        }
        if !bi.dtype.is_int() {
            return Err(format!("batch_indices must be an integer tensor, got {}", bi.dtype));
        }
        if x.rank() != 4 || rois.rank() != 2 || bi.rank() != 1 {
            return Err("RoiAlign needs X (N, C, H, W), rois (R, 4) and batch_indices (R)".into());
        }
        Ok(vec![vt(
            x.dtype,
            vec![
                rois.dims[0].clone(),
                x.dims[1].clone(),
                Dim::Known(self.output_height),
                Dim::Known(self.output_width),
            ],
        )])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, rois, bi) = (need(inputs, 0)?, need(inputs, 1)?, need(inputs, 2)?);
        let xs = x.shape();
        if xs.len() != 4 || rois.rank() != 2 || rois.shape()[1] != 4 {
            return Err(format!("RoiAlign needs X (N, C, H, W) and rois (R, 4), got {xs:?} and {:?}", rois.shape()));
        }
        let (n, c, h, w) = (xs[0], xs[1], xs[2], xs[3]);
        let nr = rois.shape()[0];
        let bidx = ints_of(bi)?;
        if bidx.len() != nr {
            return Err(format!("batch_indices has {} entries, rois has {nr}", bidx.len()));
        }
        let (ph, pw) = (self.output_height, self.output_width);
        let xv = x.to_f64_vec()?;
        let rv = rois.to_f64_vec()?;
        allocatable(&[nr, c, ph, pw])?;
        let mut out = vec![0.0; nr * c * ph * pw];
        if h == 0 || w == 0 {
            return Ok(vec![Tensor::from_f64(x.dtype(), &[nr, c, ph, pw], &out)?]);
        }
        let off = if self.half_pixel { 0.5 } else { 0.0 };
        for r in 0..nr {
            let b = bidx[r];
            if b < 0 || b as usize >= n {
                return Err(format!("batch index {b} is out of range for {n} images"));
            }
            let roi = &rv[r * 4..r * 4 + 4];
            let (sw, sh) = (roi[0] * self.spatial_scale - off, roi[1] * self.spatial_scale - off);
            let (ew, eh) = (roi[2] * self.spatial_scale - off, roi[3] * self.spatial_scale - off);
            let (mut rw, mut rh) = (ew - sw, eh - sh);
            if !self.half_pixel {
                rw = rw.max(1.0);
                rh = rh.max(1.0);
            }
            let (bh, bw) = (rh / ph as f64, rw / pw as f64);
            let grid = |len: f64, bins: usize| -> Result<usize, String> {
                if self.sampling_ratio > 0 {
                    return Ok(self.sampling_ratio);
                }
                let g = (len / bins as f64).ceil();
                if !g.is_finite() || g > 1e6 {
                    return Err(format!("roi {r} is too large to sample"));
                }
                Ok(g.max(0.0) as usize)
            };
            let (gh, gw) = (grid(rh, ph)?, grid(rw, pw)?);
            allocatable(&[ph, pw, gh, gw])?;
            let count = (gh * gw).max(1) as f64;
            let mut samples: Vec<Sample> = Vec::with_capacity(ph * pw * gh * gw);
            for py in 0..ph {
                for px in 0..pw {
                    for iy in 0..gh {
                        let y = sh + py as f64 * bh + (iy as f64 + 0.5) * bh / gh as f64;
                        for ix in 0..gw {
                            let xx = sw + px as f64 * bw + (ix as f64 + 0.5) * bw / gw as f64;
                            samples.push(Self::bilinear(y, xx, h, w));
                        }
                    }
                }
            }
            let per_bin = gh * gw;
            for ch in 0..c {
                let plane = &xv[(b as usize * c + ch) * h * w..(b as usize * c + ch + 1) * h * w];
                for bin in 0..ph * pw {
                    let ss = &samples[bin * per_bin..(bin + 1) * per_bin];
                    let v = if self.max {
                        // Each sample contributes its largest weighted corner (ONNX reference).
                        ss.iter()
                            .map(|(p, wt)| (0..4).map(|k| wt[k] * plane[p[k]]).fold(f64::NEG_INFINITY, f64::max))
                            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
                            .unwrap_or(0.0)
                    } else {
                        ss.iter().map(|(p, wt)| (0..4).map(|k| wt[k] * plane[p[k]]).sum::<f64>()).sum::<f64>() / count
                    };
                    out[(r * c + ch) * ph * pw + bin] = v;
                }
            }
        }
        Ok(vec![Tensor::from_f64(x.dtype(), &[nr, c, ph, pw], &out)?])
    }
}

pub fn import_roi_align(c: &NodeCtx) -> Result<Op, String> {
    let a = c.attrs;
    let half_pixel = if c.opset >= 16 {
        match a.string("coordinate_transformation_mode", "half_pixel")?.as_str() {
            "half_pixel" => true,
            "output_half_pixel" => false,
            s => return Err(format!("unknown coordinate_transformation_mode '{s}'")),
        }
    } else {
        false
    };
    let max = match a.string("mode", "avg")?.as_str() {
        "avg" => false,
        "max" => true,
        s => return Err(format!("unknown RoiAlign mode '{s}'")),
    };
    let nonneg = |k: &str, d: i64| -> Result<usize, String> {
        let v = a.int(k, d)?;
        if v < 0 {
            return Err(format!("{k} must be ≥ 0, got {v}"));
        }
        Ok(v as usize)
    };
    Ok(Op::RoiAlign(RoiAlign {
        max,
        half_pixel,
        output_height: nonneg("output_height", 1)?,
        output_width: nonneg("output_width", 1)?,
        sampling_ratio: nonneg("sampling_ratio", 0)?,
        spatial_scale: a.float("spatial_scale", 1.0)? as f64,
    }))
}

// ---- NonMaxSuppression ---------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct NonMaxSuppression {
    /// Boxes as (x_center, y_center, width, height) instead of (y1, x1, y2, x2).
    pub center_point_box: bool,
}

impl NonMaxSuppression {
    /// Whether boxes `a` and `b` overlap with IoU above `thr`. `q` rounds every intermediate to
    /// the boxes' precision.
    fn suppresses(&self, a: &[f64], b: &[f64], thr: f64, q: &dyn Fn(f64) -> f64) -> bool {
        let span = |lo: f64, hi: f64| if lo <= hi { (lo, hi) } else { (hi, lo) };
        let (ax, ay, bx, by);
        if self.center_point_box {
            let ext = |c: f64, s: f64| {
                let h = q(s / 2.0);
                (q(c - h), q(c + h))
            };
            ax = ext(a[0], a[2]);
            bx = ext(b[0], b[2]);
            ay = ext(a[1], a[3]);
            by = ext(b[1], b[3]);
        } else {
            ax = span(a[1], a[3]);
            bx = span(b[1], b[3]);
            ay = span(a[0], a[2]);
            by = span(b[0], b[2]);
        }
        let (ix0, ix1) = (ax.0.max(bx.0), ax.1.min(bx.1));
        if ix1 <= ix0 {
            return false;
        }
        let (iy0, iy1) = (ay.0.max(by.0), ay.1.min(by.1));
        if iy1 <= iy0 {
            return false;
        }
        let inter = q(q(ix1 - ix0) * q(iy1 - iy0));
        if inter <= 0.0 {
            return false;
        }
        let area_a = q(q(ax.1 - ax.0) * q(ay.1 - ay.0));
        let area_b = q(q(bx.1 - bx.0) * q(by.1 - by.0));
        let union = q(q(area_a + area_b) - inter);
        if area_a <= 0.0 || area_b <= 0.0 || union <= 0.0 {
            return false;
        }
        q(inter / union) > thr
    }

    fn run(&self, inputs: &[Option<&Tensor>]) -> Result<Vec<[i64; 3]>, String> {
        let (boxes, scores) = (need(inputs, 0)?, need(inputs, 1)?);
        let (bs, ss) = (boxes.shape(), scores.shape());
        if bs.len() != 3 || bs[2] != 4 || ss.len() != 3 || ss[0] != bs[0] || ss[2] != bs[1] {
            return Err(format!("boxes {bs:?} must be (B, N, 4) and scores {ss:?} (B, C, N)"));
        }
        let (nb, nbox, ncls) = (bs[0], bs[1], ss[1]);
        let opt = |i: usize| inputs.get(i).copied().flatten().filter(|t| t.numel() > 0);
        let max_out = match opt(2) {
            Some(t) => ints_of(t)?[0].max(0) as usize,
            None => 0,
        };
        let iou_thr = match opt(3) {
            Some(t) => t.to_f64_vec()?[0],
            None => 0.0,
        };
        if !(0.0..=1.0).contains(&iou_thr) {
            return Err(format!("iou_threshold must be in [0, 1], got {iou_thr}"));
        }
        let score_thr = opt(4).map(|t| t.to_f64_vec().map(|v| v[0])).transpose()?;
        let single = boxes.dtype() != DType::F64;
        let q = move |v: f64| if single { v as f32 as f64 } else { v };
        let bv = boxes.to_f64_vec()?;
        let sv = scores.to_f64_vec()?;
        let mut selected = Vec::new();
        if max_out == 0 {
            return Ok(selected);
        }
        for b in 0..nb {
            let bx = |i: usize| &bv[(b * nbox + i) * 4..(b * nbox + i + 1) * 4];
            for cl in 0..ncls {
                let cs = &sv[(b * ncls + cl) * nbox..(b * ncls + cl + 1) * nbox];
                let mut cand: Vec<usize> = (0..nbox).filter(|&i| score_thr.is_none_or(|t| cs[i] > t)).collect();
                // Highest score first; equal scores keep the lower index first.
                cand.sort_by(|&i, &j| cs[j].partial_cmp(&cs[i]).unwrap_or(std::cmp::Ordering::Equal).then(i.cmp(&j)));
                let mut kept: Vec<usize> = Vec::new();
                for i in cand {
                    if kept.len() >= max_out {
                        break;
                    }
                    if kept.iter().all(|&k| !self.suppresses(bx(i), bx(k), iou_thr, &q)) {
                        kept.push(i);
                        selected.push([b as i64, cl as i64, i as i64]);
                    }
                }
            }
        }
        Ok(selected)
    }
}

impl OpSpec for NonMaxSuppression {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (b, s) = (cx.input(0)?, cx.input(1)?);
        if !b.dtype.is_float() || !s.dtype.is_float() {
            return Err(format!("boxes and scores must be float tensors, got {} and {}", b.dtype, s.dtype));
        }
        let mut vals: Vec<Option<&Tensor>> = Vec::new();
        for i in 0..cx.inputs.len().min(5) {
            vals.push(if cx.opt(i).is_some() { Some(cx.need_value(i)?) } else { None });
        }
        let n = self.run(&vals)?.len();
        Ok(vec![vt(DType::I64, vec![Dim::Known(n), Dim::Known(3)])])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let sel = self.run(inputs)?;
        let flat: Vec<i64> = sel.iter().flatten().copied().collect();
        Ok(vec![Tensor::from_slice(&[sel.len(), 3], &flat)?])
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[0, 1, 2, 3, 4]
    }
}

pub fn import_non_max_suppression(c: &NodeCtx) -> Result<Op, String> {
    let cpb = c.attrs.int("center_point_box", 0)?;
    if cpb != 0 && cpb != 1 {
        return Err(format!("center_point_box must be 0 or 1, got {cpb}"));
    }
    Ok(Op::NonMaxSuppression(NonMaxSuppression { center_point_box: cpb == 1 }))
}

// ---- MaxUnpool -----------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct MaxUnpool {
    pub kernel: Vec<usize>,
    pub strides: Option<Vec<usize>>,
    pub pads: Option<Vec<usize>>,
}

impl MaxUnpool {
    /// The unpooled shape implied by the attributes: `(in - 1) * stride - pads + kernel`.
    fn inferred(&self, x: &[usize]) -> Result<Vec<usize>, String> {
        let nd = self.kernel.len();
        if x.len() != nd + 2 {
            return Err(format!("X has rank {}, expected {} for kernel {:?}", x.len(), nd + 2, self.kernel));
        }
        let strides = self.strides.clone().unwrap_or(vec![1; nd]);
        let pads = self.pads.clone().unwrap_or(vec![0; 2 * nd]);
        if strides.len() != nd || pads.len() != 2 * nd {
            return Err(format!("strides {strides:?} / pads {pads:?} do not fit {nd} spatial dims"));
        }
        let mut out = x[..2].to_vec();
        for d in 0..nd {
            let full = x[d + 2].saturating_sub(1) * strides[d] + self.kernel[d];
            let p = pads[d] + pads[nd + d];
            if x[d + 2] == 0 || full < p {
                return Err(format!("spatial dim {d} of size {} cannot be unpooled with pads {p}", x[d + 2]));
            }
            out.push(full - p);
        }
        Ok(out)
    }

    /// The attribute-implied shape the indices address, and the output shape.
    pub fn out_shape(&self, x: &[usize], given: Option<Vec<i64>>) -> Result<(Vec<usize>, Vec<usize>), String> {
        let inferred = self.inferred(x)?;
        let out = match given {
            None => inferred.clone(),
            Some(g) => {
                if g.len() != x.len() || g.iter().zip(&inferred).any(|(&o, &i)| o < i as i64) {
                    return Err(format!("output_shape {g:?} must have rank {} and be at least {inferred:?}", x.len()));
                }
                g.iter().map(|&v| v as usize).collect()
            }
        };
        allocatable(&out)?;
        Ok((inferred, out))
    }
}

impl OpSpec for MaxUnpool {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, i) = (cx.input(0)?, cx.input(1)?);
        if !i.dtype.is_int() {
            return Err(format!("I must be an integer tensor, got {}", i.dtype));
        }
        let given = match cx.opt(2) {
            Some(_) => Some(ints_of(cx.need_value(2)?)?),
            None => None,
        };
        let dims = match x.shape() {
            Some(s) => self.out_shape(&s, given)?.1.into_iter().map(Dim::Known).collect(),
            None => match given {
                Some(g) => g.iter().map(|&v| Dim::Known(v.max(0) as usize)).collect(),
                None => vec![Dim::Unknown; x.rank()],
            },
        };
        Ok(vec![vt(x.dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, idx) = (need(inputs, 0)?, need(inputs, 1)?);
        let given = inputs.get(2).copied().flatten().map(ints_of).transpose()?;
        let (inferred, out) = self.out_shape(x.shape(), given)?;
        if idx.shape() != x.shape() {
            return Err(format!("I {:?} must have X's shape {:?}", idx.shape(), x.shape()));
        }
        let iv = ints_of(idx)?;
        let total: usize = inferred.iter().product();
        // Indices address the attribute-implied shape; a larger output_shape pads at the end
        // of every axis (the ONNX reference's placement).
        let ist = strides(&inferred);
        let ost = strides(&out);
        let mut src: Vec<Option<usize>> = vec![None; out.iter().product()];
        for (k, &i) in iv.iter().enumerate() {
            if i < 0 || i as usize >= total {
                return Err(format!("index {i} is out of range for the unpooled shape {inferred:?}"));
            }
            let i = i as usize;
            let o: usize = (0..inferred.len()).map(|d| (i / ist[d]) % inferred[d] * ost[d]).sum();
            src[o] = Some(k);
        }
        if x.dtype().is_int() {
            let xi = x.to_i64_vec()?;
            let d: Vec<i64> = src.iter().map(|s| s.map_or(0, |k| xi[k])).collect();
            return Ok(vec![Tensor::from_i64(x.dtype(), &out, &d)?]);
        }
        let xv = x.to_f64_vec()?;
        let data: Vec<f64> = src.iter().map(|s| s.map_or(0.0, |k| xv[k])).collect();
        Ok(vec![Tensor::from_f64(x.dtype(), &out, &data)?])
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[2]
    }
}

pub fn import_max_unpool(c: &NodeCtx) -> Result<Op, String> {
    let a = c.attrs;
    let nonneg = |v: Vec<i64>, what: &str, min: i64| -> Result<Vec<usize>, String> {
        v.iter()
            .map(|&x| if x >= min { Ok(x as usize) } else { Err(format!("{what} must be ≥ {min}, got {x}")) })
            .collect()
    };
    let kernel = nonneg(a.opt_ints("kernel_shape")?.ok_or("MaxUnpool needs kernel_shape")?, "kernel_shape", 1)?;
    Ok(Op::MaxUnpool(MaxUnpool {
        kernel,
        strides: a.opt_ints("strides")?.map(|v| nonneg(v, "strides", 1)).transpose()?,
        pads: a.opt_ints("pads")?.map(|v| nonneg(v, "pads", 0)).transpose()?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_bounces() {
        assert_eq!(reflect(-1.0, -0.5, 2.5), 0.0);
        assert_eq!(reflect(3.0, -0.5, 2.5), 2.0);
        assert_eq!(reflect(6.0, -0.5, 2.5), 0.0);
        assert_eq!(reflect(7.0, -0.5, 2.5), 1.0);
        assert_eq!(reflect(0.0, 0.0, 0.0), 0.0);
    }

    #[test]
    fn cubic_border_pads_taps_not_the_coordinate() {
        let op = GridSample { mode: SampleMode::Cubic, padding: PaddingMode::Border, align_corners: true };
        let x = Tensor::from_slice(&[1, 1, 1, 3], &[0.0f32, 1.0, 2.0]).unwrap();
        // x = 2.5: taps 1, 2, 3→2, 4→2 with weights (-0.09375, 0.59375, 0.59375, -0.09375).
        let g = Tensor::from_slice(&[1, 1, 1, 2], &[1.5f32, 0.0]).unwrap();
        let y = op.eval(&[Some(&x), Some(&g)], 1).unwrap().remove(0).to_f64_vec().unwrap();
        assert_eq!(y, vec![2.09375]);
    }

    #[test]
    fn nms_boundary_in_single_precision() {
        let nms = NonMaxSuppression { center_point_box: false };
        // Two unit boxes overlapping by half: IoU = 1/3.
        let a = [0.0, 0.0, 1.0, 1.0];
        let b = [0.0, 0.5, 1.0, 1.5];
        let q = |v: f64| v as f32 as f64;
        assert!(nms.suppresses(&a, &b, 0.3, &q));
        assert!(!nms.suppresses(&a, &b, 0.4, &q));
    }

    #[test]
    fn maxunpool_pads_output_shape_at_the_end() {
        let op = MaxUnpool { kernel: vec![2], strides: Some(vec![2]), pads: None };
        let x = Tensor::from_slice(&[1, 1, 2], &[5.0f32, 6.0]).unwrap();
        let i = Tensor::from_slice(&[1, 1, 2], &[1i64, 2]).unwrap();
        let shape = Tensor::from_slice(&[3], &[1i64, 1, 5]).unwrap();
        let y = op.eval(&[Some(&x), Some(&i), Some(&shape)], 1).unwrap();
        assert_eq!(y[0].to_f64_vec().unwrap(), vec![0.0, 5.0, 6.0, 0.0, 0.0]);
        let bad = Tensor::from_slice(&[1, 1, 2], &[1i64, 9]).unwrap();
        assert!(op.eval(&[Some(&x), Some(&bad)], 1).is_err());
    }
}
