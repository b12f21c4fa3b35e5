// Local response normalization across channels:
// y = x / (bias + alpha/size · Σ_{c' in window} x[c']²)^beta. Prelude: a type library (T).
struct Params {
    n: u32,
    channels: u32,
    inner: u32,
    size: u32,
    alpha: f32,
    beta: f32,
    bias: f32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let c = (i / p.inner) % p.channels;
    let lo = i32(c) - i32((p.size - 1u) / 2u);
    let hi = i32(c) + i32(p.size - 1u - (p.size - 1u) / 2u);
    var sq = 0.0;
    for (var cc = max(lo, 0); cc <= min(hi, i32(p.channels) - 1); cc = cc + 1) {
        let v = t_to_f32(x[i + u32(cc - i32(c)) * p.inner]);
        sq = sq + v * v;
    }
    y[i] = t_from_f32(t_to_f32(x[i]) / pow(p.bias + p.alpha / f32(p.size) * sq, p.beta));
}
