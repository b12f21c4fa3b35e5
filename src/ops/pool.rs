//! Pooling (ai.onnx): MaxPool (with the optional Indices output and storage_order),
//! AveragePool (count_include_pad), LpPool — 1-D/2-D/3-D with pads, strides, dilations,
//! ceil_mode and auto_pad — and GlobalAveragePool / GlobalMaxPool / GlobalLpPool.

use super::conv::{Window, WindowAttrs};
use super::{need, vt, InferCx, NodeCtx, OpSpec};
use crate::ir::{Op, ValueType};
use crate::tensor::shape::strides;
use crate::tensor::{DType, Dim, Tensor};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PoolKind {
    Max,
    Avg { count_include_pad: bool },
    Lp { p: f32 },
}

#[derive(Clone, Debug)]
pub struct Pool {
    pub kind: PoolKind,
    pub window: WindowAttrs,
    /// MaxPool's Indices layout: false = row-major, true = column-major.
    pub column_major_indices: bool,
}

impl Pool {
    pub fn kernel(&self) -> &[usize] {
        self.window.kernel_shape.as_deref().unwrap_or(&[])
    }

    pub fn resolve(&self, x: &[usize]) -> Result<Window, String> {
        if x.len() < 3 {
            return Err(format!("pooling needs rank ≥ 3, got {x:?}"));
        }
        self.window.resolve(&x[2..], self.kernel())
    }
}

/// Visits the input positions of one window: calls `f(flat_spatial_offset)` for positions
/// inside the input and returns (inside count, count inside the padded bounds).
fn each_tap(win: &Window, o: usize, ost: &[usize], ist: &[usize], mut f: impl FnMut(usize)) -> (usize, usize) {
    let nd = win.kernel.len();
    let ksz: usize = win.kernel.iter().product();
    let kst = strides(&win.kernel);
    let (mut inside, mut padded) = (0, 0);
    'taps: for k in 0..ksz {
        let mut off = 0;
        let mut ok = true;
        for d in 0..nd {
            let od = (o / ost[d]) % win.output[d];
            let kd = (k / kst[d]) % win.kernel[d];
            let pos = (od * win.strides[d] + kd * win.dilations[d]) as isize - win.pads_begin[d] as isize;
            if pos < -(win.pads_begin[d] as isize) || pos >= (win.input[d] + win.pads_end[d]) as isize {
                continue 'taps;
            }
            if pos < 0 || pos >= win.input[d] as isize {
                ok = false;
            } else {
                off += pos as usize * ist[d];
            }
        }
        padded += 1;
        if ok {
            inside += 1;
            f(off);
        }
    }
    (inside, padded)
}

impl OpSpec for Pool {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if !(x.dtype.is_float() || self.kind == PoolKind::Max && x.dtype.is_int()) {
            return Err(format!("pooling needs a float input, got {}", x.dtype));
        }
        if x.rank() < 3 {
            return Err(format!("pooling needs rank ≥ 3, got {}", x.rank()));
        }
        if self.kernel().len() != x.rank() - 2 {
            return Err(format!(
                "kernel_shape has {} dims, input has {} spatial dims",
                self.kernel().len(),
                x.rank() - 2
            ));
        }
        let mut out = vec![x.dims[0].clone(), x.dims[1].clone()];
        out.extend(self.window.out_dims(&x.dims[2..], self.kernel())?);
        let mut r = vec![vt(x.dtype, out.clone())];
        if cx.n_outputs > 1 {
            r.push(vt(DType::I64, out));
        }
        Ok(r)
    }

    fn eval(&self, inputs: &[Option<&Tensor>], n_out: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let win = self.resolve(x.shape())?;
        let xv = x.to_f64_vec()?;
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let isz: usize = win.input.iter().product();
        let osz: usize = win.output.iter().product();
        let ost = strides(&win.output);
        let ist = strides(&win.input);
        let mut out = vec![0.0; n * c * osz];
        let mut idx = vec![0i64; n * c * osz];
        for p in 0..n * c {
            let plane = &xv[p * isz..(p + 1) * isz];
            for o in 0..osz {
                let r = &mut out[p * osz + o];
                match self.kind {
                    PoolKind::Max => {
                        let mut best = f64::NEG_INFINITY;
                        let mut at = usize::MAX;
                        each_tap(&win, o, &ost, &ist, |off| {
                            if plane[off] > best || at == usize::MAX {
                                best = plane[off];
                                at = off;
                            }
                        });
                        *r = best;
                        let local = if self.column_major_indices {
                            // the index within the plane, column-major
                            let mut cm = 0;
                            let mut m = 1;
                            for d in 0..win.input.len() {
                                cm += ((at / ist[d]) % win.input[d]) * m;
                                m *= win.input[d];
                            }
                            cm
                        } else {
                            at
                        };
                        idx[p * osz + o] = (p * isz + local) as i64;
                    }
                    PoolKind::Avg { count_include_pad } => {
                        let mut s = 0.0;
                        let (inside, padded) = each_tap(&win, o, &ost, &ist, |off| s += plane[off]);
                        let div = if count_include_pad { padded } else { inside };
                        *r = if div == 0 { f64::NAN } else { s / div as f64 };
                    }
                    PoolKind::Lp { p } => {
                        let p = p as f64;
                        let mut s = 0.0;
                        each_tap(&win, o, &ost, &ist, |off| s += plane[off].abs().powf(p));
                        *r = s.powf(1.0 / p);
                    }
                }
            }
        }
        let mut shape = vec![n, c];
        shape.extend(&win.output);
        let mut res = vec![Tensor::from_f64(x.dtype(), &shape, &out)?];
        if n_out > 1 {
            res.push(Tensor::new(&shape, idx)?);
        }
        Ok(res)
    }
}

/// Global pooling over all spatial dims.
#[derive(Clone, Debug)]
pub struct GlobalPool {
    pub kind: PoolKind,
}

impl OpSpec for GlobalPool {
    fn infer(&self, cx: &InferCx) -> Result<Vec<ValueType>, String> {
        let x = cx.input(0)?;
        if !x.dtype.is_float() {
            return Err(format!("pooling needs a float input, got {}", x.dtype));
        }
        if x.rank() < 2 {
            return Err(format!("global pooling needs rank ≥ 2, got {}", x.rank()));
        }
        let mut out = vec![x.dims[0].clone(), x.dims[1].clone()];
        out.extend(std::iter::repeat_n(Dim::Known(1), x.rank() - 2));
        Ok(vec![vt(x.dtype, out)])
    }

    fn eval(&self, inputs: &[Option<&Tensor>], _n: usize) -> Result<Vec<Tensor>, String> {
        let x = need(inputs, 0)?;
        let s = x.shape();
        let (n, c) = (s[0], s[1]);
        let sp: usize = s[2..].iter().product();
        let v = x.to_f64_vec()?;
        let out: Vec<f64> = (0..n * c)
            .map(|p| {
                let plane = &v[p * sp..(p + 1) * sp];
                match self.kind {
                    PoolKind::Max => plane.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                    PoolKind::Avg { .. } => plane.iter().sum::<f64>() / sp as f64,
                    PoolKind::Lp { p } => {
                        plane.iter().map(|e| e.abs().powf(p as f64)).sum::<f64>().powf(1.0 / p as f64)
                    }
                }
            })
            .collect();
        let mut shape = vec![n, c];
        shape.extend(std::iter::repeat_n(1, s.len() - 2));
        Ok(vec![Tensor::from_f64(x.dtype(), &shape, &out)?])
    }
}

fn pool(c: &NodeCtx, kind: PoolKind) -> Result<Op, String> {
    let window = WindowAttrs::from_ctx(c, true)?;
    if window.kernel_shape.is_none() {
        return Err("pooling needs a kernel_shape attribute".into());
    }
    Ok(Op::Pool(Pool { kind, window, column_major_indices: c.attrs.int("storage_order", 0)? == 1 }))
}

pub fn import_max_pool(c: &NodeCtx) -> Result<Op, String> {
    pool(c, PoolKind::Max)
}
pub fn import_average_pool(c: &NodeCtx) -> Result<Op, String> {
    pool(c, PoolKind::Avg { count_include_pad: c.attrs.int("count_include_pad", 0)? != 0 })
}
pub fn import_lp_pool(c: &NodeCtx) -> Result<Op, String> {
    pool(c, PoolKind::Lp { p: c.attrs.int("p", 2)? as f32 })
}
pub fn import_global_average_pool(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::GlobalPool(GlobalPool { kind: PoolKind::Avg { count_include_pad: false } }))
}
pub fn import_global_max_pool(_: &NodeCtx) -> Result<Op, String> {
    Ok(Op::GlobalPool(GlobalPool { kind: PoolKind::Max }))
}
pub fn import_global_lp_pool(c: &NodeCtx) -> Result<Op, String> {
    Ok(Op::GlobalPool(GlobalPool { kind: PoolKind::Lp { p: c.attrs.int("p", 2)? as f32 } }))
}
