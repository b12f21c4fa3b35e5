// GridSample over 1 to 3 spatial dims: y[b, c, o] = Σ over the per-axis taps of the sampling
// point grid[b, o, :] (listed innermost axis first) of Π w_d · x[b, c, idx…], in f32.
// Coordinates unnormalize with align_corners; nearest rounds the exact coordinate half to even; linear takes 2
// taps, cubic 4 (Keys, a = −0.75); zeros / border / reflection padding as in the reference
// (cubic pads each tap, the other modes the coordinate). Prelude: a type library (T).
struct Params {
    n: u32,
    c: u32,
    nd: u32,
    mode: u32,
    padding: u32,
    align: u32,
    // 1.0 (see opaque()).
    one: f32,
    pad1: u32,
    in_sp: vec4<u32>,
    out_sp: vec4<u32>,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> grid: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<uniform> p: Params;

const MODE_NEAREST: u32 = 0u;
const MODE_LINEAR: u32 = 1u;
const MODE_CUBIC: u32 = 2u;
const PAD_ZEROS: u32 = 0u;
const PAD_BORDER: u32 = 1u;

struct Taps {
    idx: vec4<i32>,
    w: vec4<f32>,
}

fn reflect_into(x: f32, lo: f32, hi: f32) -> f32 {
    let range = hi - lo;
    if (range <= 0.0) {
        return lo;
    }
    if (x < lo) {
        let dx = lo - x;
        let k = floor(dx / range);
        let r = dx - k * range;
        return select(hi - r, lo + r, k % 2.0 == 0.0);
    }
    if (x > hi) {
        let dx = x - hi;
        let k = floor(dx / range);
        let r = dx - k * range;
        return select(lo + r, hi - r, k % 2.0 == 0.0);
    }
    return x;
}

// The input index integer position i reads (−1: zero padding).
fn tap(i: i32, len: u32, lo: f32, hi: f32) -> i32 {
    let last = i32(len) - 1;
    if (p.padding == PAD_ZEROS) {
        return select(-1, i, i >= 0 && i <= last);
    }
    if (p.padding == PAD_BORDER) {
        return clamp(i, 0, last);
    }
    return clamp(i32(reflect_into(f32(i), lo, hi)), 0, last);
}

fn cubic(x: f32) -> f32 {
    let a = -0.75;
    let u = abs(x);
    if (u <= 1.0) {
        return ((a + 2.0) * u - (a + 3.0)) * u * u + 1.0;
    }
    if (u < 2.0) {
        return ((a * u - 5.0 * a) * u + 8.0 * a) * u - 4.0 * a;
    }
    return 0.0;
}

// Nearest mode decides halfway cases on the exact unnormalized coordinate (the f64
// reference unnormalizes a single-precision grid value exactly), in double-f32 arithmetic from
// types/df32.wgsl (Params.one must be 1.0).

// The unnormalized coordinate of g, rounded half to even, from its exact value.
fn nearest_coord(g: f32, n: f32) -> f32 {
    let g1 = df_two_sum(g, 1.0);
    var v: vec2<f32>;
    if (p.align != 0u) {
        v = df_mul_f(g1, n - 1.0) * 0.5;
    } else {
        v = df_add(df_mul_f(g1, n), vec2<f32>(-1.0, 0.0)) * 0.5;
    }
    var r = round(v.x);
    if (abs(v.x - r) == 0.5 && v.y != 0.0) {
        r = select(v.x - 0.5, v.x + 0.5, v.y > 0.0);
    }
    return r;
}

fn axis_taps(g: f32, len: u32) -> Taps {
    var t: Taps;
    t.idx = vec4<i32>(-1);
    t.w = vec4<f32>(0.0);
    let n = f32(len);
    var lo = -0.5;
    var hi = n - 0.5;
    var x = ((g + 1.0) * n - 1.0) / 2.0;
    if (p.align != 0u) {
        lo = 0.0;
        hi = n - 1.0;
        x = (g + 1.0) / 2.0 * (n - 1.0);
    }
    if (p.mode == MODE_NEAREST) {
        x = nearest_coord(g, n);
    }
    if ((x < lo || x > hi) && p.mode != MODE_CUBIC) {
        if (p.padding == PAD_BORDER) {
            x = clamp(x, 0.0, n - 1.0);
        } else if (p.padding != PAD_ZEROS) {
            x = reflect_into(x, lo, hi);
        }
    }
    if (is_nan_f32(x) || is_inf_f32(x)) {
        return t;
    }
    // Far outside every input: the same taps, without overflowing i32.
    x = clamp(x, -1073741824.0, 1073741824.0);
    if (p.mode == MODE_NEAREST) {
        t.idx.x = tap(i32(trunc(x)), len, lo, hi);
        t.w.x = 1.0;
        return t;
    }
    let x0 = floor(x);
    let f = x - x0;
    let i = i32(x0);
    if (p.mode == MODE_LINEAR) {
        t.idx = vec4<i32>(tap(i, len, lo, hi), tap(i + 1, len, lo, hi), -1, -1);
        t.w = vec4<f32>(1.0 - f, f, 0.0, 0.0);
        return t;
    }
    t.idx = vec4<i32>(tap(i - 1, len, lo, hi), tap(i, len, lo, hi), tap(i + 1, len, lo, hi), tap(i + 2, len, lo, hi));
    t.w = vec4<f32>(cubic(f + 1.0), cubic(f), cubic(1.0 - f), cubic(2.0 - f));
    return t;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let nd = p.nd;
    var osz = 1u;
    var isz = 1u;
    for (var d = 0u; d < nd; d = d + 1u) {
        osz = osz * p.out_sp[d];
        isz = isz * p.in_sp[d];
    }
    let o = i % osz;
    let bc = i / osz;
    let b = bc / p.c;
    var taps: array<Taps, 3>;
    for (var d = 0u; d < nd; d = d + 1u) {
        let g = t_to_f32(grid[(b * osz + o) * nd + (nd - 1u - d)]);
        taps[d] = axis_taps(g, p.in_sp[d]);
    }
    var per = 4u;
    if (p.mode == MODE_NEAREST) {
        per = 1u;
    } else if (p.mode == MODE_LINEAR) {
        per = 2u;
    }
    var combos = 1u;
    for (var d = 0u; d < nd; d = d + 1u) {
        combos = combos * per;
    }
    let base = bc * isz;
    var acc = 0.0;
    for (var c = 0u; c < combos; c = c + 1u) {
        var r = c;
        var off = 0u;
        var wt = 1.0;
        var inside = true;
        for (var d = 0u; d < nd; d = d + 1u) {
            let j = r % per;
            r = r / per;
            let k = taps[d].idx[j];
            if (k < 0) {
                inside = false;
            }
            off = off * p.in_sp[d] + u32(max(k, 0));
            wt = wt * taps[d].w[j];
        }
        if (inside) {
            acc = acc + wt * t_to_f32(x[base + off]);
        }
    }
    y[i] = t_from_f32(acc);
}
