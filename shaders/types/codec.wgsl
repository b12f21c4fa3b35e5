// Library: exact number conversions for Cast and quantization, in 32-bit integer arithmetic
// only (no float operations, so subnormals and rounding never depend on the device).
// A value is a CvNum: (-1)^neg * mag * 2^e with a 64-bit magnitude (vec2<u32>: low, high
// word), or ±inf, or NaN. Float formats (f32, f16, bf16, f64, the float8 variants, float4
// e2m1) are decoded from and encoded to their bit codes with round-to-nearest-even, ONNX's
// overflow rules (see src/tensor/minifloat.rs) and ml_dtypes' NaN codes; E8M0 follows
// ONNX's reference (rounded from the float32 image). Integers convert exactly; float to
// integer truncates toward zero and saturates like Rust's `as i64`.
// No prelude inputs; every name starts with `cv_` / `CV_`.

const CV_FMT_F32: u32 = 0u;
const CV_FMT_F16: u32 = 1u;
const CV_FMT_BF16: u32 = 2u;
const CV_FMT_F64: u32 = 3u;
const CV_FMT_E4M3FN: u32 = 4u;
const CV_FMT_E4M3FNUZ: u32 = 5u;
const CV_FMT_E5M2: u32 = 6u;
const CV_FMT_E5M2FNUZ: u32 = 7u;
const CV_FMT_E2M1: u32 = 8u;

// How a format encodes special values.
const CV_IEEE: u32 = 0u; // all-ones exponent: inf (mantissa 0) and NaN
const CV_FN: u32 = 1u; // only S.1111.111 is NaN, no inf
const CV_FNUZ: u32 = 2u; // 0x80 is the single NaN, no -0, no inf
const CV_NONE: u32 = 3u; // neither inf nor NaN

// E8M0 rounding (ONNX Cast's round_mode).
const CV_ROUND_UP: u32 = 0u;
const CV_ROUND_DOWN: u32 = 1u;
const CV_ROUND_NEAREST: u32 = 2u;

const CV_FINITE: u32 = 0u;
const CV_INF: u32 = 1u;
const CV_NAN: u32 = 2u;

struct CvFmt {
    ebits: u32,
    mbits: u32,
    bias: i32,
    special: u32,
}

struct CvNum {
    cls: u32,
    neg: bool,
    mag: vec2<u32>,
    e: i32,
}

fn cv_fmt(f: u32) -> CvFmt {
    switch f {
        case 1u: { return CvFmt(5u, 10u, 15, CV_IEEE); }
        case 2u: { return CvFmt(8u, 7u, 127, CV_IEEE); }
        case 3u: { return CvFmt(11u, 52u, 1023, CV_IEEE); }
        case 4u: { return CvFmt(4u, 3u, 7, CV_FN); }
        case 5u: { return CvFmt(4u, 3u, 8, CV_FNUZ); }
        case 6u: { return CvFmt(5u, 2u, 15, CV_IEEE); }
        case 7u: { return CvFmt(5u, 2u, 16, CV_FNUZ); }
        case 8u: { return CvFmt(2u, 1u, 1, CV_NONE); }
        default: { return CvFmt(8u, 23u, 127, CV_IEEE); }
    }
}

// ---- 64-bit unsigned helpers ----

fn cv_u64(x: u32) -> vec2<u32> {
    return vec2<u32>(x, 0u);
}

fn cv_is_zero(a: vec2<u32>) -> bool {
    return a.x == 0u && a.y == 0u;
}

fn cv_shl(a: vec2<u32>, n: u32) -> vec2<u32> {
    if (n == 0u) { return a; }
    if (n >= 64u) { return vec2<u32>(0u, 0u); }
    if (n >= 32u) { return vec2<u32>(0u, a.x << (n - 32u)); }
    return vec2<u32>(a.x << n, (a.y << n) | (a.x >> (32u - n)));
}

fn cv_shr(a: vec2<u32>, n: u32) -> vec2<u32> {
    if (n == 0u) { return a; }
    if (n >= 64u) { return vec2<u32>(0u, 0u); }
    if (n >= 32u) { return vec2<u32>(a.y >> (n - 32u), 0u); }
    return vec2<u32>((a.x >> n) | (a.y << (32u - n)), a.y >> n);
}

fn cv_add(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

fn cv_sub(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x));
}

fn cv_neg(a: vec2<u32>) -> vec2<u32> {
    return cv_sub(vec2<u32>(0u, 0u), a);
}

fn cv_lt(a: vec2<u32>, b: vec2<u32>) -> bool {
    return a.y < b.y || (a.y == b.y && a.x < b.x);
}

fn cv_eq(a: vec2<u32>, b: vec2<u32>) -> bool {
    return a.x == b.x && a.y == b.y;
}

// The low n bits set (n ≤ 64).
fn cv_mask(n: u32) -> vec2<u32> {
    return cv_sub(cv_shl(cv_u64(1u), n), cv_u64(1u));
}

// Index of the highest set bit; -1 for zero.
fn cv_msb(a: vec2<u32>) -> i32 {
    if (a.y != 0u) { return 32 + i32(firstLeadingBit(a.y)); }
    if (a.x != 0u) { return i32(firstLeadingBit(a.x)); }
    return -1;
}

// a / 2^s rounded to nearest, ties to even.
fn cv_round_shr(a: vec2<u32>, s: u32) -> vec2<u32> {
    if (s == 0u) { return a; }
    if (s > 64u) { return vec2<u32>(0u, 0u); }
    let q = cv_shr(a, s);
    let rem = a & cv_mask(s);
    let half = cv_shl(cv_u64(1u), s - 1u);
    if (cv_lt(half, rem) || (cv_eq(rem, half) && (q.x & 1u) != 0u)) {
        return cv_add(q, cv_u64(1u));
    }
    return q;
}

// ---- values ----

fn cv_nan() -> CvNum {
    return CvNum(CV_NAN, false, vec2<u32>(0u, 0u), 0);
}

// A 64-bit two's-complement (signed) or unsigned integer as a value.
fn cv_from_int(v: vec2<u32>, signed: bool) -> CvNum {
    let neg = signed && (v.y & 0x80000000u) != 0u;
    return CvNum(CV_FINITE, neg, select(v, cv_neg(v), neg), 0);
}

fn cv_from_i32(v: i32) -> CvNum {
    return cv_from_int(vec2<u32>(bitcast<u32>(v), select(0u, 0xffffffffu, v < 0)), true);
}

fn cv_from_u32(v: u32) -> CvNum {
    return cv_from_int(vec2<u32>(v, 0u), false);
}

fn cv_nonzero(x: CvNum) -> bool {
    return x.cls != CV_FINITE || !cv_is_zero(x.mag);
}

// ---- float formats ----

fn cv_sign_bit(f: CvFmt) -> vec2<u32> {
    return cv_shl(cv_u64(1u), f.ebits + f.mbits);
}

fn cv_emax_field(f: CvFmt) -> u32 {
    return (1u << f.ebits) - 1u;
}

// Exponent field and mantissa of the largest finite value.
fn cv_max_field(f: CvFmt) -> u32 {
    return select(cv_emax_field(f), cv_emax_field(f) - 1u, f.special == CV_IEEE);
}

fn cv_max_mant(f: CvFmt) -> vec2<u32> {
    return select(cv_mask(f.mbits), cv_sub(cv_mask(f.mbits), cv_u64(1u)), f.special == CV_FN);
}

fn cv_nan_bits(f: CvFmt, neg: bool) -> vec2<u32> {
    let s = select(vec2<u32>(0u, 0u), cv_sign_bit(f), neg);
    let top = cv_shl(cv_u64(cv_emax_field(f)), f.mbits);
    switch f.special {
        case 0u: { return s | top | cv_shl(cv_u64(1u), f.mbits - 1u); }
        case 1u: { return s | top | cv_mask(f.mbits); }
        case 2u: { return cv_sign_bit(f); }
        default: { return select(cv_sign_bit(f), vec2<u32>(0u, 0u), neg); }
    }
}

// Decodes a code (its low 1 + ebits + mbits bits; the rest must be zero).
fn cv_decode(f: CvFmt, c: vec2<u32>) -> CvNum {
    let m = f.mbits;
    let neg = !cv_is_zero(c & cv_sign_bit(f));
    let e = cv_shr(c, m).x & cv_emax_field(f);
    let mant = c & cv_mask(m);
    let emax = cv_emax_field(f);
    if (f.special == CV_FNUZ && cv_eq(c, cv_sign_bit(f))) { return cv_nan(); }
    if (f.special == CV_FN && e == emax && cv_eq(mant, cv_mask(m))) { return cv_nan(); }
    if (f.special == CV_IEEE && e == emax) {
        if (!cv_is_zero(mant)) { return cv_nan(); }
        return CvNum(CV_INF, neg, vec2<u32>(0u, 0u), 0);
    }
    if (e == 0u) {
        return CvNum(CV_FINITE, neg, mant, 1 - f.bias - i32(m));
    }
    return CvNum(CV_FINITE, neg, mant | cv_shl(cv_u64(1u), m), i32(e) - f.bias - i32(m));
}

// Encodes with round-to-nearest-even. Overflow (infinities included): with `saturate`, or
// for a format without inf and NaN, ±max; otherwise ±inf where the format has it, else NaN.
fn cv_encode(f: CvFmt, x: CvNum, saturate: bool) -> vec2<u32> {
    let m = f.mbits;
    let sign = select(vec2<u32>(0u, 0u), cv_sign_bit(f), x.neg);
    if (x.cls == CV_NAN) {
        return cv_nan_bits(f, x.neg);
    }
    var overflow: vec2<u32>;
    if (saturate || f.special == CV_NONE) {
        overflow = sign | cv_shl(cv_u64(cv_max_field(f)), m) | cv_max_mant(f);
    } else if (f.special == CV_IEEE) {
        overflow = sign | cv_shl(cv_u64(cv_emax_field(f)), m);
    } else {
        overflow = cv_nan_bits(f, x.neg);
    }
    if (x.cls == CV_INF) {
        return overflow;
    }
    let zero = select(sign, vec2<u32>(0u, 0u), f.special == CV_FNUZ);
    if (cv_is_zero(x.mag)) {
        return zero;
    }
    // floor(log2 |x|)
    let ev = cv_msb(x.mag) + x.e;
    let emin = 1 - f.bias;
    let emax_exp = i32(cv_max_field(f)) - f.bias;
    if (ev > emax_exp) {
        return overflow;
    }
    let e = max(ev, emin);
    let qt = e - i32(m);
    var n: vec2<u32>;
    if (qt <= x.e) {
        n = cv_shl(x.mag, u32(x.e - qt));
    } else {
        n = cv_round_shr(x.mag, u32(min(qt - x.e, 65)));
    }
    if (cv_is_zero(n)) {
        return zero;
    }
    let max_sig = cv_max_mant(f) | cv_shl(cv_u64(1u), m);
    if (e == emax_exp && cv_lt(max_sig, n)) {
        return overflow;
    }
    if (ev < emin) {
        // subnormal: the code is the multiple of the smallest subnormal (a carry gives the
        // smallest normal)
        return sign | n;
    }
    // n in [2^m, 2^(m+1)]; 2^(m+1) carries into the next exponent
    return sign | cv_sub(cv_add(cv_shl(cv_u64(u32(e + f.bias)), m), n), cv_shl(cv_u64(1u), m));
}

// ---- E8M0 ----

fn cv_e8m0_decode(c: u32) -> CvNum {
    if (c == 0xffu) { return cv_nan(); }
    return CvNum(CV_FINITE, false, cv_u64(1u), i32(c) - 127);
}

// From the float32 image of x, ignoring the sign (as ONNX's reference does).
fn cv_e8m0_encode(x: CvNum, saturate: bool, round: u32) -> u32 {
    let bits = cv_encode(cv_fmt(CV_FMT_F32), x, false).x;
    let exp = (bits >> 23u) & 0xffu;
    if (exp == 0xffu) { return 0xffu; }
    let frac = bits & 0x7fffffu;
    var up = false;
    if (round == CV_ROUND_UP) {
        up = frac != 0u;
    } else if (round == CV_ROUND_NEAREST) {
        let g = (bits & 0x400000u) != 0u;
        let r = (bits & 0x200000u) != 0u;
        let s = (bits & 0x1fffffu) != 0u;
        up = g && (r || s || exp > 0u);
    }
    if (up && !(saturate && exp == 0xfeu)) {
        return exp + 1u;
    }
    return exp;
}

// ---- integers ----

// x truncated toward zero as a 64-bit two's-complement integer, saturating like Rust's
// `as i64` (NaN gives 0); with `to_u64`, positive values saturate at 2^64 - 1 instead.
fn cv_to_int(x: CvNum, to_u64: bool) -> vec2<u32> {
    if (x.cls == CV_NAN) {
        return vec2<u32>(0u, 0u);
    }
    var big = x.cls == CV_INF;
    var t = vec2<u32>(0u, 0u);
    if (x.cls == CV_FINITE && !cv_is_zero(x.mag)) {
        if (x.e >= 0) {
            if (cv_msb(x.mag) + x.e >= 64) {
                big = true;
            } else {
                t = cv_shl(x.mag, u32(x.e));
            }
        } else {
            t = cv_shr(x.mag, u32(min(-x.e, 64)));
        }
    }
    if (x.neg) {
        if (big || t.y >= 0x80000000u) {
            return vec2<u32>(0u, 0x80000000u);
        }
        return cv_neg(t);
    }
    if (to_u64) {
        return select(t, vec2<u32>(0xffffffffu, 0xffffffffu), big);
    }
    if (big || t.y >= 0x80000000u) {
        return vec2<u32>(0xffffffffu, 0x7fffffffu);
    }
    return t;
}

// An exact integer value (finite, e = 0 as cv_from_int builds it) as two's complement.
fn cv_int_bits(x: CvNum) -> vec2<u32> {
    return select(x.mag, cv_neg(x.mag), x.neg);
}

// ---- exact arithmetic (results carry a sticky bit, so one later rounding is exact) ----

// mag normalized so that its highest set bit is bit 62 (mag must be nonzero).
fn cv_norm(x: CvNum) -> CvNum {
    let s = 62 - cv_msb(x.mag);
    if (s >= 0) {
        return CvNum(x.cls, x.neg, cv_shl(x.mag, u32(s)), x.e - s);
    }
    // only bit 63 can be above bit 62: shift right by one, keeping the lost bit as sticky
    return CvNum(x.cls, x.neg, cv_shr(x.mag, 1u) | vec2<u32>(x.mag.x & 1u, 0u), x.e + 1);
}

fn cv_is_zero_num(x: CvNum) -> bool {
    return x.cls == CV_FINITE && cv_is_zero(x.mag);
}

fn cv_negate(x: CvNum) -> CvNum {
    return CvNum(x.cls, !x.neg, x.mag, x.e);
}

// x + y (IEEE rules for NaN, infinities and signed zeros), with at least 61 exact bits and a
// sticky bit.
fn cv_add_num(x: CvNum, y: CvNum) -> CvNum {
    if (x.cls == CV_NAN || y.cls == CV_NAN) { return cv_nan(); }
    if (x.cls == CV_INF && y.cls == CV_INF && x.neg != y.neg) { return cv_nan(); }
    if (x.cls == CV_INF) { return x; }
    if (y.cls == CV_INF) { return y; }
    if (cv_is_zero(x.mag) && cv_is_zero(y.mag)) {
        return CvNum(CV_FINITE, x.neg && y.neg, vec2<u32>(0u, 0u), 0);
    }
    if (cv_is_zero(x.mag)) { return y; }
    if (cv_is_zero(y.mag)) { return x; }
    var a = cv_norm(x);
    var b = cv_norm(y);
    if (b.e > a.e) {
        let t = a;
        a = b;
        b = t;
    }
    let d = u32(min(a.e - b.e, 64));
    let bs = cv_shr(b.mag, d);
    let sticky = !cv_eq(cv_shl(bs, d), b.mag) || (d >= 64u);
    if (a.neg == b.neg) {
        return CvNum(CV_FINITE, a.neg, cv_add(a.mag, bs) | vec2<u32>(select(0u, 1u, sticky), 0u), a.e);
    }
    if (d <= 1u) {
        // exact: a.mag << d has at most 64 bits
        let am = cv_shl(a.mag, d);
        if (cv_eq(am, b.mag)) {
            return CvNum(CV_FINITE, false, vec2<u32>(0u, 0u), 0);
        }
        if (cv_lt(am, b.mag)) {
            return CvNum(CV_FINITE, b.neg, cv_sub(b.mag, am), b.e);
        }
        return CvNum(CV_FINITE, a.neg, cv_sub(am, b.mag), b.e);
    }
    // d ≥ 2, so |a| - |b| > 2^61: a - (bs + ε) = (a - bs - 1) + (1 - ε)
    if (sticky) {
        return CvNum(CV_FINITE, a.neg, cv_sub(cv_sub(a.mag, bs), cv_u64(1u)) | cv_u64(1u), a.e);
    }
    return CvNum(CV_FINITE, a.neg, cv_sub(a.mag, bs), a.e);
}

// The full 64-bit product of two u32.
fn cv_mul32(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    return vec2<u32>((p00 & 0xffffu) | (mid << 16u), a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}

// x * y with at least 62 exact bits and a sticky bit.
fn cv_mul_num(x: CvNum, y: CvNum) -> CvNum {
    let neg = x.neg != y.neg;
    if (x.cls == CV_NAN || y.cls == CV_NAN) { return cv_nan(); }
    if (x.cls == CV_INF || y.cls == CV_INF) {
        if (cv_is_zero_num(x) || cv_is_zero_num(y)) { return cv_nan(); }
        return CvNum(CV_INF, neg, vec2<u32>(0u, 0u), 0);
    }
    if (cv_is_zero(x.mag) || cv_is_zero(y.mag)) {
        return CvNum(CV_FINITE, neg, vec2<u32>(0u, 0u), 0);
    }
    let a = x.mag;
    let b = y.mag;
    // 128-bit product in words w0..w3
    let p00 = cv_mul32(a.x, b.x);
    let p01 = cv_mul32(a.x, b.y);
    let p10 = cv_mul32(a.y, b.x);
    let p11 = cv_mul32(a.y, b.y);
    let mid = cv_add(cv_add(cv_u64(p00.y), cv_u64(p01.x)), cv_u64(p10.x));
    let w0 = p00.x;
    let w1 = mid.x;
    let hi = cv_add(cv_add(cv_add(p11, cv_u64(p01.y)), cv_u64(p10.y)), cv_u64(mid.y));
    // keep the top 64 bits of (hi:w1:w0), folding the rest into a sticky bit
    if (cv_is_zero(hi)) {
        return CvNum(CV_FINITE, neg, vec2<u32>(w0, w1), x.e + y.e);
    }
    let s = u32(cv_msb(hi) + 1);
    // top = (hi:w1:w0) >> s, lost = the low s bits
    let lo64 = vec2<u32>(w0, w1);
    let top = cv_shl(hi, 64u - s) | cv_shr(lo64, s);
    let lost = !cv_is_zero(lo64 & cv_mask(s));
    return CvNum(CV_FINITE, neg, top | cv_u64(select(0u, 1u, lost)), x.e + y.e + i32(s));
}

// x / y with at least 62 exact bits and a sticky bit.
fn cv_div_num(x: CvNum, y: CvNum) -> CvNum {
    let neg = x.neg != y.neg;
    if (x.cls == CV_NAN || y.cls == CV_NAN) { return cv_nan(); }
    if (x.cls == CV_INF) {
        if (y.cls == CV_INF) { return cv_nan(); }
        return CvNum(CV_INF, neg, vec2<u32>(0u, 0u), 0);
    }
    if (y.cls == CV_INF) {
        return CvNum(CV_FINITE, neg, vec2<u32>(0u, 0u), 0);
    }
    if (cv_is_zero(y.mag)) {
        if (cv_is_zero(x.mag)) { return cv_nan(); }
        return CvNum(CV_INF, neg, vec2<u32>(0u, 0u), 0);
    }
    if (cv_is_zero(x.mag)) {
        return CvNum(CV_FINITE, neg, vec2<u32>(0u, 0u), 0);
    }
    let a = cv_norm(x);
    let b = cv_norm(y);
    // restoring division: q = floor(A / B * 2^63), A, B in [2^62, 2^63)
    var r = a.mag;
    var q = vec2<u32>(0u, 0u);
    for (var i = 0u; i < 64u; i = i + 1u) {
        q = cv_shl(q, 1u);
        if (!cv_lt(r, b.mag)) {
            r = cv_sub(r, b.mag);
            q.x = q.x | 1u;
        }
        r = cv_shl(r, 1u);
    }
    let sticky = select(0u, 1u, !cv_is_zero(r));
    return CvNum(CV_FINITE, neg, q | cv_u64(sticky), a.e - b.e - 63);
}

// x rounded to the nearest value of float format f (overflow to ±inf where f has it), as
// the reference's `round_to` does.
fn cv_round(x: CvNum, f: u32) -> CvNum {
    let ff = cv_fmt(f);
    return cv_decode(ff, cv_encode(ff, x, false));
}

// x rounded to an integer (ties to even), saturated to ±2^30; x must not be NaN.
fn cv_rint_sat(x: CvNum) -> i32 {
    var m: i32;
    if (x.cls == CV_INF) {
        m = 1 << 30;
    } else if (x.e >= 0) {
        m = select(1 << 30, i32(x.mag.x << u32(x.e)), x.mag.y == 0u && cv_msb(x.mag) + x.e < 30);
    } else {
        let r = cv_round_shr(x.mag, u32(min(-x.e, 65)));
        m = select(1 << 30, i32(r.x), r.y == 0u && r.x < (1u << 30u));
    }
    return select(m, -m, x.neg);
}

// ---- stored elements (needs the LAYOUT_* and CLASS_* codes of the prelude) ----

// The value of an element fetched as `c` (a word, a 16-bit code, or a pair) of a buffer with
// this layout and class; `fmt` is the float format of CLASS_FLOAT.
fn cv_value(c: vec2<u32>, lay: u32, kind: u32, fmt: u32) -> CvNum {
    switch kind {
        case CLASS_SINT: {
            if (lay == LAYOUT_PAIR) {
                return cv_from_int(c, true);
            }
            return cv_from_i32(bitcast<i32>(c.x));
        }
        case CLASS_UINT, CLASS_BOOL: { return cv_from_int(c, false); }
        case CLASS_E8M0: { return cv_e8m0_decode(c.x); }
        default: { return cv_decode(cv_fmt(fmt), c); }
    }
}
