// MatMulNBits Params, bindings and helpers shared by its three kernels (matmul_nbits,
// matmul_nbits_gemv, matmul_nbits_tiled), which all bind the same buffers.
// Prelude: BITS, ZP_MODE (0: none, zero point 2^(BITS-1); 1: packed uint8, one u32 word per
// byte; 2: f32 words, only with T = f32).

struct Params {
    m: u32,
    n: u32,
    k: u32,
    block: u32,
    nblocks: u32,
    blob: u32,
    zp_row: u32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> a: array<T>;
@group(0) @binding(1) var<storage, read_write> b: array<u32>;
@group(0) @binding(2) var<storage, read_write> sc: array<T>;
@group(0) @binding(3) var<storage, read_write> zp: array<u32>;
@group(0) @binding(4) var<storage, read_write> bias: array<T>;
@group(0) @binding(5) var<storage, read_write> y: array<T>;
// g_idx (int32; a one-word dummy unless GIDX): the scale/zero-point group of each row k.
@group(0) @binding(6) var<storage, read_write> gidx: array<i32>;
@group(0) @binding(7) var<uniform> p: Params;

// The zero point of (column, block).
fn nbits_zero_point(col: u32, blk: u32) -> f32 {
    let mask = (1u << BITS) - 1u;
    if (ZP_MODE == 1u) {
        let bit = blk * BITS;
        return f32((u32(zp[col * p.zp_row + bit / 8u]) >> (bit % 8u)) & mask);
    } else if (ZP_MODE == 2u) {
        return bitcast<f32>(zp[col * p.nblocks + blk]);
    }
    return f32(1u << (BITS - 1u));
}
