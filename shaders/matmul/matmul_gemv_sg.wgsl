// Matrix-vector products with subgroup reductions (adapters with SUBGROUP): a workgroup of 64
// invocations computes one element of Y, striding over K (coalesced for transposed B, i.e.
// Gemm transB / [N, K] weights: each weight is read once per row of A). Partial sums are added
// with subgroupAdd, then across subgroups in workgroup memory, so any subgroup size works.
// Column = workgroup x, row = workgroup y, batch = workgroup z.
// Prelude: matmul_lib's inputs.
var<workgroup> part: array<ACC, 64>;

@compute @workgroup_size(64, 1, 1)
fn main(
    @builtin(local_invocation_index) li: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(subgroup_invocation_id) sg_lane: u32,
    @builtin(subgroup_id) sg_id: u32,
    @builtin(num_subgroups) sg_count: u32,
) {
    let r = wid.y;
    let col = wid.x;
    let off = mm_batch_offsets(wid.z);
    var s = ACC(0.0);
    for (var k = li; k < p.k; k = k + 64u) {
        s = fma(mm_a(off.x, r, k), mm_b(off.y, k, col), s);
    }
    let t = subgroupAdd(s);
    if (sg_lane == 0u) {
        part[sg_id] = t;
    }
    workgroupBarrier();
    if (li == 0u) {
        var total = ACC(0.0);
        for (var i = 0u; i < sg_count; i = i + 1u) {
            total = total + part[i];
        }
        mm_store(wid.z, off, r, col, total);
    }
}
