// MelWeightMatrix, first pass: the p.mel + 2 band edges (spectrogram bin indices)
// floor((n + 1) · hz_i / sample_rate), hz_i = 700 · expm1((i · step + mel(lo)) / 2595 · ln 10),
// mel(f) = 2595 · ln1p(f / 700) / ln 10, step = (mel(hi) - mel(lo)) / (p.mel + 2), computed in
// the codec library's exact arithmetic with 62-bit series for ln1p and expm1 (far more precise
// than the double-precision reference, so the floors agree unless a value lies within about
// 1e-15 of an integer). Invalid inputs (sample_rate ≤ 0, not 0 ≤ lo < hi < inf) give edges of
// -2^31, which the fill pass turns into NaN.
// Prelude: RATE_LAYOUT (the int32/int64 sample rate), HZ_LAYOUT (the float edges, format
// p.hz_fmt), and the codec library.
struct Params {
    count: u32,
    mel: u32,
    n: u32,
    hz_fmt: u32,
}

@group(0) @binding(0) var<storage, read_write> rate: array<u32>;
@group(0) @binding(1) var<storage, read_write> lo_hz: array<u32>;
@group(0) @binding(2) var<storage, read_write> hi_hz: array<u32>;
@group(0) @binding(3) var<storage, read_write> edges: array<i32>;
@group(0) @binding(4) var<uniform> p: Params;

fn hz_code(w0: u32, w1: u32) -> vec2<u32> {
    if (HZ_LAYOUT == LAYOUT_PAIR) {
        return vec2<u32>(w0, w1);
    }
    if (HZ_LAYOUT == LAYOUT_HALF) {
        return cv_u64(w0 & 0xffffu);
    }
    return cv_u64(w0);
}

fn ln2() -> CvNum {
    return CvNum(CV_FINITE, false, vec2<u32>(0xd1cf79acu, 0xb17217f7u), -64);
}

fn ln10() -> CvNum {
    return CvNum(CV_FINITE, false, vec2<u32>(0xaaa8ac17u, 0x935d8dddu), -62);
}

fn num(v: u32) -> CvNum {
    return cv_from_u32(v);
}

fn sub(a: CvNum, b: CvNum) -> CvNum {
    return cv_add_num(a, cv_negate(b));
}

// a < b (false with NaN).
fn less(a: CvNum, b: CvNum) -> bool {
    let d = sub(a, b);
    return d.cls != CV_NAN && d.neg && cv_nonzero(d);
}

// ln(1 + x) for finite x ≥ 0.
fn ln1p(x: CvNum) -> CvNum {
    let u = cv_add_num(num(1u), x);
    let k = cv_msb(u.mag) + u.e;
    // m = u / 2^k in [1, 2); ln m = 2 atanh(s), s = (m - 1) / (m + 1) ≤ 1/3
    let m = CvNum(u.cls, false, u.mag, u.e - k);
    let s = cv_div_num(sub(m, num(1u)), cv_add_num(m, num(1u)));
    let s2 = cv_mul_num(s, s);
    var term = s;
    var sum = s;
    for (var j = 1u; j < 24u; j = j + 1u) {
        term = cv_mul_num(term, s2);
        sum = cv_add_num(sum, cv_div_num(term, num(2u * j + 1u)));
    }
    let lnm = cv_mul_num(sum, num(2u));
    return cv_add_num(cv_mul_num(cv_from_i32(k), ln2()), lnm);
}

// exp(y) - 1 for finite y ≥ 0 (up to a few hundred).
fn expm1(y: CvNum) -> CvNum {
    let k = cv_rint_sat(cv_div_num(y, ln2()));
    let r = sub(y, cv_mul_num(cv_from_i32(k), ln2()));
    var term = num(1u);
    var sum = num(1u);
    for (var j = 1u; j < 26u; j = j + 1u) {
        term = cv_div_num(cv_mul_num(term, r), num(j));
        sum = cv_add_num(sum, term);
    }
    return sub(CvNum(sum.cls, sum.neg, sum.mag, sum.e + k), num(1u));
}

fn to_mel(f: CvNum) -> CvNum {
    return cv_div_num(cv_mul_num(num(2595u), ln1p(cv_div_num(f, num(700u)))), ln10());
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= p.count) {
        return;
    }
    var rc = vec2<u32>(rate[0], select(0u, 0xffffffffu, (rate[0] & 0x80000000u) != 0u));
    if (RATE_LAYOUT == LAYOUT_PAIR) {
        rc = vec2<u32>(rate[0], rate[1]);
    }
    let sr = cv_from_int(rc, true);
    let lo = cv_decode(cv_fmt(p.hz_fmt), hz_code(lo_hz[0], lo_hz[1 % arrayLength(&lo_hz)]));
    let hi = cv_decode(cv_fmt(p.hz_fmt), hz_code(hi_hz[0], hi_hz[1 % arrayLength(&hi_hz)]));
    let valid = !sr.neg && cv_nonzero(sr) && lo.cls == CV_FINITE && !less(lo, num(0u)) && hi.cls == CV_FINITE
        && less(lo, hi);
    if (!valid) {
        edges[i] = i32(0x80000000u);
        return;
    }
    let lo_mel = to_mel(lo);
    let step = cv_div_num(sub(to_mel(hi), lo_mel), num(p.mel + 2u));
    let z = cv_mul_num(cv_div_num(cv_add_num(cv_mul_num(num(i), step), lo_mel), num(2595u)), ln10());
    let hz = cv_mul_num(num(700u), expm1(z));
    let v = cv_div_num(cv_mul_num(num(p.n + 1u), hz), sr);
    if (v.neg && cv_nonzero(v)) {
        edges[i] = -1;
        return;
    }
    let t = cv_to_int(v, false);
    edges[i] = select(i32(t.x), 0x7fffffff, t.y != 0u || t.x > 0x7fffffffu);
}
