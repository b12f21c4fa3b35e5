//! 1-D/2-D Conv and MaxPool on f32. Conv picks one of three forms at plan time: pointwise
//! (1×1, stride 1, no pads: the input already is the GEMM's B), depthwise (one filter per
//! channel: a direct loop per channel plane, unit-stride rows vectorized) and im2col into a
//! reused scratch followed by the packed GEMM per group. Bias (and a fused residual) is
//! written into each thread's panel of the output first, the GEMM accumulates onto it and a
//! fused clamp follows on the same panel.

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

/// Copies one input plane into `pad` with `fill` around it, sized so that every window of
/// the output reads inside it. Returns the padded row length.
fn pad_plane(g: &Geo, src: &[f32], pad: &mut Vec<f32>, fill: f32) -> usize {
    let ph_end = ((g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1).saturating_sub(g.h + g.ph);
    let pw_end = ((g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1).saturating_sub(g.w + g.pw);
    let (hp, wp) = (g.ph + g.h + ph_end, g.pw + g.w + pw_end);
    pad.clear();
    pad.resize(hp * wp, fill);
    for (r, row) in src.chunks(g.w).enumerate() {
        let at = (r + g.ph) * wp + g.pw;
        pad[at..at + g.w].copy_from_slice(row);
    }
    wp
}

/// One output row of a 3×3 depthwise conv from three padded input rows, stride `S` known to
/// the compiler (so unit stride vectorizes).
#[inline(always)]
fn dw3x3<const S: usize>(orow: &mut [f32], r: [&[f32]; 3], wk: &[f32], bias: f32) {
    dw3x3_any(orow, r, wk, bias, S)
}

#[inline(always)]
fn dw3x3_any(orow: &mut [f32], r: [&[f32]; 3], wk: &[f32], bias: f32, s: usize) {
    let [r0, r1, r2] = r;
    let wk = &wk[..9];
    for (ow, o) in orow.iter_mut().enumerate() {
        let i = ow * s;
        *o = bias
            + wk[0] * r0[i]
            + wk[1] * r0[i + 1]
            + wk[2] * r0[i + 2]
            + wk[3] * r1[i]
            + wk[4] * r1[i + 1]
            + wk[5] * r1[i + 2]
            + wk[6] * r2[i]
            + wk[7] * r2[i + 1]
            + wk[8] * r2[i + 2];
    }
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

#[derive(Debug)]
pub struct ConvPlan {
    form: Form,
    n: usize,
    c: usize,
    m: usize,
    group: usize,
    geo: Geo,
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
        Some(ConvPlan { form, n, c, m, group: g, geo })
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
        if self.form == Form::Im2col && scratch.len() < kdim * ohw {
            scratch.resize(kdim * ohw, 0.0);
        }
        for ni in 0..self.n {
            for gi in 0..self.group {
                let xg = &x[(ni * self.c + gi * cg) * hw..(ni * self.c + (gi + 1) * cg) * hw];
                let bmat = if self.form == Form::Pointwise {
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
        let per = chunk_len(self.n * c, 1);
        y.par_chunks_mut(ohw * per).enumerate().for_each(|(t, planes)| {
            let mut pad = Vec::new();
            for (k, out) in planes.chunks_mut(ohw).enumerate() {
                let p = t * per + k;
                let ch = p % c;
                let wk = &w[ch * ksz..(ch + 1) * ksz];
                let wp = pad_plane(&g, &x[p * hw..(p + 1) * hw], &mut pad, 0.0);
                let bias = b.map_or(0.0, |b| b[ch]);
                let row = |ki: usize, oh: usize| {
                    let at = (oh * g.sh + ki * g.dh) * wp;
                    &pad[at..at + wp]
                };
                for (oh, orow) in out.chunks_mut(g.ow).enumerate() {
                    if g.kh == 3 && g.kw == 3 && g.dw == 1 {
                        let need = (g.ow - 1) * g.sw + 3;
                        let rs = [&row(0, oh)[..need], &row(1, oh)[..need], &row(2, oh)[..need]];
                        match g.sw {
                            1 => dw3x3::<1>(orow, rs, wk, bias),
                            2 => dw3x3::<2>(orow, rs, wk, bias),
                            _ => dw3x3_any(orow, rs, wk, bias, g.sw),
                        }
                    } else {
                        orow.fill(bias);
                        for ki in 0..g.kh {
                            let r = row(ki, oh);
                            for kj in 0..g.kw {
                                let wv = wk[ki * g.kw + kj];
                                let r = &r[kj * g.dw..];
                                for (ow, o) in orow.iter_mut().enumerate() {
                                    *o += wv * r[ow * g.sw];
                                }
                            }
                        }
                    }
                }
                if let Some((lo, hi)) = act {
                    clamp(out, lo, hi);
                }
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
        y.par_chunks_mut(ohw).enumerate().for_each_init(Vec::new, |pad, (p, out)| {
            let wp = pad_plane(&g, &x[p * hw..(p + 1) * hw], pad, f32::NEG_INFINITY);
            for (oh, orow) in out.chunks_mut(g.ow).enumerate() {
                let row = |ki: usize| {
                    let at = (oh * g.sh + ki * g.dh) * wp;
                    &pad[at..at + wp]
                };
                if g.kh == 3 && g.kw == 3 && g.dw == 1 {
                    let (r0, r1, r2) = (row(0), row(1), row(2));
                    let need = (g.ow - 1) * g.sw + 3;
                    let (r0, r1, r2) = (&r0[..need], &r1[..need], &r2[..need]);
                    for (ow, o) in orow.iter_mut().enumerate() {
                        let i = ow * g.sw;
                        let a = mx(mx(r0[i], r0[i + 1]), r0[i + 2]);
                        let b = mx(mx(r1[i], r1[i + 1]), r1[i + 2]);
                        let c = mx(mx(r2[i], r2[i + 1]), r2[i + 2]);
                        *o = mx(mx(a, b), c);
                    }
                    continue;
                }
                orow.fill(f32::NEG_INFINITY);
                for ki in 0..g.kh {
                    let r = row(ki);
                    for kj in 0..g.kw {
                        let r = &r[kj * g.dw..];
                        for (ow, o) in orow.iter_mut().enumerate() {
                            *o = mx(*o, r[ow * g.sw]);
                        }
                    }
                }
            }
        });
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
    use super::Geo;

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
}
