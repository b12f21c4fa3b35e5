// DeformConv over 1 to 3 spatial dims: y[b, oc, o] = bias[oc] + Σ over the input channels ch
// of oc's group and the taps k of w[oc, ch, k] · mask · bilinear(x[b, ch], p), where
// p_d = o_d·stride + k_d·dilation − pad + offset[b, ((og·K + k)·nd + d), o] for ch's offset
// group og; corners outside the input (or of weight 0) are skipped. Math in f32.
// Spatial vectors are left-aligned (nd entries). Prelude: a type library (T), HAS_BIAS,
// HAS_MASK.
struct Params {
    n: u32,
    c: u32,
    m: u32,
    cg: u32,
    mg: u32,
    og: u32,
    cpo: u32,
    nd: u32,
    in_sp: vec4<u32>,
    out_sp: vec4<u32>,
    kernel: vec4<u32>,
    stride: vec4<u32>,
    dilation: vec4<u32>,
    pad: vec4<u32>,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> w: array<T>;
@group(0) @binding(2) var<storage, read_write> offset: array<T>;
@group(0) @binding(3) var<storage, read_write> bias: array<T>;
@group(0) @binding(4) var<storage, read_write> mask: array<T>;
@group(0) @binding(5) var<storage, read_write> y: array<T>;
@group(0) @binding(6) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let nd = p.nd;
    var osz = 1u;
    var isz = 1u;
    var ksz = 1u;
    for (var d = 0u; d < nd; d = d + 1u) {
        osz = osz * p.out_sp[d];
        isz = isz * p.in_sp[d];
        ksz = ksz * p.kernel[d];
    }
    let o = i % osz;
    let oc = (i / osz) % p.m;
    let b = i / (osz * p.m);
    let gi = oc / p.mg;
    var od: array<u32, 3>;
    var rem = o;
    for (var d = i32(nd) - 1; d >= 0; d = d - 1) {
        od[d] = rem % p.out_sp[d];
        rem = rem / p.out_sp[d];
    }
    var acc = 0.0;
    for (var ci = 0u; ci < p.cg; ci = ci + 1u) {
        let ch = gi * p.cg + ci;
        let ogi = ch / p.cpo;
        let plane = (b * p.c + ch) * isz;
        for (var k = 0u; k < ksz; k = k + 1u) {
            let wk = t_to_f32(w[(oc * p.cg + ci) * ksz + k]);
            let tap = (b * p.og + ogi) * ksz + k;
            // The sampling point along each axis: floor and fraction.
            var fl: array<f32, 3>;
            var fr: array<f32, 3>;
            var krem = k;
            for (var d = i32(nd) - 1; d >= 0; d = d - 1) {
                let kd = krem % p.kernel[d];
                krem = krem / p.kernel[d];
                let pos = f32(od[d] * p.stride[d] + kd * p.dilation[d]) - f32(p.pad[d])
                    + t_to_f32(offset[(tap * nd + u32(d)) * osz + o]);
                fl[d] = floor(pos);
                fr[d] = pos - fl[d];
            }
            var v = 0.0;
            for (var cnr = 0u; cnr < (1u << nd); cnr = cnr + 1u) {
                var off = 0u;
                var cw = 1.0;
                var inside = true;
                for (var d = 0u; d < nd; d = d + 1u) {
                    let hi = ((cnr >> d) & 1u) == 1u;
                    let ix = fl[d] + select(0.0, 1.0, hi);
                    let wt = select(1.0 - fr[d], fr[d], hi);
                    if (ix < 0.0 || ix >= f32(p.in_sp[d]) || wt == 0.0) {
                        inside = false;
                        break;
                    }
                    off = off * p.in_sp[d] + u32(ix);
                    cw = cw * wt;
                }
                if (inside) {
                    v = v + cw * t_to_f32(x[plane + off]);
                }
            }
            if (HAS_MASK) {
                v = v * t_to_f32(mask[tap * osz + o]);
            }
            acc = acc + wk * v;
        }
    }
    if (HAS_BIAS) {
        acc = acc + t_to_f32(bias[oc]);
    }
    y[i] = t_from_f32(acc);
}
