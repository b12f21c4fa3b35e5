// Strided copy: y[dst_offset + Σ i_d·dst_stride_d] = x[src_offset + Σ i_d·src_stride_d] over an
// iteration shape of rank ≤ 8. One kernel serves Transpose (permuted strides), Slice (signed
// strides, base offset), Expand (zero strides), Concat/Split (offsets into the larger
// tensor). Prelude: E (the element as bits: u32 or vec2<u32> for 8-byte types).
struct Params {
    n: u32,
    rank: u32,
    src_offset: u32,
    dst_offset: u32,
    shape: array<vec4<u32>, 2>,
    src_strides: array<vec4<i32>, 2>,
    dst_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> x: array<E>;
@group(0) @binding(1) var<storage, read_write> y: array<E>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    var rem = i;
    var src = i32(p.src_offset);
    var dst = p.dst_offset;
    for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
        let k = u32(d);
        let s = p.shape[k / 4u][k % 4u];
        let c = rem % s;
        rem = rem / s;
        src = src + i32(c) * p.src_strides[k / 4u][k % 4u];
        dst = dst + c * p.dst_strides[k / 4u][k % 4u];
    }
    y[dst] = x[u32(src)];
}
