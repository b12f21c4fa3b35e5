// Type library: signed integers of T_BITS ≤ 32 bits (int8, int16, int32), stored as i32.
// Results wrap to T_BITS like C arithmetic on the narrow type. Prelude: T_BITS.
alias T = i32;
alias F = f32;
const T_IS_FLOAT: bool = false;
const T_IS_F64: bool = false;
const T_IS_SIGNED: bool = true;
fn t_wrap(x: i32) -> i32 { return (x << (32u - T_BITS)) >> (32u - T_BITS); }
fn t_to_f(x: T) -> F { return f32(x); }
fn t_from_f(x: F) -> T { return t_wrap(i32(trunc(x))); }
fn t_zero() -> T { return 0; }
fn t_one() -> T { return 1; }
fn t_lowest() -> T { return bitcast<i32>(0x80000000u) >> (32u - T_BITS); }
fn t_highest() -> T { return ~t_lowest(); }
fn t_add(a: T, b: T) -> T { return t_wrap(a + b); }
fn t_sub(a: T, b: T) -> T { return t_wrap(a - b); }
fn t_mul(a: T, b: T) -> T { return t_wrap(a * b); }
fn t_div(a: T, b: T) -> T { return select(t_wrap(a / b), 0, b == 0); }
fn t_rem(a: T, b: T) -> T { return select(a % b, 0, b == 0); }
fn t_min(a: T, b: T) -> T { return min(a, b); }
fn t_max(a: T, b: T) -> T { return max(a, b); }
fn t_neg(a: T) -> T { return t_wrap(-a); }
fn t_lt(a: T, b: T) -> bool { return a < b; }
fn t_eq(a: T, b: T) -> bool { return a == b; }
fn t_is_nan(a: T) -> bool { return false; }
fn t_and(a: T, b: T) -> T { return a & b; }
fn t_or(a: T, b: T) -> T { return a | b; }
fn t_xor(a: T, b: T) -> T { return a ^ b; }
fn t_not(a: T) -> T { return t_wrap(~a); }
// Shifts act on the T_BITS-bit pattern (stored sign-extended); a left shift by a count < 0 or
// ≥ T_BITS gives 0, a right shift is arithmetic and such a count leaves the sign fill (opset 28).
fn t_shl(a: T, b: T) -> T { return select(0, t_wrap(a << u32(b)), b >= 0 && u32(b) < T_BITS); }
fn t_shr(a: T, b: T) -> T {
    return select(select(0, -1, a < 0), a >> u32(b), b >= 0 && u32(b) < T_BITS);
}
fn t_to_f32(x: T) -> f32 { return f32(t_to_f(x)); }
fn t_from_f32(x: f32) -> T { return t_from_f(F(x)); }
fn t_exp(x: T) -> T { return t_from_f32(exp(t_to_f32(x))); }
fn t_log(x: T) -> T { return t_from_f32(log(t_to_f32(x))); }
fn t_sqrt(x: T) -> T { return t_from_f(sqrt(t_to_f(x))); }
