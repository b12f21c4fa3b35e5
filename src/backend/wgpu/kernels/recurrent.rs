//! Recurrent layers on the GPU (`shaders/recurrent/`): RNN, GRU and LSTM (every option of
//! `ops::recurrent::Recurrent`). Math runs in f32 for f32, f16 and bfloat16 tensors.
//!
//! The fused path takes two dispatches per node whatever the sequence length: `seq_proj.wgsl`
//! computes the input projection x_t·Wᵀ + Wb of every time step and direction at once and
//! gathers biases, peepholes, sequence lengths and initial states into one scratch buffer;
//! `seq_loop.wgsl` runs the whole recurrence, one workgroup per (direction, batch entry) looping
//! over the steps with storage barriers between them, and writes Y, Y_h and Y_c.
//!
//! The per-step path (one set-up dispatch `init.wgsl`, one dispatch per time step — two for GRU
//! with `linear_before_reset = 0` — `step.wgsl`, and `final.wgsl` for Y_h / Y_c) is kept for
//! nodes whose fused scratch (the projection of all steps, seq·dirs·batch·gates·hidden f32, plus
//! the states) exceeds the storage binding limit or 32-bit indexing, which the per-step path
//! does not need.

use super::{grid_1d, grid_groups, u32_of, FamilyKey, GpuKernel, GpuLowering, GpuType, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::recurrent::{ActKind, Cell, RecShape, Recurrent};
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Lowering, Ref};
use crate::tensor::DType;

/// What a step dispatch computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepCell {
    Rnn = 0,
    /// GRU with linear_before_reset: the whole cell in one dispatch.
    GruLbr = 1,
    /// GRU (linear_before_reset = 0), first pass: z and r ⊙ h_{t−1}.
    GruGates = 2,
    /// GRU (linear_before_reset = 0), second pass: the hidden gate and the new state.
    GruHidden = 3,
    Lstm = 4,
}

impl StepCell {
    pub const ALL: [StepCell; 5] =
        [StepCell::Rnn, StepCell::GruLbr, StepCell::GruGates, StepCell::GruHidden, StepCell::Lstm];
}

/// The cell of a fused-loop dispatch (`seq_loop.wgsl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SeqCell {
    Rnn = 0,
    /// GRU with linear_before_reset = 0 (two barriers per step).
    Gru = 1,
    GruLbr = 2,
    Lstm = 3,
}

impl SeqCell {
    pub const ALL: [SeqCell; 4] = [SeqCell::Rnn, SeqCell::Gru, SeqCell::GruLbr, SeqCell::Lstm];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecKernel {
    Init,
    Step(StepCell),
    Final,
    SeqProj,
    SeqLoop(SeqCell),
}

/// The recurrent family's variants: a kernel and the tensors' element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecurrentVariant {
    pub kernel: RecKernel,
    pub t: GpuType,
}

const TYPES: [GpuType; 3] = [GpuType::F32, GpuType::F16, GpuType::BF16];

impl KernelVariant for RecurrentVariant {
    fn file(&self) -> &'static ShaderFile {
        match self.kernel {
            RecKernel::Init => &shaders::RECURRENT_INIT,
            RecKernel::Step(_) => &shaders::RECURRENT_STEP,
            RecKernel::Final => &shaders::RECURRENT_FINAL,
            RecKernel::SeqProj => &shaders::RECURRENT_SEQ_PROJ,
            RecKernel::SeqLoop(_) => &shaders::RECURRENT_SEQ_LOOP,
        }
    }
    fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        match self.kernel {
            RecKernel::Step(c) => {
                p.codes("CELL", &StepCell::ALL, |c| c as u32).u32("CELL", c as u32);
                p.codes("ACT", &ActKind::ALL, |k| k as u32).lib(&shaders::RECURRENT_ACT_LIB);
            }
            RecKernel::SeqLoop(c) => {
                p.codes("CELL", &SeqCell::ALL, |c| c as u32).u32("CELL", c as u32);
                p.codes("ACT", &ActKind::ALL, |k| k as u32).lib(&shaders::RECURRENT_ACT_LIB);
            }
            // These read sequence_lens and report bad ones (layout/index_report_lib).
            RecKernel::Init | RecKernel::SeqProj => {
                p.lib(&shaders::INDEX_REPORT);
            }
            _ => {}
        }
    }
    fn storage_bindings(&self) -> u32 {
        match self.kernel {
            // The last one of Init and SeqProj is the index error record.
            RecKernel::Init => 8,
            RecKernel::Step(_) => 6,
            RecKernel::Final => 4,
            RecKernel::SeqProj => 9,
            RecKernel::SeqLoop(_) => 5,
        }
    }
    fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for t in TYPES {
            v.push(RecurrentVariant { kernel: RecKernel::Init, t });
            v.push(RecurrentVariant { kernel: RecKernel::Final, t });
            v.push(RecurrentVariant { kernel: RecKernel::SeqProj, t });
            for c in SeqCell::ALL {
                v.push(RecurrentVariant { kernel: RecKernel::SeqLoop(c), t });
            }
            for c in StepCell::ALL {
                v.push(RecurrentVariant { kernel: RecKernel::Step(c), t });
            }
        }
        v
    }
}

gpu_params!(
    /// `shaders/recurrent/init.wgsl` Params.
    InitParams {
        n_bias: u32,
        n_peep: u32,
        batch: u32,
        seq: u32,
        dnh: u32,
        hidden: u32,
        flags: u32,
        st_d: u32,
        st_b: u32,
        peep_off: u32,
        lens_off: u32,
        pad0: u32,
    }
);

gpu_params!(
    /// `shaders/recurrent/step.wgsl` Params.
    StepParams {
        batch: u32,
        hidden: u32,
        input: u32,
        dnh: u32,
        step: u32,
        in_slot: u32,
        out_slot: u32,
        gru_off: u32,
        x_t: u32,
        x_b: u32,
        y_t: u32,
        y_d: u32,
        y_b: u32,
        flags: u32,
        clip: f32,
        rev_mask: u32,
        peep_off: u32,
        lens_off: u32,
        gh: u32,
        pad0: u32,
        acts: [[u32; 4]; 2],
        alpha: [[f32; 4]; 2],
        beta: [[f32; 4]; 2],
    }
);

gpu_params!(
    /// `shaders/recurrent/final.wgsl` Params.
    FinalParams { dnh: u32, batch: u32, hidden: u32, slot: u32, st_d: u32, st_b: u32, flags: u32, lens_off: u32 }
);

gpu_params!(
    /// `shaders/recurrent/seq_proj.wgsl` Params.
    SeqProjParams {
        n_proj: u32,
        input: u32,
        batch: u32,
        seq: u32,
        dirs: u32,
        hidden: u32,
        gh: u32,
        x_t: u32,
        x_b: u32,
        flags: u32,
        st_d: u32,
        st_b: u32,
        rb_off: u32,
        peep_off: u32,
        lens_off: u32,
        h_off: u32,
        c_off: u32,
        pad0: u32,
        pad1: u32,
        pad2: u32,
    }
);

gpu_params!(
    /// `shaders/recurrent/seq_loop.wgsl` Params.
    SeqLoopParams {
        batch: u32,
        hidden: u32,
        dirs: u32,
        seq: u32,
        dnh: u32,
        gh: u32,
        rb_off: u32,
        peep_off: u32,
        lens_off: u32,
        h_off: u32,
        c_off: u32,
        z_off: u32,
        rh_off: u32,
        y_t: u32,
        y_d: u32,
        y_b: u32,
        st_d: u32,
        st_b: u32,
        flags: u32,
        clip: f32,
        rev_mask: u32,
        pad0: u32,
        pad1: u32,
        pad2: u32,
        acts: [[u32; 4]; 2],
        alpha: [[f32; 4]; 2],
        beta: [[f32; 4]; 2],
    }
);

type ActParams = ([[u32; 4]; 2], [[f32; 4]; 2], [[f32; 4]; 2]);

/// The activations of every direction as the shaders read them: entry d·3 + k.
pub(super) fn act_params(op: &Recurrent, dirs: usize) -> ActParams {
    let mut acts = [[0u32; 4]; 2];
    let mut alpha = [[0f32; 4]; 2];
    let mut beta = [[0f32; 4]; 2];
    let per = op.cell.n_acts();
    for d in 0..dirs {
        for k in 0..per {
            let a = op.acts[d * per + k];
            let i = d * 3 + k;
            acts[i / 4][i % 4] = a.kind as u32;
            alpha[i / 4][i % 4] = a.alpha;
            beta[i / 4][i % 4] = a.beta;
        }
    }
    (acts, alpha, beta)
}

/// The fused two-dispatch lowering (`seq_proj` then `seq_loop`), or `None` where its scratch
/// buffer exceeds the storage binding limit or 32-bit indexing (the per-step path then runs).
fn lower_fused(
    cx: &LowerCx,
    op: &Recurrent,
    s: &RecShape,
    t: GpuType,
    (want_y, want_h, want_c): (bool, bool, bool),
) -> Result<Option<Lowered<GpuKernel>>, String> {
    let present = |i: usize| cx.inputs.get(i).and_then(|o| o.as_ref()).is_some();
    let lstm = matches!(op.cell, Cell::Lstm { .. });
    let (hs, gh) = (s.hidden, op.cell.gates() * s.hidden);
    let dnh = s.dirs * s.batch * hs;
    // Scratch words: projection, Rb, peepholes, lengths, two hidden slots, the cell state or
    // GRU's z and r ⊙ h.
    let n_proj = s.seq.checked_mul(s.dirs * s.batch * gh).ok_or("the input projection overflows")?;
    let rb_off = n_proj;
    let peep_off = rb_off + s.dirs * gh;
    let lens_off = peep_off + if lstm { s.dirs * 3 * hs } else { 0 };
    let h_off = lens_off + s.batch;
    let c_off = h_off + 2 * dnh;
    let (z_off, rh_off) = (c_off, c_off + dnh);
    let gru = op.cell == Cell::Gru { linear_before_reset: false };
    let total = c_off
        + if lstm {
            dnh
        } else if gru {
            2 * dnh
        } else {
            0
        };
    if total > u32::MAX as usize || (total as u64) * 4 > cx.limits.max_binding {
        return Ok(None);
    }
    // 32-bit indexing of W and R rows in the shaders.
    if (s.dirs * gh).checked_mul(s.input.max(hs)).is_none_or(|n| n > u32::MAX as usize) {
        return Ok(None);
    }
    let u = u32_of;
    let (st_d, st_b) = if op.layout == 0 { (s.batch * hs, hs) } else { (hs, s.dirs * hs) };
    let (x_t, x_b) = if op.layout == 0 { (s.batch * s.input, s.input) } else { (s.input, s.seq * s.input) };
    let (y_t, y_d, y_b) =
        if op.layout == 0 { (s.dirs * s.batch * hs, s.batch * hs, hs) } else { (s.dirs * hs, hs, s.seq * s.dirs * hs) };
    let mut flags = 0u32;
    for (bit, i) in [(0, 3), (1, 7), (2, 4), (3, 5), (4, 6)] {
        if present(i) && (i < 6 || lstm) {
            flags |= 1 << bit;
        }
    }
    if lstm {
        flags |= 1 << 5;
    }
    let pp = SeqProjParams {
        n_proj: u(n_proj)?,
        input: u(s.input)?,
        batch: u(s.batch)?,
        seq: u(s.seq)?,
        dirs: u(s.dirs)?,
        hidden: u(hs)?,
        gh: u(gh)?,
        x_t: u(x_t)?,
        x_b: u(x_b)?,
        flags,
        st_d: u(st_d)?,
        st_b: u(st_b)?,
        rb_off: u(rb_off)?,
        peep_off: u(peep_off)?,
        lens_off: u(lens_off)?,
        h_off: u(h_off)?,
        c_off: u(c_off)?,
        ..Default::default()
    };
    let dummy = Ref::Input(0);
    let opt_in = |i: usize| if present(i) { Ref::Input(i) } else { dummy };
    let n = n_proj.max(s.dirs * gh).max(s.dirs * 3 * hs).max(s.batch).max(dnh);
    let proj = LoweredDispatch {
        kernel: GpuKernel::new(key(RecKernel::SeqProj, t), &pp, grid_1d(n, 256)),
        bindings: vec![
            Ref::Input(0),
            Ref::Input(1),
            opt_in(3),
            opt_in(4),
            opt_in(5),
            if lstm { opt_in(6) } else { dummy },
            if lstm { opt_in(7) } else { dummy },
            Ref::Scratch(0),
        ],
    };
    let (acts, alpha, beta) = act_params(op, s.dirs);
    let mut lflags = want_y as u32 | (want_h as u32) << 3 | (want_c as u32) << 4;
    if op.clip.is_some() {
        lflags |= 2;
    }
    if op.cell == (Cell::Lstm { input_forget: true }) {
        lflags |= 4;
    }
    let lp = SeqLoopParams {
        batch: u(s.batch)?,
        hidden: u(hs)?,
        dirs: u(s.dirs)?,
        seq: u(s.seq)?,
        dnh: u(dnh)?,
        gh: u(gh)?,
        rb_off: u(rb_off)?,
        peep_off: u(peep_off)?,
        lens_off: u(lens_off)?,
        h_off: u(h_off)?,
        c_off: u(c_off)?,
        z_off: u(z_off)?,
        rh_off: u(rh_off)?,
        y_t: u(y_t)?,
        y_d: u(y_d)?,
        y_b: u(y_b)?,
        st_d: u(st_d)?,
        st_b: u(st_b)?,
        flags: lflags,
        clip: op.clip.unwrap_or(0.0),
        rev_mask: (0..s.dirs).filter(|&d| op.direction.reversed(d)).map(|d| 1u32 << d).sum(),
        acts,
        alpha,
        beta,
        ..Default::default()
    };
    let cell = match op.cell {
        Cell::Rnn => SeqCell::Rnn,
        Cell::Gru { linear_before_reset: true } => SeqCell::GruLbr,
        Cell::Gru { linear_before_reset: false } => SeqCell::Gru,
        Cell::Lstm { .. } => SeqCell::Lstm,
    };
    let out = |i: usize, w: bool| if w { Ref::Output(i) } else { Ref::Scratch(0) };
    let rec = LoweredDispatch {
        kernel: GpuKernel::new(key(RecKernel::SeqLoop(cell), t), &lp, grid_groups(s.dirs * s.batch)),
        bindings: vec![Ref::Scratch(0), Ref::Input(2), out(0, want_y), out(1, want_h), out(2, want_c)],
    };
    Ok(Some(Lowered { dispatches: vec![proj, rec], scratch: vec![(total * 4) as u64], consts: vec![] }))
}

fn key(kernel: RecKernel, t: GpuType) -> KernelKey {
    KernelKey::Family(FamilyKey::Recurrent(RecurrentVariant { kernel, t }))
}

pub fn lower_recurrent(l: &GpuLowering, cx: &LowerCx, op: &Recurrent) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let t = l.ty(x)?;
    if !TYPES.contains(&t) {
        return Err(format!("{} on {} tensors has no GPU kernel", op.cell.name(), x.dtype));
    }
    let present = |i: usize| cx.inputs.get(i).and_then(|o| o.as_ref());
    let shapes: Vec<Option<&[usize]>> = (0..8).map(|i| present(i).map(|o| o.shape.as_slice())).collect();
    let s = op.shape_of(&shapes)?;
    let lstm = matches!(op.cell, Cell::Lstm { .. });
    if !lstm && (present(6).is_some() || present(7).is_some()) {
        return Err(format!("{} has at most 6 inputs", op.cell.name()));
    }
    if let Some(lens) = present(4) {
        if lens.dtype != DType::I32 {
            return Err(format!("sequence_lens must be int32, got {}", lens.dtype));
        }
    }
    if op.acts.len() != op.cell.n_acts() * s.dirs || s.dirs > 2 {
        return Err(format!("{} activations for {} direction(s)", op.acts.len(), s.dirs));
    }
    let wanted = |i: usize| cx.outputs.get(i).is_some_and(|o| o.is_some());
    let (want_y, want_h, want_c) = (wanted(0), wanted(1), lstm && wanted(2));
    let (hs, g) = (s.hidden, op.cell.gates());
    let dnh = s.dirs * s.batch * hs;
    if dnh == 0 || !(want_y || want_h || want_c) {
        // Every output is empty (or unused).
        return Ok(Lowered::empty());
    }
    let u = u32_of;
    let gh = g * hs;
    // Every tensor is bound whole: fall back to the CPU where one exceeds the binding limit.
    for o in cx.inputs.iter().chain(&cx.outputs).flatten() {
        let n: usize = o.shape.iter().product();
        if l.storage_bytes(o.dtype, n) > cx.limits.max_binding {
            return Err(format!("a {:?} tensor exceeds the storage binding limit", o.shape));
        }
    }
    // 32-bit indexing of the largest tensors.
    u(s.dirs * gh * s.input.max(hs))?;
    u(s.seq * s.batch * s.input.max(s.dirs * hs))?;
    if let Some(fused) = lower_fused(cx, op, &s, t, (want_y, want_h, want_c))? {
        return Ok(fused);
    }

    // Scratch 0 (aux, u32 words): biases, peepholes, sequence lengths.
    let n_bias = s.dirs * 2 * gh;
    let n_peep = if lstm { s.dirs * 3 * hs } else { 0 };
    let peep_off = n_bias;
    let lens_off = n_bias + n_peep;
    let aux_len = lens_off + s.batch;
    // Scratch 1 (state, f32): two slots of hidden (+ cell) states, then GRU's z and r ⊙ h.
    let slot = if lstm { 2 * dnh } else { dnh };
    let gru_two_pass = op.cell == Cell::Gru { linear_before_reset: false };
    let gru_off = 2 * slot;
    let state_len = gru_off + if gru_two_pass { 2 * dnh } else { 0 };
    u(state_len)?;
    if (state_len.max(aux_len) * 4) as u64 > cx.limits.max_binding {
        return Err("the recurrent state exceeds the storage binding limit".into());
    }
    let (st_d, st_b) = if op.layout == 0 { (s.batch * hs, hs) } else { (hs, s.dirs * hs) };

    let dummy = Ref::Input(0);
    let opt_in = |i: usize| if present(i).is_some() { Ref::Input(i) } else { dummy };
    let opt_out = |i: usize, w: bool| if w { Ref::Output(i) } else { dummy };
    let mut dispatches = Vec::new();

    let mut flags = 0u32;
    for (bit, i) in [(0, 3), (1, 7), (2, 4), (3, 5), (4, 6)] {
        if present(i).is_some() && (i < 6 || lstm) {
            flags |= 1 << bit;
        }
    }
    if lstm {
        flags |= 1 << 5;
    }
    let ip = InitParams {
        n_bias: u(n_bias)?,
        n_peep: u(n_peep)?,
        batch: u(s.batch)?,
        seq: u(s.seq)?,
        dnh: u(dnh)?,
        hidden: u(hs)?,
        flags,
        st_d: u(st_d)?,
        st_b: u(st_b)?,
        peep_off: u(peep_off)?,
        lens_off: u(lens_off)?,
        pad0: 0,
    };
    let init_n = n_bias.max(n_peep).max(s.batch).max(dnh);
    dispatches.push(LoweredDispatch {
        kernel: GpuKernel::new(key(RecKernel::Init, t), &ip, grid_1d(init_n, 256)),
        bindings: vec![
            opt_in(3),
            if lstm { opt_in(7) } else { dummy },
            opt_in(4),
            opt_in(5),
            if lstm { opt_in(6) } else { dummy },
            Ref::Scratch(0),
            Ref::Scratch(1),
        ],
    });

    let (x_t, x_b) = if op.layout == 0 { (s.batch * s.input, s.input) } else { (s.input, s.seq * s.input) };
    let (y_t, y_d, y_b) =
        if op.layout == 0 { (s.dirs * s.batch * hs, s.batch * hs, hs) } else { (s.dirs * hs, hs, s.seq * s.dirs * hs) };
    let (acts, alpha, beta) = act_params(op, s.dirs);
    let mut sflags = 0u32;
    if want_y {
        sflags |= 1;
    }
    if op.clip.is_some() {
        sflags |= 2;
    }
    if op.cell == (Cell::Lstm { input_forget: true }) {
        sflags |= 4;
    }
    let rev_mask = (0..s.dirs).filter(|&d| op.direction.reversed(d)).map(|d| 1u32 << d).sum();
    let base = StepParams {
        batch: u(s.batch)?,
        hidden: u(hs)?,
        input: u(s.input)?,
        dnh: u(dnh)?,
        gru_off: u(gru_off)?,
        x_t: u(x_t)?,
        x_b: u(x_b)?,
        y_t: u(y_t)?,
        y_d: u(y_d)?,
        y_b: u(y_b)?,
        flags: sflags,
        clip: op.clip.unwrap_or(0.0),
        rev_mask,
        peep_off: u(peep_off)?,
        lens_off: u(lens_off)?,
        gh: u(gh)?,
        acts,
        alpha,
        beta,
        ..Default::default()
    };
    let cells: &[StepCell] = match op.cell {
        Cell::Rnn => &[StepCell::Rnn],
        Cell::Gru { linear_before_reset: true } => &[StepCell::GruLbr],
        Cell::Gru { linear_before_reset: false } => &[StepCell::GruGates, StepCell::GruHidden],
        Cell::Lstm { .. } => &[StepCell::Lstm],
    };
    let y_ref = opt_out(0, want_y);
    for step in 0..s.seq {
        let p = StepParams {
            step: u(step)?,
            in_slot: u((step % 2) * slot)?,
            out_slot: u(((step + 1) % 2) * slot)?,
            ..base
        };
        for &c in cells {
            dispatches.push(LoweredDispatch {
                kernel: GpuKernel::new(key(RecKernel::Step(c), t), &p, grid_groups(dnh)),
                bindings: vec![Ref::Input(0), Ref::Input(1), Ref::Input(2), Ref::Scratch(0), Ref::Scratch(1), y_ref],
            });
        }
    }

    if want_h || want_c {
        let fp = FinalParams {
            dnh: u(dnh)?,
            batch: u(s.batch)?,
            hidden: u(hs)?,
            slot: u((s.seq % 2) * slot)?,
            st_d: u(st_d)?,
            st_b: u(st_b)?,
            flags: want_h as u32 | (want_c as u32) << 1,
            lens_off: u(lens_off)?,
        };
        dispatches.push(LoweredDispatch {
            kernel: GpuKernel::new(key(RecKernel::Final, t), &fp, grid_1d(dnh, 256)),
            bindings: vec![Ref::Scratch(1), Ref::Scratch(0), opt_out(1, want_h), opt_out(2, want_c)],
        });
    }
    Ok(Lowered { dispatches, scratch: vec![(aux_len * 4) as u64, (state_len * 4) as u64], consts: vec![] })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::kernels::tests::check;

    #[test]
    fn params_match_wgsl() {
        let f = GpuType::F32;
        check::<InitParams>(key(RecKernel::Init, f));
        check::<FinalParams>(key(RecKernel::Final, GpuType::F16));
        for c in StepCell::ALL {
            check::<StepParams>(key(RecKernel::Step(c), f));
        }
        check::<SeqProjParams>(key(RecKernel::SeqProj, f));
        for c in SeqCell::ALL {
            check::<SeqLoopParams>(key(RecKernel::SeqLoop(c), GpuType::BF16));
        }
    }
}
