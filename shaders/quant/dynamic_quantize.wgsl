// DynamicQuantizeLinear in one dispatch of one workgroup (for tensors small enough that one
// workgroup quantizing them all beats a second dispatch): the range (`dynamic_range_lib.wgsl`)
// written to s[0] (f32 bits) and z[0], then y = clamp(round(x / y_scale) + y_zero_point, 0,
// 255) (NaN gives 0) for every element, one word each, exactly as QuantizeLinear's kernel
// computes it: the correctly rounded f32 quotient (div_f32), ties to even. Where the quotient
// or an operand is outside the normal range (a device may flush subnormals) the codec
// library's exact arithmetic takes over.
// Prelude: the codec library, dynamic_range_lib.wgsl.
struct Params {
    n: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> s: array<u32>;
@group(0) @binding(2) var<storage, read_write> z: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

fn normal_or_zero(v: f32) -> bool {
    let e = (bitcast<u32>(v) >> 23u) & 0xffu;
    return (e != 0u && e != 0xffu) || (bitcast<u32>(v) & 0x7fffffffu) == 0u;
}

fn quantize(xw: u32, sw: u32, zp: i32) -> u32 {
    let xv = bitcast<f32>(xw);
    let sv = bitcast<f32>(sw);
    let q = div_f32(xv, sv);
    if (normal_or_zero(xv) && normal_or_zero(sv) && sv != 0.0 && normal_or_zero(q)) {
        return u32(clamp(i32(round(clamp(q, -1024.0, 1024.0))) + zp, 0, 255));
    }
    let qn = cv_round(cv_round(cv_div_num(f32_num(xv), f32_num(sv)), CV_FMT_F64), CV_FMT_F32);
    if (qn.cls == CV_NAN) {
        return 0u;
    }
    return u32(clamp(cv_rint_sat(qn) + zp, 0, 255));
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    dq_range(t);
    let sw = dq_scale;
    let zp = i32(dq_zp);
    if (t == 0u) {
        s[0] = sw;
        z[0] = dq_zp;
    }
    for (var i = t; i < p.n; i = i + 256u) {
        y[i] = quantize(x[i], sw, zp);
    }
}
