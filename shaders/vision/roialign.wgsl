// RoiAlign: y[r, c, py, px] averages (or, in max mode, takes the largest of) gh × gw bilinear
// samples of x[batch[r], c] spread over bin (py, px) of roi r, as in the reference (f32 math;
// the adaptive sample counts ceil(extent / bins) in double-f32, so that they come out as in
// the f64 reference). A batch index outside [0, N) is reported (layout/index_report_lib: the run
// fails naming the node) and gives zeros meanwhile. Prelude: a type library (T), IDX64 (batch
// indices are int64 as i32 pairs), the index report library.
struct Params {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    ph: u32,
    pw: u32,
    n_batch: u32,
    sampling_ratio: u32,
    spatial_scale: f32,
    half_pixel: u32,
    max_mode: u32,
    // 1.0 (see opaque()).
    one: f32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> rois: array<T>;
@group(0) @binding(2) var<storage, read_write> bidx: array<i32>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<storage, read_write> err: array<atomic<u32>>;
@group(0) @binding(5) var<uniform> p: Params;

// Roi extents and adaptive sample counts in double-f32 arithmetic from types/df32.wgsl
// (Params.one must be 1.0).

// The roi's extent along an axis from its start and end coordinates (scaled and shifted).
fn extent(lo: f32, hi: f32) -> vec2<f32> {
    let off = select(0.0, -0.5, p.half_pixel != 0u);
    let a = df_add(df_two_prod(lo, p.spatial_scale), vec2<f32>(off, 0.0));
    let b = df_add(df_two_prod(hi, p.spatial_scale), vec2<f32>(off, 0.0));
    var r = df_add(b, -a);
    if (p.half_pixel == 0u && (r.x < 1.0 || (r.x == 1.0 && r.y < 0.0))) {
        r = vec2<f32>(1.0, 0.0);
    }
    return r;
}

// Samples per bin along an axis of extent `len` split into `bins`.
fn grid_count(len: vec2<f32>, bins: u32) -> u32 {
    if (p.sampling_ratio > 0u) {
        return p.sampling_ratio;
    }
    let q = df_div_f(len, f32(bins));
    var g = ceil(q.x);
    if (q.x == g && q.y > 0.0) {
        g = g + 1.0;
    }
    if (!(g > 0.0) || g > 1e6) {
        return 0u;
    }
    return u32(g);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let bins = p.ph * p.pw;
    let bin = i % bins;
    let ch = (i / bins) % p.c;
    let r = i / (bins * p.c);
    var b: i32;
    var hi: i32;
    if (IDX64) {
        b = bidx[2u * r];
        hi = bidx[2u * r + 1u];
    } else {
        b = bidx[r];
        hi = select(0, -1, b < 0);
    }
    if (hi != 0 || b < 0 || u32(b) >= p.n_batch) {
        report_bad_index(bitcast<u32>(b), bitcast<u32>(hi), p.n_batch);
        y[i] = t_from_f32(0.0);
        return;
    }
    if (p.h == 0u || p.w == 0u) {
        y[i] = t_from_f32(0.0);
        return;
    }
    let py = f32(bin / p.pw);
    let px = f32(bin % p.pw);
    let off = select(0.0, 0.5, p.half_pixel != 0u);
    let sw = t_to_f32(rois[4u * r]) * p.spatial_scale - off;
    let sh = t_to_f32(rois[4u * r + 1u]) * p.spatial_scale - off;
    let rw2 = extent(t_to_f32(rois[4u * r]), t_to_f32(rois[4u * r + 2u]));
    let rh2 = extent(t_to_f32(rois[4u * r + 1u]), t_to_f32(rois[4u * r + 3u]));
    let bh = (rh2.x + rh2.y) / f32(p.ph);
    let bw = (rw2.x + rw2.y) / f32(p.pw);
    let gh = grid_count(rh2, p.ph);
    let gw = grid_count(rw2, p.pw);
    let plane = (u32(b) * p.c + ch) * p.h * p.w;
    let hf = f32(p.h);
    let wf = f32(p.w);
    var sum = 0.0;
    var best = 0.0;
    var seen = false;
    for (var iy = 0u; iy < gh; iy = iy + 1u) {
        var yy = sh + py * bh + (f32(iy) + 0.5) * bh / f32(gh);
        for (var ix = 0u; ix < gw; ix = ix + 1u) {
            var xx = sw + px * bw + (f32(ix) + 0.5) * bw / f32(gw);
            var o = vec4<u32>(0u);
            var wt = vec4<f32>(0.0);
            if (!(yy < -1.0 || yy > hf || xx < -1.0 || xx > wf)) {
                var sy = max(yy, 0.0);
                var sx = max(xx, 0.0);
                var yl = u32(sy);
                var xl = u32(sx);
                var yh = yl + 1u;
                var xh = xl + 1u;
                if (yl >= p.h - 1u) {
                    yl = p.h - 1u;
                    yh = yl;
                    sy = f32(yl);
                }
                if (xl >= p.w - 1u) {
                    xl = p.w - 1u;
                    xh = xl;
                    sx = f32(xl);
                }
                let ly = sy - f32(yl);
                let lx = sx - f32(xl);
                let hy = 1.0 - ly;
                let hx = 1.0 - lx;
                o = vec4<u32>(yl * p.w + xl, yl * p.w + xh, yh * p.w + xl, yh * p.w + xh);
                wt = vec4<f32>(hy * hx, hy * lx, ly * hx, ly * lx);
            }
            let v = wt * vec4<f32>(
                t_to_f32(x[plane + o.x]),
                t_to_f32(x[plane + o.y]),
                t_to_f32(x[plane + o.z]),
                t_to_f32(x[plane + o.w]),
            );
            if (p.max_mode != 0u) {
                let m = max(max(v.x, v.y), max(v.z, v.w));
                best = select(m, max(best, m), seen);
                seen = true;
            } else {
                sum = sum + v.x + v.y + v.z + v.w;
            }
        }
    }
    if (p.max_mode != 0u) {
        y[i] = t_from_f32(best);
    } else {
        y[i] = t_from_f32(sum / f32(max(gh * gw, 1u)));
    }
}
