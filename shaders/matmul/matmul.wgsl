// Tiled GEMM through workgroup memory: a workgroup of 16×16 invocations computes a
// (16·RM)×(16·RN) tile of Y, each invocation an RM×RN register block (rows lid.y + 16·i, columns
// lid.x + 16·j, so workgroup-memory reads are consecutive across invocations); K is staged TK
// at a time. Batch index = workgroup z. See matmul_lib.wgsl for Params and the epilogue.
// Prelude: matmul_lib's inputs, RM, RN, TK, VEC4_A / VEC4_B (A / B bound as vec4 arrays: the
// tile loads read four elements at once; see matmul_a4_lib.wgsl for when the host picks them).
const TM: u32 = 16u * RM;
const TN: u32 = 16u * RN;

var<workgroup> sa: array<ACC, TK * TM>; // [TK][TM], k-major
var<workgroup> sb: array<ACC, TK * TN>; // [TK][TN], k-major

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.y * TM;
    let col0 = wid.x * TN;
    let off = mm_batch_offsets(wid.z);
    let tid = lid.y * 16u + lid.x;
    var acc: array<array<ACC, RN>, RM>;
    for (var k0 = 0u; k0 < p.k; k0 = k0 + TK) {
        // A tile: consecutive invocations walk k (contiguous for row-major A), four at a time
        // with VEC4_A (K a multiple of 4: a vec4 is wholly inside or outside the matrix).
        if (VEC4_A) {
            for (var e = tid; e < TM * TK / 4u; e = e + 256u) {
                let am = e / (TK / 4u);
                let ak = (e % (TK / 4u)) * 4u;
                let r = row0 + am;
                let kq = k0 + ak;
                var va = vec4<ACC>(ACC(0.0));
                if (r < p.m && kq < p.k) {
                    va = mm_a4(off.x, r, kq);
                }
                for (var q = 0u; q < 4u; q = q + 1u) {
                    sa[(ak + q) * TM + am] = va[q];
                }
            }
        } else {
            for (var e = tid; e < TM * TK; e = e + 256u) {
                let am = e / TK;
                let ak = e % TK;
                let r = row0 + am;
                let kq = k0 + ak;
                var va = ACC(0.0);
                if (r < p.m && kq < p.k) {
                    va = mm_a(off.x, r, kq);
                }
                sa[ak * TM + am] = va;
            }
        }
        // B tile: consecutive invocations walk n (contiguous for row-major B), four at a time
        // with VEC4_B (N a multiple of 4).
        if (VEC4_B) {
            for (var e = tid; e < TN * TK / 4u; e = e + 256u) {
                let bk = e / (TN / 4u);
                let bn = (e % (TN / 4u)) * 4u;
                let col = col0 + bn;
                let kb = k0 + bk;
                var vb = vec4<ACC>(ACC(0.0));
                if (col < p.n && kb < p.k) {
                    vb = mm_b4(off.y, kb, col);
                }
                for (var q = 0u; q < 4u; q = q + 1u) {
                    sb[bk * TN + bn + q] = vb[q];
                }
            }
        } else {
            for (var e = tid; e < TN * TK; e = e + 256u) {
                let bk = e / TN;
                let bn = e % TN;
                let col = col0 + bn;
                let kb = k0 + bk;
                var vb = ACC(0.0);
                if (col < p.n && kb < p.k) {
                    vb = mm_b(off.y, kb, col);
                }
                sb[bk * TN + bn] = vb;
            }
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk = kk + 1u) {
            var av: array<ACC, RM>;
            var bv: array<ACC, RN>;
            for (var i = 0u; i < RM; i = i + 1u) {
                av[i] = sa[kk * TM + lid.y + 16u * i];
            }
            for (var j = 0u; j < RN; j = j + 1u) {
                bv[j] = sb[kk * TN + lid.x + 16u * j];
            }
            for (var i = 0u; i < RM; i = i + 1u) {
                for (var j = 0u; j < RN; j = j + 1u) {
                    acc[i][j] = fma(av[i], bv[j], acc[i][j]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < RM; i = i + 1u) {
        let r = row0 + lid.y + 16u * i;
        for (var j = 0u; j < RN; j = j + 1u) {
            let col = col0 + lid.x + 16u * j;
            if (r < p.m && col < p.n) {
                mm_store(wid.z, off, r, col, acc[i][j]);
            }
        }
    }
}
