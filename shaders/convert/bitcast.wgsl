// BitCast of elements of at most 32 bits between GPU layouts: the element's raw `bits`-bit
// pattern is read from the input layout and written in the output's (an int8 stored
// sign-extended becomes a uint8 stored zero-extended, a float16 half-word a bfloat16 stored
// in the high half of an f32 word, ...).
// Prelude: IN_HALF / OUT_HALF (two 16-bit elements per u32 word; otherwise one per word).
// A half-word output is written a word (two elements) per invocation.
struct Params {
    n: u32,
    bits: u32,
    // position of the pattern in an input / output word (16 for bfloat16 stored as f32)
    in_shift: u32,
    out_shift: u32,
    // sign-extend the pattern in an output word (signed integers)
    out_signed: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

fn pattern(i: u32) -> u32 {
    let mask = 0xffffffffu >> (32u - p.bits);
    if (IN_HALF) {
        return (x[i / 2u] >> (16u * (i % 2u))) & 0xffffu;
    }
    return (x[i] >> p.in_shift) & mask;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (OUT_HALF) {
        if (2u * i >= p.n) {
            return;
        }
        var w = pattern(2u * i);
        if (2u * i + 1u < p.n) {
            w = w | (pattern(2u * i + 1u) << 16u);
        }
        y[i] = w;
        return;
    }
    if (i >= p.n) {
        return;
    }
    let v = pattern(i);
    let sh = 32u - p.bits;
    if (p.out_signed != 0u) {
        y[i] = bitcast<u32>(bitcast<i32>(v << sh) >> sh);
    } else {
        y[i] = v << p.out_shift;
    }
}
