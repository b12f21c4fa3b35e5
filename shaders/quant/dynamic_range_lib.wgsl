// DynamicQuantizeLinear's range, shared by `dynamic_range.wgsl` (the range pass) and
// `dynamic_quantize.wgsl` (range and quantization in one workgroup): dq_range(t), called by
// every invocation t of a 256-wide workgroup over the float32 words x[0 .. p.n), leaves in
// dq_scale (f32 bits) and dq_zp the scale and zero point of the range of x widened to include
// 0 (NaN ignored): y_scale = (max - min) / 255 (1 / 255 when max == min), y_zero_point =
// round(clamp(0 - min / y_scale, 0, 255)), in float32 arithmetic rounded exactly as the CPU
// reference's. Needs the codec library, a storage binding `x: array<u32>` and p.n.

var<workgroup> lo: array<f32, 256>;
var<workgroup> hi: array<f32, 256>;
var<workgroup> dq_scale: u32;
var<workgroup> dq_zp: u32;

fn f32_num(v: f32) -> CvNum {
    return cv_decode(cv_fmt(CV_FMT_F32), cv_u64(bitcast<u32>(v)));
}

fn dq_range(t: u32) {
    var mn = 0.0;
    var mx = 0.0;
    for (var i = t; i < p.n; i = i + 256u) {
        let v = bitcast<f32>(x[i]);
        mx = select(mx, v, v > mx);
        mn = select(mn, v, v < mn);
    }
    lo[t] = mn;
    hi[t] = mx;
    workgroupBarrier();
    for (var w = 128u; w > 0u; w = w / 2u) {
        if (t < w) {
            hi[t] = select(hi[t], hi[t + w], hi[t + w] > hi[t]);
            lo[t] = select(lo[t], lo[t + w], lo[t + w] < lo[t]);
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        let vmin = f32_num(lo[0]);
        let vmax = f32_num(hi[0]);
        var range = cv_from_u32(1u);
        if (hi[0] != lo[0]) {
            range = cv_round(cv_add_num(vmax, cv_negate(vmin)), CV_FMT_F32);
        }
        let scale = cv_round(cv_div_num(range, cv_from_u32(255u)), CV_FMT_F32);
        let q = cv_round(cv_div_num(vmin, scale), CV_FMT_F32);
        var zp = 0;
        if (q.cls != CV_NAN) {
            zp = clamp(cv_rint_sat(cv_negate(q)), 0, 255);
        }
        dq_scale = cv_encode(cv_fmt(CV_FMT_F32), scale, false).x;
        dq_zp = u32(zp);
    }
    workgroupBarrier();
}
