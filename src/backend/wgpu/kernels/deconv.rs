//! Transposed and sampled convolutions (`shaders/deconv/`): ConvTranspose (1-D to 3-D, groups,
//! dilations, pads / output_padding / output_shape / auto_pad, as a gather over contributing
//! input positions), DeformConv (1-D to 3-D, offset groups, mask, bias) and
//! CausalConvWithState (depthwise causal 1-D with state and optional SiLU). Float inputs only;
//! math in f32.

use super::conv::Geo3;
use super::{grid_1d, u32_of, FamilyKey, GpuKernel, GpuLowering, GpuType, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::conv::{CausalConvWithState, ConvTranspose, DeformConv, Window};
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Operand, Ref};

const FLOATS: [GpuType; 3] = [GpuType::F32, GpuType::F16, GpuType::BF16];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeconvVariant {
    ConvTranspose {
        t: GpuType,
        bias: bool,
    },
    DeformConv {
        t: GpuType,
        bias: bool,
        mask: bool,
    },
    /// Pass 0 computes the output, pass 1 the next state.
    CausalConv {
        t: GpuType,
        bias: bool,
        past: bool,
        pass: u32,
    },
}

impl KernelVariant for DeconvVariant {
    fn file(&self) -> &'static ShaderFile {
        match self {
            DeconvVariant::ConvTranspose { .. } => &shaders::DECONV_CONV_TRANSPOSE,
            DeconvVariant::DeformConv { .. } => &shaders::DECONV_DEFORM_CONV,
            DeconvVariant::CausalConv { .. } => &shaders::DECONV_CAUSAL_CONV,
        }
    }

    fn prelude(&self, p: &mut Prelude) {
        match *self {
            DeconvVariant::ConvTranspose { t, bias } => {
                t.lib(p);
                p.bool("HAS_BIAS", bias);
            }
            DeconvVariant::DeformConv { t, bias, mask } => {
                t.lib(p);
                p.bool("HAS_BIAS", bias).bool("HAS_MASK", mask);
            }
            DeconvVariant::CausalConv { t, bias, past, pass } => {
                t.lib(p);
                p.bool("HAS_BIAS", bias).bool("HAS_PAST", past).u32("PASS", pass);
            }
        }
    }

    fn storage_bindings(&self) -> u32 {
        match self {
            DeconvVariant::ConvTranspose { .. } => 4,
            DeconvVariant::DeformConv { .. } => 6,
            DeconvVariant::CausalConv { .. } => 5,
        }
    }

    fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for t in FLOATS {
            for bias in [false, true] {
                v.push(DeconvVariant::ConvTranspose { t, bias });
                for flag in [false, true] {
                    v.push(DeconvVariant::DeformConv { t, bias, mask: flag });
                    for pass in 0..2 {
                        v.push(DeconvVariant::CausalConv { t, bias, past: flag, pass });
                    }
                }
            }
        }
        v
    }
}

fn key(v: DeconvVariant) -> KernelKey {
    KernelKey::Family(FamilyKey::Deconv(v))
}

fn float_ty(l: &GpuLowering, o: &Operand, what: &str) -> Result<GpuType, String> {
    let t = l.ty(o)?;
    if FLOATS.contains(&t) {
        Ok(t)
    } else {
        Err(format!("{what} of {} has no GPU kernel", o.dtype))
    }
}

/// An optional input of `n` elements and X's dtype: whether it is bound.
fn optional(cx: &LowerCx, i: usize, x: &Operand, n: usize, what: &str) -> Result<bool, String> {
    match cx.inputs.get(i).and_then(|o| o.as_ref()) {
        None => Ok(false),
        Some(o) => {
            if o.dtype != x.dtype {
                return Err(format!("{what} of {} with X of {} has no GPU kernel", o.dtype, x.dtype));
            }
            let k: usize = o.shape.iter().product();
            if k != n {
                return Err(format!("{what} has {k} elements, expected {n}"));
            }
            Ok(true)
        }
    }
}

// ---- ConvTranspose -------------------------------------------------------------------------

gpu_params!(
    /// `shaders/deconv/conv_transpose.wgsl` Params.
    ConvTransposeParams {
        n: u32,
        c: u32,
        m: u32,
        cg: u32,
        mg: u32,
        pad0: u32,
        pad1: u32,
        pad2: u32,
        in_sp: [u32; 4],
        out_sp: [u32; 4],
        kernel: [u32; 4],
        stride: [u32; 4],
        dilation: [u32; 4],
        pad: [u32; 4],
    }
);

pub fn lower_conv_transpose(l: &GpuLowering, cx: &LowerCx, ct: &ConvTranspose) -> Result<Lowered<GpuKernel>, String> {
    let (x, w, y) = (cx.input(0)?, cx.input(1)?, cx.output(0)?);
    let t = float_ty(l, x, "ConvTranspose")?;
    if w.dtype != x.dtype {
        return Err(format!("ConvTranspose of {} with W of {} has no GPU kernel", x.dtype, w.dtype));
    }
    let tw = ct.geometry(&x.shape, &w.shape)?;
    let (n, c) = (x.shape[0], x.shape[1]);
    let g = ct.group;
    let mg = w.shape[1];
    let m = mg * g;
    let mut out_shape = vec![n, m];
    out_shape.extend(&tw.output);
    if out_shape != y.shape {
        return Err(format!("ConvTranspose output {out_shape:?} disagrees with the planned shape {:?}", y.shape));
    }
    let bias = optional(cx, 2, x, m, "B")?;
    // The gather form reads the window geometry as a convolution's.
    let win = Window {
        input: x.shape[2..].to_vec(),
        kernel: w.shape[2..].to_vec(),
        strides: tw.strides.clone(),
        dilations: tw.dilations.clone(),
        pads_begin: tw.pads_begin.clone(),
        pads_end: vec![0; tw.pads_begin.len()],
        output: tw.output.clone(),
    };
    let geo = Geo3::of(&win)?;
    let total: usize = y.shape.iter().product();
    if total == 0 {
        return Ok(Lowered::empty());
    }
    u32_of(x.shape.iter().product())?;
    u32_of(w.shape.iter().product())?;
    let p = ConvTransposeParams {
        n: u32_of(total)?,
        c: u32_of(c)?,
        m: u32_of(m)?,
        cg: u32_of(c / g)?,
        mg: u32_of(mg)?,
        pad0: 0,
        pad1: 0,
        pad2: 0,
        in_sp: geo.input,
        out_sp: geo.output,
        kernel: geo.kernel,
        stride: geo.stride,
        dilation: geo.dilation,
        pad: geo.pad,
    };
    let k = GpuKernel::new(key(DeconvVariant::ConvTranspose { t, bias }), &p, grid_1d(total, 256));
    let bref = if bias { Ref::Input(2) } else { Ref::Input(0) };
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Input(1), bref, Ref::Output(0)]))
}

// ---- DeformConv ----------------------------------------------------------------------------

gpu_params!(
    /// `shaders/deconv/deform_conv.wgsl` Params.
    DeformConvParams {
        n: u32,
        c: u32,
        m: u32,
        cg: u32,
        mg: u32,
        og: u32,
        cpo: u32,
        nd: u32,
        in_sp: [u32; 4],
        out_sp: [u32; 4],
        kernel: [u32; 4],
        stride: [u32; 4],
        dilation: [u32; 4],
        pad: [u32; 4],
    }
);

/// Up to 3 values, left-aligned in a `vec4` (`fill` beyond).
fn left4(v: &[usize], fill: u32) -> Result<[u32; 4], String> {
    if v.is_empty() || v.len() > 3 {
        return Err(format!("{} spatial dims have no GPU kernel (1 to 3)", v.len()));
    }
    let mut a = [fill; 4];
    for (i, &x) in v.iter().enumerate() {
        a[i] = u32_of(x)?;
    }
    Ok(a)
}

pub fn lower_deform_conv(l: &GpuLowering, cx: &LowerCx, dc: &DeformConv) -> Result<Lowered<GpuKernel>, String> {
    let (x, w, off, y) = (cx.input(0)?, cx.input(1)?, cx.input(2)?, cx.output(0)?);
    let t = float_ty(l, x, "DeformConv")?;
    if w.dtype != x.dtype || off.dtype != x.dtype {
        return Err(format!("DeformConv of {}, {}, {} has no GPU kernel", x.dtype, w.dtype, off.dtype));
    }
    let win = dc.geometry(&x.shape, &w.shape)?;
    let (n, c, m) = (x.shape[0], x.shape[1], w.shape[0]);
    let nd = win.input.len();
    let ksz: usize = win.kernel.iter().product();
    let og = dc.offset_group;
    let mut want = vec![n, og * ksz * nd];
    want.extend(&win.output);
    if off.shape != want {
        return Err(format!("offset has shape {:?}, expected {want:?}", off.shape));
    }
    let osz: usize = win.output.iter().product();
    let bias = optional(cx, 3, x, m, "B")?;
    let mask = optional(cx, 4, x, n * og * ksz * osz, "mask")?;
    if let Some(mk) = cx.inputs.get(4).and_then(|o| o.as_ref()) {
        want[1] = og * ksz;
        if mk.shape != want {
            return Err(format!("mask has shape {:?}, expected {want:?}", mk.shape));
        }
    }
    let mut out_shape = vec![n, m];
    out_shape.extend(&win.output);
    if out_shape != y.shape {
        return Err(format!("DeformConv output {out_shape:?} disagrees with the planned shape {:?}", y.shape));
    }
    let total: usize = y.shape.iter().product();
    if total == 0 {
        return Ok(Lowered::empty());
    }
    for s in [&x.shape, &w.shape, &off.shape] {
        u32_of(s.iter().product())?;
    }
    let g = dc.group;
    let p = DeformConvParams {
        n: u32_of(total)?,
        c: u32_of(c)?,
        m: u32_of(m)?,
        cg: u32_of(c / g)?,
        mg: u32_of(m / g)?,
        og: u32_of(og)?,
        cpo: u32_of(c / og)?,
        nd: nd as u32,
        in_sp: left4(&win.input, 1)?,
        out_sp: left4(&win.output, 1)?,
        kernel: left4(&win.kernel, 1)?,
        stride: left4(&win.strides, 1)?,
        dilation: left4(&win.dilations, 1)?,
        pad: left4(&win.pads_begin, 0)?,
    };
    let k = GpuKernel::new(key(DeconvVariant::DeformConv { t, bias, mask }), &p, grid_1d(total, 256));
    let bindings = vec![
        Ref::Input(0),
        Ref::Input(1),
        Ref::Input(2),
        if bias { Ref::Input(3) } else { Ref::Input(0) },
        if mask { Ref::Input(4) } else { Ref::Input(0) },
        Ref::Output(0),
    ];
    Ok(Lowered::single(k, bindings))
}

// ---- CausalConvWithState -------------------------------------------------------------------

gpu_params!(
    /// `shaders/deconv/causal_conv.wgsl` Params.
    CausalConvParams { n: u32, c: u32, l: u32, k: u32, silu: u32, pad0: u32, pad1: u32, pad2: u32 }
);

pub fn lower_causal_conv(
    l: &GpuLowering,
    cx: &LowerCx,
    cc: &CausalConvWithState,
) -> Result<Lowered<GpuKernel>, String> {
    let (x, w) = (cx.input(0)?, cx.input(1)?);
    let t = float_ty(l, x, "CausalConvWithState")?;
    if w.dtype != x.dtype {
        return Err(format!("CausalConvWithState of {} with weight of {} has no GPU kernel", x.dtype, w.dtype));
    }
    let opt = |i: usize| cx.inputs.get(i).and_then(|o| o.as_ref());
    let [bt, c, len, k] =
        cc.dims(&x.shape, &w.shape, opt(2).map(|o| o.shape.as_slice()), opt(3).map(|o| o.shape.as_slice()))?;
    let bias = optional(cx, 2, x, c, "bias")?;
    let past = optional(cx, 3, x, bt * c * (k - 1), "past_state")?;
    u32_of(bt * c * (len + k))?;
    let bindings = |out: usize| {
        vec![
            Ref::Input(0),
            Ref::Input(1),
            if bias { Ref::Input(2) } else { Ref::Input(0) },
            if past { Ref::Input(3) } else { Ref::Input(0) },
            Ref::Output(out),
        ]
    };
    let mut low = Lowered::empty();
    let sizes = [bt * c * len, bt * c * (k - 1)];
    for (pass, &n) in sizes.iter().enumerate() {
        let Some(o) = cx.outputs.get(pass).and_then(|o| o.as_ref()) else { continue };
        if o.shape.iter().product::<usize>() != n {
            return Err(format!("output {pass} has shape {:?}, expected {n} elements", o.shape));
        }
        if n == 0 {
            continue;
        }
        let p = CausalConvParams {
            n: u32_of(n)?,
            c: u32_of(c)?,
            l: u32_of(len)?,
            k: u32_of(k)?,
            silu: cc.silu as u32,
            pad0: 0,
            pad1: 0,
            pad2: 0,
        };
        let kernel =
            GpuKernel::new(key(DeconvVariant::CausalConv { t, bias, past, pass: pass as u32 }), &p, grid_1d(n, 256));
        low.dispatches.push(LoweredDispatch { kernel, bindings: bindings(pass) });
    }
    Ok(low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::kernels::tests::check;

    #[test]
    fn params_match_wgsl() {
        let t = GpuType::F32;
        check::<ConvTransposeParams>(key(DeconvVariant::ConvTranspose { t, bias: true }));
        check::<DeformConvParams>(key(DeconvVariant::DeformConv { t, bias: true, mask: true }));
        check::<CausalConvParams>(key(DeconvVariant::CausalConv { t, bias: true, past: true, pass: 0 }));
    }
}
