// Type library: unsigned integers of T_BITS ≤ 32 bits (uint8, uint16, uint32, and bool as
// 0/1), stored as u32. Results wrap to T_BITS. Prelude: T_BITS.
alias T = u32;
alias F = f32;
const T_IS_FLOAT: bool = false;
const T_IS_F64: bool = false;
const T_IS_SIGNED: bool = false;
fn t_wrap(x: u32) -> u32 { return x & (0xffffffffu >> (32u - T_BITS)); }
fn t_to_f(x: T) -> F { return f32(x); }
fn t_from_f(x: F) -> T { return t_wrap(select(u32(trunc(x)), bitcast<u32>(i32(trunc(x))), x < 0.0)); }
fn t_zero() -> T { return 0u; }
fn t_one() -> T { return 1u; }
fn t_lowest() -> T { return 0u; }
fn t_highest() -> T { return t_wrap(0xffffffffu); }
fn t_add(a: T, b: T) -> T { return t_wrap(a + b); }
fn t_sub(a: T, b: T) -> T { return t_wrap(a - b); }
fn t_mul(a: T, b: T) -> T { return t_wrap(a * b); }
fn t_div(a: T, b: T) -> T { return select(a / b, 0u, b == 0u); }
fn t_rem(a: T, b: T) -> T { return select(a % b, 0u, b == 0u); }
fn t_min(a: T, b: T) -> T { return min(a, b); }
fn t_max(a: T, b: T) -> T { return max(a, b); }
fn t_neg(a: T) -> T { return t_wrap(0u - a); }
fn t_lt(a: T, b: T) -> bool { return a < b; }
fn t_eq(a: T, b: T) -> bool { return a == b; }
fn t_is_nan(a: T) -> bool { return false; }
fn t_and(a: T, b: T) -> T { return a & b; }
fn t_or(a: T, b: T) -> T { return a | b; }
fn t_xor(a: T, b: T) -> T { return a ^ b; }
fn t_not(a: T) -> T { return t_wrap(~a); }
fn t_shl(a: T, b: T) -> T { return select(0u, t_wrap(a << b), b < T_BITS); }
fn t_shr(a: T, b: T) -> T { return select(0u, a >> b, b < T_BITS); }
fn t_to_f32(x: T) -> f32 { return f32(t_to_f(x)); }
fn t_from_f32(x: f32) -> T { return t_from_f(F(x)); }
fn t_exp(x: T) -> T { return t_from_f32(exp(t_to_f32(x))); }
fn t_log(x: T) -> T { return t_from_f32(log(t_to_f32(x))); }
fn t_sqrt(x: T) -> T { return t_from_f(sqrt(t_to_f(x))); }
