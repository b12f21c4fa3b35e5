// Per-axis map gather: y[o_0, …, o_r] = x[Σ_a map[map_off_a + o_a] · x_stride_a], or fill[0]
// where any axis's map entry is -1. Serves Pad (every mode, negative pads crop), CenterCropPad
// and Tile (the lowering builds each axis's map of output → source coordinate at plan time), and
// Resize's nearest mode (maps from plan time or computed on the device for a run-time roi).
// Prelude: E (the element as bits: f16, u32 or vec2<u32>).
struct Params {
    n: u32,
    rank: u32,
    pad0: u32,
    pad1: u32,
    shape: array<vec4<u32>, 2>,
    map_off: array<vec4<u32>, 2>,
    x_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> x: array<E>;
@group(0) @binding(1) var<storage, read_write> fill: array<E>;
@group(0) @binding(2) var<storage, read_write> map: array<i32>;
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
        let s = p.shape[k / 4u][k % 4u];
        let c = rem % s;
        rem = rem / s;
        let m = map[p.map_off[k / 4u][k % 4u] + c];
        if (m < 0) {
            y[i] = fill[0];
            return;
        }
        src = src + u32(m) * p.x_strides[k / 4u][k % 4u];
    }
    y[i] = x[src];
}
