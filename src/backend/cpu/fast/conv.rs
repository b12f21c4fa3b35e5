//! 1-D/2-D Conv and MaxPool on f32. Conv picks one of three forms at plan time: pointwise
//! (1×1, stride 1, no pads: the input already is the GEMM's B), depthwise (one filter per
//! channel) and im2col + GEMM per group. Depthwise and MaxPool copy each plane, padded, into
//! stride-phase sub-planes, so that every window tap of the whole plane is one unit-stride
//! run (9 FMA taps over the plane, vectorized, with AVX2/FMA where the CPU has them). With
//! constant weights on an AVX2 CPU, the weights are packed at plan time for
//! [`super::packed`] and the im2col matrix is never stored: the GEMM builds its B panels
//! from the input rows. Bias, a fused residual and a fused clamp are applied by the GEMM to
//! each tile (or to each panel of C on the `matrixmultiply` path).

use super::chunk_len;
use super::gemm::{sgemm_fused, Epilogue, Mat};
use crate::ops::conv::Conv;
use crate::ops::pool::{Pool, PoolKind};
use rayon::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Pointwise,
    Depthwise,
    Im2col,
}

/// Spatial geometry of one 2-D window (1-D convs use h = kh = 1).
#[derive(Debug, Clone, Copy)]
struct Geo {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
    ph: usize,
    pw: usize,
}

impl Geo {
    fn from_window(win: &crate::ops::conv::Window) -> Option<Geo> {
        match win.input.len() {
            1 => Some(Geo {
                h: 1,
                w: win.input[0],
                oh: 1,
                ow: win.output[0],
                kh: 1,
                kw: win.kernel[0],
                sh: 1,
                sw: win.strides[0],
                dh: 1,
                dw: win.dilations[0],
                ph: 0,
                pw: win.pads_begin[0],
            }),
            2 => Some(Geo {
                h: win.input[0],
                w: win.input[1],
                oh: win.output[0],
                ow: win.output[1],
                kh: win.kernel[0],
                kw: win.kernel[1],
                sh: win.strides[0],
                sw: win.strides[1],
                dh: win.dilations[0],
                dw: win.dilations[1],
                ph: win.pads_begin[0],
                pw: win.pads_begin[1],
            }),
            _ => None,
        }
    }

    /// Output positions `[lo, hi)` whose input position `o·stride + off` lies in `[0, size)`.
    fn valid(off: isize, size: usize, stride: usize, out: usize) -> (usize, usize) {
        let s = stride as isize;
        // Clamped to `out`: a window can start past the last output (a kernel wider than the
        // padded input's used part).
        let lo = if off >= 0 { 0 } else { (((-off) + s - 1) / s).min(out as isize) };
        let room = size as isize - off;
        let hi = if room <= 0 { 0 } else { ((room + s - 1) / s).min(out as isize) };
        (lo as usize, (hi.max(lo)) as usize)
    }

    /// Row ranges for kernel row `ki` and column ranges for kernel column `kj`.
    fn rows(&self, ki: usize) -> (isize, usize, usize) {
        let off = (ki * self.dh) as isize - self.ph as isize;
        let (lo, hi) = Self::valid(off, self.h, self.sh, self.oh);
        (off, lo, hi)
    }
    fn cols(&self, kj: usize) -> (isize, usize, usize) {
        let off = (kj * self.dw) as isize - self.pw as isize;
        let (lo, hi) = Self::valid(off, self.w, self.sw, self.ow);
        (off, lo, hi)
    }
}

/// Copies one input plane, padded with `fill` so that every window of the output reads
/// inside it, into `sh·sw` phase
/// sub-planes of `hq × wq` (sub-plane `(rp, cp)` holds the padded rows `rp, rp + sh, …` and
/// columns `cp, cp + sw, …`), so that every window tap of every output position reads one
/// flat, unit-stride run: output `oh·wq + ow` of tap (ki, kj) is at [`tap_start`] `+ oh·wq +
/// ow`. Returns (hq, wq).
fn pad_phased(g: &Geo, src: &[f32], pad: &mut Vec<f32>, fill: f32) -> (usize, usize) {
    let (sh, sw) = (g.sh, g.sw);
    let ph_end = ((g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1).saturating_sub(g.h + g.ph);
    let pw_end = ((g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1).saturating_sub(g.w + g.pw);
    let (hp, wp) = (g.ph + g.h + ph_end, g.pw + g.w + pw_end);
    let (hq, wq) = (hp.div_ceil(sh), wp.div_ceil(sw));
    pad.clear();
    pad.resize(sh * sw * hq * wq, fill);
    let avx2 = super::packed::available();
    for (r, row) in src.chunks(g.w).enumerate() {
        let pr = r + g.ph;
        let (rp, ri) = (pr % sh, pr / sh);
        if sw == 2 {
            // Even source columns go to phase pw mod 2 from column pw div 2, odd ones to the
            // other phase from (pw + 1) div 2: one pass splits the row.
            let base = rp * sw * hq * wq + ri * wq;
            let (ne, no) = (g.w.div_ceil(2), g.w / 2);
            let (pe, po) = (g.pw % 2, (g.pw + 1) % 2);
            let (e_at, o_at) = (base + pe * hq * wq + g.pw / 2, base + po * hq * wq + g.pw.div_ceil(2));
            let (lo, hi) = pad.split_at_mut(e_at.max(o_at));
            let (even, odd) = if e_at < o_at {
                (&mut lo[e_at..e_at + ne], &mut hi[..no])
            } else {
                (&mut hi[..ne], &mut lo[o_at..o_at + no])
            };
            deinterleave2(row, even, odd, avx2);
            continue;
        }
        for cp in 0..sw {
            // The source columns c with (c + pw) mod sw = cp, at (c + pw) div sw.
            let c0 = (cp + sw - g.pw % sw) % sw;
            if c0 >= g.w {
                continue;
            }
            let at = ((rp * sw + cp) * hq + ri) * wq + (c0 + g.pw) / sw;
            let cnt = (g.w - c0).div_ceil(sw);
            let d = &mut pad[at..at + cnt];
            if sw == 1 {
                d.copy_from_slice(row);
            } else {
                for (d, c) in d.iter_mut().zip(row[c0..].chunks(sw)) {
                    *d = c[0];
                }
            }
        }
    }
    (hq, wq)
}

/// The run of window tap `q` (row-major over the kernel) over a plane's flat outputs (rows of
/// `wq`, see [`pad_phased`]).
fn plane_tap<'p>(g: &Geo, hq: usize, wq: usize, pad: &'p [f32], q: usize) -> &'p [f32] {
    let at = tap_start(g, hq, wq, q / g.kw, q % g.kw);
    &pad[at..at + (g.oh - 1) * wq + g.ow]
}

/// Where a plane's flat outputs go: `out` itself when its rows are `wq` long, else `flat`
/// (the columns past ow are dropped by [`flat_back`]).
fn flat_out<'a>(g: &Geo, wq: usize, out: &'a mut [f32], flat: &'a mut Vec<f32>) -> &'a mut [f32] {
    let n = (g.oh - 1) * wq + g.ow;
    if wq == g.ow {
        &mut out[..n]
    } else {
        flat.resize(n, 0.0);
        &mut flat[..n]
    }
}

/// Copies the valid columns of [`flat_out`]'s rows into `out` (nothing when it was `out`).
fn flat_back(g: &Geo, wq: usize, flat: &[f32], out: &mut [f32]) {
    if wq != g.ow {
        for (oh, orow) in out.chunks_mut(g.ow).enumerate() {
            orow.copy_from_slice(&flat[oh * wq..oh * wq + g.ow]);
        }
    }
}

/// Splits `src` into its even (`even`, ⌈n/2⌉) and odd (`odd`, ⌊n/2⌋) elements.
fn deinterleave2(src: &[f32], even: &mut [f32], odd: &mut [f32], avx2: bool) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: AVX2 was detected.
        done = unsafe { deinterleave2_avx2(src, even, odd) };
    }
    let _ = avx2;
    for (i, c) in src[2 * done..].chunks(2).enumerate() {
        even[done + i] = c[0];
        if let Some(&v) = c.get(1) {
            odd[done + i] = v;
        }
    }
}

/// The AVX2 part of [`deinterleave2`]: whole groups of 16 source values; returns the pairs
/// done.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn deinterleave2_avx2(src: &[f32], even: &mut [f32], odd: &mut [f32]) -> usize {
    use std::arch::x86_64::*;
    let groups = (src.len() / 16).min(even.len() / 8).min(odd.len() / 8);
    for i in 0..groups {
        let a = _mm256_loadu_ps(src.as_ptr().add(16 * i));
        let b = _mm256_loadu_ps(src.as_ptr().add(16 * i + 8));
        // [a0 a2 b0 b2 | a4 a6 b4 b6], then 64-bit lanes reordered 0, 2, 1, 3.
        let e = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
        let o = _mm256_shuffle_ps::<0b11_01_11_01>(a, b);
        let e = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(e)));
        let o = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(o)));
        _mm256_storeu_ps(even.as_mut_ptr().add(8 * i), e);
        _mm256_storeu_ps(odd.as_mut_ptr().add(8 * i), o);
    }
    groups * 8
}

/// Where tap (ki, kj)'s flat run starts in [`pad_phased`]'s buffer.
fn tap_start(g: &Geo, hq: usize, wq: usize, ki: usize, kj: usize) -> usize {
    let (r, c) = (ki * g.dh, kj * g.dw);
    (((r % g.sh) * g.sw + c % g.sw) * hq + r / g.sh) * wq + c / g.sw
}

/// `a·b + c`, fused when `F` (the caller enabled FMA).
#[inline(always)]
fn madd<const F: bool>(a: f32, b: f32, c: f32) -> f32 {
    if F {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// One output row of a 3×3 depthwise conv from its nine unit-stride taps, clamped.
#[inline(always)]
fn dw9<const F: bool>(o: &mut [f32], t: [&[f32]; 9], wk: &[f32], bias: f32, lo: f32, hi: f32) {
    let n = o.len();
    let t = t.map(|s| &s[..n]);
    let wk = &wk[..9];
    for j in 0..n {
        let mut acc = bias;
        for q in 0..9 {
            acc = madd::<F>(wk[q], t[q][j], acc);
        }
        acc = if acc < lo { lo } else { acc };
        o[j] = if acc > hi { hi } else { acc };
    }
}

/// One output row of any depthwise window: `o = bias + Σ w·tap` tap by tap, clamped.
#[inline(always)]
fn dw_any<const F: bool>(o: &mut [f32], taps: &[(&[f32], f32)], bias: f32, lo: f32, hi: f32) {
    o.fill(bias);
    let n = o.len();
    for &(t, w) in taps {
        for (ov, &tv) in o.iter_mut().zip(&t[..n]) {
            *ov = madd::<F>(w, tv, *ov);
        }
    }
    clamp(o, lo, hi);
}

/// [`dw9`] compiled with AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dw9_fma(o: &mut [f32], t: [&[f32]; 9], wk: &[f32], bias: f32, lo: f32, hi: f32) {
    dw9::<true>(o, t, wk, bias, lo, hi)
}

/// [`dw_any`] compiled with AVX2 and FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dw_any_fma(o: &mut [f32], taps: &[(&[f32], f32)], bias: f32, lo: f32, hi: f32) {
    dw_any::<true>(o, taps, bias, lo, hi)
}

/// The larger of two floats, NaN winning (as the reference's MaxPool), as selects.
#[inline(always)]
fn mx(a: f32, b: f32) -> f32 {
    let m = if b > a { b } else { a };
    if b.is_nan() {
        b
    } else {
        m
    }
}

/// Clamps in place (a fused Clip/Relu).
pub fn clamp(y: &mut [f32], lo: f32, hi: f32) {
    // In Clip's order: with lo > hi everything ends at hi. Selects, not branches, so the
    // loop vectorizes.
    for e in y {
        let mut v = *e;
        v = if v < lo { lo } else { v };
        v = if v > hi { hi } else { v };
        *e = v;
    }
}

/// The im2col matrix of one group's input planes, produced row segment by row segment while
/// the GEMM packs B (never stored whole).
struct Im2colRows<'a> {
    g: Geo,
    /// The group's input planes.
    x: &'a [f32],
}

impl super::packed::RowSource for Im2colRows<'_> {
    fn row(&self, k: usize, j0: usize, dst: &mut [f32]) {
        let g = &self.g;
        let ksz = g.kh * g.kw;
        let (ci, kq) = (k / ksz, k % ksz);
        let plane = &self.x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        let (roff, rlo, rhi) = g.rows(kq / g.kw);
        let (coff, clo, chi) = g.cols(kq % g.kw);
        let end = j0 + dst.len();
        let mut j = j0;
        while j < end {
            let (oh, c0) = (j / g.ow, j % g.ow);
            let c1 = g.ow.min(c0 + (end - j));
            let d = &mut dst[j - j0..j - j0 + (c1 - c0)];
            j += c1 - c0;
            if oh < rlo || oh >= rhi {
                d.fill(0.0);
                continue;
            }
            let ih = (oh * g.sh) as isize + roff;
            let src = &plane[ih as usize * g.w..(ih as usize + 1) * g.w];
            // Valid columns [lo, hi) of this segment, the rest zero.
            let (lo, hi) = (clo.clamp(c0, c1), chi.clamp(c0, c1).max(clo.clamp(c0, c1)));
            d[..lo - c0].fill(0.0);
            d[hi - c0..].fill(0.0);
            if lo < hi {
                let s0 = (lo as isize * g.sw as isize + coff) as usize;
                let dv = &mut d[lo - c0..hi - c0];
                if g.sw == 1 {
                    dv.copy_from_slice(&src[s0..s0 + (hi - lo)]);
                } else {
                    for (o, c) in dv.iter_mut().zip(src[s0..].chunks(g.sw)) {
                        *o = c[0];
                    }
                }
            }
        }
    }
}

#[derive(Debug)]
pub struct ConvPlan {
    form: Form,
    n: usize,
    c: usize,
    m: usize,
    group: usize,
    geo: Geo,
    /// Constant weights packed at plan time for [`super::packed`], group after group.
    packed_w: Option<Prepacked>,
}

/// Weights packed for the AVX2 GEMM (listed by size only).
pub struct Prepacked(Vec<f32>);

impl std::fmt::Debug for Prepacked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Prepacked({} floats)", self.0.len())
    }
}

impl ConvPlan {
    pub fn new(conv: &Conv, x: &[usize], w: &[usize], b: Option<&[usize]>, out: &[usize]) -> Option<ConvPlan> {
        let (n, c, m) = conv.channels(x, w).ok()?;
        let kernel = conv.kernel(w).ok()?;
        if w[2..] != kernel[..] {
            return None;
        }
        let win = conv.window.resolve(&x[2..], &kernel).ok()?;
        let geo = Geo::from_window(&win)?;
        if b.is_some_and(|b| b != [m]) || out != [&[n, m][..], &win.output[..]].concat() {
            return None;
        }
        let g = conv.group;
        let form = if g == c && m == c && w[1] == 1 {
            Form::Depthwise
        } else if geo.kh == 1
            && geo.kw == 1
            && geo.sh == 1
            && geo.sw == 1
            && geo.ph == 0
            && geo.pw == 0
            && geo.oh == geo.h
            && geo.ow == geo.w
        {
            Form::Pointwise
        } else {
            Form::Im2col
        };
        Some(ConvPlan { form, n, c, m, group: g, geo, packed_w: None })
    }

    /// Packs constant weights (known at plan time) for the AVX2 GEMM, when this CPU runs it.
    pub fn prepack(&mut self, w: &[f32]) {
        let (cg, mg) = (self.c / self.group, self.m / self.group);
        let kdim = cg * self.geo.kh * self.geo.kw;
        if self.form == Form::Depthwise || !super::packed::available() || w.len() != self.m * kdim || mg < 2 {
            return;
        }
        let mut all = Vec::with_capacity(self.group * super::packed::packed_a_len(mg, kdim));
        for gi in 0..self.group {
            match super::packed::prepack_a(mg, kdim, &w[gi * mg * kdim..(gi + 1) * mg * kdim]) {
                Some(p) => all.extend_from_slice(&p),
                None => return,
            }
        }
        self.packed_w = Some(Prepacked(all));
    }

    pub fn label(&self) -> &'static str {
        match self.form {
            Form::Pointwise => "conv_pointwise_sgemm",
            Form::Depthwise => "conv_depthwise_f32",
            Form::Im2col => "conv_im2col_sgemm",
        }
    }

    /// `act`: clamp bounds of a fused Clip/Relu applied to the result; `add`: a residual (y's
    /// layout) added before the clamp.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        x: &[f32],
        w: &[f32],
        b: Option<&[f32]>,
        y: &mut [f32],
        scratch: &mut Vec<f32>,
        act: Option<(f32, f32)>,
        add: Option<&[f32]>,
    ) -> Result<(), String> {
        let g = &self.geo;
        let (hw, ohw, ksz) = (g.h * g.w, g.oh * g.ow, g.kh * g.kw);
        let (cg, mg) = (self.c / self.group, self.m / self.group);
        if x.len() != self.n * self.c * hw || w.len() != self.m * cg * ksz || y.len() != self.n * self.m * ohw {
            return Err("Conv: operand sizes differ from the plan".into());
        }
        if b.is_some_and(|b| b.len() != self.m) {
            return Err("Conv: bias size differs from the plan".into());
        }
        if let Some(z) = add {
            if z.len() != y.len() {
                return Err(format!("the residual has {} elements, the output {}", z.len(), y.len()));
            }
        }
        if self.form == Form::Depthwise {
            self.depthwise(x, w, b, y, if add.is_some() { None } else { act });
            if let Some(z) = add {
                super::elementwise::add_assign(y, z);
                if let Some((lo, hi)) = act {
                    clamp(y, lo, hi);
                }
            }
            return Ok(());
        }
        let kdim = cg * ksz;
        // With packed weights, the AVX2 GEMM reads the im2col matrix row by row from the input.
        let implicit = self.packed_w.is_some();
        if self.form == Form::Im2col && !implicit && scratch.len() < kdim * ohw {
            scratch.resize(kdim * ohw, 0.0);
        }
        for ni in 0..self.n {
            for gi in 0..self.group {
                let xg = &x[(ni * self.c + gi * cg) * hw..(ni * self.c + (gi + 1) * cg) * hw];
                let bmat = if self.form == Form::Pointwise || implicit {
                    xg
                } else {
                    let col = &mut scratch[..kdim * ohw];
                    self.im2col(xg, col);
                    &scratch[..kdim * ohw]
                };
                let wg = &w[gi * mg * kdim..(gi + 1) * mg * kdim];
                let ys = (ni * self.m + gi * mg) * ohw..(ni * self.m + (gi + 1) * mg) * ohw;
                // Bias, residual and clamp applied per thread panel by the GEMM.
                let ep = Epilogue {
                    bias: b.map(|b| &b[gi * mg..(gi + 1) * mg]),
                    add: add.map(|z| &z[ys.clone()]),
                    clamp: act,
                };
                let yg = &mut y[ys];
                let bm = Mat { ptr: bmat.as_ptr(), rs: ohw as isize, cs: 1 };
                if let Some(Prepacked(pw)) = &self.packed_w {
                    let rows = Im2colRows { g: self.geo, x: xg };
                    let bsrc = if self.form == Form::Im2col {
                        super::packed::BSrc::Rows(&rows)
                    } else {
                        super::packed::BSrc::Mat(bm)
                    };
                    let len = super::packed::packed_a_len(mg, kdim);
                    let ap = pw.get(gi * len..(gi + 1) * len).ok_or("Conv: packed weights differ from the plan")?;
                    let threads =
                        if mg * kdim * ohw < super::gemm::PAR_MIN_WORK { 1 } else { rayon::current_num_threads() };
                    // SAFETY: as below; `ap` is this group's packed weights.
                    unsafe {
                        super::packed::gemm_prepacked((mg, kdim, ohw), ap, bsrc, yg.as_mut_ptr(), ohw, 0.0, ep, threads)
                    };
                    continue;
                }
                // SAFETY: the slices above have exactly the sizes the strides describe.
                unsafe {
                    sgemm_fused(
                        (mg, kdim, ohw),
                        Mat { ptr: wg.as_ptr(), rs: kdim as isize, cs: 1 },
                        Mat { ptr: bmat.as_ptr(), rs: ohw as isize, cs: 1 },
                        yg.as_mut_ptr(),
                        ohw,
                        0.0,
                        ep,
                        true,
                    )
                };
            }
        }
        Ok(())
    }

    /// Fills `col` ([cg·kh·kw, oh·ow]) from one group's input planes.
    fn im2col(&self, xg: &[f32], col: &mut [f32]) {
        let g = self.geo;
        let (hw, ohw, ksz) = (g.h * g.w, g.oh * g.ow, g.kh * g.kw);
        col.par_chunks_mut(ohw).enumerate().for_each(|(r, dst)| {
            let (ci, k) = (r / ksz, r % ksz);
            let (ki, kj) = (k / g.kw, k % g.kw);
            let plane = &xg[ci * hw..(ci + 1) * hw];
            let (roff, rlo, rhi) = g.rows(ki);
            let (coff, clo, chi) = g.cols(kj);
            for oh in 0..g.oh {
                let d = &mut dst[oh * g.ow..(oh + 1) * g.ow];
                if oh < rlo || oh >= rhi {
                    d.fill(0.0);
                    continue;
                }
                let ih = (oh * g.sh) as isize + roff;
                let src = &plane[ih as usize * g.w..(ih as usize + 1) * g.w];
                d[..clo].fill(0.0);
                d[chi..].fill(0.0);
                if g.sw == 1 && clo < chi {
                    let s0 = (clo as isize + coff) as usize;
                    d[clo..chi].copy_from_slice(&src[s0..s0 + chi - clo]);
                } else if clo < chi {
                    let s0 = (clo as isize * g.sw as isize + coff) as usize;
                    let src = &src[s0..];
                    for (j, o) in d[clo..chi].iter_mut().enumerate() {
                        *o = src[j * g.sw];
                    }
                }
            }
        });
    }

    fn depthwise(&self, x: &[f32], w: &[f32], b: Option<&[f32]>, y: &mut [f32], act: Option<(f32, f32)>) {
        let g = self.geo;
        let (hw, ohw, ksz) = (g.h * g.w, g.oh * g.ow, g.kh * g.kw);
        let c = self.c;
        let (lo, hi) = act.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        let fma = super::packed::available();
        let per = chunk_len(self.n * c, 1);
        y.par_chunks_mut(ohw * per).enumerate().for_each(|(t, planes)| {
            let (mut pad, mut flat) = (Vec::new(), Vec::new());
            for (k, out) in planes.chunks_mut(ohw).enumerate() {
                let p = t * per + k;
                let ch = p % c;
                let wk = &w[ch * ksz..(ch + 1) * ksz];
                let (hq, wq) = pad_phased(&g, &x[p * hw..(p + 1) * hw], &mut pad, 0.0);
                let bias = b.map_or(0.0, |b| b[ch]);
                let tap = |q: usize| plane_tap(&g, hq, wq, &pad, q);
                let dst = flat_out(&g, wq, out, &mut flat);
                if ksz == 9 {
                    let t9: [&[f32]; 9] = std::array::from_fn(tap);
                    #[cfg(target_arch = "x86_64")]
                    if fma {
                        // SAFETY: AVX2 and FMA were detected.
                        unsafe { dw9_fma(dst, t9, wk, bias, lo, hi) };
                    } else {
                        dw9::<false>(dst, t9, wk, bias, lo, hi);
                    }
                    #[cfg(not(target_arch = "x86_64"))]
                    dw9::<false>(dst, t9, wk, bias, lo, hi);
                } else {
                    let taps: Vec<(&[f32], f32)> = (0..ksz).map(|q| (tap(q), wk[q])).collect();
                    #[cfg(target_arch = "x86_64")]
                    if fma {
                        // SAFETY: AVX2 and FMA were detected.
                        unsafe { dw_any_fma(dst, &taps, bias, lo, hi) };
                    } else {
                        dw_any::<false>(dst, &taps, bias, lo, hi);
                    }
                    #[cfg(not(target_arch = "x86_64"))]
                    dw_any::<false>(dst, &taps, bias, lo, hi);
                }
                flat_back(&g, wq, &flat[..], out);
            }
        });
    }
}

/// 1-D/2-D MaxPool (no Indices output).
#[derive(Debug)]
pub struct PoolPlan {
    planes: usize,
    geo: Geo,
}

impl PoolPlan {
    pub fn new(p: &Pool, x: &[usize], out: &[usize]) -> Option<PoolPlan> {
        if p.kind != PoolKind::Max {
            return None;
        }
        let win = p.resolve(x).ok()?;
        let geo = Geo::from_window(&win)?;
        if out != [&x[..2], &win.output[..]].concat() {
            return None;
        }
        Some(PoolPlan { planes: x[0] * x[1], geo })
    }

    pub fn run(&self, x: &[f32], y: &mut [f32]) -> Result<(), String> {
        let g = self.geo;
        let (hw, ohw) = (g.h * g.w, g.oh * g.ow);
        if x.len() != self.planes * hw || y.len() != self.planes * ohw {
            return Err("MaxPool: sizes differ from the plan".into());
        }
        let ksz = g.kh * g.kw;
        y.par_chunks_mut(ohw).enumerate().for_each_init(
            || (Vec::new(), Vec::new()),
            |(pad, flat), (p, out)| {
                let (hq, wq) = pad_phased(&g, &x[p * hw..(p + 1) * hw], pad, f32::NEG_INFINITY);
                let tap = |q: usize| plane_tap(&g, hq, wq, pad, q);
                let dst = flat_out(&g, wq, out, flat);
                if ksz == 9 {
                    let t: [&[f32]; 9] = std::array::from_fn(tap);
                    for (j, o) in dst.iter_mut().enumerate() {
                        let a = mx(mx(t[0][j], t[1][j]), t[2][j]);
                        let b = mx(mx(t[3][j], t[4][j]), t[5][j]);
                        let c = mx(mx(t[6][j], t[7][j]), t[8][j]);
                        *o = mx(mx(a, b), c);
                    }
                } else {
                    dst.fill(f32::NEG_INFINITY);
                    for q in 0..ksz {
                        for (o, &v) in dst.iter_mut().zip(tap(q)) {
                            *o = mx(*o, v);
                        }
                    }
                }
                flat_back(&g, wq, flat, out);
            },
        );
        Ok(())
    }
}

/// GlobalAveragePool: one mean per (n, c) plane (sums in f64).
#[derive(Debug)]
pub struct GlobalPoolPlan {
    planes: usize,
    size: usize,
}

impl GlobalPoolPlan {
    pub fn new(p: &crate::ops::pool::GlobalPool, x: &[usize], out: &[usize]) -> Option<GlobalPoolPlan> {
        if !matches!(p.kind, PoolKind::Avg { .. }) {
            return None;
        }
        let size: usize = x.get(2..)?.iter().product();
        if x.len() < 3 || size == 0 || out.iter().product::<usize>() != x[0] * x[1] {
            return None;
        }
        Some(GlobalPoolPlan { planes: x[0] * x[1], size })
    }

    pub fn run(&self, x: &[f32], y: &mut [f32]) -> Result<(), String> {
        if x.len() != self.planes * self.size || y.len() != self.planes {
            return Err("GlobalPool: sizes differ from the plan".into());
        }
        let per = chunk_len(self.planes, 16);
        y.par_chunks_mut(per).enumerate().for_each(|(t, ys)| {
            for (k, o) in ys.iter_mut().enumerate() {
                let p = t * per + k;
                let plane = &x[p * self.size..(p + 1) * self.size];
                *o = (plane.iter().map(|&v| v as f64).sum::<f64>() / self.size as f64) as f32;
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::packed::tests::values;
    use super::{ConvPlan, Geo, PoolPlan};
    use crate::ops::conv::{AutoPad, Conv, WindowAttrs};
    use crate::ops::OpSpec;
    use crate::tensor::Tensor;

    #[test]
    fn valid_ranges() {
        // size 5, stride 2, pad 1 (off -1), 3 outputs: positions -1, 1, 3 → outputs 1..3.
        assert_eq!(Geo::valid(-1, 5, 2, 3), (1, 3));
        assert_eq!(Geo::valid(0, 5, 1, 5), (0, 5));
        assert_eq!(Geo::valid(1, 5, 1, 5), (0, 4));
        assert_eq!(Geo::valid(7, 5, 1, 5), (0, 0));
        // width 1, kernel 5, pads 2 (pytorch-converted Conv1d_pad2size1): kernel column 0 reads
        // position o - 2, valid for no output of the single one.
        assert_eq!(Geo::valid(-2, 1, 1, 1), (1, 1));
    }

    fn window(k: [usize; 2], s: [usize; 2], d: [usize; 2], p: [usize; 4]) -> WindowAttrs {
        WindowAttrs {
            kernel_shape: Some(k.to_vec()),
            strides: Some(s.to_vec()),
            dilations: Some(d.to_vec()),
            pads: Some(p.to_vec()),
            auto_pad: AutoPad::NotSet,
            ceil_mode: false,
        }
    }

    /// The fast Conv (plain, with packed weights, depthwise; with a clamp) against the
    /// reference kernel over strides, pads, dilations, groups and odd sizes.
    #[test]
    fn conv_forms_match_reference() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        #[rustfmt::skip]
        let cases: &[(usize, usize, usize, [usize; 2], [usize; 2], [usize; 2], [usize; 2], [usize; 4])] = &[
            // (c, m, group, input hw, kernel, strides, dilations, pads)
            (3, 8, 1, [17, 19], [3, 3], [2, 2], [1, 1], [1, 1, 1, 1]),
            (5, 13, 1, [9, 11], [3, 3], [1, 1], [1, 1], [1, 0, 2, 1]),
            (4, 7, 1, [10, 10], [2, 3], [1, 2], [2, 1], [0, 1, 1, 0]),
            (6, 9, 3, [8, 9], [3, 3], [1, 1], [1, 1], [1, 1, 1, 1]),
            (16, 20, 1, [7, 7], [1, 1], [1, 1], [1, 1], [0, 0, 0, 0]),
            (16, 20, 1, [9, 9], [1, 1], [2, 2], [1, 1], [0, 0, 0, 0]),
            (8, 8, 8, [13, 15], [3, 3], [1, 1], [1, 1], [1, 1, 1, 1]),
            (8, 8, 8, [14, 15], [3, 3], [2, 2], [1, 1], [1, 1, 1, 1]),
            (6, 6, 6, [11, 12], [5, 5], [2, 3], [1, 1], [2, 2, 2, 2]),
            (6, 6, 6, [11, 12], [3, 3], [1, 2], [2, 2], [2, 1, 0, 2]),
            (4, 4, 4, [9, 10], [3, 2], [3, 1], [1, 2], [0, 0, 1, 1]),
        ];
        for &(c, m, group, [h, w], k, s, d, p) in cases {
            let conv = Conv { window: window(k, s, d, p), group };
            let xs = [1, c, h, w];
            let ws = [m, c / group, k[0], k[1]];
            let x = values(c * h * w, 1);
            let wv = values(ws.iter().product(), 2);
            let b = values(m, 3);
            let xt = Tensor::new(&xs, x.clone()).unwrap();
            let wt = Tensor::new(&ws, wv.clone()).unwrap();
            let bt = Tensor::new(&[m], b.clone()).unwrap();
            let want = conv.eval(&[Some(&xt), Some(&wt), Some(&bt)], 1).unwrap().remove(0);
            let ys = want.shape().to_vec();
            let want = want.to_vec::<f32>().unwrap();
            for packed in [false, true] {
                for act in [None, Some((-0.25f32, 0.5f32))] {
                    let mut plan = ConvPlan::new(&conv, &xs, &ws, Some(&[m]), &ys).unwrap();
                    if packed {
                        plan.prepack(&wv);
                    }
                    let mut y = vec![f32::NAN; want.len()];
                    let mut scratch = Vec::new();
                    pool.install(|| plan.run(&x, &wv, Some(&b), &mut y, &mut scratch, act, None)).unwrap();
                    for (i, (g, r)) in y.iter().zip(&want).enumerate() {
                        let r = act.map_or(*r, |(lo, hi)| r.max(lo).min(hi));
                        assert!(
                            (g - r).abs() <= 1e-5 * (1.0 + r.abs()),
                            "{:?} packed {packed} at {i}: {g} vs {r}",
                            (c, m, group, h, w, k, s, d, p)
                        );
                    }
                }
            }
        }
    }

    /// The fast MaxPool against the reference kernel.
    #[test]
    fn maxpool_matches_reference() {
        use crate::ops::pool::{Pool, PoolKind};
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        for &(k, s, d, p) in &[
            ([3, 3], [2, 2], [1, 1], [0, 0, 0, 0]),
            ([3, 3], [2, 2], [1, 1], [1, 1, 1, 1]),
            ([2, 3], [1, 2], [2, 1], [1, 0, 0, 1]),
            ([3, 3], [1, 1], [1, 1], [1, 1, 1, 1]),
        ] {
            let op = Pool { kind: PoolKind::Max, window: window(k, s, d, p), column_major_indices: false };
            let xs = [1, 3, 13, 12];
            let x = values(3 * 13 * 12, 4);
            let xt = Tensor::new(&xs, x.clone()).unwrap();
            let want = op.eval(&[Some(&xt)], 1).unwrap().remove(0);
            let plan = PoolPlan::new(&op, &xs, want.shape()).unwrap();
            let want = want.to_vec::<f32>().unwrap();
            let mut y = vec![0.0; want.len()];
            pool.install(|| plan.run(&x, &mut y)).unwrap();
            assert_eq!(y, want, "{k:?} {s:?} {d:?} {p:?}");
        }
    }
}
