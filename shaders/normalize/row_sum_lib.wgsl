// The row reduction shared by the row kernels (normalize/rows.wgsl, contrib_norm/*; one
// workgroup of 64 per row).

var<workgroup> part: array<f32, 64>;

// The sum of `v` over the workgroup's 64 invocations (a tree reduction; every invocation
// gets the result).
fn tree_sum(lidx: u32, v: f32) -> f32 {
    part[lidx] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (lidx < s) {
            part[lidx] = part[lidx] + part[lidx + s];
        }
        workgroupBarrier();
    }
    let r = part[0];
    workgroupBarrier();
    return r;
}
