// Max / average / Lp pooling, 1-D/2-D/3-D (as 3-D with unit leading dims), one invocation per
// output element; MaxPool optionally writes int64 indices (row- or column-major in the
// plane, offset by the plane). Windows are clipped to the input; average pooling divides by
// the taps inside the input, or (COUNT_PAD) by those inside the padded bounds.
// Prelude: a type library (T), OP (POOL_MAX | POOL_AVG | POOL_LP), COUNT_PAD, COL_MAJOR.
struct Params {
    total: u32,
    lp: f32,
    pad0: u32,
    pad1: u32,
    in_sp: vec4<u32>,
    out_sp: vec4<u32>,
    kernel: vec4<u32>,
    stride: vec4<u32>,
    dilation: vec4<u32>,
    pad: vec4<u32>,
    pad_end: vec4<u32>,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<storage, read_write> indices: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.total) {
        return;
    }
    let pix = p.out_sp.x * p.out_sp.y * p.out_sp.z;
    let pp = i % pix;
    let o = vec3<u32>(pp / (p.out_sp.y * p.out_sp.z), (pp / p.out_sp.z) % p.out_sp.y, pp % p.out_sp.z);
    let plane = i / pix;
    let plane_size = p.in_sp.x * p.in_sp.y * p.in_sp.z;
    let xb = plane * plane_size;
    var best = -3.402823e38;
    var best_at = 0u;
    var seen = false;
    var sum = 0.0;
    var inside = 0u;
    var padded = 0u;
    let hi = vec3<i32>(p.in_sp.xyz + p.pad_end.xyz);
    for (var kz = 0u; kz < p.kernel.x; kz = kz + 1u) {
        for (var ky = 0u; ky < p.kernel.y; ky = ky + 1u) {
            for (var kx = 0u; kx < p.kernel.z; kx = kx + 1u) {
                let k = vec3<u32>(kz, ky, kx);
                let pos = vec3<i32>(o * p.stride.xyz + k * p.dilation.xyz) - vec3<i32>(p.pad.xyz);
                if (any(pos >= hi)) {
                    continue;
                }
                padded = padded + 1u;
                if (any(pos < vec3<i32>(0)) || any(pos >= vec3<i32>(p.in_sp.xyz))) {
                    continue;
                }
                inside = inside + 1u;
                let q = vec3<u32>(pos);
                let off = (q.x * p.in_sp.y + q.y) * p.in_sp.z + q.z;
                let v = t_to_f32(x[xb + off]);
                if (OP == POOL_MAX) {
                    if (!seen || v > best) {
                        best = v;
                        best_at = select(off, q.x + (q.y + q.z * p.in_sp.y) * p.in_sp.x, COL_MAJOR);
                    }
                    seen = true;
                } else if (OP == POOL_AVG) {
                    sum = sum + v;
                } else {
                    sum = sum + pow(abs(v), p.lp);
                }
            }
        }
    }
    var r = best;
    if (OP == POOL_AVG) {
        r = sum / f32(select(inside, padded, COUNT_PAD));
    } else if (OP == POOL_LP) {
        r = pow(sum, 1.0 / p.lp);
    }
    y[i] = t_from_f32(r);
    if (WITH_INDICES) {
        let flat = plane * plane_size + best_at;
        indices[2u * i] = flat;
        indices[2u * i + 1u] = 0u;
    }
}
