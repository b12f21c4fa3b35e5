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
