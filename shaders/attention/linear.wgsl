// LinearAttention: one invocation per (batch, KV head, value column m) runs the recurrence over
// the tokens on its column S[:, m] of the f32 state (in `state`, [b, kv_heads, d_k, d_v],
// initialized from past_state by an earlier dispatch, or zeroed here): decay S by exp(g)
// (gated), replace v by β(v − Sᵀk) (delta), add k·v, then each query head of the group reads
// scale·qᵀS[:, m]. Inputs are packed [b, t, heads·size]. Math runs in f32.
// Prelude: a float type library (T).
struct Params {
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

@group(0) @binding(0) var<storage, read_write> q: array<T>;
@group(0) @binding(1) var<storage, read_write> k: array<T>;
@group(0) @binding(2) var<storage, read_write> v: array<T>;
@group(0) @binding(3) var<storage, read_write> decay: array<T>;
@group(0) @binding(4) var<storage, read_write> beta: array<T>;
@group(0) @binding(5) var<storage, read_write> state: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<T>;
@group(0) @binding(7) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat_index(gid, nwg, 64u);
    if (idx >= p.n) {
        return;
    }
    let m = idx % p.dv;
    let bh = idx / p.dv;
    let h = bh % p.hk;
    let b = bh / p.hk;
    let s0 = bh * p.dk * p.dv + m;
    if (p.has_past == 0u) {
        for (var i = 0u; i < p.dk; i = i + 1u) {
            state[s0 + i * p.dv] = 0.0;
        }
    }
    let khid = p.hk * p.dk;
    let vhid = p.hk * p.dv;
    let qhid = p.hq * p.dk;
    for (var t = 0u; t < p.t_len; t = t + 1u) {
        let r = b * p.t_len + t;
        let ko = r * khid + h * p.dk;
        if (p.gated != 0u) {
            for (var i = 0u; i < p.dk; i = i + 1u) {
                var g: f32;
                if (p.decay_per_head != 0u) {
                    g = t_to_f32(decay[r * p.hk + h]);
                } else {
                    g = t_to_f32(decay[r * khid + h * p.dk + i]);
                }
                state[s0 + i * p.dv] = state[s0 + i * p.dv] * exp(g);
            }
        }
        var vv = t_to_f32(v[r * vhid + h * p.dv + m]);
        if (p.delta != 0u) {
            let bh_ = t_to_f32(beta[r * p.beta_width + select(h, 0u, p.beta_width == 1u)]);
            var retrieved = 0.0;
            for (var i = 0u; i < p.dk; i = i + 1u) {
                retrieved = retrieved + state[s0 + i * p.dv] * t_to_f32(k[ko + i]);
            }
            vv = bh_ * (vv - retrieved);
        }
        for (var i = 0u; i < p.dk; i = i + 1u) {
            state[s0 + i * p.dv] = state[s0 + i * p.dv] + t_to_f32(k[ko + i]) * vv;
        }
        for (var rep = 0u; rep < p.reps; rep = rep + 1u) {
            let hq = h * p.reps + rep;
            let qo = r * qhid + hq * p.dk;
            var acc = 0.0;
            for (var i = 0u; i < p.dk; i = i + 1u) {
                acc = acc + t_to_f32(q[qo + i]) * state[s0 + i * p.dv];
            }
            y[r * p.hq * p.dv + hq * p.dv + m] = t_from_f32(p.scale * acc);
        }
    }
}
