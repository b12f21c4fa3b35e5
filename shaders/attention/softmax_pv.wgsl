// Attention, pass 2: one workgroup of 64 per (batch, query head, query) row in [row0, rows).
// The softmax of the row's logits from pass 1 (zeros when every key is masked or every logit
// is −∞; NaN when a logit is NaN), rounded to the softmax precision and, for Attention, to the
// element type; the probabilities are written back over the logits (and to `qk` for
// qk_matmul_output_mode 3), then each output column is Σⱼ pⱼ·V[j] with the past values first.
// Math runs in f32.
// Prelude: a float type library (T).
struct Params {
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

@group(0) @binding(0) var<storage, read_write> scores: array<f32>;
@group(0) @binding(1) var<storage, read_write> vp: array<T>;
@group(0) @binding(2) var<storage, read_write> vn: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<storage, read_write> qk: array<T>;
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> red: array<f32, 64>;
var<workgroup> nan_seen: atomic<u32>;

const NEG_INF_BITS: u32 = 0xff800000u;

fn is_neg_inf(x: f32) -> bool {
    return bitcast<u32>(x) == NEG_INF_BITS;
}

fn round_t(x: f32) -> f32 {
    if (is_inf_f32(x) || is_nan_f32(x)) {
        return x;
    }
    return t_to_f32(t_from_f32(x));
}

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
    let base = (row - p.row0) * (p.total + 1u);
    let masked_row = scores[base + p.total] != 0.0;

    // The maximum logit (NaNs noted separately).
    var m = bitcast<f32>(NEG_INF_BITS);
    for (var j = lidx; j < p.total; j = j + 64u) {
        let x = scores[base + j];
        if (is_nan_f32(x)) {
            atomicOr(&nan_seen, 1u);
        } else if (!is_neg_inf(x) && (is_neg_inf(m) || x > m)) {
            m = x;
        }
    }
    red[lidx] = m;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (lidx < s) {
            let a = red[lidx];
            let c = red[lidx + s];
            if (!is_neg_inf(c) && (is_neg_inf(a) || c > a)) {
                red[lidx] = c;
            }
        }
        workgroupBarrier();
    }
    let mx = red[0];
    let any_nan = atomicLoad(&nan_seen) != 0u;
    workgroupBarrier();

    // The sum of exponentials.
    var acc = 0.0;
    for (var j = lidx; j < p.total; j = j + 64u) {
        let x = scores[base + j];
        if (!is_neg_inf(x) && !is_nan_f32(x)) {
            acc = acc + exp(x - mx);
        }
    }
    red[lidx] = acc;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (lidx < s) {
            red[lidx] = red[lidx] + red[lidx + s];
        }
        workgroupBarrier();
    }
    let total = red[0];

    // Probabilities, written over the logits.
    let zero_row = masked_row || (!any_nan && is_neg_inf(mx));
    for (var j = lidx; j < p.total; j = j + 64u) {
        var pr = 0.0;
        if (!zero_row) {
            if (any_nan) {
                pr = bitcast<f32>(0x7fc00000u);
            } else {
                let x = scores[base + j];
                if (!is_neg_inf(x)) {
                    pr = round_sm(exp(x - mx) / total);
                    if (p.round_probs != 0u) {
                        pr = round_t(pr);
                    }
                }
            }
        }
        scores[base + j] = pr;
        if (p.write_probs != 0u) {
            qk[row * p.total + j] = t_from_f32(pr);
        }
    }
    storageBarrier();

    // Y[c] = Σⱼ pⱼ·V[j, c].
    let vpo = b * p.vp_sb + kvh * p.vp_sh;
    let vno = p.v_off + b * p.v_sb + kvh * p.v_sh;
    let yo = b * p.y_sb + h * p.y_sh + i * p.y_ss;
    for (var c = lidx; c < p.dv; c = c + 64u) {
        var a = 0.0;
        for (var j = 0u; j < p.total; j = j + 1u) {
            var vv: f32;
            if (j < p.past) {
                vv = t_to_f32(vp[vpo + j * p.vp_ss + c]);
            } else {
                vv = t_to_f32(vn[vno + (j - p.past) * p.v_ss + c]);
            }
            a = a + scores[base + j] * vv;
        }
        y[yo + c] = t_from_f32(a);
    }
}
