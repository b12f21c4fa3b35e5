// TopK along one axis of a [outer, len, inner] view: one invocation per input element counts
// the elements of its line that rank before it (larger, or smaller without LARGEST; NaN above
// every number; ties by lower index) and, when that rank r < k, writes the value and its
// index (int64, (lo, hi) words) to position r of the output line.
// Prelude: a type library (T), LARGEST.
struct Params {
    n: u32,
    len: u32,
    inner: u32,
    k: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<storage, read_write> ind: array<vec2<u32>>;
@group(0) @binding(3) var<uniform> p: Params;

// −1, 0 or 1 as a is below, equal to or above b (NaN above everything, NaNs equal).
fn order(a: T, b: T) -> i32 {
    let an = t_is_nan(a);
    let bn = t_is_nan(b);
    if (an || bn) {
        return select(0, 1, an) - select(0, 1, bn);
    }
    if (t_lt(a, b)) {
        return -1;
    }
    if (t_lt(b, a)) {
        return 1;
    }
    return 0;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let e = i % p.inner;
    let j = (i / p.inner) % p.len;
    let o = i / (p.inner * p.len);
    let base = o * p.len * p.inner + e;
    let v = x[i];
    var r = 0u;
    for (var q = 0u; q < p.len; q = q + 1u) {
        var c = order(x[base + q * p.inner], v);
        if (!LARGEST) {
            c = -c;
        }
        if (c > 0 || (c == 0 && q < j)) {
            r = r + 1u;
        }
    }
    if (r < p.k) {
        let dst = (o * p.k + r) * p.inner + e;
        y[dst] = v;
        ind[dst] = vec2<u32>(j, 0u);
    }
}
