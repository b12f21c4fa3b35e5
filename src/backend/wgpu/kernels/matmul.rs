//! Matrix-product kernels (`shaders/matmul/matmul.wgsl`): MatMul with broadcast batch dims (up
//! to 4) and Gemm with transposes read through strides and C broadcast through zero strides.
//! A weight larger than the adapter's binding limit is bound in aligned slices: split along N
//! when its rows are output columns (B transposed), else along K with the partial products
//! accumulated into Y.

use super::{u32_of, GpuKernel, GpuLowering, GpuType, KernelKey};
use crate::backend::wgpu::shaders::Prelude;
use crate::gpu_params;
use crate::ops::matmul::{matmul_shape, Gemm};
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Ref};
use crate::tensor::shape::broadcast_strides;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatMulVariant {
    pub t: GpuType,
    pub bias: bool,
}

impl MatMulVariant {
    pub fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.bool("HAS_BIAS", self.bias);
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
        a_off: u32,
        c_off: u32,
        y_off: u32,
        y_row: u32,
        batch_shape: [u32; 4],
        a_batch: [u32; 4],
        b_batch: [u32; 4],
    }
);

const TILE: usize = 64;

fn float_type(l: &GpuLowering, cx: &LowerCx) -> Result<GpuType, String> {
    let t = l.ty(cx.input(0)?)?;
    if !t.is_float() || t == GpuType::F64 {
        return Err(format!("matrix products of {} have no GPU kernel yet", cx.input(0)?.dtype));
    }
    Ok(t)
}

/// One 2-D product `Y = alpha·A·B + beta·C` with element strides, before any splitting.
struct Gemm2d {
    t: GpuType,
    m: usize,
    n: usize,
    k: usize,
    a: (usize, usize),
    b: (usize, usize),
    /// C's strides when a bias is added.
    c: Option<(usize, usize)>,
    alpha: f32,
    beta: f32,
    /// Bindings of A, B and C (C repeats A when absent).
    refs: [Ref; 3],
}

fn dispatch(g: &Gemm2d, p: MatMulParams, bias: bool, refs: [Ref; 3], n: usize) -> LoweredDispatch<GpuKernel> {
    let grid = [n.div_ceil(TILE) as u32, g.m.div_ceil(TILE) as u32, 1];
    let k = GpuKernel::new(KernelKey::MatMul(MatMulVariant { t: g.t, bias }), &p, grid);
    LoweredDispatch { kernel: k, bindings: vec![refs[0], refs[1], refs[2], Ref::Output(0)] }
}

fn lower_2d(g: Gemm2d, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
    let u = u32_of;
    let (c_row, c_col) = g.c.unwrap_or((0, 0));
    let base = MatMulParams {
        m: u(g.m)?,
        n: u(g.n)?,
        k: u(g.k)?,
        a_row: u(g.a.0)?,
        a_col: u(g.a.1)?,
        b_row: u(g.b.0)?,
        b_col: u(g.b.1)?,
        c_row: u(c_row)?,
        c_col: u(c_col)?,
        alpha: g.alpha,
        beta: g.beta,
        y_row: u(g.n)?,
        ..Default::default()
    };
    if g.m.div_ceil(TILE) > 65535 {
        return Err("MatMul grid exceeds 65535 workgroups".into());
    }
    let esize = cx.input(1)?.dtype.bits() as u64 / 8;
    let b_bytes = (g.n * g.k) as u64 * esize;
    let limits = cx.limits;
    if b_bytes <= limits.max_binding {
        return Ok(Lowered {
            dispatches: vec![dispatch(&g, base, g.c.is_some(), g.refs, g.n)],
            scratch: vec![],
            consts: vec![],
        });
    }
    // B's contiguous rows run along N when B is read transposed (b_row = 1), else along K.
    let along_n = g.b.0 == 1;
    let row_elems = if along_n { g.k } else { g.n };
    let rows = if along_n { g.n } else { g.k };
    let row_bytes = row_elems as u64 * esize;
    let step = (limits.align / gcd(row_bytes, limits.align)).max(1);
    let mut per = (limits.max_binding / row_bytes) / step * step;
    if per == 0 {
        return Err(format!("one row of B ({row_bytes} bytes) exceeds the binding limit"));
    }
    per = per.min(rows as u64);
    let mut dispatches = Vec::new();
    let mut r0 = 0usize;
    while r0 < rows {
        let cnt = (per as usize).min(rows - r0);
        let slice = Ref::InputSlice {
            input: match g.refs[1] {
                Ref::Input(i) => i,
                _ => 1,
            },
            offset: r0 as u64 * row_bytes,
            size: cnt as u64 * row_bytes,
        };
        let mut p = base;
        if along_n {
            // Output columns [r0, r0 + cnt).
            p.n = u(cnt)?;
            p.y_off = u(r0)?;
            p.c_off = u(r0 * c_col)?;
            dispatches.push(dispatch(&g, p, g.c.is_some(), [g.refs[0], slice, g.refs[2]], cnt));
        } else {
            // K rows [r0, r0 + cnt); after the first block, accumulate into Y.
            p.k = u(cnt)?;
            p.a_off = u(r0 * g.a.1)?;
            if r0 == 0 {
                dispatches.push(dispatch(&g, p, g.c.is_some(), [g.refs[0], slice, g.refs[2]], g.n));
            } else {
                p.beta = 1.0;
                p.c_row = u(g.n)?;
                p.c_col = 1;
                p.c_off = 0;
                dispatches.push(dispatch(&g, p, true, [g.refs[0], slice, Ref::Output(0)], g.n));
            }
        }
        r0 += cnt;
    }
    Ok(Lowered { dispatches, scratch: vec![], consts: vec![] })
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

pub fn lower_matmul(l: &GpuLowering, cx: &LowerCx) -> Result<Lowered<GpuKernel>, String> {
    let t = float_type(l, cx)?;
    let g = matmul_shape(&cx.input(0)?.shape, &cx.input(1)?.shape)?;
    if g.batch.len() > 4 {
        return Err(format!("MatMul with {} batch dims has no GPU kernel (limit 4)", g.batch.len()));
    }
    let batch: usize = g.batch.iter().product();
    if batch == 1 {
        let g2 = Gemm2d {
            t,
            m: g.m,
            n: g.n,
            k: g.k,
            a: (g.k, 1),
            b: (g.n, 1),
            c: None,
            alpha: 1.0,
            beta: 0.0,
            refs: [Ref::Input(0), Ref::Input(1), Ref::Input(0)],
        };
        return lower_2d(g2, cx);
    }
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
        y_row: u32_of(g.n)?,
        ..Default::default()
    };
    for (i, ((&s, &sa), &sb)) in g.batch.iter().zip(&g.a_batch_strides).zip(&g.b_batch_strides).enumerate() {
        p.batch_shape[i] = u32_of(s)?;
        p.a_batch[i] = u32_of(sa)?;
        p.b_batch[i] = u32_of(sb)?;
    }
    let grid = [g.n.div_ceil(TILE) as u32, g.m.div_ceil(TILE) as u32, u32_of(batch)?];
    if grid[2] > 65535 || grid[1] > 65535 {
        return Err("MatMul grid exceeds 65535 workgroups per dimension".into());
    }
    let k = GpuKernel::new(KernelKey::MatMul(MatMulVariant { t, bias: false }), &p, grid);
    // Without bias, binding 2 repeats A (never read).
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Input(1), Ref::Input(0), Ref::Output(0)]))
}

pub fn lower_gemm(l: &GpuLowering, cx: &LowerCx, gm: &Gemm) -> Result<Lowered<GpuKernel>, String> {
    let t = float_type(l, cx)?;
    let (a, b) = (cx.input(0)?, cx.input(1)?);
    let (m, k, n) = gm.mkn(&a.shape, &b.shape)?;
    let c = cx.inputs.get(2).and_then(|o| o.as_ref());
    let bias = c.is_some() && gm.beta != 0.0;
    let cst = match c {
        Some(c) if bias => {
            let st = broadcast_strides(&c.shape, &[m, n]);
            Some((st[0], st[1]))
        }
        _ => None,
    };
    let g2 = Gemm2d {
        t,
        m,
        n,
        k,
        a: if gm.trans_a { (1, m) } else { (k, 1) },
        b: if gm.trans_b { (1, k) } else { (n, 1) },
        c: cst,
        alpha: gm.alpha,
        beta: gm.beta,
        refs: [Ref::Input(0), Ref::Input(1), if bias { Ref::Input(2) } else { Ref::Input(0) }],
    };
    lower_2d(g2, cx)
}

pub fn variants() -> Vec<KernelKey> {
    let mut v = Vec::new();
    for t in [GpuType::F32, GpuType::F16, GpuType::BF16] {
        for bias in [false, true] {
            v.push(KernelKey::MatMul(MatMulVariant { t, bias }));
        }
    }
    v
}
