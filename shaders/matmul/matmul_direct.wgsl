// Register-blocked GEMM without workgroup memory or barriers: a workgroup of 8×8 invocations
// computes a 32×32 tile of Y, each invocation a contiguous 4×4 block read straight from
// storage. Out-of-range rows and columns are clamped to the last valid one (read, never
// stored), so the K loop has no branches. A candidate where workgroup memory and barriers
// are costly; the autotuner decides (on lavapipe it loses: neighbouring invocations read
// strided addresses). Batch index = workgroup z.
// Prelude: matmul_lib's inputs.
@compute @workgroup_size(8, 8, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.y * 32u + lid.y * 4u;
    let col0 = wid.x * 32u + lid.x * 4u;
    if (row0 >= p.m || col0 >= p.n) {
        return;
    }
    let off = mm_batch_offsets(wid.z);
    var ar: array<u32, 4>;
    var bc: array<u32, 4>;
    for (var i = 0u; i < 4u; i = i + 1u) {
        ar[i] = off.x + min(row0 + i, p.m - 1u) * p.a_row;
        bc[i] = off.y + min(col0 + i, p.n - 1u) * p.b_col;
    }
    var acc: array<array<ACC, 4>, 4>;
    for (var k = 0u; k < p.k; k = k + 1u) {
        var av: array<ACC, 4>;
        var bv: array<ACC, 4>;
        for (var i = 0u; i < 4u; i = i + 1u) {
            av[i] = ACC(t_to_f32(a[ar[i] + k * p.a_col]));
            bv[i] = ACC(t_to_f32(b[bc[i] + k * p.b_row]));
        }
        for (var i = 0u; i < 4u; i = i + 1u) {
            for (var j = 0u; j < 4u; j = j + 1u) {
                acc[i][j] = fma(av[i], bv[j], acc[i][j]);
            }
        }
    }
    for (var i = 0u; i < 4u; i = i + 1u) {
        for (var j = 0u; j < 4u; j = j + 1u) {
            if (row0 + i < p.m && col0 + j < p.n) {
                mm_store(wid.z, off, row0 + i, col0 + j, acc[i][j]);
            }
        }
    }
}
