//! Matrix-product kernels (`shaders/matmul/matmul.wgsl`): MatMul with broadcast batch dims (up
//! to 4) and Gemm with transposes read through strides and C broadcast through zero strides.

use super::{u32_of, GpuKernel, GpuLowering, GpuType, KernelKey};
use crate::backend::wgpu::shaders::Prelude;
use crate::gpu_params;
use crate::ops::matmul::{matmul_shape, Gemm};
use crate::plan::{LowerCx, Lowered, Ref};
use crate::tensor::shape::broadcast_strides;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatMulVariant {
    pub t: GpuType,
    pub bias: bool,
}

impl MatMulVariant {
    pub fn prelude(&self, p: &mut Prelude) {
        p.alias("T", self.t.wgsl()).bool("HAS_BIAS", self.bias);
    }
}

gpu_params!(
    /// `shaders/matmul/matmul.wgsl` Params.
    MatMulParams {
        m: u32,
        n: u32,
        k: u32,
        batch_rank: u32,
        a_row: u32,
        a_col: u32,
        b_row: u32,
        b_col: u32,
        c_row: u32,
        c_col: u32,
        alpha: f32,
        beta: f32,
        batch_shape: [u32; 4],
        a_batch: [u32; 4],
        b_batch: [u32; 4],
    }
);

const TILE: usize = 64;

fn float_type(l: &GpuLowering, cx: &LowerCx) -> Result<GpuType, String> {
    let t = l.ty(cx.input(0)?)?;
    if !t.is_float() {
        return Err("integer matrix products have no GPU kernel yet".into());
    }
    Ok(t)
}

pub fn lower_matmul(l: &GpuLowering, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
    let t = float_type(l, cx)?;
    let g = matmul_shape(&cx.input(0)?.shape, &cx.input(1)?.shape)?;
    if g.batch.len() > 4 {
        return Err(format!(
            "MatMul with {} batch dims has no GPU kernel (limit 4)",
            g.batch.len()
        ));
    }
    let batch: usize = g.batch.iter().product();
    let mut p = MatMulParams {
        m: u32_of(g.m)?,
        n: u32_of(g.n)?,
        k: u32_of(g.k)?,
        batch_rank: g.batch.len() as u32,
        a_row: u32_of(g.k)?,
        a_col: 1,
        b_row: u32_of(g.n)?,
        b_col: 1,
        alpha: 1.0,
        ..Default::default()
    };
    for (i, ((&s, &sa), &sb)) in g
        .batch
        .iter()
        .zip(&g.a_batch_strides)
        .zip(&g.b_batch_strides)
        .enumerate()
    {
        p.batch_shape[i] = u32_of(s)?;
        p.a_batch[i] = u32_of(sa)?;
        p.b_batch[i] = u32_of(sb)?;
    }
    let grid = [
        g.n.div_ceil(TILE) as u32,
        g.m.div_ceil(TILE) as u32,
        u32_of(batch)?,
    ];
    if grid[2] > 65535 || grid[1] > 65535 {
        return Err("MatMul grid exceeds 65535 workgroups per dimension".into());
    }
    let k = GpuKernel::new(
        KernelKey::MatMul(MatMulVariant { t, bias: false }),
        &p,
        grid,
    );
    // Without bias, binding 2 repeats A (never read).
    Ok(Lowered::single(
        k,
        vec![Ref::Input(0), Ref::Input(1), Ref::Input(0), Ref::Output(0)],
    ))
}

pub fn lower_gemm(l: &GpuLowering, cx: &LowerCx, gm: &Gemm) -> Result<Lowered<GpuKernel>, String> {
    let t = float_type(l, cx)?;
    let (a, b) = (cx.input(0)?, cx.input(1)?);
    let (m, k, n) = gm.mkn(&a.shape, &b.shape)?;
    let (a_row, a_col) = if gm.trans_a { (1, m) } else { (k, 1) };
    let (b_row, b_col) = if gm.trans_b { (1, k) } else { (n, 1) };
    let c = cx.inputs.get(2).and_then(|o| o.as_ref());
    let bias = c.is_some() && gm.beta != 0.0;
    let (c_row, c_col) = match c {
        Some(c) if bias => {
            let st = broadcast_strides(&c.shape, &[m, n]);
            (st[0], st[1])
        }
        _ => (0, 0),
    };
    let p = MatMulParams {
        m: u32_of(m)?,
        n: u32_of(n)?,
        k: u32_of(k)?,
        batch_rank: 0,
        a_row: u32_of(a_row)?,
        a_col: u32_of(a_col)?,
        b_row: u32_of(b_row)?,
        b_col: u32_of(b_col)?,
        c_row: u32_of(c_row)?,
        c_col: u32_of(c_col)?,
        alpha: gm.alpha,
        beta: gm.beta,
        ..Default::default()
    };
    let grid = [n.div_ceil(TILE) as u32, m.div_ceil(TILE) as u32, 1];
    let kern = GpuKernel::new(KernelKey::MatMul(MatMulVariant { t, bias }), &p, grid);
    let cref = if bias { Ref::Input(2) } else { Ref::Input(0) };
    Ok(Lowered::single(
        kern,
        vec![Ref::Input(0), Ref::Input(1), cref, Ref::Output(0)],
    ))
}

pub fn variants() -> Vec<KernelKey> {
    let mut v = Vec::new();
    for t in [GpuType::F32, GpuType::F16] {
        for bias in [false, true] {
            v.push(KernelKey::MatMul(MatMulVariant { t, bias }));
        }
    }
    v
}
