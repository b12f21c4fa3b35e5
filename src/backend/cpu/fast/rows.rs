//! Row-structured f32 kernels: MatMul and Gemm over the packed GEMM, Softmax/LogSoftmax,
//! LayerNormalization and Reduce{Sum,Mean,Max,Min} over contiguous axis blocks (statistics in
//! f64), and the data movement of Transpose and Concat (any fixed-width dtype).

use super::chunk_len;
use super::gemm::{sgemm, Mat, Ptr};
use crate::ops::layout::{Concat, Transpose};
use crate::ops::matmul::{matmul_layout, Gemm, MatMulLayout};
use crate::ops::norm::LayerNorm;
use crate::ops::reduce::{Reduce, ReduceAxes, ReduceKind};
use crate::ops::softmax::{Softmax, SoftmaxKind};
use crate::plan::Operand;
use crate::tensor::shape::{broadcast_shapes, broadcast_strides, norm_axis, strides};
use crate::tensor::{DType, Tensor};
use rayon::prelude::*;

/// Batched `A @ B` with numpy broadcasting, operands and result read and written through the
/// strides of a [`MatMulLayout`] (folded transposes and permutations, a permuted result).
#[derive(Debug)]
pub struct MatMulPlan {
    /// (M, K, N).
    mkn: (usize, usize, usize),
    /// (row, column) element strides of A and B, and the result's row stride.
    a: (usize, usize),
    b: (usize, usize),
    y_row: usize,
    /// (A offset, B offset, result offset) of each batch entry.
    batches: Vec<(usize, usize, usize)>,
    /// Elements of the result.
    out_len: usize,
}

impl MatMulPlan {
    pub fn new(a: &[usize], b: &[usize]) -> Option<MatMulPlan> {
        Self::new_layout(&matmul_layout((a, None, false), (b, None, false), None).ok()?)
    }

    /// A product whose operands and result are read and written through `l`'s strides.
    pub fn new_layout(l: &MatMulLayout) -> Option<MatMulPlan> {
        let g = &l.g;
        let count: usize = g.batch.iter().product();
        let bst = strides(&g.batch);
        let batches = (0..count)
            .map(|bi| {
                let (mut ao, mut bo, mut yo, mut rem) = (0, 0, 0, bi);
                for d in 0..g.batch.len() {
                    let c = rem / bst[d];
                    rem %= bst[d];
                    ao += c * l.a_batch[d];
                    bo += c * l.b_batch[d];
                    yo += c * l.y_batch[d];
                }
                (ao, bo, yo)
            })
            .collect();
        let out_len = l.y_shape.iter().product();
        Some(MatMulPlan { mkn: (g.m, g.k, g.n), a: l.a, b: l.b, y_row: l.y_row, batches, out_len })
    }

    pub fn run(&self, a: &[f32], b: &[f32], out: &mut [f32]) -> Result<(), String> {
        let (m, k, n) = self.mkn;
        // The last element each operand and the result touch (none when a dim is empty).
        let last = |off: usize, (rs, cs): (usize, usize), rows: usize, cols: usize| {
            off + rows.saturating_sub(1) * rs + cols.saturating_sub(1) * cs + 1
        };
        let empty = m == 0 || n == 0;
        let fits = self.batches.iter().all(|&(ao, bo, yo)| {
            (empty || k == 0 || (last(ao, self.a, m, k) <= a.len() && last(bo, self.b, k, n) <= b.len()))
                && (empty || last(yo, (self.y_row, 1), m, n) <= out.len())
        });
        if !fits || out.len() != self.out_len {
            return Err("MatMul: operand sizes differ from the plan".into());
        }
        let c = Ptr(out.as_mut_ptr());
        let mat = |p: *const f32, (rs, cs): (usize, usize)| Mat { ptr: p, rs: rs as isize, cs: cs as isize };
        let one = |i: usize, par: bool| {
            let (ao, bo, yo) = self.batches[i];
            // SAFETY: every batch's reads and writes were checked above against the slices; the
            // result blocks of different batches are disjoint (the result's layout is a
            // permutation of the product's).
            unsafe {
                sgemm(
                    (m, k, n),
                    mat(a.as_ptr().add(ao), self.a),
                    mat(b.as_ptr().add(bo), self.b),
                    c.get().add(yo),
                    self.y_row,
                    0.0,
                    par,
                )
            }
        };
        if self.batches.len() > 1 && rayon::current_num_threads() > 1 {
            (0..self.batches.len()).into_par_iter().for_each(|i| one(i, false));
        } else {
            (0..self.batches.len()).for_each(|i| one(i, true));
        }
        Ok(())
    }
}

/// `Y = alpha·op(A)·op(B) + beta·C`.
#[derive(Debug)]
pub struct GemmPlan {
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
    /// C's strides over [M, N] (broadcast dims 0), when C is given.
    c_strides: Option<Vec<usize>>,
}

impl GemmPlan {
    pub fn new(g: &Gemm, a: &[usize], b: &[usize], c: Option<&[usize]>) -> Option<GemmPlan> {
        let (m, k, n) = g.mkn(a, b).ok()?;
        let c_strides = match c {
            Some(c) => {
                if broadcast_shapes(&[c, &[m, n]]).ok()? != vec![m, n] {
                    return None;
                }
                Some(broadcast_strides(c, &[m, n]))
            }
            None => None,
        };
        Some(GemmPlan { m, k, n, alpha: g.alpha, beta: g.beta, trans_a: g.trans_a, trans_b: g.trans_b, c_strides })
    }

    pub fn run(&self, a: &[f32], b: &[f32], c: Option<&[f32]>, out: &mut [f32]) -> Result<(), String> {
        let (m, k, n) = (self.m, self.k, self.n);
        if a.len() != m * k || b.len() != k * n || out.len() != m * n {
            return Err("Gemm: operand sizes differ from the plan".into());
        }
        let mut beta = 0.0;
        if let (Some(c), Some(st)) = (c, &self.c_strides) {
            for i in 0..m {
                for j in 0..n {
                    out[i * n + j] = self.beta * *c.get(i * st[0] + j * st[1]).ok_or("Gemm: C is too small")?;
                }
            }
            beta = 1.0;
        }
        let am = if self.trans_a {
            Mat { ptr: a.as_ptr(), rs: 1, cs: m as isize }
        } else {
            Mat { ptr: a.as_ptr(), rs: k as isize, cs: 1 }
        };
        let bm = if self.trans_b {
            Mat { ptr: b.as_ptr(), rs: 1, cs: k as isize }
        } else {
            Mat { ptr: b.as_ptr(), rs: n as isize, cs: 1 }
        };
        if self.alpha == 1.0 {
            // SAFETY: sizes checked above.
            unsafe { sgemm((m, k, n), am, bm, out.as_mut_ptr(), n, beta, true) };
        } else {
            // alpha scales the product only: compute it apart, then add.
            let mut t = vec![0.0f32; m * n];
            unsafe { sgemm((m, k, n), am, bm, t.as_mut_ptr(), n, 0.0, true) };
            for (o, t) in out.iter_mut().zip(&t) {
                *o = if beta == 0.0 { self.alpha * t } else { *o + self.alpha * t };
            }
        }
        Ok(())
    }
}

/// Softmax / LogSoftmax over a contiguous last block (inner = 1).
#[derive(Debug)]
pub struct SoftmaxPlan {
    rows: usize,
    len: usize,
    log: bool,
}

impl SoftmaxPlan {
    pub fn new(s: &Softmax, shape: &[usize]) -> Option<SoftmaxPlan> {
        let (outer, len, inner) = s.geometry(shape).ok()?;
        if inner != 1 || len == 0 || s.kind == SoftmaxKind::Hardmax {
            return None;
        }
        Some(SoftmaxPlan { rows: outer, len, log: s.kind == SoftmaxKind::LogSoftmax })
    }

    pub fn run(&self, x: &[f32], out: &mut [f32]) -> Result<(), String> {
        let len = self.len;
        if x.len() != self.rows * len || out.len() != x.len() {
            return Err("Softmax: sizes differ from the plan".into());
        }
        let rows_per = chunk_len(self.rows, (4096 / len).max(1));
        out.par_chunks_mut(rows_per * len).zip(x.par_chunks(rows_per * len)).for_each(|(o, x)| {
            for (o, x) in o.chunks_mut(len).zip(x.chunks(len)) {
                let mx = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                if self.log {
                    let s: f64 = x.iter().map(|&v| ((v - mx) as f64).exp()).sum();
                    let ls = s.ln();
                    for (o, &v) in o.iter_mut().zip(x) {
                        *o = ((v - mx) as f64 - ls) as f32;
                    }
                } else {
                    let mut s = 0.0f64;
                    for (o, &v) in o.iter_mut().zip(x) {
                        let e = (v - mx).exp();
                        *o = e;
                        s += e as f64;
                    }
                    let inv = (1.0 / s) as f32;
                    o.iter_mut().for_each(|v| *v *= inv);
                }
            }
        });
        Ok(())
    }
}

/// LayerNormalization (first output only) with scale/bias over exactly the normalized block.
#[derive(Debug)]
pub struct LayerNormPlan {
    rows: usize,
    cols: usize,
    eps: f32,
}

impl LayerNormPlan {
    pub fn new(l: &LayerNorm, x: &[usize], scale: &[usize], bias: Option<&[usize]>) -> Option<LayerNormPlan> {
        let axis = norm_axis(l.axis, x.len()).ok()?;
        let cols: usize = x[axis..].iter().product();
        let fits = |s: &[usize]| s.len() <= x.len() - axis && s.iter().product::<usize>() == cols;
        if cols == 0 || !fits(scale) || bias.is_some_and(|b| !fits(b)) {
            return None;
        }
        Some(LayerNormPlan { rows: x[..axis].iter().product(), cols, eps: l.epsilon })
    }

    pub fn run(&self, x: &[f32], scale: &[f32], bias: Option<&[f32]>, out: &mut [f32]) -> Result<(), String> {
        let cols = self.cols;
        if x.len() != self.rows * cols
            || out.len() != x.len()
            || scale.len() != cols
            || bias.is_some_and(|b| b.len() != cols)
        {
            return Err("LayerNormalization: sizes differ from the plan".into());
        }
        let rows_per = chunk_len(self.rows, (4096 / cols).max(1));
        out.par_chunks_mut(rows_per * cols).zip(x.par_chunks(rows_per * cols)).for_each(|(o, x)| {
            for (o, x) in o.chunks_mut(cols).zip(x.chunks(cols)) {
                let mean = x.iter().map(|&v| v as f64).sum::<f64>() / cols as f64;
                let var = x.iter().map(|&v| (v as f64 - mean) * (v as f64 - mean)).sum::<f64>() / cols as f64;
                let inv = 1.0 / (var + self.eps as f64).sqrt();
                let (mean, inv) = (mean as f32, inv as f32);
                match bias {
                    Some(b) => {
                        for (((o, &v), &s), &b) in o.iter_mut().zip(x).zip(scale).zip(b) {
                            *o = (v - mean) * inv * s + b;
                        }
                    }
                    None => {
                        for ((o, &v), &s) in o.iter_mut().zip(x).zip(scale) {
                            *o = (v - mean) * inv * s;
                        }
                    }
                }
            }
        });
        Ok(())
    }
}

/// Reduce{Sum,Mean,Max,Min} over one contiguous block of axes: [outer, r, inner].
#[derive(Debug)]
pub struct ReducePlan {
    kind: ReduceKind,
    outer: usize,
    r: usize,
    inner: usize,
}

impl ReducePlan {
    pub fn new(red: &Reduce, x: &[usize], axes_t: Option<&Tensor>) -> Option<ReducePlan> {
        if !matches!(red.kind, ReduceKind::Sum | ReduceKind::Mean | ReduceKind::Max | ReduceKind::Min) {
            return None;
        }
        let axes = match red.resolve(x.len(), axes_t).ok()? {
            ReduceAxes::Identity => return None,
            ReduceAxes::Axes(a) => a,
        };
        // Unit dims do not matter for contiguity.
        let real: Vec<usize> = axes.iter().copied().filter(|&a| x[a] != 1).collect();
        let (lo, hi) = match (real.first(), real.last()) {
            (Some(&l), Some(&h)) => (l, h),
            _ => return None,
        };
        if (lo..=hi).any(|d| x[d] != 1 && !real.contains(&d)) {
            return None;
        }
        let r: usize = x[lo..=hi].iter().product();
        if r == 0 {
            return None;
        }
        Some(ReducePlan { kind: red.kind, outer: x[..lo].iter().product(), r, inner: x[hi + 1..].iter().product() })
    }

    pub fn run(&self, x: &[f32], out: &mut [f32]) -> Result<(), String> {
        let (r, inner) = (self.r, self.inner);
        if x.len() != self.outer * r * inner || out.len() != self.outer * inner {
            return Err("Reduce: sizes differ from the plan".into());
        }
        let kind = self.kind;
        let fold = move |it: &mut dyn Iterator<Item = f32>| -> f32 {
            match kind {
                ReduceKind::Sum => it.map(|v| v as f64).sum::<f64>() as f32,
                ReduceKind::Mean => (it.map(|v| v as f64).sum::<f64>() / r as f64) as f32,
                ReduceKind::Max => {
                    it.fold(f32::NEG_INFINITY, |a, v| if v.is_nan() || a.is_nan() { f32::NAN } else { a.max(v) })
                }
                _ => it.fold(f32::INFINITY, |a, v| if v.is_nan() || a.is_nan() { f32::NAN } else { a.min(v) }),
            }
        };
        let per = chunk_len(out.len(), 64);
        if inner == 1 {
            out.par_chunks_mut(per).enumerate().for_each(|(c, o)| {
                for (j, o) in o.iter_mut().enumerate() {
                    let row = &x[(c * per + j) * r..(c * per + j + 1) * r];
                    *o = match kind {
                        ReduceKind::Sum => row.iter().map(|&v| v as f64).sum::<f64>() as f32,
                        ReduceKind::Mean => (row.iter().map(|&v| v as f64).sum::<f64>() / r as f64) as f32,
                        _ => fold(&mut row.iter().copied()),
                    };
                }
            });
            return Ok(());
        }
        out.par_chunks_mut(per).enumerate().for_each(|(c, o)| {
            for (j, o) in o.iter_mut().enumerate() {
                let idx = c * per + j;
                let (b, i) = (idx / inner, idx % inner);
                let base = b * r * inner + i;
                *o = fold(&mut (0..r).map(|t| x[base + t * inner]));
            }
        });
        Ok(())
    }
}

/// Gather of fixed-width elements along one axis: each index copies one contiguous block of
/// `inner` bytes per outer slice. Indices (int32 or int64) may be negative (counted from the
/// end); out of range is an error, as on the reference kernel.
#[derive(Debug)]
pub struct GatherPlan {
    outer: usize,
    axis_len: usize,
    /// Bytes per (outer, index) block.
    inner: usize,
    idx64: bool,
}

impl GatherPlan {
    pub fn new(axis: i64, x: &[usize], dtype: DType, idx: DType) -> Option<GatherPlan> {
        let idx64 = match idx {
            DType::I64 => true,
            DType::I32 => false,
            _ => return None,
        };
        if dtype == DType::String || dtype.storage_bytes(8) != 8 * dtype.storage_bytes(1) {
            return None;
        }
        let r = x.len() as i64;
        let a = if axis < 0 { axis + r } else { axis };
        if a < 0 || a >= r {
            return None;
        }
        let a = a as usize;
        let inner = x[a + 1..].iter().product::<usize>() * dtype.storage_bytes(1);
        Some(GatherPlan { outer: x[..a].iter().product(), axis_len: x[a], inner, idx64 })
    }

    pub fn run(&self, x: &[u8], idx: &[u8], out: &mut [u8]) -> Result<(), String> {
        let read = |i: usize| -> i64 {
            if self.idx64 {
                i64::from_le_bytes(idx[i * 8..i * 8 + 8].try_into().unwrap_or_default())
            } else {
                i32::from_le_bytes(idx[i * 4..i * 4 + 4].try_into().unwrap_or_default()) as i64
            }
        };
        let k = idx.len() / if self.idx64 { 8 } else { 4 };
        if out.len() != self.outer * k * self.inner || x.len() != self.outer * self.axis_len * self.inner {
            return Err("Gather: sizes differ from the plan".into());
        }
        let mut rows = Vec::with_capacity(k);
        for i in 0..k {
            let v = read(i);
            let j = if v < 0 { v + self.axis_len as i64 } else { v };
            if j < 0 || j >= self.axis_len as i64 {
                return Err(format!("index {v} is out of range for an axis of size {}", self.axis_len));
            }
            rows.push(j as usize);
        }
        if self.inner == 0 {
            return Ok(());
        }
        for (o, dst) in out.chunks_exact_mut(k * self.inner).enumerate() {
            let src = &x[o * self.axis_len * self.inner..];
            for (d, &j) in dst.chunks_exact_mut(self.inner).zip(&rows) {
                d.copy_from_slice(&src[j * self.inner..(j + 1) * self.inner]);
            }
        }
        Ok(())
    }
}

/// Transpose of fixed-width elements: output rows walk the input with one stride.
#[derive(Debug)]
pub struct TransposePlan {
    /// Collapsed output dims and the input stride (elements) along each.
    dims: Vec<usize>,
    src: Vec<usize>,
    width: usize,
    n: usize,
}

impl TransposePlan {
    pub fn new(t: &Transpose, x: &[usize], dtype: DType) -> Option<TransposePlan> {
        let width = match dtype {
            DType::String => return None,
            d => d.storage_bytes(1),
        };
        if !matches!(width, 1 | 2 | 4 | 8) || dtype.storage_bytes(8) != 8 * width {
            return None;
        }
        let p = t.perm(x.len()).ok()?;
        let st = strides(x);
        let mut dims: Vec<usize> = Vec::new();
        let mut src: Vec<usize> = Vec::new();
        for &a in &p {
            let (e, s) = (x[a], st[a]);
            if e == 1 {
                continue;
            }
            match (dims.last_mut(), src.last_mut()) {
                (Some(d), Some(ps)) if *ps == s * e => {
                    *d *= e;
                    *ps = s;
                }
                _ => {
                    dims.push(e);
                    src.push(s);
                }
            }
        }
        if dims.is_empty() {
            dims.push(1);
            src.push(1);
        }
        Some(TransposePlan { n: x.iter().product(), dims, src, width })
    }

    pub fn run(&self, x: &[u8], out: &mut [u8]) -> Result<(), String> {
        if x.len() != self.n * self.width || out.len() != x.len() {
            return Err("Transpose: sizes differ from the plan".into());
        }
        match self.width {
            1 => self.go::<u8>(x, out),
            2 => self.go::<u16>(bytemuck::cast_slice(x), bytemuck::cast_slice_mut(out)),
            4 => self.go::<u32>(bytemuck::cast_slice(x), bytemuck::cast_slice_mut(out)),
            _ => self.go::<u64>(bytemuck::cast_slice(x), bytemuck::cast_slice_mut(out)),
        }
        Ok(())
    }

    fn go<T: Copy + Send + Sync>(&self, x: &[T], out: &mut [T]) {
        let r = self.dims.len();
        let inner = self.dims[r - 1];
        let s_in = self.src[r - 1];
        let rows_per = chunk_len(self.n / inner, (8192 / inner).max(1));
        out.par_chunks_mut(rows_per * inner).enumerate().for_each(|(c, o)| {
            for (k, row) in o.chunks_mut(inner).enumerate() {
                let mut rem = c * rows_per + k;
                let mut base = 0;
                for d in (0..r - 1).rev() {
                    base += (rem % self.dims[d]) * self.src[d];
                    rem /= self.dims[d];
                }
                if s_in == 1 {
                    row.copy_from_slice(&x[base..base + inner]);
                } else {
                    for (j, o) in row.iter_mut().enumerate() {
                        *o = x[base + j * s_in];
                    }
                }
            }
        });
    }
}

/// Concat: per outer index, each input's block copied in turn.
#[derive(Debug)]
pub struct ConcatPlan {
    outer: usize,
    /// Bytes of each input's block per outer index.
    blocks: Vec<usize>,
}

impl ConcatPlan {
    pub fn new(c: &Concat, ins: &[&Operand], out: &[usize]) -> Option<ConcatPlan> {
        let dt = ins.first()?.dtype;
        if dt == DType::String || ins.iter().any(|o| o.dtype != dt) || dt.storage_bytes(8) != 8 * dt.storage_bytes(1) {
            return None;
        }
        let axis = norm_axis(c.axis, out.len()).ok()?;
        let outer: usize = out[..axis].iter().product();
        let blocks = ins.iter().map(|o| dt.storage_bytes(o.shape[axis..].iter().product())).collect();
        Some(ConcatPlan { outer, blocks })
    }

    pub fn run(&self, ins: &[Option<&[u8]>], out: &mut [u8]) -> Result<(), String> {
        let row: usize = self.blocks.iter().sum();
        if out.len() != self.outer * row || ins.len() != self.blocks.len() {
            return Err("Concat: sizes differ from the plan".into());
        }
        if row == 0 {
            return Ok(());
        }
        let ins: Vec<&[u8]> = ins.iter().map(|x| x.ok_or("Concat: missing input")).collect::<Result<_, _>>()?;
        for (x, &b) in ins.iter().zip(&self.blocks) {
            if x.len() != self.outer * b {
                return Err("Concat: input size differs from the plan".into());
            }
        }
        if self.outer >= rayon::current_num_threads() {
            out.par_chunks_mut(row).enumerate().for_each(|(o, dst)| {
                let mut at = 0;
                for (x, &b) in ins.iter().zip(&self.blocks) {
                    dst[at..at + b].copy_from_slice(&x[o * b..(o + 1) * b]);
                    at += b;
                }
            });
            return Ok(());
        }
        // Few rows (a batch-1 channel concat): split the output bytes evenly over the threads,
        // each chunk copying from whichever inputs cover it.
        let cl = chunk_len(out.len(), 1 << 16);
        out.par_chunks_mut(cl).enumerate().for_each(|(ci, dst)| {
            let mut p = ci * cl;
            let mut done = 0;
            while done < dst.len() {
                let (o, mut r) = (p / row, p % row);
                let mut k = 0;
                while r >= self.blocks[k] {
                    r -= self.blocks[k];
                    k += 1;
                }
                let b = self.blocks[k];
                let n = (b - r).min(dst.len() - done);
                dst[done..done + n].copy_from_slice(&ins[k][o * b + r..o * b + r + n]);
                done += n;
                p += n;
            }
        });
        Ok(())
    }
}
