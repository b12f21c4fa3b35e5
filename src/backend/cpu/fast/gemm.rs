//! The f32 matrix product under MatMul, Gemm and Conv: the AVX2/FMA kernel of [`super::packed`]
//! where the CPU has it, else `matrixmultiply`'s packed, cache-blocked sgemm, split into column
//! (or row) panels over the session's rayon pool; single rows take a dot-product path.

use rayon::prelude::*;

/// A raw pointer that may cross to pool threads; every task writes a disjoint block.
#[derive(Clone, Copy)]
pub struct Ptr<T>(pub *mut T);
unsafe impl<T> Send for Ptr<T> {}
unsafe impl<T> Sync for Ptr<T> {}

impl<T> Ptr<T> {
    /// The pointer (a method call, so closures capture the whole `Send` wrapper).
    pub fn get(self) -> *mut T {
        self.0
    }
}

/// One operand: base pointer with row and column strides (in elements).
#[derive(Clone, Copy)]
pub struct Mat {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}
unsafe impl Send for Mat {}
unsafe impl Sync for Mat {}

/// Multiply-adds below which splitting over threads costs more than it saves.
pub(crate) const PAR_MIN_WORK: usize = 1 << 17;

/// What [`sgemm_fused`] does to C around the product, per panel while it is in cache.
#[derive(Clone, Copy, Default)]
pub struct Epilogue<'a> {
    /// C starts as `bias[row]` (instead of C's content)...
    pub bias: Option<&'a [f32]>,
    /// ...plus this m×n matrix (row stride `ldc`; a residual), when given.
    pub add: Option<&'a [f32]>,
    /// Then the product is clamped to `[lo, hi]` (a fused Relu/Clip).
    pub clamp: Option<(f32, f32)>,
}

impl Epilogue<'_> {
    fn inits(&self) -> bool {
        self.bias.is_some() || self.add.is_some()
    }

    /// Sets rows `rows` × columns `[j0, j0 + w)` of C to bias + add.
    ///
    /// # Safety
    /// C must address `rows.end` rows of row stride `ldc` covering the columns.
    unsafe fn init(&self, c: *mut f32, ldc: usize, rows: std::ops::Range<usize>, j0: usize, w: usize) {
        for i in rows {
            let row = std::slice::from_raw_parts_mut(c.add(i * ldc + j0), w);
            let b = self.bias.map_or(0.0, |b| b[i]);
            match self.add {
                Some(z) => {
                    for (o, zv) in row.iter_mut().zip(&z[i * ldc + j0..i * ldc + j0 + w]) {
                        *o = b + zv;
                    }
                }
                None => row.fill(b),
            }
        }
    }

    /// # Safety
    /// As [`Epilogue::init`].
    unsafe fn finish(&self, c: *mut f32, ldc: usize, rows: std::ops::Range<usize>, j0: usize, w: usize) {
        if let Some((lo, hi)) = self.clamp {
            for i in rows {
                super::conv::clamp(std::slice::from_raw_parts_mut(c.add(i * ldc + j0), w), lo, hi);
            }
        }
    }
}

/// `C = A·B + beta·C` for `(m, k, n)`: an m×k A, k×n B and m×n C (row stride `ldc`, unit
/// column stride).
/// `par`: split over the current pool's threads (false inside an already parallel loop).
///
/// # Safety
/// The pointers must address the whole matrices their strides describe, and C must not
/// overlap A or B.
pub unsafe fn sgemm(mkn: (usize, usize, usize), a: Mat, b: Mat, c: *mut f32, ldc: usize, beta: f32, par: bool) {
    sgemm_fused(mkn, a, b, c, ldc, beta, Epilogue::default(), par)
}

/// [`sgemm`] with an epilogue applied to each thread's panel of C (bias and residual written
/// before the product, which then accumulates with beta = 1; the clamp after it), so that C
/// is not walked again by separate passes.
///
/// # Safety
/// As [`sgemm`]; `ep.bias` must have m entries and `ep.add` cover C's layout.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm_fused(
    mkn: (usize, usize, usize),
    a: Mat,
    b: Mat,
    c: *mut f32,
    ldc: usize,
    beta: f32,
    ep: Epilogue,
    par: bool,
) {
    let (m, k, n) = mkn;
    if m == 0 || n == 0 {
        return;
    }
    let beta = if ep.inits() { 1.0 } else { beta };
    if k == 0 {
        if ep.inits() {
            ep.init(c, ldc, 0..m, 0, n);
        } else {
            scale_rows(c, ldc, m, n, beta);
        }
        ep.finish(c, ldc, 0..m, 0, n);
        return;
    }
    let threads = if par { rayon::current_num_threads() } else { 1 };
    let work = m * n * k;
    if m == 1 && (b.rs == 1 || b.cs == 1) {
        if ep.inits() {
            ep.init(c, ldc, 0..1, 0, n);
        }
        gemv(k, n, a, b, c, beta, threads > 1 && work >= PAR_MIN_WORK);
        ep.finish(c, ldc, 0..1, 0, n);
        return;
    }
    if super::packed::available() {
        let t = if work < PAR_MIN_WORK { 1 } else { threads };
        super::packed::gemm(mkn, a, b, c, ldc, beta, ep, t);
        return;
    }
    if threads <= 1 || work < PAR_MIN_WORK {
        if ep.inits() {
            ep.init(c, ldc, 0..m, 0, n);
        }
        matrixmultiply::sgemm(m, k, n, 1.0, a.ptr, a.rs, a.cs, b.ptr, b.rs, b.cs, beta, c, ldc as isize, 1);
        ep.finish(c, ldc, 0..m, 0, n);
        return;
    }
    let c = Ptr(c);
    // Column panels keep A (usually the weights) shared; fall back to row panels for thin C.
    if n >= 64 * threads || n >= m {
        let step = n.div_ceil(threads).next_multiple_of(16).min(n);
        (0..n.div_ceil(step)).into_par_iter().for_each(|t| {
            let j0 = t * step;
            let w = step.min(n - j0);
            let (a, b, c) = (a, b, c);
            if ep.inits() {
                ep.init(c.0, ldc, 0..m, j0, w);
            }
            matrixmultiply::sgemm(
                m,
                k,
                w,
                1.0,
                a.ptr,
                a.rs,
                a.cs,
                b.ptr.offset(j0 as isize * b.cs),
                b.rs,
                b.cs,
                beta,
                c.0.add(j0),
                ldc as isize,
                1,
            );
            ep.finish(c.0, ldc, 0..m, j0, w);
        });
    } else {
        let step = m.div_ceil(threads).next_multiple_of(8).min(m);
        (0..m.div_ceil(step)).into_par_iter().for_each(|t| {
            let i0 = t * step;
            let h = step.min(m - i0);
            let (a, b, c) = (a, b, c);
            if ep.inits() {
                ep.init(c.0, ldc, i0..i0 + h, 0, n);
            }
            matrixmultiply::sgemm(
                h,
                k,
                n,
                1.0,
                a.ptr.offset(i0 as isize * a.rs),
                a.rs,
                a.cs,
                b.ptr,
                b.rs,
                b.cs,
                beta,
                c.0.add(i0 * ldc),
                ldc as isize,
                1,
            );
            ep.finish(c.0, ldc, i0..i0 + h, 0, n);
        });
    }
}

/// `C *= beta` over m rows of n (zeros for beta = 0, whatever C held).
///
/// # Safety
/// C must address m rows of row stride `ldc` covering n columns.
pub(crate) unsafe fn scale_rows(c: *mut f32, ldc: usize, m: usize, n: usize, beta: f32) {
    for i in 0..m {
        let row = std::slice::from_raw_parts_mut(c.add(i * ldc), n);
        if beta == 0.0 {
            row.fill(0.0);
        } else {
            row.iter_mut().for_each(|x| *x *= beta);
        }
    }
}

/// Dot product with eight independent f32 accumulators (so it vectorizes).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    s
}

/// `c = a·B + beta·c` for one row a (k) and a k×n B with unit row or column stride: dot
/// products over B's columns (unit row stride, a transposed weight) or rows of B added with a
/// scale (unit column stride), split over columns when `par`. matrixmultiply pads a single
/// row to its 8-row micro-tile, so this path is several times faster for m = 1.
///
/// # Safety
/// As [`sgemm`] with m = 1.
unsafe fn gemv(k: usize, n: usize, a: Mat, b: Mat, c: *mut f32, beta: f32, par: bool) {
    let av: Vec<f32>;
    let a: &[f32] = if a.cs == 1 {
        std::slice::from_raw_parts(a.ptr, k)
    } else {
        av = (0..k).map(|i| *a.ptr.offset(i as isize * a.cs)).collect();
        &av
    };
    let c = Ptr(c);
    let cols = |j0: usize, w: usize| {
        let (b, c) = (b, c);
        let out = std::slice::from_raw_parts_mut(c.0.add(j0), w);
        if beta == 0.0 {
            out.fill(0.0);
        } else if beta != 1.0 {
            out.iter_mut().for_each(|x| *x *= beta);
        }
        if b.rs == 1 {
            for (jj, o) in out.iter_mut().enumerate() {
                let col = std::slice::from_raw_parts(b.ptr.offset((j0 + jj) as isize * b.cs), k);
                *o += dot(a, col);
            }
        } else {
            for (kk, &av) in a.iter().enumerate() {
                let row = std::slice::from_raw_parts(b.ptr.offset(kk as isize * b.rs).add(j0), w);
                for (o, &bv) in out.iter_mut().zip(row) {
                    *o += av * bv;
                }
            }
        }
    };
    if !par {
        cols(0, n);
        return;
    }
    let step = n.div_ceil(rayon::current_num_threads()).next_multiple_of(16).min(n);
    (0..n.div_ceil(step)).into_par_iter().for_each(|t| cols(t * step, step.min(n - t * step)));
}
