// ConvInteger and QLinearConv for 2-D convolutions with one input channel per group
// (depthwise, any channel multiplier): one invocation per image, output channel, output row
// and run of OX = 4 output columns. The window's taps loop directly over (kh, kw) (no
// per-tap index decomposition), each weight read once per run; padding contributes 0. The
// int32 sums (x - x_zero_point) * (w - w_zero_point) plus QLinearConv's int32 bias are
// stored (ConvInteger) or requantized exactly as `conv_int.wgsl` does (REQUANT;
// requant_lib.wgsl's requant_words).
// Prelude: REQUANT, HAS_BIAS, S_LAYOUT (the scales' layout, format p.s_fmt; ts is p.ts_fmt),
// the codec library and requant_lib.wgsl. ConvInteger binds one-element dummies for the
// scales, y's zero point and the bias.
struct Params {
    n: u32,
    c_in: u32,
    m: u32,
    mg: u32,
    ih: u32,
    iw: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    dh: u32,
    dw: u32,
    ph: u32,
    pw: u32,
    owq: u32,
    wz_chan: u32,
    ws_chan: u32,
    s_fmt: u32,
    ts_fmt: u32,
    lo: i32,
    hi: i32,
    pad0: u32,
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

const OX: u32 = 4u;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = flat_index(gid, nwg, 256u);
    if (o >= p.n) {
        return;
    }
    let q = o % p.owq;
    let oy = (o / p.owq) % p.oh;
    let mo = (o / (p.owq * p.oh)) % p.m;
    let bn = o / (p.owq * p.oh * p.m);
    let ox0 = q * OX;
    let zx = xz[0];
    let zw = wz[select(0u, mo, p.wz_chan != 0u)];
    var acc = vec4<i32>();
    if (HAS_BIAS) {
        acc = vec4<i32>(bias[mo]);
    }
    // Input channel mo / mg of image bn; the window's first input column per output column.
    let xbase = (bn * p.c_in + mo / p.mg) * p.ih * p.iw;
    let wbase = mo * p.kh * p.kw;
    let ix0 = vec4<i32>(vec4<u32>(ox0, ox0 + 1u, ox0 + 2u, ox0 + 3u) * p.sw) - i32(p.pw);
    let iw = i32(p.iw);
    for (var ky = 0u; ky < p.kh; ky = ky + 1u) {
        let iy = i32(oy * p.sh + ky * p.dh) - i32(p.ph);
        if (iy < 0 || iy >= i32(p.ih)) {
            continue;
        }
        let row = xbase + u32(iy) * p.iw;
        for (var kx = 0u; kx < p.kw; kx = kx + 1u) {
            let wv = w[wbase + ky * p.kw + kx] - zw;
            let ix = ix0 + vec4<i32>(i32(kx * p.dw));
            let inside = ix >= vec4<i32>(0) & ix < vec4<i32>(iw);
            let cx = vec4<u32>(clamp(ix, vec4<i32>(0), vec4<i32>(iw - 1)));
            let xv = vec4<i32>(x[row + cx.x], x[row + cx.y], x[row + cx.z], x[row + cx.w]) - vec4<i32>(zx);
            acc = acc + select(vec4<i32>(0), xv * wv, inside);
        }
    }
    let ybase = ((bn * p.m + mo) * p.oh + oy) * p.ow;
    let wi = select(0u, mo, p.ws_chan != 0u);
    for (var c = 0u; c < OX; c = c + 1u) {
        if (ox0 + c >= p.ow) {
            break;
        }
        if (!REQUANT) {
            y[ybase + ox0 + c] = acc[c];
        } else {
            y[ybase + ox0 + c] = requant_words(acc[c], x_s[0], 0u, w_s[word_index(wi)], wi, y_s[0], yz[0]);
        }
    }
}
