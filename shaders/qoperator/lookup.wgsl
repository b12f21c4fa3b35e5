// QLinearSigmoid / QLinearLeakyRelu / one input of QLinearConcat: y = table[x & 0xff] (or x
// itself with p.copy), written at its place in the output: element i of the input lands at
// (i / p.pitch_in) * p.pitch_out + p.offset + i % p.pitch_in. One invocation per input element.
// uint8/int8 are stored one 32-bit word per element (int8 sign-extended); the 256-entry table
// holds the output words, indexed by the input's byte.
// Prelude: none.
struct Params {
    n: u32,
    pitch_in: u32,
    pitch_out: u32,
    offset: u32,
    copy: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> table: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let w = x[i];
    var v = w;
    if (p.copy == 0u) {
        v = table[w & 0xffu];
    }
    y[(i / p.pitch_in) * p.pitch_out + p.offset + i % p.pitch_in] = v;
}
