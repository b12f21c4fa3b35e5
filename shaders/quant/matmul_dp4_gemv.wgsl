// The packed int8 product for few rows (M <= 4; see `dp4_lib.wgsl` for the operands, the
// zero-point algebra and the epilogues): one workgroup of 64 invocations per GC = 8 output
// columns (flat over workgroups x and y) and batch (z), GL = 8 invocations per column. Each
// strides over the column's words (every word of B is read once; raw and im2col sources are
// packed as they are read), multiplying it with
// the same word of each of A's rows (four rows in a vector); then the column's 8 partial sums
// are added in workgroup memory and its invocation r finishes row r.
// Prelude: dp4_lib.wgsl's.

const GC: u32 = 8u;
const GL: u32 = 8u;

var<workgroup> part: array<vec4<i32>, 64>;
var<workgroup> part_a: array<vec4<i32>, 64>;
var<workgroup> part_b: array<i32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    let lane = t % GL;
    let c0 = (t / GL) * GL;
    let j = (wid.x + wid.y * 65535u) * GC + t / GL;
    let off = batch_offsets(wid.z);
    let rows = min(p.m, 4u);
    let r1 = select(0u, 1u, rows > 1u);
    let r2 = select(0u, 2u, rows > 2u);
    let r3 = select(0u, 3u, rows > 3u);
    var acc = vec4<i32>();
    var suma = vec4<i32>();
    var sumb = 0;
    if (j < p.n) {
        for (var w = lane; w < p.k4; w = w + GL) {
            let bw = b_word(off.y, j, w);
            // Rows past M repeat row 0 (their sums are never stored); read each real row once.
            var aw = vec4<u32>(a_word(off.x, 0u, w));
            if (rows > 1u) {
                aw.y = a_word(off.x, r1, w);
            }
            if (rows > 2u) {
                aw.z = a_word(off.x, r2, w);
            }
            if (rows > 3u) {
                aw.w = a_word(off.x, r3, w);
            }
            acc = acc + vec4<i32>(dot4I8Packed(aw.x, bw), dot4I8Packed(aw.y, bw), dot4I8Packed(aw.z, bw), dot4I8Packed(aw.w, bw));
            if (SA_CALC) {
                suma = suma + vec4<i32>(dot4I8Packed(aw.x, ONES), dot4I8Packed(aw.y, ONES), dot4I8Packed(aw.z, ONES), dot4I8Packed(aw.w, ONES));
            }
            if (SB_CALC) {
                sumb = sumb + dot4I8Packed(bw, ONES);
            }
        }
    }
    part[t] = acc;
    part_a[t] = suma;
    part_b[t] = sumb;
    workgroupBarrier();
    if (j >= p.n || lane >= rows) {
        return;
    }
    var dot = 0;
    var sa_r = 0;
    var sb_j = 0;
    for (var u = c0; u < c0 + GL; u = u + 1u) {
        dot = dot + part[u][lane];
        sa_r = sa_r + part_a[u][lane];
        sb_j = sb_j + part_b[u];
    }
    finish(dot, sa_r, sb_j, wid.z, off, lane, j);
}
