// com.microsoft DynamicQuantizeLSTM, second of three dispatches (after qlstm_prep.wgsl): the
// input projection of every time step and direction, one invocation per element,
// buf[((t·dirs + d)·batch + b)·4h + n] = f32(Σ_k (qx − zx)·(w[d, k, n] − zw_d)) · (sx · sw),
// with qx = clamp(round(x / sx) + zx, 0, 255) (X's quantization from qlstm_prep at xq_off),
// int32 accumulation (exact), and sw the direction's W scale (per tensor) or column n's.
// W is int8 or uint8 stored one sign- or zero-extended word per element: read as i32 bits.
// Prelude: nothing beyond common.wgsl.
struct Params {
    n_proj: u32,
    input: u32,
    batch: u32,
    dirs: u32,
    n4: u32,
    xq_off: u32,
    // bit 0: per-channel W scales.
    flags: u32,
    pad0: u32,
    zw: vec4<i32>,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> w: array<i32>;
@group(0) @binding(2) var<storage, read_write> w_scale: array<f32>;
@group(0) @binding(3) var<storage, read_write> buf: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n_proj) {
        return;
    }
    let n = i % p.n4;
    let b = (i / p.n4) % p.batch;
    let d = (i / (p.n4 * p.batch)) % p.dirs;
    let t = i / (p.n4 * p.batch * p.dirs);
    let sx = buf[p.xq_off];
    let zx = buf[p.xq_off + 1u];
    let zw = p.zw[d];
    let xb = (t * p.batch + b) * p.input;
    let wb = d * p.input * p.n4 + n;
    var acc = 0;
    for (var k = 0u; k < p.input; k = k + 1u) {
        let q = i32(clamp(round(div_f32(x[xb + k], sx)) + zx, 0.0, 255.0)) - i32(zx);
        acc = acc + q * (w[wb + k * p.n4] - zw);
    }
    let si = select(d, d * p.n4 + n, (p.flags & 1u) != 0u);
    buf[i] = f32(acc) * (sx * w_scale[si]);
}
