//! The f32 GEMM of the CPU backend on x86-64 CPUs with AVX2 and FMA (checked at run time;
//! other CPUs keep `matrixmultiply`): A packed once per call in 6-row panels (shared by the
//! pool threads), B packed per thread in 16-column panels of (KC × NC) blocks sized for L2,
//! and a 6×16 register-tile micro-kernel (12 ymm accumulators, FMA). The epilogue of
//! [`Epilogue`] (bias per row, a residual matrix, a clamp) is applied to each tile while it
//! is in registers, so C is written once. Work is split over the current rayon pool by
//! column ranges (or by row panels when C is thin).

use super::gemm::{Epilogue, Mat, Ptr};
use rayon::prelude::*;
use std::cell::RefCell;

/// Rows of a register tile (A panel height).
pub const MR: usize = 6;
/// Columns of a register tile (B panel width): two ymm registers.
pub const NR: usize = 16;
/// Depth of one packed block.
const KC: usize = 256;
/// Floats in one packed B block (KC × NC): 160 KiB, so it stays in L2 while A panels stream.
const B_BLOCK: usize = 40 * 1024;

/// True when this CPU runs the kernel (AVX2 and FMA).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

thread_local! {
    /// The packed A of the GEMM this thread started (shared with the pool while it runs).
    static PACK_A: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// This thread's packed B block.
    static PACK_B: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A 64-byte aligned window of `n` floats in `v` (grown as needed).
fn aligned(v: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if v.len() < n + 16 {
        v.resize(n + 16, 0.0);
    }
    let off = v.as_ptr().align_offset(64).min(16);
    &mut v[off..off + n]
}

/// Runs `f` with a thread-local buffer (a fresh one if that buffer is in use up the stack).
fn with_buf<R>(key: &'static std::thread::LocalKey<RefCell<Vec<f32>>>, f: impl FnOnce(&mut Vec<f32>) -> R) -> R {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut b) => f(&mut b),
        Err(_) => f(&mut Vec::new()),
    })
}

/// Packs A (m×k) into `dst`: per KC block of k (at `pc·mp`), per 6-row panel (at
/// `ip·MR·kc` within it), kc groups of 6 values; rows past m are zero.
///
/// # Safety
/// `a` must address m×k values.
unsafe fn pack_a(m: usize, k: usize, a: Mat, dst: &mut [f32]) {
    let mp = m.div_ceil(MR) * MR;
    for pc in (0..k).step_by(KC) {
        let kc = KC.min(k - pc);
        for ip in 0..mp / MR {
            let panel = &mut dst[pc * mp + ip * MR * kc..pc * mp + (ip + 1) * MR * kc];
            for r in 0..MR {
                let i = ip * MR + r;
                if i >= m {
                    for kk in 0..kc {
                        panel[kk * MR + r] = 0.0;
                    }
                    continue;
                }
                let row = a.ptr.offset(i as isize * a.rs + pc as isize * a.cs);
                if a.cs == 1 {
                    let row = std::slice::from_raw_parts(row, kc);
                    for (kk, &v) in row.iter().enumerate() {
                        panel[kk * MR + r] = v;
                    }
                } else {
                    for kk in 0..kc {
                        panel[kk * MR + r] = *row.offset(kk as isize * a.cs);
                    }
                }
            }
        }
    }
}

/// B computed row segment by row segment instead of read from memory (an implicit im2col).
pub trait RowSource: Sync {
    /// Writes `B[k][j0..j0 + dst.len()]` into `dst`.
    fn row(&self, k: usize, j0: usize, dst: &mut [f32]);
}

/// Where B comes from.
#[derive(Clone, Copy)]
pub enum BSrc<'a> {
    Mat(Mat),
    Rows(&'a dyn RowSource),
}

/// Scatters one row (`nc` values) of a B block into the 16-column panels at row `kk`.
#[inline(always)]
fn scatter_row(row: &[f32], kk: usize, kc: usize, dst: &mut [f32]) {
    let full = row.len() / NR;
    for jp in 0..full {
        let d = &mut dst[jp * kc * NR + kk * NR..][..NR];
        d.copy_from_slice(&row[jp * NR..][..NR]);
    }
    let w = row.len() - full * NR;
    if w > 0 {
        let d = &mut dst[full * kc * NR + kk * NR..][..NR];
        for (c, v) in d.iter_mut().enumerate() {
            *v = if c < w { row[full * NR + c] } else { 0.0 };
        }
    }
}

/// Packs rows `pc..pc + kc`, columns `jc..jc + nc` of B into 16-column panels (panel `jp`
/// at `jp·kc·NR`, kc rows of 16), columns past `nc` zero. `tmp`: room for a row of a
/// [`RowSource`].
///
/// # Safety
/// A `Mat` source must address the block.
unsafe fn pack_b(b: BSrc, pc: usize, kc: usize, jc: usize, nc: usize, dst: &mut [f32], tmp: &mut Vec<f32>) {
    let np = nc.div_ceil(NR);
    match b {
        BSrc::Rows(src) => {
            tmp.resize(nc, 0.0);
            for kk in 0..kc {
                src.row(pc + kk, jc, &mut tmp[..nc]);
                scatter_row(&tmp[..nc], kk, kc, dst);
            }
        }
        BSrc::Mat(b) if b.cs == 1 => {
            for kk in 0..kc {
                let row = std::slice::from_raw_parts(b.ptr.offset((pc + kk) as isize * b.rs + jc as isize), nc);
                scatter_row(row, kk, kc, dst);
            }
        }
        BSrc::Mat(b) => {
            for jp in 0..np {
                let d = &mut dst[jp * kc * NR..(jp + 1) * kc * NR];
                let j = jp * NR;
                let w = NR.min(nc - j);
                for c in 0..NR {
                    if c >= w {
                        for kk in 0..kc {
                            d[kk * NR + c] = 0.0;
                        }
                        continue;
                    }
                    let col = b.ptr.offset(pc as isize * b.rs + (jc + j + c) as isize * b.cs);
                    for kk in 0..kc {
                        d[kk * NR + c] = *col.offset(kk as isize * b.rs);
                    }
                }
            }
        }
    }
}

/// What one tile does around its accumulators.
#[derive(Clone, Copy)]
struct TileOp {
    /// Start from C's content (a later k block, or beta = 1).
    load_c: bool,
    /// MR row biases to add (null: none).
    bias: *const f32,
    /// A residual tile to add (null: none), row stride `ld_add`.
    add: *const f32,
    ld_add: usize,
    /// Clamp bounds applied before the store.
    clamp: Option<(f32, f32)>,
}

/// One full 6×16 tile: `C = [C +] A_panel·B_panel [+ bias + add]`, clamped.
///
/// # Safety
/// AVX2 and FMA must be available; `a` holds kc×6 and `b` kc×16 packed values, `c` a 6×16
/// tile of row stride `ldc` (and `op`'s pointers their tiles).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize, op: &TileOp) {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_ps(); 2 * MR];
    let (mut ap, mut bp) = (a, b);
    for _ in 0..kc {
        let b0 = _mm256_loadu_ps(bp);
        let b1 = _mm256_loadu_ps(bp.add(8));
        for i in 0..MR {
            let av = _mm256_broadcast_ss(&*ap.add(i));
            acc[2 * i] = _mm256_fmadd_ps(av, b0, acc[2 * i]);
            acc[2 * i + 1] = _mm256_fmadd_ps(av, b1, acc[2 * i + 1]);
        }
        ap = ap.add(MR);
        bp = bp.add(NR);
    }
    for i in 0..MR {
        let row = c.add(i * ldc);
        let (mut v0, mut v1) = (acc[2 * i], acc[2 * i + 1]);
        if op.load_c {
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(row));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(row.add(8)));
        }
        if !op.bias.is_null() {
            let bv = _mm256_broadcast_ss(&*op.bias.add(i));
            v0 = _mm256_add_ps(v0, bv);
            v1 = _mm256_add_ps(v1, bv);
        }
        if !op.add.is_null() {
            let z = op.add.add(i * op.ld_add);
            v0 = _mm256_add_ps(v0, _mm256_loadu_ps(z));
            v1 = _mm256_add_ps(v1, _mm256_loadu_ps(z.add(8)));
        }
        if let Some((lo, hi)) = op.clamp {
            // max(lo, v) then min(hi, v) keep a NaN v (the second operand wins on NaN), as
            // the scalar clamp does.
            let (l, h) = (_mm256_set1_ps(lo), _mm256_set1_ps(hi));
            v0 = _mm256_min_ps(h, _mm256_max_ps(l, v0));
            v1 = _mm256_min_ps(h, _mm256_max_ps(l, v1));
        }
        _mm256_storeu_ps(row, v0);
        _mm256_storeu_ps(row.add(8), v1);
    }
}

/// A tile cut at the matrix edge (`mr` ≤ 6 rows, `nr` ≤ 16 columns): run on a local 6×16
/// copy, then the valid part is written back.
///
/// # Safety
/// As [`tile`], for an mr×nr tile of C (and of `op.add`).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
unsafe fn edge_tile(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    mr: usize,
    nr: usize,
    op: &TileOp,
) {
    let mut ct = [0.0f32; MR * NR];
    let mut zt = [0.0f32; MR * NR];
    let mut bt = [0.0f32; MR];
    let mut local = *op;
    for i in 0..mr {
        if op.load_c {
            std::ptr::copy_nonoverlapping(c.add(i * ldc), ct.as_mut_ptr().add(i * NR), nr);
        }
        if !op.add.is_null() {
            std::ptr::copy_nonoverlapping(op.add.add(i * op.ld_add), zt.as_mut_ptr().add(i * NR), nr);
        }
        if !op.bias.is_null() {
            bt[i] = *op.bias.add(i);
        }
    }
    if !op.add.is_null() {
        local.add = zt.as_ptr();
        local.ld_add = NR;
    }
    if !op.bias.is_null() {
        local.bias = bt.as_ptr();
    }
    tile(kc, a, b, ct.as_mut_ptr(), NR, &local);
    for i in 0..mr {
        std::ptr::copy_nonoverlapping(ct.as_ptr().add(i * NR), c.add(i * ldc), nr);
    }
}

/// Shared, read-only description of one GEMM call.
#[derive(Clone, Copy)]
struct Job<'a> {
    m: usize,
    k: usize,
    /// Packed A (see [`pack_a`]).
    ap: *const f32,
    b: BSrc<'a>,
    c: Ptr<f32>,
    ldc: usize,
    /// C's content is kept (beta = 1, no init by the epilogue).
    keep_c: bool,
    ep: Epilogue<'a>,
}
unsafe impl Send for Job<'_> {}
unsafe impl Sync for Job<'_> {}

impl Job<'_> {
    /// Computes rows of A panels `panels` × columns `cols` of C.
    ///
    /// # Safety
    /// As [`gemm`]; tasks must cover disjoint blocks of C.
    #[cfg(target_arch = "x86_64")]
    unsafe fn block(&self, panels: std::ops::Range<usize>, cols: std::ops::Range<usize>) {
        let (m, k) = (self.m, self.k);
        let mp = m.div_ceil(MR) * MR;
        let kc_max = KC.min(k);
        let nc_max = (B_BLOCK / kc_max).max(NR) / NR * NR;
        let mut tmp = Vec::new();
        with_buf(&PACK_B, |buf| {
            let bbuf = aligned(buf, kc_max * nc_max.min(cols.len().next_multiple_of(NR)));
            let mut jc = cols.start;
            while jc < cols.end {
                let nc = nc_max.min(cols.end - jc);
                for pc in (0..k).step_by(KC) {
                    let kc = KC.min(k - pc);
                    pack_b(self.b, pc, kc, jc, nc, bbuf, &mut tmp);
                    let first = pc == 0;
                    let last = pc + kc == k;
                    for ip in panels.clone() {
                        let i0 = ip * MR;
                        let mr = MR.min(m - i0);
                        let a = self.ap.add(pc * mp + ip * MR * kc);
                        for jp in 0..nc.div_ceil(NR) {
                            let j = jc + jp * NR;
                            let nr = NR.min(nc - jp * NR);
                            let cp = self.c.get().add(i0 * self.ldc + j);
                            let op = TileOp {
                                load_c: !first || self.keep_c,
                                bias: match self.ep.bias {
                                    Some(bv) if first => bv.as_ptr().add(i0),
                                    _ => std::ptr::null(),
                                },
                                add: match self.ep.add {
                                    Some(z) if first => z.as_ptr().add(i0 * self.ldc + j),
                                    _ => std::ptr::null(),
                                },
                                ld_add: self.ldc,
                                clamp: if last { self.ep.clamp } else { None },
                            };
                            let b = bbuf.as_ptr().add(jp * kc * NR);
                            if mr == MR && nr == NR {
                                tile(kc, a, b, cp, self.ldc, &op);
                            } else {
                                edge_tile(kc, a, b, cp, self.ldc, mr, nr, &op);
                            }
                        }
                    }
                }
                jc += nc;
            }
        })
    }
}

/// Packs a row-major m×k A (e.g. constant weights, at plan time) for [`gemm_prepacked`].
pub fn prepack_a(m: usize, k: usize, a: &[f32]) -> Option<Vec<f32>> {
    if a.len() != m * k || m == 0 || k == 0 {
        return None;
    }
    let mut v = vec![0.0f32; packed_a_len(m, k)];
    // SAFETY: a holds m×k values of row stride k.
    unsafe { pack_a(m, k, Mat { ptr: a.as_ptr(), rs: k as isize, cs: 1 }, &mut v) };
    Some(v)
}

/// Floats of a packed m×k A.
pub fn packed_a_len(m: usize, k: usize) -> usize {
    m.div_ceil(MR) * MR * k
}

/// `C = A·B + beta·C` with the epilogue (see [`super::gemm::sgemm_fused`]), split over
/// `threads` pool threads. Requires [`available`]; m, n, k > 0.
///
/// # Safety
/// As [`super::gemm::sgemm_fused`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm(
    (m, k, n): (usize, usize, usize),
    a: Mat,
    b: Mat,
    c: *mut f32,
    ldc: usize,
    beta: f32,
    ep: Epilogue,
    threads: usize,
) {
    with_buf(&PACK_A, |abuf| {
        let ap = aligned(abuf, packed_a_len(m, k));
        pack_a(m, k, a, ap);
        gemm_prepacked((m, k, n), ap, BSrc::Mat(b), c, ldc, beta, ep, threads);
    });
}

/// [`gemm`] with A already packed by [`prepack_a`] (`ap` of [`packed_a_len`] floats).
///
/// # Safety
/// As [`gemm`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm_prepacked(
    (m, k, n): (usize, usize, usize),
    ap: &[f32],
    b: BSrc,
    c: *mut f32,
    ldc: usize,
    beta: f32,
    ep: Epilogue,
    threads: usize,
) {
    #[cfg(target_arch = "x86_64")]
    {
        debug_assert!(ap.len() >= packed_a_len(m, k));
        let inits = ep.bias.is_some() || ep.add.is_some();
        if !inits && beta != 0.0 && beta != 1.0 {
            super::gemm::scale_rows(c, ldc, m, n, beta);
        }
        let keep_c = !inits && beta != 0.0;
        let job = Job { m, k, ap: ap.as_ptr(), b, c: Ptr(c), ldc, keep_c, ep };
        let panels = m.div_ceil(MR);
        if threads <= 1 {
            job.block(0..panels, 0..n);
        } else if n >= 64 * threads || n >= m {
            let step = n.div_ceil(threads).next_multiple_of(NR).min(n);
            (0..n.div_ceil(step)).into_par_iter().for_each(|t| {
                let j0 = t * step;
                job.block(0..panels, j0..(j0 + step).min(n));
            });
        } else {
            let step = panels.div_ceil(threads);
            (0..panels.div_ceil(step)).into_par_iter().for_each(|t| {
                let p0 = t * step;
                job.block(p0..(p0 + step).min(panels), 0..n);
            });
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (m, k, n, ap, b, c, ldc, beta, ep, threads);
        unreachable!("packed::gemm is only called when available()");
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Reference product with the epilogue, in f64.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        (m, k, n): (usize, usize, usize),
        a: &[f32],
        (ars, acs): (usize, usize),
        b: &[f32],
        (brs, bcs): (usize, usize),
        c0: &[f32],
        beta: f32,
        bias: Option<&[f32]>,
        add: Option<&[f32]>,
        clamp: Option<(f32, f32)>,
    ) -> Vec<f32> {
        let mut out = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for kk in 0..k {
                    s += a[i * ars + kk * acs] as f64 * b[kk * brs + j * bcs] as f64;
                }
                let init = if bias.is_some() || add.is_some() {
                    bias.map_or(0.0, |b| b[i]) + add.map_or(0.0, |z| z[i * n + j])
                } else if beta == 0.0 {
                    0.0
                } else {
                    beta * c0[i * n + j]
                };
                let mut v = (s + init as f64) as f32;
                if let Some((lo, hi)) = clamp {
                    v = v.max(lo).min(hi);
                }
                out[i * n + j] = v;
            }
        }
        out
    }

    /// Deterministic values in [-1, 1] (xorshift).
    pub(crate) fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn matches_reference_on_edges_strides_and_epilogues() {
        if !available() {
            return;
        }
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for &(m, k, n) in &[(1, 1, 1), (6, 16, 16), (7, 3, 17), (13, 300, 40), (50, 520, 9), (5, 257, 200)] {
            for trans in [false, true] {
                for &threads in &[1usize, 2] {
                    let a = values(m * k, 1);
                    let b = values(k * n, 2);
                    let c0 = values(m * n, 3);
                    let bias = values(m, 4);
                    let add = values(m * n, 5);
                    let (bs, bm) = if trans {
                        ((1, k), Mat { ptr: b.as_ptr(), rs: 1, cs: k as isize })
                    } else {
                        ((n, 1), Mat { ptr: b.as_ptr(), rs: n as isize, cs: 1 })
                    };
                    let am = Mat { ptr: a.as_ptr(), rs: k as isize, cs: 1 };
                    let cases: [(f32, Epilogue); 4] = [
                        (0.0, Epilogue::default()),
                        (1.0, Epilogue::default()),
                        (0.5, Epilogue { clamp: Some((-0.5, 0.5)), ..Default::default() }),
                        (0.0, Epilogue { bias: Some(&bias), add: Some(&add), clamp: Some((0.0, 6.0)) }),
                    ];
                    for (beta, ep) in cases {
                        let mut c = c0.clone();
                        pool.install(|| unsafe { gemm((m, k, n), am, bm, c.as_mut_ptr(), n, beta, ep, threads) });
                        let want = reference((m, k, n), &a, (k, 1), &b, bs, &c0, beta, ep.bias, ep.add, ep.clamp);
                        for (x, y) in c.iter().zip(&want) {
                            assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{m}x{k}x{n} t{trans}: {x} vs {y}");
                        }
                    }
                }
            }
        }
    }
}
