// 2-D grouped convolution with one input channel per group (depthwise, any channel
// multiplier): one invocation per output element sums its kernel window directly.
// Prelude: a type library (T), HAS_BIAS.
struct Params {
    total: u32,
    in_c: u32,
    in_h: u32,
    in_w: u32,
    out_c: u32,
    out_h: u32,
    out_w: u32,
    multiplier: u32,
    k_h: u32,
    k_w: u32,
    stride_h: u32,
    stride_w: u32,
    dil_h: u32,
    dil_w: u32,
    pad_h: u32,
    pad_w: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> w: array<T>;
@group(0) @binding(2) var<storage, read_write> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.total) {
        return;
    }
    let ox = i % p.out_w;
    let oy = (i / p.out_w) % p.out_h;
    let oc = (i / (p.out_w * p.out_h)) % p.out_c;
    let n = i / (p.out_w * p.out_h * p.out_c);
    let ci = oc / p.multiplier;
    let xb = (n * p.in_c + ci) * p.in_h * p.in_w;
    let wb = oc * p.k_h * p.k_w;
    var acc = 0.0;
    for (var ky = 0u; ky < p.k_h; ky = ky + 1u) {
        let iy = i32(oy * p.stride_h + ky * p.dil_h) - i32(p.pad_h);
        if (iy < 0 || iy >= i32(p.in_h)) {
            continue;
        }
        for (var kx = 0u; kx < p.k_w; kx = kx + 1u) {
            let ix = i32(ox * p.stride_w + kx * p.dil_w) - i32(p.pad_w);
            if (ix < 0 || ix >= i32(p.in_w)) {
                continue;
            }
            acc = acc + t_to_f32(x[xb + u32(iy) * p.in_w + u32(ix)]) * t_to_f32(w[wb + ky * p.k_w + kx]);
        }
    }
    if (HAS_BIAS) {
        acc = acc + t_to_f32(bias[oc]);
    }
    y[i] = t_from_f32(acc);
}
