// The packed int8 product behind MatMulInteger, QLinearMatMul, QGemm, MatMulIntegerToFloat
// and ConvInteger/QLinearConv (implicit GEMM): for each batch b (workgroup z) the int32 sums
//   acc[i, j] = sum_k (A[i, k] - za_i) * (B[k, j] - zb_j)
// of an M x N result, from A packed as [a_batch][M][k4] words and B packed transposed as
// [b_batch][N][k4] words (`pack8.wgsl`: four signed bytes per word, a' = a - p.oa, b' = b - p.ob,
// zero past K). One dot4I8Packed is four multiply-adds; the zero points enter by algebra:
//   acc = sum a'b' - cb_j * sum_k a'_ik - ca_i * sum_k b'_kj + K * ca_i * cb_j,
// ca_i = za_i - p.oa, cb_j = zb_j - p.ob (exact in wrapping int32 arithmetic). Row sums of A'
// come from the buffer sa (p.sa_buf: a constant A, summed on the host at upload), from the
// kernel itself (SA_CALC) or are not needed (their coefficient cb is zero); likewise column
// sums of B' (sb, p.sb_buf, SB_CALC).
// Tiling: a workgroup of WG_C x WG_R invocations computes a BM x BN tile (BM = TM * WG_R,
// BN = TN * WG_C) staging BK words of K per step in workgroup memory; invocation (tx, ty) owns
// rows ty + r * WG_R and columns tx + c * WG_C.
// Batches: workgroup z is the batch index, decomposed over p.batch (up to 8 dims) into packed
// word offsets of A and B (p.a_strides, p.b_strides); the result is contiguous per batch.
// Row parameters (A's zero point and scale, the bias with p.bias_row) are indexed by
// prow = (z % p.row_mod) * M + i (a grouped convolution's output channel).
// Epilogues (EPI): EPI_INT stores acc (+ bias); EPI_QLINEAR requantizes exactly as the CPU
// reference of QLinearMatMul/QLinearConv does (mult = round_to(ts, round_to(ts, a_s * b_s) /
// y_s), y = clamp(round(acc * mult) + y_zero_point, p.lo, p.hi)); EPI_QGEMMF32 stores
// scale_j * f32(acc) and EPI_QGEMMQ requantizes as MLAS does with scale_j = b_s[j] (f32, from
// the host; QGemm's C is the bias, indexed i * p.bias_row + j * p.bias_col).
// Prelude: TM, TN, WG_R, WG_C, BK, SA_CALC, SB_CALC, EPI (and the EPI_* codes), HAS_BIAS,
// S_LAYOUT, and the codec library.
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
    pad0: u32,
    pad1: u32,
    pad2: u32,
    batch: array<vec4<u32>, 2>,
    a_strides: array<vec4<u32>, 2>,
    b_strides: array<vec4<u32>, 2>,
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

const BM: u32 = TM * WG_R;
const BN: u32 = TN * WG_C;
const NT: u32 = WG_R * WG_C;
// Words per staged row: BK plus one, so the columns an invocation reads fall in different banks.
const SK: u32 = BK + 1u;
const ONES: u32 = 0x01010101u;
const FMT_NONE: u32 = 0xffffffffu;

var<workgroup> ta: array<u32, BM * SK>;
var<workgroup> tb: array<u32, BN * SK>;

fn scale(w: u32, i: u32) -> CvNum {
    var c = cv_u64(w);
    if (S_LAYOUT == LAYOUT_HALF) {
        c = cv_u64((w >> (16u * (i % 2u))) & 0xffffu);
    }
    return cv_value(c, S_LAYOUT, CLASS_FLOAT, p.s_fmt);
}

fn word_index(i: u32) -> u32 {
    return select(i, i / 2u, S_LAYOUT == LAYOUT_HALF);
}

fn maybe_round(v: CvNum, f: u32) -> CvNum {
    if (f == FMT_NONE) {
        return v;
    }
    return cv_round(v, f);
}

// The output value of row prow (parameter index), column j with int32 sum acc.
fn epilogue(acc: i32, prow: u32, j: u32) -> i32 {
    if (EPI == EPI_INT) {
        return acc;
    }
    if (EPI == EPI_QLINEAR) {
        let ai = select(0u, prow, p.as_row != 0u);
        let bj = select(0u, j, p.bs_col != 0u);
        let ab = maybe_round(cv_round(cv_mul_num(scale(a_s[word_index(ai)], ai), scale(b_s[word_index(bj)], bj)), CV_FMT_F64), p.ts_fmt);
        let mult = maybe_round(cv_round(cv_div_num(ab, scale(y_s[0], 0u)), CV_FMT_F64), p.ts_fmt);
        let v = cv_round(cv_mul_num(cv_from_i32(acc), mult), CV_FMT_F64);
        var r = 0;
        if (v.cls != CV_NAN) {
            r = clamp(cv_rint_sat(v) + yz[0], p.lo, p.hi);
        }
        return r;
    }
    let s = bitcast<f32>(b_s[select(0u, j, p.bs_col != 0u)]);
    if (EPI == EPI_QGEMMF32) {
        return bitcast<i32>(s * f32(acc));
    }
    let v = clamp(f32(acc) * s, f32(p.lo - p.y_zp), f32(p.hi - p.y_zp));
    return i32(round(v)) + p.y_zp;
}

@compute @workgroup_size(WG_C, WG_R, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let li = ty * WG_C + tx;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    var bi = wid.z;
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
    var acc: array<array<i32, TN>, TM>;
    var suma: array<i32, TM>;
    var sumb: array<i32, TN>;
    for (var kt = 0u; kt < p.k4; kt = kt + BK) {
        for (var l = li; l < BM * BK; l = l + NT) {
            let r = l / BK;
            let kw = l % BK;
            var v = 0u;
            if (row0 + r < p.m && kt + kw < p.k4) {
                v = a[a_off + (row0 + r) * p.k4 + kt + kw];
            }
            ta[r * SK + kw] = v;
        }
        for (var l = li; l < BN * BK; l = l + NT) {
            let c = l / BK;
            let kw = l % BK;
            var v = 0u;
            if (col0 + c < p.n && kt + kw < p.k4) {
                v = b[b_off + (col0 + c) * p.k4 + kt + kw];
            }
            tb[c * SK + kw] = v;
        }
        workgroupBarrier();
        for (var kw = 0u; kw < BK; kw = kw + 1u) {
            var av: array<u32, TM>;
            var bv: array<u32, TN>;
            for (var r = 0u; r < TM; r = r + 1u) {
                av[r] = ta[(ty + r * WG_R) * SK + kw];
                if (SA_CALC) {
                    suma[r] = suma[r] + dot4I8Packed(av[r], ONES);
                }
            }
            for (var c = 0u; c < TN; c = c + 1u) {
                bv[c] = tb[(tx + c * WG_C) * SK + kw];
                if (SB_CALC) {
                    sumb[c] = sumb[c] + dot4I8Packed(bv[c], ONES);
                }
            }
            for (var r = 0u; r < TM; r = r + 1u) {
                for (var c = 0u; c < TN; c = c + 1u) {
                    acc[r][c] = acc[r][c] + dot4I8Packed(av[r], bv[c]);
                }
            }
        }
        workgroupBarrier();
    }
    let kk = i32(p.k);
    for (var r = 0u; r < TM; r = r + 1u) {
        let i = row0 + ty + r * WG_R;
        if (i >= p.m) {
            continue;
        }
        let prow = (wid.z % p.row_mod) * p.m + i;
        let ca = az[select(0u, prow, p.az_row != 0u)] - p.oa;
        var sai = 0;
        if (SA_CALC) {
            sai = suma[r];
        } else if (p.sa_buf != 0u) {
            sai = sa[a_off / p.k4 + i];
        }
        for (var c = 0u; c < TN; c = c + 1u) {
            let j = col0 + tx + c * WG_C;
            if (j >= p.n) {
                continue;
            }
            let cb = bz[select(0u, j, p.bz_col != 0u)] - p.ob;
            var sbj = 0;
            if (SB_CALC) {
                sbj = sumb[c];
            } else if (p.sb_buf != 0u) {
                sbj = sb[b_off / p.k4 + j];
            }
            var v = acc[r][c] - cb * sai - ca * sbj + kk * ca * cb;
            if (HAS_BIAS) {
                v = v + bias[prow * p.bias_row + j * p.bias_col];
            }
            y[(wid.z * p.m + i) * p.n + j] = epilogue(v, prow, j);
        }
    }
}
