//! Internal fused ops of the optimizer's elementwise and matrix-product fusions, never imported
//! from a model:
//! - [`FusedElementwise`] (`crate::opt::fuse_elementwise`): a small program over registers that
//!   replaces a tree/DAG of elementwise nodes (unary functions, broadcasting binary arithmetic,
//!   comparisons and predicates kept internal, Where on an internal condition). Registers
//!   `0..n_inputs` hold the (broadcast) inputs, register `n_inputs + k` the result of
//!   instruction `k`; the last instruction's result is the output. Scalar constants are
//!   immediates. The CPU kernel evaluates each instruction in f64 and rounds it to the element
//!   type, exactly as the unfused reference kernels round every intermediate tensor.
//! - [`FusedMatMul`] (`crate::opt::fuse_matmul`): `act(alpha · MatMul(op(A), op(B)) + C)` or
//!   `act(Gemm(A, B, C))`, op permuting/transposing an operand and the result stored
//!   permuted (`crate::opt::fold_transpose`), computed on the CPU by the reference kernels of the
//!   nodes it replaces.

use super::elementwise::{broadcast_map, Binary, BinaryOp, UnaryOp};
use super::fused::Act;
use super::matmul::{matmul_dims, operand_perm, Gemm, MatMul};
use super::{vt, InferCx, OpSpec};
use crate::ir::ValueType;
use crate::tensor::shape::broadcast_dims;
use crate::tensor::{DType, Dim, Tensor};

/// Most tensor inputs of one fused node (the GPU kernel binds them plus the output: 7 of the 8
/// storage buffers WebGPU guarantees per stage).
pub const MAX_INPUTS: usize = 6;
/// Most instructions of one fused node.
pub const MAX_OPS: usize = 12;
/// Most immediates (scalar constants and unary parameters) of one fused node.
pub const MAX_IMMS: usize = 16;

/// Unary functions a fused program may apply (computed in f32 on the GPU, like
/// `shaders/elementwise/unary.wgsl`): all but the inverse and hyperbolic trigonometry, which
/// stay with the unary kernel. Not, IsNaN and IsInf produce 0/1 (internal bools).
pub fn fusable_unary(op: UnaryOp) -> bool {
    use UnaryOp::*;
    !matches!(op, Tan | Asin | Acos | Atan | Sinh | Cosh | Asinh | Acosh | Atanh)
}

/// Binary functions a fused program may apply; comparisons produce 0/1 (internal bools).
pub const FUSABLE_BINARY: [BinaryOp; 13] = {
    use BinaryOp::*;
    [Add, Sub, Mul, Div, Pow, Max, Min, PRelu, Equal, Less, LessOrEqual, Greater, GreaterOrEqual]
};

/// Whether a unary function reads its `alpha`/`beta` parameters.
pub fn unary_has_params(op: UnaryOp) -> bool {
    use UnaryOp::*;
    matches!(op, LeakyRelu | Elu | Selu | Celu | HardSigmoid | ThresholdedRelu | Affine | Clip | IsInf)
}

/// Whether a function's result is a bool (0/1).
pub fn yields_bool(op: EwOp) -> bool {
    match op {
        EwOp::Unary(u, ..) => matches!(u, UnaryOp::Not | UnaryOp::IsNaN | UnaryOp::IsInf),
        EwOp::Binary(b) => b.is_comparison(),
        EwOp::Where => false,
    }
}

/// One function of a fused program.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EwOp {
    /// A unary function with its `alpha`, `beta`.
    Unary(UnaryOp, f32, f32),
    Binary(BinaryOp),
    /// `select(c, a, b)`: arguments (condition, a, b).
    Where,
}

/// An operand: a register or an immediate scalar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arg {
    Reg(usize),
    Imm(f32),
}

/// One instruction: `op` over `args` (1 for unary, 2 for binary, 3 for Where).
#[derive(Clone, Debug, PartialEq)]
pub struct Instr {
    pub op: EwOp,
    pub args: Vec<Arg>,
}

/// A fused elementwise program over `n_inputs` tensors of one float type `dtype`.
#[derive(Clone, Debug, PartialEq)]
pub struct FusedElementwise {
    pub n_inputs: usize,
    pub prog: Vec<Instr>,
    pub dtype: DType,
}

/// Rounds `x` to the precision of `dtype` (the reference kernels' rounding of an intermediate).
fn round_to(dtype: DType, x: f64) -> f64 {
    match dtype {
        DType::F32 => x as f32 as f64,
        DType::F16 => half::f16::from_f64(x).to_f64(),
        DType::BF16 => half::bf16::from_f64(x).to_f64(),
        _ => x,
    }
}

impl FusedElementwise {
    /// Checks register references, arities and limits.
    pub fn validate(&self) -> Result<(), String> {
        if self.n_inputs == 0 || self.n_inputs > MAX_INPUTS {
            return Err(format!("{} inputs (1 to {MAX_INPUTS} supported)", self.n_inputs));
        }
        if self.prog.is_empty() || self.prog.len() > MAX_OPS {
            return Err(format!("{} instructions (1 to {MAX_OPS} supported)", self.prog.len()));
        }
        for (k, ins) in self.prog.iter().enumerate() {
            let arity = match ins.op {
                EwOp::Unary(..) => 1,
                EwOp::Binary(_) => 2,
                EwOp::Where => 3,
            };
            if ins.args.len() != arity {
                return Err(format!("instruction {k} has {} operands, {:?} takes {arity}", ins.args.len(), ins.op));
            }
            for a in &ins.args {
                if let Arg::Reg(r) = *a {
                    if r >= self.n_inputs + k {
                        return Err(format!("instruction {k} reads register {r} before it is written"));
                    }
                }
            }
        }
        if self.prog.last().is_some_and(|i| yields_bool(i.op)) {
            return Err("the program's result must not be a bool".into());
        }
        Ok(())
    }

    /// Evaluates the program on one element's input values.
    pub fn eval_one(&self, regs: &mut Vec<f64>) -> f64 {
        regs.truncate(self.n_inputs);
        for ins in &self.prog {
            let get = |a: &Arg, regs: &[f64]| match *a {
                Arg::Reg(r) => regs[r],
                Arg::Imm(v) => v as f64,
            };
            let v = match ins.op {
                EwOp::Unary(op, al, be) => op.apply(get(&ins.args[0], regs), al as f64, be as f64),
                EwOp::Binary(op) => op.apply(get(&ins.args[0], regs), get(&ins.args[1], regs)),
                EwOp::Where => {
                    if get(&ins.args[0], regs) != 0.0 {
                        get(&ins.args[1], regs)
                    } else {
                        get(&ins.args[2], regs)
                    }
                }
            };
            regs.push(if yields_bool(ins.op) { v } else { round_to(self.dtype, v) });
        }
        regs.last().copied().unwrap_or(0.0)
    }
}

/// The first immediate operand slot of an encoded program (registers are below it).
pub const IMM0: u32 = 32;
/// Binary op codes are `BIN0 + BinaryOp`; unary codes are the `UnaryOp` discriminant.
pub const BIN0: u32 = 64;
/// The op code of Where.
pub const WHERE_CODE: u32 = 128;

/// A program as the GPU kernel's prelude and params carry it.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoded {
    /// Per instruction: the op code.
    pub code: Vec<u32>,
    /// Per instruction: operand slots (a register, or `IMM0 + j`); a unary op's `alpha`,
    /// `beta` are its second and third slots (immediates), unused slots repeat the first.
    pub slots: Vec<[u32; 3]>,
    /// The immediates' values.
    pub imms: Vec<f32>,
}

impl FusedElementwise {
    /// Encodes the program into op codes, operand slots and immediates (within the limits).
    pub fn encode(&self) -> Result<Encoded, String> {
        self.validate()?;
        let mut e = Encoded { code: vec![], slots: vec![], imms: vec![] };
        let imm = |imms: &mut Vec<f32>, v: f32, share: bool| -> u32 {
            if share {
                if let Some(j) = imms.iter().position(|x| x.to_bits() == v.to_bits()) {
                    return IMM0 + j as u32;
                }
            }
            imms.push(v);
            IMM0 + imms.len() as u32 - 1
        };
        for ins in &self.prog {
            let mut s = [0u32; 3];
            for (j, a) in ins.args.iter().enumerate() {
                s[j] = match *a {
                    Arg::Reg(r) => r as u32,
                    Arg::Imm(v) => imm(&mut e.imms, v, true),
                };
            }
            let code = match ins.op {
                EwOp::Unary(op, al, be) => {
                    if unary_has_params(op) {
                        s[1] = imm(&mut e.imms, al, false);
                        s[2] = imm(&mut e.imms, be, false);
                    } else {
                        s[1] = s[0];
                        s[2] = s[0];
                    }
                    op as u32
                }
                EwOp::Binary(op) => {
                    s[2] = s[0];
                    BIN0 + op as u32
                }
                EwOp::Where => WHERE_CODE,
            };
            e.code.push(code);
            e.slots.push(s);
        }
        if e.imms.len() > MAX_IMMS {
            return Err(format!("{} immediates (at most {MAX_IMMS})", e.imms.len()));
        }
        Ok(e)
    }
}

impl OpSpec for FusedElementwise {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        self.validate()?;
        let mut dims: Vec<&[Dim]> = Vec::new();
        for i in 0..self.n_inputs {
            let x = cx.input(i)?;
            if x.dtype != self.dtype {
                return Err(format!("input {i} is {}, the fused program computes {}", x.dtype, self.dtype));
            }
            dims.push(&x.dims);
        }
        Ok(vec![vt(self.dtype, broadcast_dims(&dims)?)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        self.validate()?;
        let mut data = Vec::with_capacity(self.n_inputs);
        for i in 0..self.n_inputs {
            let x = inputs.get(i).copied().flatten().ok_or_else(|| format!("input {i} is required"))?;
            if x.dtype() != self.dtype {
                return Err(format!("input {i} is {}, the fused program computes {}", x.dtype(), self.dtype));
            }
            data.push((x.to_f64_vec()?, x.shape().to_vec()));
        }
        let ins: Vec<(&[f64], &[usize])> = data.iter().map(|(v, s)| (v.as_slice(), s.as_slice())).collect();
        let mut regs = Vec::with_capacity(self.n_inputs + self.prog.len());
        let (out, shape) = broadcast_map(&ins, |args| {
            regs.clear();
            regs.extend_from_slice(args);
            Ok(self.eval_one(&mut regs))
        })?;
        Ok(vec![Tensor::from_f64(self.dtype, &shape, &out)?])
    }
}

/// The matrix product a [`FusedMatMul`] starts from.
#[derive(Clone, Debug)]
pub enum MatMulBase {
    /// `MatMul(A, B)`, plus an optional bias `C` added with broadcasting (that leaves the
    /// product's shape unchanged).
    MatMul,
    /// `Gemm(A, B, C)` with its own C.
    Gemm(Gemm),
}

/// `act(alpha · MatMul(op(A), op(B)) + C + R)` or `act(Gemm(A, B, C))`: inputs A, B, optional
/// C (broadcast to the product) and, for the MatMul base, an optional residual R (input 3, the
/// product's shape: a second Add fused after the bias).
#[derive(Clone, Debug)]
pub struct FusedMatMul {
    pub base: MatMulBase,
    pub act: Act,
    /// MatMul base: A (B) is stored with its last two axes swapped, op(A) swaps them back (a
    /// Transpose folded by `crate::opt::fold_transpose`; Gemm takes it as `trans_a`/`trans_b`).
    pub trans_a: bool,
    pub trans_b: bool,
    /// MatMul base: A (B) is read as `Transpose(input, perm)` before `trans_a` (`trans_b`)
    /// applies, and the result is stored as `Transpose(act(product + C), perm_y)` (perm_y keeps
    /// the last axis last; never with C). Folded Transposes of `crate::opt::fold_transpose`,
    /// read and written through strides ([`crate::ops::matmul::matmul_layout`]).
    pub perm_a: Option<Vec<usize>>,
    pub perm_b: Option<Vec<usize>>,
    pub perm_y: Option<Vec<usize>>,
    /// MatMul base: the product is scaled by alpha before C is added (scalar factors of the
    /// operands folded by `crate::opt::fold_scale`).
    pub alpha: f32,
}

impl FusedMatMul {
    /// A product without epilogue or transposed operands.
    pub fn plain(base: MatMulBase) -> FusedMatMul {
        FusedMatMul {
            base,
            act: Act::NONE,
            trans_a: false,
            trans_b: false,
            perm_a: None,
            perm_b: None,
            perm_y: None,
            alpha: 1.0,
        }
    }

    /// Whether an operand or the result is permuted beyond a last-two-axes swap.
    pub fn permuted(&self) -> bool {
        self.perm_a.is_some() || self.perm_b.is_some() || self.perm_y.is_some()
    }
}

/// Operand (or result) dims as read through [`operand_perm`].
fn view_dims(dims: &[Dim], perm: Option<&[usize]>, trans: bool) -> Result<Vec<Dim>, String> {
    Ok(match operand_perm(dims.len(), perm, trans)? {
        None => dims.to_vec(),
        Some(p) => p.iter().map(|&i| dims[i].clone()).collect(),
    })
}

/// `x` as read through [`operand_perm`], materialized by one Transpose.
fn view_tensor(x: &Tensor, perm: Option<&[usize]>, trans: bool) -> Result<Tensor, String> {
    match operand_perm(x.rank(), perm, trans)? {
        None => Ok(x.clone()),
        Some(p) => {
            let perm = Some(p.iter().map(|&i| i as i64).collect());
            one(super::layout::Transpose { perm }.eval(&[Some(x)], 1)?)
        }
    }
}

fn one(v: Vec<Tensor>) -> Result<Tensor, String> {
    v.into_iter().next().ok_or_else(|| "a kernel returned no output".to_string())
}

impl OpSpec for FusedMatMul {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        match &self.base {
            MatMulBase::Gemm(g) => {
                Gemm { trans_a: g.trans_a ^ self.trans_a, trans_b: g.trans_b ^ self.trans_b, ..g.clone() }.infer(cx)
            }
            MatMulBase::MatMul => {
                let (a, b) = (cx.input(0)?, cx.input(1)?);
                if a.dtype != b.dtype {
                    return Err(format!("MatMul operand types differ: {} vs {}", a.dtype, b.dtype));
                }
                let la = view_dims(&a.dims, self.perm_a.as_deref(), self.trans_a)?;
                let lb = view_dims(&b.dims, self.perm_b.as_deref(), self.trans_b)?;
                let dims = matmul_dims(&la, &lb)?;
                let out = vec![vt(a.dtype, dims)];
                if let (Some(c), Some(y)) = (cx.opt(2), out.first()) {
                    let bd = broadcast_dims(&[&y.dims, &c.dims])?;
                    if c.dtype != y.dtype || bd != y.dims || self.perm_y.is_some() {
                        return Err(format!("the bias {:?} does not broadcast to the product {y}", c.dims));
                    }
                }
                if let (Some(r), Some(y)) = (cx.opt(3), out.first()) {
                    if r.dtype != y.dtype || r.dims != y.dims || self.perm_y.is_some() {
                        return Err(format!("the residual {:?} does not have the product's shape {y}", r.dims));
                    }
                }
                match &self.perm_y {
                    None => Ok(out),
                    Some(p) => Ok(vec![vt(a.dtype, view_dims(&out[0].dims, Some(p), false)?)]),
                }
            }
        }
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n: usize) -> Result<Vec<Tensor>, String> {
        let y = match &self.base {
            MatMulBase::Gemm(g) => {
                let g = Gemm { trans_a: g.trans_a ^ self.trans_a, trans_b: g.trans_b ^ self.trans_b, ..g.clone() };
                one(g.eval(inputs, n)?)?
            }
            MatMulBase::MatMul => {
                let need = |i: usize| inputs.get(i).copied().flatten().ok_or(format!("input {i} is required"));
                let a = view_tensor(need(0)?, self.perm_a.as_deref(), self.trans_a)?;
                let b = view_tensor(need(1)?, self.perm_b.as_deref(), self.trans_b)?;
                let mut y = one(MatMul.eval(&[Some(&a), Some(&b)], n)?)?;
                if self.alpha != 1.0 {
                    // The reference rounds the scaled product to the element type once.
                    let v: Vec<f64> = y.to_f64_vec()?.iter().map(|&x| x * self.alpha as f64).collect();
                    y = Tensor::from_f64(y.dtype(), y.shape(), &v)?;
                }
                // The bias (broadcast), then the residual (the product's shape).
                for (i, what) in [(2, "bias"), (3, "residual")] {
                    if let Some(c) = inputs.get(i).copied().flatten() {
                        let s = one(Binary { op: BinaryOp::Add }.eval(&[Some(&y), Some(c)], 1)?)?;
                        if s.shape() != y.shape() || (i == 3 && c.shape() != y.shape()) {
                            return Err(format!("the {what} {:?} does not fit the product {:?}", c.shape(), y.shape()));
                        }
                        y = s;
                    }
                }
                y
            }
        };
        Ok(vec![view_tensor(&self.act.apply(y)?, self.perm_y.as_deref(), false)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_rounds_like_the_unfused_kernels() {
        // y = Gelu-by-parts: (x * 0.5) * (1 + erf(x / sqrt 2)), x broadcast against a bias row.
        let p = FusedElementwise {
            n_inputs: 2,
            prog: vec![
                Instr { op: EwOp::Binary(BinaryOp::Add), args: vec![Arg::Reg(0), Arg::Reg(1)] },
                Instr { op: EwOp::Binary(BinaryOp::Div), args: vec![Arg::Reg(2), Arg::Imm(std::f32::consts::SQRT_2)] },
                Instr { op: EwOp::Unary(UnaryOp::Erf, 0.0, 0.0), args: vec![Arg::Reg(3)] },
                Instr { op: EwOp::Binary(BinaryOp::Add), args: vec![Arg::Reg(4), Arg::Imm(1.0)] },
                Instr { op: EwOp::Binary(BinaryOp::Mul), args: vec![Arg::Reg(2), Arg::Imm(0.5)] },
                Instr { op: EwOp::Binary(BinaryOp::Mul), args: vec![Arg::Reg(6), Arg::Reg(5)] },
            ],
            dtype: DType::F32,
        };
        let x = Tensor::new(&[2, 3], vec![-2.0f32, -0.5, 0.0, 0.25, 1.0, 3.0]).unwrap();
        let b = Tensor::new(&[3], vec![0.1f32, -0.2, 0.3]).unwrap();
        let y = p.eval(&[Some(&x), Some(&b)], 1).unwrap().remove(0);
        assert_eq!(y.shape(), &[2, 3]);
        let xs = x.to_f64_vec().unwrap();
        for (i, v) in y.to_f64_vec().unwrap().iter().enumerate() {
            let h = (xs[i] + [0.1f32, -0.2, 0.3][i % 3] as f64) as f32 as f64;
            let want = UnaryOp::Gelu.apply(h, 0.0, 0.0);
            assert!((v - want).abs() < 1e-6, "{v} vs {want}");
        }
        let bad = FusedElementwise { n_inputs: 1, prog: vec![p.prog[0].clone()], dtype: DType::F32 };
        assert!(bad.validate().is_err(), "register 1 is read before it exists");
    }
}
