// Grouped convolution with one input channel per group (depthwise, any channel multiplier),
// 1-D/2-D/3-D: one invocation per output element sums its kernel window directly.
// Epilogue: y = act(acc + bias + z) (HAS_RESIDUAL binds z, shaped like y; ACT from
// fused/activation.wgsl with p.act_alpha/p.act_beta).
// Prelude: a type library (T), HAS_BIAS, HAS_RESIDUAL, ACT and the activation library.
struct Params {
    total: u32,
    in_c: u32,
    out_c: u32,
    multiplier: u32,
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

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.total) {
        return;
    }
    let pix = p.out_sp.x * p.out_sp.y * p.out_sp.z;
    let pp = i % pix;
    let o = vec3<u32>(pp / (p.out_sp.y * p.out_sp.z), (pp / p.out_sp.z) % p.out_sp.y, pp % p.out_sp.z);
    let oc = (i / pix) % p.out_c;
    let n = i / (pix * p.out_c);
    let ci = oc / p.multiplier;
    let xb = (n * p.in_c + ci) * p.in_sp.x * p.in_sp.y * p.in_sp.z;
    let wb = oc * p.kernel.x * p.kernel.y * p.kernel.z;
    var acc = 0.0;
    for (var kz = 0u; kz < p.kernel.x; kz = kz + 1u) {
        let iz = i32(o.x * p.stride.x + kz * p.dilation.x) - i32(p.pad.x);
        if (iz < 0 || iz >= i32(p.in_sp.x)) {
            continue;
        }
        for (var ky = 0u; ky < p.kernel.y; ky = ky + 1u) {
            let iy = i32(o.y * p.stride.y + ky * p.dilation.y) - i32(p.pad.y);
            if (iy < 0 || iy >= i32(p.in_sp.y)) {
                continue;
            }
            for (var kx = 0u; kx < p.kernel.z; kx = kx + 1u) {
                let ix = i32(o.z * p.stride.z + kx * p.dilation.z) - i32(p.pad.z);
                if (ix < 0 || ix >= i32(p.in_sp.z)) {
                    continue;
                }
                let xi = xb + (u32(iz) * p.in_sp.y + u32(iy)) * p.in_sp.z + u32(ix);
                acc = acc + t_to_f32(x[xi]) * t_to_f32(w[wb + (kz * p.kernel.y + ky) * p.kernel.z + kx]);
            }
        }
    }
    if (HAS_BIAS) {
        acc = acc + t_to_f32(bias[oc]);
    }
    if (HAS_RESIDUAL) {
        acc = acc + t_to_f32(z[i]);
    }
    y[i] = t_from_f32(act_apply(acc, p.act_alpha, p.act_beta));
}
