// y = cond ? a : b with numpy broadcasting over all three. Elements move as raw bits.
// Prelude: E (the element as bits).
struct Params {
    n: u32,
    rank: u32,
    pad0: u32,
    pad1: u32,
    shape: array<vec4<u32>, 2>,
    c_strides: array<vec4<u32>, 2>,
    a_strides: array<vec4<u32>, 2>,
    b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> c: array<u32>;
@group(0) @binding(1) var<storage, read_write> a: array<E>;
@group(0) @binding(2) var<storage, read_write> b: array<E>;
@group(0) @binding(3) var<storage, read_write> y: array<E>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    var ic = 0u;
    var ia = 0u;
    var ib = 0u;
    var rem = i;
    for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
        let k = u32(d);
        let s = p.shape[k / 4u][k % 4u];
        let q = rem % s;
        rem = rem / s;
        ic = ic + q * p.c_strides[k / 4u][k % 4u];
        ia = ia + q * p.a_strides[k / 4u][k % 4u];
        ib = ib + q * p.b_strides[k / 4u][k % 4u];
    }
    if (c[ic] != 0u) {
        y[i] = a[ia];
    } else {
        y[i] = b[ib];
    }
}
