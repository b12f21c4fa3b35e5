// Attention, pass 1: the logits of one (batch, query head, query) row per workgroup of 64, for
// rows [row0, rows) (scratch row r - row0).
// For each key j (past keys first, then the new ones): QK = round(Σ round(q·√s)·round(k·√s)),
// the soft cap c·tanh(QK/c), and the additive bias (attention mask, causal and window limits,
// nonpad_kv_seqlen padding; ORT's key end positions). Writes the logits (rounded to the softmax precision; −∞ where the
// bias is −∞) to `scores`, a row of total + 1 floats whose last entry is 1 when every key is
// masked, and the requested qk_matmul_output (modes 0–2) to `qk`. Every value is rounded to
// the element type where ONNX's function body casts; math runs in f32.
// Prelude: a float type library (T).
struct Params {
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

@group(0) @binding(0) var<storage, read_write> q: array<T>;
@group(0) @binding(1) var<storage, read_write> kp: array<T>;
@group(0) @binding(2) var<storage, read_write> kn: array<T>;
@group(0) @binding(3) var<storage, read_write> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> nonpad: array<u32>;
@group(0) @binding(5) var<storage, read_write> scores: array<f32>;
@group(0) @binding(6) var<storage, read_write> qk: array<T>;
@group(0) @binding(7) var<uniform> p: Params;

var<workgroup> unmasked: atomic<u32>;

const MASK_NONE: u32 = 0u;
const MASK_BOOL: u32 = 1u;
const MASK_F16: u32 = 2u;
// ORT's 1-D mask_index: int32 key end positions per batch; keys at or after it get key_fill.
const MASK_KEY_END: u32 = 4u;
const NEG_INF_BITS: u32 = 0xff800000u;

fn neg_inf() -> f32 {
    return bitcast<f32>(NEG_INF_BITS);
}

// Rounds to the element type (infinities and NaN pass through).
fn round_t(x: f32) -> f32 {
    if (is_inf_f32(x) || is_nan_f32(x)) {
        return x;
    }
    return t_to_f32(t_from_f32(x));
}

// Rounds to the softmax precision when it is narrower than f32 (1: f16, 2: bfloat16).
fn round_sm(x: f32) -> f32 {
    if (p.sm_round == 0u || is_inf_f32(x) || is_nan_f32(x)) {
        return x;
    }
    if (p.sm_round == 1u) {
        if (abs(x) >= 65520.0) {
            return sign(x) * bitcast<f32>(0x7f800000u);
        }
        return unpack2x16float(pack2x16float(vec2<f32>(x, 0.0))).x;
    }
    let u = bitcast<u32>(x);
    return bitcast<f32>((u + 0x7fffu + ((u >> 16u) & 1u)) & 0xffff0000u);
}

fn tanh_safe(a: f32) -> f32 {
    if (abs(a) > 15.0) {
        return sign(a);
    }
    return tanh(a);
}

// The mask value at element `idx` as an additive bias.
fn mask_value(idx: u32) -> f32 {
    if (p.mask_kind == MASK_BOOL) {
        return select(neg_inf(), 0.0, mask[idx] != 0u);
    }
    if (p.mask_kind == MASK_F16) {
        let w = unpack2x16float(mask[idx >> 1u]);
        return select(w.x, w.y, (idx & 1u) == 1u);
    }
    return bitcast<f32>(mask[idx]);
}

// nonpad_kv_seqlen[b] (int64 words), clamped to ±2^30.
fn nonpad_len(b: u32) -> i32 {
    let lo = nonpad[2u * b];
    let hi = nonpad[2u * b + 1u];
    if (hi == 0u && lo < 0x40000000u) {
        return i32(lo);
    }
    if (hi == 0xffffffffu && lo >= 0xc0000000u) {
        return bitcast<i32>(lo);
    }
    if ((hi & 0x80000000u) != 0u) {
        return -0x40000000;
    }
    return 0x40000000;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lidx: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = p.row0 + flat_group(wid, nwg);
    if (row >= p.rows) {
        return;
    }
    let i = row % p.sq;
    let bh = row / p.sq;
    let h = bh % p.hq;
    let b = bh / p.hq;
    let kvh = h / p.reps;
    let qo = p.q_off + b * p.q_sb + h * p.q_sh + i * p.q_ss;
    var offset = i32(p.past);
    var nvalid = i32(p.total);
    if (p.has_nonpad != 0u) {
        nvalid = nonpad_len(b);
        offset = nvalid - i32(p.sq);
    }
    let srow = (row - p.row0) * (p.total + 1u);
    for (var j = lidx; j < p.total; j = j + 64u) {
        var dot = 0.0;
        if (j < p.past) {
            let ko = b * p.kp_sb + kvh * p.kp_sh + j * p.kp_ss;
            for (var d = 0u; d < p.dk; d = d + 1u) {
                dot = dot + round_t(t_to_f32(q[qo + d]) * p.sq_scale) * round_t(t_to_f32(kp[ko + d]) * p.sq_scale);
            }
        } else {
            let ko = p.k_off + b * p.k_sb + kvh * p.k_sh + (j - p.past) * p.k_ss;
            for (var d = 0u; d < p.dk; d = d + 1u) {
                dot = dot + round_t(t_to_f32(q[qo + d]) * p.sq_scale) * round_t(t_to_f32(kn[ko + d]) * p.sq_scale);
            }
        }
        let raw = round_t(dot);
        var x = raw;
        if (p.softcap > 0.0) {
            x = round_t(p.softcap * tanh_safe(x / p.softcap));
        }
        var bias = 0.0;
        var masked = false;
        if (p.mask_kind != MASK_NONE) {
            if (p.mask_kind == MASK_KEY_END) {
                bias = select(0.0, p.key_fill, i32(j) >= bitcast<i32>(mask[b]));
            } else if (j < p.m_keys) {
                bias = mask_value(b * p.m_sb + h * p.m_sh + i * p.m_ss + j);
                masked = bitcast<u32>(bias) == NEG_INF_BITS;
            } else {
                masked = true;
            }
        }
        let diff = i32(i) + offset - i32(j);
        if (p.causal != 0u && diff < 0) {
            masked = true;
        }
        if (p.left_window >= 0 && diff > p.left_window) {
            masked = true;
        }
        if (p.right_window >= 0 && -diff > p.right_window) {
            masked = true;
        }
        if (p.has_nonpad != 0u && i32(j) >= nvalid) {
            masked = true;
        }
        var with_bias = neg_inf();
        if (!masked) {
            with_bias = round_t(x + bias);
            atomicOr(&unmasked, 1u);
        }
        if (p.write_qk != 0u) {
            var o = raw;
            if (p.qk_mode == 1u) {
                o = x;
            } else if (p.qk_mode == 2u) {
                o = with_bias;
            }
            qk[row * p.total + j] = t_from_f32(o);
        }
        scores[srow + j] = round_sm(with_bias);
    }
    workgroupBarrier();
    if (lidx == 0u) {
        scores[srow + p.total] = select(1.0, 0.0, atomicLoad(&unmasked) != 0u);
    }
}
