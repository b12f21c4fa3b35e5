// com.microsoft GatherBlockQuantized, one invocation per output element i (ONNX Runtime's
// reshapes): block b = i / gather_block, element e = i % gather_block, index
// idx = indices[b % n_idx] (negative wraps; out of range gives 0), logical data element
// d = (b / n_idx) * axis_dim * gather_block + idx * gather_block + e, its scale
// s = (d / (qdim * qn)) * sfb + (d % (qdim * qn) / qn) / block * qn + d % qn, and
// y = f32(q - zp) * scale[s].
// Data: p.packed != 0: uint8 words (one byte per word) holding p.comps values of p.bits bits,
// element k at bits (k % comps) * bits of word k / comps; else int4/uint4 one sign/zero-
// extended word per element. Zero points (p.zp_mode): 0 absent (p.default_zp), 1 packed like
// the data, p.zp_row bytes per scale row of p.sfb scales, 2 one word per scale.
// Prelude: the type library of scales / y (T, t_to_f32, t_from_f32), IDX64 (int64 indices as
// lo/hi word pairs; else int32).
struct Params {
    n: u32,
    gather_block: u32,
    n_idx: u32,
    axis_dim: u32,
    qdim: u32,
    qn: u32,
    block: u32,
    sfb: u32,
    zp_row: u32,
    zp_mode: u32,
    packed: u32,
    bits: u32,
    comps: u32,
    default_zp: i32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> data: array<u32>;
@group(0) @binding(1) var<storage, read_write> indices: array<i32>;
@group(0) @binding(2) var<storage, read_write> sc: array<T>;
@group(0) @binding(3) var<storage, read_write> zp: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let b = i / p.gather_block;
    let e = i % p.gather_block;
    let gn = b % p.n_idx;
    var idx = 0;
    var in_range = true;
    if (IDX64) {
        let lo = indices[2u * gn];
        let hi = indices[2u * gn + 1u];
        idx = lo;
        in_range = hi == (lo >> 31u);
    } else {
        idx = indices[gn];
    }
    let len = i32(p.axis_dim);
    if (!in_range || idx < -len || idx >= len) {
        y[i] = t_from_f32(0.0);
        return;
    }
    if (idx < 0) {
        idx = idx + len;
    }
    let d = (b / p.n_idx) * p.axis_dim * p.gather_block + u32(idx) * p.gather_block + e;
    let mask = (1u << p.bits) - 1u;
    var q = 0;
    if (p.packed != 0u) {
        q = i32((data[d / p.comps] >> ((d % p.comps) * p.bits)) & mask);
    } else {
        q = bitcast<i32>(data[d]);
    }
    let qfull = p.qdim * p.qn;
    let s = (d / qfull) * p.sfb + (d % qfull / p.qn) / p.block * p.qn + d % p.qn;
    var z = p.default_zp;
    if (p.zp_mode == 1u) {
        let row = s / p.sfb;
        let r = s % p.sfb;
        z = i32((zp[row * p.zp_row + r / p.comps] >> ((r % p.comps) * p.bits)) & mask);
    } else if (p.zp_mode == 2u) {
        z = bitcast<i32>(zp[s]);
    }
    y[i] = t_from_f32(f32(q - z) * t_to_f32(sc[s]));
}
