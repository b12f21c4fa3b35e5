//! Softmax, LogSoftmax and Hardmax (ai.onnx). Opsets before 13 coerce the input to 2-D at
//! `axis` (default 1) and normalize over the flattened tail; opset 13 normalizes along one axis
//! (default −1). Both reduce to the same [outer, len, inner] geometry.

use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::norm_axis;
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum SoftmaxKind {
    Softmax,
    LogSoftmax,
    Hardmax,
}

impl SoftmaxKind {
    pub const ALL: [SoftmaxKind; 3] = [SoftmaxKind::Softmax, SoftmaxKind::LogSoftmax, SoftmaxKind::Hardmax];
}

#[derive(Clone, Debug)]
pub struct Softmax {
    pub kind: SoftmaxKind,
    pub axis: i64,
    /// Opset < 13: normalize over all dims from `axis` on.
    pub flatten_tail: bool,
}

impl Softmax {
    /// (outer, len, inner) for a concrete shape.
    pub fn geometry(&self, shape: &[usize]) -> Result<(usize, usize, usize), String> {
        let axis = norm_axis(self.axis, shape.len())?;
        let outer = shape[..axis].iter().product();
        if self.flatten_tail {
            Ok((outer, shape[axis..].iter().product(), 1))
        } else {
            Ok((outer, shape.get(axis).copied().unwrap_or(1), shape[axis + 1..].iter().product()))
        }
    }
}

impl OpSpec for Softmax {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if !x.dtype.is_float() {
            return Err(format!("{:?} needs a float input, got {}", self.kind, x.dtype));
        }
        norm_axis(self.axis, x.rank())?;
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let (outer, len, inner) = self.geometry(x.shape())?;
        let v = x.to_f64_vec()?;
        let mut out = vec![0.0; v.len()];
        for o in 0..outer {
            for i in 0..inner {
                let at = |k: usize| (o * len + k) * inner + i;
                let mx = (0..len).map(|k| v[at(k)]).fold(f64::NEG_INFINITY, f64::max);
                match self.kind {
                    SoftmaxKind::Hardmax => {
                        let first = (0..len).find(|&k| v[at(k)] == mx).unwrap_or(0);
                        for k in 0..len {
                            out[at(k)] = (k == first) as u8 as f64;
                        }
                    }
                    _ => {
                        let s: f64 = (0..len).map(|k| (v[at(k)] - mx).exp()).sum();
                        for k in 0..len {
                            out[at(k)] = if self.kind == SoftmaxKind::Softmax {
                                (v[at(k)] - mx).exp() / s
                            } else {
                                v[at(k)] - mx - s.ln()
                            };
                        }
                    }
                }
            }
        }
        Ok(vec![Tensor::from_f64(x.dtype(), x.shape(), &out)?])
    }
}

fn softmax(c: &NodeCtx, kind: SoftmaxKind) -> Result<Op, String> {
    let legacy = c.opset < 13;
    Ok(Op::Softmax(Softmax { kind, axis: c.attrs.int("axis", if legacy { 1 } else { -1 })?, flatten_tail: legacy }))
}
pub fn import_softmax(c: &NodeCtx) -> Result<Op, String> {
    softmax(c, SoftmaxKind::Softmax)
}
pub fn import_log_softmax(c: &NodeCtx) -> Result<Op, String> {
    softmax(c, SoftmaxKind::LogSoftmax)
}
pub fn import_hardmax(c: &NodeCtx) -> Result<Op, String> {
    softmax(c, SoftmaxKind::Hardmax)
}
