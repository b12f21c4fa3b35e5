// Resize / Upsample, nearest mode: y[o] = x[Σ idx_d[o_d] · in_stride_d], moving raw element
// bits (every dtype, int64 exact). The index table of axis d starts at `tab_off[d]` (one entry
// per output position); an index < 0 marks an extrapolated position, which takes fill[0]
// (the extrapolation value in the output dtype). Prelude: E (element bits).
struct Params {
    n: u32,
    rank: u32,
    pad0: u32,
    pad1: u32,
    out_shape: array<vec4<u32>, 2>,
    in_strides: array<vec4<u32>, 2>,
    tab_off: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> x: array<E>;
@group(0) @binding(1) var<storage, read_write> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> fill: array<E>;
@group(0) @binding(3) var<storage, read_write> y: array<E>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    var rem = i;
    var src = 0u;
    for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
        let k = u32(d);
        let s = p.out_shape[k / 4u][k % 4u];
        let od = rem % s;
        rem = rem / s;
        let j = idx[p.tab_off[k / 4u][k % 4u] + od];
        if (j < 0) {
            y[i] = fill[0];
            return;
        }
        src = src + u32(j) * p.in_strides[k / 4u][k % 4u];
    }
    y[i] = x[src];
}
