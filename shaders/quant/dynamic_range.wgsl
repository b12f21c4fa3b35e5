// DynamicQuantizeLinear, first pass (one workgroup): the range of x (float32) widened to
// include 0 (NaN ignored), then y_scale = (max - min) / 255 (1 / 255 when max == min) and
// y_zero_point = round(clamp(0 - min / y_scale, 0, 255)), in float32 arithmetic rounded
// exactly as the CPU reference's. Writes the scale's bits to s[0] and the zero point to z[0].
// Prelude: the codec library.
struct Params {
    n: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> s: array<u32>;
@group(0) @binding(2) var<storage, read_write> z: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> lo: array<f32, 256>;
var<workgroup> hi: array<f32, 256>;

fn f32_num(v: f32) -> CvNum {
    return cv_decode(cv_fmt(CV_FMT_F32), cv_u64(bitcast<u32>(v)));
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
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
        s[0] = cv_encode(cv_fmt(CV_FMT_F32), scale, false).x;
        z[0] = u32(zp);
    }
}
