// RotaryEmbedding: one invocation per output element of a [b, heads, seq, d] (heads_first) or
// [b, seq, heads, d] input. Entries c < rot rotate in pairs (x[k], x[k + rot/2]) or, interleaved,
// (x[2k], x[2k + 1]) by the angle of cache row position_ids[b, t] (or b·seq + t without
// position ids, or position_ids[0] + t when `pos_offset` is set (ORT's 1-element form);
// an id outside the cache is reported through layout/index_report_lib and the run fails naming the
// node); the rest pass through. Math runs in f32.
// Prelude: a float type library (T), the index report library.
struct Params {
    n: u32,
    d: u32,
    heads: u32,
    seq: u32,
    half: u32,
    rot: u32,
    interleaved: u32,
    heads_first: u32,
    pos_kind: u32,
    n_rows: u32,
    pos_offset: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> cos_cache: array<T>;
@group(0) @binding(2) var<storage, read_write> sin_cache: array<T>;
@group(0) @binding(3) var<storage, read_write> pos: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;
@group(0) @binding(5) var<storage, read_write> err: array<atomic<u32>>;
@group(0) @binding(6) var<uniform> p: Params;

const POS_NONE: u32 = 0u;
const POS_I32: u32 = 1u;

// The cache row of token (b, t).
// The cache row of token (b, t); 0xffffffff, after reporting the id (layout/index_report_lib),
// when it is outside the cache.
fn cache_row(b: u32, t: u32) -> u32 {
    if (p.pos_kind == POS_NONE) {
        return b * p.seq + t;
    }
    // The id's index: token (b, t), or the single offset entry.
    let bt = select(b * p.seq + t, 0u, p.pos_offset != 0u);
    var lo: u32;
    var hi: u32;
    if (p.pos_kind == POS_I32) {
        lo = pos[bt];
        hi = select(0u, 0xffffffffu, (lo & 0x80000000u) != 0u);
    } else {
        lo = pos[2u * bt];
        hi = pos[2u * bt + 1u];
    }
    if (p.pos_offset != 0u) {
        // The 64-bit id + t.
        let sum = lo + t;
        hi = hi + select(0u, 1u, sum < lo);
        lo = sum;
    }
    if (hi != 0u || lo >= p.n_rows) {
        report_bad_index(lo, hi, p.n_rows);
        return 0xffffffffu;
    }
    return lo;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = flat_index(gid, nwg, 256u);
    if (idx >= p.n) {
        return;
    }
    let c = idx % p.d;
    let vec_i = idx / p.d;
    var t: u32;
    var b: u32;
    if (p.heads_first != 0u) {
        t = vec_i % p.seq;
        b = vec_i / p.seq / p.heads;
    } else {
        t = (vec_i / p.heads) % p.seq;
        b = vec_i / p.heads / p.seq;
    }
    if (c >= p.rot) {
        y[idx] = x[idx];
        return;
    }
    let base = idx - c;
    var k: u32;
    var first: bool;
    var x1: f32;
    var x2: f32;
    if (p.interleaved != 0u) {
        k = c / 2u;
        first = (c & 1u) == 0u;
        x1 = t_to_f32(x[base + 2u * k]);
        x2 = t_to_f32(x[base + 2u * k + 1u]);
    } else {
        first = c < p.half;
        k = select(c - p.half, c, first);
        x1 = t_to_f32(x[base + k]);
        x2 = t_to_f32(x[base + k + p.half]);
    }
    let row = cache_row(b, t);
    if (row == 0xffffffffu) {
        y[idx] = t_from_f32(0.0);
        return;
    }
    let ci = row * p.half + k;
    let co = t_to_f32(cos_cache[ci]);
    let si = t_to_f32(sin_cache[ci]);
    y[idx] = t_from_f32(select(si * x1 + co * x2, co * x1 - si * x2, first));
}
