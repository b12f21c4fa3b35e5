// ReverseSequence over a [d0, d1, inner] view (batch and time are dims 0 and 1 in some order):
// the first lens[b] steps of each batch entry's sequence are reversed, the rest copied.
// lens: int64 per batch entry as (lo, hi) i32 pairs; one outside [0, time length] is reported
// (layout/index_report_lib: the run fails naming the node) and clamped meanwhile.
// Prelude: E (the element as bits), the index report library.
struct Params {
    n: u32,
    d0: u32,
    d1: u32,
    inner: u32,
    batch_axis: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<E>;
@group(0) @binding(1) var<storage, read_write> lens: array<i32>;
@group(0) @binding(2) var<storage, read_write> y: array<E>;
@group(0) @binding(3) var<storage, read_write> err: array<atomic<u32>>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let c0 = i / (p.d1 * p.inner);
    let c1 = (i / p.inner) % p.d1;
    var b = c0;
    var t = c1;
    var ts = p.inner;
    var time = p.d1;
    if (p.batch_axis != 0u) {
        b = c1;
        t = c0;
        ts = p.d1 * p.inner;
        time = p.d0;
    }
    let lo = lens[2u * b];
    let hi = lens[2u * b + 1u];
    var len = 0u;
    if (hi > 0 || (hi == 0 && lo < 0)) {
        len = time;
    } else if (hi == 0) {
        len = min(u32(lo), time);
    }
    if (hi != 0 || lo < 0 || u32(lo) > time) {
        report_bad_index(bitcast<u32>(lo), bitcast<u32>(hi), time);
    }
    if (t < len) {
        y[i] = x[i - t * ts + (len - 1u - t) * ts];
    } else {
        y[i] = x[i];
    }
}
