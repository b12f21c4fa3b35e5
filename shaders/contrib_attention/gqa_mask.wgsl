// GroupQueryAttention's key limits as an additive f32 mask y[b, q, k] (batch·s·t entries, t =
// present cache length) and the rotary position of each query, pos[b, q] (i32), from seqlens_k
// (i32 [batch]: total length − 1). Entry b's past length is 0 on the first prompt, else
// seqlens_k[b] + 1 − s. Key k is visible (0) when k ≤ past + q (causal) or k ≤ seqlens_k[b]
// (not causal), and, with a local window w ≥ 0, past + q − k < w; otherwise −∞. A seqlens_k
// entry whose total length is outside [1, t], or (after the first prompt) whose past length is
// outside [0, p_len] or leaves no room for the s new tokens, is reported (layout/index_report_lib:
// the run fails naming the node). Prelude: the index report library.
struct Params {
    n: u32,
    s: u32,
    t: u32,
    first_prompt: u32,
    causal: u32,
    window: i32,
    p_len: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> seqlens: array<i32>;
@group(0) @binding(1) var<storage, read_write> pos: array<i32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> err: array<atomic<u32>>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let k = i32(i % p.t);
    let q = i32((i / p.t) % p.s);
    let b = i / (p.s * p.t);
    let sl = seqlens[b];
    let past = select(sl + 1 - i32(p.s), 0, p.first_prompt != 0u);
    if (k == 0 && q == 0) {
        let total = sl + 1;
        var bad = total < 1 || u32(total) > p.t;
        if (p.first_prompt == 0u) {
            bad = bad || past < 0 || u32(past) > p.p_len || u32(past) + p.s > p.t;
        }
        if (bad) {
            report_bad_index(bitcast<u32>(sl), select(0u, 0xffffffffu, sl < 0), p.t);
        }
    }
    var visible = select(k <= sl, k <= past + q, p.causal != 0u);
    if (p.window >= 0 && past + q - k >= p.window) {
        visible = false;
    }
    y[i] = select(bitcast<f32>(0xff800000u), 0.0, visible);
    if (k == 0) {
        pos[b * p.s + u32(q)] = past + q;
    }
}
