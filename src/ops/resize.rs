//! Resize (ai.onnx opsets 10, 11, 13, 18, 19) and the deprecated Upsample (opsets 1, 7, 9, 10).
//!
//! Interpolation is separable: the output is computed one resized axis at a time, each output
//! coordinate mapping back to a source coordinate (`coordinate_transformation_mode`) and taking a
//! weighted sum of a few neighbouring input elements (nearest, linear, cubic, optionally with
//! the antialiasing filter when downscaling). Nearest mode gathers elements, so it works for every
//! dtype and keeps integers exact; linear and cubic compute in f64 and round to the output dtype
//! (integers round half to even and saturate).
//!
//! Resize-10 and Upsample use the pre-opset-11 behaviour: asymmetric coordinates and, for nearest,
//! floor when upscaling and ceil when downscaling.

use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::norm_axis;
use crate::tensor::{DType, Dim, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interp {
    Nearest,
    Linear,
    Cubic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoordMode {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfHalfPixelForNn,
    TfCropAndResize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
    /// Resize-10 / Upsample: floor when upscaling an axis, ceil when downscaling it.
    Simple,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AspectPolicy {
    Stretch,
    NotLarger,
    NotSmaller,
}

/// Resize / Upsample with decoded attributes and the positions of its optional inputs.
#[derive(Clone, Debug)]
pub struct Resize {
    pub mode: Interp,
    pub coord: CoordMode,
    pub nearest: NearestMode,
    pub cubic_a: f64,
    pub exclude_outside: bool,
    pub extrapolation: f64,
    pub antialias: bool,
    pub axes: Option<Vec<i64>>,
    pub policy: AspectPolicy,
    pub roi_input: Option<usize>,
    pub scales_input: Option<usize>,
    pub sizes_input: Option<usize>,
    /// Upsample-1/7 carry the scales as attributes.
    pub scales_attr: Option<Vec<f32>>,
}

/// What one axis becomes.
#[derive(Clone, Copy, Debug, PartialEq)]
struct AxisPlan {
    input: usize,
    output: usize,
    scale: f64,
    roi: (f64, f64),
    /// The roi is single precision: the crop terms round as they do in f32.
    roi_single: bool,
}

/// One output position along an axis: `None` = extrapolated (tf_crop_and_resize outside the
/// input), else (source index, weight) pairs.
type Taps = Option<Vec<(usize, f64)>>;

/// The shape-deciding inputs read as numbers (`None` = absent or empty).
struct Params {
    roi: Option<Vec<f64>>,
    /// The roi tensor is narrower than f64.
    roi_single: bool,
    scales: Option<Vec<f64>>,
    sizes: Option<Vec<i64>>,
}

fn nonempty(t: Option<&Tensor>) -> Option<&Tensor> {
    t.filter(|t| t.numel() > 0)
}

impl Resize {
    /// The resized axes in processing order.
    fn axes(&self, rank: usize) -> Result<Vec<usize>, String> {
        match &self.axes {
            None => Ok((0..rank).collect()),
            Some(a) => {
                let mut out = Vec::with_capacity(a.len());
                for &x in a {
                    let n = norm_axis(x, rank)?;
                    if out.contains(&n) {
                        return Err(format!("axis {x} is repeated in axes {a:?}"));
                    }
                    out.push(n);
                }
                Ok(out)
            }
        }
    }

    /// Per-axis geometry from the input shape and the roi/scales/sizes values.
    fn plan(&self, input: &[usize], p: &Params) -> Result<Vec<AxisPlan>, String> {
        let r = input.len();
        let axes = self.axes(r)?;
        let na = axes.len();
        let mut plan: Vec<AxisPlan> = input
            .iter()
            .map(|&d| AxisPlan { input: d, output: d, scale: 1.0, roi: (0.0, 1.0), roi_single: p.roi_single })
            .collect();
        // The roi moves sampling positions but not the output shape (as in the ONNX reference
        // and ONNX Runtime), so shape rules may leave it out.
        if let (CoordMode::TfCropAndResize, Some(roi)) = (self.coord, &p.roi) {
            if roi.len() != 2 * na {
                return Err(format!("roi has {} values, expected {}", roi.len(), 2 * na));
            }
            for (i, &a) in axes.iter().enumerate() {
                plan[a].roi = (roi[i], roi[na + i]);
            }
        }
        match (&p.scales, &p.sizes) {
            (Some(_), Some(_)) => return Err("only one of scales and sizes may be given".into()),
            (None, None) => return Err("one of scales and sizes must be given".into()),
            (Some(s), None) => {
                if s.len() != na {
                    return Err(format!("scales has {} values, expected {na}", s.len()));
                }
                for (i, &a) in axes.iter().enumerate() {
                    let sc = s[i];
                    if !(sc > 0.0 && sc.is_finite()) {
                        return Err(format!("scales must be positive and finite, got {sc}"));
                    }
                    let out = (sc * input[a] as f64).floor();
                    if out > (1u64 << 40) as f64 {
                        return Err(format!("scale {sc} gives an output dim that is too large"));
                    }
                    plan[a].output = out as usize;
                    plan[a].scale = sc;
                }
            }
            (None, Some(s)) => {
                if s.len() != na {
                    return Err(format!("sizes has {} values, expected {na}", s.len()));
                }
                if let Some(&bad) = s.iter().find(|&&v| v < 0) {
                    return Err(format!("sizes must be ≥ 0, got {bad}"));
                }
                let ratio = |i: usize, a: usize| -> Result<f64, String> {
                    if input[a] == 0 {
                        if s[i] != 0 {
                            return Err(format!("axis {a} has size 0 and cannot be resized to {}", s[i]));
                        }
                        return Ok(1.0);
                    }
                    Ok(s[i] as f64 / input[a] as f64)
                };
                match self.policy {
                    AspectPolicy::Stretch => {
                        for (i, &a) in axes.iter().enumerate() {
                            plan[a].output = s[i] as usize;
                            plan[a].scale = ratio(i, a)?;
                        }
                    }
                    policy => {
                        let mut best: Option<f64> = None;
                        for (i, &a) in axes.iter().enumerate() {
                            let q = ratio(i, a)?;
                            best = Some(match (best, policy) {
                                (None, _) => q,
                                (Some(b), AspectPolicy::NotLarger) => b.min(q),
                                (Some(b), _) => b.max(q),
                            });
                        }
                        if let Some(sc) = best {
                            for &a in &axes {
                                // round_int: nearest, halfway cases up.
                                plan[a].output = (sc * input[a] as f64 + 0.5).floor() as usize;
                                plan[a].scale = sc;
                            }
                        }
                    }
                }
            }
        }
        let out: Vec<usize> = plan.iter().map(|a| a.output).collect();
        allocatable(&out)?;
        Ok(plan)
    }

    fn params_from(
        &self,
        get: impl Fn(usize) -> Result<Option<Tensor>, String>,
        with_roi: bool,
    ) -> Result<Params, String> {
        let (roi, roi_single) = match self.roi_input {
            Some(i) if with_roi && self.coord == CoordMode::TfCropAndResize => {
                let roi = get(i)?.ok_or("tf_crop_and_resize needs the roi input")?;
                (Some(roi.to_f64_vec()?), roi.dtype() != DType::F64)
            }
            _ => (None, false),
        };
        let scales = match (&self.scales_attr, self.scales_input) {
            (Some(s), _) => Some(s.iter().map(|&x| x as f64).collect()),
            (None, Some(i)) => get(i)?
                .map(|t| {
                    if !t.dtype().is_float() {
                        return Err(format!("scales must be a float tensor, got {}", t.dtype()));
                    }
                    t.to_f64_vec()
                })
                .transpose()?,
            (None, None) => None,
        };
        let sizes = match self.sizes_input {
            Some(i) => get(i)?.map(|t| super::ints_of(&t)).transpose()?,
            None => None,
        };
        Ok(Params { roi, roi_single, scales, sizes })
    }

    /// Source coordinate of output position `y` along an axis.
    fn source(&self, y: f64, a: &AxisPlan) -> f64 {
        let (scale, len_in, out_w) = (a.scale, a.input as f64, a.scale * a.input as f64);
        match self.coord {
            CoordMode::HalfPixel => (y + 0.5) / scale - 0.5,
            CoordMode::HalfPixelSymmetric => {
                let adjustment = a.output as f64 / out_w;
                let offset = len_in / 2.0 * (1.0 - adjustment);
                offset + (y + 0.5) / scale - 0.5
            }
            CoordMode::PytorchHalfPixel => {
                if a.output > 1 {
                    (y + 0.5) / scale - 0.5
                } else {
                    0.0
                }
            }
            // The reference divides by the fractional target length (scale × input length).
            CoordMode::AlignCorners => {
                if a.output <= 1 || out_w == 1.0 {
                    0.0
                } else {
                    y * (len_in - 1.0) / (out_w - 1.0)
                }
            }
            CoordMode::Asymmetric => y / scale,
            CoordMode::TfHalfPixelForNn => (y + 0.5) / scale,
            CoordMode::TfCropAndResize => {
                // The crop's start and extent round to the roi's precision, as in the ONNX
                // reference and ONNX Runtime (this decides nearest-mode ties).
                let q = |v: f64| if a.roi_single { v as f32 as f64 } else { v };
                let (s, e) = a.roi;
                let (start, span) = (q(s * (len_in - 1.0)), q(e - s));
                if a.output <= 1 || out_w == 1.0 {
                    q(q(span * (len_in - 1.0)) / 2.0) + start
                } else {
                    start + y * span * (len_in - 1.0) / (out_w - 1.0)
                }
            }
        }
    }

    /// Weights of the taps at offsets `1 - n/2 .. n/2` from `base`, where the source coordinate
    /// is `base + ratio` with `ratio` in (0, 1].
    fn coeffs(&self, ratio: f64, scale: f64) -> Vec<f64> {
        let a = self.cubic_a;
        match self.mode {
            Interp::Nearest => {
                let second = if ratio == 1.0 {
                    true
                } else {
                    match self.nearest {
                        NearestMode::RoundPreferFloor => ratio > 0.5,
                        NearestMode::RoundPreferCeil => ratio >= 0.5,
                        NearestMode::Floor => false,
                        NearestMode::Ceil => true,
                        NearestMode::Simple => scale < 1.0,
                    }
                };
                if second {
                    vec![0.0, 1.0]
                } else {
                    vec![1.0, 0.0]
                }
            }
            Interp::Linear if !self.antialias || scale >= 1.0 => vec![1.0 - ratio, ratio],
            Interp::Linear => {
                let s = scale;
                let start = (-1.0 / s).floor() as i64 + 1;
                let n = 2 - 2 * start;
                let c: Vec<f64> =
                    (start..start + n).map(|i| (1.0 - ((i as f64 - ratio) * s).abs()).clamp(0.0, 1.0)).collect();
                normalized(c)
            }
            Interp::Cubic if !self.antialias => {
                let r = ratio;
                vec![
                    ((a * (r + 1.0) - 5.0 * a) * (r + 1.0) + 8.0 * a) * (r + 1.0) - 4.0 * a,
                    ((a + 2.0) * r - (a + 3.0)) * r * r + 1.0,
                    ((a + 2.0) * (1.0 - r) - (a + 3.0)) * (1.0 - r) * (1.0 - r) + 1.0,
                    ((a * (2.0 - r) - 5.0 * a) * (2.0 - r) + 8.0 * a) * (2.0 - r) - 4.0 * a,
                ]
            }
            Interp::Cubic => {
                let s = scale.min(1.0);
                let k = |x: f64| {
                    let x = x.abs();
                    if x <= 1.0 {
                        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
                    } else if x < 2.0 {
                        ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
                    } else {
                        0.0
                    }
                };
                let start = (-2.0 / s).floor() as i64 + 1;
                let end = 2 - start;
                normalized((start..end).map(|i| k(s * (i as f64 - ratio))).collect())
            }
        }
    }

    /// The taps of every output position along one axis.
    fn taps(&self, a: &AxisPlan) -> Result<Vec<Taps>, String> {
        if a.output > 0 && a.input == 0 {
            return Err("cannot resize an empty axis to a non-empty one".into());
        }
        let last = a.input as i64 - 1;
        let mut out = Vec::with_capacity(a.output);
        for y in 0..a.output {
            let x = self.source(y as f64, a);
            if !x.is_finite() {
                return Err(format!("source coordinate {x} is not finite"));
            }
            if self.coord == CoordMode::TfCropAndResize && (x < 0.0 || x > last as f64) {
                out.push(None);
                continue;
            }
            let fl = x.floor();
            let (base, ratio) = if x == fl { (fl as i64 - 1, 1.0) } else { (fl as i64, x - fl) };
            let mut c = self.coeffs(ratio, a.scale);
            let n = c.len() as i64;
            let first = base + 1 - n / 2;
            if self.exclude_outside && self.mode != Interp::Nearest {
                for (j, w) in c.iter_mut().enumerate() {
                    let idx = first + j as i64;
                    if idx < 0 || idx > last {
                        *w = 0.0;
                    }
                }
                let sum: f64 = c.iter().sum();
                if sum != 0.0 {
                    c.iter_mut().for_each(|w| *w /= sum);
                }
            }
            let taps: Vec<(usize, f64)> = c
                .iter()
                .enumerate()
                .filter(|(_, &w)| w != 0.0 || self.mode != Interp::Nearest)
                .map(|(j, &w)| ((first + j as i64).clamp(0, last) as usize, w))
                .collect();
            out.push(Some(taps));
        }
        Ok(out)
    }

    fn is_identity(a: &AxisPlan) -> bool {
        (a.scale - 1.0).abs() <= 1e-9 && a.output == a.input && a.roi.0.abs() <= 1e-9 && (a.roi.1 - 1.0).abs() <= 1e-9
    }

    fn run(&self, x: &Tensor, p: &Params) -> Result<Tensor, String> {
        let shape = x.shape().to_vec();
        let plan = self.plan(&shape, p)?;
        let out_shape: Vec<usize> = plan.iter().map(|a| a.output).collect();
        let order = self.axes(shape.len())?;
        let active: Vec<usize> = order.into_iter().filter(|&a| !Self::is_identity(&plan[a])).collect();
        if self.mode == Interp::Nearest {
            return self.run_nearest(x, &plan, &active, &out_shape);
        }
        if !(x.dtype().is_float() || x.dtype().is_int()) {
            return Err(format!("{:?} interpolation needs a numeric input, got {}", self.mode, x.dtype()));
        }
        let mut data = x.to_f64_vec()?;
        let mut cur = shape.clone();
        for &axis in &active {
            let taps = self.taps(&plan[axis])?;
            data = resample_axis(&data, &cur, axis, &taps, self.extrapolation);
            cur[axis] = plan[axis].output;
        }
        to_dtype(x.dtype(), &out_shape, data)
    }

    fn run_nearest(
        &self,
        x: &Tensor,
        plan: &[AxisPlan],
        active: &[usize],
        out_shape: &[usize],
    ) -> Result<Tensor, String> {
        let r = plan.len();
        // Per axis: the source index of every output position (None = extrapolated).
        let mut maps: Vec<Vec<Option<usize>>> = plan.iter().map(|a| (0..a.output).map(Some).collect()).collect();
        for &axis in active {
            maps[axis] = self
                .taps(&plan[axis])?
                .into_iter()
                .map(|t| t.and_then(|v| v.iter().find(|(_, w)| *w != 0.0).map(|(i, _)| *i)))
                .collect();
        }
        let in_strides = crate::tensor::shape::strides(x.shape());
        let n: usize = out_shape.iter().product();
        let ost = crate::tensor::shape::strides(out_shape);
        let mut src: Vec<Option<usize>> = Vec::with_capacity(n);
        for o in 0..n {
            let mut off = Some(0usize);
            for d in 0..r {
                let od = (o / ost[d]) % out_shape[d];
                off = match (off, maps[d][od]) {
                    (Some(acc), Some(i)) => Some(acc + i * in_strides[d]),
                    _ => None,
                };
            }
            src.push(off);
        }
        if src.iter().all(|s| s.is_some()) {
            let idx: Vec<usize> = src.into_iter().flatten().collect();
            return x.take(&idx, out_shape);
        }
        let v = x.to_f64_vec()?;
        let data: Vec<f64> = src.iter().map(|s| s.map_or(self.extrapolation, |i| v[i])).collect();
        to_dtype(x.dtype(), out_shape, data)
    }
}

/// One axis of a Resize as a device lowering sees it (see [`Resize::lower_axes`]).
#[derive(Clone, Debug)]
pub struct LoweredAxis {
    pub input: usize,
    pub output: usize,
    pub scale: f64,
    /// `scale × input`: the fractional target length.
    pub out_w: f64,
    /// tf_crop_and_resize with a run-time roi: this axis's position in the roi (its crop is
    /// `roi[pos]`, `roi[pos + n_axes]`), and its taps are computed on the device.
    pub roi_pos: Option<usize>,
    /// The (source index, weight) taps of every output position (`None` = extrapolated),
    /// when known on the host; identity axes have one tap of weight 1.
    pub taps: Option<Vec<Option<Vec<(usize, f64)>>>>,
}

impl Resize {
    /// The per-axis resampling of an input of `shape`, for a device lowering: `get(i)` gives
    /// the plan-time value of input `i` (`None` when absent or empty). With `roi_at_runtime`
    /// (tf_crop_and_resize whose roi is not known), the resized axes carry `roi_pos` and no
    /// taps. Returns the axes and the number of resized axes (the roi holds twice as many).
    pub fn lower_axes(
        &self,
        shape: &[usize],
        get: impl Fn(usize) -> Result<Option<Tensor>, String>,
        roi_at_runtime: bool,
    ) -> Result<(Vec<LoweredAxis>, usize), String> {
        let p = self.params_from(get, !roi_at_runtime)?;
        let plan = self.plan(shape, &p)?;
        let resized = self.axes(shape.len())?;
        let mut out = Vec::with_capacity(plan.len());
        for (a, ap) in plan.iter().enumerate() {
            let runtime_pos = if roi_at_runtime && self.coord == CoordMode::TfCropAndResize {
                resized.iter().position(|&r| r == a)
            } else {
                None
            };
            let taps = if runtime_pos.is_some() {
                None
            } else if Self::is_identity(ap) {
                Some((0..ap.output).map(|i| Some(vec![(i, 1.0)])).collect())
            } else {
                Some(self.taps(ap)?)
            };
            out.push(LoweredAxis {
                input: ap.input,
                output: ap.output,
                scale: ap.scale,
                out_w: ap.scale * ap.input as f64,
                roi_pos: runtime_pos,
                taps,
            });
        }
        Ok((out, resized.len()))
    }
}

/// Checks that a tensor of `shape` (and f64 scratch of its size) can be addressed.
pub(crate) fn allocatable(shape: &[usize]) -> Result<usize, String> {
    match crate::tensor::shape::checked_numel(shape) {
        Some(n) if n <= isize::MAX as usize / 64 => Ok(n),
        _ => Err(format!("the output shape {shape:?} is too large")),
    }
}

fn normalized(c: Vec<f64>) -> Vec<f64> {
    let sum: f64 = c.iter().sum();
    if sum == 0.0 {
        return c;
    }
    c.into_iter().map(|w| w / sum).collect()
}

/// Resamples `axis` of a row-major tensor of `shape` with per-output-position taps.
fn resample_axis(data: &[f64], shape: &[usize], axis: usize, taps: &[Taps], extrapolation: f64) -> Vec<f64> {
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    let (len_in, len_out) = (shape[axis], taps.len());
    let mut out = vec![0.0; outer * len_out * inner];
    for o in 0..outer {
        for (j, t) in taps.iter().enumerate() {
            let dst = &mut out[(o * len_out + j) * inner..(o * len_out + j + 1) * inner];
            match t {
                None => dst.fill(extrapolation),
                Some(t) => {
                    for &(idx, w) in t {
                        let srcrow = &data[(o * len_in + idx) * inner..(o * len_in + idx + 1) * inner];
                        for (d, s) in dst.iter_mut().zip(srcrow) {
                            *d += w * s;
                        }
                    }
                }
            }
        }
    }
    out
}

/// The value range of an integer dtype.
fn int_range(d: DType) -> (f64, f64) {
    match d {
        DType::U8 => (0.0, u8::MAX as f64),
        DType::I8 => (i8::MIN as f64, i8::MAX as f64),
        DType::U16 => (0.0, u16::MAX as f64),
        DType::I16 => (i16::MIN as f64, i16::MAX as f64),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        DType::U32 => (0.0, u32::MAX as f64),
        DType::U4 => (0.0, 15.0),
        DType::I4 => (-8.0, 7.0),
        DType::U2 => (0.0, 3.0),
        DType::I2 => (-2.0, 1.0),
        DType::U64 => (0.0, u64::MAX as f64),
        _ => (i64::MIN as f64, i64::MAX as f64),
    }
}

/// Interpolated values as `dtype`: integers round half to even and saturate.
pub(crate) fn to_dtype(dtype: DType, shape: &[usize], mut v: Vec<f64>) -> Result<Tensor, String> {
    if dtype.is_int() {
        let (lo, hi) = int_range(dtype);
        v.iter_mut().for_each(|x| *x = x.round_ties_even().clamp(lo, hi));
    }
    Tensor::from_f64(dtype, shape, &v)
}

impl OpSpec for Resize {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let get = |i: usize| -> Result<Option<Tensor>, String> {
            match cx.opt(i) {
                None => Ok(None),
                Some(inp) if inp.dims.contains(&Dim::Known(0)) => Ok(None),
                Some(_) => Ok(nonempty(Some(cx.need_value(i)?)).cloned()),
            }
        };
        let p = self.params_from(get, false)?;
        if let Some(s) = x.shape() {
            let plan = self.plan(&s, &p)?;
            return Ok(vec![vt(x.dtype, plan.iter().map(|a| Dim::Known(a.output)).collect())]);
        }
        // Symbolic input dims: keep the dims that are not resized or sized directly.
        let r = x.rank();
        let axes = self.axes(r)?;
        let mut dims = x.dims.clone();
        for (i, &a) in axes.iter().enumerate() {
            dims[a] = match (&p.scales, &p.sizes) {
                (Some(s), _) if s.get(i) == Some(&1.0) => x.dims[a].clone(),
                (_, Some(s)) if self.policy == AspectPolicy::Stretch => match s.get(i) {
                    Some(&v) if v >= 0 => Dim::Known(v as usize),
                    _ => return Err(format!("sizes must have {} values ≥ 0", axes.len())),
                },
                _ => Dim::Unknown,
            };
        }
        Ok(vec![vt(x.dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let p = self.params_from(|i| Ok(nonempty(inputs.get(i).copied().flatten()).cloned()), true)?;
        Ok(vec![self.run(x, &p)?])
    }

    fn shape_inputs(&self) -> &'static [usize] {
        match (self.scales_input, self.sizes_input) {
            (Some(1), None) => &[1],
            (Some(2), Some(3)) => &[2, 3],
            _ => &[],
        }
    }
}

fn parse_mode(s: &str) -> Result<Interp, String> {
    Ok(match s {
        "nearest" => Interp::Nearest,
        "linear" | "bilinear" | "trilinear" => Interp::Linear,
        "cubic" | "bicubic" => Interp::Cubic,
        _ => return Err(format!("unknown mode '{s}'")),
    })
}

pub fn import_resize(c: &NodeCtx) -> Result<Op, String> {
    let a = c.attrs;
    let mode = parse_mode(&a.string("mode", "nearest")?)?;
    if c.opset < 11 {
        if mode == Interp::Cubic {
            return Err("cubic mode needs Resize-11 or later".into());
        }
        return Ok(Op::Resize(Resize {
            mode,
            coord: CoordMode::Asymmetric,
            nearest: NearestMode::Simple,
            cubic_a: -0.75,
            exclude_outside: false,
            extrapolation: 0.0,
            antialias: false,
            axes: None,
            policy: AspectPolicy::Stretch,
            roi_input: None,
            scales_input: Some(1),
            sizes_input: None,
            scales_attr: None,
        }));
    }
    let coord = match a.string("coordinate_transformation_mode", "half_pixel")?.as_str() {
        "half_pixel" => CoordMode::HalfPixel,
        "half_pixel_symmetric" if c.opset >= 19 => CoordMode::HalfPixelSymmetric,
        "pytorch_half_pixel" => CoordMode::PytorchHalfPixel,
        "align_corners" => CoordMode::AlignCorners,
        "asymmetric" => CoordMode::Asymmetric,
        "tf_half_pixel_for_nn" if c.opset < 13 => CoordMode::TfHalfPixelForNn,
        "tf_crop_and_resize" => CoordMode::TfCropAndResize,
        s => return Err(format!("coordinate_transformation_mode '{s}' is not valid at opset {}", c.opset)),
    };
    let nearest = match a.string("nearest_mode", "round_prefer_floor")?.as_str() {
        "round_prefer_floor" => NearestMode::RoundPreferFloor,
        "round_prefer_ceil" => NearestMode::RoundPreferCeil,
        "floor" => NearestMode::Floor,
        "ceil" => NearestMode::Ceil,
        s => return Err(format!("unknown nearest_mode '{s}'")),
    };
    let policy = match a.string("keep_aspect_ratio_policy", "stretch")?.as_str() {
        "stretch" => AspectPolicy::Stretch,
        "not_larger" => AspectPolicy::NotLarger,
        "not_smaller" => AspectPolicy::NotSmaller,
        s => return Err(format!("unknown keep_aspect_ratio_policy '{s}'")),
    };
    let axes = if c.opset >= 18 { a.opt_ints("axes")? } else { None };
    Ok(Op::Resize(Resize {
        mode,
        coord,
        nearest,
        cubic_a: a.float("cubic_coeff_a", -0.75)? as f64,
        exclude_outside: a.int("exclude_outside", 0)? != 0,
        extrapolation: a.float("extrapolation_value", 0.0)? as f64,
        antialias: c.opset >= 18 && a.int("antialias", 0)? != 0,
        axes,
        policy,
        roi_input: Some(1),
        scales_input: Some(2),
        sizes_input: Some(3),
        scales_attr: None,
    }))
}

pub fn import_upsample(c: &NodeCtx) -> Result<Op, String> {
    let a = c.attrs;
    let mode = parse_mode(&a.string("mode", "nearest")?)?;
    if mode == Interp::Cubic {
        return Err("Upsample supports only nearest and linear modes".into());
    }
    let (scales_attr, scales_input) = if c.opset >= 9 {
        (None, Some(1))
    } else if c.opset >= 7 {
        (Some(a.floats("scales", vec![])?), None)
    } else {
        // Upsample-1: 4-D input, height_scale and width_scale.
        let h = a.opt_float("height_scale")?.ok_or("Upsample-1 needs height_scale")?;
        let w = a.opt_float("width_scale")?.ok_or("Upsample-1 needs width_scale")?;
        (Some(vec![1.0, 1.0, h, w]), None)
    };
    Ok(Op::Resize(Resize {
        mode,
        coord: CoordMode::Asymmetric,
        nearest: NearestMode::Simple,
        cubic_a: -0.75,
        exclude_outside: false,
        extrapolation: 0.0,
        antialias: false,
        axes: None,
        policy: AspectPolicy::Stretch,
        roi_input: None,
        scales_input,
        sizes_input: None,
        scales_attr,
    }))
}

/// Output dims for a concrete shape (tests).
#[cfg(test)]
fn concrete_out(r: &Resize, shape: &[usize], scales: Option<Vec<f64>>, sizes: Option<Vec<i64>>) -> Vec<usize> {
    let p = Params { roi: None, roi_single: false, scales, sizes };
    r.plan(shape, &p).unwrap().iter().map(|a| a.output).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(mode: Interp, coord: CoordMode) -> Resize {
        Resize {
            mode,
            coord,
            nearest: NearestMode::RoundPreferFloor,
            cubic_a: -0.75,
            exclude_outside: false,
            extrapolation: 0.0,
            antialias: false,
            axes: None,
            policy: AspectPolicy::Stretch,
            roi_input: Some(1),
            scales_input: Some(2),
            sizes_input: Some(3),
            scales_attr: None,
        }
    }

    #[test]
    fn output_sizes() {
        let r = base(Interp::Nearest, CoordMode::HalfPixel);
        assert_eq!(concrete_out(&r, &[1, 1, 4, 4], Some(vec![1.0, 1.0, 0.6, 0.6]), None), vec![1, 1, 2, 2]);
        let mut r = base(Interp::Nearest, CoordMode::HalfPixel);
        r.axes = Some(vec![2, 3]);
        r.policy = AspectPolicy::NotLarger;
        assert_eq!(concrete_out(&r, &[1, 1, 2, 2], None, Some(vec![7, 8])), vec![1, 1, 7, 7]);
        r.policy = AspectPolicy::NotSmaller;
        assert_eq!(concrete_out(&r, &[1, 1, 2, 2], None, Some(vec![7, 8])), vec![1, 1, 8, 8]);
    }

    #[test]
    fn linear_half_pixel_upsample() {
        let r = base(Interp::Linear, CoordMode::HalfPixel);
        let x = Tensor::from_slice(&[2], &[1.0f32, 3.0]).unwrap();
        let p = Params { roi: None, roi_single: false, scales: Some(vec![2.0]), sizes: None };
        let y = r.run(&x, &p).unwrap().to_f64_vec().unwrap();
        assert_eq!(y, vec![1.0, 1.5, 2.5, 3.0]);
    }

    #[test]
    fn nearest_keeps_int64_exact() {
        let r = base(Interp::Nearest, CoordMode::Asymmetric);
        let big = (1i64 << 60) + 1;
        let x = Tensor::from_slice(&[2], &[big, -big]).unwrap();
        let p = Params { roi: None, roi_single: false, scales: Some(vec![2.0]), sizes: None };
        let y = r.run(&x, &p).unwrap().to_i64_vec().unwrap();
        assert_eq!(y, vec![big, big, -big, -big]);
    }

    #[test]
    fn simple_nearest_floors_up_and_ceils_down() {
        let mut r = base(Interp::Nearest, CoordMode::Asymmetric);
        r.nearest = NearestMode::Simple;
        let x = Tensor::from_slice(&[4], &[0.0f32, 1.0, 2.0, 3.0]).unwrap();
        let up = Params { roi: None, roi_single: false, scales: Some(vec![1.5]), sizes: None };
        // x = y / 1.5: 0, 0.67, 1.33, 2, 2.67, 3.33 → floor
        assert_eq!(r.run(&x, &up).unwrap().to_f64_vec().unwrap(), vec![0.0, 0.0, 1.0, 2.0, 2.0, 3.0]);
        let down = Params { roi: None, roi_single: false, scales: Some(vec![0.6]), sizes: None };
        // out 2; x = 0, 1.67 → ceil → 0, 2
        assert_eq!(r.run(&x, &down).unwrap().to_f64_vec().unwrap(), vec![0.0, 2.0]);
    }

    #[test]
    fn errors_instead_of_panics() {
        let r = base(Interp::Linear, CoordMode::TfCropAndResize);
        let x = Tensor::from_slice(&[2], &[1.0f32, 3.0]).unwrap();
        let scales = Tensor::from_slice(&[1], &[2.0f32]).unwrap();
        assert!(r.eval(&[Some(&x), None, Some(&scales)], 1).is_err());
        let p = Params { roi: Some(vec![0.0]), roi_single: false, scales: Some(vec![2.0]), sizes: None };
        assert!(r.run(&x, &p).is_err());
        let r = base(Interp::Linear, CoordMode::HalfPixel);
        let p = Params { roi: None, roi_single: false, scales: Some(vec![-2.0]), sizes: None };
        assert!(r.run(&x, &p).is_err());
        let p = Params { roi: None, roi_single: false, scales: Some(vec![2.0, 1.0]), sizes: None };
        assert!(r.run(&x, &p).is_err());
    }
}
