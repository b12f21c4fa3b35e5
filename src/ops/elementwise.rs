//! Elementwise operators (ai.onnx): unary math and activations, binary arithmetic / comparison
//! / logic with multidirectional broadcasting, variadic Sum/Max/Min/Mean, Clip (attribute form
//! before opset 11, inputs after), Where (Cast lives in `convert`). Reference kernels compute floats in f64 and
//! round to the output type; integers in i64 with the output width's wrap-around.

use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::{broadcast_dims, broadcast_shapes, broadcast_strides, strides};
use crate::tensor::{DType, Tensor};

/// Unary elementwise functions. The discriminant is the shader's op code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum UnaryOp {
    Relu,
    Sigmoid,
    Tanh,
    Exp,
    Log,
    Neg,
    Abs,
    Sqrt,
    Reciprocal,
    Floor,
    Ceil,
    Round,
    Sign,
    Erf,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Asinh,
    Acosh,
    Atanh,
    Softplus,
    Softsign,
    LeakyRelu,
    Elu,
    Selu,
    Celu,
    HardSigmoid,
    HardSwish,
    ThresholdedRelu,
    Gelu,
    GeluTanh,
    Mish,
    /// `x * alpha + beta`: used by lowerings (Mean's divide, Cast) and fusion.
    Affine,
    /// `min(max(x, alpha), beta)`: Clip with bounds known at plan time.
    Clip,
    Not,
    IsNaN,
    IsInf,
}

impl UnaryOp {
    /// Every variant, in discriminant order.
    pub const ALL: [UnaryOp; 42] = {
        use UnaryOp::*;
        [
            Relu,
            Sigmoid,
            Tanh,
            Exp,
            Log,
            Neg,
            Abs,
            Sqrt,
            Reciprocal,
            Floor,
            Ceil,
            Round,
            Sign,
            Erf,
            Sin,
            Cos,
            Tan,
            Asin,
            Acos,
            Atan,
            Sinh,
            Cosh,
            Asinh,
            Acosh,
            Atanh,
            Softplus,
            Softsign,
            LeakyRelu,
            Elu,
            Selu,
            Celu,
            HardSigmoid,
            HardSwish,
            ThresholdedRelu,
            Gelu,
            GeluTanh,
            Mish,
            Affine,
            Clip,
            Not,
            IsNaN,
            IsInf,
        ]
    };

    /// Evaluates the function on one float (in f64).
    pub fn apply(self, x: f64, alpha: f64, beta: f64) -> f64 {
        use UnaryOp::*;
        match self {
            Relu => {
                if x > 0.0 || x.is_nan() {
                    x
                } else {
                    0.0
                }
            }
            Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Tanh => x.tanh(),
            Exp => x.exp(),
            Log => x.ln(),
            Neg => -x,
            Abs => x.abs(),
            Sqrt => x.sqrt(),
            Reciprocal => 1.0 / x,
            Floor => x.floor(),
            Ceil => x.ceil(),
            Round => x.round_ties_even(),
            Sign => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    x
                }
            }
            Erf => erf(x),
            Sin => x.sin(),
            Cos => x.cos(),
            Tan => x.tan(),
            Asin => x.asin(),
            Acos => x.acos(),
            Atan => x.atan(),
            Sinh => x.sinh(),
            Cosh => x.cosh(),
            Asinh => x.asinh(),
            Acosh => x.acosh(),
            Atanh => x.atanh(),
            Softplus => {
                if x > 30.0 {
                    x
                } else {
                    x.exp().ln_1p()
                }
            }
            Softsign => x / (1.0 + x.abs()),
            LeakyRelu => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x
                }
            }
            Elu => {
                if x >= 0.0 {
                    x
                } else {
                    alpha * x.exp_m1()
                }
            }
            Selu => {
                if x > 0.0 {
                    beta * x
                } else {
                    beta * alpha * x.exp_m1()
                }
            }
            Celu => x.max(0.0) + (alpha * (x / alpha).exp_m1()).min(0.0),
            HardSigmoid => (alpha * x + beta).clamp(0.0, 1.0),
            HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            ThresholdedRelu => {
                if x > alpha {
                    x
                } else {
                    0.0
                }
            }
            Gelu => 0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2)),
            GeluTanh => {
                let c = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
            }
            Mish => x * UnaryOp::Softplus.apply(x, 0.0, 0.0).tanh(),
            Affine => x * alpha + beta,
            Clip => x.max(alpha).min(beta),
            Not => (x == 0.0) as u8 as f64,
            IsNaN => x.is_nan() as u8 as f64,
            IsInf => {
                // alpha = detect_negative, beta = detect_positive
                ((x == f64::INFINITY && beta != 0.0) || (x == f64::NEG_INFINITY && alpha != 0.0)) as u8 as f64
            }
        }
    }

    /// Integer inputs these functions accept (computed exactly in i64).
    fn apply_int(self, x: i64) -> Option<i64> {
        use UnaryOp::*;
        Some(match self {
            Relu => x.max(0),
            Neg => x.wrapping_neg(),
            Abs => x.wrapping_abs(),
            Sign => x.signum(),
            _ => return None,
        })
    }
}

/// Error function (Abramowitz–Stegun 7.1.26 is too coarse for a reference; this uses the
/// complementary series/continued fraction split with ~1e-15 accuracy).
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let ax = x.abs();
    let r = if ax < 2.5 {
        // Taylor series: erf(x) = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1))
        let mut sum = 0.0f64;
        let mut term = ax;
        let x2 = ax * ax;
        let mut n = 0.0;
        while term.abs() > 1e-17 * sum.abs().max(1e-300) {
            sum += term / (2.0 * n + 1.0);
            n += 1.0;
            term *= -x2 / n;
            if n > 200.0 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else if ax > 6.0 {
        1.0
    } else {
        // Continued fraction for erfc.
        let mut f = 0.0;
        for k in (1..60).rev() {
            f = (k as f64 / 2.0) / (ax + f);
        }
        1.0 - (-ax * ax).exp() / std::f64::consts::PI.sqrt() / (ax + f)
    };
    r.copysign(x)
}

#[derive(Clone, Debug)]
pub struct Unary {
    pub op: UnaryOp,
    pub alpha: f32,
    pub beta: f32,
}

impl OpSpec for Unary {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        let out = match self.op {
            UnaryOp::Not => {
                if x.dtype != DType::Bool {
                    return Err(format!("Not needs bool input, got {}", x.dtype));
                }
                DType::Bool
            }
            UnaryOp::IsNaN | UnaryOp::IsInf => DType::Bool,
            UnaryOp::Relu | UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign => {
                if !(x.dtype.is_float() || x.dtype.is_int()) {
                    return Err(format!("{:?} needs a numeric input, got {}", self.op, x.dtype));
                }
                x.dtype
            }
            _ => {
                if !x.dtype.is_float() {
                    return Err(format!("{:?} needs a float input, got {}", self.op, x.dtype));
                }
                x.dtype
            }
        };
        Ok(vec![vt(out, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let (a, b) = (self.alpha as f64, self.beta as f64);
        if x.dtype().is_int() {
            let v = x.to_i64_vec()?;
            let r: Option<Vec<i64>> = v.iter().map(|&e| self.op.apply_int(e)).collect();
            let r = r.ok_or_else(|| format!("{:?} is not defined on {}", self.op, x.dtype()))?;
            return Ok(vec![Tensor::from_i64(x.dtype(), x.shape(), &r)?]);
        }
        let v = x.to_f64_vec()?;
        let r: Vec<f64> = v.iter().map(|&e| self.op.apply(e, a, b)).collect();
        let out = match self.op {
            UnaryOp::Not | UnaryOp::IsNaN | UnaryOp::IsInf => DType::Bool,
            _ => x.dtype(),
        };
        Ok(vec![Tensor::from_f64(out, x.shape(), &r)?])
    }
}

/// Binary elementwise functions with broadcasting. The discriminant is the shader's op code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
    Mod,
    FMod,
    PRelu,
    And,
    Or,
    Xor,
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    BitShiftLeft,
    BitShiftRight,
    BitwiseAnd,
    BitwiseOr,
    BitwiseXor,
}

impl BinaryOp {
    /// Every variant, in discriminant order.
    pub const ALL: [BinaryOp; 23] = {
        use BinaryOp::*;
        [
            Add,
            Sub,
            Mul,
            Div,
            Pow,
            Max,
            Min,
            Mod,
            FMod,
            PRelu,
            And,
            Or,
            Xor,
            Equal,
            Less,
            LessOrEqual,
            Greater,
            GreaterOrEqual,
            BitShiftLeft,
            BitShiftRight,
            BitwiseAnd,
            BitwiseOr,
            BitwiseXor,
        ]
    };

    pub fn is_comparison(self) -> bool {
        use BinaryOp::*;
        matches!(self, Equal | Less | LessOrEqual | Greater | GreaterOrEqual)
    }
    pub fn is_logic(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Xor)
    }
    pub fn is_bitwise(self) -> bool {
        use BinaryOp::*;
        matches!(self, BitShiftLeft | BitShiftRight | BitwiseAnd | BitwiseOr | BitwiseXor)
    }

    /// Float semantics (also used for bool logic and comparisons).
    pub fn apply(self, a: f64, b: f64) -> f64 {
        use BinaryOp::*;
        match self {
            Add => a + b,
            Sub => a - b,
            Mul => a * b,
            Div => a / b,
            Pow => a.powf(b),
            Max => {
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else {
                    a.max(b)
                }
            }
            Min => {
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else {
                    a.min(b)
                }
            }
            Mod => {
                let r = a % b;
                if r == 0.0 {
                    // Python's %: a zero remainder carries the divisor's sign.
                    0.0f64.copysign(b)
                } else if (r < 0.0) != (b < 0.0) {
                    r + b
                } else {
                    r
                }
            }
            FMod => a % b,
            PRelu => {
                if a < 0.0 {
                    a * b
                } else {
                    a
                }
            }
            And => ((a != 0.0) && (b != 0.0)) as u8 as f64,
            Or => ((a != 0.0) || (b != 0.0)) as u8 as f64,
            Xor => ((a != 0.0) != (b != 0.0)) as u8 as f64,
            Equal => (a == b) as u8 as f64,
            Less => (a < b) as u8 as f64,
            LessOrEqual => (a <= b) as u8 as f64,
            Greater => (a > b) as u8 as f64,
            GreaterOrEqual => (a >= b) as u8 as f64,
            BitShiftLeft | BitShiftRight | BitwiseAnd | BitwiseOr | BitwiseXor => f64::NAN,
        }
    }

    /// Integer semantics (exact; division truncates like C, Mod follows the divisor's sign).
    pub fn apply_int(self, a: i64, b: i64, bits: u32, signed: bool) -> Result<i64, String> {
        use BinaryOp::*;
        Ok(match self {
            Add => a.wrapping_add(b),
            Sub => a.wrapping_sub(b),
            Mul => a.wrapping_mul(b),
            Div => {
                if b == 0 {
                    return Err("integer division by zero".into());
                }
                a.wrapping_div(b)
            }
            Pow => {
                if b < 0 {
                    (a as f64).powf(b as f64) as i64
                } else {
                    a.wrapping_pow(b.min(u32::MAX as i64) as u32)
                }
            }
            Max => a.max(b),
            Min => a.min(b),
            Mod => {
                if b == 0 {
                    return Err("integer modulo by zero".into());
                }
                let r = a.wrapping_rem(b);
                if r != 0 && ((r < 0) != (b < 0)) {
                    r + b
                } else {
                    r
                }
            }
            FMod => {
                if b == 0 {
                    return Err("integer modulo by zero".into());
                }
                a.wrapping_rem(b)
            }
            PRelu => {
                if a < 0 {
                    a.wrapping_mul(b)
                } else {
                    a
                }
            }
            And | Or | Xor | Equal | Less | LessOrEqual | Greater | GreaterOrEqual => {
                self.apply(a as f64, b as f64) as i64
            }
            // Opset 28: a signed right shift is arithmetic; a count that is negative or
            // ≥ the width leaves only the sign fill (-1 for a negative X shifted right).
            BitShiftRight if signed => {
                if b < 0 || b >= bits as i64 {
                    if a < 0 {
                        -1
                    } else {
                        0
                    }
                } else {
                    a >> b
                }
            }
            BitShiftLeft | BitShiftRight => {
                let mask = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
                let ua = (a as u64) & mask;
                if b < 0 || b >= bits as i64 {
                    0
                } else if self == BitShiftLeft {
                    ((ua << b) & mask) as i64
                } else {
                    (ua >> b) as i64
                }
            }
            BitwiseAnd => a & b,
            BitwiseOr => a | b,
            BitwiseXor => a ^ b,
        })
        .map(|r| if signed || bits == 64 { r } else { r & ((1i64 << bits) - 1) })
    }
}

#[derive(Clone, Debug)]
pub struct Binary {
    pub op: BinaryOp,
}

/// Broadcasts `ins` to a common shape and applies `f` to the element tuples.
pub fn broadcast_map<T: Copy, R>(
    ins: &[(&[T], &[usize])],
    mut f: impl FnMut(&[T]) -> Result<R, String>,
) -> Result<(Vec<R>, Vec<usize>), String> {
    let shapes: Vec<&[usize]> = ins.iter().map(|x| x.1).collect();
    let out = broadcast_shapes(&shapes)?;
    let n: usize = out.iter().product();
    let st: Vec<Vec<usize>> = ins.iter().map(|x| broadcast_strides(x.1, &out)).collect();
    let ost = strides(&out);
    let mut res = Vec::with_capacity(n);
    let mut args: Vec<T> = Vec::with_capacity(ins.len());
    for i in 0..n {
        args.clear();
        for (k, (data, _)) in ins.iter().enumerate() {
            let mut off = 0;
            let mut rem = i;
            for d in 0..out.len() {
                let c = rem / ost[d];
                rem %= ost[d];
                off += c * st[k][d];
            }
            args.push(data[off]);
        }
        res.push(f(&args)?);
    }
    Ok((res, out))
}

fn binary_out_dtype(op: BinaryOp, a: DType, b: DType) -> Result<DType, String> {
    if op != BinaryOp::Pow && op != BinaryOp::BitShiftLeft && op != BinaryOp::BitShiftRight && a != b {
        return Err(format!("{op:?} needs inputs of one dtype, got {a} and {b}"));
    }
    if op.is_logic() {
        if a != DType::Bool {
            return Err(format!("{op:?} needs bool inputs, got {a}"));
        }
        return Ok(DType::Bool);
    }
    if op.is_comparison() {
        return Ok(DType::Bool);
    }
    if op.is_bitwise() && !a.is_int() {
        return Err(format!("{op:?} needs integer inputs, got {a}"));
    }
    Ok(a)
}

impl OpSpec for Binary {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (a, b) = (cx.input(0)?, cx.input(1)?);
        let dtype = binary_out_dtype(self.op, a.dtype, b.dtype)?;
        let dims = if self.op == BinaryOp::PRelu {
            // PRelu's slope broadcasts unidirectionally onto X.
            broadcast_dims(&[&a.dims, &b.dims])?
        } else {
            broadcast_dims(&[&a.dims, &b.dims])?
        };
        Ok(vec![vt(dtype, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (a, b) = (need(inputs, 0)?, need(inputs, 1)?);
        let out = binary_out_dtype(self.op, a.dtype(), b.dtype())?;
        if a.dtype() == DType::String && b.dtype() == DType::String && self.op == BinaryOp::Equal {
            // Broadcast over element positions, then compare the strings they name.
            let (sa, sb) = (a.strings()?, b.strings()?);
            let (ia, ib): (Vec<usize>, Vec<usize>) = ((0..sa.len()).collect(), (0..sb.len()).collect());
            let (r, shape) = broadcast_map(&[(&ia, a.shape()), (&ib, b.shape())], |v| Ok(sa[v[0]] == sb[v[1]]))?;
            return Ok(vec![Tensor::from_bools(&shape, &r)?]);
        }
        let ints = a.dtype().is_int() && (b.dtype().is_int() || self.op == BinaryOp::Pow && b.dtype().is_int());
        if ints {
            let (x, y) = (a.to_i64_vec()?, b.to_i64_vec()?);
            let bits = a.dtype().bits() as u32;
            let signed = a.dtype().is_signed_int();
            let (r, shape) =
                broadcast_map(&[(&x, a.shape()), (&y, b.shape())], |v| self.op.apply_int(v[0], v[1], bits, signed))?;
            return Ok(vec![Tensor::from_i64(out, &shape, &r)?]);
        }
        if a.dtype().is_int() && self.op == BinaryOp::Pow {
            // int base, float exponent: compute in float, cast back to the base's type.
            let (x, y) = (a.to_f64_vec()?, b.to_f64_vec()?);
            let (r, shape) = broadcast_map(&[(&x, a.shape()), (&y, b.shape())], |v| Ok(v[0].powf(v[1])))?;
            return Ok(vec![Tensor::from_f64(out, &shape, &r)?]);
        }
        let (x, y) = (a.to_f64_vec()?, b.to_f64_vec()?);
        let (r, shape) = broadcast_map(&[(&x, a.shape()), (&y, b.shape())], |v| Ok(self.op.apply(v[0], v[1])))?;
        Ok(vec![Tensor::from_f64(out, &shape, &r)?])
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VariadicOp {
    Sum,
    Max,
    Min,
    Mean,
}

/// Sum/Max/Min/Mean over any number of broadcast inputs.
#[derive(Clone, Debug)]
pub struct Variadic {
    pub op: VariadicOp,
}

impl Variadic {
    /// The binary op that folds two operands.
    pub fn pairwise(&self) -> BinaryOp {
        match self.op {
            VariadicOp::Sum | VariadicOp::Mean => BinaryOp::Add,
            VariadicOp::Max => BinaryOp::Max,
            VariadicOp::Min => BinaryOp::Min,
        }
    }
}

impl OpSpec for Variadic {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let first = cx.input(0)?;
        let mut dims: Vec<&[crate::tensor::Dim]> = Vec::new();
        for (i, x) in cx.inputs.iter().enumerate() {
            let x = x.as_ref().ok_or_else(|| format!("input {i} is missing"))?;
            if x.dtype != first.dtype {
                return Err(format!("inputs must share one dtype, got {} and {}", first.dtype, x.dtype));
            }
            dims.push(&x.dims);
        }
        Ok(vec![vt(first.dtype, broadcast_dims(&dims)?)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let mut acc = need(inputs, 0)?.clone();
        let bin = Binary { op: self.pairwise() };
        for i in 1..inputs.len() {
            acc = bin.eval(&[Some(&acc), Some(need(inputs, i)?)], 1)?.remove(0);
        }
        if self.op == VariadicOp::Mean {
            let n = inputs.len() as f64;
            let v: Vec<f64> = acc.to_f64_vec()?.iter().map(|x| x / n).collect();
            acc = Tensor::from_f64(acc.dtype(), acc.shape(), &v)?;
        }
        Ok(vec![acc])
    }
}

/// Clip: bounds from attributes (opset < 11) or from optional inputs 1 and 2.
#[derive(Clone, Debug)]
pub struct Clip {
    pub min: Option<f32>,
    pub max: Option<f32>,
}

impl OpSpec for Clip {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        for i in [1, 2] {
            if let Some(b) = cx.opt(i) {
                if !b.dims.is_empty() && b.dims.iter().any(|d| d.known() != Some(1)) {
                    return Err(format!("Clip bound {i} must be a scalar"));
                }
            }
        }
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let bound = |i: usize, attr: Option<f32>| -> Result<Option<f64>, String> {
            match inputs.get(i).copied().flatten() {
                Some(t) => Ok(t.to_f64_vec()?.first().copied()),
                None => Ok(attr.map(|a| a as f64)),
            }
        };
        let lo = bound(1, self.min)?;
        let hi = bound(2, self.max)?;
        let v = x.to_f64_vec()?;
        let r: Vec<f64> = v
            .iter()
            .map(|&e| {
                let mut e = e;
                if let Some(l) = lo {
                    if e < l {
                        e = l;
                    }
                }
                if let Some(h) = hi {
                    if e > h {
                        e = h;
                    }
                }
                e
            })
            .collect();
        Ok(vec![Tensor::from_f64(x.dtype(), x.shape(), &r)?])
    }
}

/// Where(cond, x, y) with broadcasting.
#[derive(Clone, Debug)]
pub struct Where;

impl OpSpec for Where {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (c, x, y) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
        if c.dtype != DType::Bool {
            return Err(format!("condition must be bool, got {}", c.dtype));
        }
        if x.dtype != y.dtype {
            return Err(format!("X and Y must share a dtype, got {} and {}", x.dtype, y.dtype));
        }
        Ok(vec![vt(x.dtype, broadcast_dims(&[&c.dims, &x.dims, &y.dims])?)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (c, x, y) = (need(inputs, 0)?, need(inputs, 1)?, need(inputs, 2)?);
        // Pick, per output element, an element index of X or Y; then copy those elements.
        let cv = c.to_i64_vec()?;
        let xn = x.numel() as i64;
        let xi: Vec<i64> = (0..xn).collect();
        let yi: Vec<i64> = (xn..xn + y.numel() as i64).collect();
        let (sel, shape) = broadcast_map(&[(&cv, c.shape()), (&xi, x.shape()), (&yi, y.shape())], |v| {
            Ok(if v[0] != 0 { v[1] as usize } else { v[2] as usize })
        })?;
        let both = x.concat_flat(y)?;
        Ok(vec![both.take(&sel, &shape)?])
    }
}

// ---- importers -------------------------------------------------------------------------

fn unary(op: UnaryOp, alpha: f32, beta: f32) -> Op {
    Op::Unary(Unary { op, alpha, beta })
}

macro_rules! unary_importers {
    ($($fn:ident => $op:ident),* $(,)?) => {
        $(pub fn $fn(_: &NodeCtx) -> Result<Op, String> { Ok(unary(UnaryOp::$op, 0.0, 0.0)) })*
    };
}

unary_importers! {
    import_relu => Relu, import_sigmoid => Sigmoid, import_tanh => Tanh, import_exp => Exp,
    import_log => Log, import_neg => Neg, import_abs => Abs, import_sqrt => Sqrt,
    import_reciprocal => Reciprocal, import_floor => Floor, import_ceil => Ceil,
    import_round => Round, import_sign => Sign, import_erf => Erf, import_sin => Sin,
    import_cos => Cos, import_tan => Tan, import_asin => Asin, import_acos => Acos,
    import_atan => Atan, import_sinh => Sinh, import_cosh => Cosh, import_asinh => Asinh,
    import_acosh => Acosh, import_atanh => Atanh, import_softplus => Softplus,
    import_softsign => Softsign, import_hardswish => HardSwish, import_mish => Mish,
    import_not => Not, import_isnan => IsNaN,
}

pub fn import_leaky_relu(c: &NodeCtx) -> Result<Op, String> {
    Ok(unary(UnaryOp::LeakyRelu, c.attrs.float("alpha", 0.01)?, 0.0))
}
pub fn import_elu(c: &NodeCtx) -> Result<Op, String> {
    Ok(unary(UnaryOp::Elu, c.attrs.float("alpha", 1.0)?, 0.0))
}
pub fn import_selu(c: &NodeCtx) -> Result<Op, String> {
    Ok(unary(UnaryOp::Selu, c.attrs.float("alpha", 1.673_263_2)?, c.attrs.float("gamma", 1.050_701)?))
}
pub fn import_celu(c: &NodeCtx) -> Result<Op, String> {
    Ok(unary(UnaryOp::Celu, c.attrs.float("alpha", 1.0)?, 0.0))
}
pub fn import_hard_sigmoid(c: &NodeCtx) -> Result<Op, String> {
    Ok(unary(UnaryOp::HardSigmoid, c.attrs.float("alpha", 0.2)?, c.attrs.float("beta", 0.5)?))
}
pub fn import_thresholded_relu(c: &NodeCtx) -> Result<Op, String> {
    Ok(unary(UnaryOp::ThresholdedRelu, c.attrs.float("alpha", 1.0)?, 0.0))
}
pub fn import_gelu(c: &NodeCtx) -> Result<Op, String> {
    match c.attrs.string("approximate", "none")?.as_str() {
        "none" => Ok(unary(UnaryOp::Gelu, 0.0, 0.0)),
        "tanh" => Ok(unary(UnaryOp::GeluTanh, 0.0, 0.0)),
        a => Err(format!("unknown Gelu approximation '{a}'")),
    }
}
pub fn import_isinf(c: &NodeCtx) -> Result<Op, String> {
    Ok(unary(UnaryOp::IsInf, c.attrs.int("detect_negative", 1)? as f32, c.attrs.int("detect_positive", 1)? as f32))
}

macro_rules! binary_importers {
    ($($fn:ident => $op:ident),* $(,)?) => {
        $(pub fn $fn(c: &NodeCtx) -> Result<Op, String> {
            if c.opset < 7 && c.attrs.int("broadcast", 0)? == 1 && c.attrs.has("axis") {
                return Err("legacy broadcasting with an 'axis' attribute (opset < 7) is not supported".into());
            }
            Ok(Op::Binary(Binary { op: BinaryOp::$op }))
        })*
    };
}

binary_importers! {
    import_add => Add, import_sub => Sub, import_mul => Mul, import_div => Div,
    import_pow => Pow, import_prelu => PRelu, import_and => And, import_or => Or,
    import_xor => Xor, import_equal => Equal, import_less => Less,
    import_less_or_equal => LessOrEqual, import_greater => Greater,
    import_greater_or_equal => GreaterOrEqual, import_bitwise_and => BitwiseAnd,
    import_bitwise_or => BitwiseOr, import_bitwise_xor => BitwiseXor,
}

pub fn import_mod(c: &NodeCtx) -> Result<Op, String> {
    let op = if c.attrs.int("fmod", 0)? == 1 { BinaryOp::FMod } else { BinaryOp::Mod };
    Ok(Op::Binary(Binary { op }))
}
pub fn import_bitshift(c: &NodeCtx) -> Result<Op, String> {
    let op = match c.attrs.string("direction", "")?.as_str() {
        "LEFT" => BinaryOp::BitShiftLeft,
        "RIGHT" => BinaryOp::BitShiftRight,
        d => return Err(format!("BitShift direction must be LEFT or RIGHT, got '{d}'")),
    };
    Ok(Op::Binary(Binary { op }))
}
pub fn import_max(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Variadic(Variadic { op: VariadicOp::Max }))
}
pub fn import_min(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Variadic(Variadic { op: VariadicOp::Min }))
}
pub fn import_sum(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Variadic(Variadic { op: VariadicOp::Sum }))
}
pub fn import_mean(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Variadic(Variadic { op: VariadicOp::Mean }))
}
pub fn import_clip(c: &NodeCtx) -> Result<Op, String> {
    if c.opset < 11 {
        Ok(Op::Clip(Clip { min: Some(c.attrs.float("min", f32::MIN)?), max: Some(c.attrs.float("max", f32::MAX)?) }))
    } else {
        Ok(Op::Clip(Clip { min: None, max: None }))
    }
}
pub fn import_where(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Where(Where))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_lists_match_discriminants() {
        for (i, op) in UnaryOp::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i);
        }
        for (i, op) in BinaryOp::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i);
        }
    }

    #[test]
    fn erf_is_accurate() {
        for (x, want) in [
            (0.0, 0.0),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (3.0, 0.999_977_909_503_001_4),
            (-1.5, -0.966_105_146_475_310_7),
        ] {
            assert!((erf(x) - want).abs() < 1e-12, "erf({x}) = {} want {want}", erf(x));
        }
    }
}
