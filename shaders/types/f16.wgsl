// Type library: f16 (needs the shader-f16 feature); math runs in f32.
alias T = f16;
alias F = f32;
const T_IS_FLOAT: bool = true;
const T_IS_F64: bool = false;
const T_IS_SIGNED: bool = true;
fn t_to_f(x: T) -> F { return f32(x); }
fn t_from_f(x: F) -> T { return f16(x); }
fn t_zero() -> T { return f16(0.0); }
fn t_one() -> T { return f16(1.0); }
fn t_lowest() -> T { return f16(bitcast<f32>(0xff800000u)); }
fn t_highest() -> T { return f16(bitcast<f32>(0x7f800000u)); }
fn t_add(a: T, b: T) -> T { return f16(f32(a) + f32(b)); }
fn t_sub(a: T, b: T) -> T { return f16(f32(a) - f32(b)); }
fn t_mul(a: T, b: T) -> T { return f16(f32(a) * f32(b)); }
fn t_div(a: T, b: T) -> T { return f16(div_f32(f32(a), f32(b))); }
fn t_rem(a: T, b: T) -> T {
    let x = f32(a);
    let y = f32(b);
    if (is_inf_f32(y) && !is_inf_f32(x) && !is_nan_f32(x)) { return a; }
    return f16(x % y);
}
fn t_min(a: T, b: T) -> T { return min(a, b); }
fn t_max(a: T, b: T) -> T { return max(a, b); }
fn t_neg(a: T) -> T { return -a; }
fn t_lt(a: T, b: T) -> bool { return a < b; }
fn t_eq(a: T, b: T) -> bool { return a == b; }
fn t_is_nan(a: T) -> bool { return is_nan_f32(f32(a)); }
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
