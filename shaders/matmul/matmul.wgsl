// Batched, strided GEMM: y[b] = alpha · A[b] · B[b] + beta · C, tiled 64×64 per workgroup of
// 16×16 threads, each thread accumulating a 4×4 block in registers; K is staged through
// workgroup memory 16 at a time. Transposed operands are read through their strides (never
// materialized). Element offsets into A, C and Y and Y's row stride let one product be split
// into column or K blocks when B is larger than a binding may be.
// Prelude: a type library (T), HAS_BIAS (C is bound and added).
struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch_rank: u32,
    a_row: u32,
    a_col: u32,
    b_row: u32,
    b_col: u32,
    c_row: u32,
    c_col: u32,
    alpha: f32,
    beta: f32,
    a_off: u32,
    c_off: u32,
    y_off: u32,
    y_row: u32,
    batch_shape: vec4<u32>,
    a_batch: vec4<u32>,
    b_batch: vec4<u32>,
}

@group(0) @binding(0) var<storage, read_write> a: array<T>;
@group(0) @binding(1) var<storage, read_write> b: array<T>;
@group(0) @binding(2) var<storage, read_write> c: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

const TILE: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> sa: array<f32, 1024>; // [TK][TILE], k-major
var<workgroup> sb: array<f32, 1024>; // [TK][TILE], k-major

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    var rem = wid.z;
    var ao = 0u;
    var bo = 0u;
    for (var d = i32(p.batch_rank) - 1; d >= 0; d = d - 1) {
        let s = p.batch_shape[d];
        let i = rem % s;
        rem = rem / s;
        ao = ao + i * p.a_batch[d];
        bo = bo + i * p.b_batch[d];
    }
    let tid = lid.y * 16u + lid.x;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < p.k; k0 = k0 + TK) {
        for (var e = 0u; e < 4u; e = e + 1u) {
            let idx = tid + e * 256u;
            // A tile: consecutive threads walk k (contiguous for row-major A).
            let am = idx / TK;
            let ak = idx % TK;
            let r = row0 + am;
            let kq = k0 + ak;
            var va = 0.0;
            if (r < p.m && kq < p.k) {
                va = t_to_f32(a[p.a_off + ao + r * p.a_row + kq * p.a_col]);
            }
            sa[ak * TILE + am] = va;
            // B tile: consecutive threads walk n (contiguous for row-major B).
            let bk = idx / TILE;
            let bn = idx % TILE;
            let col = col0 + bn;
            let kb = k0 + bk;
            var vb = 0.0;
            if (col < p.n && kb < p.k) {
                vb = t_to_f32(b[bo + kb * p.b_row + col * p.b_col]);
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
    let yo = wid.z * p.m * p.y_row + p.y_off;
    for (var i = 0u; i < 4u; i = i + 1u) {
        let r = row0 + lid.y * 4u + i;
        if (r >= p.m) {
            continue;
        }
        for (var j = 0u; j < 4u; j = j + 1u) {
            let col = col0 + lid.x * 4u + j;
            if (col >= p.n) {
                continue;
            }
            var v = p.alpha * acc[i][j];
            if (HAS_BIAS) {
                v = v + p.beta * t_to_f32(c[p.c_off + r * p.c_row + col * p.c_col]);
            }
            y[yo + r * p.y_row + col] = t_from_f32(v);
        }
    }
}
