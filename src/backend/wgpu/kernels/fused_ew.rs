//! GPU lowerings of the optimizer's fused elementwise and matrix-product ops:
//! - `FusedElementwise` runs as ONE dispatch of `shaders/fused/elementwise.wgsl`, a fixed
//!   interpreter specialised by the prelude: the variant key is the program (op codes, operand
//!   slots, input count, which inputs broadcast) and the element type; shapes, broadcast strides
//!   and immediates (scalar constants, unary parameters) are Params.
//! - `FusedMatMul` runs as ONE dispatch of the matrix-product kernel of `super::matmul`: the
//!   bias is its C (read through broadcast strides), the activation its epilogue, transposed
//!   operands are read through strides (a 2-D Gemm when B is a 2-D matrix and the bias a row
//!   vector or the full product; else the batched kernel).

use super::{dims8, grid_1d, u32_of, FamilyKey, GpuKernel, GpuLowering, GpuType, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::elementwise::{BinaryOp, UnaryOp};
use crate::ops::fused_ew::{
    fusable_unary, Arg, EwOp, FusedElementwise, FusedMatMul, Instr, MatMulBase, FUSABLE_BINARY, MAX_INPUTS, MAX_OPS,
};
use crate::ops::matmul::Gemm;
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Operand, Ref};
use crate::tensor::shape::broadcast_strides;
use crate::tensor::DType;

/// A fused program as a pipeline key: everything the generated prelude carries.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FusedEwVariant {
    pub t: GpuType,
    pub n_in: u8,
    pub n_ops: u8,
    /// Per instruction: the op code (`crate::ops::fused_ew::Encoded`).
    pub code: [u8; MAX_OPS],
    /// Per instruction: operand slots.
    pub slots: [[u8; 3]; MAX_OPS],
    /// Per input: read through broadcast strides.
    pub bcast: [bool; MAX_INPUTS],
}

/// A compact kernel label: type, inputs (`b` = broadcast), then `code.a.b.c` per instruction.
impl std::fmt::Debug for FusedEwVariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ins: String = self.bcast[..self.n_in as usize].iter().map(|&b| if b { 'b' } else { 'x' }).collect();
        write!(f, "FusedEw {:?} {ins}", self.t)?;
        for k in 0..self.n_ops as usize {
            let s = self.slots[k];
            write!(f, " {}.{}.{}.{}", self.code[k], s[0], s[1], s[2])?;
        }
        Ok(())
    }
}

impl KernelVariant for FusedEwVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::FUSED_ELEMENTWISE
    }

    fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.codes("UNARY", &UnaryOp::ALL, |o| o as u32).codes("BINARY", &BinaryOp::ALL, |o| o as u32);
        p.lib(&shaders::UNARY_LIB);
        p.u32("N_IN", self.n_in as u32).u32("N_OPS", self.n_ops as u32);
        for k in 0..MAX_OPS {
            p.u32(&format!("OP_{k}"), self.code[k] as u32);
            for (j, name) in ["A", "B", "C"].iter().enumerate() {
                p.u32(&format!("{name}_{k}"), self.slots[k][j] as u32);
            }
        }
        for k in 0..MAX_INPUTS {
            p.bool(&format!("BC_{k}"), self.bcast[k]);
        }
    }

    fn storage_bindings(&self) -> u32 {
        MAX_INPUTS as u32 + 1
    }

    /// Every element type, with programs that use every unary and binary function, Where,
    /// immediates, the most inputs and instructions, and broadcast inputs.
    fn all() -> Vec<Self> {
        let mut progs = Vec::new();
        let unary: Vec<UnaryOp> = UnaryOp::ALL.into_iter().filter(|&u| fusable_unary(u)).collect();
        for chunk in unary.chunks(MAX_OPS) {
            let mut prog: Vec<Instr> = chunk
                .iter()
                .enumerate()
                .map(|(k, &u)| Instr { op: EwOp::Unary(u, 0.5, 2.0), args: vec![Arg::Reg(k)] })
                .collect();
            if prog.len() < MAX_OPS {
                // A float result (the chain may end with a predicate).
                prog.push(Instr { op: EwOp::Unary(UnaryOp::Relu, 0.0, 0.0), args: vec![Arg::Reg(prog.len())] });
            }
            progs.push(FusedElementwise { n_inputs: 1, prog, dtype: DType::F32 });
        }
        let mut prog: Vec<Instr> = FUSABLE_BINARY
            .iter()
            .take(MAX_OPS - 1)
            .enumerate()
            .map(|(k, &b)| {
                let prev = if k == 0 { Arg::Imm(1.5) } else { Arg::Reg(MAX_INPUTS + k - 1) };
                Instr { op: EwOp::Binary(b), args: vec![Arg::Reg(k % MAX_INPUTS), prev] }
            })
            .collect();
        prog.push(Instr { op: EwOp::Where, args: vec![Arg::Reg(MAX_INPUTS + 8), Arg::Reg(5), Arg::Imm(0.0)] });
        progs.push(FusedElementwise { n_inputs: MAX_INPUTS, prog, dtype: DType::F32 });
        let mut v = Vec::new();
        for t in [GpuType::F32, GpuType::F16, GpuType::BF16] {
            for (i, f) in progs.iter().enumerate() {
                let shapes: Vec<Vec<usize>> =
                    (0..f.n_inputs).map(|k| if k % 2 == 1 && i > 0 { vec![3] } else { vec![2, 3] }).collect();
                let refs: Vec<&[usize]> = shapes.iter().map(|s| s.as_slice()).collect();
                if let Ok((KernelKey::Family(FamilyKey::FusedElementwise(x)), _)) = encode(f, t, &refs, &[2, 3]) {
                    v.push(x);
                }
            }
        }
        v
    }
}

gpu_params!(
    /// `shaders/fused/elementwise.wgsl` Params.
    FusedEwParams {
        n: u32,
        rank: u32,
        pad0: u32,
        pad1: u32,
        shape: super::Dims8,
        s0: super::Dims8,
        s1: super::Dims8,
        s2: super::Dims8,
        s3: super::Dims8,
        s4: super::Dims8,
        s5: super::Dims8,
        imm: [[f32; 4]; 4],
    }
);

/// The key and params of program `f` over inputs shaped `ins` into `out`.
fn encode(
    f: &FusedElementwise,
    t: GpuType,
    ins: &[&[usize]],
    out: &[usize],
) -> Result<(KernelKey, FusedEwParams), String> {
    if !matches!(t, GpuType::F32 | GpuType::F16 | GpuType::BF16) {
        return Err(format!("fused elementwise programs on {t:?} have no GPU kernel"));
    }
    if ins.len() != f.n_inputs {
        return Err(format!("{} inputs for a program over {}", ins.len(), f.n_inputs));
    }
    let e = f.encode()?;
    let mut v = FusedEwVariant {
        t,
        n_in: f.n_inputs as u8,
        n_ops: e.code.len() as u8,
        code: [0; MAX_OPS],
        slots: [[0; 3]; MAX_OPS],
        bcast: [false; MAX_INPUTS],
    };
    for (k, (&c, s)) in e.code.iter().zip(&e.slots).enumerate() {
        v.code[k] = c as u8;
        v.slots[k] = [s[0] as u8, s[1] as u8, s[2] as u8];
    }
    let mut p = FusedEwParams {
        n: u32_of(out.iter().product())?,
        rank: out.len() as u32,
        shape: dims8(out)?,
        ..Default::default()
    };
    for (k, s) in ins.iter().enumerate() {
        if s.len() > out.len() {
            return Err(format!("input {k} of shape {s:?} has more dims than the output {out:?}"));
        }
        v.bcast[k] = *s != out;
        let st = dims8(&broadcast_strides(s, out))?;
        match k {
            0 => p.s0 = st,
            1 => p.s1 = st,
            2 => p.s2 = st,
            3 => p.s3 = st,
            4 => p.s4 = st,
            _ => p.s5 = st,
        }
    }
    for (j, &x) in e.imms.iter().enumerate() {
        p.imm[j / 4][j % 4] = x;
    }
    Ok((KernelKey::Family(FamilyKey::FusedElementwise(v)), p))
}

/// One dispatch of program `f` reading `inputs` (shaped `ins`) into `y` (shaped `out`).
pub fn fused_dispatch(
    f: &FusedElementwise,
    t: GpuType,
    ins: &[&[usize]],
    out: &[usize],
    inputs: &[Ref],
    y: Ref,
) -> Result<LoweredDispatch<GpuKernel>, String> {
    let (key, p) = encode(f, t, ins, out)?;
    let n: usize = out.iter().product();
    let mut bindings: Vec<Ref> = inputs.to_vec();
    while bindings.len() < MAX_INPUTS {
        // Unused slots repeat the first input (never read).
        bindings.push(inputs[0]);
    }
    bindings.push(y);
    Ok(LoweredDispatch { kernel: GpuKernel::new(key, &p, grid_1d(n, 256)), bindings })
}

pub fn lower_fused_elementwise(
    l: &GpuLowering,
    cx: &LowerCx,
    f: &FusedElementwise,
) -> Result<Lowered<GpuKernel>, String> {
    let y = cx.output(0)?;
    let t = l.ty(y)?;
    let mut shapes = Vec::new();
    for i in 0..f.n_inputs {
        shapes.push(cx.input(i)?.shape.as_slice());
    }
    let refs: Vec<Ref> = (0..f.n_inputs).map(Ref::Input).collect();
    let d = fused_dispatch(f, t, &shapes, &y.shape, &refs, Ref::Output(0))?;
    Ok(Lowered { dispatches: vec![d], scratch: vec![], consts: vec![] })
}

fn bare(o: &Operand, shape: Vec<usize>) -> Option<Operand> {
    Some(Operand { dtype: o.dtype, shape, value: None })
}

/// A MatMul-based product as one 2-D Gemm when B is a stored 2-D matrix and the bias (if any)
/// a row vector or the full product: A's leading dims flattened into rows (A not transposed,
/// unless it is 2-D itself). `None` when the batched kernel must run it.
fn as_gemm(l: &GpuLowering, cx: &LowerCx, f: &FusedMatMul) -> Result<Option<Lowered<GpuKernel>>, String> {
    let (a, b, y) = (cx.input(0)?, cx.input(1)?, cx.output(0)?);
    let c = cx.inputs.get(2).and_then(|o| o.as_ref());
    let residual = cx.inputs.get(3).is_some_and(|o| o.is_some());
    if b.shape.len() != 2 || a.shape.len() < 2 || (f.trans_a && a.shape.len() != 2) || f.permuted() || residual {
        return Ok(None);
    }
    let (k, n) = if f.trans_b { (b.shape[1], b.shape[0]) } else { (b.shape[0], b.shape[1]) };
    let m: usize = if f.trans_a { a.shape[1] } else { a.shape[..a.shape.len() - 1].iter().product() };
    let cshape = match c {
        None => None,
        Some(c) if c.shape.iter().product::<usize>() == n && c.shape.last() == Some(&n) => Some(vec![n]),
        Some(c) if c.shape == y.shape => Some(vec![m, n]),
        Some(_) => return Ok(None),
    };
    let gm = Gemm { alpha: f.alpha, beta: 1.0, trans_a: f.trans_a, trans_b: f.trans_b };
    let a2 = if f.trans_a { a.shape.clone() } else { vec![m, k] };
    let mut ins = vec![bare(a, a2), bare(b, b.shape.clone())];
    if let (Some(c), Some(s)) = (c, cshape) {
        ins.push(bare(c, s));
    }
    let sub =
        LowerCx { node: cx.node, label: cx.label, inputs: ins, outputs: vec![bare(y, vec![m, n])], limits: cx.limits };
    Ok(Some(super::matmul::lower_gemm_epilogue(l, &sub, &gm, f.act)?))
}

/// One dispatch (one per binding-sized block of a huge B): transposed and permuted operands
/// read, and a permuted result written, through strides, the bias as the product kernel's C, the activation in its epilogue.
pub fn lower_fused_matmul(l: &GpuLowering, cx: &LowerCx, f: &FusedMatMul) -> Result<Lowered<GpuKernel>, String> {
    match &f.base {
        MatMulBase::Gemm(gm) => {
            let gm = Gemm { trans_a: gm.trans_a ^ f.trans_a, trans_b: gm.trans_b ^ f.trans_b, ..gm.clone() };
            super::matmul::lower_gemm_epilogue(l, cx, &gm, f.act)
        }
        MatMulBase::MatMul => {
            if let Some(low) = as_gemm(l, cx, f)? {
                return Ok(low);
            }
            let bias = cx.inputs.get(2).is_some_and(|o| o.is_some());
            let pr = super::matmul::Product {
                trans_a: f.trans_a,
                trans_b: f.trans_b,
                perm_a: f.perm_a.as_deref(),
                perm_b: f.perm_b.as_deref(),
                perm_y: f.perm_y.as_deref(),
                alpha: f.alpha,
                bias,
                residual: cx.inputs.get(3).is_some_and(|o| o.is_some()),
                act: f.act,
            };
            super::matmul::lower_matmul_epilogue(l, cx, pr)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_wgsl() {
        let v = FusedEwVariant::all();
        assert_eq!(v.len(), 12, "every program of all() encodes");
        crate::backend::wgpu::kernels::tests::check::<FusedEwParams>(KernelKey::Family(FamilyKey::FusedElementwise(
            v[0],
        )));
    }

    #[test]
    fn program_limits_are_errors() {
        let f = FusedElementwise {
            n_inputs: 1,
            prog: (0..17)
                .map(|k| Instr { op: EwOp::Binary(BinaryOp::Add), args: vec![Arg::Reg(k), Arg::Imm(k as f32 + 0.5)] })
                .collect(),
            dtype: DType::F32,
        };
        assert!(encode(&f, GpuType::F32, &[&[4]], &[4]).is_err(), "17 instructions");
        let g = FusedElementwise { prog: f.prog[..3].to_vec(), ..f };
        assert!(encode(&g, GpuType::F64, &[&[4]], &[4]).is_err(), "f64");
        assert!(encode(&g, GpuType::F32, &[&[4]], &[4]).is_ok());
    }
}
