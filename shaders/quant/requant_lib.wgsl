// QLinearMatMul / QLinearConv requantization shared by `matmul_int.wgsl`, `conv_int.wgsl` and
// `dp4_lib.wgsl`, exactly as the CPU reference: mult = round_to(ts, round_to(ts, s1 * s2) /
// sy), y = clamp(round(acc * mult) + zy, p.lo, p.hi) (0 where the product is NaN).
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
    let v = cv_round(cv_mul_num(cv_from_i32(acc), mult), CV_FMT_F64);
    if (v.cls == CV_NAN) {
        return 0;
    }
    return clamp(cv_rint_sat(v) + zy, p.lo, p.hi);
}
