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
// driver is), which moves quantization and rounding boundaries, and it does not promise that
// fma() is fused (Mesa's lavapipe does not fuse it, so an FMA residual alone left 3 of 192
// requantization multipliers one ulp off there). The FMA-corrected quotient is a first guess;
// div_f32_fix then settles it with exact integer arithmetic. Zeros, infinities and NaNs keep
// the plain quotient.
fn div_f32(a: f32, b: f32) -> f32 {
    let q = a / b;
    if (q == 0.0 || is_inf_f32(q) || is_nan_f32(q)) {
        return q;
    }
    return div_f32_fix(a, b, q + fma(-q, b, a) / b);
}

// Compares the 64-bit values (ah:al) and (bh:bl): -1, 0 or 1.
fn cmp_u64(ah: u32, al: u32, bh: u32, bl: u32) -> i32 {
    if (ah != bh) {
        return select(-1, 1, ah > bh);
    }
    if (al != bl) {
        return select(-1, 1, al > bl);
    }
    return 0;
}

// x * m as (hi, lo) for x < 2^26, m < 2^24 (16-bit halves; every partial product fits in u32).
fn mul_u64(x: u32, m: u32) -> vec2<u32> {
    let xh = x >> 16u;
    let xl = x & 0xffffu;
    let mh = m >> 16u;
    let ml = m & 0xffffu;
    let ll = xl * ml;
    let mid = xh * ml + xl * mh;
    let lo = ll + (mid << 16u);
    let carry = select(0u, 1u, lo < ll);
    return vec2<u32>(xh * mh + (mid >> 16u) + carry, lo);
}

// The correctly rounded (ties to even) quotient a / b from a guess q within a few ulps, for
// normal a, b and q; other cases return q. With integer mantissas m (24 bits) and biased
// exponents e, a normal x is m * 2^(e - 150); q is right when a lies between (2mq - 1) * b and
// (2mq + 1) * b halved (the lower midpoint is (4mq - 1) / 4 * b when mq is a power of two),
// which compares two integers below 2^50 exactly. Each step moves q one ulp toward a / b.
fn div_f32_fix(a: f32, b: f32, q: f32) -> f32 {
    let ua = bitcast<u32>(a) & 0x7fffffffu;
    let ub = bitcast<u32>(b) & 0x7fffffffu;
    let ea = ua >> 23u;
    let eb = ub >> 23u;
    if (ea == 0u || eb == 0u || ea == 255u || eb == 255u || is_nan_f32(q)) {
        return q;
    }
    let sign = (bitcast<u32>(a) ^ bitcast<u32>(b)) & 0x80000000u;
    let ma = (ua & 0x7fffffu) | 0x800000u;
    let mb = (ub & 0x7fffffu) | 0x800000u;
    var uq = bitcast<u32>(q) & 0x7fffffffu;
    for (var it = 0u; it < 4u; it++) {
        let eq = uq >> 23u;
        // a = ma * 2^sh * 2^(eq + eb - 151) against midpoint * b = P * 2^(eq + eb - 151).
        let sh = i32(ea) + 151 - i32(eq) - i32(eb);
        if (eq == 0u || eq >= 254u || sh < 1 || sh > 30) {
            break;
        }
        let mq = (uq & 0x7fffffu) | 0x800000u;
        let ah = ma >> u32(32 - sh);
        let al = ma << u32(sh);
        let up = mul_u64(2u * mq + 1u, mb);
        let c_up = cmp_u64(ah, al, up.x, up.y);
        if (c_up > 0 || (c_up == 0 && (mq & 1u) == 1u)) {
            uq = uq + 1u;
            if (c_up == 0) {
                break;
            }
            continue;
        }
        var c_dn: i32;
        if (mq == 0x800000u) {
            // Below a power of two the spacing halves: compare 2a with (4mq - 1) / 4 * b * 2.
            let ah2 = ma >> u32(31 - sh);
            let al2 = ma << u32(sh + 1);
            let dn = mul_u64(0x1ffffffu, mb);
            c_dn = cmp_u64(ah2, al2, dn.x, dn.y);
        } else {
            let dn = mul_u64(2u * mq - 1u, mb);
            c_dn = cmp_u64(ah, al, dn.x, dn.y);
        }
        if (c_dn < 0 || (c_dn == 0 && (mq & 1u) == 1u)) {
            uq = uq - 1u;
            if (c_dn == 0) {
                break;
            }
            continue;
        }
        break;
    }
    return bitcast<f32>(uq | sign);
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
