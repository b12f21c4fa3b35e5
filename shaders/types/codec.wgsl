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
