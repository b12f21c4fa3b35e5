// GatherND / ScatterND positions: for index tuple t (m values, possibly negative), the flat
// data offset (t / per_batch)·batch_stride + Σ_j idx[t·m + j]·strides[j], each index checked
// against dims[j]; an out-of-range tuple gives 0xffffffff and is reported (layout/index_lib).
// Prelude: IDX64 (indices are int64, read as (lo, hi) i32 pairs), the index library.
struct Params {
    n: u32,
    m: u32,
    per_batch: u32,
    batch_stride: u32,
    dims: array<vec4<u32>, 2>,
    strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> idx: array<i32>;
@group(0) @binding(1) var<storage, read_write> pos: array<u32>;
@group(0) @binding(2) var<storage, read_write> err: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = flat_index(gid, nwg, 256u);
    if (t >= p.n) {
        return;
    }
    var off = (t / p.per_batch) * p.batch_stride;
    for (var j = 0u; j < p.m; j = j + 1u) {
        let q = t * p.m + j;
        let k = checked_index(q, p.dims[j / 4u][j % 4u]);
        if (k == 0xffffffffu) {
            pos[t] = 0xffffffffu;
            return;
        }
        off = off + k * p.strides[j / 4u][j % 4u];
    }
    pos[t] = off;
}
