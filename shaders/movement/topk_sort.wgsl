// TopK for long axes: a bitonic sort of every line (of a [outer, len, inner] view) in
// scratch, padded to p2 (a power of two ≥ len), then the first k of each line written out.
// The order is total: by value (descending with LARGEST, NaN above every number), then by
// lower index, padding last; so the result matches a stable sort.
//   PASS 0: keys/idx[l·p2 + j] = (x at line l, position j), or padding for j ≥ len;
//   PASS 1: one compare-exchange step (block size kb, distance jb) over every line;
//   PASS 2: y / ind (int64, (lo, hi) words) at rank r < k = keys / idx[l·p2 + r].
// Prelude: a type library (T), LARGEST, PASS.
struct Params {
    n: u32,
    len: u32,
    inner: u32,
    k: u32,
    p2: u32,
    kb: u32,
    jb: u32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> keys: array<T>;
@group(0) @binding(2) var<storage, read_write> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<storage, read_write> ind: array<vec2<u32>>;
@group(0) @binding(5) var<uniform> p: Params;

const PADDING: u32 = 0xffffffffu;

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

// Whether slot a comes before slot b in the output order.
fn before(a: u32, b: u32) -> bool {
    let ia = idx[a];
    let ib = idx[b];
    if (ia == PADDING || ib == PADDING) {
        return ib == PADDING && ia != PADDING;
    }
    var c = order(keys[a], keys[b]);
    if (!LARGEST) {
        c = -c;
    }
    return c > 0 || (c == 0 && ia < ib);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let l = i / p.p2;
    let j = i % p.p2;
    if (PASS == 0u) {
        if (j < p.len) {
            keys[i] = x[((l / p.inner) * p.len + j) * p.inner + l % p.inner];
            idx[i] = j;
        } else {
            keys[i] = t_zero();
            idx[i] = PADDING;
        }
        return;
    }
    if (PASS == 1u) {
        let partner = j ^ p.jb;
        if (partner <= j) {
            return;
        }
        let a = i;
        let b = l * p.p2 + partner;
        // Within blocks of kb, the first half of the sort network orders forwards.
        let forward = (j & p.kb) == 0u;
        if (before(b, a) == forward) {
            let tk = keys[a];
            keys[a] = keys[b];
            keys[b] = tk;
            let ti = idx[a];
            idx[a] = idx[b];
            idx[b] = ti;
        }
        return;
    }
    if (j < p.k) {
        let dst = ((l / p.inner) * p.k + j) * p.inner + l % p.inner;
        y[dst] = keys[i];
        ind[dst] = vec2<u32>(idx[i], 0u);
    }
}
