// OneHot: y[o, d, i] = values[1] where the index at (o, i) (negative counts from depth) is d,
// else values[0]; non-integer indices truncate, anything out of range matches nothing.
// Prelude: E (the value element as bits), IDX_KIND (how the indices are stored, as u32
// words: 0 i32, 1 u32, 2 int64 pairs, 3 uint64 pairs, 4 f32 bits).
struct Params {
    n: u32,
    depth: u32,
    inner: u32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> ind: array<u32>;
@group(0) @binding(1) var<storage, read_write> values: array<E>;
@group(0) @binding(2) var<storage, read_write> y: array<E>;
@group(0) @binding(3) var<uniform> p: Params;

// The index at position j as (valid, value) with value in i32 range.
fn index_at(j: u32) -> vec2<i32> {
    if (IDX_KIND == 0u) {
        return vec2<i32>(1, bitcast<i32>(ind[j]));
    }
    if (IDX_KIND == 1u) {
        let w = ind[j];
        return vec2<i32>(select(0, 1, w < 0x80000000u), bitcast<i32>(w));
    }
    if (IDX_KIND == 2u || IDX_KIND == 3u) {
        let lo = ind[2u * j];
        let hi = ind[2u * j + 1u];
        let neg = IDX_KIND == 2u && hi == 0xffffffffu && lo >= 0x80000000u;
        let pos = hi == 0u && lo < 0x80000000u;
        return vec2<i32>(select(0, 1, neg || pos), bitcast<i32>(lo));
    }
    let v = trunc(bitcast<f32>(ind[j]));
    if (abs(v) < 2147483520.0) {
        return vec2<i32>(1, i32(v));
    }
    return vec2<i32>(0, 0);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let e = i % p.inner;
    let d = (i / p.inner) % p.depth;
    let o = i / (p.inner * p.depth);
    let k = index_at(o * p.inner + e);
    var v = k.y;
    if (v < 0) {
        v = v + i32(p.depth);
    }
    if (k.x != 0 && v == i32(d)) {
        y[i] = values[1];
    } else {
        y[i] = values[0];
    }
}
