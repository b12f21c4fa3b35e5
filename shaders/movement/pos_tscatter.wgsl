// TensorScatter positions: update rows g = (o, t) of an update viewed as [outer, ua, inner]
// go to cache row (o, s) of a cache viewed as [outer, max_len, inner], s = write[o / mid] + t
// (mod max_len when circular). A negative or too large index gives 0xffffffff and is reported
// (layout/index_lib). idx: int64 write indices per batch entry, as (lo, hi) i32 pairs.
// Prelude: the index library (IDX64 true).
struct Params {
    n: u32,
    ua: u32,
    mid: u32,
    max_len: u32,
    inner: u32,
    circular: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> idx: array<i32>;
@group(0) @binding(1) var<storage, read_write> pos: array<u32>;
@group(0) @binding(2) var<storage, read_write> err: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = flat_index(gid, nwg, 256u);
    if (g >= p.n) {
        return;
    }
    let t = g % p.ua;
    let o = g / p.ua;
    let b = o / p.mid;
    let lo = idx[2u * b];
    let hi = idx[2u * b + 1u];
    if (hi != 0 || lo < 0) {
        report_bad_index(bitcast<u32>(lo), bitcast<u32>(hi), p.max_len);
        pos[g] = 0xffffffffu;
        return;
    }
    var s = u32(lo) + t;
    if (p.circular != 0u) {
        s = s % p.max_len;
    }
    if (s >= p.max_len) {
        report_bad_index(s, 0u, p.max_len);
        pos[g] = 0xffffffffu;
        return;
    }
    pos[g] = (o * p.max_len + s) * p.inner;
}
