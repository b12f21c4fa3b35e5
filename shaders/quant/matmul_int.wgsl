// MatMulInteger and QLinearMatMul, one invocation per output element: the int32 sum over k of
// (a - a_zero_point) * (b - b_zero_point) for int8/uint8 A and B (stored as i32 words), with
// batch broadcasting. MatMulInteger stores the sum; QLinearMatMul (REQUANT) requantizes it
// exactly as the CPU reference does: mult = round_to(ts, round_to(ts, a_scale * b_scale) /
// y_scale), y = clamp(round(sum * mult) + y_zero_point, p.lo, p.hi).
// Zero points and scales are per tensor, per row of A (p.az_row / p.as_row) or per column of
// B (p.bz_col / p.bs_col).
// Prelude: REQUANT, S_LAYOUT (the scales' layout: LAYOUT_WORD or LAYOUT_HALF; their float
// format is p.s_fmt, ts is p.ts_fmt), the codec library and requant_lib.wgsl. MatMulInteger
// binds one-element dummies for the scales and y's zero point.
struct Params {
    n: u32,
    m: u32,
    k: u32,
    cols: u32,
    batch_rank: u32,
    az_row: u32,
    bz_col: u32,
    as_row: u32,
    bs_col: u32,
    s_fmt: u32,
    ts_fmt: u32,
    pad0: u32,
    lo: i32,
    hi: i32,
    pad1: u32,
    pad2: u32,
    batch: array<vec4<u32>, 2>,
    a_strides: array<vec4<u32>, 2>,
    b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> a: array<i32>;
@group(0) @binding(1) var<storage, read_write> b: array<i32>;
@group(0) @binding(2) var<storage, read_write> az: array<i32>;
@group(0) @binding(3) var<storage, read_write> bz: array<i32>;
@group(0) @binding(4) var<storage, read_write> a_s: array<u32>;
@group(0) @binding(5) var<storage, read_write> b_s: array<u32>;
@group(0) @binding(6) var<storage, read_write> y_s: array<u32>;
@group(0) @binding(7) var<storage, read_write> yz: array<i32>;
@group(0) @binding(8) var<storage, read_write> y: array<i32>;
@group(0) @binding(9) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = flat_index(gid, nwg, 256u);
    if (o >= p.n) {
        return;
    }
    let j = o % p.cols;
    let i = (o / p.cols) % p.m;
    var bi = o / (p.cols * p.m);
    var a_off = 0u;
    var b_off = 0u;
    for (var d = i32(p.batch_rank) - 1; d >= 0; d = d - 1) {
        let ud = u32(d);
        let size = p.batch[ud / 4u][ud % 4u];
        let c = bi % size;
        bi = bi / size;
        a_off = a_off + c * p.a_strides[ud / 4u][ud % 4u];
        b_off = b_off + c * p.b_strides[ud / 4u][ud % 4u];
    }
    let za = az[select(0u, i, p.az_row != 0u)];
    let zb = bz[select(0u, j, p.bz_col != 0u)];
    var acc = 0;
    for (var t = 0u; t < p.k; t = t + 1u) {
        acc = acc + (a[a_off + i * p.k + t] - za) * (b[b_off + t * p.cols + j] - zb);
    }
    if (!REQUANT) {
        y[o] = acc;
        return;
    }
    let ai = select(0u, i, p.as_row != 0u);
    let bj = select(0u, j, p.bs_col != 0u);
    y[o] = requant_words(acc, a_s[word_index(ai)], ai, b_s[word_index(bj)], bj, y_s[0], yz[0]);
}
