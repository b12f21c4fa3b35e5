// The uint8 dynamic quantization of DynamicQuantizeLSTM, shared by qlstm_prep.wgsl (X, once per
// node) and qlstm_loop.wgsl (the batch's hidden state, once per step), in ONNX Runtime's
// arithmetic: the range of the values widened to include 0, scale (hi − lo) / 255 (1 when
// hi == lo), zero point round(clamp(−lo / scale, 0, 255)). Workgroups of WG invocations.

const WG: u32 = 256u;
var<workgroup> rmin: array<f32, 256>;
var<workgroup> rmax: array<f32, 256>;

// From invocation l's partial minimum and maximum (each starting at 0), the (scale, zero point)
// of the workgroup's range; every invocation gets it. Call in uniform control flow.
fn u8_params(l: u32, mn: f32, mx: f32) -> vec2<f32> {
    rmin[l] = mn;
    rmax[l] = mx;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (l < s) {
            rmin[l] = min(rmin[l], rmin[l + s]);
            rmax[l] = max(rmax[l], rmax[l + s]);
        }
        workgroupBarrier();
    }
    let lo = rmin[0];
    let hi = rmax[0];
    // The next call may overwrite rmin/rmax only after every invocation has read them.
    workgroupBarrier();
    let scale = select(div_f32(hi - lo, 255.0), 1.0, hi == lo);
    return vec2<f32>(scale, round(clamp(0.0 - div_f32(lo, scale), 0.0, 255.0)));
}
