//! GPU lowering of com.microsoft DynamicQuantizeLSTM (`crate::ops::contrib_qlstm`), three
//! dispatches per node whatever the sequence length, with ONNX Runtime's integer arithmetic:
//! `recurrent/qlstm_prep.wgsl` (one workgroup: sequence lengths, X's dynamic uint8 quantization
//! over the rows the recurrence reads, fused biases, peepholes, initial states, all into one f32
//! scratch buffer), `recurrent/qlstm_proj.wgsl` (the int32 input projection of every step and
//! direction at once) and `recurrent/qlstm_loop.wgsl` (one workgroup per direction: each step
//! quantizes the batch's hidden states with one dynamic scale, takes the int32 product with R
//! and runs the LSTM cell; writes Y, Y_h, Y_c). The int8/uint8 weights stay in their one-word
//! storage; the weight zero points must be known when planning (they are initializers in
//! quantized models), the scales are bound as tensors.

use super::{grid_1d, u32_of, FamilyKey, GpuKernel, GpuLowering, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::contrib_qlstm::{weight_quant, DynamicQuantizeLstm};
use crate::ops::recurrent::{ActKind, Cell};
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Lowering, Ref};

/// The three kernels of the quantized LSTM (all f32 / int32; no type variants).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QLstmVariant {
    Prep,
    Proj,
    Loop,
}

impl KernelVariant for QLstmVariant {
    fn file(&self) -> &'static ShaderFile {
        match self {
            QLstmVariant::Prep => &shaders::CONTRIB_QLSTM_PREP,
            QLstmVariant::Proj => &shaders::CONTRIB_QLSTM_PROJ,
            QLstmVariant::Loop => &shaders::CONTRIB_QLSTM_LOOP,
        }
    }
    fn prelude(&self, p: &mut Prelude) {
        match self {
            QLstmVariant::Prep => {
                p.lib(&shaders::CONTRIB_QLSTM_LIB);
            }
            QLstmVariant::Proj => {}
            QLstmVariant::Loop => {
                p.codes("ACT", &ActKind::ALL, |k| k as u32)
                    .lib(&shaders::RECURRENT_ACT_LIB)
                    .lib(&shaders::CONTRIB_QLSTM_LIB);
            }
        }
    }
    fn storage_bindings(&self) -> u32 {
        match self {
            QLstmVariant::Prep => 7,
            QLstmVariant::Proj => 4,
            QLstmVariant::Loop => 6,
        }
    }
    fn all() -> Vec<Self> {
        vec![QLstmVariant::Prep, QLstmVariant::Proj, QLstmVariant::Loop]
    }
}

gpu_params!(
    /// `shaders/recurrent/qlstm_prep.wgsl` Params.
    QLstmPrepParams {
        seq: u32,
        batch: u32,
        input: u32,
        hidden: u32,
        dirs: u32,
        flags: u32,
        xq_off: u32,
        lens_off: u32,
        bias_off: u32,
        peep_off: u32,
        h_off: u32,
        hlast_off: u32,
        c_off: u32,
        dnh: u32,
        pad0: u32,
        pad1: u32,
    }
);

gpu_params!(
    /// `shaders/recurrent/qlstm_proj.wgsl` Params.
    QLstmProjParams { n_proj: u32, input: u32, batch: u32, dirs: u32, n4: u32, xq_off: u32, flags: u32, pad0: u32, zw: [i32; 4] }
);

gpu_params!(
    /// `shaders/recurrent/qlstm_loop.wgsl` Params.
    QLstmLoopParams {
        seq: u32,
        batch: u32,
        hidden: u32,
        dirs: u32,
        n4: u32,
        bh: u32,
        dnh: u32,
        lens_off: u32,
        bias_off: u32,
        peep_off: u32,
        h_off: u32,
        hlast_off: u32,
        c_off: u32,
        qh_off: u32,
        flags: u32,
        clip: f32,
        rev_mask: u32,
        pad0: u32,
        pad1: u32,
        pad2: u32,
        zr: [i32; 4],
        acts: [[u32; 4]; 2],
        alpha: [[f32; 4]; 2],
        beta: [[f32; 4]; 2],
    }
);

fn key(v: QLstmVariant) -> KernelKey {
    KernelKey::Family(FamilyKey::ContribQLstm(v))
}

pub fn lower_dynamic_quantize_lstm(
    l: &GpuLowering,
    cx: &LowerCx,
    op: &DynamicQuantizeLstm,
) -> Result<Lowered<GpuKernel>, String> {
    let present = |i: usize| cx.inputs.get(i).and_then(|o| o.as_ref());
    let shapes: Vec<Option<&[usize]>> = (0..12).map(|i| present(i).map(|o| o.shape.as_slice())).collect();
    let (s, w_pc, r_pc) = op.shape_of(&shapes)?;
    let (hs, n4) = (s.hidden, 4 * s.hidden);
    if s.dirs > 2 || op.lstm.acts.len() != 3 * s.dirs {
        return Err(format!("{} activations for {} direction(s)", op.lstm.acts.len(), s.dirs));
    }
    // Weight zero points: plan-time values, checked as ONNX Runtime checks them.
    let (mut zw, mut zr) = ([0i32; 4], [0i32; 4]);
    for (first, name, z) in [(8, "W", &mut zw), (10, "R", &mut zr)] {
        let sc = cx.input(first)?;
        let zp = cx.input(first + 1)?;
        let zv = zp.value.as_ref().ok_or(format!("{name}_zero_point must be a constant on the GPU"))?;
        // The scales' values are only needed for the check's shapes: use ones when not known.
        let ones;
        let sv = match &sc.value {
            Some(v) => v,
            None => {
                ones = crate::tensor::Tensor::new(&sc.shape, vec![1f32; sc.shape.iter().product()])?;
                &ones
            }
        };
        for (d, zd) in z.iter_mut().enumerate().take(s.dirs) {
            let pc = if name == "W" { w_pc } else { r_pc };
            *zd = weight_quant(name, sv, zv, d, n4, pc)?.zero_point;
        }
    }
    let wanted = |i: usize| cx.outputs.get(i).is_some_and(|o| o.is_some());
    let (want_y, want_h, want_c) = (wanted(0), wanted(1), wanted(2));
    let bh = s.batch * hs;
    let dnh = s.dirs * bh;
    if dnh == 0 || !(want_y || want_h || want_c) {
        return Ok(Lowered::empty());
    }
    for o in cx.inputs.iter().chain(&cx.outputs).flatten() {
        let n: usize = o.shape.iter().product();
        if l.storage_bytes(o.dtype, n) > cx.limits.max_binding {
            return Err(format!("a {:?} tensor exceeds the storage binding limit", o.shape));
        }
    }
    // Scratch words: projection, X's scale/zero point, lengths, fused biases, peepholes, two
    // hidden slots, the last valid hidden states, cell states, the quantized hidden states.
    let n_proj = s.seq.checked_mul(s.dirs * s.batch * n4).ok_or("the input projection overflows")?;
    let xq_off = n_proj;
    let lens_off = xq_off + 2;
    let bias_off = lens_off + s.batch;
    let peep_off = bias_off + s.dirs * n4;
    let h_off = peep_off + s.dirs * 3 * hs;
    let hlast_off = h_off + 2 * dnh;
    let c_off = hlast_off + dnh;
    let qh_off = c_off + dnh;
    let total = qh_off + dnh;
    if (total as u64) * 4 > cx.limits.max_binding {
        return Err("the quantized LSTM's scratch exceeds the storage binding limit".into());
    }
    let u = u32_of;
    u(total)?;
    u(s.dirs * s.input.max(hs) * n4)?;
    u(s.seq * s.batch * s.input.max(s.dirs * hs))?;
    let mut flags = 0u32;
    for (bit, i) in [(0, 3), (1, 7), (2, 4), (3, 5), (4, 6)] {
        if present(i).is_some() {
            flags |= 1 << bit;
        }
    }
    let prep = QLstmPrepParams {
        seq: u(s.seq)?,
        batch: u(s.batch)?,
        input: u(s.input)?,
        hidden: u(hs)?,
        dirs: u(s.dirs)?,
        flags,
        xq_off: u(xq_off)?,
        lens_off: u(lens_off)?,
        bias_off: u(bias_off)?,
        peep_off: u(peep_off)?,
        h_off: u(h_off)?,
        hlast_off: u(hlast_off)?,
        c_off: u(c_off)?,
        dnh: u(dnh)?,
        ..Default::default()
    };
    let opt_in = |i: usize| if present(i).is_some() { Ref::Input(i) } else { Ref::Input(0) };
    let d_prep = LoweredDispatch {
        kernel: GpuKernel::new(key(QLstmVariant::Prep), &prep, [1, 1, 1]),
        bindings: vec![Ref::Input(0), opt_in(3), opt_in(4), opt_in(5), opt_in(6), opt_in(7), Ref::Scratch(0)],
    };
    let proj = QLstmProjParams {
        n_proj: u(n_proj)?,
        input: u(s.input)?,
        batch: u(s.batch)?,
        dirs: u(s.dirs)?,
        n4: u(n4)?,
        xq_off: u(xq_off)?,
        flags: w_pc as u32,
        zw,
        ..Default::default()
    };
    let d_proj = LoweredDispatch {
        kernel: GpuKernel::new(key(QLstmVariant::Proj), &proj, grid_1d(n_proj, 256)),
        bindings: vec![Ref::Input(0), Ref::Input(1), Ref::Input(8), Ref::Scratch(0)],
    };
    let (acts, alpha, beta) = super::recurrent::act_params(&op.lstm, s.dirs);
    let mut lflags = want_y as u32 | (want_h as u32) << 3 | (want_c as u32) << 4 | (r_pc as u32) << 5;
    lflags |= (op.y_output as u32) << 6;
    if op.lstm.clip.is_some() {
        lflags |= 2;
    }
    if op.lstm.cell == (Cell::Lstm { input_forget: true }) {
        lflags |= 4;
    }
    let lp = QLstmLoopParams {
        seq: u(s.seq)?,
        batch: u(s.batch)?,
        hidden: u(hs)?,
        dirs: u(s.dirs)?,
        n4: u(n4)?,
        bh: u(bh)?,
        dnh: u(dnh)?,
        lens_off: u(lens_off)?,
        bias_off: u(bias_off)?,
        peep_off: u(peep_off)?,
        h_off: u(h_off)?,
        hlast_off: u(hlast_off)?,
        c_off: u(c_off)?,
        qh_off: u(qh_off)?,
        flags: lflags,
        clip: op.lstm.clip.unwrap_or(0.0),
        rev_mask: (0..s.dirs).filter(|&d| op.lstm.direction.reversed(d)).map(|d| 1u32 << d).sum(),
        zr,
        acts,
        alpha,
        beta,
        ..Default::default()
    };
    let out = |i: usize, w: bool| if w { Ref::Output(i) } else { Ref::Scratch(0) };
    let d_loop = LoweredDispatch {
        kernel: GpuKernel::new(key(QLstmVariant::Loop), &lp, [u(s.dirs)?, 1, 1]),
        bindings: vec![Ref::Scratch(0), Ref::Input(2), Ref::Input(10), out(0, want_y), out(1, want_h), out(2, want_c)],
    };
    Ok(Lowered { dispatches: vec![d_prep, d_proj, d_loop], scratch: vec![(total * 4) as u64], consts: vec![] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::kernels::tests::check;

    #[test]
    fn params_match_wgsl() {
        check::<QLstmPrepParams>(key(QLstmVariant::Prep));
        check::<QLstmProjParams>(key(QLstmVariant::Proj));
        check::<QLstmLoopParams>(key(QLstmVariant::Loop));
    }
}
