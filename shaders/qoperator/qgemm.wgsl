// com.microsoft QGemm, one invocation per output element (i, j) of the (M, N) result:
// acc = C[i * p.c_row + j * p.c_col] + sum_t (A[i, t] - a_zp) * (B[t, j] - b_zp[j]) in int32
// (A and B read through strides, so transposes need no copy), then with REQUANT
// y = round_half_even(clamp(f32(acc) * scale[j], lo - y_zp, hi - y_zp)) + y_zp as MLAS
// requantizes, else y = scale[j] * f32(acc) (float32). scale[j] = alpha * a_scale * b_scale[j]
// (/ y_scale) comes from the host; b_zp and scale have one entry per column or one in all
// (p.per_col). uint8/int8 one 32-bit word per element (int8 sign-extended).
// Prelude: REQUANT.
struct Params {
    m: u32,
    n: u32,
    k: u32,
    per_col: u32,
    a_si: u32,
    a_st: u32,
    b_st: u32,
    b_sj: u32,
    has_c: u32,
    c_row: u32,
    c_col: u32,
    a_zp: i32,
    y_zp: i32,
    lo: i32,
    hi: i32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> a: array<i32>;
@group(0) @binding(1) var<storage, read_write> b: array<i32>;
@group(0) @binding(2) var<storage, read_write> bz: array<i32>;
@group(0) @binding(3) var<storage, read_write> scale: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<i32>;
@group(0) @binding(5) var<storage, read_write> y: array<u32>;
@group(0) @binding(6) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = flat_index(gid, nwg, 256u);
    if (o >= p.m * p.n) {
        return;
    }
    let i = o / p.n;
    let j = o % p.n;
    let jc = select(0u, j, p.per_col != 0u);
    let zb = bz[jc];
    var acc = 0;
    if (p.has_c != 0u) {
        acc = c[i * p.c_row + j * p.c_col];
    }
    for (var t = 0u; t < p.k; t = t + 1u) {
        acc = acc + (a[i * p.a_si + t * p.a_st] - p.a_zp) * (b[t * p.b_st + j * p.b_sj] - zb);
    }
    if (REQUANT) {
        let v = clamp(f32(acc) * scale[jc], f32(p.lo - p.y_zp), f32(p.hi - p.y_zp));
        y[o] = bitcast<u32>(i32(round(v)) + p.y_zp);
    } else {
        y[o] = bitcast<u32>(scale[jc] * f32(acc));
    }
}
