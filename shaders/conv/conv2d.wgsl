// Convolution (1-D, 2-D or 3-D, as 3-D with unit leading dims) as an implicit GEMM: rows are
// output pixels (n, od, oy, ox), columns are the output channels of one group, K runs over
// (input channel, kz, ky, kx). The im2col matrix is never stored: each 64×16 A tile is
// gathered from X on the fly. Same 64×64 tiling as matmul.wgsl; groups go in grid z.
// Epilogue: y = act(acc + bias + z) (HAS_RESIDUAL binds z, shaped like y; ACT from
// fused/activation.wgsl with p.act_alpha/p.act_beta).
// Prelude: a type library (T), HAS_BIAS, HAS_RESIDUAL, ACT and the activation library.
struct Params {
    batch: u32,
    in_c: u32,
    out_c: u32,
    group_in_c: u32,
    group_out_c: u32,
    gemm_m: u32,
    gemm_k: u32,
    pad0: u32,
    // Spatial geometry as (d, h, w, unused).
    in_sp: vec4<u32>,
    out_sp: vec4<u32>,
    kernel: vec4<u32>,
    stride: vec4<u32>,
    dilation: vec4<u32>,
    pad: vec4<u32>,
    act_alpha: f32,
    act_beta: f32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> w: array<T>;
@group(0) @binding(2) var<storage, read_write> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> z: array<T>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;
@group(0) @binding(5) var<uniform> p: Params;

const TILE: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> sa: array<f32, 1024>;
var<workgroup> sb: array<f32, 1024>;

// The input element read by output pixel r and tap kq of group g (0 outside the input).
fn im2col(g: u32, r: u32, kq: u32) -> f32 {
    let pix = p.out_sp.x * p.out_sp.y * p.out_sp.z;
    let n = r / pix;
    let pp = r % pix;
    let o = vec3<u32>(pp / (p.out_sp.y * p.out_sp.z), (pp / p.out_sp.z) % p.out_sp.y, pp % p.out_sp.z);
    let kvol = p.kernel.x * p.kernel.y * p.kernel.z;
    let ci = kq / kvol;
    let kr = kq % kvol;
    let k = vec3<u32>(kr / (p.kernel.y * p.kernel.z), (kr / p.kernel.z) % p.kernel.y, kr % p.kernel.z);
    let pos = vec3<i32>(o * p.stride.xyz + k * p.dilation.xyz) - vec3<i32>(p.pad.xyz);
    if (any(pos < vec3<i32>(0)) || any(pos >= vec3<i32>(p.in_sp.xyz))) {
        return 0.0;
    }
    let q = vec3<u32>(pos);
    let ch = g * p.group_in_c + ci;
    return t_to_f32(x[(((n * p.in_c + ch) * p.in_sp.x + q.x) * p.in_sp.y + q.y) * p.in_sp.z + q.z]);
}

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let g = wid.z;
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    let tid = lid.y * 16u + lid.x;
    let pix = p.out_sp.x * p.out_sp.y * p.out_sp.z;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < p.gemm_k; k0 = k0 + TK) {
        for (var e = 0u; e < 4u; e = e + 1u) {
            let idx = tid + e * 256u;
            let am = idx / TK;
            let ak = idx % TK;
            let r = row0 + am;
            let kq = k0 + ak;
            var va = 0.0;
            if (r < p.gemm_m && kq < p.gemm_k) {
                va = im2col(g, r, kq);
            }
            sa[ak * TILE + am] = va;
            // B: W[g·OCg + oc, kq]
            let bk = idx / TILE;
            let bn = idx % TILE;
            let oc = col0 + bn;
            let kb = k0 + bk;
            var vb = 0.0;
            if (oc < p.group_out_c && kb < p.gemm_k) {
                vb = t_to_f32(w[(g * p.group_out_c + oc) * p.gemm_k + kb]);
            }
            sb[bk * TILE + bn] = vb;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk = kk + 1u) {
            let ab = kk * TILE + lid.y * 4u;
            let bb = kk * TILE + lid.x * 4u;
            let av = vec4<f32>(sa[ab], sa[ab + 1u], sa[ab + 2u], sa[ab + 3u]);
            let bv = vec4<f32>(sb[bb], sb[bb + 1u], sb[bb + 2u], sb[bb + 3u]);
            acc[0] = acc[0] + av.x * bv;
            acc[1] = acc[1] + av.y * bv;
            acc[2] = acc[2] + av.z * bv;
            acc[3] = acc[3] + av.w * bv;
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i = i + 1u) {
        let r = row0 + lid.y * 4u + i;
        if (r >= p.gemm_m) {
            continue;
        }
        let n = r / pix;
        let pp = r % pix;
        for (var j = 0u; j < 4u; j = j + 1u) {
            let oc = col0 + lid.x * 4u + j;
            if (oc >= p.group_out_c) {
                continue;
            }
            let ch = g * p.group_out_c + oc;
            var v = acc[i][j];
            if (HAS_BIAS) {
                v = v + t_to_f32(bias[ch]);
            }
            let yi = (n * p.out_c + ch) * pix + pp;
            if (HAS_RESIDUAL) {
                v = v + t_to_f32(z[yi]);
            }
            y[yi] = t_from_f32(act_apply(v, p.act_alpha, p.act_beta));
        }
    }
}
