//! Attention-family kernels (`shaders/attention/`): Attention (opsets 23–25: 3-D/4-D inputs,
//! GQA, bool/float masks, causal and window limits, softcap, past/present caches,
//! `nonpad_kv_seqlen`, every `qk_matmul_output_mode`), FlexAttention without modifier
//! subgraphs, RotaryEmbedding and LinearAttention.
//!
//! Attention runs as two passes over one workgroup per (batch, query head, query) row: the
//! logits with their bias into a scratch row (plus a fully-masked flag), then the softmax and
//! the product with V. Keys and values are read from the past cache and the new inputs in
//! place (no concatenation); the present outputs are strided copies. Values are rounded to the
//! element type where the CPU reference (ONNX's function body) rounds.

use super::layout::copy_kernel;
use super::{grid_1d, grid_groups, u32_of, GpuKernel, GpuLowering, GpuType, KernelKey, KernelVariant};
use crate::backend::wgpu::shaders::{self, Prelude, ShaderFile};
use crate::gpu_params;
use crate::ops::attention::{Attention, FlexAttention, LinearAttention, RotaryEmbedding};
use crate::plan::{LowerCx, Lowered, LoweredDispatch, Ref};
use crate::tensor::shape::strides;
use crate::tensor::DType;
use half::{bf16, f16};

/// The shaders of this family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttnKernel {
    Scores,
    SoftmaxPv,
    Rotary,
    Linear,
}

impl AttnKernel {
    pub const ALL: [AttnKernel; 4] =
        [AttnKernel::Scores, AttnKernel::SoftmaxPv, AttnKernel::Rotary, AttnKernel::Linear];
}

/// A kernel of the family and its float element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttnVariant {
    pub kind: AttnKernel,
    pub t: GpuType,
}

impl KernelVariant for AttnVariant {
    fn file(&self) -> &'static ShaderFile {
        match self.kind {
            AttnKernel::Scores => &shaders::ATTN_SCORES,
            AttnKernel::SoftmaxPv => &shaders::ATTN_SOFTMAX_PV,
            AttnKernel::Rotary => &shaders::ROTARY,
            AttnKernel::Linear => &shaders::LINEAR_ATTN,
        }
    }
    fn prelude(&self, p: &mut Prelude) {
        self.t.lib(p);
        if self.kind == AttnKernel::Rotary {
            p.lib(&shaders::INDEX_REPORT);
        }
    }
    fn storage_bindings(&self) -> u32 {
        match self.kind {
            AttnKernel::Scores | AttnKernel::Linear => 7,
            AttnKernel::SoftmaxPv => 5,
            // The last one is the index error record of out-of-range position ids.
            AttnKernel::Rotary => 6,
        }
    }
    fn all() -> Vec<Self> {
        let mut v = Vec::new();
        for kind in AttnKernel::ALL {
            for t in FLOATS {
                v.push(AttnVariant { kind, t });
            }
        }
        v
    }
}

const FLOATS: [GpuType; 4] = [GpuType::F32, GpuType::F16, GpuType::BF16, GpuType::F64];

fn key(kind: AttnKernel, t: GpuType) -> KernelKey {
    KernelKey::Family(super::FamilyKey::Attention(AttnVariant { kind, t }))
}

gpu_params!(
    /// `shaders/attention/scores.wgsl` Params.
    ScoresParams {
        rows: u32,
        sq: u32,
        hq: u32,
        reps: u32,
        total: u32,
        past: u32,
        dk: u32,
        qk_mode: u32,
        q_sb: u32,
        q_sh: u32,
        q_ss: u32,
        write_qk: u32,
        k_sb: u32,
        k_sh: u32,
        k_ss: u32,
        causal: u32,
        kp_sb: u32,
        kp_sh: u32,
        kp_ss: u32,
        has_nonpad: u32,
        m_sb: u32,
        m_sh: u32,
        m_ss: u32,
        m_keys: u32,
        mask_kind: u32,
        sm_round: u32,
        left_window: i32,
        right_window: i32,
        sq_scale: f32,
        softcap: f32,
        row0: u32,
        q_off: u32,
        k_off: u32,
        key_fill: f32,
        pad1: u32,
        pad2: u32,
    }
);

gpu_params!(
    /// `shaders/attention/softmax_pv.wgsl` Params.
    SoftmaxPvParams {
        rows: u32,
        sq: u32,
        hq: u32,
        reps: u32,
        total: u32,
        past: u32,
        dv: u32,
        write_probs: u32,
        v_sb: u32,
        v_sh: u32,
        v_ss: u32,
        round_probs: u32,
        vp_sb: u32,
        vp_sh: u32,
        vp_ss: u32,
        sm_round: u32,
        y_sb: u32,
        y_sh: u32,
        y_ss: u32,
        row0: u32,
        v_off: u32,
        pad0: u32,
        pad1: u32,
        pad2: u32,
    }
);

gpu_params!(
    /// `shaders/attention/rotary.wgsl` Params.
    RotaryParams {
        n: u32,
        d: u32,
        heads: u32,
        seq: u32,
        half: u32,
        rot: u32,
        interleaved: u32,
        heads_first: u32,
        pos_kind: u32,
        n_rows: u32,
        pos_offset: u32,
        pad1: u32,
    }
);

gpu_params!(
    /// `shaders/attention/linear.wgsl` Params.
    LinearParams {
        n: u32,
        t_len: u32,
        hq: u32,
        hk: u32,
        dk: u32,
        dv: u32,
        reps: u32,
        has_past: u32,
        gated: u32,
        decay_per_head: u32,
        delta: u32,
        beta_width: u32,
        scale: f32,
        pad0: u32,
        pad1: u32,
        pad2: u32,
    }
);

/// The most bytes of attention scores kept at once.
const SCRATCH_BUDGET: u64 = 64 << 20;

/// Mask codes of `scores.wgsl`.
const MASK_NONE: u32 = 0;
const MASK_BOOL: u32 = 1;
const MASK_F16: u32 = 2;
const MASK_F32: u32 = 3;
const MASK_KEY_END: u32 = 4;

/// The float element type of an operand (f32, f16, bf16, f64).
fn float_type(l: &GpuLowering, cx: &LowerCx, i: usize) -> Result<GpuType, String> {
    let t = l.ty(cx.input(i)?)?;
    if !t.is_float() {
        return Err(format!("a {t:?} input has no GPU attention kernel"));
    }
    Ok(t)
}

fn opt<'a>(cx: &'a LowerCx, i: usize) -> Option<&'a crate::plan::Operand> {
    cx.inputs.get(i).and_then(|o| o.as_ref())
}

fn numel(s: &[usize]) -> usize {
    s.iter().product()
}

/// Rounds `x` to the precision of `dtype`, as the CPU reference does.
fn round_to(dtype: DType, x: f64) -> f64 {
    match dtype {
        DType::F32 => x as f32 as f64,
        DType::F16 => f16::from_f64(x).to_f64(),
        DType::BF16 => bf16::from_f64(x).to_f64(),
        _ => x,
    }
}

/// The in-shader rounding code for a softmax precision `sm` over element type `dt`
/// (0: none needed, 1: f16, 2: bfloat16).
fn sm_round_code(sm: DType, dt: DType) -> u32 {
    match sm {
        DType::F16 if dt != DType::F16 => 1,
        DType::BF16 if dt != DType::BF16 => 2,
        _ => 0,
    }
}

/// A [b, heads, seq, size] view of a 3-D `[b, seq, heads·size]` or 4-D tensor, with the
/// element strides of its batch, head and sequence axes (the size axis is contiguous).
#[derive(Clone, Copy, Debug)]
struct View {
    b: usize,
    h: usize,
    s: usize,
    d: usize,
    sb: usize,
    sh: usize,
    ss: usize,
    /// Element offset of the view's first element.
    off: usize,
}

impl View {
    fn new(shape: &[usize], heads: Option<usize>, what: &str) -> Result<View, String> {
        match *shape {
            [b, h, s, d] => {
                if heads.is_some_and(|n| n != h) {
                    return Err(format!("{what} has {h} heads, expected {}", heads.unwrap_or(0)));
                }
                Ok(View { b, h, s, d, sb: h * s * d, sh: s * d, ss: d, off: 0 })
            }
            [b, s, hidden] => {
                let h = heads.ok_or_else(|| format!("3-D {what} needs its number of heads"))?;
                if h == 0 || hidden % h != 0 {
                    return Err(format!("{what} hidden size {hidden} does not split into {h} heads"));
                }
                let d = hidden / h;
                Ok(View { b, h, s, d, sb: s * hidden, sh: d, ss: hidden, off: 0 })
            }
            _ => Err(format!("{what} must be 3-D or 4-D, got shape {shape:?}")),
        }
    }

    fn strides_u32(&self) -> Result<[u32; 3], String> {
        Ok([u32_of(self.sb)?, u32_of(self.sh)?, u32_of(self.ss)?])
    }
}

/// Copies `src` (a [b, h, s, d] view) into rows `[at, at + s)` of the contiguous
/// [b, h, total, d] output `out`.
fn cache_copy(
    l: &GpuLowering,
    cx: &LowerCx,
    src: Ref,
    v: &View,
    out: usize,
    total: usize,
    at: usize,
) -> Result<Option<LoweredDispatch<GpuKernel>>, String> {
    if v.b * v.h * v.s * v.d == 0 {
        return Ok(None);
    }
    let y = cx.output(out)?;
    let dst = [v.h * total * v.d, total * v.d, v.d, 1];
    let src_st = [v.sb as isize, v.sh as isize, v.ss as isize, 1];
    let k = copy_kernel(l.elem(y)?, &[v.b, v.h, v.s, v.d], &src_st, v.off, &dst, at * v.d)?;
    Ok(Some(LoweredDispatch { kernel: k, bindings: vec![src, Ref::Output(out)] }))
}

/// What differs between Attention and FlexAttention in the shared two-pass lowering.
struct AttnSpec {
    q_heads: Option<usize>,
    kv_heads: Option<usize>,
    causal: bool,
    softcap: f32,
    left_window: i64,
    right_window: i64,
    qk_mode: i64,
    sm_round: u32,
    round_probs: bool,
    /// Attention's optional inputs and outputs (masks, caches, qk output).
    full: bool,
    /// Q, K and V read from one packed buffer (bound as input 0; inputs 1 and 2 name the K and
    /// V shapes only).
    packed: Option<PackedQkv>,
}

/// Q, K and V interleaved per token in one `[b, s, row]` buffer: Q at element offset `offs[0]`
/// of each token's row, K at `offs[1]`, V at `offs[2]` (ORT Attention's QKV projection).
#[derive(Clone, Copy, Debug)]
pub(super) struct PackedQkv {
    pub row: usize,
    pub offs: [usize; 3],
    /// Input 3 is ORT's int32 `[batch]` mask_index of key end positions: keys at or after it
    /// get this additive fill (instead of an ONNX attn_mask).
    pub key_end_fill: Option<f32>,
}

fn lower_two_pass(
    l: &GpuLowering,
    cx: &LowerCx,
    spec: &AttnSpec,
    q_scale: impl Fn(usize) -> f64,
) -> Result<Lowered<GpuKernel>, String> {
    let (q, k, v) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let t = float_type(l, cx, 0)?;
    let dt = q.dtype;
    if k.dtype != dt || v.dtype != dt {
        return Err(format!("Q, K and V must share one dtype, got {dt}, {}, {}", k.dtype, v.dtype));
    }
    let rank = q.shape.len();
    if k.shape.len() != rank || v.shape.len() != rank {
        return Err("Q, K and V must have one rank".into());
    }
    let mut qv = View::new(&q.shape, spec.q_heads, "Q")?;
    let mut kv = View::new(&k.shape, spec.kv_heads, "K")?;
    let mut vv = View::new(&v.shape, spec.kv_heads, "V")?;
    if let Some(pk) = spec.packed {
        if rank != 3 {
            return Err("packed Q/K/V must be 3-D".into());
        }
        for (w, off) in [&mut qv, &mut kv, &mut vv].into_iter().zip(pk.offs) {
            w.ss = pk.row;
            w.sb = w.s * pk.row;
            w.off = off;
        }
    }
    if kv.b != qv.b || vv.b != qv.b || kv.h != vv.h || kv.s != vv.s {
        return Err("Q, K and V disagree on batch, heads or sequence length".into());
    }
    if qv.d != kv.d {
        return Err(format!("Q head size {} differs from K head size {}", qv.d, kv.d));
    }
    if kv.h == 0 || qv.h % kv.h != 0 {
        return Err(format!("{} query heads are not a multiple of {} key/value heads", qv.h, kv.h));
    }
    let reps = qv.h / kv.h;

    // Caches.
    let (pk, pv) = if spec.full { (opt(cx, 4), opt(cx, 5)) } else { (None, None) };
    if pk.is_some() != pv.is_some() {
        return Err("past_key and past_value must be given together".into());
    }
    let past = match (pk, pv) {
        (Some(a), Some(b)) => {
            if a.dtype != dt || b.dtype != dt {
                return Err(format!("past_key/past_value must be {dt}"));
            }
            let pkv = View::new(&a.shape, None, "past_key")?;
            let pvv = View::new(&b.shape, None, "past_value")?;
            if a.shape.len() != 4 || b.shape.len() != 4 {
                return Err("past_key/past_value must be 4-D".into());
            }
            if pkv.b != kv.b || pkv.h != kv.h || pkv.d != kv.d || pvv.b != vv.b || pvv.h != vv.h || pvv.d != vv.d {
                return Err("the past caches do not match the new keys/values".into());
            }
            if pkv.s != pvv.s {
                return Err("the key and value caches disagree in shape".into());
            }
            Some((pkv, pvv))
        }
        _ => None,
    };
    let past_len = past.map_or(0, |p| p.0.s);
    let total = past_len + kv.s;

    // nonpad_kv_seqlen.
    let nonpad = if spec.full { opt(cx, 6) } else { None };
    if let Some(n) = nonpad {
        if past.is_some() {
            return Err("nonpad_kv_seqlen cannot be combined with past_key/past_value".into());
        }
        if n.dtype != DType::I64 || n.shape != [qv.b] {
            return Err(format!("nonpad_kv_seqlen must be int64 [{}]", qv.b));
        }
    }

    // The mask: leading dims broadcast (right-aligned) onto [b, hq, sq].
    let mask = if spec.full { opt(cx, 3) } else { None };
    let (mut mask_kind, mut m_lead, mut m_keys) = (MASK_NONE, [0usize; 3], 0usize);
    let key_fill = spec.packed.and_then(|p| p.key_end_fill);
    if let (Some(m), Some(_)) = (mask, key_fill) {
        if m.dtype != DType::I32 || m.shape != [qv.b] {
            return Err(format!("a key end mask must be int32 [{}], got {} {:?}", qv.b, m.dtype, m.shape));
        }
        (mask_kind, m_keys) = (MASK_KEY_END, total);
    } else if let Some(m) = mask {
        mask_kind = match (m.dtype, t) {
            (DType::Bool, _) => MASK_BOOL,
            (d, GpuType::F16) if d == dt => MASK_F16,
            (d, GpuType::F32 | GpuType::BF16) if d == dt => MASK_F32,
            (d, _) => return Err(format!("a {d} attn_mask with {dt} inputs has no GPU kernel")),
        };
        let ms = &m.shape;
        let r = ms.len();
        if r == 0 || r > 4 {
            return Err(format!("attn_mask must have rank 1 to 4, got {r}"));
        }
        m_keys = ms[r - 1];
        if m_keys > total {
            return Err(format!("attn_mask has {m_keys} key positions, more than the {total} keys"));
        }
        let full = [qv.b, qv.h, qv.s];
        let st = strides(ms);
        for kx in 0..r - 1 {
            let a = 4 - r + kx;
            if ms[kx] != 1 {
                if ms[kx] != full[a] {
                    return Err(format!("attn_mask shape {ms:?} does not broadcast onto {full:?} × keys"));
                }
                m_lead[a] = st[kx];
            }
        }
    }

    let y = cx.output(0)?;
    let y_view = View::new(&y.shape, Some(qv.h), "Y")?;
    if y_view.d != vv.d || y_view.s != qv.s || y_view.b != qv.b {
        return Err(format!("Y shape {:?} does not match the attention geometry", y.shape));
    }
    let rows = qv.b * qv.h * qv.s;
    let mut low = Lowered::empty();

    // Present caches.
    // Packed Q/K/V all live in input 0.
    let (k_ref, v_ref) =
        if spec.packed.is_some() { (Ref::Input(0), Ref::Input(0)) } else { (Ref::Input(1), Ref::Input(2)) };
    if spec.full {
        for (out, cur, cur_ref, past_ref) in [(1usize, &kv, k_ref, 4usize), (2, &vv, v_ref, 5)] {
            if cx.outputs.get(out).and_then(|o| o.as_ref()).is_none() {
                continue;
            }
            if let Some(p) = past {
                let pview = if out == 1 { p.0 } else { p.1 };
                low.dispatches.extend(cache_copy(l, cx, Ref::Input(past_ref), &pview, out, total, 0)?);
            }
            low.dispatches.extend(cache_copy(l, cx, cur_ref, cur, out, total, past_len)?);
        }
    }
    if rows == 0 {
        // No query rows: Y and the qk output are empty.
        return Ok(low);
    }
    if total == 0 || qv.d == 0 || vv.d == 0 {
        return Err("attention over empty keys or heads has no GPU kernel".into());
    }
    // The score rows live in a scratch buffer of at most SCRATCH_BUDGET bytes; more rows run
    // as several dispatch pairs over row ranges.
    let row_bytes = (total as u64 + 1) * 4;
    let budget = SCRATCH_BUDGET.min(cx.limits.max_binding);
    if row_bytes > budget {
        return Err(format!("one row of attention scores ({row_bytes} bytes) exceeds the scratch budget"));
    }
    let chunk = ((budget / row_bytes) as usize).min(rows);
    low.scratch.push(chunk as u64 * row_bytes);

    let qk_out = spec.full && cx.outputs.get(3).and_then(|o| o.as_ref()).is_some();
    let qk_ref = if qk_out { Ref::Output(3) } else { Ref::Scratch(0) };
    let [q_sb, q_sh, q_ss] = qv.strides_u32()?;
    let [k_sb, k_sh, k_ss] = kv.strides_u32()?;
    let [v_sb, v_sh, v_ss] = vv.strides_u32()?;
    let (pk_st, pv_st) = match past {
        Some((a, b)) => (a.strides_u32()?, b.strides_u32()?),
        None => ([0; 3], [0; 3]),
    };
    let [y_sb, y_sh, y_ss] = y_view.strides_u32()?;
    // Windows past 2^30 never bind (|i + offset − j| stays below that).
    let window = |w: i64| w.clamp(-1, 1 << 30) as i32;
    let sq_scale = round_to(dt, q_scale(qv.d)) as f32;
    let sp = ScoresParams {
        rows: u32_of(rows)?,
        sq: u32_of(qv.s)?,
        hq: u32_of(qv.h)?,
        reps: u32_of(reps)?,
        total: u32_of(total)?,
        past: u32_of(past_len)?,
        dk: u32_of(qv.d)?,
        qk_mode: spec.qk_mode as u32,
        q_sb,
        q_sh,
        q_ss,
        write_qk: (qk_out && spec.qk_mode != 3) as u32,
        k_sb,
        k_sh,
        k_ss,
        causal: spec.causal as u32,
        kp_sb: pk_st[0],
        kp_sh: pk_st[1],
        kp_ss: pk_st[2],
        has_nonpad: nonpad.is_some() as u32,
        m_sb: u32_of(m_lead[0])?,
        m_sh: u32_of(m_lead[1])?,
        m_ss: u32_of(m_lead[2])?,
        m_keys: u32_of(m_keys)?,
        mask_kind,
        sm_round: spec.sm_round,
        left_window: window(spec.left_window),
        right_window: window(spec.right_window),
        sq_scale,
        softcap: spec.softcap,
        row0: 0,
        q_off: u32_of(qv.off)?,
        k_off: u32_of(kv.off)?,
        key_fill: key_fill.unwrap_or(0.0),
        pad1: 0,
        pad2: 0,
    };
    let kp_ref = if past.is_some() { Ref::Input(4) } else { k_ref };
    let vp_ref = if past.is_some() { Ref::Input(5) } else { v_ref };
    // A mask without key positions masks every key and is never read.
    let mask_ref = if mask_kind != MASK_NONE && m_keys > 0 { Ref::Input(3) } else { Ref::Input(0) };
    let nonpad_ref = if nonpad.is_some() { Ref::Input(6) } else { Ref::Input(0) };
    let pp = SoftmaxPvParams {
        rows: sp.rows,
        sq: sp.sq,
        hq: sp.hq,
        reps: sp.reps,
        total: sp.total,
        past: sp.past,
        dv: u32_of(vv.d)?,
        write_probs: (qk_out && spec.qk_mode == 3) as u32,
        v_sb,
        v_sh,
        v_ss,
        round_probs: spec.round_probs as u32,
        vp_sb: pv_st[0],
        vp_sh: pv_st[1],
        vp_ss: pv_st[2],
        sm_round: spec.sm_round,
        y_sb,
        y_sh,
        y_ss,
        row0: 0,
        v_off: u32_of(vv.off)?,
        pad0: 0,
        pad1: 0,
        pad2: 0,
    };
    let mut row0 = 0;
    while row0 < rows {
        let n = chunk.min(rows - row0);
        let end = u32_of(row0 + n)?;
        let grid = grid_groups(n);
        let sp = ScoresParams { rows: end, row0: u32_of(row0)?, ..sp };
        low.dispatches.push(LoweredDispatch {
            kernel: GpuKernel::new(key(AttnKernel::Scores, t), &sp, grid),
            bindings: vec![Ref::Input(0), kp_ref, k_ref, mask_ref, nonpad_ref, Ref::Scratch(0), qk_ref],
        });
        let pp = SoftmaxPvParams { rows: end, row0: sp.row0, ..pp };
        low.dispatches.push(LoweredDispatch {
            kernel: GpuKernel::new(key(AttnKernel::SoftmaxPv, t), &pp, grid),
            bindings: vec![Ref::Scratch(0), vp_ref, v_ref, Ref::Output(0), qk_ref],
        });
        row0 += n;
    }
    Ok(low)
}

pub fn lower_attention(l: &GpuLowering, cx: &LowerCx, a: &Attention) -> Result<Lowered<GpuKernel>, String> {
    lower_attention_packed(l, cx, a, None)
}

/// ONNX Attention; with `packed`, Q, K and V are read in place from the packed buffer bound
/// as input 0 (inputs 1 and 2 then only give the K and V shapes).
pub(super) fn lower_attention_packed(
    l: &GpuLowering,
    cx: &LowerCx,
    a: &Attention,
    packed: Option<PackedQkv>,
) -> Result<Lowered<GpuKernel>, String> {
    let rank = cx.input(0)?.shape.len();
    let dt = cx.input(0)?.dtype;
    let (q_heads, kv_heads) = if rank == 3 { (a.q_num_heads, a.kv_num_heads) } else { (None, None) };
    if !(0..=3).contains(&a.qk_matmul_output_mode) {
        return Err(format!("qk_matmul_output_mode {} is not supported", a.qk_matmul_output_mode));
    }
    let spec = AttnSpec {
        q_heads,
        kv_heads,
        causal: a.is_causal,
        softcap: a.softcap,
        left_window: a.left_window,
        right_window: a.right_window,
        qk_mode: a.qk_matmul_output_mode,
        sm_round: sm_round_code(a.softmax_precision.unwrap_or(dt), dt),
        round_probs: true,
        full: true,
        packed,
    };
    let scale = a.scale;
    lower_two_pass(l, cx, &spec, |d| scale.map_or(1.0 / (d as f64).sqrt(), |s| s as f64).sqrt())
}

pub fn lower_flex_attention(l: &GpuLowering, cx: &LowerCx, f: &FlexAttention) -> Result<Lowered<GpuKernel>, String> {
    let dt = cx.input(0)?.dtype;
    for i in 0..3 {
        if cx.input(i)?.shape.len() != 4 {
            return Err("FlexAttention needs rank-4 Q, K and V".into());
        }
    }
    let cd = f.softmax_precision.unwrap_or(if dt == DType::F64 { DType::F64 } else { DType::F32 });
    let spec = AttnSpec {
        q_heads: None,
        kv_heads: None,
        causal: false,
        softcap: 0.0,
        left_window: -1,
        right_window: -1,
        qk_mode: 0,
        sm_round: sm_round_code(cd, DType::F32),
        round_probs: false,
        full: false,
        packed: None,
    };
    let scale = f.scale;
    lower_two_pass(l, cx, &spec, |d| {
        let s = scale.map_or(1.0 / (d as f64).sqrt(), |s| s as f64);
        (s as f32).sqrt() as f64
    })
}

pub fn lower_rotary(l: &GpuLowering, cx: &LowerCx, r: &RotaryEmbedding) -> Result<Lowered<GpuKernel>, String> {
    let x = cx.input(0)?;
    let t = float_type(l, cx, 0)?;
    let s = &x.shape;
    let (b_n, seq, heads, d, heads_first) = match s[..] {
        [b, h, sq, d] => (b, sq, h, d, true),
        [b, sq, hidden] => {
            let h = r.num_heads.ok_or("a 3-D RotaryEmbedding input needs num_heads")?;
            if h == 0 || hidden % h != 0 {
                return Err(format!("hidden size {hidden} does not split into {h} heads"));
            }
            (b, sq, h, hidden / h, false)
        }
        _ => return Err(format!("RotaryEmbedding input must be 3-D or 4-D, got {s:?}")),
    };
    let rot = if r.rotary_dim == 0 { d } else { r.rotary_dim };
    if rot > d || rot % 2 != 0 {
        return Err(format!("rotary_embedding_dim {rot} must be even and at most the head size {d}"));
    }
    let half = rot / 2;
    let (cos, sin) = (cx.input(1)?, cx.input(2)?);
    if cos.shape != sin.shape || cos.dtype != x.dtype || sin.dtype != x.dtype {
        return Err("cos_cache and sin_cache must have one shape and X's dtype".into());
    }
    let cs = &cos.shape;
    if cs.last() != Some(&half) {
        return Err(format!("the caches' last dim must be rotary_dim/2 = {half}, got {cs:?}"));
    }
    let (pos_kind, n_rows) = match opt(cx, 3) {
        Some(p) => {
            if p.shape != [b_n, seq] {
                return Err(format!("position_ids must be [{b_n}, {seq}], got {:?}", p.shape));
            }
            if cs.len() != 2 {
                return Err("with position_ids the caches must be 2-D".into());
            }
            if let Some(v) = &p.value {
                if let Some(&bad) = v.to_i64_vec()?.iter().find(|&&x| x < 0 || x as usize >= cs[0]) {
                    return Err(format!("position id {bad} is out of range for {} cached positions", cs[0]));
                }
            }
            let kind = match p.dtype {
                DType::I32 => 1,
                DType::I64 => 2,
                d => return Err(format!("{d} position_ids have no GPU kernel")),
            };
            (kind, cs[0])
        }
        None => {
            if cs[..] != [b_n, seq, half] {
                return Err(format!("without position_ids the caches must be [{b_n}, {seq}, {half}], got {cs:?}"));
            }
            (0, b_n * seq)
        }
    };
    let n = numel(s);
    if n == 0 {
        return Ok(Lowered::empty());
    }
    if n_rows == 0 || half == 0 {
        // Nothing rotates: a plain copy.
        let k = copy_kernel(l.elem(x)?, &[n], &[1], 0, &[1], 0)?;
        return Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Output(0)]));
    }
    let p = RotaryParams {
        n: u32_of(n)?,
        d: u32_of(d)?,
        heads: u32_of(heads)?,
        seq: u32_of(seq)?,
        half: u32_of(half)?,
        rot: u32_of(rot)?,
        interleaved: r.interleaved as u32,
        heads_first: heads_first as u32,
        pos_kind,
        n_rows: u32_of(n_rows)?,
        pos_offset: 0,
        pad1: 0,
    };
    let pos_ref = if pos_kind != 0 { Ref::Input(3) } else { Ref::Input(0) };
    let k = rotary_kernel(t, &p);
    Ok(Lowered::single(k, vec![Ref::Input(0), Ref::Input(1), Ref::Input(2), pos_ref, Ref::Output(0)]))
}

/// The rotary kernel over `p.n` elements; bindings [x, cos_cache, sin_cache, position ids, y].
pub(super) fn rotary_kernel(t: GpuType, p: &RotaryParams) -> GpuKernel {
    GpuKernel::new(key(AttnKernel::Rotary, t), p, grid_1d(p.n as usize, 256))
}

/// A dispatch converting `n` elements between two layouts (`from` → `to`), bindings [src, dst].
fn convert(from: GpuType, to: GpuType, n: usize, src: Ref, dst: Ref) -> Result<LoweredDispatch<GpuKernel>, String> {
    Ok(LoweredDispatch { kernel: super::elementwise::cast_kernel(from, to, n)?, bindings: vec![src, dst] })
}

pub fn lower_linear_attention(
    l: &GpuLowering,
    cx: &LowerCx,
    a: &LinearAttention,
) -> Result<Lowered<GpuKernel>, String> {
    let (q, k, v) = (cx.input(0)?, cx.input(1)?, cx.input(2)?);
    let t = float_type(l, cx, 0)?;
    if t == GpuType::F64 {
        return Err("double LinearAttention has no GPU kernel".into());
    }
    if k.dtype != q.dtype || v.dtype != q.dtype {
        return Err("query, key and value must share one dtype".into());
    }
    let (hq, hk) = (a.q_num_heads, a.kv_num_heads);
    let ([b_n, t_n, qhid], [kb, kt, khid], [vb, vt, vhid]) = (
        <[usize; 3]>::try_from(q.shape.as_slice()).map_err(|_| "query must be 3-D")?,
        <[usize; 3]>::try_from(k.shape.as_slice()).map_err(|_| "key must be 3-D")?,
        <[usize; 3]>::try_from(v.shape.as_slice()).map_err(|_| "value must be 3-D")?,
    );
    if kb != b_n || vb != b_n || kt != t_n || vt != t_n {
        return Err("query, key and value disagree on batch or time".into());
    }
    if hq == 0 || hk == 0 || hq % hk != 0 || qhid % hq != 0 || vhid % hk != 0 {
        return Err("hidden sizes do not split into the heads".into());
    }
    let (dk, dv) = (qhid / hq, vhid / hk);
    if khid != hk * dk {
        return Err(format!("key hidden size {khid} must be kv_num_heads·d_k = {}", hk * dk));
    }
    let decay = opt(cx, 4);
    let beta = opt(cx, 5);
    if decay.is_some() != a.gated || beta.is_some() != a.delta {
        return Err("decay/beta do not match the update rule".into());
    }
    let mut decay_per_head = false;
    if let Some(g) = decay {
        let gs = &g.shape;
        if g.dtype != q.dtype || gs.len() != 3 || gs[0] != b_n || gs[1] != t_n || (gs[2] != hk && gs[2] != hk * dk) {
            return Err(format!("decay must be {} [{b_n}, {t_n}, {hk} or {}], got {gs:?}", q.dtype, hk * dk));
        }
        decay_per_head = gs[2] == hk;
    }
    let mut beta_width = 0;
    if let Some(bt) = beta {
        let bs = &bt.shape;
        if bt.dtype != q.dtype || bs.len() != 3 || bs[0] != b_n || bs[1] != t_n || (bs[2] != hk && bs[2] != 1) {
            return Err(format!("beta must be {} [{b_n}, {t_n}, {hk} or 1], got {bs:?}", q.dtype));
        }
        beta_width = bs[2];
    }
    let state_n = b_n * hk * dk * dv;
    let past = opt(cx, 3);
    let state_t = match past {
        Some(p) => {
            if p.shape != [b_n, hk, dk, dv] {
                return Err(format!("past_state must be [{b_n}, {hk}, {dk}, {dv}], got {:?}", p.shape));
            }
            l.ty(p)?
        }
        None => t,
    };
    if !state_t.is_float() || state_t == GpuType::F64 {
        return Err(format!("a {state_t:?} state has no GPU LinearAttention kernel"));
    }
    let mut low = Lowered::empty();
    if state_n == 0 || numel(&q.shape) == 0 {
        return Err("empty LinearAttention has no GPU kernel".into());
    }
    low.scratch.push(state_n as u64 * 4);
    if past.is_some() {
        low.dispatches.push(convert(state_t, GpuType::F32, state_n, Ref::Input(3), Ref::Scratch(0))?);
    }
    let scale = if a.scale == 0.0 { 1.0 / (dk as f64).sqrt() } else { a.scale as f64 };
    let n = b_n * hk * dv;
    let p = LinearParams {
        n: u32_of(n)?,
        t_len: u32_of(t_n)?,
        hq: u32_of(hq)?,
        hk: u32_of(hk)?,
        dk: u32_of(dk)?,
        dv: u32_of(dv)?,
        reps: u32_of(hq / hk)?,
        has_past: past.is_some() as u32,
        gated: a.gated as u32,
        decay_per_head: decay_per_head as u32,
        delta: a.delta as u32,
        beta_width: u32_of(beta_width)?,
        scale: scale as f32,
        pad0: 0,
        pad1: 0,
        pad2: 0,
    };
    let y_ref = if cx.outputs.first().and_then(|o| o.as_ref()).is_some() {
        Ref::Output(0)
    } else {
        return Err("LinearAttention's output is required".into());
    };
    let decay_ref = if decay.is_some() { Ref::Input(4) } else { Ref::Input(0) };
    let beta_ref = if beta.is_some() { Ref::Input(5) } else { Ref::Input(0) };
    low.dispatches.push(LoweredDispatch {
        kernel: GpuKernel::new(key(AttnKernel::Linear, t), &p, grid_1d(n, 64)),
        bindings: vec![Ref::Input(0), Ref::Input(1), Ref::Input(2), decay_ref, beta_ref, Ref::Scratch(0), y_ref],
    });
    if let Some(s) = cx.outputs.get(1).and_then(|o| o.as_ref()) {
        low.dispatches.push(convert(GpuType::F32, l.ty(s)?, state_n, Ref::Scratch(0), Ref::Output(1))?);
    }
    Ok(low)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wgpu::kernels::tests::check;

    #[test]
    fn params_match_wgsl() {
        check::<ScoresParams>(key(AttnKernel::Scores, GpuType::F32));
        check::<SoftmaxPvParams>(key(AttnKernel::SoftmaxPv, GpuType::F16));
        check::<RotaryParams>(key(AttnKernel::Rotary, GpuType::BF16));
        check::<LinearParams>(key(AttnKernel::Linear, GpuType::F32));
    }

    #[test]
    fn views_of_3d_and_4d() {
        let v = View::new(&[2, 4, 24], Some(3), "Q").unwrap();
        assert_eq!((v.b, v.h, v.s, v.d, v.sb, v.sh, v.ss), (2, 3, 4, 8, 96, 8, 24));
        let v = View::new(&[2, 3, 4, 8], None, "Q").unwrap();
        assert_eq!((v.sb, v.sh, v.ss), (96, 32, 8));
        assert!(View::new(&[2, 4, 25], Some(3), "Q").is_err());
    }
}
