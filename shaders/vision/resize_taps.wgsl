// Resize with tf_crop_and_resize and a run-time roi: writes the tap tables of one axis (see
// resize.wgsl / movement/axismap.wgsl) on the device. Output position o maps to the source
// coordinate start + o·span·(len−1)/(out_w−1) of the crop [roi[roi_lo], roi[roi_hi]]
// (evaluated in double-f32; outside the input: extrapolated, index −1); its `ntaps` taps sit
// at base + first_rel + j with weights f((first_rel + j − ratio)·filt_s) (f: linear hat or
// Keys cubic), optionally normalized and with taps outside the input excluded. Nearest writes
// one tap; mode 3 (an axis that is not resized) writes the identity.
// Prelude: a type library (T, the roi's type).
struct Params {
    len_in: u32,
    len_out: u32,
    ntaps: u32,
    tab_off: u32,
    roi_lo: u32,
    roi_hi: u32,
    mode: u32,
    nearest: u32,
    first_rel: i32,
    normalize: u32,
    exclude: u32,
    // The target length is 1 (or there is one output position): sample the crop's centre.
    center: u32,
    filt_s: f32,
    cubic_a: f32,
    // out_w − 1 (out_w = scale × len_in) as an unevaluated sum hi + lo.
    wm1_hi: f32,
    wm1_lo: f32,
    // 1.0 (see opaque()).
    one: f32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> roi: array<T>;
@group(0) @binding(1) var<storage, read_write> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const MODE_NEAREST: u32 = 0u;
const MODE_LINEAR: u32 = 1u;
const MODE_IDENTITY: u32 = 3u;

// The source coordinate decides floor, ties and the input's bounds as the f64 reference does,
// in double-f32 arithmetic from types/df32.wgsl (Params.one must be 1.0).

fn filter_weight(j: u32, ratio: f32) -> f32 {
    let t = (f32(p.first_rel + i32(j)) - ratio) * p.filt_s;
    if (p.mode == MODE_LINEAR) {
        return clamp(1.0 - abs(t), 0.0, 1.0);
    }
    let a = p.cubic_a;
    let u = abs(t);
    if (u <= 1.0) {
        return ((a + 2.0) * u - (a + 3.0)) * u * u + 1.0;
    }
    if (u < 2.0) {
        return ((a * u - 5.0 * a) * u + 8.0 * a) * u - 4.0 * a;
    }
    return 0.0;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = flat_index(gid, nwg, 256u);
    if (o >= p.len_out) {
        return;
    }
    let at = p.tab_off + o * p.ntaps;
    if (p.mode == MODE_IDENTITY) {
        idx[at] = i32(o);
        w[at] = 1.0;
        return;
    }
    let len = f32(p.len_in);
    let last = i32(p.len_in) - 1;
    let s = t_to_f32(roi[p.roi_lo]);
    let e = t_to_f32(roi[p.roi_hi]);
    // The crop's start and extent round to single precision, as in the reference.
    let start = s * (len - 1.0);
    let span = e - s;
    var x: vec2<f32>;
    if (p.center != 0u) {
        x = df_two_sum(span * (len - 1.0) / 2.0, start);
    } else {
        let t = df_mul_f(df_two_prod(f32(o), span), len - 1.0);
        x = df_add(vec2<f32>(start, 0.0), df_div(t, vec2<f32>(p.wm1_hi, p.wm1_lo)));
    }
    if (is_nan_f32(x.x) || df_lt(x, 0.0) || df_gt(x, f32(last))) {
        for (var j = 0u; j < p.ntaps; j = j + 1u) {
            idx[at + j] = -1;
            w[at + j] = 0.0;
        }
        return;
    }
    var fl = floor(x.x);
    if (x.x == fl && x.y < 0.0) {
        fl = fl - 1.0;
    }
    // The fraction x − floor(x), exactly enough to compare with 0 and 0.5.
    var frac = df_add(x, vec2<f32>(-fl, 0.0));
    var base = i32(fl);
    if (frac.x == 0.0 && frac.y == 0.0) {
        base = base - 1;
        frac = vec2<f32>(1.0, 0.0);
    }
    let ratio = frac.x + frac.y;
    if (p.mode == MODE_NEAREST) {
        var second = true;
        if (!(frac.x == 1.0 && frac.y == 0.0)) {
            switch p.nearest {
                case 0u: { second = df_gt(frac, 0.5); }
                case 1u: { second = !df_lt(frac, 0.5); }
                case 2u: { second = false; }
                default: { second = true; }
            }
        }
        idx[at] = clamp(base + select(0, 1, second), 0, last);
        w[at] = 1.0;
        return;
    }
    let first = base + p.first_rel;
    var sum = 0.0;
    for (var j = 0u; j < p.ntaps; j = j + 1u) {
        sum = sum + filter_weight(j, ratio);
    }
    var norm = 1.0;
    if (p.normalize != 0u && sum != 0.0) {
        norm = sum;
    }
    var kept = 0.0;
    for (var j = 0u; j < p.ntaps; j = j + 1u) {
        let k = first + i32(j);
        if (k >= 0 && k <= last) {
            kept = kept + filter_weight(j, ratio) / norm;
        }
    }
    for (var j = 0u; j < p.ntaps; j = j + 1u) {
        let k = first + i32(j);
        var wj = filter_weight(j, ratio) / norm;
        if (p.exclude != 0u) {
            if (k < 0 || k > last) {
                wj = 0.0;
            } else if (kept != 0.0) {
                wj = wj / kept;
            }
        }
        idx[at + j] = clamp(k, 0, last);
        w[at + j] = wj;
    }
}
