//! Losses (ai.onnx): NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.
//!
//! Both take scores of shape [N, C, d1, …] and integer targets of shape [N, d1, …]. The loss
//! of one position is `−weight[t] · input[n, t, d…]` (input = log-probabilities; for
//! SoftmaxCrossEntropyLoss the log-softmax of the scores over axis 1), and 0 where the target
//! equals `ignore_index`. `reduction` is `none` (per-position losses), `sum`, or `mean` (the
//! sum divided by the sum of the applied weights, ignored positions weighing 0).

use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::{DType, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduction {
    None,
    Sum,
    Mean,
}

/// NegativeLogLikelihoodLoss (`softmax = false`) or SoftmaxCrossEntropyLoss (`softmax = true`,
/// with the optional second output `log_prob`).
#[derive(Clone, Debug)]
pub struct Loss {
    pub softmax: bool,
    pub reduction: Reduction,
    pub ignore_index: Option<i64>,
}

impl Loss {
    fn name(&self) -> &'static str {
        if self.softmax {
            "SoftmaxCrossEntropyLoss"
        } else {
            "NegativeLogLikelihoodLoss"
        }
    }
}

/// Log-softmax over axis 1 of a [n, c, inner] row-major array.
fn log_softmax_axis1(v: &[f64], n: usize, c: usize, inner: usize) -> Vec<f64> {
    let mut out = vec![0.0; v.len()];
    for b in 0..n {
        for i in 0..inner {
            let at = |k: usize| (b * c + k) * inner + i;
            let mx = (0..c).map(|k| v[at(k)]).fold(f64::NEG_INFINITY, f64::max);
            let lse = (0..c).map(|k| (v[at(k)] - mx).exp()).sum::<f64>().ln() + mx;
            for k in 0..c {
                out[at(k)] = v[at(k)] - lse;
            }
        }
    }
    out
}

impl OpSpec for Loss {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if !x.dtype.is_float() {
            return Err(format!("{} needs float scores, got {}", self.name(), x.dtype));
        }
        if x.rank() < 2 {
            return Err(format!("{} needs scores of rank ≥ 2, got {}", self.name(), x.rank()));
        }
        let t = cx.input(1)?;
        if t.dtype != DType::I32 && t.dtype != DType::I64 {
            return Err(format!("the target must be int32 or int64, got {}", t.dtype));
        }
        if t.rank() + 1 != x.rank() {
            return Err(format!("target rank {} does not match scores rank {}", t.rank(), x.rank()));
        }
        let want: Vec<_> = x.dims.iter().enumerate().filter(|&(d, _)| d != 1).map(|(_, e)| e).collect();
        for (a, b) in t.dims.iter().zip(want) {
            if let (Some(a), Some(b)) = (a.known(), b.known()) {
                if a != b {
                    return Err("target shape does not match the scores' shape without axis 1".into());
                }
            }
        }
        if let Some(w) = cx.opt(2) {
            if w.rank() != 1 || w.dtype != x.dtype {
                return Err(format!("weight must be a 1-D {} tensor", x.dtype));
            }
        }
        let max_out = if self.softmax { 2 } else { 1 };
        if cx.n_outputs > max_out {
            return Err(format!("{} has at most {max_out} outputs", self.name()));
        }
        let loss_dims = if self.reduction == Reduction::None { t.dims.clone() } else { Vec::new() };
        let mut out = vec![vt(x.dtype, loss_dims)];
        if cx.n_outputs == 2 {
            out.push(vt(x.dtype, x.dims.clone()));
        }
        Ok(out)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n_outputs: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let t = need(inputs, 1)?;
        let s = x.shape();
        if s.len() < 2 {
            return Err(format!("{} needs scores of rank ≥ 2, got {}", self.name(), s.len()));
        }
        let (n, c) = (s[0], s[1]);
        let inner: usize = s[2..].iter().product();
        let t_shape: Vec<usize> = s.iter().enumerate().filter(|&(d, _)| d != 1).map(|(_, &e)| e).collect();
        if t.shape() != t_shape.as_slice() {
            return Err(format!("target shape {:?} does not match scores {:?} without axis 1", t.shape(), s));
        }
        let weight = match inputs.get(2).copied().flatten() {
            Some(w) => {
                let w = w.to_f64_vec()?;
                if w.len() != c {
                    return Err(format!("weight has {} entries for {c} classes", w.len()));
                }
                Some(w)
            }
            None => None,
        };
        let raw = x.to_f64_vec()?;
        let logp = if self.softmax { log_softmax_axis1(&raw, n, c, inner) } else { raw };
        let target = t.to_i64_vec()?;
        let mut loss = vec![0.0; n * inner];
        let mut wsum = 0.0;
        for b in 0..n {
            for i in 0..inner {
                let k = target[b * inner + i];
                if Some(k) == self.ignore_index {
                    continue;
                }
                if k < 0 || k as usize >= c {
                    return Err(format!("target {k} is out of range for {c} classes"));
                }
                let k = k as usize;
                let w = weight.as_ref().map_or(1.0, |w| w[k]);
                loss[b * inner + i] = -logp[(b * c + k) * inner + i] * w;
                wsum += w;
            }
        }
        let out = match self.reduction {
            Reduction::None => Tensor::from_f64(x.dtype(), t.shape(), &loss)?,
            Reduction::Sum => Tensor::from_f64(x.dtype(), &[], &[loss.iter().sum()])?,
            Reduction::Mean => Tensor::from_f64(x.dtype(), &[], &[loss.iter().sum::<f64>() / wsum])?,
        };
        let mut res = vec![out];
        if n_outputs >= 2 {
            if !self.softmax {
                return Err(format!("{} has one output", self.name()));
            }
            res.push(Tensor::from_f64(x.dtype(), s, &logp)?);
        }
        Ok(res)
    }
}

fn import_loss(c: &NodeCtx, softmax: bool) -> Result<Op, String> {
    let reduction = match c.attrs.string("reduction", "mean")?.as_str() {
        "none" => Reduction::None,
        "sum" => Reduction::Sum,
        "mean" => Reduction::Mean,
        r => return Err(format!("unknown reduction '{r}'")),
    };
    Ok(Op::Loss(Loss { softmax, reduction, ignore_index: c.attrs.opt_int("ignore_index")? }))
}

pub fn import_nll_loss(c: &NodeCtx) -> Result<Op, String> {
    import_loss(c, false)
}

pub fn import_softmax_cross_entropy_loss(c: &NodeCtx) -> Result<Op, String> {
    import_loss(c, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(l: &Loss, x: &[f32], xs: &[usize], t: &[i64], ts: &[usize], w: Option<&[f32]>) -> Vec<f32> {
        let x = Tensor::new(xs, x.to_vec()).unwrap();
        let t = Tensor::new(ts, t.to_vec()).unwrap();
        let w = w.map(|w| Tensor::new(&[w.len()], w.to_vec()).unwrap());
        l.eval(&[Some(&x), Some(&t), w.as_ref()], 1).unwrap()[0].to_vec::<f32>().unwrap()
    }

    #[test]
    fn nll_mean_divides_by_applied_weights() {
        // N=3, C=2; targets 1, 0, ignored.
        let x = [-1.0, -2.0, -3.0, -4.0, -5.0, -6.0];
        let l = Loss { softmax: false, reduction: Reduction::Mean, ignore_index: Some(-1) };
        let r = run(&l, &x, &[3, 2], &[1, 0, -1], &[3], Some(&[0.5, 2.0]));
        // (2·2 + 0.5·3) / (2 + 0.5)
        assert!((r[0] - 5.5 / 2.5).abs() < 1e-6);
        let r = run(&l, &x, &[3, 2], &[1, 0, -1], &[3], None);
        assert!((r[0] - 2.5).abs() < 1e-6);
        let l = Loss { softmax: false, reduction: Reduction::None, ignore_index: None };
        let x = Tensor::new(&[1, 2], vec![0.0f32, 0.0]).unwrap();
        let t = Tensor::new(&[1], vec![2i64]).unwrap();
        assert!(l.eval(&[Some(&x), Some(&t), None], 1).is_err());
    }

    #[test]
    fn sce_is_nll_of_log_softmax() {
        let l = Loss { softmax: true, reduction: Reduction::Sum, ignore_index: None };
        let r = run(&l, &[0.0, 0.0, 1.0, 1.0], &[2, 2], &[0, 1], &[2], None);
        assert!((r[0] - 2.0 * std::f32::consts::LN_2).abs() < 1e-6);
    }
}
