// 2-D convolution as an implicit GEMM: rows are output pixels (n, oy, ox), columns are the
// output channels of one group, K runs over (input channel, ky, kx). The im2col matrix is
// never stored: each 64×16 A tile is gathered from X on the fly. Same 64×64 tiling as
// matmul.wgsl; groups go in grid z. Prelude: a type library (T), HAS_BIAS.
struct Params {
    batch: u32,
    in_c: u32,
    in_h: u32,
    in_w: u32,
    out_c: u32,
    out_h: u32,
    out_w: u32,
    group_in_c: u32,
    k_h: u32,
    k_w: u32,
    stride_h: u32,
    stride_w: u32,
    dil_h: u32,
    dil_w: u32,
    pad_h: u32,
    pad_w: u32,
    group_out_c: u32,
    gemm_m: u32,
    gemm_k: u32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> w: array<T>;
@group(0) @binding(2) var<storage, read_write> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

const TILE: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> sa: array<f32, 1024>;
var<workgroup> sb: array<f32, 1024>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let g = wid.z;
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    let tid = lid.y * 16u + lid.x;
    let pix = p.out_h * p.out_w;
    let khw = p.k_h * p.k_w;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < p.gemm_k; k0 = k0 + TK) {
        for (var e = 0u; e < 4u; e = e + 1u) {
            let idx = tid + e * 256u;
            // A: the im2col element (pixel r, tap kq).
            let am = idx / TK;
            let ak = idx % TK;
            let r = row0 + am;
            let kq = k0 + ak;
            var va = 0.0;
            if (r < p.gemm_m && kq < p.gemm_k) {
                let n = r / pix;
                let pp = r % pix;
                let oy = pp / p.out_w;
                let ox = pp % p.out_w;
                let ci = kq / khw;
                let kr = kq % khw;
                let iy = i32(oy * p.stride_h + (kr / p.k_w) * p.dil_h) - i32(p.pad_h);
                let ix = i32(ox * p.stride_w + (kr % p.k_w) * p.dil_w) - i32(p.pad_w);
                if (iy >= 0 && iy < i32(p.in_h) && ix >= 0 && ix < i32(p.in_w)) {
                    let ch = g * p.group_in_c + ci;
                    va = t_to_f32(x[((n * p.in_c + ch) * p.in_h + u32(iy)) * p.in_w + u32(ix)]);
                }
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
            y[(n * p.out_c + ch) * pix + pp] = t_from_f32(v);
        }
    }
}
