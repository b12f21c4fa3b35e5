// CausalConvWithState: a depthwise causal 1-D convolution over padded = [past_state, x]
// (past_state zeros when absent) per (batch, channel) row. PASS 0 writes
// y[row, t] = act(bias[ch] + Σ_j w[ch, j] · padded[t + j]) (act: SiLU when `silu`, in f32);
// PASS 1 writes the next state, out[row, s] = padded[l + s] for s < k − 1.
// Prelude: a type library (T), HAS_BIAS, HAS_PAST, PASS.
struct Params {
    n: u32,
    c: u32,
    l: u32,
    k: u32,
    silu: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> w: array<T>;
@group(0) @binding(2) var<storage, read_write> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> past: array<T>;
@group(0) @binding(4) var<storage, read_write> out: array<T>;
@group(0) @binding(5) var<uniform> p: Params;

fn padded(row: u32, q: u32) -> f32 {
    let s = p.k - 1u;
    if (q < s) {
        if (HAS_PAST) {
            return t_to_f32(past[row * s + q]);
        }
        return 0.0;
    }
    return t_to_f32(x[row * p.l + q - s]);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    if (PASS == 1u) {
        let s = p.k - 1u;
        out[i] = t_from_f32(padded(i / s, p.l + i % s));
        return;
    }
    let t = i % p.l;
    let row = i / p.l;
    let ch = row % p.c;
    var v = 0.0;
    if (HAS_BIAS) {
        v = t_to_f32(bias[ch]);
    }
    for (var j = 0u; j < p.k; j = j + 1u) {
        v = v + t_to_f32(w[ch * p.k + j]) * padded(row, t + j);
    }
    if (p.silu != 0u) {
        v = v / (1.0 + exp(-v));
    }
    out[i] = t_from_f32(v);
}
