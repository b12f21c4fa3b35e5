//! Internal fused ops produced by the optimizer (`crate::opt::fuse_epilogue`), never imported
//! from a model: a Conv with its epilogue (`Y = act(Conv(X, W, B) + Z)`, the residual `Z` and
//! the activation both optional). The CPU kernel is a thin wrapper: it calls the existing Conv,
//! Add and activation reference kernels in the order the unfused graph ran them, so results
//! (rounding included) are those of the original nodes.

use super::conv::Conv;
use super::elementwise::{Binary, BinaryOp, Unary, UnaryOp};
use super::{InferCx, OpSpec};
use crate::ir::ValueType;
use crate::tensor::Tensor;

/// The activations an epilogue can apply. The discriminant is the shader's `ACT_*` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActKind {
    None = 0,
    Relu = 1,
    /// `min(max(x, alpha), beta)` (Clip with constant bounds; Relu6).
    Clip = 2,
    Sigmoid = 3,
    /// `x * sigmoid(x)`.
    Silu = 4,
    /// `clamp(alpha * x + beta, 0, 1)`.
    HardSigmoid = 5,
    HardSwish = 6,
    /// `x` if `x >= 0` else `alpha * x`.
    LeakyRelu = 7,
    Tanh = 8,
    /// The erf form, `0.5 x (1 + erf(x / √2))`.
    Gelu = 9,
}

impl ActKind {
    /// The unary op whose formula the activation is (`None` for `None` and `Silu`, which is
    /// `x · Sigmoid(x)`): the CPU kernels and `unary_f32` in `shaders/elementwise/unary_lib.wgsl`
    /// compute every activation through it, so each formula exists once.
    pub fn unary(self) -> Option<UnaryOp> {
        Some(match self {
            ActKind::None | ActKind::Silu => return None,
            ActKind::Relu => UnaryOp::Relu,
            ActKind::Clip => UnaryOp::Clip,
            ActKind::Sigmoid => UnaryOp::Sigmoid,
            ActKind::HardSigmoid => UnaryOp::HardSigmoid,
            ActKind::HardSwish => UnaryOp::HardSwish,
            ActKind::LeakyRelu => UnaryOp::LeakyRelu,
            ActKind::Tanh => UnaryOp::Tanh,
            ActKind::Gelu => UnaryOp::Gelu,
        })
    }

    pub const ALL: [ActKind; 10] = [
        ActKind::None,
        ActKind::Relu,
        ActKind::Clip,
        ActKind::Sigmoid,
        ActKind::Silu,
        ActKind::HardSigmoid,
        ActKind::HardSwish,
        ActKind::LeakyRelu,
        ActKind::Tanh,
        ActKind::Gelu,
    ];
}

/// An activation with its parameters (`alpha`/`beta` as in [`Unary`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Act {
    pub kind: ActKind,
    pub alpha: f32,
    pub beta: f32,
}

impl Act {
    pub const NONE: Act = Act { kind: ActKind::None, alpha: 0.0, beta: 0.0 };

    /// The activation a unary op computes, when it is one an epilogue supports.
    pub fn of_unary(u: &Unary) -> Option<Act> {
        let kind = match u.op {
            UnaryOp::Relu => ActKind::Relu,
            UnaryOp::Clip => ActKind::Clip,
            UnaryOp::Sigmoid => ActKind::Sigmoid,
            UnaryOp::HardSigmoid => ActKind::HardSigmoid,
            UnaryOp::HardSwish => ActKind::HardSwish,
            UnaryOp::LeakyRelu => ActKind::LeakyRelu,
            UnaryOp::Tanh => ActKind::Tanh,
            UnaryOp::Gelu => ActKind::Gelu,
            _ => return None,
        };
        Some(Act { kind, alpha: u.alpha, beta: u.beta })
    }

    fn unary(&self, op: UnaryOp) -> Unary {
        Unary { op, alpha: self.alpha, beta: self.beta }
    }

    /// Applies the activation with the reference kernels of the ops it replaces.
    pub fn apply(&self, x: Tensor) -> Result<Tensor, String> {
        let op = match self.kind {
            ActKind::None => return Ok(x),
            ActKind::Silu => {
                let s = one(self.unary(UnaryOp::Sigmoid).eval(&[Some(&x)], 1)?)?;
                return one(Binary { op: BinaryOp::Mul }.eval(&[Some(&x), Some(&s)], 1)?);
            }
            k => k.unary().ok_or("an activation without a unary op")?,
        };
        one(self.unary(op).eval(&[Some(&x)], 1)?)
    }
}

fn one(v: Vec<Tensor>) -> Result<Tensor, String> {
    v.into_iter().next().ok_or_else(|| "a kernel returned no output".to_string())
}

/// `Y = act(Conv(X, W, B) + Z)`: inputs X, W, optional B, optional Z (same shape as Y).
#[derive(Clone, Debug)]
pub struct FusedConv {
    pub conv: Conv,
    pub act: Act,
}

impl OpSpec for FusedConv {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let out = self.conv.infer(cx)?;
        if let (Some(z), Some(y)) = (cx.opt(3), out.first()) {
            if z.dtype != y.dtype || z.dims != y.dims {
                return Err(format!("the residual {:?} does not match the output {y}", z.dims));
            }
        }
        Ok(out)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n: usize) -> Result<Vec<Tensor>, String> {
        let mut y = one(self.conv.eval(&inputs[..inputs.len().min(3)], n)?)?;
        if let Some(z) = inputs.get(3).copied().flatten() {
            if z.shape() != y.shape() {
                return Err(format!("the residual {:?} does not match the output {:?}", z.shape(), y.shape()));
            }
            y = one(Binary { op: BinaryOp::Add }.eval(&[Some(&y), Some(z)], 1)?)?;
        }
        Ok(vec![self.act.apply(y)?])
    }
}
