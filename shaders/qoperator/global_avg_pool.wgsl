// QLinearGlobalAveragePool, one invocation per (batch, channel): the int32 sum of the channel's
// image minus x_zero_point · image, requantized as MLAS does: round_half_even(clamp(f32(acc) *
// p.scale, lo - y_zp, hi - y_zp)) + y_zp, with p.scale = x_scale / (y_scale · image) from the
// host. Input element (n, pixel, c) sits at ((n * image + pixel) * C + c) with p.channels_last,
// else at ((n * C + c) * image + pixel). uint8/int8 one 32-bit word per element (int8
// sign-extended, so the words read as i32 directly).
// Prelude: none.
struct Params {
    n_out: u32,
    channels: u32,
    image: u32,
    channels_last: u32,
    x_zp: i32,
    y_zp: i32,
    lo: i32,
    hi: i32,
    scale: f32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<i32>;
@group(0) @binding(1) var<storage, read_write> y: array<i32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = flat_index(gid, nwg, 256u);
    if (o >= p.n_out) {
        return;
    }
    let n = o / p.channels;
    let c = o % p.channels;
    var base = o * p.image;
    var step = 1u;
    if (p.channels_last != 0u) {
        base = n * p.image * p.channels + c;
        step = p.channels;
    }
    var acc = -p.x_zp * i32(p.image);
    for (var t = 0u; t < p.image; t = t + 1u) {
        acc = acc + x[base + t * step];
    }
    let v = clamp(f32(acc) * p.scale, f32(p.lo - p.y_zp), f32(p.hi - p.y_zp));
    y[o] = i32(round(v)) + p.y_zp;
}
