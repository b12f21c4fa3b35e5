// DynamicQuantizeLinear, first pass of the two-pass form (one workgroup; see
// `dynamic_range_lib.wgsl`): writes the scale's bits to s[0] and the zero point to z[0];
// QuantizeLinear's kernel then quantizes x with them.
// Prelude: the codec library, dynamic_range_lib.wgsl.
struct Params {
    n: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> s: array<u32>;
@group(0) @binding(2) var<storage, read_write> z: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    dq_range(lid.x);
    if (lid.x == 0u) {
        s[0] = dq_scale;
        z[0] = dq_zp;
    }
}
