// Marks, for a deterministic scatter, the groups that write: keep[g] = 1 when no other group
// of g's line (g = base + t·line_stride, t < line_len) targets the same position after g
// (LAST: a scatter without reduction, where the last update wins) or before g (otherwise:
// the first group then combines every later one in order). Invalid positions are not kept.
// Prelude: LAST.
struct Params {
    n: u32,
    line_len: u32,
    line_stride: u32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> pos: array<u32>;
@group(0) @binding(1) var<storage, read_write> keep: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = flat_index(gid, nwg, 256u);
    if (g >= p.n) {
        return;
    }
    let o = pos[g];
    if (o == 0xffffffffu) {
        keep[g] = 0u;
        return;
    }
    let t = (g / p.line_stride) % p.line_len;
    let base = g - t * p.line_stride;
    var lo = 0u;
    var hi = t;
    if (LAST) {
        lo = t + 1u;
        hi = p.line_len;
    }
    for (var u = lo; u < hi; u = u + 1u) {
        if (pos[base + u * p.line_stride] == o) {
            keep[g] = 0u;
            return;
        }
    }
    keep[g] = 1u;
}
