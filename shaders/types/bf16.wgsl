// Type library: bfloat16, stored widened to f32 (the upper 16 bits); every result is rounded
// to bfloat16 (nearest, ties to even), like ONNX Runtime's bf16 kernels computing in f32.
alias T = f32;
alias F = f32;
const T_IS_FLOAT: bool = true;
const T_IS_F64: bool = false;
const T_IS_SIGNED: bool = true;
fn bf16_round(x: f32) -> f32 {
    let u = bitcast<u32>(x);
    if (is_nan_f32(x)) { return x; }
    return bitcast<f32>((u + 0x7fffu + ((u >> 16u) & 1u)) & 0xffff0000u);
}
fn t_to_f(x: T) -> F { return x; }
fn t_from_f(x: F) -> T { return bf16_round(x); }
fn t_zero() -> T { return 0.0; }
fn t_one() -> T { return 1.0; }
fn t_lowest() -> T { return bitcast<f32>(0xff800000u); }
fn t_highest() -> T { return bitcast<f32>(0x7f800000u); }
fn t_add(a: T, b: T) -> T { return bf16_round(a + b); }
fn t_sub(a: T, b: T) -> T { return bf16_round(a - b); }
fn t_mul(a: T, b: T) -> T { return bf16_round(a * b); }
fn t_div(a: T, b: T) -> T { return bf16_round(div_f32(a, b)); }
fn t_rem(a: T, b: T) -> T {
    if (is_inf_f32(b) && !is_inf_f32(a) && !is_nan_f32(a)) { return a; }
    return bf16_round(a % b);
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
