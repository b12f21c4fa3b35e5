//! Normalization (ai.onnx): BatchNormalization in inference mode (all opsets; the training
//! outputs are refused), and LRN (local response normalization across channels).

use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::Tensor;

/// `Y = (X − mean) / sqrt(var + ε) · scale + B` per channel (axis 1).
#[derive(Clone, Debug)]
pub struct BatchNorm {
    pub epsilon: f32,
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
        return Err("training-mode BatchNormalization is not supported".into());
    }
    if c.attrs.int("training_mode", 0)? != 0 {
        return Err("training-mode BatchNormalization is not supported".into());
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
