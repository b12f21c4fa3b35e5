// Scatter of update blocks to precomputed positions, deterministic under duplicates: update
// element (g, e) targets y[pos[g] + e]; only groups marked by movement/scatter_mark write.
// Without a reduction that is the last group of its line with that position (update order,
// like the reference); with one, the first such group combines the existing value with every
// group of its line with that position, in order. Lines: g = base + t·line_stride, t <
// line_len. Prelude: a type library (T), RED (0 none, 1 add, 2 mul, 3 max, 4 min).
struct Params {
    n: u32,
    inner: u32,
    line_len: u32,
    line_stride: u32,
}

@group(0) @binding(0) var<storage, read_write> upd: array<T>;
@group(0) @binding(1) var<storage, read_write> pos: array<u32>;
@group(0) @binding(2) var<storage, read_write> keep: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

fn combine(a: T, b: T) -> T {
    if (RED == 1u) {
        return t_add(a, b);
    }
    if (RED == 2u) {
        return t_mul(a, b);
    }
    // max / min propagate NaN.
    if (t_is_nan(a)) {
        return a;
    }
    if (t_is_nan(b)) {
        return b;
    }
    if (RED == 3u) {
        return select(a, b, t_lt(a, b));
    }
    return select(a, b, t_lt(b, a));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let g = i / p.inner;
    if (keep[g] == 0u) {
        return;
    }
    let e = i % p.inner;
    let o = pos[g];
    if (RED == 0u) {
        y[o + e] = upd[i];
        return;
    }
    let t = (g / p.line_stride) % p.line_len;
    let base = g - t * p.line_stride;
    var acc = y[o + e];
    for (var u = t; u < p.line_len; u = u + 1u) {
        let g2 = base + u * p.line_stride;
        if (pos[g2] == o) {
            acc = combine(acc, upd[g2 * p.inner + e]);
        }
    }
    y[o + e] = acc;
}
