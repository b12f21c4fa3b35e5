// EmbedLayerNormalization's mask_index: y[b] = how many of mask row m[b, 0..s) equal 1
// (0 for every row when `has_mask` is 0). One invocation per batch row. No prelude inputs.
struct Params {
    batch: u32,
    s: u32,
    has_mask: u32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> m: array<i32>;
@group(0) @binding(1) var<storage, read_write> y: array<i32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let b = flat_index(gid, nwg, 64u);
    if (b >= p.batch) {
        return;
    }
    var c = 0;
    if (p.has_mask != 0u) {
        for (var k = 0u; k < p.s; k = k + 1u) {
            if (m[b * p.s + k] == 1) {
                c = c + 1;
            }
        }
    }
    y[b] = c;
}
