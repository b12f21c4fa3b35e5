//! Signal processing (ai.onnx): DFT (opset 17: `axis` attribute; opset 20: `axis` input;
//! forward, inverse, one-sided forward = RFFT, one-sided inverse = IRFFT, `dft_length`
//! padding/truncation), STFT, the Hann/Hamming/Blackman windows and MelWeightMatrix.
//!
//! Complex values are a trailing dimension of 2 (real, imaginary); real signals have a trailing
//! dimension of 1. Transforms are direct O(n²) sums in f64 with twiddle angles reduced modulo
//! n, accurate to a few ulps of f64 — ample for a reference.

use super::{ints_of, need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::{DType, Dim, Tensor};
use std::f64::consts::PI;

/// The single integer in a scalar (or one-element) tensor.
fn scalar_int(t: &Tensor, what: &str) -> Result<i64, String> {
    let v = ints_of(t)?;
    match v.as_slice() {
        [x] => Ok(*x),
        _ => Err(format!("{what} must be a scalar, got {} elements", v.len())),
    }
}

fn scalar_f64(t: &Tensor, what: &str) -> Result<f64, String> {
    let v = t.to_f64_vec()?;
    match v.as_slice() {
        [x] => Ok(*x),
        _ => Err(format!("{what} must be a scalar, got {} elements", v.len())),
    }
}

fn positive(v: i64, what: &str) -> Result<usize, String> {
    usize::try_from(v).ok().filter(|&n| n >= 1).ok_or_else(|| format!("{what} must be ≥ 1, got {v}"))
}

/// `e^{sign·2πi·k/n}` with `k` reduced modulo `n` first, so large products stay accurate.
fn twiddle(k: usize, n: usize, sign: f64) -> (f64, f64) {
    let a = sign * 2.0 * PI * ((k % n) as f64) / n as f64;
    (a.cos(), a.sin())
}

/// The DFT of `x` (complex, `x.len()` values zero-padded or truncated to `n`), bins `0..bins`.
/// `sign` is -1 forward, +1 inverse (unnormalized).
fn dft(x: &[(f64, f64)], n: usize, bins: usize, sign: f64) -> Vec<(f64, f64)> {
    let m = x.len().min(n);
    (0..bins)
        .map(|k| {
            let (mut re, mut im) = (0.0, 0.0);
            for (t, &(xr, xi)) in x[..m].iter().enumerate() {
                let (c, s) = twiddle(k * t, n, sign);
                re += xr * c - xi * s;
                im += xr * s + xi * c;
            }
            (re, im)
        })
        .collect()
}

/// The real inverse of a one-sided spectrum (numpy's `irfft`): bins `1..` stand for
/// themselves and their conjugate mirrors; the imaginary parts of bin 0 (and of bin n/2 when
/// n is even) are ignored. Bins past the input are zero.
fn irfft(x: &[(f64, f64)], n: usize) -> Vec<f64> {
    let get = |k: usize| x.get(k).copied().unwrap_or((0.0, 0.0));
    (0..n)
        .map(|t| {
            let mut s = get(0).0;
            for k in 1..n.div_ceil(2) {
                let (xr, xi) = get(k);
                let (c, si) = twiddle(k * t, n, 1.0);
                s += 2.0 * (xr * c - xi * si);
            }
            if n % 2 == 0 {
                let (c, _) = twiddle(n / 2 * t, n, 1.0);
                s += get(n / 2).0 * c;
            }
            s / n as f64
        })
        .collect()
}

#[derive(Clone, Debug)]
pub struct Dft {
    /// The axis attribute (opset 17); `None` reads input 2 (opset 20), default -2.
    pub axis: Option<i64>,
    pub inverse: bool,
    pub onesided: bool,
}

/// Resolved DFT geometry.
pub struct DftPlan {
    pub axis: usize,
    pub n: usize,
    pub out_len: usize,
    pub out_complex: bool,
}

impl Dft {
    pub fn plan(&self, dims: &[Dim], dft_length: Option<&Tensor>, axis: Option<&Tensor>) -> Result<DftPlan, String> {
        let r = dims.len();
        if r < 2 {
            return Err(format!("DFT input needs rank ≥ 2 (signal dims and a last dim of 1 or 2), got rank {r}"));
        }
        let a = match (self.axis, axis) {
            (Some(a), _) => a,
            (None, Some(t)) => scalar_int(t, "axis")?,
            (None, None) => -2,
        };
        let ax = if a < 0 { a + r as i64 } else { a };
        if ax < 0 || ax >= r as i64 - 1 {
            return Err(format!("DFT axis {a} is out of range for rank {r} (the last dim holds the complex parts)"));
        }
        let ax = ax as usize;
        let len = dims[ax].known();
        let n = match dft_length {
            Some(t) => positive(scalar_int(t, "dft_length")?, "dft_length")?,
            None => {
                let len = len.ok_or("the DFT length is unknown")?;
                if self.inverse && self.onesided {
                    if len < 2 {
                        return Err("IRFFT input needs at least 2 bins along the axis".into());
                    }
                    2 * (len - 1)
                } else {
                    positive(len as i64, "the DFT axis length")?
                }
            }
        };
        let (out_len, out_complex) = match (self.inverse, self.onesided) {
            (false, true) => (n / 2 + 1, true),
            (true, true) => (n, false),
            _ => (n, true),
        };
        Ok(DftPlan { axis: ax, n, out_len, out_complex })
    }
}

/// Complex values of `x` (last dim 1 or 2) as (re, im) pairs in row-major order.
fn complex_values(x: &Tensor) -> Result<Vec<(f64, f64)>, String> {
    let v = x.to_f64_vec()?;
    match x.shape().last() {
        Some(1) => Ok(v.into_iter().map(|r| (r, 0.0)).collect()),
        Some(2) => Ok(v.chunks_exact(2).map(|c| (c[0], c[1])).collect()),
        _ => Err(format!("the last dim must be 1 (real) or 2 (complex), got shape {:?}", x.shape())),
    }
}

impl OpSpec for Dft {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if !x.dtype.is_float() {
            return Err(format!("DFT needs a float input, got {}", x.dtype));
        }
        if let Some(l) = x.dims.last().and_then(|d| d.known()) {
            if l != 1 && l != 2 {
                return Err(format!("the last dim must be 1 (real) or 2 (complex), got {l}"));
            }
        }
        let len = if cx.opt(1).is_some() { Some(cx.need_value(1)?) } else { None };
        let axis = if self.axis.is_none() && cx.opt(2).is_some() { Some(cx.need_value(2)?) } else { None };
        let p = self.plan(&x.dims, len, axis)?;
        let mut dims = x.dims.clone();
        dims[p.axis] = Dim::Known(p.out_len);
        *dims.last_mut().unwrap_or(&mut Dim::Unknown) = Dim::Known(if p.out_complex { 2 } else { 1 });
        Ok(vec![vt(x.dtype, dims)])
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[1, 2]
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let dims: Vec<Dim> = x.shape().iter().map(|&d| Dim::Known(d)).collect();
        let axis_in = if self.axis.is_none() { inputs.get(2).copied().flatten() } else { None };
        let p = self.plan(&dims, inputs.get(1).copied().flatten(), axis_in)?;
        let xs = x.shape();
        if self.inverse && self.onesided && xs[xs.len() - 1] != 2 {
            return Err("IRFFT (inverse, onesided) needs a complex input".into());
        }
        let vals = complex_values(x)?;
        // Complex element shape: the input's without its last dim.
        let cshape = &xs[..xs.len() - 1];
        let len = cshape[p.axis];
        let inner: usize = cshape[p.axis + 1..].iter().product();
        let outer: usize = cshape[..p.axis].iter().product();
        let width = if p.out_complex { 2 } else { 1 };
        let mut out = vec![0.0; outer * p.out_len * inner * width];
        let mut line = vec![(0.0, 0.0); len];
        for o in 0..outer {
            for i in 0..inner {
                for (t, v) in line.iter_mut().enumerate() {
                    *v = vals[(o * len + t) * inner + i];
                }
                let put = |out: &mut Vec<f64>, k: usize, re: f64, im: f64| {
                    let at = ((o * p.out_len + k) * inner + i) * width;
                    out[at] = re;
                    if width == 2 {
                        out[at + 1] = im;
                    }
                };
                match (self.inverse, self.onesided) {
                    (true, true) => {
                        for (k, v) in irfft(&line, p.n).into_iter().enumerate() {
                            put(&mut out, k, v, 0.0);
                        }
                    }
                    (true, false) => {
                        let scale = 1.0 / p.n as f64;
                        for (k, (re, im)) in dft(&line, p.n, p.out_len, 1.0).into_iter().enumerate() {
                            put(&mut out, k, re * scale, im * scale);
                        }
                    }
                    (false, _) => {
                        for (k, (re, im)) in dft(&line, p.n, p.out_len, -1.0).into_iter().enumerate() {
                            put(&mut out, k, re, im);
                        }
                    }
                }
            }
        }
        let mut shape = xs.to_vec();
        shape[p.axis] = p.out_len;
        *shape.last_mut().unwrap_or(&mut 0) = width;
        Ok(vec![Tensor::from_f64(x.dtype(), &shape, &out)?])
    }
}

/// STFT: windowed DFTs of frames of a `[batch, length, 1 or 2]` signal.
#[derive(Clone, Debug)]
pub struct Stft {
    pub onesided: bool,
}

impl Stft {
    /// (frame_step, frame_length, frames, bins) for a signal of `len` samples.
    pub fn plan(
        &self,
        len: usize,
        step: &Tensor,
        window_len: Option<usize>,
        frame_length: Option<&Tensor>,
    ) -> Result<(usize, usize, usize, usize), String> {
        let step = positive(scalar_int(step, "frame_step")?, "frame_step")?;
        let fl = match (frame_length, window_len) {
            (Some(t), w) => {
                let fl = positive(scalar_int(t, "frame_length")?, "frame_length")?;
                if let Some(w) = w {
                    if w != fl {
                        return Err(format!("the window has {w} elements but frame_length is {fl}"));
                    }
                }
                fl
            }
            (None, Some(w)) => positive(w as i64, "the window length")?,
            (None, None) => positive(len as i64, "the signal length")?,
        };
        if fl > len {
            return Err(format!("frame length {fl} exceeds the signal length {len}"));
        }
        let frames = (len - fl) / step + 1;
        let bins = if self.onesided { fl / 2 + 1 } else { fl };
        Ok((step, fl, frames, bins))
    }
}

impl OpSpec for Stft {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if !x.dtype.is_float() || x.rank() != 3 {
            return Err(format!("STFT needs a rank-3 float signal, got {} of rank {}", x.dtype, x.rank()));
        }
        let step = cx.need_value(1)?;
        let wlen = match cx.opt(2) {
            Some(w) if w.rank() != 1 => return Err("the window must be 1-D".into()),
            Some(w) => Some(w.dims[0].known().ok_or("the window length is unknown")?),
            None => None,
        };
        let fl = if cx.opt(3).is_some() { Some(cx.need_value(3)?) } else { None };
        let len = x.dims[1].known().ok_or("the signal length is unknown")?;
        let (_, _, frames, bins) = self.plan(len, step, wlen, fl)?;
        Ok(vec![vt(x.dtype, vec![x.dims[0].clone(), Dim::Known(frames), Dim::Known(bins), Dim::Known(2)])])
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[1, 3]
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        if x.rank() != 3 {
            return Err(format!("STFT needs a rank-3 signal, got shape {:?}", x.shape()));
        }
        let window = inputs.get(2).copied().flatten();
        if window.is_some_and(|w| w.rank() != 1) {
            return Err("the window must be 1-D".into());
        }
        let (batch, len) = (x.shape()[0], x.shape()[1]);
        let (step, fl, frames, bins) =
            self.plan(len, need(inputs, 1)?, window.map(|w| w.numel()), inputs.get(3).copied().flatten())?;
        let w = match window {
            Some(w) => w.to_f64_vec()?,
            None => vec![1.0; fl],
        };
        let vals = complex_values(x)?;
        let mut out = Vec::with_capacity(batch * frames * bins * 2);
        for b in 0..batch {
            for f in 0..frames {
                let frame: Vec<(f64, f64)> = (0..fl)
                    .map(|t| {
                        let (re, im) = vals[b * len + f * step + t];
                        (re * w[t], im * w[t])
                    })
                    .collect();
                for (re, im) in dft(&frame, fl, bins, -1.0) {
                    out.push(re);
                    out.push(im);
                }
            }
        }
        Ok(vec![Tensor::from_f64(x.dtype(), &[batch, frames, bins, 2], &out)?])
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    Hann,
    Hamming,
    Blackman,
}

/// Hann, Hamming and Blackman windows of a run-time `size`.
#[derive(Clone, Debug)]
pub struct WindowFn {
    pub kind: WindowKind,
    pub periodic: bool,
    pub dtype: DType,
}

impl WindowFn {
    fn values(&self, size: usize) -> Vec<f64> {
        let denom = if self.periodic { size } else { size.saturating_sub(1) };
        if denom == 0 {
            // a symmetric window of one point (0/0 in the formula) is that point's peak
            return vec![1.0; size];
        }
        (0..size)
            .map(|i| {
                let x = 2.0 * PI * i as f64 / denom as f64;
                match self.kind {
                    WindowKind::Hann => 0.5 - 0.5 * x.cos(),
                    WindowKind::Hamming => 25.0 / 46.0 - 21.0 / 46.0 * x.cos(),
                    WindowKind::Blackman => 0.42 - 0.5 * x.cos() + 0.08 * (2.0 * x).cos(),
                }
            })
            .collect()
    }
}

fn size_of(t: &Tensor) -> Result<usize, String> {
    let s = scalar_int(t, "size")?;
    usize::try_from(s).map_err(|_| format!("size must be ≥ 0, got {s}"))
}

impl OpSpec for WindowFn {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let size = size_of(cx.need_value(0)?)?;
        Ok(vec![vt(self.dtype, vec![Dim::Known(size)])])
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[0]
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let size = size_of(need(inputs, 0)?)?;
        Ok(vec![Tensor::from_f64(self.dtype, &[size], &self.values(size))?])
    }
}

/// MelWeightMatrix: `[dft_length/2 + 1, num_mel_bins]` triangular filters evenly spaced on
/// the mel scale `2595·log10(1 + f/700)`, as ONNX's reference lays them out.
#[derive(Clone, Debug)]
pub struct MelWeightMatrix {
    pub dtype: DType,
}

impl MelWeightMatrix {
    /// (num_mel_bins, dft_length, spectrogram bins) from the first two inputs.
    pub fn dims(num_mel: &Tensor, dft_len: &Tensor) -> Result<(usize, usize, usize), String> {
        let mel = positive(scalar_int(num_mel, "num_mel_bins")?, "num_mel_bins")?;
        let n = positive(scalar_int(dft_len, "dft_length")?, "dft_length")?;
        Ok((mel, n, n / 2 + 1))
    }
}

impl OpSpec for MelWeightMatrix {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (mel, _, bins) = Self::dims(cx.need_value(0)?, cx.need_value(1)?)?;
        Ok(vec![vt(self.dtype, vec![Dim::Known(bins), Dim::Known(mel)])])
    }

    fn shape_inputs(&self) -> &'static [usize] {
        &[0, 1]
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (mel, n, bins) = Self::dims(need(inputs, 0)?, need(inputs, 1)?)?;
        let rate = scalar_int(need(inputs, 2)?, "sample_rate")?;
        if rate <= 0 {
            return Err(format!("sample_rate must be positive, got {rate}"));
        }
        let lo = scalar_f64(need(inputs, 3)?, "lower_edge_hertz")?;
        let hi = scalar_f64(need(inputs, 4)?, "upper_edge_hertz")?;
        if !(lo >= 0.0 && hi > lo && hi.is_finite()) {
            return Err(format!("need 0 ≤ lower_edge_hertz < upper_edge_hertz, got {lo} and {hi}"));
        }
        let to_mel = |f: f64| 2595.0 * (f / 700.0).ln_1p() / 10f64.ln();
        let (lo_mel, hi_mel) = (to_mel(lo), to_mel(hi));
        // num_mel_bins + 2 edges; the step divides by their count, as the reference does.
        let step = (hi_mel - lo_mel) / (mel + 2) as f64;
        let edges: Vec<i64> = (0..mel + 2)
            .map(|i| {
                let hz = 700.0 * ((i as f64 * step + lo_mel) / 2595.0 * 10f64.ln()).exp_m1();
                (((n + 1) as f64 * hz) / rate as f64).floor() as i64
            })
            .collect();
        if edges.iter().any(|&e| e < 0) || edges[mel + 1] as usize > bins {
            return Err(format!(
                "the mel bands reach past the {bins} spectrogram bins (upper_edge_hertz above Nyquist?)"
            ));
        }
        let mut out = vec![0.0; bins * mel];
        for i in 0..mel {
            let (l, c, r) = (edges[i] as usize, edges[i + 1] as usize, edges[i + 2] as usize);
            if c >= bins {
                return Err(format!("mel band {i} is centred past the last spectrogram bin"));
            }
            if c == l {
                out[c * mel + i] = 1.0;
            } else {
                for j in l..=c {
                    out[j * mel + i] = (j - l) as f64 / (c - l) as f64;
                }
            }
            if r > c {
                for j in c..r {
                    out[j * mel + i] = (r - j) as f64 / (r - c) as f64;
                }
            }
        }
        Ok(vec![Tensor::from_f64(self.dtype, &[bins, mel], &out)?])
    }
}

// ---- importers -------------------------------------------------------------------------

fn flag(c: &NodeCtx, name: &str, default: i64) -> Result<bool, String> {
    match c.attrs.int(name, default)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(format!("{name} must be 0 or 1, got {v}")),
    }
}

fn out_dtype(c: &NodeCtx) -> Result<DType, String> {
    let t = c.attrs.int("output_datatype", 1)?;
    let d = i32::try_from(t).ok().and_then(DType::from_onnx).ok_or_else(|| format!("unknown output_datatype {t}"))?;
    if !(d.is_int() || matches!(d, DType::F32 | DType::F64 | DType::F16 | DType::BF16)) || d.bits() < 8 {
        return Err(format!("output_datatype {d} is not supported"));
    }
    Ok(d)
}

pub fn import_dft(c: &NodeCtx) -> Result<Op, String> {
    let axis = if c.opset < 20 { Some(c.attrs.int("axis", 1)?) } else { None };
    Ok(Op::Dft(Dft { axis, inverse: flag(c, "inverse", 0)?, onesided: flag(c, "onesided", 0)? }))
}

pub fn import_stft(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Stft(Stft { onesided: flag(c, "onesided", 1)? }))
}

fn window(c: &NodeCtx, kind: WindowKind) -> Result<Op, String> {
    Ok(Op::WindowFn(WindowFn { kind, periodic: flag(c, "periodic", 1)?, dtype: out_dtype(c)? }))
}

pub fn import_hann_window(c: &NodeCtx) -> Result<Op, String> {
    window(c, WindowKind::Hann)
}

pub fn import_hamming_window(c: &NodeCtx) -> Result<Op, String> {
    window(c, WindowKind::Hamming)
}

pub fn import_blackman_window(c: &NodeCtx) -> Result<Op, String> {
    window(c, WindowKind::Blackman)
}

pub fn import_mel_weight_matrix(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::MelWeightMatrix(MelWeightMatrix { dtype: out_dtype(c)? }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-9, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn forward_inverse_and_real_inverse() {
        let x: Vec<(f64, f64)> = vec![(1.0, 0.0), (2.0, 0.0), (0.0, 0.0), (-1.0, 0.0)];
        let f = dft(&x, 4, 4, -1.0);
        close(&f.iter().flat_map(|c| [c.0, c.1]).collect::<Vec<_>>(), &[2.0, 0.0, 1.0, -3.0, 0.0, 0.0, 1.0, 3.0]);
        let back: Vec<f64> = dft(&f, 4, 4, 1.0).iter().map(|c| c.0 / 4.0).collect();
        close(&back, &[1.0, 2.0, 0.0, -1.0]);
        close(&irfft(&f[..3], 4), &[1.0, 2.0, 0.0, -1.0]);
        // odd length
        let x5: Vec<(f64, f64)> = (0..5).map(|i| (i as f64 * 0.5 - 1.0, 0.0)).collect();
        let f5 = dft(&x5, 5, 3, -1.0);
        close(&irfft(&f5, 5), &x5.iter().map(|c| c.0).collect::<Vec<_>>());
    }

    #[test]
    fn windows() {
        let w = WindowFn { kind: WindowKind::Hann, periodic: true, dtype: DType::F64 }.values(4);
        close(&w, &[0.0, 0.5, 1.0, 0.5]);
        let w = WindowFn { kind: WindowKind::Blackman, periodic: false, dtype: DType::F64 }.values(3);
        close(&w, &[0.0, 1.0, 0.0]);
    }
}
