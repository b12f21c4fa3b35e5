//! Convolutions (ai.onnx): Conv (1-D/2-D/3-D, groups, dilations, strides, explicit pads and
//! every `auto_pad` mode), ConvTranspose (also output_padding and output_shape), DeformConv
//! (N-D, offset groups, mask) and CausalConvWithState, plus the sliding-window geometry shared
//! with pooling. Reference kernels accumulate in f64; Conv and DeformConv are im2col followed
//! by a matrix product, ConvTranspose scatters every input element through the kernel.

use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::{Dim, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AutoPad {
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

impl AutoPad {
    pub fn parse(s: &str) -> Result<AutoPad, String> {
        Ok(match s {
            "NOTSET" | "" => AutoPad::NotSet,
            "SAME_UPPER" => AutoPad::SameUpper,
            "SAME_LOWER" => AutoPad::SameLower,
            "VALID" => AutoPad::Valid,
            _ => return Err(format!("unknown auto_pad '{s}'")),
        })
    }
}

/// Sliding-window attributes as written in the model (kernel may come from the weights).
#[derive(Clone, Debug, PartialEq)]
pub struct WindowAttrs {
    pub kernel_shape: Option<Vec<usize>>,
    pub strides: Option<Vec<usize>>,
    pub dilations: Option<Vec<usize>>,
    /// `[x1_begin, x2_begin, …, x1_end, x2_end, …]`.
    pub pads: Option<Vec<usize>>,
    pub auto_pad: AutoPad,
    pub ceil_mode: bool,
}

/// The resolved geometry of a window over concrete spatial dims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub input: Vec<usize>,
    pub kernel: Vec<usize>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads_begin: Vec<usize>,
    pub pads_end: Vec<usize>,
    pub output: Vec<usize>,
}

fn positive(v: &[i64], what: &str) -> Result<Vec<usize>, String> {
    v.iter().map(|&x| if x >= 1 { Ok(x as usize) } else { Err(format!("{what} must be ≥ 1, got {x}")) }).collect()
}

impl WindowAttrs {
    pub fn from_ctx(c: &NodeCtx, with_ceil: bool) -> Result<WindowAttrs, String> {
        let a = c.attrs;
        let pads = match a.opt_ints("pads")? {
            Some(p) => Some(
                p.iter()
                    .map(|&x| if x >= 0 { Ok(x as usize) } else { Err(format!("negative pad {x}")) })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        Ok(WindowAttrs {
            kernel_shape: a.opt_ints("kernel_shape")?.map(|k| positive(&k, "kernel_shape")).transpose()?,
            strides: a.opt_ints("strides")?.map(|k| positive(&k, "strides")).transpose()?,
            dilations: a.opt_ints("dilations")?.map(|k| positive(&k, "dilations")).transpose()?,
            pads,
            auto_pad: AutoPad::parse(&a.string("auto_pad", "NOTSET")?)?,
            ceil_mode: with_ceil && a.int("ceil_mode", 0)? != 0,
        })
    }

    /// Resolves the geometry for concrete spatial input dims and a kernel.
    pub fn resolve(&self, input: &[usize], kernel: &[usize]) -> Result<Window, String> {
        let n = input.len();
        if kernel.len() != n {
            return Err(format!("kernel has {} spatial dims, input has {n}", kernel.len()));
        }
        let get = |v: &Option<Vec<usize>>, what: &str| -> Result<Vec<usize>, String> {
            match v {
                Some(v) if v.len() == n => Ok(v.clone()),
                Some(v) => Err(format!("{what} has {} entries, expected {n}", v.len())),
                None => Ok(vec![1; n]),
            }
        };
        let strides = get(&self.strides, "strides")?;
        let dilations = get(&self.dilations, "dilations")?;
        let (mut pb, mut pe) = match &self.pads {
            Some(p) if p.len() == 2 * n => (p[..n].to_vec(), p[n..].to_vec()),
            Some(p) => return Err(format!("pads has {} entries, expected {}", p.len(), 2 * n)),
            None => (vec![0; n], vec![0; n]),
        };
        let mut output = vec![0; n];
        for i in 0..n {
            let ek = dilations[i] * (kernel[i] - 1) + 1;
            match self.auto_pad {
                AutoPad::NotSet => {
                    let span = input[i] + pb[i] + pe[i];
                    if span < ek {
                        return Err(format!(
                            "window of {ek} does not fit spatial dim {i} of size {} (+ pads {})",
                            input[i],
                            pb[i] + pe[i]
                        ));
                    }
                    let num = span - ek;
                    output[i] = if self.ceil_mode {
                        let mut o = num.div_ceil(strides[i]) + 1;
                        // The last window must start inside the input or the begin padding.
                        if (o - 1) * strides[i] >= input[i] + pb[i] {
                            o -= 1;
                        }
                        o
                    } else {
                        num / strides[i] + 1
                    };
                }
                AutoPad::Valid => {
                    if input[i] < ek {
                        return Err(format!("window of {ek} does not fit spatial dim {i} of size {}", input[i]));
                    }
                    output[i] = (input[i] - ek) / strides[i] + 1;
                    pb[i] = 0;
                    pe[i] = 0;
                }
                AutoPad::SameUpper | AutoPad::SameLower => {
                    output[i] = input[i].div_ceil(strides[i]);
                    let need = ((output[i].max(1) - 1) * strides[i] + ek).saturating_sub(input[i]);
                    let small = need / 2;
                    let big = need - small;
                    if self.auto_pad == AutoPad::SameUpper {
                        pb[i] = small;
                        pe[i] = big;
                    } else {
                        pb[i] = big;
                        pe[i] = small;
                    }
                }
            }
        }
        Ok(Window {
            input: input.to_vec(),
            kernel: kernel.to_vec(),
            strides,
            dilations,
            pads_begin: pb,
            pads_end: pe,
            output,
        })
    }

    /// Output spatial dims for possibly symbolic input dims.
    pub fn out_dims(&self, input: &[Dim], kernel: &[usize]) -> Result<Vec<Dim>, String> {
        match crate::tensor::shape::concrete(input) {
            Some(c) => Ok(self.resolve(&c, kernel)?.output.into_iter().map(Dim::Known).collect()),
            None => Ok(vec![Dim::Unknown; input.len()]),
        }
    }
}

/// Conv: `Y = X ⋆ W + B`.
#[derive(Clone, Debug)]
pub struct Conv {
    pub window: WindowAttrs,
    pub group: usize,
}

impl Conv {
    /// The kernel's spatial shape: the attribute, else W's trailing dims.
    pub fn kernel(&self, w: &[usize]) -> Result<Vec<usize>, String> {
        kernel_from(&self.window.kernel_shape, w)
    }

    /// Checks channel counts; returns (N, C, M).
    pub fn channels(&self, x: &[usize], w: &[usize]) -> Result<(usize, usize, usize), String> {
        if x.len() < 3 || w.len() != x.len() {
            return Err(format!("X {x:?} and W {w:?} must have equal rank ≥ 3"));
        }
        let (n, c, m) = (x[0], x[1], w[0]);
        if c != w[1] * self.group || m % self.group != 0 {
            return Err(format!("channels do not match: X has {c}, W {w:?} with group {}", self.group));
        }
        Ok((n, c, m))
    }
}

impl OpSpec for Conv {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, w) = (cx.input(0)?, cx.input(1)?);
        if !x.dtype.is_float() || x.dtype != w.dtype {
            return Err(format!("Conv needs float X and W of one dtype, got {} and {}", x.dtype, w.dtype));
        }
        if x.rank() < 3 || w.rank() != x.rank() {
            return Err(format!("X (rank {}) and W (rank {}) must have equal rank ≥ 3", x.rank(), w.rank()));
        }
        let wk: Option<Vec<usize>> = w.dims[2..].iter().map(|d| d.known()).collect();
        let kernel = match (&self.window.kernel_shape, wk) {
            (Some(k), _) => k.clone(),
            (None, Some(k)) => k,
            (None, None) => return Err("the kernel shape is unknown".into()),
        };
        if let (Some(c), Some(wc)) = (x.dims[1].known(), w.dims[1].known()) {
            if c != wc * self.group {
                return Err(format!("X has {c} channels, W expects {} × group {}", wc, self.group));
            }
        }
        let mut out = vec![x.dims[0].clone(), w.dims[0].clone()];
        out.extend(self.window.out_dims(&x.dims[2..], &kernel)?);
        Ok(vec![vt(x.dtype, out)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, w) = (need(inputs, 0)?, need(inputs, 1)?);
        let (n, c, m) = self.channels(x.shape(), w.shape())?;
        let kernel = self.kernel(w.shape())?;
        let win = self.window.resolve(&x.shape()[2..], &kernel)?;
        let xv = x.to_f64_vec()?;
        let wv = w.to_f64_vec()?;
        let bias = bias_of(inputs, 2, m)?;
        let g = self.group;
        let (cg, mg) = (c / g, m / g);
        let ksz: usize = kernel.iter().product();
        let kdim = cg * ksz;
        let osz: usize = win.output.iter().product();
        let isz: usize = win.input.iter().product();
        let mut out = vec![0.0; n * m * osz];
        let mut col = vec![0.0; kdim * osz];
        let nd = kernel.len();
        let kst = crate::tensor::shape::strides(&kernel);
        let ost = crate::tensor::shape::strides(&win.output);
        let ist = crate::tensor::shape::strides(&win.input);
        for b in 0..n {
            for gi in 0..g {
                // im2col: col[(ci, k), o]
                for ci in 0..cg {
                    let xbase = (b * c + gi * cg + ci) * isz;
                    for k in 0..ksz {
                        let row = &mut col[(ci * ksz + k) * osz..(ci * ksz + k + 1) * osz];
                        for (o, r) in row.iter_mut().enumerate() {
                            let mut off = 0usize;
                            let mut inside = true;
                            for d in 0..nd {
                                let od = (o / ost[d]) % win.output[d];
                                let kd = (k / kst[d]) % kernel[d];
                                let pos =
                                    (od * win.strides[d] + kd * win.dilations[d]) as isize - win.pads_begin[d] as isize;
                                if pos < 0 || pos >= win.input[d] as isize {
                                    inside = false;
                                    break;
                                }
                                off += pos as usize * ist[d];
                            }
                            *r = if inside { xv[xbase + off] } else { 0.0 };
                        }
                    }
                }
                for mi in 0..mg {
                    let oc = gi * mg + mi;
                    let orow = &mut out[(b * m + oc) * osz..(b * m + oc + 1) * osz];
                    orow.fill(bias[oc]);
                    let wrow = &wv[oc * kdim..(oc + 1) * kdim];
                    for (kk, &wk) in wrow.iter().enumerate() {
                        if wk == 0.0 {
                            continue;
                        }
                        let crow = &col[kk * osz..(kk + 1) * osz];
                        for (o, cv) in orow.iter_mut().zip(crow) {
                            *o += wk * cv;
                        }
                    }
                }
            }
        }
        let mut shape = vec![n, m];
        shape.extend(&win.output);
        Ok(vec![Tensor::from_f64(x.dtype(), &shape, &out)?])
    }
}

pub fn import_conv(c: &NodeCtx) -> Result<Op, String> {
    let group = c.attrs.int("group", 1)?;
    if group < 1 {
        return Err(format!("group must be ≥ 1, got {group}"));
    }
    Ok(Op::Conv(Conv { window: WindowAttrs::from_ctx(c, false)?, group: group as usize }))
}

/// The geometry of a transposed convolution over concrete spatial dims: input position `i`
/// and kernel tap `k` land on output position `i * stride + k * dilation - pads_begin`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransposedWindow {
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads_begin: Vec<usize>,
    pub output: Vec<usize>,
}

impl WindowAttrs {
    /// Resolves a transposed convolution: the full extent of each axis is
    /// `stride * (in - 1) + output_padding + dilation * (kernel - 1) + 1`, cut down by explicit
    /// pads, or by the padding `output_shape` / `SAME_*` imply (split as the spec says; a
    /// negative total grows the output at the end).
    pub fn resolve_transposed(
        &self,
        input: &[usize],
        kernel: &[usize],
        output_padding: Option<&[usize]>,
        output_shape: Option<&[usize]>,
    ) -> Result<TransposedWindow, String> {
        let n = input.len();
        if kernel.len() != n {
            return Err(format!("kernel has {} spatial dims, input has {n}", kernel.len()));
        }
        let get = |v: Option<&[usize]>, what: &str, default: usize| -> Result<Vec<usize>, String> {
            match v {
                Some(v) if v.len() == n => Ok(v.to_vec()),
                Some(v) => Err(format!("{what} has {} entries, expected {n}", v.len())),
                None => Ok(vec![default; n]),
            }
        };
        let strides = get(self.strides.as_deref(), "strides", 1)?;
        let dilations = get(self.dilations.as_deref(), "dilations", 1)?;
        let out_pad = get(output_padding, "output_padding", 0)?;
        let target = match output_shape {
            Some(s) if s.len() == n + 2 => Some(s[2..].to_vec()),
            Some(s) => Some(get(Some(s), "output_shape", 0)?),
            None => None,
        };
        let mut pads_begin = vec![0; n];
        let mut output = vec![0; n];
        for i in 0..n {
            if input[i] == 0 || kernel[i] == 0 {
                return Err(format!("spatial dim {i} is empty"));
            }
            let full = strides[i] * (input[i] - 1) + out_pad[i] + dilations[i] * (kernel[i] - 1) + 1;
            let target_i = match (&target, self.auto_pad) {
                (Some(t), _) => Some(t[i]),
                (None, AutoPad::SameUpper | AutoPad::SameLower) => Some(input[i] * strides[i]),
                _ => None,
            };
            match target_i {
                Some(out) => {
                    let total = full as i64 - out as i64;
                    pads_begin[i] = if total <= 0 {
                        0
                    } else if self.auto_pad == AutoPad::SameUpper {
                        (total / 2) as usize
                    } else {
                        (total - total / 2) as usize
                    };
                    output[i] = out;
                }
                None if self.auto_pad == AutoPad::Valid => output[i] = full,
                None => {
                    let (pb, pe) = match &self.pads {
                        Some(p) if p.len() == 2 * n => (p[i], p[n + i]),
                        Some(p) => return Err(format!("pads has {} entries, expected {}", p.len(), 2 * n)),
                        None => (0, 0),
                    };
                    if pb + pe >= full {
                        return Err(format!("pads {pb}+{pe} leave nothing of spatial dim {i} (extent {full})"));
                    }
                    pads_begin[i] = pb;
                    output[i] = full - pb - pe;
                }
            }
        }
        super::resize::allocatable(&output)?;
        Ok(TransposedWindow { strides, dilations, pads_begin, output })
    }
}

/// The optional bias input of the convolutions: `m` values, zeros when absent.
fn bias_of(inputs: &[Option<&Tensor>], i: usize, m: usize) -> Result<Vec<f64>, String> {
    match inputs.get(i).copied().flatten() {
        Some(b) => {
            if b.numel() != m {
                return Err(format!("B has {} elements, expected {m}", b.numel()));
            }
            b.to_f64_vec()
        }
        None => Ok(vec![0.0; m]),
    }
}

/// W's trailing dims, checked against a `kernel_shape` attribute.
fn kernel_from(attr: &Option<Vec<usize>>, w: &[usize]) -> Result<Vec<usize>, String> {
    let from_w = w.get(2..).ok_or("W must have rank ≥ 3")?.to_vec();
    if let Some(k) = attr {
        if *k != from_w {
            return Err(format!("kernel_shape {k:?} disagrees with W's shape {w:?}"));
        }
    }
    Ok(from_w)
}

/// ConvTranspose: the gradient of Conv with respect to its input, `W` shaped (C, M/group, k…).
#[derive(Clone, Debug)]
pub struct ConvTranspose {
    pub window: WindowAttrs,
    pub group: usize,
    pub output_padding: Option<Vec<usize>>,
    pub output_shape: Option<Vec<usize>>,
}

impl ConvTranspose {
    pub fn geometry(&self, x: &[usize], w: &[usize]) -> Result<TransposedWindow, String> {
        if x.len() < 3 || w.len() != x.len() {
            return Err(format!("X {x:?} and W {w:?} must have equal rank ≥ 3"));
        }
        if x[1] != w[0] || x[1] % self.group != 0 {
            return Err(format!(
                "X has {} channels; W {w:?} needs them equal to W's first dim and divisible by group {}",
                x[1], self.group
            ));
        }
        let kernel = kernel_from(&self.window.kernel_shape, w)?;
        self.window.resolve_transposed(&x[2..], &kernel, self.output_padding.as_deref(), self.output_shape.as_deref())
    }
}

impl OpSpec for ConvTranspose {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, w) = (cx.input(0)?, cx.input(1)?);
        if !x.dtype.is_float() || x.dtype != w.dtype {
            return Err(format!("ConvTranspose needs float X and W of one dtype, got {} and {}", x.dtype, w.dtype));
        }
        if x.rank() < 3 || w.rank() != x.rank() {
            return Err(format!("X (rank {}) and W (rank {}) must have equal rank ≥ 3", x.rank(), w.rank()));
        }
        let m = w.dims[1].mul(&Dim::Known(self.group));
        let mut out = vec![x.dims[0].clone(), m];
        match (x.shape(), w.shape()) {
            (Some(xs), Some(ws)) => out.extend(self.geometry(&xs, &ws)?.output.into_iter().map(Dim::Known)),
            _ => match &self.output_shape {
                Some(s) => out.extend(s[s.len().saturating_sub(x.rank() - 2)..].iter().map(|&d| Dim::Known(d))),
                None => out.extend(vec![Dim::Unknown; x.rank() - 2]),
            },
        }
        Ok(vec![vt(x.dtype, out)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, w) = (need(inputs, 0)?, need(inputs, 1)?);
        let (xs, ws) = (x.shape(), w.shape());
        let win = self.geometry(xs, ws)?;
        let g = self.group;
        let (n, c) = (xs[0], xs[1]);
        let (cg, mg) = (c / g, ws[1]);
        let m = mg * g;
        let kernel = &ws[2..];
        let nd = kernel.len();
        let bias = bias_of(inputs, 2, m)?;
        let xv = x.to_f64_vec()?;
        let wv = w.to_f64_vec()?;
        let isz: usize = xs[2..].iter().product();
        let osz: usize = win.output.iter().product();
        let ksz: usize = kernel.iter().product();
        let ist = crate::tensor::shape::strides(&xs[2..]);
        let kst = crate::tensor::shape::strides(kernel);
        let ost = crate::tensor::shape::strides(&win.output);
        // For every (input position, kernel tap): the output position it lands on, if inside.
        let mut dest: Vec<Option<usize>> = Vec::with_capacity(isz * ksz);
        for i in 0..isz {
            for k in 0..ksz {
                let mut off = 0usize;
                let mut inside = true;
                for d in 0..nd {
                    let id = (i / ist[d]) % xs[2 + d];
                    let kd = (k / kst[d]) % kernel[d];
                    let pos = (id * win.strides[d] + kd * win.dilations[d]) as isize - win.pads_begin[d] as isize;
                    if pos < 0 || pos >= win.output[d] as isize {
                        inside = false;
                        break;
                    }
                    off += pos as usize * ost[d];
                }
                dest.push(inside.then_some(off));
            }
        }
        let mut out = vec![0.0; n * m * osz];
        for b in 0..n {
            for oc in 0..m {
                out[(b * m + oc) * osz..(b * m + oc + 1) * osz].fill(bias[oc]);
            }
            for gi in 0..g {
                for ci in 0..cg {
                    let ch = gi * cg + ci;
                    let xrow = &xv[(b * c + ch) * isz..(b * c + ch + 1) * isz];
                    for mi in 0..mg {
                        let oc = gi * mg + mi;
                        let wk = &wv[(ch * mg + mi) * ksz..(ch * mg + mi + 1) * ksz];
                        let orow = &mut out[(b * m + oc) * osz..(b * m + oc + 1) * osz];
                        for (i, &xval) in xrow.iter().enumerate() {
                            if xval == 0.0 {
                                continue;
                            }
                            for (k, &wval) in wk.iter().enumerate() {
                                if let Some(o) = dest[i * ksz + k] {
                                    orow[o] += xval * wval;
                                }
                            }
                        }
                    }
                }
            }
        }
        let mut shape = vec![n, m];
        shape.extend(&win.output);
        Ok(vec![Tensor::from_f64(x.dtype(), &shape, &out)?])
    }
}

fn group_attr(c: &NodeCtx, name: &str) -> Result<usize, String> {
    let g = c.attrs.int(name, 1)?;
    if g < 1 {
        return Err(format!("{name} must be ≥ 1, got {g}"));
    }
    Ok(g as usize)
}

pub fn import_conv_transpose(c: &NodeCtx) -> Result<Op, String> {
    let nonneg = |k: &str| -> Result<Option<Vec<usize>>, String> {
        c.attrs
            .opt_ints(k)?
            .map(|v| {
                v.iter()
                    .map(|&x| if x >= 0 { Ok(x as usize) } else { Err(format!("{k} must be ≥ 0, got {x}")) })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
    };
    Ok(Op::ConvTranspose(ConvTranspose {
        window: WindowAttrs::from_ctx(c, false)?,
        group: group_attr(c, "group")?,
        output_padding: nonneg("output_padding")?,
        output_shape: nonneg("output_shape")?,
    }))
}

/// DeformConv: Conv whose kernel taps sample the input at learned fractional offsets
/// (bilinear, zero outside), optionally scaled by a mask.
#[derive(Clone, Debug)]
pub struct DeformConv {
    pub window: WindowAttrs,
    pub group: usize,
    pub offset_group: usize,
}

impl DeformConv {
    pub fn geometry(&self, x: &[usize], w: &[usize]) -> Result<Window, String> {
        let conv = Conv { window: self.window.clone(), group: self.group };
        conv.channels(x, w)?;
        if x[1] % self.offset_group != 0 {
            return Err(format!("{} channels are not divisible by offset_group {}", x[1], self.offset_group));
        }
        let kernel = kernel_from(&self.window.kernel_shape, w)?;
        self.window.resolve(&x[2..], &kernel)
    }
}

impl OpSpec for DeformConv {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, w, off) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
        if !x.dtype.is_float() || x.dtype != w.dtype || off.dtype != x.dtype {
            return Err(format!(
                "DeformConv needs float X, W and offset of one dtype, got {}, {}, {}",
                x.dtype, w.dtype, off.dtype
            ));
        }
        if x.rank() < 3 || w.rank() != x.rank() || off.rank() != x.rank() {
            return Err("X, W and offset must have equal rank ≥ 3".into());
        }
        let mut out = vec![x.dims[0].clone(), w.dims[0].clone()];
        match (x.shape(), w.shape()) {
            (Some(xs), Some(ws)) => out.extend(self.geometry(&xs, &ws)?.output.into_iter().map(Dim::Known)),
            _ => out.extend(off.dims[2..].iter().cloned()),
        }
        Ok(vec![vt(x.dtype, out)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, w, offset) = (need(inputs, 0)?, need(inputs, 1)?, need(inputs, 2)?);
        let (xs, ws) = (x.shape(), w.shape());
        let win = self.geometry(xs, ws)?;
        let (n, c, m) = (xs[0], xs[1], ws[0]);
        let nd = xs.len() - 2;
        let kernel = &ws[2..];
        let ksz: usize = kernel.iter().product();
        let osz: usize = win.output.iter().product();
        let isz: usize = xs[2..].iter().product();
        let og = self.offset_group;
        let mut want = vec![n, og * ksz * nd];
        want.extend(&win.output);
        if offset.shape() != want.as_slice() {
            return Err(format!("offset has shape {:?}, expected {want:?}", offset.shape()));
        }
        let mask = match inputs.get(4).copied().flatten() {
            Some(mk) => {
                want[1] = og * ksz;
                if mk.shape() != want.as_slice() {
                    return Err(format!("mask has shape {:?}, expected {want:?}", mk.shape()));
                }
                Some(mk.to_f64_vec()?)
            }
            None => None,
        };
        let bias = bias_of(inputs, 3, m)?;
        let xv = x.to_f64_vec()?;
        let wv = w.to_f64_vec()?;
        let ov = offset.to_f64_vec()?;
        let ist = crate::tensor::shape::strides(&xs[2..]);
        let kst = crate::tensor::shape::strides(kernel);
        let ost = crate::tensor::shape::strides(&win.output);
        let (g, cg, cpo) = (self.group, c / self.group, c / og);
        let mg = m / g;
        let kdim = cg * ksz;
        let mut out = vec![0.0; n * m * osz];
        let mut col = vec![0.0; c * ksz * osz];
        for b in 0..n {
            // col[(ch, k), o]: the masked bilinear sample of channel ch for tap k at output o.
            for gi in 0..og {
                for k in 0..ksz {
                    for o in 0..osz {
                        let mut corners: Vec<(usize, f64)> = vec![(0, 1.0)];
                        for d in 0..nd {
                            let od = (o / ost[d]) % win.output[d];
                            let kd = (k / kst[d]) % kernel[d];
                            let oi = (((b * og + gi) * ksz + k) * nd + d) * osz + o;
                            let p = (od * win.strides[d] + kd * win.dilations[d]) as f64 - win.pads_begin[d] as f64
                                + ov[oi];
                            let f = p.floor();
                            let t = p - f;
                            let mut next = Vec::with_capacity(corners.len() * 2);
                            for (idx, wt) in [(f, 1.0 - t), (f + 1.0, t)] {
                                if idx < 0.0 || idx >= xs[2 + d] as f64 || wt == 0.0 {
                                    continue;
                                }
                                for &(off, cw) in &corners {
                                    next.push((off + idx as usize * ist[d], cw * wt));
                                }
                            }
                            corners = next;
                        }
                        let scale = mask.as_ref().map_or(1.0, |mk| mk[((b * og + gi) * ksz + k) * osz + o]);
                        for ch in gi * cpo..(gi + 1) * cpo {
                            let plane = &xv[(b * c + ch) * isz..(b * c + ch + 1) * isz];
                            let v: f64 = corners.iter().map(|&(off, cw)| cw * plane[off]).sum();
                            col[(ch * ksz + k) * osz + o] = v * scale;
                        }
                    }
                }
            }
            for oc in 0..m {
                let gi = oc / mg;
                let orow = &mut out[(b * m + oc) * osz..(b * m + oc + 1) * osz];
                orow.fill(bias[oc]);
                for kk in 0..kdim {
                    let wk = wv[oc * kdim + kk];
                    if wk == 0.0 {
                        continue;
                    }
                    let crow = &col[(gi * kdim + kk) * osz..(gi * kdim + kk + 1) * osz];
                    for (o, cv) in orow.iter_mut().zip(crow) {
                        *o += wk * cv;
                    }
                }
            }
        }
        let mut shape = vec![n, m];
        shape.extend(&win.output);
        Ok(vec![Tensor::from_f64(x.dtype(), &shape, &out)?])
    }
}

pub fn import_deform_conv(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::DeformConv(DeformConv {
        window: WindowAttrs::from_ctx(c, false)?,
        group: group_attr(c, "group")?,
        offset_group: group_attr(c, "offset_group")?,
    }))
}

/// CausalConvWithState: depthwise causal 1-D convolution over `[past_state, input]` with an
/// optional fused SiLU; also returns the last `k - 1` positions as the next state.
#[derive(Clone, Debug)]
pub struct CausalConvWithState {
    pub silu: bool,
}

impl CausalConvWithState {
    /// (batch, channels, length, k) after checking every input's shape.
    pub fn dims(
        &self,
        x: &[usize],
        w: &[usize],
        b: Option<&[usize]>,
        past: Option<&[usize]>,
    ) -> Result<[usize; 4], String> {
        if x.len() != 3 || w.len() != 3 {
            return Err(format!("input {x:?} and weight {w:?} must have rank 3"));
        }
        let (bt, c, l) = (x[0], x[1], x[2]);
        if w[0] != c || w[1] != 1 || w[2] == 0 {
            return Err(format!("weight {w:?} must be ({c}, 1, k) with k ≥ 1"));
        }
        let k = w[2];
        if let Some(b) = b {
            if b != [c] {
                return Err(format!("bias {b:?} must be ({c})"));
            }
        }
        if let Some(p) = past {
            if p != [bt, c, k - 1] {
                return Err(format!("past_state {p:?} must be ({bt}, {c}, {})", k - 1));
            }
        }
        Ok([bt, c, l, k])
    }
}

impl OpSpec for CausalConvWithState {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let (x, w) = (cx.input(0)?, cx.input(1)?);
        if !x.dtype.is_float() || w.dtype != x.dtype {
            return Err(format!(
                "input and weight must be float tensors of one dtype, got {} and {}",
                x.dtype, w.dtype
            ));
        }
        if x.rank() != 3 || w.rank() != 3 {
            return Err("input and weight must have rank 3".into());
        }
        let state_len = match w.dims[2].known() {
            Some(0) => return Err("the kernel size must be ≥ 1".into()),
            Some(k) => Dim::Known(k - 1),
            None => Dim::Unknown,
        };
        Ok(vec![vt(x.dtype, x.dims.clone()), vt(x.dtype, vec![x.dims[0].clone(), x.dims[1].clone(), state_len])])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let (x, w) = (need(inputs, 0)?, need(inputs, 1)?);
        let bias_t = inputs.get(2).copied().flatten();
        let past_t = inputs.get(3).copied().flatten();
        let [bt, c, l, k] = self.dims(x.shape(), w.shape(), bias_t.map(|t| t.shape()), past_t.map(|t| t.shape()))?;
        let xv = x.to_f64_vec()?;
        let wv = w.to_f64_vec()?;
        let bias = bias_of(inputs, 2, c)?;
        let past = match past_t {
            Some(p) => p.to_f64_vec()?,
            None => vec![0.0; bt * c * (k - 1)],
        };
        let span = l + k - 1;
        let mut out = Vec::with_capacity(bt * c * l);
        let mut state = Vec::with_capacity(bt * c * (k - 1));
        let mut padded = vec![0.0; span];
        for b in 0..bt {
            for ch in 0..c {
                let row = b * c + ch;
                padded[..k - 1].copy_from_slice(&past[row * (k - 1)..(row + 1) * (k - 1)]);
                padded[k - 1..].copy_from_slice(&xv[row * l..(row + 1) * l]);
                let wk = &wv[ch * k..(ch + 1) * k];
                for t in 0..l {
                    let v = bias[ch] + wk.iter().zip(&padded[t..t + k]).map(|(a, b)| a * b).sum::<f64>();
                    out.push(if self.silu { v / (1.0 + (-v).exp()) } else { v });
                }
                state.extend_from_slice(&padded[span - (k - 1)..]);
            }
        }
        Ok(vec![Tensor::from_f64(x.dtype(), &[bt, c, l], &out)?, Tensor::from_f64(x.dtype(), &[bt, c, k - 1], &state)?])
    }
}

pub fn import_causal_conv_with_state(c: &NodeCtx) -> Result<Op, String> {
    let silu = match c.attrs.string("activation", "none")?.as_str() {
        "none" => false,
        "silu" | "swish" => true,
        s => return Err(format!("unknown activation '{s}' (expected none, silu or swish)")),
    };
    Ok(Op::CausalConvWithState(CausalConvWithState { silu }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pads: Option<Vec<usize>>, auto_pad: AutoPad, strides: usize, ceil: bool) -> WindowAttrs {
        WindowAttrs {
            kernel_shape: None,
            strides: Some(vec![strides]),
            dilations: None,
            pads,
            auto_pad,
            ceil_mode: ceil,
        }
    }

    #[test]
    fn geometry() {
        let w = attrs(Some(vec![1, 1]), AutoPad::NotSet, 2, false).resolve(&[7], &[3]).unwrap();
        assert_eq!(w.output, vec![4]);
        let w = attrs(None, AutoPad::SameUpper, 2, false).resolve(&[5], &[2]).unwrap();
        assert_eq!((w.output[0], w.pads_begin[0], w.pads_end[0]), (3, 0, 1));
        let w = attrs(None, AutoPad::SameLower, 2, false).resolve(&[5], &[2]).unwrap();
        assert_eq!((w.pads_begin[0], w.pads_end[0]), (1, 0));
        let w = attrs(None, AutoPad::Valid, 2, false).resolve(&[5], &[2]).unwrap();
        assert_eq!(w.output, vec![2]);
        let w = attrs(None, AutoPad::NotSet, 2, true).resolve(&[6], &[3]).unwrap();
        assert_eq!(w.output, vec![3]);
        assert!(attrs(None, AutoPad::NotSet, 1, false).resolve(&[2], &[3]).is_err());
    }

    #[test]
    fn transposed_geometry() {
        let a = attrs(None, AutoPad::NotSet, 3, false);
        // Full extent 3*2+3 = 9; an output_shape of 10 grows the output at the end.
        let w = a.resolve_transposed(&[3], &[3], None, Some(&[10])).unwrap();
        assert_eq!((w.output[0], w.pads_begin[0]), (10, 0));
        // A smaller output_shape crops: total 3 → begin 2, end 1 (spec's non-SAME_UPPER split).
        let w = a.resolve_transposed(&[3], &[3], None, Some(&[6])).unwrap();
        assert_eq!((w.output[0], w.pads_begin[0]), (6, 2));
        let up = attrs(None, AutoPad::SameUpper, 2, false);
        let w = up.resolve_transposed(&[3], &[3], None, None).unwrap();
        assert_eq!((w.output[0], w.pads_begin[0]), (6, 0));
        let lo = attrs(None, AutoPad::SameLower, 2, false);
        assert_eq!(lo.resolve_transposed(&[3], &[3], None, None).unwrap().pads_begin[0], 1);
        let p = attrs(Some(vec![1, 2]), AutoPad::NotSet, 3, false);
        assert_eq!(p.resolve_transposed(&[3], &[3], Some(&[1]), None).unwrap().output, vec![7]);
        assert!(attrs(Some(vec![5, 5]), AutoPad::NotSet, 1, false).resolve_transposed(&[3], &[3], None, None).is_err());
    }

    fn t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_slice(shape, v).unwrap()
    }

    #[test]
    fn conv_transpose_scatters() {
        let op = ConvTranspose {
            window: attrs(None, AutoPad::NotSet, 2, false),
            group: 1,
            output_padding: None,
            output_shape: None,
        };
        let x = t(&[1, 1, 2], &[1.0, 2.0]);
        let w = t(&[1, 1, 3], &[1.0, 10.0, 100.0]);
        let y = op.eval(&[Some(&x), Some(&w)], 1).unwrap();
        assert_eq!(y[0].shape(), &[1, 1, 5]);
        assert_eq!(y[0].to_f64_vec().unwrap(), vec![1.0, 10.0, 102.0, 20.0, 200.0]);
    }

    #[test]
    fn deform_conv_with_zero_offsets_is_conv() {
        let window = WindowAttrs {
            kernel_shape: None,
            strides: None,
            dilations: None,
            pads: Some(vec![1, 0]),
            auto_pad: AutoPad::NotSet,
            ceil_mode: false,
        };
        let x = t(&[1, 2, 4], &[1.0, 2.0, 3.0, 4.0, -1.0, 0.5, 2.0, 3.0]);
        let w = t(&[1, 2, 2], &[1.0, -2.0, 0.5, 3.0]);
        let conv = Conv { window: window.clone(), group: 1 }.eval(&[Some(&x), Some(&w)], 1).unwrap();
        let off = t(&[1, 2, 4], &[0.0; 8]);
        let dc = DeformConv { window, group: 1, offset_group: 1 };
        let y = dc.eval(&[Some(&x), Some(&w), Some(&off)], 1).unwrap();
        assert_eq!(y[0].to_f64_vec().unwrap(), conv[0].to_f64_vec().unwrap());
        // A half-pixel offset interpolates; one past the border reads zeros.
        let off = t(&[1, 2, 4], &[0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 9.0]);
        let y = dc.eval(&[Some(&x), Some(&w), Some(&off)], 1).unwrap().remove(0).to_f64_vec().unwrap();
        // Output 0, tap 0 samples position -1 + 0.5 → half of x[0] per channel.
        // Channel 0: 1·0.5 + (-2)·1; channel 1: 0.5·(-0.5) + 3·(-1).
        assert_eq!(y[0], 0.5 - 0.25 - 2.0 - 3.0);
        assert_eq!(y[3], 1.0 * 3.0 + 0.5 * 2.0);
    }

    #[test]
    fn causal_conv_carries_state() {
        let op = CausalConvWithState { silu: false };
        let w = t(&[1, 1, 3], &[1.0, 10.0, 100.0]);
        let x = t(&[1, 1, 2], &[1.0, 2.0]);
        let past = t(&[1, 1, 2], &[5.0, 6.0]);
        let y = op.eval(&[Some(&x), Some(&w), None, Some(&past)], 2).unwrap();
        assert_eq!(y[0].to_f64_vec().unwrap(), vec![5.0 + 60.0 + 100.0, 6.0 + 10.0 + 200.0]);
        assert_eq!(y[1].to_f64_vec().unwrap(), vec![1.0, 2.0]);
        let short = t(&[1, 1, 1], &[7.0]);
        let y = op.eval(&[Some(&short), Some(&w)], 2).unwrap();
        assert_eq!(y[1].to_f64_vec().unwrap(), vec![0.0, 7.0]);
        let bad = t(&[1, 1, 3], &[0.0; 3]);
        assert!(op.eval(&[Some(&x), Some(&w), None, Some(&bad)], 2).is_err());
    }
}
