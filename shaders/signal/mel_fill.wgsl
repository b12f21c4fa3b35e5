// MelWeightMatrix, second pass: the [p.bins, p.mel] matrix of triangular filters from the band
// edges e (mel_edges.wgsl): band i rises over bins e[i] ..= e[i+1] as (j - l) / (c - l) (1 when
// the rise is empty) and falls over e[i+1] .. e[i+2] as (r - j) / (r - c), the fall winning
// where they meet, as the reference lays them out; the quotients are rounded exactly like the
// reference's doubles. Edges the reference rejects (negative, or bands past the last bin) give
// NaN everywhere.
// Prelude: Y_LAYOUT (the float output, format p.y_fmt, word codes shifted by p.y_shift;
// LAYOUT_HALF is written a word per invocation), and the codec library.
struct Params {
    total: u32,
    mel: u32,
    bins: u32,
    y_fmt: u32,
    y_shift: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> e: array<i32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

fn valid() -> bool {
    for (var k = 0u; k < p.mel + 2u; k = k + 1u) {
        if (e[k] < 0) {
            return false;
        }
    }
    for (var k = 1u; k <= p.mel; k = k + 1u) {
        if (e[k] >= i32(p.bins)) {
            return false;
        }
    }
    return e[p.mel + 1u] <= i32(p.bins);
}

fn elem(o: u32, ok: bool) -> vec2<u32> {
    let f = cv_fmt(p.y_fmt);
    if (!ok) {
        return cv_shl(cv_encode(f, cv_nan(), false), p.y_shift);
    }
    let i = o % p.mel;
    let j = i32(o / p.mel);
    let l = e[i];
    let c = e[i + 1u];
    let r = e[i + 2u];
    var v = cv_from_u32(0u);
    if (r > c && c <= j && j < r) {
        v = cv_div_num(cv_from_i32(r - j), cv_from_i32(r - c));
    } else if (l <= j && j <= c) {
        if (c == l) {
            v = cv_from_u32(1u);
        } else {
            v = cv_div_num(cv_from_i32(j - l), cv_from_i32(c - l));
        }
    }
    return cv_shl(cv_encode(f, cv_round(v, CV_FMT_F64), false), p.y_shift);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = flat_index(gid, nwg, 256u);
    let ok = valid();
    if (Y_LAYOUT == LAYOUT_HALF) {
        if (2u * o >= p.total) {
            return;
        }
        var w = elem(2u * o, ok).x & 0xffffu;
        if (2u * o + 1u < p.total) {
            w = w | ((elem(2u * o + 1u, ok).x & 0xffffu) << 16u);
        }
        y[o] = w;
        return;
    }
    if (o >= p.total) {
        return;
    }
    let v = elem(o, ok);
    if (Y_LAYOUT == LAYOUT_PAIR) {
        y[2u * o] = v.x;
        y[2u * o + 1u] = v.y;
        return;
    }
    y[o] = v.x;
}
