//! Convolution kernels (`shaders/conv/`): 1-D and 2-D Conv as an implicit GEMM (no im2col
//! buffer), and a direct kernel for grouped convolutions with one input channel per group
//! (depthwise). 3-D Conv has no GPU kernel yet.

use super::{grid_1d, u32_of, GpuKernel, GpuLowering, GpuType, KernelKey};
use crate::backend::wgpu::shaders::Prelude;
use crate::gpu_params;
use crate::ops::conv::{Conv, Window};
use crate::plan::{LowerCx, Lowered, Ref};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvVariant {
    pub t: GpuType,
    pub bias: bool,
}

impl ConvVariant {
    pub fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.bool("HAS_BIAS", self.bias);
    }
}

gpu_params!(
    /// `shaders/conv/conv2d.wgsl` Params.
    Conv2dParams {
        batch: u32,
        in_c: u32,
        in_h: u32,
        in_w: u32,
        out_c: u32,
        out_h: u32,
        out_w: u32,
        group_in_c: u32,
        k_h: u32,
        k_w: u32,
        stride_h: u32,
        stride_w: u32,
        dil_h: u32,
        dil_w: u32,
        pad_h: u32,
        pad_w: u32,
        group_out_c: u32,
        gemm_m: u32,
        gemm_k: u32,
        pad0: u32,
    }
);

gpu_params!(
    /// `shaders/conv/depthwise.wgsl` Params.
    DepthwiseParams {
        total: u32,
        in_c: u32,
        in_h: u32,
        in_w: u32,
        out_c: u32,
        out_h: u32,
        out_w: u32,
        multiplier: u32,
        k_h: u32,
        k_w: u32,
        stride_h: u32,
        stride_w: u32,
        dil_h: u32,
        dil_w: u32,
        pad_h: u32,
        pad_w: u32,
    }
);

/// A 1-D window viewed as 2-D with height 1: (in_h, in_w, k_h, k_w, s_h, s_w, d_h, d_w, p_h, p_w, o_h, o_w).
pub fn as_2d(w: &Window) -> [usize; 12] {
    if w.input.len() == 1 {
        [1, w.input[0], 1, w.kernel[0], 1, w.strides[0], 1, w.dilations[0], 0, w.pads_begin[0], 1, w.output[0]]
    } else {
        [
            w.input[0],
            w.input[1],
            w.kernel[0],
            w.kernel[1],
            w.strides[0],
            w.strides[1],
            w.dilations[0],
            w.dilations[1],
            w.pads_begin[0],
            w.pads_begin[1],
            w.output[0],
            w.output[1],
        ]
    }
}

pub fn lower_conv(l: &GpuLowering, cx: &LowerCx, c: &Conv) -> Result<Lowered<GpuKernel>, String> {
    let (x, w, y) = (cx.input(0)?, cx.input(1)?, cx.output(0)?);
    let t = l.ty(x)?;
    if !t.is_float() || t == GpuType::F64 {
        return Err("integer Conv has no GPU kernel".into());
    }
    if x.shape.len() > 4 {
        return Err("3-D Conv has no GPU kernel yet".into());
    }
    let (n, ch, m) = c.channels(&x.shape, &w.shape)?;
    let win = c.window.resolve(&x.shape[2..], &c.kernel(&w.shape)?)?;
    let [ih, iw, kh, kw, sh, sw, dh, dw, ph, pw, oh, ow] = as_2d(&win);
    let bias = cx.inputs.get(2).is_some_and(|o| o.is_some());
    let variant = ConvVariant { t, bias };
    let bref = if bias { Ref::Input(2) } else { Ref::Input(0) };
    let bindings = vec![Ref::Input(0), Ref::Input(1), bref, Ref::Output(0)];
    let g = c.group;
    let u = u32_of;
    if ch / g == 1 && g > 1 {
        let total: usize = y.shape.iter().product();
        let p = DepthwiseParams {
            total: u(total)?,
            in_c: u(ch)?,
            in_h: u(ih)?,
            in_w: u(iw)?,
            out_c: u(m)?,
            out_h: u(oh)?,
            out_w: u(ow)?,
            multiplier: u(m / g)?,
            k_h: u(kh)?,
            k_w: u(kw)?,
            stride_h: u(sh)?,
            stride_w: u(sw)?,
            dil_h: u(dh)?,
            dil_w: u(dw)?,
            pad_h: u(ph)?,
            pad_w: u(pw)?,
        };
        let k = GpuKernel::new(KernelKey::Depthwise(variant), &p, grid_1d(total, 256));
        return Ok(Lowered::single(k, bindings));
    }
    let gemm_m = n * oh * ow;
    let gemm_k = (ch / g) * kh * kw;
    let p = Conv2dParams {
        batch: u(n)?,
        in_c: u(ch)?,
        in_h: u(ih)?,
        in_w: u(iw)?,
        out_c: u(m)?,
        out_h: u(oh)?,
        out_w: u(ow)?,
        group_in_c: u(ch / g)?,
        k_h: u(kh)?,
        k_w: u(kw)?,
        stride_h: u(sh)?,
        stride_w: u(sw)?,
        dil_h: u(dh)?,
        dil_w: u(dw)?,
        pad_h: u(ph)?,
        pad_w: u(pw)?,
        group_out_c: u(m / g)?,
        gemm_m: u(gemm_m)?,
        gemm_k: u(gemm_k)?,
        pad0: 0,
    };
    let grid = [(m / g).div_ceil(64) as u32, gemm_m.div_ceil(64) as u32, u(g)?];
    if grid[1] > 65535 || grid[2] > 65535 {
        return Err("Conv grid exceeds 65535 workgroups per dimension".into());
    }
    let k = GpuKernel::new(KernelKey::Conv2d(variant), &p, grid);
    Ok(Lowered::single(k, bindings))
}

pub fn variants() -> Vec<KernelKey> {
    let mut v = Vec::new();
    for t in [GpuType::F32, GpuType::F16, GpuType::BF16] {
        for bias in [false, true] {
            v.push(KernelKey::Conv2d(ConvVariant { t, bias }));
            v.push(KernelKey::Depthwise(ConvVariant { t, bias }));
        }
    }
    v
}
