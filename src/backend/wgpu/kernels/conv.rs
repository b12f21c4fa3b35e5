//! Convolution kernels (`shaders/conv/`): 1-D and 2-D Conv as an implicit GEMM (no im2col
//! buffer), and a direct kernel for grouped convolutions with one input channel per group
//! (depthwise). Both apply an optional epilogue (residual add, activation from
//! `shaders/fused/activation.wgsl`) for the optimizer's `FusedConv`.

use super::{grid_1d, u32_of, GpuKernel, GpuLowering, GpuType, KernelKey};
use crate::backend::wgpu::shaders::{self, Prelude};
use crate::gpu_params;
use crate::ops::conv::{Conv, Window};
use crate::ops::fused::{Act, ActKind};
use crate::plan::{LowerCx, Lowered, Ref};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvVariant {
    pub t: GpuType,
    pub bias: bool,
    /// A residual `Z` (same shape as `Y`) is bound and added before the activation.
    pub residual: bool,
    pub act: ActKind,
}

impl ConvVariant {
    /// Without epilogue.
    pub fn plain(t: GpuType, bias: bool) -> ConvVariant {
        ConvVariant { t, bias, residual: false, act: ActKind::None }
    }

    pub fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        p.bool("HAS_BIAS", self.bias);
        p.bool("HAS_RESIDUAL", self.residual);
        act_prelude(p, self.act);
    }
}

/// The `ACT_*` codes, `ACT`, the `UNARY_*` codes, `ACT_UNARY` (the unary op whose formula
/// `shaders/elementwise/unary_lib.wgsl` computes for `act`) and the activation library
/// (`shaders/fused/activation.wgsl`).
pub fn act_prelude(p: &mut Prelude, act: ActKind) {
    use crate::ops::elementwise::UnaryOp;
    p.codes("ACT", &ActKind::ALL, |a| a as u32);
    p.u32("ACT", act as u32);
    p.codes("UNARY", &UnaryOp::ALL, |o| o as u32);
    // None and SiLU do not read it (act_apply returns v, or v · Sigmoid(v)).
    p.u32("ACT_UNARY", act.unary().unwrap_or(UnaryOp::Sigmoid) as u32);
    p.lib(&shaders::UNARY_LIB).lib(&shaders::FUSED_ACTIVATION);
}

gpu_params!(
    /// `shaders/conv/conv2d.wgsl` Params.
    ConvParams {
        batch: u32,
        in_c: u32,
        out_c: u32,
        group_in_c: u32,
        group_out_c: u32,
        gemm_m: u32,
        gemm_k: u32,
        pad0: u32,
        in_sp: [u32; 4],
        out_sp: [u32; 4],
        kernel: [u32; 4],
        stride: [u32; 4],
        dilation: [u32; 4],
        pad: [u32; 4],
        act_alpha: f32,
        act_beta: f32,
        pad1: u32,
        pad2: u32,
    }
);

gpu_params!(
    /// `shaders/conv/depthwise.wgsl` Params.
    DepthwiseParams {
        total: u32,
        in_c: u32,
        out_c: u32,
        multiplier: u32,
        in_sp: [u32; 4],
        out_sp: [u32; 4],
        kernel: [u32; 4],
        stride: [u32; 4],
        dilation: [u32; 4],
        pad: [u32; 4],
        act_alpha: f32,
        act_beta: f32,
        pad1: u32,
        pad2: u32,
    }
);

/// A window of 1 to 3 spatial dims as 3-D geometry (leading unit dims), in WGSL `vec4` form.
#[derive(Clone, Copy, Debug, Default)]
pub struct Geo3 {
    pub input: [u32; 4],
    pub output: [u32; 4],
    pub kernel: [u32; 4],
    pub stride: [u32; 4],
    pub dilation: [u32; 4],
    pub pad: [u32; 4],
    pub pad_end: [u32; 4],
}

impl Geo3 {
    pub fn of(w: &Window) -> Result<Geo3, String> {
        let n = w.input.len();
        if n == 0 || n > 3 {
            return Err(format!("{n}-D windows have no GPU kernel"));
        }
        let lift = |v: &[usize], fill: u32| -> Result<[u32; 4], String> {
            let mut a = [fill, fill, fill, 0];
            for (i, &x) in v.iter().enumerate() {
                a[3 - n + i] = u32_of(x)?;
            }
            Ok(a)
        };
        Ok(Geo3 {
            input: lift(&w.input, 1)?,
            output: lift(&w.output, 1)?,
            kernel: lift(&w.kernel, 1)?,
            stride: lift(&w.strides, 1)?,
            dilation: lift(&w.dilations, 1)?,
            pad: lift(&w.pads_begin, 0)?,
            pad_end: lift(&w.pads_end, 0)?,
        })
    }
}

pub fn lower_conv(l: &GpuLowering, cx: &LowerCx, c: &Conv) -> Result<Lowered<GpuKernel>, String> {
    lower_conv_epilogue(l, cx, c, Act::NONE)
}

/// Conv with an epilogue: `act(Conv(X, W, B) + Z)`, Z being the optional input 3.
pub fn lower_conv_epilogue(l: &GpuLowering, cx: &LowerCx, c: &Conv, act: Act) -> Result<Lowered<GpuKernel>, String> {
    let (x, w, y) = (cx.input(0)?, cx.input(1)?, cx.output(0)?);
    let t = l.ty(x)?;
    if !t.is_float() || t == GpuType::F64 {
        return Err(format!("Conv of {} has no GPU kernel", x.dtype));
    }
    let (n, ch, m) = c.channels(&x.shape, &w.shape)?;
    let win = c.window.resolve(&x.shape[2..], &c.kernel(&w.shape)?)?;
    let geo = Geo3::of(&win)?;
    let bias = cx.inputs.get(2).is_some_and(|o| o.is_some());
    let residual = cx.inputs.get(3).is_some_and(|o| o.is_some());
    if residual && cx.input(3)?.shape != y.shape {
        return Err("the residual's shape differs from the output's".into());
    }
    let variant = ConvVariant { t, bias, residual, act: act.kind };
    let bref = if bias { Ref::Input(2) } else { Ref::Input(0) };
    let zref = if residual { Ref::Input(3) } else { Ref::Input(0) };
    // Unused bias/residual bindings repeat X (never read).
    let bindings = vec![Ref::Input(0), Ref::Input(1), bref, zref, Ref::Output(0)];
    let g = c.group;
    let u = u32_of;
    if ch / g == 1 && g > 1 {
        let total: usize = y.shape.iter().product();
        let p = DepthwiseParams {
            total: u(total)?,
            in_c: u(ch)?,
            out_c: u(m)?,
            multiplier: u(m / g)?,
            in_sp: geo.input,
            out_sp: geo.output,
            kernel: geo.kernel,
            stride: geo.stride,
            dilation: geo.dilation,
            pad: geo.pad,
            act_alpha: act.alpha,
            act_beta: act.beta,
            ..Default::default()
        };
        let k = GpuKernel::new(KernelKey::Depthwise(variant), &p, grid_1d(total, 256));
        return Ok(Lowered::single(k, bindings));
    }
    let pix: usize = win.output.iter().product();
    let gemm_m = n * pix;
    let gemm_k = (ch / g) * win.kernel.iter().product::<usize>();
    let p = ConvParams {
        batch: u(n)?,
        in_c: u(ch)?,
        out_c: u(m)?,
        group_in_c: u(ch / g)?,
        group_out_c: u(m / g)?,
        gemm_m: u(gemm_m)?,
        gemm_k: u(gemm_k)?,
        pad0: 0,
        in_sp: geo.input,
        out_sp: geo.output,
        kernel: geo.kernel,
        stride: geo.stride,
        dilation: geo.dilation,
        pad: geo.pad,
        act_alpha: act.alpha,
        act_beta: act.beta,
        ..Default::default()
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
            for residual in [false, true] {
                for act in ActKind::ALL {
                    v.push(KernelKey::Conv2d(ConvVariant { t, bias, residual, act }));
                    v.push(KernelKey::Depthwise(ConvVariant { t, bias, residual, act }));
                }
            }
        }
    }
    v
}
