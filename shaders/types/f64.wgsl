// Type library: f64 (needs the shader-f64 feature); math runs in f64 where WGSL allows it.
alias T = f64;
alias F = f64;
const T_IS_FLOAT: bool = true;
const T_IS_F64: bool = true;
const T_IS_SIGNED: bool = true;
fn t_to_f(x: T) -> F { return x; }
fn t_from_f(x: F) -> T { return x; }
fn t_zero() -> T { return f64(0.0); }
fn t_one() -> T { return f64(1.0); }
fn t_lowest() -> T { return f64(bitcast<f32>(0xff800000u)); }
fn t_highest() -> T { return f64(bitcast<f32>(0x7f800000u)); }
fn t_add(a: T, b: T) -> T { return a + b; }
fn t_sub(a: T, b: T) -> T { return a - b; }
fn t_mul(a: T, b: T) -> T { return a * b; }
fn t_div(a: T, b: T) -> T { return a / b; }
fn t_rem(a: T, b: T) -> T {
    if (abs(b) > f64(1.7e308) && abs(a) <= f64(1.7e308)) { return a; }
    return a - b * trunc(a / b);
}
fn t_min(a: T, b: T) -> T { return min(a, b); }
fn t_max(a: T, b: T) -> T { return max(a, b); }
fn t_neg(a: T) -> T { return -a; }
fn t_lt(a: T, b: T) -> bool { return a < b; }
fn t_eq(a: T, b: T) -> bool { return a == b; }
fn t_is_nan(a: T) -> bool { return a != a; }
fn t_and(a: T, b: T) -> T { return a; }
fn t_or(a: T, b: T) -> T { return a; }
fn t_xor(a: T, b: T) -> T { return a; }
fn t_not(a: T) -> T { return a; }
fn t_shl(a: T, b: T) -> T { return a; }
fn t_shr(a: T, b: T) -> T { return a; }
fn t_to_f32(x: T) -> f32 { return f32(t_to_f(x)); }
fn t_from_f32(x: f32) -> T { return t_from_f(F(x)); }
// exp and log in full double precision (WGSL has no f64 transcendentals): reduce the
// argument by powers of two (exact), then a short series on the small remainder.
fn t_exp(x: T) -> T {
    if (x != x) { return x; }
    if (x > f64(709.782712893384)) { return t_highest(); }
    if (x < f64(-745.2)) { return f64(0.0); }
    // x = k·ln2 + r with |r| ≤ ln2/2; ln2 split in a high part exact in k·ln2_hi and a low part.
    let k = round(x * f64(1.4426950408889634));
    let r = (x - k * f64(0.6931471803691238)) - k * f64(1.9082149292705877e-10);
    var p = f64(1.0);
    for (var i = 14; i >= 1; i = i - 1) {
        p = f64(1.0) + r * p / f64(i);
    }
    return ldexp(p, i32(k));
}
fn t_log(x: T) -> T {
    if (x != x || x < f64(0.0)) {
        let z = x * f64(0.0);
        return z / z;
    }
    if (x == f64(0.0)) { return t_lowest(); }
    if (x > f64(1.7976931348623157e308)) { return x; }
    // x = m·2^e with m in [√½, √2).
    var m = x;
    var e = f64(0.0);
    while (m >= f64(4294967296.0)) { m = m * f64(2.3283064365386963e-10); e = e + f64(32.0); }
    while (m < f64(1.0)) { m = m * f64(4294967296.0); e = e - f64(32.0); }
    while (m >= f64(2.0)) { m = m * f64(0.5); e = e + f64(1.0); }
    if (m > f64(1.4142135623730951)) { m = m * f64(0.5); e = e + f64(1.0); }
    // log(m) = 2·atanh(s), s = (m-1)/(m+1), |s| < 0.172.
    let s = (m - f64(1.0)) / (m + f64(1.0));
    let s2 = s * s;
    var q = f64(0.0);
    for (var j = 12; j >= 1; j = j - 1) {
        q = f64(1.0) / f64(2 * j + 1) + s2 * q;
    }
    let logm = f64(2.0) * s * (f64(1.0) + s2 * q);
    return e * f64(0.6931471803691238) + (e * f64(1.9082149292705877e-10) + logm);
}
fn t_sqrt(x: T) -> T { return t_from_f(sqrt(t_to_f(x))); }
