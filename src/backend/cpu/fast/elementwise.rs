//! Elementwise f32 kernels: unary functions, binary arithmetic with broadcasting, Clip and
//! Where. Broadcasts are resolved at plan time into collapsed dims and per-input strides; the
//! output is cut into chunks over the pool, and each chunk walks contiguous runs of the last
//! dim with index math once per run.

use super::{chunk_len, f32s_mut};
use crate::ops::elementwise::{BinaryOp, Unary, UnaryOp};
use crate::tensor::shape::broadcast_strides;
use crate::tensor::DType;
use rayon::prelude::*;

/// Elements per task below which splitting is not worth it.
const MIN_CHUNK: usize = 1 << 14;

/// A broadcast of several inputs onto one output, with unit dims dropped and mergeable dims
/// merged.
#[derive(Debug, Clone)]
pub struct Bcast {
    pub dims: Vec<usize>,
    /// Per input, its stride (elements) along each of `dims` (0 = broadcast).
    pub strides: Vec<Vec<usize>>,
    pub n: usize,
}

impl Bcast {
    pub fn new(ins: &[&[usize]], out: &[usize]) -> Option<Bcast> {
        let full: Vec<Vec<usize>> = ins.iter().map(|s| broadcast_strides(s, out)).collect();
        let mut dims: Vec<usize> = Vec::new();
        let mut strides: Vec<Vec<usize>> = vec![Vec::new(); ins.len()];
        for (d, &e) in out.iter().enumerate() {
            if e == 1 {
                continue;
            }
            let merge = !dims.is_empty() && full.iter().zip(&strides).all(|(f, s)| s.last().copied() == Some(f[d] * e));
            if merge {
                *dims.last_mut()? *= e;
                for (f, s) in full.iter().zip(strides.iter_mut()) {
                    *s.last_mut()? = f[d];
                }
            } else {
                dims.push(e);
                for (f, s) in full.iter().zip(strides.iter_mut()) {
                    s.push(f[d]);
                }
            }
        }
        if dims.is_empty() {
            dims.push(1);
            strides.iter_mut().for_each(|s| s.push(0));
        }
        Some(Bcast { n: out.iter().product(), dims, strides })
    }

    /// Calls `f(out_offset, input_offsets, len, input_inner_strides)` for each contiguous run of
    /// output elements in `[start, end)`.
    fn segments(&self, start: usize, end: usize, mut f: impl FnMut(usize, &[usize], usize, &[usize])) {
        let r = self.dims.len();
        let inner = self.dims[r - 1];
        let inner_st: Vec<usize> = self.strides.iter().map(|s| s[r - 1]).collect();
        let mut offs = vec![0usize; self.strides.len()];
        let mut pos = start;
        while pos < end {
            let (mut row, col) = (pos / inner, pos % inner);
            for (o, s) in offs.iter_mut().zip(&self.strides) {
                *o = col * s[r - 1];
            }
            for d in (0..r - 1).rev() {
                let i = row % self.dims[d];
                row /= self.dims[d];
                for (o, s) in offs.iter_mut().zip(&self.strides) {
                    *o += i * s[d];
                }
            }
            let len = (inner - col).min(end - pos);
            f(pos, &offs, len, &inner_st);
            pos += len;
        }
    }

    /// Runs `f` on chunks of the output in parallel; `f(chunk_start, chunk)`.
    fn par_chunks<T: Send>(&self, out: &mut [T], f: impl Fn(usize, &mut [T]) + Sync + Send) {
        let cl = chunk_len(self.n, MIN_CHUNK);
        out.par_chunks_mut(cl).enumerate().for_each(|(c, o)| f(c * cl, o));
    }
}

#[inline(always)]
fn seg2(o: &mut [f32], a: &[f32], sa: usize, b: &[f32], sb: usize, f: impl Fn(f32, f32) -> f32) {
    let n = o.len();
    match (sa, sb) {
        (1, 1) => {
            for ((o, &x), &y) in o.iter_mut().zip(&a[..n]).zip(&b[..n]) {
                *o = f(x, y);
            }
        }
        (1, 0) => {
            let y = b[0];
            for (o, &x) in o.iter_mut().zip(&a[..n]) {
                *o = f(x, y);
            }
        }
        (0, 1) => {
            let x = a[0];
            for (o, &y) in o.iter_mut().zip(&b[..n]) {
                *o = f(x, y);
            }
        }
        _ => {
            for (i, o) in o.iter_mut().enumerate() {
                *o = f(a[i * sa], b[i * sb]);
            }
        }
    }
}

/// Binary arithmetic on f32 with broadcasting.
#[derive(Debug)]
pub struct BinaryPlan {
    pub op: BinaryOp,
    pub b: Bcast,
}

impl BinaryPlan {
    pub fn new(op: BinaryOp, a: &[usize], b: &[usize], out: &[usize]) -> Option<BinaryPlan> {
        if op.is_comparison() || op.is_logic() || op.is_bitwise() {
            return None;
        }
        if op == BinaryOp::PRelu && b.len() > a.len() {
            return None;
        }
        Some(BinaryPlan { op, b: Bcast::new(&[a, b], out)? })
    }

    pub fn run(&self, a: &[f32], b: &[f32], out: &mut [f32]) -> Result<(), String> {
        if out.len() != self.b.n {
            return Err("binary: output size differs from the plan".into());
        }
        match self.op {
            BinaryOp::Add => self.go(a, b, out, |x, y| x + y),
            BinaryOp::Sub => self.go(a, b, out, |x, y| x - y),
            BinaryOp::Mul => self.go(a, b, out, |x, y| x * y),
            BinaryOp::Div => self.go(a, b, out, |x, y| x / y),
            // The reference's f64 function, rounded once: the same result.
            op => self.go(a, b, out, move |x, y| op.apply(x as f64, y as f64) as f32),
        }
        Ok(())
    }

    fn go(&self, a: &[f32], b: &[f32], out: &mut [f32], f: impl Fn(f32, f32) -> f32 + Sync + Send + Copy) {
        self.b.par_chunks(out, |start, o| {
            self.b.segments(start, start + o.len(), |pos, offs, len, st| {
                let o = &mut o[pos - start..pos - start + len];
                seg2(o, &a[offs[0]..], st[0], &b[offs[1]..], st[1], f);
            });
        });
    }
}

/// And/Or/Xor on bools (one byte each, 0 or 1) with broadcasting.
pub fn logic_bool(bc: &Bcast, op: BinaryOp, a: &[u8], b: &[u8], out: &mut [u8]) -> Result<(), String> {
    if out.len() != bc.n {
        return Err("logic: output size differs from the plan".into());
    }
    let f: fn(bool, bool) -> bool = match op {
        BinaryOp::And => |x, y| x & y,
        BinaryOp::Or => |x, y| x | y,
        BinaryOp::Xor => |x, y| x ^ y,
        _ => return Err(format!("logic: {op:?} is not a logical op")),
    };
    bc.par_chunks(out, |start, o| {
        bc.segments(start, start + o.len(), |pos, offs, len, st| {
            let o = &mut o[pos - start..pos - start + len];
            for (i, o) in o.iter_mut().enumerate() {
                *o = f(a[offs[0] + i * st[0]] != 0, b[offs[1] + i * st[1]] != 0) as u8;
            }
        });
    });
    Ok(())
}

/// Where(cond, x, y) on f32 with broadcasting.
pub fn where_f32(bc: &Bcast, c: &[u8], x: &[f32], y: &[f32], out: &mut [f32]) -> Result<(), String> {
    if out.len() != bc.n {
        return Err("Where: output size differs from the plan".into());
    }
    bc.par_chunks(out, |start, o| {
        bc.segments(start, start + o.len(), |pos, offs, len, st| {
            let o = &mut o[pos - start..pos - start + len];
            for (i, o) in o.iter_mut().enumerate() {
                *o = if c[offs[0] + i * st[0]] != 0 { x[offs[1] + i * st[1]] } else { y[offs[2] + i * st[2]] };
            }
        });
    });
    Ok(())
}

/// Clip with bounds from attributes (or, when `None` here, from run-time inputs).
#[derive(Debug)]
pub struct ClipPlan {
    pub min: Option<f32>,
    pub max: Option<f32>,
}

pub fn clip(x: &[f32], lo: Option<f32>, hi: Option<f32>, out: &mut [f32]) {
    // A missing bound never clamps (NaN compares false).
    let (lo, hi) = (lo.unwrap_or(f32::NAN), hi.unwrap_or(f32::NAN));
    let cl = chunk_len(out.len(), MIN_CHUNK);
    out.par_chunks_mut(cl).zip(x.par_chunks(cl)).for_each(|(o, x)| {
        o.copy_from_slice(x);
        super::conv::clamp(o, lo, hi);
    });
}

/// `y += z` (a fused residual Add; same length).
pub fn add_assign(y: &mut [f32], z: &[f32]) {
    let cl = chunk_len(y.len(), MIN_CHUNK);
    y.par_chunks_mut(cl).zip(z.par_chunks(cl)).for_each(|(y, z)| {
        for (a, b) in y.iter_mut().zip(z) {
            *a += *b;
        }
    });
}

/// A unary function on f32 (bool out for IsNaN/IsInf).
#[derive(Debug)]
pub struct UnaryPlan {
    pub op: UnaryOp,
    pub alpha: f32,
    pub beta: f32,
    pub bool_out: bool,
}

impl UnaryPlan {
    pub fn new(u: &Unary, out: DType) -> Option<UnaryPlan> {
        let bool_out = matches!(u.op, UnaryOp::IsNaN | UnaryOp::IsInf);
        if u.op == UnaryOp::Not || (bool_out && out != DType::Bool) || (!bool_out && out != DType::F32) {
            return None;
        }
        Some(UnaryPlan { op: u.op, alpha: u.alpha, beta: u.beta, bool_out })
    }

    pub fn run(&self, x: &[f32], out: &mut [u8]) -> Result<(), String> {
        let (a, b) = (self.alpha as f64, self.beta as f64);
        let op = self.op;
        if self.bool_out {
            if out.len() != x.len() {
                return Err("unary: output size differs from the input".into());
            }
            let cl = chunk_len(x.len(), MIN_CHUNK);
            out.par_chunks_mut(cl).zip(x.par_chunks(cl)).for_each(|(o, x)| {
                if op == UnaryOp::IsNaN {
                    for (o, &e) in o.iter_mut().zip(x) {
                        *o = e.is_nan() as u8;
                    }
                } else {
                    for (o, &e) in o.iter_mut().zip(x) {
                        *o = (op.apply(e as f64, a, b) != 0.0) as u8;
                    }
                }
            });
            return Ok(());
        }
        let out = f32s_mut(out)?;
        if out.len() != x.len() {
            return Err("unary: output size differs from the input".into());
        }
        map(x, out, move |e| unary_one(op, e, a, b));
        Ok(())
    }
}

/// One element of a unary op in f32: the common activations natively, the rest as the
/// reference's f64 function rounded once.
#[inline]
pub fn unary_one(op: UnaryOp, e: f32, a: f64, b: f64) -> f32 {
    match op {
        UnaryOp::Relu => {
            if e > 0.0 || e.is_nan() {
                e
            } else {
                0.0
            }
        }
        UnaryOp::Neg => -e,
        UnaryOp::Abs => e.abs(),
        UnaryOp::Sqrt => e.sqrt(),
        UnaryOp::Erf => erf_f32(e),
        UnaryOp::Gelu => 0.5 * e * (1.0 + erf_f32(e * std::f32::consts::FRAC_1_SQRT_2)),
        _ => op.apply(e as f64, a, b) as f32,
    }
}

/// `y[r·n + j] += c[j]` for every row r (n = c.len()), rows split over the threads.
pub fn add_rows(y: &mut [f32], c: &[f32]) {
    let n = c.len().max(1);
    let rows = chunk_len(y.len() / n, (MIN_CHUNK / n).max(1));
    y.par_chunks_mut(rows * n).for_each(|y| {
        for row in y.chunks_mut(n) {
            row.iter_mut().zip(c).for_each(|(v, &b)| *v += b);
        }
    });
}

/// `y[i] = f(y[i])` over chunks in parallel.
pub fn map_in_place(y: &mut [f32], f: impl Fn(f32) -> f32 + Sync + Send) {
    let cl = chunk_len(y.len(), MIN_CHUNK);
    y.par_chunks_mut(cl).for_each(|y| {
        for v in y {
            *v = f(*v);
        }
    });
}

fn map(x: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32 + Sync + Send) {
    let cl = chunk_len(x.len(), MIN_CHUNK);
    out.par_chunks_mut(cl).zip(x.par_chunks(cl)).for_each(|(o, x)| {
        for (o, &e) in o.iter_mut().zip(x) {
            *o = f(e);
        }
    });
}

/// erf in f32: a rational approximation on [-4, 4] (Eigen's `generic_fast_erf_float`), within a
/// few ulp; ±1 outside.
pub fn erf_f32(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    // Plain multiply-adds: `mul_add` is a libm call without a target FMA.
    let mut p = -2.726_142_3e-10_f32;
    for c in [2.770_681_4e-8, -2.101_024e-6, -5.692_506_4e-5, -7.349_906_3e-4, -2.954_600_5e-3, -1.609_603_3e-2] {
        p = p * x2 + c;
    }
    let mut q = -1.456_607_2e-5_f32;
    for c in [-2.133_740_6e-4, -1.682_827e-3, -7.373_329_4e-3, -1.426_474e-2] {
        q = q * x2 + c;
    }
    x * p / q
}

/// The optimizer's fused elementwise program on f32 tensors: each output chunk is evaluated
/// in blocks of [`BLOCK`] elements, instruction by instruction over the whole block (so every
/// inner loop is a plain, vectorisable loop), each instruction rounded to f32 as the reference
/// rounds it (+, −, ×, ÷ computed in f32 directly, which gives the same bits; the activations as
/// [`unary_one`]; the rest in f64 rounded once). Chunks run in parallel.
pub fn fused_f32(b: &Bcast, f: &crate::ops::fused_ew::FusedElementwise, ins: &[&[f32]], out: &mut [f32]) {
    let n = f.n_inputs;
    let last = n + f.prog.len() - 1;
    b.par_chunks(out, |start, o| {
        let mut regs = vec![0f32; (n + f.prog.len()) * BLOCK];
        b.segments(start, start + o.len(), |pos, offs, len, st| {
            let mut done = 0;
            while done < len {
                let m = (len - done).min(BLOCK);
                for (i, ((x, &off), &s)) in ins.iter().zip(offs).zip(st).enumerate() {
                    let r = &mut regs[i * BLOCK..i * BLOCK + m];
                    let off = off + done * s;
                    match s {
                        0 => r.fill(x[off]),
                        1 => r.copy_from_slice(&x[off..off + m]),
                        _ => r.iter_mut().enumerate().for_each(|(j, v)| *v = x[off + j * s]),
                    }
                }
                for (k, instr) in f.prog.iter().enumerate() {
                    let (lo, hi) = regs.split_at_mut((n + k) * BLOCK);
                    block_instr(instr, lo, &mut hi[..m]);
                }
                let y = pos - start + done;
                o[y..y + m].copy_from_slice(&regs[last * BLOCK..last * BLOCK + m]);
                done += m;
            }
        });
    });
}

/// Elements per block of [`fused_f32`].
const BLOCK: usize = 256;

/// One operand of a block instruction: a register row or an immediate.
#[derive(Clone, Copy)]
enum Src<'a> {
    Row(&'a [f32]),
    Imm(f32),
}

impl Src<'_> {
    #[inline(always)]
    fn at(self, j: usize) -> f32 {
        match self {
            Src::Row(r) => r[j],
            Src::Imm(v) => v,
        }
    }
}

/// Runs one instruction over a block: `regs` holds the rows written so far (BLOCK apart),
/// `dst` the instruction's row.
fn block_instr(instr: &crate::ops::fused_ew::Instr, regs: &[f32], dst: &mut [f32]) {
    use crate::ops::fused_ew::{Arg, EwOp};
    let m = dst.len();
    let src = |a: &Arg| match *a {
        Arg::Reg(r) => Src::Row(&regs[r * BLOCK..r * BLOCK + m]),
        Arg::Imm(v) => Src::Imm(v),
    };
    match instr.op {
        EwOp::Unary(op, al, be) => {
            let (a, al, be) = (src(&instr.args[0]), al as f64, be as f64);
            match op {
                UnaryOp::Relu => bin_block(dst, a, Src::Imm(0.0), |x, _| if x > 0.0 || x.is_nan() { x } else { 0.0 }),
                UnaryOp::Neg => bin_block(dst, a, Src::Imm(0.0), |x, _| -x),
                UnaryOp::Abs => bin_block(dst, a, Src::Imm(0.0), |x, _| x.abs()),
                UnaryOp::Sqrt => bin_block(dst, a, Src::Imm(0.0), |x, _| x.sqrt()),
                UnaryOp::IsNaN => bin_block(dst, a, Src::Imm(0.0), |x, _| x.is_nan() as u8 as f32),
                UnaryOp::Erf => bin_block(dst, a, Src::Imm(0.0), |x, _| erf_f32(x)),
                _ => bin_block(dst, a, Src::Imm(0.0), |x, _| unary_one(op, x, al, be)),
            }
        }
        EwOp::Binary(op) => {
            let (a, b) = (src(&instr.args[0]), src(&instr.args[1]));
            match op {
                BinaryOp::Add => bin_block(dst, a, b, |x, y| x + y),
                BinaryOp::Sub => bin_block(dst, a, b, |x, y| x - y),
                BinaryOp::Mul => bin_block(dst, a, b, |x, y| x * y),
                BinaryOp::Div => bin_block(dst, a, b, |x, y| x / y),
                _ => bin_block(dst, a, b, |x, y| op.apply(x as f64, y as f64) as f32),
            }
        }
        EwOp::Where => {
            let (c, a, b) = (src(&instr.args[0]), src(&instr.args[1]), src(&instr.args[2]));
            for (j, d) in dst.iter_mut().enumerate() {
                *d = if c.at(j) != 0.0 { a.at(j) } else { b.at(j) };
            }
        }
    }
}

/// `dst[j] = f(a[j], b[j])`, with the row/immediate cases split so each loop is plain.
#[inline(always)]
fn bin_block(dst: &mut [f32], a: Src, b: Src, f: impl Fn(f32, f32) -> f32) {
    match (a, b) {
        (Src::Row(a), Src::Row(b)) => dst.iter_mut().zip(a).zip(b).for_each(|((d, &x), &y)| *d = f(x, y)),
        (Src::Row(a), Src::Imm(y)) => dst.iter_mut().zip(a).for_each(|(d, &x)| *d = f(x, y)),
        (Src::Imm(x), Src::Row(b)) => dst.iter_mut().zip(b).for_each(|(d, &y)| *d = f(x, y)),
        (Src::Imm(x), Src::Imm(y)) => dst.fill(f(x, y)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::elementwise::erf;

    #[test]
    fn erf_matches_reference() {
        let mut worst = 0.0f64;
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            let d = (erf_f32(x) as f64 - erf(x as f64)).abs();
            worst = worst.max(d);
        }
        assert!(worst < 1e-6, "max abs error {worst}");
    }

    #[test]
    fn bcast_collapses() {
        let b = Bcast::new(&[&[1, 3, 4, 5], &[3, 1, 1]], &[1, 3, 4, 5]).unwrap();
        assert_eq!(b.dims, vec![3, 20]);
        assert_eq!(b.strides, vec![vec![20, 1], vec![1, 0]]);
        let b = Bcast::new(&[&[2, 3], &[2, 3]], &[2, 3]).unwrap();
        assert_eq!(b.dims, vec![6]);
    }
}
