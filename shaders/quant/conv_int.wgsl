// ConvInteger and QLinearConv (N-d, grouped, padded, strided, dilated), one invocation per
// output element: the int32 sum of (x - x_zero_point) * (w - w_zero_point) over the group's
// input channels and the kernel window (padding contributes 0), plus QLinearConv's int32
// bias. ConvInteger stores the sum; QLinearConv (REQUANT) requantizes it exactly as the CPU
// reference does: mult = round_to(ts, round_to(ts, x_scale * w_scale[m]) / y_scale),
// y = clamp(round(sum * mult) + y_zero_point, p.lo, p.hi). x and w are int8/uint8 stored as
// i32 words; w's zero point and scale are per tensor or per output channel (p.wz_chan /
// p.ws_chan).
// Prelude: REQUANT, HAS_BIAS, S_LAYOUT (the scales' layout, format p.s_fmt; ts is p.ts_fmt),
// the codec library and requant_lib.wgsl. ConvInteger binds one-element dummies for the
// scales, y's zero point and the bias.
struct Params {
    n: u32,
    c_in: u32,
    m: u32,
    cg: u32,
    mg: u32,
    nd: u32,
    ksz: u32,
    osz: u32,
    isz: u32,
    wz_chan: u32,
    ws_chan: u32,
    s_fmt: u32,
    ts_fmt: u32,
    lo: i32,
    hi: i32,
    pad0: u32,
    in_sp: array<vec4<u32>, 2>,
    out_sp: array<vec4<u32>, 2>,
    kernel: array<vec4<u32>, 2>,
    strides: array<vec4<u32>, 2>,
    dilations: array<vec4<u32>, 2>,
    pads: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> x: array<i32>;
@group(0) @binding(1) var<storage, read_write> w: array<i32>;
@group(0) @binding(2) var<storage, read_write> xz: array<i32>;
@group(0) @binding(3) var<storage, read_write> wz: array<i32>;
@group(0) @binding(4) var<storage, read_write> x_s: array<u32>;
@group(0) @binding(5) var<storage, read_write> w_s: array<u32>;
@group(0) @binding(6) var<storage, read_write> y_s: array<u32>;
@group(0) @binding(7) var<storage, read_write> yz: array<i32>;
@group(0) @binding(8) var<storage, read_write> bias: array<i32>;
@group(0) @binding(9) var<storage, read_write> y: array<i32>;
@group(0) @binding(10) var<uniform> p: Params;

fn dim(a: array<vec4<u32>, 2>, d: u32) -> u32 {
    return a[d / 4u][d % 4u];
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = flat_index(gid, nwg, 256u);
    if (o >= p.n) {
        return;
    }
    let sp = o % p.osz;
    let mo = (o / p.osz) % p.m;
    let bn = o / (p.osz * p.m);
    let g = mo / p.mg;
    let zx = xz[0];
    let zw = wz[select(0u, mo, p.wz_chan != 0u)];
    var acc = 0;
    if (HAS_BIAS) {
        acc = bias[mo];
    }
    for (var ci = 0u; ci < p.cg; ci = ci + 1u) {
        let xbase = (bn * p.c_in + g * p.cg + ci) * p.isz;
        let wbase = (mo * p.cg + ci) * p.ksz;
        for (var kk = 0u; kk < p.ksz; kk = kk + 1u) {
            var off = 0u;
            var inside = true;
            var rs = sp;
            var rk = kk;
            var istride = 1u;
            for (var d = i32(p.nd) - 1; d >= 0; d = d - 1) {
                let ud = u32(d);
                let od = rs % dim(p.out_sp, ud);
                rs = rs / dim(p.out_sp, ud);
                let kd = rk % dim(p.kernel, ud);
                rk = rk / dim(p.kernel, ud);
                let pos = i32(od * dim(p.strides, ud) + kd * dim(p.dilations, ud)) - i32(dim(p.pads, ud));
                if (pos < 0 || pos >= i32(dim(p.in_sp, ud))) {
                    inside = false;
                }
                off = off + u32(max(pos, 0)) * istride;
                istride = istride * dim(p.in_sp, ud);
            }
            if (inside) {
                acc = acc + (x[xbase + off] - zx) * (w[wbase + kk] - zw);
            }
        }
    }
    if (!REQUANT) {
        y[o] = acc;
        return;
    }
    let wi = select(0u, mo, p.ws_chan != 0u);
    y[o] = requant_words(acc, x_s[0], 0u, w_s[word_index(wi)], wi, y_s[0], yz[0]);
}
