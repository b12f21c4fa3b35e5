// MatMulNBits helpers shared by its three kernels (matmul_nbits, matmul_nbits_gemv,
// matmul_nbits_tiled); they read the including shader's `zp` binding and `p` Params.
// Prelude: BITS, ZP_MODE (0: none, zero point 2^(BITS-1); 1: packed uint8, one u32 word per
// byte; 2: f32 words, only with T = f32).

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
