//! Normalization (ai.onnx): BatchNormalization in inference mode (all opsets) and in training
//! mode (opset ≥ 14, `training_mode=1`: batch statistics and updated running statistics), LRN
//! (local response normalization across channels), LayerNormalization, RMSNormalization,
//! GroupNormalization (per-group affine in opset 18, per-channel from 21),
//! InstanceNormalization, LpNormalization and MeanVarianceNormalization.
//!
//! Statistics are computed in f64 (at least as precise as any `stash_type`) and the results
//! rounded to the output type once.

use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::{broadcast_strides, norm_axis, strides};
use crate::tensor::{DType, Dim, Tensor};

/// `Y = (X − mean) / sqrt(var + ε) · scale + B` per channel (axis 1).
#[derive(Clone, Debug)]
pub struct BatchNorm {
    pub epsilon: f32,
}

/// BatchNormalization's inputs 1..5 (scale, bias, mean, var): 1-D, one entry per channel.
fn check_bn_params(cx: &InferCx) -> Result<(), String> {
    let x = cx.input(0)?;
    for i in 1..5 {
        let p = cx.input(i)?;
        if p.rank() != 1 {
            return Err(format!("parameter input {i} must be 1-D, got rank {}", p.rank()));
        }
        if let (Some(a), Some(b)) = (p.dims[0].known(), x.dims[1].known()) {
            if a != b {
                return Err(format!("parameter input {i} has {a} entries for {b} channels"));
            }
        }
    }
    Ok(())
}

impl OpSpec for BatchNorm {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if !x.dtype.is_float() {
            return Err(format!("BatchNormalization needs a float input, got {}", x.dtype));
        }
        if x.rank() < 2 {
            return Err(format!("BatchNormalization needs rank ≥ 2, got {}", x.rank()));
        }
        check_bn_params(cx)?;
        if cx.n_outputs > 1 {
            return Err("training-mode outputs (running mean/var) are not supported".into());
        }
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let p: Vec<Vec<f64>> = (1..5).map(|i| need(inputs, i)?.to_f64_vec()).collect::<Result<_, _>>()?;
        let (scale, bias, mean, var) = (&p[0], &p[1], &p[2], &p[3]);
        let s = x.shape();
        let c = s[1];
        let inner: usize = s[2..].iter().product();
        if p.iter().any(|v| v.len() != c) {
            return Err(format!("parameters must have {c} entries"));
        }
        let v = x.to_f64_vec()?;
        let out: Vec<f64> = v
            .iter()
            .enumerate()
            .map(|(i, &e)| {
                let ch = (i / inner) % c;
                (e - mean[ch]) / (var[ch] + self.epsilon as f64).sqrt() * scale[ch] + bias[ch]
            })
            .collect();
        Ok(vec![Tensor::from_f64(x.dtype(), s, &out)?])
    }
}

/// LRN: `y = x / (bias + alpha/size · Σ x²)^beta` over a window of channels.
#[derive(Clone, Debug)]
pub struct Lrn {
    pub alpha: f32,
    pub beta: f32,
    pub bias: f32,
    pub size: usize,
}

impl OpSpec for Lrn {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if !x.dtype.is_float() || x.rank() < 3 {
            return Err(format!("LRN needs a float input of rank ≥ 3, got {}{}", x.dtype, x.rank()));
        }
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let s = x.shape();
        let (n, c) = (s[0], s[1]);
        let inner: usize = s[2..].iter().product();
        let v = x.to_f64_vec()?;
        let lo = (self.size - 1) / 2;
        let hi = self.size - 1 - lo;
        let mut out = vec![0.0; v.len()];
        for b in 0..n {
            for ch in 0..c {
                let c0 = ch.saturating_sub(lo);
                let c1 = (ch + hi).min(c - 1);
                for i in 0..inner {
                    let mut sq = 0.0;
                    for cc in c0..=c1 {
                        let e = v[(b * c + cc) * inner + i];
                        sq += e * e;
                    }
                    let idx = (b * c + ch) * inner + i;
                    let d = (self.bias as f64 + self.alpha as f64 / self.size as f64 * sq).powf(self.beta as f64);
                    out[idx] = v[idx] / d;
                }
            }
        }
        Ok(vec![Tensor::from_f64(x.dtype(), s, &out)?])
    }
}

pub fn import_batch_norm(c: &NodeCtx) -> Result<Op, String> {
    if c.opset < 7 && c.attrs.int("is_test", 0)? == 0 && c.n_outputs > 1 {
        return Err("training-mode BatchNormalization before opset 14 is not supported".into());
    }
    if c.opset >= 14 && c.attrs.int("training_mode", 0)? != 0 {
        return Ok(Op::BatchNormTrain(BatchNormTrain {
            epsilon: c.attrs.float("epsilon", 1e-5)?,
            momentum: c.attrs.float("momentum", 0.9)?,
        }));
    }
    if c.attrs.int("training_mode", 0)? != 0 {
        return Err("training_mode is an opset-14 attribute".into());
    }
    if c.opset < 9 && c.attrs.int("spatial", 1)? == 0 {
        return Err("BatchNormalization with spatial=0 is not supported".into());
    }
    Ok(Op::BatchNorm(BatchNorm { epsilon: c.attrs.float("epsilon", 1e-5)? }))
}

pub fn import_lrn(c: &NodeCtx) -> Result<Op, String> {
    let size = c.attrs.opt_int("size")?.ok_or("LRN needs a 'size' attribute")?;
    if size < 1 {
        return Err(format!("LRN size must be ≥ 1, got {size}"));
    }
    Ok(Op::Lrn(Lrn {
        alpha: c.attrs.float("alpha", 1e-4)?,
        beta: c.attrs.float("beta", 0.75)?,
        bias: c.attrs.float("bias", 1.0)?,
        size: size as usize,
    }))
}

// ---- shared helpers ----------------------------------------------------------------------

/// Requires a float input and returns its dtype.
fn float_input(cx: &InferCx, i: usize, op: &str) -> Result<DType, String> {
    let d = cx.input(i)?.dtype;
    if !d.is_float() {
        return Err(format!("{op} needs float input {i}, got {d}"));
    }
    Ok(d)
}

/// The values of `t` broadcast unidirectionally to `shape` (each of `t`'s trailing dims equal
/// to the target's or 1), one per element of `shape`.
fn expand_to(t: &Tensor, shape: &[usize], what: &str) -> Result<Vec<f64>, String> {
    let ts = t.shape();
    let bad = ts.len() > shape.len() || ts.iter().rev().zip(shape.iter().rev()).any(|(&a, &b)| a != b && a != 1);
    if bad {
        return Err(format!("{what} of shape {ts:?} cannot be broadcast to {shape:?}"));
    }
    let v = t.to_f64_vec()?;
    let st = broadcast_strides(ts, shape);
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        out.push(v[idx.iter().zip(&st).map(|(i, s)| i * s).sum::<usize>()]);
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok(out)
}

/// Checks that a symbolic parameter shape can broadcast unidirectionally onto `target`.
fn check_broadcast_onto(p: &[Dim], target: &[Dim], what: &str) -> Result<(), String> {
    if p.len() > target.len() {
        return Err(format!("{what} has rank {} above the input's {}", p.len(), target.len()));
    }
    for (a, b) in p.iter().rev().zip(target.iter().rev()) {
        if let (Some(a), Some(b)) = (a.known(), b.known()) {
            if a != b && a != 1 {
                return Err(format!("{what} dim {a} does not broadcast onto {b}"));
            }
        }
    }
    Ok(())
}

/// Population mean and variance of each contiguous chunk of `len` values.
fn chunk_moments(v: &[f64], len: usize) -> Vec<(f64, f64)> {
    if len == 0 {
        return Vec::new();
    }
    v.chunks(len)
        .map(|c| {
            let n = c.len() as f64;
            let mean = c.iter().sum::<f64>() / n;
            let var = c.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
            (mean, var)
        })
        .collect()
}

/// For every element of `shape`, the flat index of its group over the dims not in `reduced`
/// (row-major over the kept dims), and the number of groups.
fn group_of_each(shape: &[usize], reduced: &[bool]) -> (Vec<usize>, usize) {
    let kept: Vec<usize> = (0..shape.len()).map(|d| if reduced[d] { 1 } else { shape[d] }).collect();
    let kst = strides(&kept);
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        out.push((0..shape.len()).filter(|&d| !reduced[d]).map(|d| idx[d] * kst[d]).sum());
        for d in (0..shape.len()).rev() {
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    (out, kept.iter().product())
}

/// Mean and population variance per group given each element's group.
fn grouped_moments(v: &[f64], group: &[usize], n_groups: usize) -> Vec<(f64, f64)> {
    let mut sum = vec![0.0; n_groups];
    let mut cnt = vec![0usize; n_groups];
    for (&x, &g) in v.iter().zip(group) {
        sum[g] += x;
        cnt[g] += 1;
    }
    let mean: Vec<f64> = sum.iter().zip(&cnt).map(|(s, &c)| s / c as f64).collect();
    let mut sq = vec![0.0; n_groups];
    for (&x, &g) in v.iter().zip(group) {
        sq[g] += (x - mean[g]) * (x - mean[g]);
    }
    mean.iter().zip(sq.iter().zip(&cnt)).map(|(&m, (&s, &c))| (m, s / c as f64)).collect()
}

// ---- BatchNormalization, training mode ----------------------------------------------------

/// BatchNormalization with `training_mode=1` (opset ≥ 14): normalizes with the batch's own
/// mean and population variance over every axis but 1, and returns the updated running
/// statistics `running = input · momentum + batch · (1 − momentum)` as outputs 1 and 2.
#[derive(Clone, Debug)]
pub struct BatchNormTrain {
    pub epsilon: f32,
    pub momentum: f32,
}

impl OpSpec for BatchNormTrain {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let dt = float_input(cx, 0, "BatchNormalization")?;
        let x = cx.input(0)?;
        if x.rank() < 2 {
            return Err(format!("BatchNormalization needs rank ≥ 2, got {}", x.rank()));
        }
        check_bn_params(cx)?;
        if cx.n_outputs > 3 {
            return Err(format!("BatchNormalization has at most 3 outputs, got {}", cx.n_outputs));
        }
        let mut out = vec![vt(dt, x.dims.clone())];
        for i in [3, 4] {
            out.push(vt(cx.input(i)?.dtype, vec![x.dims[1].clone()]));
        }
        out.truncate(cx.n_outputs.max(1));
        Ok(out)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n_outputs: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let s = x.shape();
        if s.len() < 2 {
            return Err(format!("BatchNormalization needs rank ≥ 2, got {}", s.len()));
        }
        let c = s[1];
        let p: Vec<Vec<f64>> = (1..5).map(|i| need(inputs, i)?.to_f64_vec()).collect::<Result<_, _>>()?;
        if p.iter().any(|v| v.len() != c) {
            return Err(format!("parameters must have {c} entries"));
        }
        let (scale, bias, in_mean, in_var) = (&p[0], &p[1], &p[2], &p[3]);
        let reduced: Vec<bool> = (0..s.len()).map(|d| d != 1).collect();
        let (group, n_groups) = group_of_each(s, &reduced);
        let v = x.to_f64_vec()?;
        let m = grouped_moments(&v, &group, n_groups);
        let eps = self.epsilon as f64;
        let y: Vec<f64> = v
            .iter()
            .zip(&group)
            .map(|(&e, &ch)| (e - m[ch].0) / (m[ch].1 + eps).sqrt() * scale[ch] + bias[ch])
            .collect();
        let mom = self.momentum as f64;
        let run_mean: Vec<f64> = (0..c).map(|ch| in_mean[ch] * mom + m[ch].0 * (1.0 - mom)).collect();
        let run_var: Vec<f64> = (0..c).map(|ch| in_var[ch] * mom + m[ch].1 * (1.0 - mom)).collect();
        let mut out = vec![
            Tensor::from_f64(x.dtype(), s, &y)?,
            Tensor::from_f64(need(inputs, 3)?.dtype(), &[c], &run_mean)?,
            Tensor::from_f64(need(inputs, 4)?.dtype(), &[c], &run_var)?,
        ];
        out.truncate(n_outputs.max(1));
        Ok(out)
    }
}

// ---- LayerNormalization / RMSNormalization ------------------------------------------------

/// LayerNormalization (opset 17): normalizes over the dims from `axis` on, then
/// `Y = norm · Scale + B` (both broadcast onto X). Optional outputs Mean and InvStdDev have
/// X's leading dims and 1s after, in the `stash_type` dtype.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    pub axis: i64,
    pub epsilon: f32,
    pub stash: DType,
}

impl OpSpec for LayerNorm {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let dt = float_input(cx, 0, "LayerNormalization")?;
        let x = cx.input(0)?;
        let axis = norm_axis(self.axis, x.rank())?;
        for (i, what) in [(1, "Scale"), (2, "B")] {
            if let Some(p) = cx.opt(i) {
                if p.dtype != dt {
                    return Err(format!("{what} must be {dt}, got {}", p.dtype));
                }
                check_broadcast_onto(&p.dims, &x.dims, what)?;
            }
        }
        cx.input(1)?;
        if cx.n_outputs > 3 {
            return Err(format!("LayerNormalization has at most 3 outputs, got {}", cx.n_outputs));
        }
        let stat: Vec<Dim> =
            x.dims.iter().enumerate().map(|(d, e)| if d < axis { e.clone() } else { Dim::Known(1) }).collect();
        let mut out = vec![vt(dt, x.dims.clone()), vt(self.stash, stat.clone()), vt(self.stash, stat)];
        out.truncate(cx.n_outputs.max(1));
        Ok(out)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n_outputs: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let s = x.shape();
        let axis = norm_axis(self.axis, s.len())?;
        let cols: usize = s[axis..].iter().product();
        let v = x.to_f64_vec()?;
        let scale = expand_to(need(inputs, 1)?, s, "Scale")?;
        let bias = match inputs.get(2).copied().flatten() {
            Some(b) => Some(expand_to(b, s, "B")?),
            None => None,
        };
        let m = chunk_moments(&v, cols);
        let eps = self.epsilon as f64;
        let inv: Vec<f64> = m.iter().map(|&(_, var)| 1.0 / (var + eps).sqrt()).collect();
        let y: Vec<f64> = (0..v.len())
            .map(|i| {
                let r = i / cols;
                let n = (v[i] - m[r].0) * inv[r] * scale[i];
                n + bias.as_ref().map_or(0.0, |b| b[i])
            })
            .collect();
        let stat_shape: Vec<usize> = s.iter().enumerate().map(|(d, &e)| if d < axis { e } else { 1 }).collect();
        let means: Vec<f64> = m.iter().map(|p| p.0).collect();
        let mut out = vec![
            Tensor::from_f64(x.dtype(), s, &y)?,
            Tensor::from_f64(self.stash, &stat_shape, &means)?,
            Tensor::from_f64(self.stash, &stat_shape, &inv)?,
        ];
        out.truncate(n_outputs.max(1));
        Ok(out)
    }
}

/// RMSNormalization (opset 23): `Y = X / sqrt(mean(X²) + ε) · scale` with the mean over the
/// dims from `axis` on.
#[derive(Clone, Debug)]
pub struct RmsNorm {
    pub axis: i64,
    pub epsilon: f32,
}

impl OpSpec for RmsNorm {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let dt = float_input(cx, 0, "RMSNormalization")?;
        let x = cx.input(0)?;
        norm_axis(self.axis, x.rank())?;
        let p = cx.input(1)?;
        if p.dtype != dt {
            return Err(format!("scale must be {dt}, got {}", p.dtype));
        }
        check_broadcast_onto(&p.dims, &x.dims, "scale")?;
        Ok(vec![vt(dt, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let s = x.shape();
        let axis = norm_axis(self.axis, s.len())?;
        let cols: usize = s[axis..].iter().product();
        let v = x.to_f64_vec()?;
        let scale = expand_to(need(inputs, 1)?, s, "scale")?;
        let eps = self.epsilon as f64;
        let inv: Vec<f64> = if cols == 0 {
            Vec::new()
        } else {
            v.chunks(cols).map(|c| 1.0 / (c.iter().map(|e| e * e).sum::<f64>() / cols as f64 + eps).sqrt()).collect()
        };
        let y: Vec<f64> = (0..v.len()).map(|i| v[i] * inv[i / cols] * scale[i]).collect();
        Ok(vec![Tensor::from_f64(x.dtype(), s, &y)?])
    }
}

// ---- GroupNormalization / InstanceNormalization -------------------------------------------

/// GroupNormalization: X is [N, C, …]; channels split into `num_groups` groups normalized
/// over (channels of the group × spatial). Opset 18 takes scale/bias per group, opset 21 per
/// channel.
#[derive(Clone, Debug)]
pub struct GroupNorm {
    pub num_groups: usize,
    pub epsilon: f32,
    pub per_channel: bool,
}

impl OpSpec for GroupNorm {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let dt = float_input(cx, 0, "GroupNormalization")?;
        let x = cx.input(0)?;
        if x.rank() < 2 {
            return Err(format!("GroupNormalization needs rank ≥ 2, got {}", x.rank()));
        }
        if let Some(c) = x.dims[1].known() {
            if c % self.num_groups != 0 {
                return Err(format!("{c} channels do not split into {} groups", self.num_groups));
            }
        }
        for i in [1, 2] {
            let p = cx.input(i)?;
            if p.rank() != 1 {
                return Err(format!("input {i} must be 1-D, got rank {}", p.rank()));
            }
            let want = if self.per_channel { x.dims[1].known() } else { Some(self.num_groups) };
            if let (Some(a), Some(b)) = (p.dims[0].known(), want) {
                if a != b {
                    return Err(format!("input {i} has {a} entries, expected {b}"));
                }
            }
        }
        Ok(vec![vt(dt, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let s = x.shape();
        if s.len() < 2 {
            return Err(format!("GroupNormalization needs rank ≥ 2, got {}", s.len()));
        }
        let (c, g) = (s[1], self.num_groups);
        if c % g != 0 {
            return Err(format!("{c} channels do not split into {g} groups"));
        }
        let spatial: usize = s[2..].iter().product();
        let per_group = c / g * spatial;
        let (scale, bias) = (need(inputs, 1)?.to_f64_vec()?, need(inputs, 2)?.to_f64_vec()?);
        let want = if self.per_channel { c } else { g };
        if scale.len() != want || bias.len() != want {
            return Err(format!("scale and bias must have {want} entries"));
        }
        let v = x.to_f64_vec()?;
        let m = chunk_moments(&v, per_group);
        let eps = self.epsilon as f64;
        let y: Vec<f64> = (0..v.len())
            .map(|i| {
                let grp = i / per_group;
                let ch = (i / spatial.max(1)) % c;
                let k = if self.per_channel { ch } else { grp % g };
                (v[i] - m[grp].0) / (m[grp].1 + eps).sqrt() * scale[k] + bias[k]
            })
            .collect();
        Ok(vec![Tensor::from_f64(x.dtype(), s, &y)?])
    }
}

/// InstanceNormalization: each (n, c) slice normalized over its spatial dims, then
/// `scale[c] · norm + B[c]`.
#[derive(Clone, Debug)]
pub struct InstanceNorm {
    pub epsilon: f32,
}

impl OpSpec for InstanceNorm {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let dt = float_input(cx, 0, "InstanceNormalization")?;
        let x = cx.input(0)?;
        if x.rank() < 3 {
            return Err(format!("InstanceNormalization needs rank ≥ 3, got {}", x.rank()));
        }
        for i in [1, 2] {
            let p = cx.input(i)?;
            if p.rank() != 1 {
                return Err(format!("input {i} must be 1-D, got rank {}", p.rank()));
            }
            if let (Some(a), Some(b)) = (p.dims[0].known(), x.dims[1].known()) {
                if a != b {
                    return Err(format!("input {i} has {a} entries for {b} channels"));
                }
            }
        }
        Ok(vec![vt(dt, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let s = x.shape();
        if s.len() < 3 {
            return Err(format!("InstanceNormalization needs rank ≥ 3, got {}", s.len()));
        }
        let c = s[1];
        let spatial: usize = s[2..].iter().product();
        let (scale, bias) = (need(inputs, 1)?.to_f64_vec()?, need(inputs, 2)?.to_f64_vec()?);
        if scale.len() != c || bias.len() != c {
            return Err(format!("scale and B must have {c} entries"));
        }
        let v = x.to_f64_vec()?;
        let m = chunk_moments(&v, spatial);
        let eps = self.epsilon as f64;
        let y: Vec<f64> = (0..v.len())
            .map(|i| {
                let r = i / spatial;
                (v[i] - m[r].0) / (m[r].1 + eps).sqrt() * scale[r % c] + bias[r % c]
            })
            .collect();
        Ok(vec![Tensor::from_f64(x.dtype(), s, &y)?])
    }
}

// ---- LpNormalization / MeanVarianceNormalization ------------------------------------------

/// LpNormalization: `x / ‖x‖_p` along `axis` (p ∈ {1, 2}); a zero norm gives 0.
#[derive(Clone, Debug)]
pub struct LpNorm {
    pub axis: i64,
    pub p: i64,
}

impl OpSpec for LpNorm {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let dt = float_input(cx, 0, "LpNormalization")?;
        let x = cx.input(0)?;
        norm_axis(self.axis, x.rank())?;
        Ok(vec![vt(dt, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let s = x.shape();
        let axis = norm_axis(self.axis, s.len())?;
        let reduced: Vec<bool> = (0..s.len()).map(|d| d == axis).collect();
        let (group, n_groups) = group_of_each(s, &reduced);
        let v = x.to_f64_vec()?;
        let mut acc = vec![0.0; n_groups];
        for (&e, &g) in v.iter().zip(&group) {
            acc[g] += if self.p == 1 { e.abs() } else { e * e };
        }
        let norm: Vec<f64> = acc.iter().map(|&a| if self.p == 1 { a } else { a.sqrt() }).collect();
        let y: Vec<f64> = v.iter().zip(&group).map(|(&e, &g)| if norm[g] == 0.0 { 0.0 } else { e / norm[g] }).collect();
        Ok(vec![Tensor::from_f64(x.dtype(), s, &y)?])
    }
}

/// MeanVarianceNormalization: `(X − E[X]) / (sqrt(Var[X]) + 1e-9)` with the moments over `axes`.
#[derive(Clone, Debug)]
pub struct Mvn {
    pub axes: Vec<i64>,
}

impl Mvn {
    fn reduced(&self, rank: usize) -> Result<Vec<bool>, String> {
        let mut r = vec![false; rank];
        for &a in &self.axes {
            r[norm_axis(a, rank)?] = true;
        }
        Ok(r)
    }
}

impl OpSpec for Mvn {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let dt = float_input(cx, 0, "MeanVarianceNormalization")?;
        let x = cx.input(0)?;
        self.reduced(x.rank())?;
        Ok(vec![vt(dt, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let s = x.shape();
        let (group, n_groups) = group_of_each(s, &self.reduced(s.len())?);
        let v = x.to_f64_vec()?;
        let m = grouped_moments(&v, &group, n_groups);
        let y: Vec<f64> = v.iter().zip(&group).map(|(&e, &g)| (e - m[g].0) / (m[g].1.sqrt() + 1e-9)).collect();
        Ok(vec![Tensor::from_f64(x.dtype(), s, &y)?])
    }
}

// ---- importers ----------------------------------------------------------------------------

fn stash_dtype(c: &NodeCtx) -> Result<DType, String> {
    let code = c.attrs.int("stash_type", 1)?;
    match DType::from_onnx(code as i32) {
        Some(d) if d.is_float() && d.bits() >= 16 => Ok(d),
        _ => Err(format!("unsupported stash_type {code}")),
    }
}

pub fn import_layer_norm(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::LayerNorm(LayerNorm {
        axis: c.attrs.int("axis", -1)?,
        epsilon: c.attrs.float("epsilon", 1e-5)?,
        stash: stash_dtype(c)?,
    }))
}

pub fn import_rms_norm(c: &NodeCtx) -> Result<Op, String> {
    stash_dtype(c)?;
    Ok(Op::RmsNorm(RmsNorm { axis: c.attrs.int("axis", -1)?, epsilon: c.attrs.float("epsilon", 1e-5)? }))
}

pub fn import_group_norm(c: &NodeCtx) -> Result<Op, String> {
    let g = c.attrs.opt_int("num_groups")?.ok_or("GroupNormalization needs a 'num_groups' attribute")?;
    if g < 1 {
        return Err(format!("num_groups must be ≥ 1, got {g}"));
    }
    if c.opset >= 21 {
        stash_dtype(c)?;
    }
    Ok(Op::GroupNorm(GroupNorm {
        num_groups: g as usize,
        epsilon: c.attrs.float("epsilon", 1e-5)?,
        per_channel: c.opset >= 21,
    }))
}

pub fn import_instance_norm(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::InstanceNorm(InstanceNorm { epsilon: c.attrs.float("epsilon", 1e-5)? }))
}

pub fn import_lp_norm(c: &NodeCtx) -> Result<Op, String> {
    let p = c.attrs.int("p", 2)?;
    if p != 1 && p != 2 {
        return Err(format!("LpNormalization p must be 1 or 2, got {p}"));
    }
    Ok(Op::LpNorm(LpNorm { axis: c.attrs.int("axis", -1)?, p }))
}

pub fn import_mvn(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Mvn(Mvn { axes: c.attrs.ints("axes", vec![0, 2, 3])? }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_norm_affine_per_group_then_per_channel() {
        // N=1, C=2, one spatial element each, 1 group: normalized values are −1 and 1.
        let x = Tensor::new(&[1, 2, 1], vec![1.0f32, 3.0]).unwrap();
        let g18 = GroupNorm { num_groups: 1, epsilon: 0.0, per_channel: false };
        let (s, b) = (Tensor::new(&[1], vec![2.0f32]).unwrap(), Tensor::new(&[1], vec![1.0f32]).unwrap());
        let y = g18.eval(&[Some(&x), Some(&s), Some(&b)], 1).unwrap().remove(0);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![-1.0, 3.0]);
        let g21 = GroupNorm { num_groups: 1, epsilon: 0.0, per_channel: true };
        let (s, b) = (Tensor::new(&[2], vec![1.0f32, 2.0]).unwrap(), Tensor::new(&[2], vec![0.0f32, 1.0]).unwrap());
        let y = g21.eval(&[Some(&x), Some(&s), Some(&b)], 1).unwrap().remove(0);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![-1.0, 3.0]);
        assert!(g18.eval(&[Some(&x), Some(&s), Some(&b)], 1).is_err());
    }

    #[test]
    fn layer_norm_statistics_keep_leading_dims() {
        let x = Tensor::new(&[2, 2], vec![1.0f32, 3.0, 2.0, 2.0]).unwrap();
        let w = Tensor::new(&[2], vec![1.0f32, 1.0]).unwrap();
        let ln = LayerNorm { axis: 1, epsilon: 0.0, stash: DType::F32 };
        let out = ln.eval(&[Some(&x), Some(&w), None], 3).unwrap();
        assert_eq!(out[1].shape(), &[2, 1]);
        assert_eq!(out[1].to_vec::<f32>().unwrap(), vec![2.0, 2.0]);
        assert_eq!(out[0].to_vec::<f32>().unwrap()[..2], [-1.0, 1.0]);
        assert_eq!(out[2].to_vec::<f32>().unwrap()[0], 1.0);
    }

    #[test]
    fn training_batch_norm_updates_running_stats() {
        let x = Tensor::new(&[2, 1], vec![0.0f32, 2.0]).unwrap();
        let one = Tensor::new(&[1], vec![1.0f32]).unwrap();
        let zero = Tensor::new(&[1], vec![0.0f32]).unwrap();
        let bn = BatchNormTrain { epsilon: 0.0, momentum: 0.5 };
        let out = bn.eval(&[Some(&x), Some(&one), Some(&zero), Some(&zero), Some(&one)], 3).unwrap();
        assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![-1.0, 1.0]);
        assert_eq!(out[1].to_vec::<f32>().unwrap(), vec![0.5]);
        assert_eq!(out[2].to_vec::<f32>().unwrap(), vec![1.0]);
    }
}
