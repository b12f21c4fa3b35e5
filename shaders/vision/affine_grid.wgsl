// AffineGrid: y[b, o…, r] = Σ_j theta[b, r, j] · q_j with q = (x, y[, z], 1) the normalized
// coordinates of output position o (innermost axis first; −1…1, at pixel centres unless
// align_corners), in f32. Spatial dims (2 or 3) in sp. Prelude: a type library (T).
struct Params {
    n: u32,
    nd: u32,
    align: u32,
    pad0: u32,
    sp: vec4<u32>,
}

@group(0) @binding(0) var<storage, read_write> theta: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

fn coord(i: u32, n: u32) -> f32 {
    if (n <= 1u) {
        return 0.0;
    }
    if (p.align != 0u) {
        return -1.0 + 2.0 * f32(i) / f32(n - 1u);
    }
    return -1.0 + f32(2u * i + 1u) / f32(n);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let nd = p.nd;
    var osz = 1u;
    for (var d = 0u; d < nd; d = d + 1u) {
        osz = osz * p.sp[d];
    }
    let row = i % nd;
    let o = (i / nd) % osz;
    let b = i / (nd * osz);
    let th = (b * nd + row) * (nd + 1u);
    var acc = t_to_f32(theta[th + nd]);
    // Innermost axis first: coordinate j belongs to spatial axis nd − 1 − j.
    var rem = o;
    for (var j = 0u; j < nd; j = j + 1u) {
        let d = nd - 1u - j;
        let len = p.sp[d];
        acc = acc + t_to_f32(theta[th + j]) * coord(rem % len, len);
        rem = rem / len;
    }
    y[i] = t_from_f32(acc);
}
