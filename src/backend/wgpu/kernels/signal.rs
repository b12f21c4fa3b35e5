//! Signal-processing kernels (`shaders/signal/`): DFT (forward, inverse, one-sided forward
//! and inverse, `dft_length` padding and truncation) and STFT as direct sums, and the Hann,
//! Hamming and Blackman windows, and MelWeightMatrix (band edges from run-time rates and
//! frequencies in the codec library's exact arithmetic, then the filter matrix). Twiddle factors and window cosines are plan-time tables
//! computed on the host in double precision (their sizes are plan-time values), so no
//! trigonometry runs on the device. Float32, float16, bfloat16 and (with shader-f64) double.

use super::convert::{codec_prelude, Layout, Repr};
use super::{grid_1d, u32_of, GpuKernel, GpuLowering, GpuType, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::signal::{Dft, MelWeightMatrix, Stft, WindowFn, WindowKind};
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Ref};
use crate::tensor::{DType, Dim, Tensor};
use std::f64::consts::PI;

fn float_type(l: &GpuLowering, d: DType, op: &str) -> Result<GpuType, String> {
    let t = GpuType::of(d, l.caps)?;
    if !t.is_float() {
        return Err(format!("{op} of {d} has no GPU kernel"));
    }
    Ok(t)
}

/// A table of `v` in the math type of `t` (f64 for doubles, else f32).
fn table(t: GpuType, v: &[f64]) -> Result<Tensor, String> {
    let d = if t == GpuType::F64 { DType::F64 } else { DType::F32 };
    Tensor::from_f64(d, &[v.len().max(1)], &if v.is_empty() { vec![0.0] } else { v.to_vec() })
}

/// cos(2πj/n) for j < n, then sin(2πj/n).
fn twiddles(n: usize) -> Vec<f64> {
    let a = |j: usize| 2.0 * PI * j as f64 / n as f64;
    (0..n).map(|j| a(j).cos()).chain((0..n).map(|j| a(j).sin())).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DftVariant {
    pub t: GpuType,
}

const FLOATS: [GpuType; 4] = [GpuType::F32, GpuType::F16, GpuType::BF16, GpuType::F64];

impl KernelVariant for DftVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::SIGNAL_DFT
    }
    fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
    }
    fn storage_bindings(&self) -> u32 {
        4
    }
    fn all() -> Vec<Self> {
        FLOATS.iter().map(|&t| DftVariant { t }).collect()
    }
}

gpu_params!(
    /// `shaders/signal/dft.wgsl` Params.
    DftParams {
        total: u32,
        out_len: u32,
        inner: u32,
        m: u32,
        n: u32,
        frames: u32,
        batch_stride: u32,
        frame_stride: u32,
        t_stride: u32,
        in_complex: u32,
        out_complex: u32,
        mode: u32,
        has_window: u32,
        pad0: u32,
        pad1: u32,
        pad2: u32,
    }
);

fn dft_dispatch(t: GpuType, p: &DftParams, bindings: Vec<Ref>) -> LoweredDispatch<GpuKernel> {
    let k = GpuKernel::new(
        KernelKey::Family(super::FamilyKey::SignalDft(DftVariant { t })),
        p,
        grid_1d(p.total as usize, 256),
    );
    LoweredDispatch { kernel: k, bindings }
}

pub fn lower_dft(l: &GpuLowering, cx: &LowerCx, d: &Dft) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let t = float_type(l, x.dtype, "DFT")?;
    let value = |i: usize| -> Result<Option<&Tensor>, String> {
        match cx.inputs.get(i).and_then(|o| o.as_ref()) {
            None => Ok(None),
            Some(o) => o.value.as_ref().map(Some).ok_or_else(|| format!("DFT input {i} must be known at plan time")),
        }
    };
    let dims: Vec<Dim> = x.shape.iter().map(|&s| Dim::Known(s)).collect();
    let axis_in = if d.axis.is_none() { value(2)? } else { None };
    let plan = d.plan(&dims, value(1)?, axis_in)?;
    let r = x.shape.len();
    let width_in = x.shape[r - 1];
    if d.inverse && d.onesided && width_in != 2 {
        return Err("IRFFT (inverse, onesided) needs a complex input".into());
    }
    let cshape = &x.shape[..r - 1];
    let len = cshape[plan.axis];
    let inner: usize = cshape[plan.axis + 1..].iter().product();
    let outer: usize = cshape[..plan.axis].iter().product();
    let total = outer * plan.out_len * inner;
    u32_of(x.shape.iter().product::<usize>())?;
    u32_of(y.shape.iter().product::<usize>())?;
    let mode = match (d.inverse, d.onesided) {
        (true, true) => 2,
        (true, false) => 1,
        _ => 0,
    };
    let p = DftParams {
        total: u32_of(total)?,
        out_len: u32_of(plan.out_len)?,
        inner: u32_of(inner)?,
        m: u32_of(if mode == 2 { len } else { len.min(plan.n) })?,
        n: u32_of(plan.n)?,
        frames: 1,
        batch_stride: u32_of(len * inner)?,
        frame_stride: 0,
        t_stride: u32_of(inner)?,
        in_complex: (width_in == 2) as u32,
        out_complex: plan.out_complex as u32,
        mode,
        ..Default::default()
    };
    if total == 0 {
        return Ok(Lowered::empty());
    }
    let consts = vec![table(t, &twiddles(plan.n))?, Tensor::zeros(x.dtype, &[1])?];
    let bindings = vec![Ref::Input(0), Ref::Const(1), Ref::Const(0), Ref::Output(0)];
    Ok(Lowered { dispatches: vec![dft_dispatch(t, &p, bindings)], scratch: vec![], consts })
}

pub fn lower_stft(l: &GpuLowering, cx: &LowerCx, s: &Stft) -> Result<Lowered<GpuKernel>, String> {
    let (x, y) = (cx.input(0)?, cx.output(0)?);
    let t = float_type(l, x.dtype, "STFT")?;
    if x.shape.len() != 3 || !matches!(x.shape[2], 1 | 2) {
        return Err(format!("STFT needs a [batch, length, 1 or 2] signal, got {:?}", x.shape));
    }
    let step = cx.input(1)?.value.as_ref().ok_or("frame_step must be known at plan time")?;
    let window = cx.inputs.get(2).and_then(|o| o.as_ref());
    if let Some(w) = window {
        if w.shape.len() != 1 {
            return Err("the window must be 1-D".into());
        }
        if w.dtype != x.dtype {
            return Err(format!("a {} window for a {} signal has no GPU kernel", w.dtype, x.dtype));
        }
    }
    let fl = match cx.inputs.get(3).and_then(|o| o.as_ref()) {
        Some(o) => Some(o.value.as_ref().ok_or("frame_length must be known at plan time")?),
        None => None,
    };
    let (batch, len) = (x.shape[0], x.shape[1]);
    let (step, fl, frames, bins) = s.plan(len, step, window.map(|w| w.shape[0]), fl)?;
    let total = batch * frames * bins;
    u32_of(x.shape.iter().product::<usize>())?;
    u32_of(y.shape.iter().product::<usize>())?;
    let p = DftParams {
        total: u32_of(total)?,
        out_len: u32_of(bins)?,
        inner: 1,
        m: u32_of(fl)?,
        n: u32_of(fl)?,
        frames: u32_of(frames)?,
        batch_stride: u32_of(len)?,
        frame_stride: u32_of(step)?,
        t_stride: 1,
        in_complex: (x.shape[2] == 2) as u32,
        out_complex: 1,
        mode: 0,
        has_window: window.is_some() as u32,
        ..Default::default()
    };
    if total == 0 {
        return Ok(Lowered::empty());
    }
    let mut consts = vec![table(t, &twiddles(fl))?];
    let w = match window {
        Some(_) => Ref::Input(2),
        None => {
            consts.push(Tensor::zeros(x.dtype, &[1])?);
            Ref::Const(1)
        }
    };
    let bindings = vec![Ref::Input(0), w, Ref::Const(0), Ref::Output(0)];
    Ok(Lowered { dispatches: vec![dft_dispatch(t, &p, bindings)], scratch: vec![], consts })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WindowVariant {
    pub t: GpuType,
}

impl KernelVariant for WindowVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::SIGNAL_WINDOW
    }
    fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
    }
    fn storage_bindings(&self) -> u32 {
        2
    }
    fn all() -> Vec<Self> {
        FLOATS.iter().map(|&t| WindowVariant { t }).collect()
    }
}

gpu_params!(
    /// `shaders/signal/window.wgsl` Params.
    WindowParams { n: u32, d: u32, pad0: u32, pad1: u32 }
);

pub fn lower_window(l: &GpuLowering, cx: &LowerCx, w: &WindowFn) -> Result<Lowered<GpuKernel>, String> {
    let y = cx.output(0)?;
    let t = float_type(l, y.dtype, "a window function")?;
    let n: usize = y.shape.iter().product();
    let d = if w.periodic { n } else { n.saturating_sub(1) };
    let (a0, a1, a2) = match w.kind {
        WindowKind::Hann => (0.5, 0.5, 0.0),
        WindowKind::Hamming => (25.0 / 46.0, 21.0 / 46.0, 0.0),
        WindowKind::Blackman => (0.42, 0.5, 0.08),
    };
    let c: Vec<f64> = [a0, a1, a2].into_iter().chain((0..d).map(|j| (2.0 * PI * j as f64 / d as f64).cos())).collect();
    if n == 0 {
        return Ok(Lowered::empty());
    }
    let k = GpuKernel::new(
        KernelKey::Family(super::FamilyKey::SignalWindow(WindowVariant { t })),
        &WindowParams { n: u32_of(n)?, d: u32_of(d)?, pad0: 0, pad1: 0 },
        grid_1d(n, 256),
    );
    Ok(Lowered {
        dispatches: vec![LoweredDispatch { kernel: k, bindings: vec![Ref::Const(0), Ref::Output(0)] }],
        scratch: vec![],
        consts: vec![table(t, &c)?],
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MelEdgesVariant {
    /// The sample rate's layout (Word: int32, Pair: int64).
    pub rate: Layout,
    /// The edge frequencies' layout.
    pub hz: Layout,
}

impl KernelVariant for MelEdgesVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::SIGNAL_MEL_EDGES
    }
    fn prelude(&self, p: &mut Prelude) {
        codec_prelude(p);
        p.u32("RATE_LAYOUT", self.rate as u32).u32("HZ_LAYOUT", self.hz as u32);
    }
    fn storage_bindings(&self) -> u32 {
        4
    }
    fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for rate in [Layout::Word, Layout::Pair] {
            for hz in Layout::ALL {
                v.push(MelEdgesVariant { rate, hz });
            }
        }
        v
    }
}

gpu_params!(
    /// `shaders/signal/mel_edges.wgsl` Params.
    MelEdgesParams { count: u32, mel: u32, n: u32, hz_fmt: u32 }
);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MelFillVariant {
    pub y: Layout,
}

impl KernelVariant for MelFillVariant {
    fn file(&self) -> &'static ShaderFile {
        &shaders::SIGNAL_MEL_FILL
    }
    fn prelude(&self, p: &mut Prelude) {
        codec_prelude(p);
        p.u32("Y_LAYOUT", self.y as u32);
    }
    fn storage_bindings(&self) -> u32 {
        2
    }
    fn all() -> Vec<Self> {
        Layout::ALL.iter().map(|&y| MelFillVariant { y }).collect()
    }
}

gpu_params!(
    /// `shaders/signal/mel_fill.wgsl` Params.
    MelFillParams { total: u32, mel: u32, bins: u32, y_fmt: u32, y_shift: u32, pad0: u32, pad1: u32, pad2: u32 }
);

pub fn lower_mel(l: &GpuLowering, cx: &LowerCx, _m: &MelWeightMatrix) -> Result<Lowered<GpuKernel>, String> {
    let known = |i: usize| -> Result<&Tensor, String> {
        cx.input(i)?.value.as_ref().ok_or_else(|| format!("MelWeightMatrix input {i} must be known at plan time"))
    };
    let (mel, n, bins) = MelWeightMatrix::dims(known(0)?, known(1)?)?;
    let (rate, lo, hi, y) = (cx.input(2)?, cx.input(3)?, cx.input(4)?, cx.output(0)?);
    let rate_layout = match rate.dtype {
        DType::I32 => Layout::Word,
        DType::I64 => Layout::Pair,
        d => return Err(format!("a {d} sample_rate has no GPU kernel")),
    };
    if lo.dtype != hi.dtype || !lo.dtype.is_float() {
        return Err(format!("edge frequencies of {} and {} have no GPU kernel", lo.dtype, hi.dtype));
    }
    let (hz, yr) = (Repr::of(lo.dtype, l)?, Repr::of(y.dtype, l)?);
    if hz.class != super::convert::Class::Float
        || !matches!(y.dtype, DType::F32 | DType::F16 | DType::BF16 | DType::F64)
    {
        return Err(format!("MelWeightMatrix of {} from {} edges has no GPU kernel", y.dtype, lo.dtype));
    }
    let total = bins * mel;
    let count = mel + 2;
    let edges = GpuKernel::new(
        KernelKey::Family(super::FamilyKey::SignalMelEdges(MelEdgesVariant { rate: rate_layout, hz: hz.layout })),
        &MelEdgesParams { count: u32_of(count)?, mel: u32_of(mel)?, n: u32_of(n)?, hz_fmt: hz.in_fmt as u32 },
        grid_1d(count, 64),
    );
    let fill = GpuKernel::new(
        KernelKey::Family(super::FamilyKey::SignalMelFill(MelFillVariant { y: yr.layout })),
        &MelFillParams {
            total: u32_of(total)?,
            mel: u32_of(mel)?,
            bins: u32_of(bins)?,
            y_fmt: yr.out_fmt as u32,
            y_shift: yr.out_shift,
            ..Default::default()
        },
        grid_1d(yr.invocations(total), 256),
    );
    Ok(Lowered {
        dispatches: vec![
            LoweredDispatch {
                kernel: edges,
                bindings: vec![Ref::Input(2), Ref::Input(3), Ref::Input(4), Ref::Scratch(0)],
            },
            LoweredDispatch { kernel: fill, bindings: vec![Ref::Scratch(0), Ref::Output(0)] },
        ],
        scratch: vec![4 * u32_of(count)? as u64],
        consts: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::kernels::tests::check;
    use crate::backend::wgpu::kernels::FamilyKey;

    #[test]
    fn params_match() {
        check::<DftParams>(KernelKey::Family(FamilyKey::SignalDft(DftVariant { t: GpuType::F16 })));
        check::<WindowParams>(KernelKey::Family(FamilyKey::SignalWindow(WindowVariant { t: GpuType::F64 })));
        let v = MelEdgesVariant { rate: Layout::Pair, hz: Layout::Half };
        check::<MelEdgesParams>(KernelKey::Family(FamilyKey::SignalMelEdges(v)));
        check::<MelFillParams>(KernelKey::Family(FamilyKey::SignalMelFill(MelFillVariant { y: Layout::Word })));
    }
}
