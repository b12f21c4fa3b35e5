// Matrix-vector products (small M, e.g. decoding): every weight is read once per row of A. A
// workgroup of 256 invocations covers 64 columns × 4 K-slices; consecutive invocations read
// consecutive columns (coalesced for row-major B), and the four partial sums meet in workgroup
// memory. Row = workgroup y, batch = workgroup z. See matmul_gemv_sg.wgsl for the subgroup form.
// Prelude: matmul_lib's inputs.
var<workgroup> part: array<ACC, 256>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let r = wid.y;
    let off = mm_batch_offsets(wid.z);
    let col = wid.x * 64u + li % 64u;
    let ks = li / 64u;
    var s = ACC(0.0);
    if (col < p.n) {
        for (var k = ks; k < p.k; k = k + 4u) {
            s = fma(mm_a(off.x, r, k), mm_b(off.y, k, col), s);
        }
    }
    part[li] = s;
    workgroupBarrier();
    if (ks == 0u && col < p.n) {
        mm_store(wid.z, off, r, col, (part[li] + part[li + 64u]) + (part[li + 128u] + part[li + 192u]));
    }
}
