// Gather of blocks by precomputed positions: y[g·inner + e] = x[pos[g] + e], or zero where
// pos[g] is 0xffffffff (an out-of-range run-time index). Serves GatherElements and GatherND
// (positions from movement/pos_elements and movement/pos_nd) and Compress (plan-time positions).
// Prelude: E (the element as bits).
struct Params {
    n: u32,
    inner: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<E>;
@group(0) @binding(1) var<storage, read_write> pos: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<E>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let o = pos[i / p.inner];
    if (o == 0xffffffffu) {
        y[i] = E();
        return;
    }
    y[i] = x[o + i % p.inner];
}
