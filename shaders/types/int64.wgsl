// Type library: int64 / uint64 as vec2<u32> (low word, high word), exact two's-complement
// arithmetic emulated with 32-bit operations. Prelude: T_SIGNED64 (int64 vs uint64).
alias T = vec2<u32>;
alias F = f32;
const T_IS_FLOAT: bool = false;
const T_IS_F64: bool = false;
const T_IS_SIGNED: bool = T_SIGNED64;
fn t_zero() -> T { return vec2<u32>(0u, 0u); }
fn t_one() -> T { return vec2<u32>(1u, 0u); }
fn t_lowest() -> T { return select(vec2<u32>(0u, 0u), vec2<u32>(0u, 0x80000000u), T_SIGNED64); }
fn t_highest() -> T { return select(vec2<u32>(0xffffffffu, 0xffffffffu), vec2<u32>(0xffffffffu, 0x7fffffffu), T_SIGNED64); }
fn t_add(a: T, b: T) -> T {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}
fn t_sub(a: T, b: T) -> T {
    return vec2<u32>(a.x - b.x, a.y - b.y - select(0u, 1u, a.x < b.x));
}
// The full 64-bit product of two u32.
fn mul_wide(a: u32, b: u32) -> vec2<u32> {
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
fn t_mul(a: T, b: T) -> T {
    let p = mul_wide(a.x, b.x);
    return vec2<u32>(p.x, p.y + a.x * b.y + a.y * b.x);
}
fn t_neg(a: T) -> T { return t_sub(t_zero(), a); }
fn is_negative(a: T) -> bool { return T_SIGNED64 && (a.y & 0x80000000u) != 0u; }
fn ult(a: T, b: T) -> bool { return a.y < b.y || (a.y == b.y && a.x < b.x); }
fn t_lt(a: T, b: T) -> bool {
    if (T_SIGNED64) {
        let ah = bitcast<i32>(a.y);
        let bh = bitcast<i32>(b.y);
        return ah < bh || (ah == bh && a.x < b.x);
    }
    return ult(a, b);
}
fn t_eq(a: T, b: T) -> bool { return a.x == b.x && a.y == b.y; }
fn t_min(a: T, b: T) -> T { return select(b, a, t_lt(a, b)); }
fn t_max(a: T, b: T) -> T { return select(a, b, t_lt(a, b)); }
fn t_abs(a: T) -> T { return select(a, t_neg(a), is_negative(a)); }
// Unsigned long division: (quotient, remainder) by shift and subtract.
fn udivmod(n: T, d: T) -> array<T, 2> {
    var q = t_zero();
    var r = t_zero();
    for (var i = 63; i >= 0; i = i - 1) {
        r = vec2<u32>(r.x << 1u, (r.y << 1u) | (r.x >> 31u));
        let bit = select((n.x >> u32(i)) & 1u, (n.y >> u32(i - 32)) & 1u, i >= 32);
        r.x = r.x | bit;
        if (!ult(r, d)) {
            r = t_sub(r, d);
            if (i >= 32) { q.y = q.y | (1u << u32(i - 32)); } else { q.x = q.x | (1u << u32(i)); }
        }
    }
    return array<T, 2>(q, r);
}
fn t_div(a: T, b: T) -> T {
    if (t_eq(b, t_zero())) { return t_zero(); }
    let qr = udivmod(t_abs(a), t_abs(b));
    return select(qr[0], t_neg(qr[0]), is_negative(a) != is_negative(b));
}
fn t_rem(a: T, b: T) -> T {
    if (t_eq(b, t_zero())) { return t_zero(); }
    let qr = udivmod(t_abs(a), t_abs(b));
    return select(qr[1], t_neg(qr[1]), is_negative(a));
}
fn t_to_f(x: T) -> F {
    if (is_negative(x)) { return -t_to_f_unsigned(t_neg(x)); }
    return t_to_f_unsigned(x);
}
fn t_to_f_unsigned(x: T) -> F { return f32(x.y) * 4294967296.0 + f32(x.x); }
fn t_from_f(v: F) -> T {
    let x = trunc(v);
    let m = abs(x);
    let hi = floor(m / 4294967296.0);
    let r = vec2<u32>(u32(m - hi * 4294967296.0), u32(hi));
    return select(r, t_neg(r), x < 0.0);
}
fn t_is_nan(a: T) -> bool { return false; }
fn t_and(a: T, b: T) -> T { return a & b; }
fn t_or(a: T, b: T) -> T { return a | b; }
fn t_xor(a: T, b: T) -> T { return a ^ b; }
fn t_not(a: T) -> T { return ~a; }
fn t_shl(a: T, b: T) -> T {
    let n = b.x;
    if (b.y != 0u || n >= 64u) { return t_zero(); }
    if (n >= 32u) { return vec2<u32>(0u, a.x << (n - 32u)); }
    if (n == 0u) { return a; }
    return vec2<u32>(a.x << n, (a.y << n) | (a.x >> (32u - n)));
}
// Right shifts of int64 are arithmetic (opset 28): out-of-range counts leave the sign fill.
fn t_shr(a: T, b: T) -> T {
    let n = b.x;
    let fill = select(0u, 0xffffffffu, T_SIGNED64 && (a.y & 0x80000000u) != 0u);
    if (b.y != 0u || n >= 64u) { return vec2<u32>(fill, fill); }
    if (n >= 32u) { return vec2<u32>(t_shr_word(a.y, n - 32u), fill); }
    if (n == 0u) { return a; }
    return vec2<u32>((a.x >> n) | (a.y << (32u - n)), t_shr_word(a.y, n));
}
fn t_shr_word(w: u32, n: u32) -> u32 {
    return select(w >> n, bitcast<u32>(bitcast<i32>(w) >> n), T_SIGNED64);
}
fn t_to_f32(x: T) -> f32 { return f32(t_to_f(x)); }
fn t_from_f32(x: f32) -> T { return t_from_f(F(x)); }
fn t_exp(x: T) -> T { return t_from_f32(exp(t_to_f32(x))); }
fn t_log(x: T) -> T { return t_from_f32(log(t_to_f32(x))); }
fn t_sqrt(x: T) -> T { return t_from_f(sqrt(t_to_f(x))); }
