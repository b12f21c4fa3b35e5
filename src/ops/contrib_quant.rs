//! ONNX Runtime contrib quantized operators (domain com.microsoft): MatMulNBits (a matrix
//! product with block-quantized 2/4/8-bit weights dequantized on the fly, optionally with
//! `g_idx` assigning each row of B its scale/zero-point group), QLinearAdd and
//! QLinearMul (broadcasting quantized arithmetic) and QLinearSoftmax (ORT's lookup-table softmax
//! on uint8/int8 data).
//!
//! Semantics follow ONNX Runtime's contrib operator documentation. QLinearSoftmax reproduces the
//! CPU kernel's arithmetic (a float exp table shifted to the row maximum, `floor(1/y_scale)`,
//! round-to-nearest-even in f32) because its results are defined by that computation.

use super::elementwise::broadcast_map;
use super::{expect_float, need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::broadcast_dims;
use crate::tensor::{DType, Dim, Tensor};

pub(crate) fn opt<'t>(inputs: &[Option<&'t Tensor>], i: usize) -> Option<&'t Tensor> {
    inputs.get(i).copied().flatten()
}

/// A scalar (one-element) parameter as f64; `default` when the optional input is absent.
pub(crate) fn scalar(inputs: &[Option<&Tensor>], i: usize, what: &str, default: Option<f64>) -> Result<f64, String> {
    match opt(inputs, i) {
        None => default.ok_or_else(|| format!("{what} (input {i}) is required")),
        Some(t) if t.numel() != 1 => Err(format!("{what} (input {i}) must have one element, got {}", t.numel())),
        Some(t) => Ok(t.to_f64_vec()?[0]),
    }
}

pub(crate) fn int8_range(d: DType) -> Result<(f64, f64), String> {
    match d {
        DType::U8 => Ok((0.0, 255.0)),
        DType::I8 => Ok((-128.0, 127.0)),
        _ => Err(format!("expected uint8 or int8 data, got {d}")),
    }
}

// ---- MatMulNBits -----------------------------------------------------------------------------

/// MatMulNBits: `Y = A @ dequant(B) (+ bias)`, B of logical shape (K, N) stored as
/// (N, K/block_size, block_size·bits/8) bytes, one scale (and zero point) per column and block.
#[derive(Clone, Debug)]
pub struct MatMulNBits {
    pub k: usize,
    pub n: usize,
    pub bits: usize,
    pub block_size: usize,
}

impl MatMulNBits {
    /// Blocks per column.
    pub fn n_blocks(&self) -> usize {
        self.k.div_ceil(self.block_size)
    }
    /// Bytes per block.
    pub fn blob_size(&self) -> usize {
        self.block_size * self.bits / 8
    }
    /// Bytes per column of packed zero points.
    pub fn zp_row_bytes(&self) -> usize {
        (self.n_blocks() * self.bits).div_ceil(8)
    }

    /// The group (scale and zero-point block) of each row k of B from the optional `g_idx`
    /// input; `k / block_size` without it.
    pub fn groups(&self, g_idx: Option<&Tensor>) -> Result<Vec<usize>, String> {
        match g_idx {
            None => Ok((0..self.k).map(|k| k / self.block_size).collect()),
            Some(g) => {
                let v = g.to_i64_vec()?;
                if v.len() != self.k {
                    return Err(format!("g_idx has {} entries, expected K = {}", v.len(), self.k));
                }
                let nb = self.n_blocks() as i64;
                v.iter()
                    .map(|&x| {
                        if (0..nb).contains(&x) {
                            Ok(x as usize)
                        } else {
                            Err(format!("g_idx value {x} is outside [0, {nb})"))
                        }
                    })
                    .collect()
            }
        }
    }

    /// The dequantized weight as a row-major (K, N) matrix; row k uses the scale and zero point
    /// of block `groups[k]` (see [`MatMulNBits::groups`]).
    pub fn dequantize(
        &self,
        b: &Tensor,
        scales: &Tensor,
        zp: Option<&Tensor>,
        groups: &[usize],
    ) -> Result<Vec<f64>, String> {
        let (k, n, nb, blob, bits) = (self.k, self.n, self.n_blocks(), self.blob_size(), self.bits);
        if b.dtype() != DType::U8 {
            return Err(format!("B must be uint8, got {}", b.dtype()));
        }
        if b.numel() != n * nb * blob {
            return Err(format!("B has {} bytes, expected N·blocks·blob = {}", b.numel(), n * nb * blob));
        }
        let bq = b.as_slice::<u8>()?;
        let sv = scales.to_f64_vec()?;
        if sv.len() != n * nb {
            return Err(format!("scales has {} entries, expected N·blocks = {}", sv.len(), n * nb));
        }
        let mid = (1u32 << (bits - 1)) as f64;
        // Per (column, block) zero point.
        let zpv: Vec<f64> = match zp {
            None => vec![mid; n * nb],
            Some(z) if z.dtype() == DType::U8 => {
                let zb = z.as_slice::<u8>()?;
                let rb = self.zp_row_bytes();
                if zb.len() != n * rb {
                    return Err(format!("zero_points has {} bytes, expected {}", zb.len(), n * rb));
                }
                let mask = (1u32 << bits) - 1;
                (0..n * nb)
                    .map(|i| {
                        let (c, blk) = (i / nb, i % nb);
                        let bit = blk * bits;
                        ((zb[c * rb + bit / 8] as u32 >> (bit % 8)) & mask) as f64
                    })
                    .collect()
            }
            Some(z) if z.dtype() == scales.dtype() => {
                let v = z.to_f64_vec()?;
                if v.len() != n * nb {
                    return Err(format!("zero_points has {} entries, expected {}", v.len(), n * nb));
                }
                v
            }
            Some(z) => return Err(format!("zero_points must be uint8 or the scales' type, got {}", z.dtype())),
        };
        let mask = (1u32 << bits) - 1;
        let mut w = vec![0.0; k * n];
        for c in 0..n {
            for kk in 0..k {
                let (blk, j) = (kk / self.block_size, kk % self.block_size);
                let bit = j * bits;
                let byte = bq[(c * nb + blk) * blob + bit / 8] as u32;
                let q = ((byte >> (bit % 8)) & mask) as f64;
                let g = groups[kk];
                let s = sv[c * nb + g];
                // Float zero points are applied as `(q - zp) * scale` just like integer ones.
                w[kk * n + c] = (q - zpv[c * nb + g]) * s;
            }
        }
        Ok(w)
    }
}

impl OpSpec for MatMulNBits {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let a = cx.input(0)?;
        let dt = expect_float(cx, 0)?;
        if a.rank() == 0 {
            return Err("A must have rank ≥ 1".into());
        }
        if let Some(kd) = a.dims[a.rank() - 1].known() {
            if kd != self.k {
                return Err(format!("A's last dim is {kd}, attribute K is {}", self.k));
            }
        }
        let mut dims = a.dims.clone();
        let r = dims.len();
        dims[r - 1] = Dim::Known(self.n);
        Ok(vec![vt(dt, dims)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let a = need(inputs, 0)?;
        let groups = self.groups(opt(inputs, 4))?;
        let w = self.dequantize(need(inputs, 1)?, need(inputs, 2)?, opt(inputs, 3), &groups)?;
        let (k, n) = (self.k, self.n);
        let shape = a.shape();
        if shape.last() != Some(&k) {
            return Err(format!("A's last dim must be K = {k}, A is {shape:?}"));
        }
        let bias = match opt(inputs, 5) {
            None => None,
            Some(b) => {
                let v = b.to_f64_vec()?;
                if v.len() != n {
                    return Err(format!("bias has {} entries, expected N = {n}", v.len()));
                }
                Some(v)
            }
        };
        let av = a.to_f64_vec()?;
        let m = av.len() / k.max(1);
        let mut out = vec![0.0; m * n];
        for r in 0..m {
            let row = &av[r * k..(r + 1) * k];
            let o = &mut out[r * n..(r + 1) * n];
            for (kk, &x) in row.iter().enumerate() {
                if x != 0.0 {
                    let wr = &w[kk * n..(kk + 1) * n];
                    for (oc, &wv) in o.iter_mut().zip(wr) {
                        *oc += x * wv;
                    }
                }
            }
            if let Some(b) = &bias {
                for (oc, &bv) in o.iter_mut().zip(b) {
                    *oc += bv;
                }
            }
        }
        let mut oshape = shape.to_vec();
        let rk = oshape.len();
        oshape[rk - 1] = n;
        Ok(vec![Tensor::from_f64(a.dtype(), &oshape, &out)?])
    }
}

pub fn import_matmul_n_bits(c: &NodeCtx) -> Result<Op, String> {
    let k = c.attrs.int("K", -1)?;
    let n = c.attrs.int("N", -1)?;
    let bits = c.attrs.int("bits", 4)?;
    let block_size = c.attrs.int("block_size", -1)?;
    if k <= 0 || n <= 0 {
        return Err(format!("K and N must be positive, got K={k}, N={n}"));
    }
    if !matches!(bits, 2 | 4 | 8) {
        return Err(format!("bits={bits} is not supported (2, 4, 8)"));
    }
    if block_size < 16 || (block_size & (block_size - 1)) != 0 {
        return Err(format!("block_size must be a power of two ≥ 16, got {block_size}"));
    }
    Ok(Op::MatMulNBits(MatMulNBits {
        k: k as usize,
        n: n as usize,
        bits: bits as usize,
        block_size: block_size as usize,
    }))
}

// ---- QLinearAdd / QLinearMul -----------------------------------------------------------------

/// QLinearAdd / QLinearMul: `C = saturate(round((deq(A) ∘ deq(B)) / C_scale) + C_zero_point)`
/// with broadcasting; inputs (A, A_scale, A_zp?, B, B_scale, B_zp?, C_scale, C_zp?).
#[derive(Clone, Debug)]
pub struct QLinearBinary {
    pub mul: bool,
}

impl OpSpec for QLinearBinary {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (a, b) = (cx.input(0)?, cx.input(3)?);
        int8_range(a.dtype)?;
        if b.dtype != a.dtype {
            return Err(format!("A and B must share a type, got {} and {}", a.dtype, b.dtype));
        }
        cx.input(1)?;
        cx.input(4)?;
        cx.input(6)?;
        Ok(vec![vt(a.dtype, broadcast_dims(&[&a.dims, &b.dims])?)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (a, b) = (need(inputs, 0)?, need(inputs, 3)?);
        let dt = a.dtype();
        let (lo, hi) = int8_range(dt)?;
        if b.dtype() != dt {
            return Err(format!("A and B must share a type, got {dt} and {}", b.dtype()));
        }
        let a_s = scalar(inputs, 1, "A_scale", None)? as f32;
        let a_z = scalar(inputs, 2, "A_zero_point", Some(0.0))? as f32;
        let b_s = scalar(inputs, 4, "B_scale", None)? as f32;
        let b_z = scalar(inputs, 5, "B_zero_point", Some(0.0))? as f32;
        let c_s = scalar(inputs, 6, "C_scale", None)? as f32;
        let c_z = scalar(inputs, 7, "C_zero_point", Some(0.0))? as f32;
        let (av, bv) = (a.to_f64_vec()?, b.to_f64_vec()?);
        let mul = self.mul;
        let (v, shape) = broadcast_map(&[(&av[..], a.shape()), (&bv[..], b.shape())], |x| {
            let (da, db) = ((x[0] as f32 - a_z) * a_s, (x[1] as f32 - b_z) * b_s);
            let r = if mul { da * db } else { da + db };
            Ok(((r / c_s).round_ties_even() + c_z).clamp(lo as f32, hi as f32) as f64)
        })?;
        Ok(vec![Tensor::from_f64(dt, &shape, &v)?])
    }
}

pub fn import_qlinear_add(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::QLinearBinary(QLinearBinary { mul: false }))
}

pub fn import_qlinear_mul(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::QLinearBinary(QLinearBinary { mul: true }))
}

// ---- QLinearSoftmax --------------------------------------------------------------------------

/// QLinearSoftmax: inputs (X, X_scale, X_zp?, Y_scale, Y_zp?); `opset` < 13 normalizes over
/// all dims from `axis` on (as one flattened row), ≥ 13 over the `axis` dim only.
#[derive(Clone, Debug)]
pub struct QLinearSoftmax {
    pub axis: i64,
    pub opset: i64,
}

/// ORT's exp table for a row of `reduce_len` elements: entry i holds
/// `exp((i - 255 + shift) · x_scale)` with a shift that keeps the row sum inside f32 range.
/// For int8 data the table is indexed by the byte `i - 128`.
pub fn exp_table(x_scale: f32, reduce_len: usize, signed: bool) -> [f32; 256] {
    let mut bit_shift = (f32::MAX / reduce_len as f32).ln() as f64;
    bit_shift = (bit_shift - 5.0).max(0.0) / x_scale as f64;
    let mut t = [0f32; 256];
    for i in 0..256i32 {
        let e = ((i as f64 - 255.0 + bit_shift) * x_scale as f64).exp();
        let idx = if signed { (i - 128) as u8 } else { i as u8 };
        t[idx as usize] = e as f32;
    }
    t
}

impl QLinearSoftmax {
    pub fn norm_axis(&self, rank: usize) -> Result<usize, String> {
        let r = rank as i64;
        let a = if self.axis < 0 { self.axis + r } else { self.axis };
        if a < 0 || a >= r.max(1) {
            return Err(format!("axis {} out of range for rank {rank}", self.axis));
        }
        Ok(a as usize)
    }
}

impl OpSpec for QLinearSoftmax {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        int8_range(x.dtype)?;
        self.norm_axis(x.rank())?;
        cx.input(1)?;
        cx.input(3)?;
        Ok(vec![vt(x.dtype, x.dims.clone())])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let dt = x.dtype();
        int8_range(dt)?;
        let signed = dt == DType::I8;
        let shape = x.shape();
        let axis = self.norm_axis(shape.len())?;
        let x_s = scalar(inputs, 1, "X_scale", None)? as f32;
        let y_s = scalar(inputs, 3, "Y_scale", None)? as f32;
        let y_z = scalar(inputs, 4, "Y_zero_point", Some(0.0))? as i32;
        let xv: Vec<i32> = x.to_f64_vec()?.iter().map(|&v| v as i32).collect();
        let total = xv.len();
        if total == 0 {
            return Ok(vec![x.clone()]);
        }
        // Rows of `d` elements `inner` apart.
        let (d, inner) = if self.opset < 13 {
            (shape[axis..].iter().product::<usize>(), 1)
        } else {
            (shape.get(axis).copied().unwrap_or(1), shape[axis + 1..].iter().product::<usize>())
        };
        let table = exp_table(x_s, d, signed);
        let y_scale = (1.0f32 / y_s).floor();
        let mut out = vec![0f64; total];
        let rows = total / d;
        for r in 0..rows {
            let (o, i) = (r / inner, r % inner);
            let base = o * d * inner + i;
            let idx = |j: usize| base + j * inner;
            let xmax = (0..d).map(|j| xv[idx(j)]).max().unwrap_or(0);
            // Position of each element in the table once the row max is aligned with its top.
            let pos = |v: i32| -> usize {
                if signed {
                    ((127 - xmax + v) as u8) as usize
                } else {
                    (255 - xmax + v) as usize
                }
            };
            let mut vsum = 0f32;
            for j in 0..d {
                vsum += table[pos(xv[idx(j)])];
            }
            if vsum == 0.0 {
                continue;
            }
            for j in 0..d {
                let e = table[pos(xv[idx(j)])];
                let q = ((e * y_scale) / vsum).round_ties_even() as i32 + y_z;
                out[idx(j)] =
                    if signed { (if q > 255 { 255 } else { q }) as i8 as f64 } else { q.min(255) as u8 as f64 };
            }
        }
        Ok(vec![Tensor::from_f64(dt, shape, &out)?])
    }
}

pub fn import_qlinear_softmax(c: &NodeCtx) -> Result<Op, String> {
    let opset = c.attrs.int("opset", -1)?;
    if opset < 0 {
        return Err("QLinearSoftmax needs the opset attribute".into());
    }
    let axis = c.attrs.int("axis", if opset < 13 { 1 } else { -1 })?;
    Ok(Op::QLinearSoftmax(QLinearSoftmax { axis, opset }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nbits_dequantize_nibbles_and_zero_points() {
        // K = 16 (one block of 16), N = 2; column 0 holds q = 0..15, column 1 holds 15 - q.
        let op = MatMulNBits { k: 16, n: 2, bits: 4, block_size: 16 };
        let mut bytes = vec![];
        for c in 0..2u8 {
            for j in 0..8u8 {
                let (lo, hi) = if c == 0 { (2 * j, 2 * j + 1) } else { (15 - 2 * j, 14 - 2 * j) };
                bytes.push(lo | (hi << 4));
            }
        }
        let b = Tensor::new(&[2, 1, 8], bytes).unwrap();
        let s = Tensor::new(&[2, 1], vec![1.0f32, 0.5]).unwrap();
        let g = op.groups(None).unwrap();
        let w = op.dequantize(&b, &s, None, &g).unwrap();
        assert_eq!(w[0], -8.0); // q0 col0 = 0 - 8
        assert_eq!(w[15 * 2], 7.0);
        assert_eq!(w[1], 3.5); // (15 - 8) * 0.5
        let zp = Tensor::new(&[2], vec![3u8, 0x0f]).unwrap();
        let w = op.dequantize(&b, &s, Some(&zp), &g).unwrap();
        assert_eq!(w[0], -3.0);
        assert_eq!(w[1], 0.0);
    }

    #[test]
    fn qlinear_add_rounds_half_even() {
        let a = Tensor::new(&[2], vec![1u8, 3]).unwrap();
        let one = Tensor::new(&[], vec![1.0f32]).unwrap();
        let two = Tensor::new(&[], vec![2.0f32]).unwrap();
        let z = Tensor::new(&[], vec![0u8]).unwrap();
        let out = QLinearBinary { mul: false }
            .eval(&[Some(&a), Some(&one), Some(&z), Some(&a), Some(&one), Some(&z), Some(&two.clone()), None], 1)
            .unwrap();
        // (1+1)/2 = 1, (3+3)/2 = 3
        assert_eq!(out[0].as_slice::<u8>().unwrap(), &[1, 3]);
    }
}
