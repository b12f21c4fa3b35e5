// ONNX Runtime's additive key mask (Attention, MultiHeadAttention) as f32 y[b, q, k]
// (batch·s·t entries, t = past + kv length): the filter value where the mask masks key k for
// batch b — kind 1: k ≥ m[b] (1-D end positions), kind 2: also k < m[b + batch] (1-D end +
// start positions), kind 3: m[b, k] == 0 (2-D raw mask over all t keys), kind 4:
// m[b, q, k] == 0 (3-D raw mask), kind 0: no mask — and the lowest f32 for keys after
// `past + q` when `causal` is set. No prelude inputs.
struct Params {
    n: u32,
    batch: u32,
    s: u32,
    kind: u32,
    causal: u32,
    fill: f32,
    t: u32,
    past: u32,
}

@group(0) @binding(0) var<storage, read_write> m: array<i32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const LOWEST: f32 = -3.40282347e38;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let k = i % p.t;
    let q = (i / p.t) % p.s;
    let b = i / (p.s * p.t);
    var masked = false;
    if (p.kind == 1u) {
        masked = i32(k) >= m[b];
    } else if (p.kind == 2u) {
        masked = i32(k) >= m[b] || i32(k) < m[b + p.batch];
    } else if (p.kind == 3u) {
        masked = m[b * p.t + k] <= 0;
    } else if (p.kind == 4u) {
        masked = m[i] <= 0;
    }
    var v = select(0.0, p.fill, masked);
    if (p.causal != 0u && k > p.past + q) {
        v = LOWEST;
    }
    y[i] = v;
}
