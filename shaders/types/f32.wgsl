// Type library: f32. Every element type provides the same functions (see types/README in
// src/backend/wgpu/shaders.rs): T is the stored element, F the float type math runs in.
alias T = f32;
alias F = f32;
const T_IS_FLOAT: bool = true;
const T_IS_F64: bool = false;
const T_IS_SIGNED: bool = true;
fn t_to_f(x: T) -> F { return x; }
fn t_from_f(x: F) -> T { return x; }
fn t_zero() -> T { return 0.0; }
fn t_one() -> T { return 1.0; }
fn t_lowest() -> T { return bitcast<f32>(0xff800000u); }
fn t_highest() -> T { return bitcast<f32>(0x7f800000u); }
fn t_add(a: T, b: T) -> T { return a + b; }
fn t_sub(a: T, b: T) -> T { return a - b; }
fn t_mul(a: T, b: T) -> T { return a * b; }
fn t_div(a: T, b: T) -> T { return div_f32(a, b); }
fn t_rem(a: T, b: T) -> T {
    if (is_inf_f32(b) && !is_inf_f32(a) && !is_nan_f32(a)) { return a; }
    return a % b;
}
fn t_min(a: T, b: T) -> T { return min(a, b); }
fn t_max(a: T, b: T) -> T { return max(a, b); }
fn t_neg(a: T) -> T { return -a; }
fn t_lt(a: T, b: T) -> bool { return a < b; }
fn t_eq(a: T, b: T) -> bool { return a == b; }
fn t_is_nan(a: T) -> bool { return is_nan_f32(a); }
fn t_and(a: T, b: T) -> T { return a; }
fn t_or(a: T, b: T) -> T { return a; }
fn t_xor(a: T, b: T) -> T { return a; }
fn t_not(a: T) -> T { return a; }
fn t_shl(a: T, b: T) -> T { return a; }
fn t_shr(a: T, b: T) -> T { return a; }
fn t_to_f32(x: T) -> f32 { return f32(t_to_f(x)); }
fn t_from_f32(x: f32) -> T { return t_from_f(F(x)); }
fn t_exp(x: T) -> T { return t_from_f32(exp(t_to_f32(x))); }
fn t_log(x: T) -> T { return t_from_f32(log(t_to_f32(x))); }
fn t_sqrt(x: T) -> T { return t_from_f(sqrt(t_to_f(x))); }
