// com.microsoft MatMulNBits for one row of A (M = 1): y[n] = sum_k a[k] * (q[k, n] - zp[n, blk])
// * scale[n, blk] (+ bias[n]). One workgroup of 64 invocations per output column; each
// invocation reads whole packed words of the column (32 / BITS weights each), so every packed
// weight is read once, then the 64 partial sums are reduced in workgroup memory.
// B is the plan-time weight repacked four bytes per u32 word (little-endian): the column's
// weights are contiguous, element k at bit k * BITS of the column's p.nblocks * p.blob bytes
// (whole blocks, so each column starts on a word boundary).
// Prelude: the type library of A / scales / bias / y, BITS, ZP_MODE and nbits_lib.wgsl, HAS_BIAS.
// Params and bindings: nbits_lib.wgsl.

var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let col = flat_group(wid, nwg);
    let t = lid.x;
    let per_word = 32u / BITS;
    let mask = (1u << BITS) - 1u;
    let words = p.nblocks * p.blob / 4u;
    var acc = 0.0;
    if (col < p.n) {
        for (var w = t; w < words; w = w + 64u) {
            let word = b[col * words + w];
            let k0 = w * per_word;
            let blk = k0 / p.block;
            let z = nbits_zero_point(col, blk);
            var part = 0.0;
            for (var e = 0u; e < per_word; e = e + 1u) {
                let kk = k0 + e;
                if (kk < p.k) {
                    part = part + t_to_f32(a[kk]) * (f32((word >> (e * BITS)) & mask) - z);
                }
            }
            acc = acc + part * t_to_f32(sc[col * p.nblocks + blk]);
        }
    }
    partial[t] = acc;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s / 2u) {
        if (t < s) {
            partial[t] = partial[t] + partial[t + s];
        }
        workgroupBarrier();
    }
    if (t == 0u && col < p.n) {
        var r = partial[0];
        if (HAS_BIAS) {
            r = r + t_to_f32(bias[col]);
        }
        y[col] = t_from_f32(r);
    }
}
