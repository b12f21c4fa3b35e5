//! Convolution (ai.onnx Conv, 1-D/2-D/3-D, groups, dilations, strides, explicit pads and every
//! `auto_pad` mode) and the sliding-window geometry it shares with pooling. The reference
//! kernel is im2col followed by a matrix product, accumulated in f64.

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
        let from_w = w.get(2..).ok_or("W must have rank ≥ 3")?.to_vec();
        if let Some(k) = &self.window.kernel_shape {
            if *k != from_w {
                return Err(format!("kernel_shape {k:?} disagrees with W's shape {w:?}"));
            }
        }
        Ok(from_w)
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
        let bias = match inputs.get(2).copied().flatten() {
            Some(b) => {
                if b.numel() != m {
                    return Err(format!("B has {} elements, expected {m}", b.numel()));
                }
                b.to_f64_vec()?
            }
            None => vec![0.0; m],
        };
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
}
