//! Running accumulations (ai.onnx): CumSum (opset 11, 14) and CumProd (opset 26) with the
//! `exclusive` and `reverse` attributes and the axis as input 1.
//!
//! Also home of [`Vals`], the exact numeric working form shared by this family's kernels that
//! combine elements (the Scatter reductions, Col2Im): integers stay integers (wrapping to the
//! element width like the ONNX runtimes do), floats are computed in `f64` and rounded back to
//! the element type after every step, so a chain of operations matches one done in that type.

use super::{ints_of, need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::{norm_axis, strides};
use crate::tensor::{DType, Tensor};
use half::{bf16, f16};

/// A binary combining function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccOp {
    Add,
    Mul,
    Max,
    Min,
}

/// A tensor's elements in a form that combines exactly.
#[derive(Clone, Debug)]
pub enum Vals {
    /// Floats (f32, f64, f16, bf16), rounded to `DType` after each step.
    F(DType, Vec<f64>),
    /// Signed and narrow unsigned integers, and bool.
    I(DType, Vec<i64>),
    /// uint64, which `i64` cannot order.
    U(Vec<u64>),
}

/// Rounds an `f64` to the nearest value of a float element type.
fn round_to(d: DType, x: f64) -> f64 {
    match d {
        DType::F32 => x as f32 as f64,
        DType::F16 => f16::from_f64(x).to_f64(),
        DType::BF16 => bf16::from_f64(x).to_f64(),
        _ => x,
    }
}

impl Vals {
    /// The elements of `t`; errors for types that have no arithmetic here.
    pub fn of(t: &Tensor) -> Result<Vals, String> {
        let d = t.dtype();
        Ok(match d {
            DType::F32 | DType::F64 | DType::F16 | DType::BF16 => Vals::F(d, t.to_f64_vec()?),
            DType::U64 => Vals::U(t.to_vec::<u64>()?),
            d if d.is_int() || d == DType::Bool => Vals::I(d, t.to_i64_vec()?),
            d => return Err(format!("{d} elements cannot be combined arithmetically")),
        })
    }

    pub fn len(&self) -> usize {
        match self {
            Vals::F(_, v) => v.len(),
            Vals::I(_, v) => v.len(),
            Vals::U(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `n` copies of the identity of `op` (only Add and Mul have one).
    pub fn identity_like(&self, op: AccOp, n: usize) -> Result<Vals, String> {
        let (f, i) = match op {
            AccOp::Add => (0.0, 0),
            AccOp::Mul => (1.0, 1),
            _ => return Err(format!("{op:?} has no identity element")),
        };
        Ok(match self {
            Vals::F(d, _) => Vals::F(*d, vec![f; n]),
            Vals::I(d, _) => Vals::I(*d, vec![i; n]),
            Vals::U(_) => Vals::U(vec![i as u64; n]),
        })
    }

    /// `self[dst] = op(self[a], other[b])`. `other` must have the same variant.
    pub fn combine(&mut self, dst: usize, a: usize, other: &Vals, b: usize, op: AccOp) -> Result<(), String> {
        match (self, other) {
            (Vals::F(d, x), Vals::F(_, y)) => {
                let (p, q) = (x[a], y[b]);
                let r = match op {
                    AccOp::Add => p + q,
                    AccOp::Mul => p * q,
                    AccOp::Max if p.is_nan() || q.is_nan() => f64::NAN,
                    AccOp::Min if p.is_nan() || q.is_nan() => f64::NAN,
                    AccOp::Max => p.max(q),
                    AccOp::Min => p.min(q),
                };
                x[dst] = round_to(*d, r);
            }
            (Vals::I(_, x), Vals::I(_, y)) => {
                let (p, q) = (x[a], y[b]);
                x[dst] = match op {
                    AccOp::Add => p.wrapping_add(q),
                    AccOp::Mul => p.wrapping_mul(q),
                    AccOp::Max => p.max(q),
                    AccOp::Min => p.min(q),
                };
            }
            (Vals::U(x), Vals::U(y)) => {
                let (p, q) = (x[a], y[b]);
                x[dst] = match op {
                    AccOp::Add => p.wrapping_add(q),
                    AccOp::Mul => p.wrapping_mul(q),
                    AccOp::Max => p.max(q),
                    AccOp::Min => p.min(q),
                };
            }
            _ => return Err("cannot combine elements of different types".into()),
        }
        Ok(())
    }

    /// `self[dst] = other[src]`.
    pub fn assign(&mut self, dst: usize, other: &Vals, src: usize) -> Result<(), String> {
        match (self, other) {
            (Vals::F(_, x), Vals::F(_, y)) => x[dst] = y[src],
            (Vals::I(_, x), Vals::I(_, y)) => x[dst] = y[src],
            (Vals::U(x), Vals::U(y)) => x[dst] = y[src],
            _ => return Err("cannot assign elements of different types".into()),
        }
        Ok(())
    }

    /// Back to a tensor of the original element type.
    pub fn to_tensor(&self, shape: &[usize]) -> Result<Tensor, String> {
        match self {
            Vals::F(d, v) => Tensor::from_f64(*d, shape, v),
            Vals::I(d, v) => Tensor::from_i64(*d, shape, v),
            Vals::U(v) => Tensor::new(shape, v.clone()),
        }
    }
}

// ---- CumSum / CumProd ----------------------------------------------------------------------

#[derive(Clone, Debug)]
pub struct Cumulative {
    /// Add for CumSum, Mul for CumProd.
    pub op: AccOp,
    pub exclusive: bool,
    pub reverse: bool,
}

fn check_numeric(d: DType) -> Result<(), String> {
    if matches!(d, DType::F32 | DType::F64 | DType::F16 | DType::BF16) || d.is_int() {
        Ok(())
    } else {
        Err(format!("cannot accumulate {d} elements"))
    }
}

impl Cumulative {
    pub fn axis(axis: &Tensor, rank: usize) -> Result<usize, String> {
        if !matches!(axis.dtype(), DType::I32 | DType::I64) {
            return Err(format!("axis must be int32 or int64, got {}", axis.dtype()));
        }
        let a = ints_of(axis)?;
        if a.len() != 1 || axis.rank() > 1 {
            return Err(format!("axis must be a scalar, got shape {:?}", axis.shape()));
        }
        norm_axis(a[0], rank.max(1))
    }
}

impl OpSpec for Cumulative {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        check_numeric(x.dtype)?;
        let a = cx.input(1)?;
        if !matches!(a.dtype, DType::I32 | DType::I64) {
            return Err(format!("axis must be int32 or int64, got {}", a.dtype));
        }
        if let Some(v) = a.value {
            Self::axis(v, x.rank())?;
        }
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        check_numeric(x.dtype())?;
        let shape = x.shape().to_vec();
        if shape.is_empty() {
            // A scalar is a one-element line.
            Self::axis(need(inputs, 1)?, 1)?;
            let out = if self.exclusive { Vals::of(x)?.identity_like(self.op, 1)? } else { Vals::of(x)? };
            return Ok(vec![out.to_tensor(&shape)?]);
        }
        let axis = Self::axis(need(inputs, 1)?, shape.len())?;
        let xv = Vals::of(x)?;
        let mut out = xv.clone();
        let len = shape[axis];
        let step = strides(&shape)[axis];
        let outer: usize = shape[..axis].iter().product();
        for o in 0..outer {
            for i in 0..step {
                let base = o * len * step + i;
                // Positions along the line, in accumulation order.
                let pos = |k: usize| base + (if self.reverse { len - 1 - k } else { k }) * step;
                if len == 0 {
                    continue;
                }
                if self.exclusive {
                    let id = xv.identity_like(self.op, 1)?;
                    out.assign(pos(0), &id, 0)?;
                    for k in 1..len {
                        out.combine(pos(k), pos(k - 1), &xv, pos(k - 1), self.op)?;
                    }
                } else {
                    for k in 1..len {
                        out.combine(pos(k), pos(k - 1), &xv, pos(k), self.op)?;
                    }
                }
            }
        }
        Ok(vec![out.to_tensor(&shape)?])
    }
}

fn import_cumulative(c: &NodeCtx, op: AccOp) -> Result<Op, String> {
    let flag = |name: &str| -> Result<bool, String> {
        match c.attrs.int(name, 0)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(format!("attribute '{name}' must be 0 or 1, got {v}")),
        }
    };
    Ok(Op::Cumulative(Cumulative { op, exclusive: flag("exclusive")?, reverse: flag("reverse")? }))
}

pub fn import_cumsum(c: &NodeCtx) -> Result<Op, String> {
    import_cumulative(c, AccOp::Add)
}

pub fn import_cumprod(c: &NodeCtx) -> Result<Op, String> {
    import_cumulative(c, AccOp::Mul)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(op: AccOp, exclusive: bool, reverse: bool, x: &Tensor, axis: i64) -> Tensor {
        let c = Cumulative { op, exclusive, reverse };
        let a = Tensor::scalar(axis);
        c.eval(&[Some(x), Some(&a)], 1).unwrap().remove(0)
    }

    #[test]
    fn cumsum_modes() {
        let x = Tensor::new(&[2, 3], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let y = run(AccOp::Add, false, false, &x, 1);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[1.0, 3.0, 6.0, 4.0, 9.0, 15.0]);
        let y = run(AccOp::Add, true, true, &x, 1);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[5.0, 3.0, 0.0, 11.0, 6.0, 0.0]);
        let y = run(AccOp::Add, false, false, &x, -2);
        assert_eq!(y.as_slice::<f32>().unwrap(), &[1.0, 2.0, 3.0, 5.0, 7.0, 9.0]);
    }

    #[test]
    fn cumprod_int_exact_and_bad_axis() {
        let x = Tensor::new(&[3], vec![i64::MAX / 2, 2, 1]).unwrap();
        let y = run(AccOp::Mul, true, false, &x, 0);
        assert_eq!(y.as_slice::<i64>().unwrap(), &[1, i64::MAX / 2, (i64::MAX / 2) * 2]);
        let c = Cumulative { op: AccOp::Mul, exclusive: false, reverse: false };
        let a = Tensor::scalar(1i64);
        assert!(c.eval(&[Some(&x), Some(&a)], 1).is_err());
    }

    #[test]
    fn u64_max_orders_unsigned() {
        let mut a = Vals::U(vec![u64::MAX, 1]);
        let b = a.clone();
        a.combine(1, 1, &b, 0, AccOp::Max).unwrap();
        assert_eq!(a.to_tensor(&[2]).unwrap().as_slice::<u64>().unwrap(), &[u64::MAX, u64::MAX]);
    }
}
