// QuantizeLinear (also DynamicQuantizeLinear's second pass): y = saturate(round(x / scale) +
// zero_point) per tensor, per axis or per block, exactly as the CPU reference computes it:
// x and scale optionally rounded to `precision` (p.pre_fmt), the quotient rounded to double
// and then to the operands' common type (p.prec_fmt), integers rounded half to even and
// clamped to [p.lo, p.hi] (NaN gives 0), float8/float4 results encoded from the quotient plus
// the zero point (in double) with p.saturate.
// Prelude: X_LAYOUT / X_CLASS, S_LAYOUT / S_CLASS (input and scale), Y_CLASS (CLASS_SINT,
// CLASS_UINT or CLASS_FLOAT; the output and zero point are one word per element), and the
// codec library. The scale/zero-point index of element i is
// (i / (inner * axis_len)) * o_stride + ((i / inner) % axis_len / block) * a_stride
// + (i % inner) * i_stride; with p.z_scalar the zero point is element 0.
struct Params {
    n: u32,
    x_fmt: u32,
    s_fmt: u32,
    y_fmt: u32,
    pre_fmt: u32,
    prec_fmt: u32,
    saturate: u32,
    z_scalar: u32,
    lo: i32,
    hi: i32,
    inner: u32,
    axis_len: u32,
    block: u32,
    o_stride: u32,
    a_stride: u32,
    i_stride: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> s: array<u32>;
@group(0) @binding(2) var<storage, read_write> z: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

// No format: leave the value unrounded.
const FMT_NONE: u32 = 0xffffffffu;

fn x_num(i: u32) -> CvNum {
    var c = cv_u64(x[i]);
    if (X_LAYOUT == LAYOUT_HALF) {
        c = cv_u64((x[i / 2u] >> (16u * (i % 2u))) & 0xffffu);
    } else if (X_LAYOUT == LAYOUT_PAIR) {
        c = vec2<u32>(x[2u * i], x[2u * i + 1u]);
    }
    return cv_value(c, X_LAYOUT, X_CLASS, p.x_fmt);
}

fn s_num(i: u32) -> CvNum {
    var c = cv_u64(s[i]);
    if (S_LAYOUT == LAYOUT_HALF) {
        c = cv_u64((s[i / 2u] >> (16u * (i % 2u))) & 0xffffu);
    } else if (S_LAYOUT == LAYOUT_PAIR) {
        c = vec2<u32>(s[2u * i], s[2u * i + 1u]);
    }
    return cv_value(c, S_LAYOUT, S_CLASS, p.s_fmt);
}

fn maybe_round(v: CvNum, f: u32) -> CvNum {
    if (f == FMT_NONE) {
        return v;
    }
    return cv_round(v, f);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let pi = (i / (p.inner * p.axis_len)) * p.o_stride + ((i / p.inner) % p.axis_len / p.block) * p.a_stride
        + (i % p.inner) * p.i_stride;
    let zi = select(pi, 0u, p.z_scalar != 0u);
    let xv = maybe_round(x_num(i), p.pre_fmt);
    let sv = maybe_round(s_num(pi), p.pre_fmt);
    let q = maybe_round(cv_round(cv_div_num(xv, sv), CV_FMT_F64), p.prec_fmt);
    if (Y_CLASS == CLASS_FLOAT) {
        let zv = cv_value(cv_u64(z[zi]), LAYOUT_WORD, CLASS_FLOAT, p.y_fmt);
        let v = cv_round(cv_add_num(q, zv), CV_FMT_F64);
        y[i] = cv_encode(cv_fmt(p.y_fmt), v, p.saturate != 0u).x;
        return;
    }
    var r = 0;
    if (q.cls != CV_NAN) {
        r = clamp(cv_rint_sat(q) + bitcast<i32>(z[zi]), p.lo, p.hi);
    }
    y[i] = bitcast<u32>(r);
}
