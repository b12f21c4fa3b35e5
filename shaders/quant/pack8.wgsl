// Packs int8/uint8 values (one i32 word each, the GPU storage of 8-bit types) four per u32
// word along the reduction dimension K, as the signed bytes dot4I8Packed multiplies: byte q
// of word (b, r, k4) is v(b, r, 4 * k4 + q) - p.off (p.off = 128 for uint8, 0 for int8, so
// every byte is in [-128, 127]); words past K are zero. Output layout [b][rows][k4].
// Without IM2COL, v(b, r, k) = src[b * p.sb + r * p.sr + k * p.sk] (a row-major A, or B read
// transposed). With IM2COL (a convolution's input as the implicit GEMM's B^T): b = n * G + g,
// r is the output position, k = ci * ksz + kk, v = x[n, g * cg + ci, window(r, kk)], and a
// position in the padding reads the zero point zp[0] (so it contributes nothing).
// Prelude: IM2COL.
struct Params {
    n: u32,
    rows: u32,
    k: u32,
    k4: u32,
    off: i32,
    sb: u32,
    sr: u32,
    sk: u32,
    groups: u32,
    c_in: u32,
    cg: u32,
    nd: u32,
    ksz: u32,
    isz: u32,
    pad0: u32,
    pad1: u32,
    in_sp: array<vec4<u32>, 2>,
    out_sp: array<vec4<u32>, 2>,
    kernel: array<vec4<u32>, 2>,
    strides: array<vec4<u32>, 2>,
    dilations: array<vec4<u32>, 2>,
    pads: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> src: array<i32>;
@group(0) @binding(1) var<storage, read_write> zp: array<i32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

fn dim(a: array<vec4<u32>, 2>, d: u32) -> u32 {
    return a[d / 4u][d % 4u];
}

// The value at (b, r, k), k < p.k.
fn value(b: u32, r: u32, k: u32) -> i32 {
    if (!IM2COL) {
        return src[b * p.sb + r * p.sr + k * p.sk];
    }
    let bn = b / p.groups;
    let g = b % p.groups;
    let ci = k / p.ksz;
    var rk = k % p.ksz;
    var rs = r;
    var off = 0u;
    var istride = 1u;
    for (var d = i32(p.nd) - 1; d >= 0; d = d - 1) {
        let ud = u32(d);
        let od = rs % dim(p.out_sp, ud);
        rs = rs / dim(p.out_sp, ud);
        let kd = rk % dim(p.kernel, ud);
        rk = rk / dim(p.kernel, ud);
        let pos = i32(od * dim(p.strides, ud) + kd * dim(p.dilations, ud)) - i32(dim(p.pads, ud));
        if (pos < 0 || pos >= i32(dim(p.in_sp, ud))) {
            return zp[0];
        }
        off = off + u32(pos) * istride;
        istride = istride * dim(p.in_sp, ud);
    }
    return src[(bn * p.c_in + g * p.cg + ci) * p.isz + off];
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = flat_index(gid, nwg, 256u);
    if (o >= p.n) {
        return;
    }
    let k4 = o % p.k4;
    let r = (o / p.k4) % p.rows;
    let b = o / (p.k4 * p.rows);
    var w = 0u;
    for (var q = 0u; q < 4u; q = q + 1u) {
        let k = 4u * k4 + q;
        if (k < p.k) {
            w = w | ((u32(value(b, r, k) - p.off) & 0xffu) << (8u * q));
        }
    }
    dst[o] = w;
}
