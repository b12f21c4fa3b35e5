// com.microsoft QLinearAdd / QLinearMul with broadcasting:
// c = clamp(round(((a - a_zp) * a_scale OP (b - b_zp) * b_scale) / c_scale) + c_zp, lo, hi) in f32,
// rounding half to even. One invocation per output element. uint8/int8 are stored one 32-bit
// word per element (int8 sign-extended). Scales and zero points come in Params.
// Prelude: SIGNED (int8 data), MUL (QLinearMul; else QLinearAdd).
struct Params {
    n: u32,
    rank: u32,
    pad0: u32,
    pad1: u32,
    // output dims, then each input's element strides (0 on broadcast dims)
    dims: array<vec4<u32>, 2>,
    sa: array<vec4<u32>, 2>,
    sb: array<vec4<u32>, 2>,
    a_scale: f32,
    a_zp: f32,
    b_scale: f32,
    b_zp: f32,
    c_scale: f32,
    c_zp: f32,
    pad2: u32,
    pad3: u32,
}

@group(0) @binding(0) var<storage, read_write> a: array<u32>;
@group(0) @binding(1) var<storage, read_write> b: array<u32>;
@group(0) @binding(2) var<storage, read_write> c: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

fn word_value(w: u32) -> f32 {
    if (SIGNED) {
        return f32(bitcast<i32>(w));
    }
    return f32(w);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    var rem = i;
    var ia = 0u;
    var ib = 0u;
    for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
        let dim = p.dims[d / 4][d % 4];
        let coord = rem % dim;
        rem = rem / dim;
        ia = ia + coord * p.sa[d / 4][d % 4];
        ib = ib + coord * p.sb[d / 4][d % 4];
    }
    let da = (word_value(a[ia]) - p.a_zp) * p.a_scale;
    let db = (word_value(b[ib]) - p.b_zp) * p.b_scale;
    var r = da + db;
    if (MUL) {
        r = da * db;
    }
    var lo = 0.0;
    var hi = 255.0;
    if (SIGNED) {
        lo = -128.0;
        hi = 127.0;
    }
    let q = clamp(round(r / p.c_scale) + p.c_zp, lo, hi);
    c[i] = bitcast<u32>(i32(q));
}
