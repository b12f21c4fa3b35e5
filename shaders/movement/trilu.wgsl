// Trilu: y = x where (col − row ≥ k) for the upper triangle, (col − row ≤ k) for the lower,
// else zero, over the last two dims. k: one int64 as a (lo, hi) i32 pair, clamped to i32.
// Prelude: E (the element as bits; zero bits are zero in every type).
struct Params {
    n: u32,
    rows: u32,
    cols: u32,
    upper: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<E>;
@group(0) @binding(1) var<storage, read_write> kbuf: array<i32>;
@group(0) @binding(2) var<storage, read_write> y: array<E>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    var k = kbuf[0];
    let hi = kbuf[1];
    if (hi > 0 || (hi == 0 && k < 0)) {
        k = 2147483647;
    } else if (hi < -1 || (hi == -1 && k >= 0)) {
        k = -2147483647;
    }
    let d = i32(i % p.cols) - i32((i / p.cols) % p.rows);
    var keep = d <= k;
    if (p.upper != 0u) {
        keep = d >= k;
    }
    if (keep) {
        y[i] = x[i];
    } else {
        y[i] = E();
    }
}
