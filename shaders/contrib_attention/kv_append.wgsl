// GroupQueryAttention's present KV cache (32-bit elements, BNSH [batch, kvn, t, h]): row r of
// entry b holds past[b, ·, r] for r < past_b, the new token new[b, r − past_b, ·] (BSNH
// [batch, s, kvn, h]) for past_b ≤ r < past_b + s, and 0 after; past_b is 0 on the first
// prompt, else seqlens_k[b] + 1 − s. No prelude inputs.
struct Params {
    n: u32,
    kvn: u32,
    s: u32,
    h: u32,
    p_len: u32,
    t: u32,
    first_prompt: u32,
    has_past: u32,
}

@group(0) @binding(0) var<storage, read_write> past: array<u32>;
@group(0) @binding(1) var<storage, read_write> cur: array<u32>;
@group(0) @binding(2) var<storage, read_write> seqlens: array<i32>;
@group(0) @binding(3) var<storage, read_write> present: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let c = i % p.h;
    let r = (i / p.h) % p.t;
    let hh = (i / (p.h * p.t)) % p.kvn;
    let b = i / (p.h * p.t * p.kvn);
    let past_b = u32(max(select(seqlens[b] + 1 - i32(p.s), 0, p.first_prompt != 0u), 0));
    var v = 0u;
    if (r < past_b) {
        if (p.has_past != 0u && r < p.p_len) {
            v = past[((b * p.kvn + hh) * p.p_len + r) * p.h + c];
        }
    } else if (r < past_b + p.s) {
        v = cur[((b * p.s + (r - past_b)) * p.kvn + hh) * p.h + c];
    }
    present[i] = v;
}
