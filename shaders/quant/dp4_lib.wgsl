// The shared part of the packed int8 product kernels (`matmul_dp4.wgsl`, tiled, and
// `matmul_dp4_gemv.wgsl`, few rows): Params, bindings, operand loads, the batch decomposition
// and the epilogue. For each batch b (workgroup z) the int32 sums
//   acc[i, j] = sum_k (A[i, k] - za_i) * (B[k, j] - zb_j)
// of an M x N result. The kernels read A's rows and B's columns (B^T's rows) as words of four
// signed bytes along K, a' = a - p.oa, b' = b - p.ob (p.oa, p.ob = 128 for uint8, 0 for
// int8), zero past K, from one of three sources (A_SRC, B_SRC):
// - SRC_PACKED: words packed on the host at upload (constants), [batch][rows][k4];
// - SRC_RAW: the one-value-per-word storage of 8-bit types, value (r, t) of a batch at
//   element r * p.a_sr + t * p.a_sk (p.b_sr, p.b_sk for B), packed into a word as it is read;
// - SRC_IM2COL (B only): a convolution's input x read in im2col order, column r = output
//   position, t = ci * p.ksz + window offset, value x[batch base + ci * p.isz + window(r, t)];
//   a position in the padding reads x's zero point bz[0] (so it contributes nothing).
// One dot4I8Packed is four multiply-adds; the zero points enter by algebra:
//   acc = sum a'b' - cb_j * sum_k a'_ik - ca_i * sum_k b'_kj + K * ca_i * cb_j,
// ca_i = za_i - p.oa, cb_j = zb_j - p.ob (exact in wrapping int32 arithmetic). Row sums of A'
// come from the buffer sa (p.sa_buf: a packed constant A, summed on the host at upload), from
// the kernel itself (SA_CALC: dot4I8Packed(word, 0x01010101) as the words go by) or are not
// needed (their coefficient cb is zero); likewise column sums of B' (sb, p.sb_buf, SB_CALC).
// Batches: workgroup z is the batch index, decomposed over p.batch (up to 8 dims) into
// offsets of A and B (p.a_strides, p.b_strides: packed words or elements, as the source is);
// the result is contiguous per batch.
// Row parameters (A's zero point and scale, the bias with p.bias_row) are indexed by
// prow = (z % p.row_mod) * M + i (a grouped convolution's output channel).
// Epilogues (EPI): EPI_INT stores acc (+ bias); EPI_QLINEAR requantizes exactly as the CPU
// reference of QLinearMatMul/QLinearConv does (mult = round_to(ts, round_to(ts, a_s * b_s) /
// y_s), y = clamp(round(acc * mult) + y_zero_point, p.lo, p.hi)); EPI_QGEMMF32 stores
// scale_j * f32(acc) and EPI_QGEMMQ requantizes as MLAS does with scale_j = b_s[j] (f32, from
// the host; QGemm's C is the bias, indexed i * p.bias_row + j * p.bias_col); EPI_FLOAT
// (MatMulIntegerToFloat) stores (a_s[0] * b_s[j]) * f32(acc) (+ the f32 bias, added after
// the scaling, indexed as QGemm's C).
// Prelude: A_SRC, B_SRC (and the SRC_* codes), SA_CALC, SB_CALC, EPI (and the EPI_* codes),
// HAS_BIAS, S_LAYOUT, the codec library and requant_lib.wgsl.
struct Params {
    m: u32,
    n: u32,
    k: u32,
    k4: u32,
    batch_rank: u32,
    row_mod: u32,
    az_row: u32,
    bz_col: u32,
    oa: i32,
    ob: i32,
    sa_buf: u32,
    sb_buf: u32,
    bias_row: u32,
    bias_col: u32,
    as_row: u32,
    bs_col: u32,
    s_fmt: u32,
    ts_fmt: u32,
    lo: i32,
    hi: i32,
    y_zp: i32,
    a_sr: u32,
    a_sk: u32,
    b_sr: u32,
    b_sk: u32,
    isz: u32,
    ksz: u32,
    nd: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
    pad3: u32,
    batch: array<vec4<u32>, 2>,
    a_strides: array<vec4<u32>, 2>,
    b_strides: array<vec4<u32>, 2>,
    in_sp: array<vec4<u32>, 2>,
    out_sp: array<vec4<u32>, 2>,
    kernel: array<vec4<u32>, 2>,
    strides: array<vec4<u32>, 2>,
    dilations: array<vec4<u32>, 2>,
    pads: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> a: array<u32>;
@group(0) @binding(1) var<storage, read_write> b: array<u32>;
@group(0) @binding(2) var<storage, read_write> az: array<i32>;
@group(0) @binding(3) var<storage, read_write> bz: array<i32>;
@group(0) @binding(4) var<storage, read_write> sa: array<i32>;
@group(0) @binding(5) var<storage, read_write> sb: array<i32>;
@group(0) @binding(6) var<storage, read_write> bias: array<i32>;
@group(0) @binding(7) var<storage, read_write> a_s: array<u32>;
@group(0) @binding(8) var<storage, read_write> b_s: array<u32>;
@group(0) @binding(9) var<storage, read_write> y_s: array<u32>;
@group(0) @binding(10) var<storage, read_write> yz: array<i32>;
@group(0) @binding(11) var<storage, read_write> y: array<i32>;
@group(0) @binding(12) var<uniform> p: Params;

const ONES: u32 = 0x01010101u;

fn dim(v: array<vec4<u32>, 2>, d: u32) -> u32 {
    return v[d / 4u][d % 4u];
}

// Four raw values at src[i0], src[i0 + sk], ... (the first `valid` of them; the rest read as
// the offset `o`, byte 0) as one word of signed bytes v - o.
fn raw_word_a(i0: u32, sk: u32, valid: u32, o: i32) -> u32 {
    if (valid >= 4u) {
        let v = vec4<u32>(a[i0], a[i0 + sk], a[i0 + 2u * sk], a[i0 + 3u * sk]);
        return pack4xI8(bitcast<vec4<i32>>(v) - vec4<i32>(o));
    }
    var v = vec4<i32>(o);
    for (var q = 0u; q < valid; q = q + 1u) {
        v[q] = bitcast<i32>(a[i0 + q * sk]);
    }
    return pack4xI8(v - vec4<i32>(o));
}

fn raw_word_b(i0: u32, sk: u32, valid: u32, o: i32) -> u32 {
    if (valid >= 4u) {
        let v = vec4<u32>(b[i0], b[i0 + sk], b[i0 + 2u * sk], b[i0 + 3u * sk]);
        return pack4xI8(bitcast<vec4<i32>>(v) - vec4<i32>(o));
    }
    var v = vec4<i32>(o);
    for (var q = 0u; q < valid; q = q + 1u) {
        v[q] = bitcast<i32>(b[i0 + q * sk]);
    }
    return pack4xI8(v - vec4<i32>(o));
}

// Word w (values 4w .. 4w + 3 of K) of A's row r in the batch at `base`.
fn a_word(base: u32, r: u32, w: u32) -> u32 {
    if (A_SRC == SRC_PACKED) {
        return a[base + r * p.k4 + w];
    }
    let t = 4u * w;
    return raw_word_a(base + r * p.a_sr + t * p.a_sk, p.a_sk, p.k - t, p.oa);
}

// The im2col value of x at output position r, reduction index t (< p.k), batch at `base`.
fn im2col_value(base: u32, r: u32, t: u32) -> i32 {
    let ci = t / p.ksz;
    var rk = t % p.ksz;
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
            return bz[0];
        }
        off = off + u32(pos) * istride;
        istride = istride * dim(p.in_sp, ud);
    }
    return bitcast<i32>(b[base + ci * p.isz + off]);
}

// Word w of B's column c (B^T's row) in the batch at `base`.
fn b_word(base: u32, c: u32, w: u32) -> u32 {
    if (B_SRC == SRC_PACKED) {
        return b[base + c * p.k4 + w];
    }
    let t = 4u * w;
    if (B_SRC == SRC_RAW) {
        return raw_word_b(base + c * p.b_sr + t * p.b_sk, p.b_sk, p.k - t, p.ob);
    }
    var v = vec4<i32>(p.ob);
    for (var q = 0u; q < min(p.k - t, 4u); q = q + 1u) {
        v[q] = im2col_value(base, c, t + q);
    }
    return pack4xI8(v - vec4<i32>(p.ob));
}
// The output value of row prow (parameter index), column j with int32 sum acc.
fn epilogue(acc: i32, prow: u32, j: u32) -> i32 {
    if (EPI == EPI_INT) {
        return acc;
    }
    if (EPI == EPI_QLINEAR) {
        let ai = select(0u, prow, p.as_row != 0u);
        let bj = select(0u, j, p.bs_col != 0u);
        return requant_words(acc, a_s[word_index(ai)], ai, b_s[word_index(bj)], bj, y_s[0], yz[0]);
    }
    let s = bitcast<f32>(b_s[select(0u, j, p.bs_col != 0u)]);
    if (EPI == EPI_FLOAT) {
        var f = (bitcast<f32>(a_s[0]) * s) * f32(acc);
        if (HAS_BIAS) {
            f = f + bitcast<f32>(bias[prow * p.bias_row + j * p.bias_col]);
        }
        return bitcast<i32>(f);
    }
    if (EPI == EPI_QGEMMF32) {
        return bitcast<i32>(s * f32(acc));
    }
    let v = clamp(f32(acc) * s, f32(p.lo - p.y_zp), f32(p.hi - p.y_zp));
    return i32(round(v)) + p.y_zp;
}

// A and B's offsets (packed words or elements, as the source is) for batch z.
fn batch_offsets(z: u32) -> vec2<u32> {
    var bi = z;
    var off = vec2<u32>(0u, 0u);
    for (var d = i32(p.batch_rank) - 1; d >= 0; d = d - 1) {
        let ud = u32(d);
        let size = p.batch[ud / 4u][ud % 4u];
        let c = bi % size;
        bi = bi / size;
        off = off + c * vec2<u32>(p.a_strides[ud / 4u][ud % 4u], p.b_strides[ud / 4u][ud % 4u]);
    }
    return off;
}

// Completes output (z, i, j) from sum a'b' (dot), the kernel's row sum of A' (suma) and column
// sum of B' (sumb) where SA_CALC / SB_CALC, and stores it.
fn finish(dot: i32, suma: i32, sumb: i32, z: u32, off: vec2<u32>, i: u32, j: u32) {
    let prow = (z % p.row_mod) * p.m + i;
    let ca = az[select(0u, prow, p.az_row != 0u)] - p.oa;
    let cb = bz[select(0u, j, p.bz_col != 0u)] - p.ob;
    var sai = 0;
    if (SA_CALC) {
        sai = suma;
    } else if (p.sa_buf != 0u) {
        sai = sa[off.x / p.k4 + i];
    }
    var sbj = 0;
    if (SB_CALC) {
        sbj = sumb;
    } else if (p.sb_buf != 0u) {
        sbj = sb[off.y / p.k4 + j];
    }
    var v = dot - cb * sai - ca * sbj + i32(p.k) * ca * cb;
    if (HAS_BIAS && EPI != EPI_FLOAT) {
        v = v + bias[prow * p.bias_row + j * p.bias_col];
    }
    y[(z * p.m + i) * p.n + j] = epilogue(v, prow, j);
}
