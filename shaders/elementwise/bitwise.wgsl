// y = a ∘ b with numpy broadcasting for the bitwise ops on 32-bit integers. Prelude: T (i32 or
// u32), O (= T), OP (a BINARY_* code), BCAST. Prelude: T (operand element), O (output element),
// OP (a BINARY_* code), BCAST (false when a, b and y have one shape: no index arithmetic).
struct Params {
    n: u32,
    rank: u32,
    pad0: u32,
    pad1: u32,
    shape: array<vec4<u32>, 2>,
    a_strides: array<vec4<u32>, 2>,
    b_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> a: array<T>;
@group(0) @binding(1) var<storage, read_write> b: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<O>;
@group(0) @binding(3) var<uniform> p: Params;

fn apply(x: T, z: T) -> O {
    let u = bitcast<u32>(x);
    let v = bitcast<u32>(z);
    switch OP {
        case BINARY_BITSHIFTLEFT: { return O(select(0u, u << v, v < 32u)); }
        case BINARY_BITSHIFTRIGHT: { return O(select(0u, u >> v, v < 32u)); }
        case BINARY_BITWISEAND: { return O(u & v); }
        case BINARY_BITWISEOR: { return O(u | v); }
        case BINARY_BITWISEXOR: { return O(u ^ v); }
        default: { return O(u); }
    }
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    var ia = i;
    var ib = i;
    if (BCAST) {
        ia = 0u;
        ib = 0u;
        var rem = i;
        for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
            let k = u32(d);
            let s = p.shape[k / 4u][k % 4u];
            let c = rem % s;
            rem = rem / s;
            ia = ia + c * p.a_strides[k / 4u][k % 4u];
            ib = ib + c * p.b_strides[k / 4u][k % 4u];
        }
    }
    y[i] = apply(a[ia], b[ib]);
}
