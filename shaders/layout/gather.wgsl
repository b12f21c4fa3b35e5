// Gather along one axis: y[o, j, i] = x[o, idx[j], i] for a [outer, axis_len, inner] view of x.
// Negative indices count from the end; an out-of-range index writes zero and is reported
// (layout/index_lib; the planner validates constant indices).
// Prelude: E (element bits: u32 or vec2<u32>), IDX64 (indices are int64 as i32 pairs), the
// index library.
struct Params {
    n: u32,
    axis_len: u32,
    n_idx: u32,
    inner: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<E>;
@group(0) @binding(1) var<storage, read_write> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> y: array<E>;
@group(0) @binding(3) var<storage, read_write> err: array<atomic<u32>>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let ii = i % p.inner;
    let j = (i / p.inner) % p.n_idx;
    let o = i / (p.inner * p.n_idx);
    let k = checked_index(j, p.axis_len);
    if (k == 0xffffffffu) {
        y[i] = E();
        return;
    }
    y[i] = x[(o * p.axis_len + k) * p.inner + ii];
}
