// ConvTranspose (1-D, 2-D or 3-D, as 3-D with unit leading dims) in gather form: each output
// element y[b, oc, o] sums x[b, ch, i] · w[ch, oc % mg, k] over the input channels ch of its
// group and every tap k with i·stride + k·dilation − pad = o, in f32, plus the bias.
// Prelude: a type library (T), HAS_BIAS.
struct Params {
    n: u32,
    c: u32,
    m: u32,
    cg: u32,
    mg: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
    // Spatial geometry as (d, h, w, unused).
    in_sp: vec4<u32>,
    out_sp: vec4<u32>,
    kernel: vec4<u32>,
    stride: vec4<u32>,
    dilation: vec4<u32>,
    pad: vec4<u32>,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> w: array<T>;
@group(0) @binding(2) var<storage, read_write> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

// The input position tap k of output position o reads along one axis (−1: none).
fn source(o: u32, k: u32, ax: u32) -> i32 {
    let t = i32(o + p.pad[ax]) - i32(k * p.dilation[ax]);
    if (t < 0) {
        return -1;
    }
    let s = p.stride[ax];
    let ut = u32(t);
    if (ut % s != 0u || ut / s >= p.in_sp[ax]) {
        return -1;
    }
    return i32(ut / s);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let osz = p.out_sp.x * p.out_sp.y * p.out_sp.z;
    let isz = p.in_sp.x * p.in_sp.y * p.in_sp.z;
    let ksz = p.kernel.x * p.kernel.y * p.kernel.z;
    let op = i % osz;
    let oc = (i / osz) % p.m;
    let b = i / (osz * p.m);
    let o = vec3<u32>(op / (p.out_sp.y * p.out_sp.z), (op / p.out_sp.z) % p.out_sp.y, op % p.out_sp.z);
    let gi = oc / p.mg;
    let mi = oc % p.mg;
    var acc = 0.0;
    for (var kz = 0u; kz < p.kernel.x; kz = kz + 1u) {
        let iz = source(o.x, kz, 0u);
        if (iz < 0) {
            continue;
        }
        for (var ky = 0u; ky < p.kernel.y; ky = ky + 1u) {
            let iy = source(o.y, ky, 1u);
            if (iy < 0) {
                continue;
            }
            for (var kx = 0u; kx < p.kernel.z; kx = kx + 1u) {
                let ix = source(o.z, kx, 2u);
                if (ix < 0) {
                    continue;
                }
                let ipos = (u32(iz) * p.in_sp.y + u32(iy)) * p.in_sp.z + u32(ix);
                let kpos = (kz * p.kernel.y + ky) * p.kernel.z + kx;
                for (var ci = 0u; ci < p.cg; ci = ci + 1u) {
                    let ch = gi * p.cg + ci;
                    acc = acc + t_to_f32(x[(b * p.c + ch) * isz + ipos]) * t_to_f32(w[(ch * p.mg + mi) * ksz + kpos]);
                }
            }
        }
    }
    if (HAS_BIAS) {
        acc = acc + t_to_f32(bias[oc]);
    }
    y[i] = t_from_f32(acc);
}
