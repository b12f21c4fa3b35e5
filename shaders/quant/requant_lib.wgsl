// QLinearMatMul / QLinearConv requantization shared by `matmul_int.wgsl`, `conv_int.wgsl` and
// `dp4_lib.wgsl`, exactly as the CPU reference: mult = round_to(ts, round_to(ts, s1 * s2) /
// sy), y = clamp(round(f32(acc) * f32(mult)) + zy, p.lo, p.hi) (0 where the product is NaN): the
// product is taken in f32 as ONNX Runtime (MLAS) does, so ties round as they do there.
// Needs the codec library, S_LAYOUT (the scales' layout: LAYOUT_WORD or LAYOUT_HALF) and the
// Params fields s_fmt (the scales' float format), ts_fmt (ts; FMT_NONE: no rounding), lo, hi.

const FMT_NONE: u32 = 0xffffffffu;

// Scale i of a scale tensor whose word word_index(i) is w.
fn scale(w: u32, i: u32) -> CvNum {
    var c = cv_u64(w);
    if (S_LAYOUT == LAYOUT_HALF) {
        c = cv_u64((w >> (16u * (i % 2u))) & 0xffffu);
    }
    return cv_value(c, S_LAYOUT, CLASS_FLOAT, p.s_fmt);
}

fn word_index(i: u32) -> u32 {
    return select(i, i / 2u, S_LAYOUT == LAYOUT_HALF);
}

fn maybe_round(v: CvNum, f: u32) -> CvNum {
    if (f == FMT_NONE) {
        return v;
    }
    return cv_round(v, f);
}

fn requant(acc: i32, s1: CvNum, s2: CvNum, sy: CvNum, zy: i32) -> i32 {
    let ab = maybe_round(cv_round(cv_mul_num(s1, s2), CV_FMT_F64), p.ts_fmt);
    let mult = maybe_round(cv_round(cv_div_num(ab, sy), CV_FMT_F64), p.ts_fmt);
    // Both factors are f32 values, so their exact product rounded once is the f32 product.
    let acc32 = cv_round(cv_from_i32(acc), CV_FMT_F32);
    let v = cv_round(cv_mul_num(acc32, cv_round(mult, CV_FMT_F32)), CV_FMT_F32);
    if (v.cls == CV_NAN) {
        return 0;
    }
    return clamp(cv_rint_sat(v) + zy, p.lo, p.hi);
}

// requant() on the raw scale words w1 (scale i1 of the first tensor), w2 (i2) and wy (the
// output's). f32 scales (the common case) take native f32 arithmetic, which gives the same
// bits as the codec path: a correctly rounded product, div_f32's corrected quotient, the
// accumulator converted to f32 with ties to even, one rounded product. Products or
// multipliers outside the normal range (where a device may flush subnormals) and other scale
// formats take the codec path.
fn requant_words(acc: i32, w1: u32, i1: u32, w2: u32, i2: u32, wy: u32, zy: i32) -> i32 {
    if (S_LAYOUT == LAYOUT_WORD && p.s_fmt == CV_FMT_F32 && p.ts_fmt == CV_FMT_F32) {
        let ab = bitcast<f32>(w1) * bitcast<f32>(w2);
        let mult = div_f32(ab, bitcast<f32>(wy));
        if (f32_normal(ab) && f32_normal(mult)) {
            let v = i32_to_f32_rne(acc) * mult;
            if (is_nan_f32(v)) {
                return 0;
            }
            // lo - zy and hi - zy are integers, so clamping before rounding is the same.
            return i32(round(clamp(v, f32(p.lo - zy), f32(p.hi - zy)))) + zy;
        }
    }
    return requant(acc, scale(w1, i1), scale(w2, i2), scale(wy, 0u), zy);
}

fn f32_normal(x: f32) -> bool {
    let e = (bitcast<u32>(x) >> 23u) & 0xffu;
    return e != 0u && e != 0xffu;
}

// v as f32, rounded to nearest with ties to even (exact below 2^24).
fn i32_to_f32_rne(v: i32) -> f32 {
    let neg = v < 0;
    let u = select(u32(v), 0u - u32(v), neg);
    if (u < (1u << 24u)) {
        return f32(v);
    }
    let shift = 8u - countLeadingZeros(u);
    let q = u >> shift;
    let rem = u & ((1u << shift) - 1u);
    let half = 1u << (shift - 1u);
    var r = q;
    if (rem > half || (rem == half && (q & 1u) == 1u)) {
        r = q + 1u;
    }
    let f = f32(r) * exp2(f32(shift));
    return select(f, -f, neg);
}
