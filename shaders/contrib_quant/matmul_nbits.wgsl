// com.microsoft MatMulNBits: y[m, n] = sum_k a[m, k] * (q[k, n] - zp[n, blk]) * scale[n, blk] (+ bias[n]),
// dequantizing the packed weights on the fly. One invocation per output element.
// B is stored (N, blocks, block_size * BITS / 8) bytes, one u32 word per byte (uint8 is widened);
// element j of a block sits at bit j * BITS of the block's bytes (little-endian nibbles).
// Prelude: the type library of A / scales / bias / y (T, t_to_f32, t_from_f32), BITS (2, 4 or 8),
// ZP_MODE and nbits_lib.wgsl (nbits_zero_point), HAS_BIAS, GIDX (row k uses group gidx[k]
// instead of k / block).
// Params and bindings: nbits_lib.wgsl.

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.m * p.n) {
        return;
    }
    let row = i / p.n;
    let col = i % p.n;
    let mask = (1u << BITS) - 1u;
    var acc = 0.0;
    if (GIDX) {
        // Each row k has its own group: scale and zero point per element.
        for (var kk = 0u; kk < p.k; kk = kk + 1u) {
            let g = u32(gidx[kk]);
            let blk = kk / p.block;
            let bit = (kk - blk * p.block) * BITS;
            let q = f32((b[(col * p.nblocks + blk) * p.blob + bit / 8u] >> (bit % 8u)) & mask);
            acc = acc + t_to_f32(a[row * p.k + kk]) * (q - nbits_zero_point(col, g)) * t_to_f32(sc[col * p.nblocks + g]);
        }
        if (HAS_BIAS) {
            acc = acc + t_to_f32(bias[col]);
        }
        y[i] = t_from_f32(acc);
        return;
    }
    for (var blk = 0u; blk < p.nblocks; blk = blk + 1u) {
        let s = t_to_f32(sc[col * p.nblocks + blk]);
        let z = nbits_zero_point(col, blk);
        let base = (col * p.nblocks + blk) * p.blob;
        let k0 = blk * p.block;
        let kend = min(k0 + p.block, p.k);
        var part = 0.0;
        for (var kk = k0; kk < kend; kk = kk + 1u) {
            let bit = (kk - k0) * BITS;
            let q = f32((b[base + bit / 8u] >> (bit % 8u)) & mask);
            part = part + t_to_f32(a[row * p.k + kk]) * (q - z);
        }
        acc = acc + part * s;
    }
    if (HAS_BIAS) {
        acc = acc + t_to_f32(bias[col]);
    }
    y[i] = t_from_f32(acc);
}
