// GatherElements / ScatterElements positions: for every element of the indices (shape
// ind_shape), the flat data position whose coordinate on `axis` is the (possibly negative)
// index and whose other coordinates are the element's own. An out-of-range index gives
// 0xffffffff and is reported (layout/index_lib; the planner validates constant indices).
// Prelude: IDX64 (indices are int64, read as (lo, hi) i32 pairs), the index library.
struct Params {
    n: u32,
    rank: u32,
    axis: u32,
    axis_len: u32,
    ind_shape: array<vec4<u32>, 2>,
    x_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> idx: array<i32>;
@group(0) @binding(1) var<storage, read_write> pos: array<u32>;
@group(0) @binding(2) var<storage, read_write> err: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let k = checked_index(i, p.axis_len);
    if (k == 0xffffffffu) {
        pos[i] = 0xffffffffu;
        return;
    }
    var rem = i;
    var off = 0u;
    for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
        let a = u32(d);
        let s = p.ind_shape[a / 4u][a % 4u];
        var c = rem % s;
        rem = rem / s;
        if (a == p.axis) {
            c = k;
        }
        off = off + c * p.x_strides[a / 4u][a % 4u];
    }
    pos[i] = off;
}
