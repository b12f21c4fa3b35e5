//! Small standalone ops (ai.onnx): Swish (opset 24), SwiGLU (opset 28), Shrink, BitwiseNot
//! and Det (determinants of the trailing square matrices, by LU with partial pivoting).

use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::Tensor;

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Swish: `x · sigmoid(alpha · x)`.
#[derive(Clone, Debug)]
pub struct Swish {
    pub alpha: f32,
}

impl OpSpec for Swish {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if !x.dtype.is_float() {
            return Err(format!("Swish needs a float input, got {}", x.dtype));
        }
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let a = self.alpha as f64;
        let y: Vec<f64> = x.to_f64_vec()?.iter().map(|&e| e * sigmoid(a * e)).collect();
        Ok(vec![Tensor::from_f64(x.dtype(), x.shape(), &y)?])
    }
}

/// SwiGLU: `Swish_alpha(A) · B` for A and B of one shape (no broadcasting).
#[derive(Clone, Debug)]
pub struct SwiGlu {
    pub alpha: f32,
}

impl OpSpec for SwiGlu {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (a, b) = (cx.input(0)?, cx.input(1)?);
        if !a.dtype.is_float() || a.dtype != b.dtype {
            return Err(format!("SwiGLU needs two float inputs of one dtype, got {} and {}", a.dtype, b.dtype));
        }
        if a.rank() != b.rank() {
            return Err(format!("SwiGLU inputs must have one shape, got ranks {} and {}", a.rank(), b.rank()));
        }
        for (x, y) in a.dims.iter().zip(&b.dims) {
            if let (Some(x), Some(y)) = (x.known(), y.known()) {
                if x != y {
                    return Err(format!("SwiGLU inputs must have one shape ({x} vs {y})"));
                }
            }
        }
        Ok(vec![vt(a.dtype, a.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (a, b) = (need(inputs, 0)?, need(inputs, 1)?);
        if a.shape() != b.shape() {
            return Err(format!("SwiGLU inputs must have one shape, got {:?} and {:?}", a.shape(), b.shape()));
        }
        let al = self.alpha as f64;
        let y: Vec<f64> = a.to_f64_vec()?.iter().zip(b.to_f64_vec()?).map(|(&x, v)| x * sigmoid(al * x) * v).collect();
        Ok(vec![Tensor::from_f64(a.dtype(), a.shape(), &y)?])
    }
}

/// Shrink: `x + bias` below `−lambd`, `x − bias` above `lambd`, else 0 (any numeric type).
#[derive(Clone, Debug)]
pub struct Shrink {
    pub lambd: f32,
    pub bias: f32,
}

impl OpSpec for Shrink {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if !(x.dtype.is_float() || x.dtype.is_int()) {
            return Err(format!("Shrink needs a numeric input, got {}", x.dtype));
        }
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let (l, b) = (self.lambd as f64, self.bias as f64);
        let y: Vec<f64> = x
            .to_f64_vec()?
            .iter()
            .map(|&e| {
                if e < -l {
                    e + b
                } else if e > l {
                    e - b
                } else {
                    0.0
                }
            })
            .collect();
        Ok(vec![Tensor::from_f64(x.dtype(), x.shape(), &y)?])
    }
}

/// BitwiseNot on integer tensors.
#[derive(Clone, Debug)]
pub struct BitwiseNot;

impl OpSpec for BitwiseNot {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if !x.dtype.is_int() {
            return Err(format!("BitwiseNot needs an integer input, got {}", x.dtype));
        }
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        if !x.dtype().is_int() {
            return Err(format!("BitwiseNot needs an integer input, got {}", x.dtype()));
        }
        let y: Vec<i64> = x.to_i64_vec()?.iter().map(|&e| !e).collect();
        Ok(vec![Tensor::from_i64(x.dtype(), x.shape(), &y)?])
    }
}

/// Det: determinants of the [.., M, M] input's trailing square matrices.
#[derive(Clone, Debug)]
pub struct Det;

/// The determinant of a row-major n×n matrix (LU with partial pivoting).
fn determinant(mut a: Vec<f64>, n: usize) -> f64 {
    let mut det = 1.0;
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[i * n + c].abs().total_cmp(&a[j * n + c].abs())).unwrap_or(c);
        if a[p * n + c] == 0.0 {
            return 0.0;
        }
        if p != c {
            for k in 0..n {
                a.swap(p * n + k, c * n + k);
            }
            det = -det;
        }
        let piv = a[c * n + c];
        det *= piv;
        for r in c + 1..n {
            let f = a[r * n + c] / piv;
            for k in c..n {
                a[r * n + k] -= f * a[c * n + k];
            }
        }
    }
    det
}

impl OpSpec for Det {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if !x.dtype.is_float() {
            return Err(format!("Det needs a float input, got {}", x.dtype));
        }
        let r = x.rank();
        if r < 2 {
            return Err(format!("Det needs rank ≥ 2, got {r}"));
        }
        if let (Some(a), Some(b)) = (x.dims[r - 2].known(), x.dims[r - 1].known()) {
            if a != b {
                return Err(format!("Det needs square matrices, got {a}×{b}"));
            }
        }
        Ok(vec![vt(x.dtype, x.dims[..r - 2].to_vec())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let s = x.shape();
        let r = s.len();
        if r < 2 || s[r - 1] != s[r - 2] {
            return Err(format!("Det needs [.., M, M], got {s:?}"));
        }
        let n = s[r - 1];
        let v = x.to_f64_vec()?;
        let batch: usize = s[..r - 2].iter().product();
        let y: Vec<f64> = (0..batch).map(|b| determinant(v[b * n * n..(b + 1) * n * n].to_vec(), n)).collect();
        Ok(vec![Tensor::from_f64(x.dtype(), &s[..r - 2], &y)?])
    }
}

pub fn import_swish(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Swish(Swish { alpha: c.attrs.float("alpha", 1.0)? }))
}
pub fn import_swiglu(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::SwiGlu(SwiGlu { alpha: c.attrs.float("alpha", 1.0)? }))
}
pub fn import_shrink(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Shrink(Shrink { lambd: c.attrs.float("lambd", 0.5)?, bias: c.attrs.float("bias", 0.0)? }))
}
pub fn import_bitwise_not(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::BitwiseNot(BitwiseNot))
}
pub fn import_det(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Det(Det))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::DType;

    #[test]
    fn determinants() {
        assert_eq!(determinant(vec![1.0, 2.0, 3.0, 4.0], 2), -2.0);
        assert_eq!(determinant(vec![0.0, 1.0, 1.0, 0.0], 2), -1.0);
        assert_eq!(determinant(vec![], 0), 1.0);
        let x = Tensor::new(&[2, 1, 1], vec![3.0f32, -2.0]).unwrap();
        let y = Det.eval(&[Some(&x)], 1).unwrap().remove(0);
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![3.0, -2.0]);
    }

    #[test]
    fn bitwise_not_wraps_to_width() {
        let x = Tensor::new(&[2], vec![0u8, 0xF0]).unwrap();
        let y = BitwiseNot.eval(&[Some(&x)], 1).unwrap().remove(0);
        assert_eq!(y.to_vec::<u8>().unwrap(), vec![0xFF, 0x0F]);
        assert_eq!(DType::U8, y.dtype());
    }
}
