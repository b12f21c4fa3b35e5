//! Matrix products (ai.onnx): MatMul with numpy semantics (1-D promotion, broadcast batch
//! dims) and Gemm (`alpha·op(A)·op(B) + beta·C`, C broadcast unidirectionally). Reference
//! kernels accumulate in f64.

use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::{broadcast_dims, broadcast_shapes, broadcast_strides};
use crate::tensor::{DType, Dim, Tensor};

#[derive(Clone, Debug)]
pub struct MatMul;

/// The batched-matmul geometry of `a @ b` for concrete shapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatMulShape {
    pub batch: Vec<usize>,
    pub m: usize,
    pub k: usize,
    pub n: usize,
    /// Strides (elements) of A's and B's matrices per broadcast batch dim (0 = broadcast).
    pub a_batch_strides: Vec<usize>,
    pub b_batch_strides: Vec<usize>,
    /// The output's shape (with 1-D promotions removed).
    pub out: Vec<usize>,
}

/// How the operands and the result of a matrix product are laid out in memory when they are
/// read (written) through strides: a folded Transpose of an operand (`perm`, then `trans`
/// swapping the last two axes) or of the result (`perm_y`). See [`matmul_layout`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatMulLayout {
    /// The geometry of the logical product (its batch strides assume contiguous operands: use
    /// the fields below instead).
    pub g: MatMulShape,
    /// (row, column) element strides of A and B.
    pub a: (usize, usize),
    pub b: (usize, usize),
    /// Element strides per batch dim of `g.batch` (0 along broadcast dims).
    pub a_batch: Vec<usize>,
    pub b_batch: Vec<usize>,
    /// The result's row stride and per-batch-dim strides (its column stride is 1).
    pub y_row: usize,
    pub y_batch: Vec<usize>,
    /// The stored result's shape (the logical one permuted by `perm_y`).
    pub y_shape: Vec<usize>,
}

/// The one permutation that reads an operand of rank `rank` as `Transpose(x, perm)` and then,
/// when `trans`, with its last two axes swapped; `None` for the identity.
pub fn operand_perm(rank: usize, perm: Option<&[usize]>, trans: bool) -> Result<Option<Vec<usize>>, String> {
    if let Some(p) = perm {
        let mut seen = vec![false; rank];
        if p.len() != rank || p.iter().any(|&i| i >= rank || std::mem::replace(&mut seen[i], true)) {
            return Err(format!("{p:?} is not a permutation of an operand of rank {rank}"));
        }
    }
    if trans && rank < 2 {
        return Err(format!("a transposed MatMul operand needs rank ≥ 2, got rank {rank}"));
    }
    if perm.is_none() && !trans {
        return Ok(None);
    }
    let mut p = perm.map_or_else(|| (0..rank).collect(), <[usize]>::to_vec);
    if trans {
        p.swap(rank - 2, rank - 1);
    }
    Ok(Some(p))
}

/// The logical shape and element strides of an operand stored with `shape`, read through
/// [`operand_perm`].
pub fn operand_view(shape: &[usize], perm: Option<&[usize]>, trans: bool) -> Result<(Vec<usize>, Vec<usize>), String> {
    let st = crate::tensor::shape::strides(shape);
    Ok(match operand_perm(shape.len(), perm, trans)? {
        None => (shape.to_vec(), st),
        Some(p) => (p.iter().map(|&i| shape[i]).collect(), p.iter().map(|&i| st[i]).collect()),
    })
}

/// The layout of `op(A) @ op(B)` (numpy MatMul semantics over the logical operands of
/// [`operand_view`]), stored as `Transpose(product, perm_y)` when `perm_y` is given: that
/// needs both operands of rank ≥ 2 and `perm_y` keeping the last axis last.
pub fn matmul_layout(
    a: (&[usize], Option<&[usize]>, bool),
    b: (&[usize], Option<&[usize]>, bool),
    perm_y: Option<&[usize]>,
) -> Result<MatMulLayout, String> {
    let (la, sa) = operand_view(a.0, a.1, a.2)?;
    let (lb, sb) = operand_view(b.0, b.1, b.2)?;
    let g = matmul_shape(&la, &lb)?;
    let nb = g.batch.len();
    let batch_strides = |dims: &[usize], st: &[usize]| -> Vec<usize> {
        let ob = dims.len().saturating_sub(2);
        (0..nb)
            .map(|d| match (d + ob).checked_sub(nb) {
                Some(od) if dims.len() >= 2 && dims[od] != 1 => st[od],
                _ => 0,
            })
            .collect()
    };
    let mat = |dims: &[usize], st: &[usize], is_a: bool| -> (usize, usize) {
        match dims.len() {
            // A 1-D A is one row (K, 1); a 1-D B one column (1, 1): the other stride is unused.
            1 => (if is_a { dims[0] } else { st[0] }, if is_a { st[0] } else { 1 }),
            r => (st[r - 2], st[r - 1]),
        }
    };
    let (y_row, y_batch, y_shape) = match perm_y {
        None => {
            let yst = crate::tensor::shape::strides(&g.out);
            let y_row = if la.len() > 1 && lb.len() > 1 { yst[nb] } else { g.n };
            (y_row, yst[..nb].to_vec(), g.out.clone())
        }
        Some(p) => {
            let r = g.out.len();
            if la.len() < 2 || lb.len() < 2 || p.len() != r || p.last() != Some(&(r - 1)) {
                return Err(format!("the product's transpose {p:?} must keep its last axis last"));
            }
            let (phys, _) = operand_view(&g.out, Some(p), false)?;
            let pst = crate::tensor::shape::strides(&phys);
            // Logical axis p[i] is stored at position i.
            let mut yst = vec![0; r];
            for (i, &j) in p.iter().enumerate() {
                yst[j] = pst[i];
            }
            (yst[r - 2], yst[..nb].to_vec(), phys)
        }
    };
    Ok(MatMulLayout {
        a: mat(&la, &sa, true),
        b: mat(&lb, &sb, false),
        a_batch: batch_strides(&la, &sa),
        b_batch: batch_strides(&lb, &sb),
        y_row,
        y_batch,
        y_shape,
        g,
    })
}

/// Computes the MatMul geometry of concrete shapes.
pub fn matmul_shape(a: &[usize], b: &[usize]) -> Result<MatMulShape, String> {
    if a.is_empty() || b.is_empty() {
        return Err("MatMul inputs must have rank ≥ 1".into());
    }
    let a2: Vec<usize> = if a.len() == 1 { vec![1, a[0]] } else { a.to_vec() };
    let b2: Vec<usize> = if b.len() == 1 { vec![b[0], 1] } else { b.to_vec() };
    let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
    let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
    if k != k2 {
        return Err(format!("MatMul inner dims differ: {a:?} @ {b:?}"));
    }
    let ab = &a2[..a2.len() - 2];
    let bb = &b2[..b2.len() - 2];
    let batch = broadcast_shapes(&[ab, bb])?;
    let mut sa = broadcast_strides(ab, &batch);
    let mut sb = broadcast_strides(bb, &batch);
    for s in &mut sa {
        *s *= m * k;
    }
    for s in &mut sb {
        *s *= k * n;
    }
    let mut out = batch.clone();
    if a.len() > 1 {
        out.push(m);
    }
    if b.len() > 1 {
        out.push(n);
    }
    Ok(MatMulShape { batch, m, k, n, a_batch_strides: sa, b_batch_strides: sb, out })
}

pub(crate) fn matmul_dims(a: &[Dim], b: &[Dim]) -> Result<Vec<Dim>, String> {
    if a.is_empty() || b.is_empty() {
        return Err("MatMul inputs must have rank ≥ 1".into());
    }
    let ka = &a[a.len() - 1];
    let kb = if b.len() == 1 { &b[0] } else { &b[b.len() - 2] };
    if let (Some(x), Some(y)) = (ka.known(), kb.known()) {
        if x != y {
            return Err(format!("MatMul inner dims differ: {x} vs {y}"));
        }
    }
    let ab = if a.len() > 2 { &a[..a.len() - 2] } else { &[][..] };
    let bb = if b.len() > 2 { &b[..b.len() - 2] } else { &[][..] };
    let mut out = broadcast_dims(&[ab, bb])?;
    if a.len() > 1 {
        out.push(a[a.len() - 2].clone());
    }
    if b.len() > 1 {
        out.push(b[b.len() - 1].clone());
    }
    Ok(out)
}

fn check_same(a: DType, b: DType) -> Result<DType, String> {
    if a != b {
        return Err(format!("inputs must share one dtype, got {a} and {b}"));
    }
    if !(a.is_float() || a.is_int()) {
        return Err(format!("{a} is not a numeric type"));
    }
    Ok(a)
}

/// Plain batched matmul on f64 data, used by the reference kernels.
pub fn matmul_f64(a: &[f64], b: &[f64], g: &MatMulShape) -> Vec<f64> {
    let batch: usize = g.batch.iter().product();
    let (m, k, n) = (g.m, g.k, g.n);
    let mut out = vec![0.0; batch * m * n];
    let bst = crate::tensor::shape::strides(&g.batch);
    for bi in 0..batch {
        let (mut ao, mut bo) = (0, 0);
        let mut rem = bi;
        for d in 0..g.batch.len() {
            let c = rem / bst[d];
            rem %= bst[d];
            ao += c * g.a_batch_strides[d];
            bo += c * g.b_batch_strides[d];
        }
        let o = &mut out[bi * m * n..(bi + 1) * m * n];
        for i in 0..m {
            for p in 0..k {
                let av = a[ao + i * k + p];
                if av == 0.0 {
                    continue;
                }
                let brow = &b[bo + p * n..bo + p * n + n];
                for j in 0..n {
                    o[i * n + j] += av * brow[j];
                }
            }
        }
    }
    out
}

impl OpSpec for MatMul {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (a, b) = (cx.input(0)?, cx.input(1)?);
        let d = check_same(a.dtype, b.dtype)?;
        Ok(vec![vt(d, matmul_dims(&a.dims, &b.dims)?)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (a, b) = (need(inputs, 0)?, need(inputs, 1)?);
        let d = check_same(a.dtype(), b.dtype())?;
        let g = matmul_shape(a.shape(), b.shape())?;
        let r = matmul_f64(&a.to_f64_vec()?, &b.to_f64_vec()?, &g);
        Ok(vec![Tensor::from_f64(d, &g.out, &r)?])
    }
}

/// Gemm: `Y = alpha · op(A) · op(B) + beta · C`.
#[derive(Clone, Debug)]
pub struct Gemm {
    pub alpha: f32,
    pub beta: f32,
    pub trans_a: bool,
    pub trans_b: bool,
}

impl Gemm {
    /// (M, K, N) from concrete A/B shapes.
    pub fn mkn(&self, a: &[usize], b: &[usize]) -> Result<(usize, usize, usize), String> {
        if a.len() != 2 || b.len() != 2 {
            return Err(format!("Gemm needs 2-D inputs, got {a:?} and {b:?}"));
        }
        let (m, k) = if self.trans_a { (a[1], a[0]) } else { (a[0], a[1]) };
        let (k2, n) = if self.trans_b { (b[1], b[0]) } else { (b[0], b[1]) };
        if k != k2 {
            return Err(format!("Gemm inner dims differ: {k} vs {k2}"));
        }
        Ok((m, k, n))
    }
}

impl OpSpec for Gemm {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (a, b) = (cx.input(0)?, cx.input(1)?);
        let d = check_same(a.dtype, b.dtype)?;
        if a.rank() != 2 || b.rank() != 2 {
            return Err(format!("Gemm needs 2-D inputs, got ranks {} and {}", a.rank(), b.rank()));
        }
        let m = if self.trans_a { &a.dims[1] } else { &a.dims[0] };
        let n = if self.trans_b { &b.dims[0] } else { &b.dims[1] };
        let out = vec![m.clone(), n.clone()];
        if let Some(c) = cx.opt(2) {
            let bd = broadcast_dims(&[&out, &c.dims])?;
            if bd.len() != 2 {
                return Err("Gemm's C must broadcast to [M, N]".into());
            }
        }
        Ok(vec![vt(d, out)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (a, b) = (need(inputs, 0)?, need(inputs, 1)?);
        let d = check_same(a.dtype(), b.dtype())?;
        let (m, k, n) = self.mkn(a.shape(), b.shape())?;
        let (av, bv) = (a.to_f64_vec()?, b.to_f64_vec()?);
        let at = |i: usize, p: usize| {
            if self.trans_a {
                av[p * m + i]
            } else {
                av[i * k + p]
            }
        };
        let bt = |p: usize, j: usize| {
            if self.trans_b {
                bv[j * k + p]
            } else {
                bv[p * n + j]
            }
        };
        let mut y = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for p in 0..k {
                    s += at(i, p) * bt(p, j);
                }
                y[i * n + j] = self.alpha as f64 * s;
            }
        }
        if let Some(c) = inputs.get(2).copied().flatten() {
            let cv = c.to_f64_vec()?;
            let st = broadcast_strides(c.shape(), &[m, n]);
            if broadcast_shapes(&[c.shape(), &[m, n]])? != vec![m, n] {
                return Err(format!("C of shape {:?} does not broadcast to [{m}, {n}]", c.shape()));
            }
            for i in 0..m {
                for j in 0..n {
                    y[i * n + j] += self.beta as f64 * cv[i * st[0] + j * st[1]];
                }
            }
        }
        Ok(vec![Tensor::from_f64(d, &[m, n], &y)?])
    }
}

pub fn import_matmul(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::MatMul(MatMul))
}

pub fn import_gemm(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::Gemm(Gemm {
        alpha: c.attrs.float("alpha", 1.0)?,
        beta: c.attrs.float("beta", 1.0)?,
        trans_a: c.attrs.int("transA", 0)? != 0,
        trans_b: c.attrs.int("transB", 0)? != 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let g = matmul_shape(&[2, 1, 3, 4], &[5, 4, 6]).unwrap();
        assert_eq!(g.out, vec![2, 5, 3, 6]);
        assert_eq!(g.a_batch_strides, vec![12, 0]);
        assert_eq!(g.b_batch_strides, vec![0, 24]);
        assert_eq!(matmul_shape(&[4], &[4, 6]).unwrap().out, vec![6]);
        assert_eq!(matmul_shape(&[3, 4], &[4]).unwrap().out, vec![3]);
        assert!(matmul_shape(&[3, 4], &[5, 6]).is_err());
    }
}
