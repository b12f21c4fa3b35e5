// Shared helpers, appended after every shader's generated prelude.

// The flat index of an invocation in a 2-D grid of 1-D workgroups of `wg` threads
// (grids wider than 65535 workgroups spill into y).
fn flat_index(gid: vec3<u32>, nwg: vec3<u32>, wg: u32) -> u32 {
    return gid.x + gid.y * nwg.x * wg;
}

// The flat index of a workgroup in a 2-D grid.
fn flat_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// Error function, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
fn erf_f32(x: f32) -> f32 {
    let a = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
    return select(-y, y, x >= 0.0);
}

// a / b rounded as IEEE division would be: WGSL lets `/` be off by 2.5 ulp (NVIDIA's Vulkan
// driver is), which moves quantization and rounding boundaries. One FMA correction step: the
// exact residual r = a - q*b, then q + r/b. Zeros, infinities and NaNs keep the plain quotient.
fn div_f32(a: f32, b: f32) -> f32 {
    let q = a / b;
    if (q == 0.0 || is_inf_f32(q) || is_nan_f32(q)) {
        return q;
    }
    return q + fma(-q, b, a) / b;
}

fn is_nan_f32(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

fn is_inf_f32(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u;
}

// pow with C's rules for negative bases (WGSL's pow is undefined there): an integer exponent
// gives the magnitude with the sign of an odd power, any other exponent NaN.
fn pow_f32(x: f32, y: f32) -> f32 {
    if (y == 0.0) {
        return 1.0;
    }
    if (!(x < 0.0)) {
        return pow(x, y);
    }
    if (y != floor(y)) {
        return bitcast<f32>(0x7fc00000u);
    }
    let m = pow(-x, y);
    return select(m, -m, fract(y * 0.5) != 0.0);
}
