// com.microsoft MatMulNBits for M > 1 rows of A: y[m, n] = sum_k a[m, k] * (q[k, n] - zp[n, blk])
// * scale[n, blk] (+ bias[n]). One workgroup of 16 x 16 invocations per 16 x 16 output tile;
// for each chunk of 32 k the workgroup stages A's 16 x 32 slice and the 32 x 16 slice of B,
// dequantized once per tile from whole packed words (BITS words per column), in workgroup
// memory, then each invocation accumulates its output element.
// B is the plan-time weight repacked four bytes per u32 word (little-endian); element k of a
// column sits at bit k * BITS of the column's p.nblocks * p.blob bytes.
// Prelude: the type library of A / scales / bias / y, BITS, ZP_MODE and nbits_lib.wgsl, HAS_BIAS.
// Params and bindings: nbits_lib.wgsl.

const TM: u32 = 16u;
const TN: u32 = 16u;
const TK: u32 = 32u;

var<workgroup> at: array<f32, 512>;
var<workgroup> bt: array<f32, 512>;

@compute @workgroup_size(256)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let tiles_n = (p.n + TN - 1u) / TN;
    let g = flat_group(wid, nwg);
    let tm = g / tiles_n;
    let tn = g % tiles_n;
    let r = li / TN;
    let c = li % TN;
    let row = tm * TM + r;
    let col = tn * TN + c;
    let per_word = 32u / BITS;
    let mask = (1u << BITS) - 1u;
    let words = p.nblocks * p.blob / 4u;
    let kcap = p.nblocks * p.block;
    // Words of one column per k chunk.
    let wpc = TK / per_word;
    var acc = 0.0;
    for (var k0 = 0u; k0 < p.k; k0 = k0 + TK) {
        for (var e = li; e < TM * TK; e = e + 256u) {
            let gr = tm * TM + e / TK;
            let gk = k0 + e % TK;
            var v = 0.0;
            if (gr < p.m && gk < p.k) {
                v = t_to_f32(a[gr * p.k + gk]);
            }
            at[e] = v;
        }
        for (var e = li; e < TN * wpc; e = e + 256u) {
            let cc = e / wpc;
            let gc = tn * TN + cc;
            let kb = k0 + (e % wpc) * per_word;
            var word = 0u;
            var s = 0.0;
            var z = 0.0;
            if (gc < p.n && kb < kcap) {
                word = b[gc * words + kb / per_word];
                let blk = kb / p.block;
                s = t_to_f32(sc[gc * p.nblocks + blk]);
                z = nbits_zero_point(gc, blk);
            }
            for (var j = 0u; j < per_word; j = j + 1u) {
                var v = 0.0;
                if (kb + j < p.k) {
                    v = (f32((word >> (j * BITS)) & mask) - z) * s;
                }
                bt[(kb + j - k0) * TN + cc] = v;
            }
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk = kk + 1u) {
            acc = acc + at[r * TK + kk] * bt[kk * TN + c];
        }
        workgroupBarrier();
    }
    if (row < p.m && col < p.n) {
        if (HAS_BIAS) {
            acc = acc + t_to_f32(bias[col]);
        }
        y[row * p.n + col] = t_from_f32(acc);
    }
}
