// com.microsoft DynamicQuantizeLSTM, first of three dispatches (then qlstm_proj.wgsl and
// qlstm_loop.wgsl). One workgroup of 256 gathers everything the other two read into `buf` (f32
// words): the sequence lengths (u32 bits, clamped to [0, seq]; seq when absent) at lens_off;
// X's dynamic uint8 quantization over the rows below the longest length, as ONNX Runtime takes
// it (min/max widened to include 0, scale = (max − min) / 255 or 1 when equal, zero point
// round(clamp(−min / scale, 0, 255))) at xq_off (scale, zero point); the fused biases Wb + Rb
// [dirs, 4·hidden] at bias_off; the peepholes [dirs, 3·hidden] at peep_off; the initial hidden
// state [dirs, batch, hidden] into slot 0 at h_off and at hlast_off; the initial cell state at
// c_off. Zeros for absent inputs.
// Prelude: qlstm_lib.wgsl.
struct Params {
    seq: u32,
    batch: u32,
    input: u32,
    hidden: u32,
    dirs: u32,
    // bit 0: B, 1: P, 2: sequence_lens, 3: initial_h, 4: initial_c given.
    flags: u32,
    xq_off: u32,
    lens_off: u32,
    bias_off: u32,
    peep_off: u32,
    h_off: u32,
    hlast_off: u32,
    c_off: u32,
    dnh: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> lens: array<i32>;
@group(0) @binding(3) var<storage, read_write> h0: array<f32>;
@group(0) @binding(4) var<storage, read_write> c0: array<f32>;
@group(0) @binding(5) var<storage, read_write> peep: array<f32>;
@group(0) @binding(6) var<storage, read_write> buf: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

var<workgroup> rlen: array<u32, 256>;

fn has(bit: u32) -> bool {
    return ((p.flags >> bit) & 1u) == 1u;
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) l: u32) {
    var ml = 0u;
    for (var b = l; b < p.batch; b = b + WG) {
        var len = p.seq;
        if (has(2u)) {
            len = u32(clamp(lens[b], 0, i32(p.seq)));
        }
        buf[p.lens_off + b] = bitcast<f32>(len);
        ml = max(ml, len);
    }
    rlen[l] = ml;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (l < s) {
            rlen[l] = max(rlen[l], rlen[l + s]);
        }
        workgroupBarrier();
    }
    let n = rlen[0] * p.batch * p.input;
    var mn = 0.0;
    var mx = 0.0;
    for (var i = l; i < n; i = i + WG) {
        mn = min(mn, x[i]);
        mx = max(mx, x[i]);
    }
    let sz = u8_params(l, mn, mx);
    if (l == 0u) {
        buf[p.xq_off] = sz.x;
        buf[p.xq_off + 1u] = sz.y;
    }
    let n4 = 4u * p.hidden;
    for (var i = l; i < p.dirs * n4; i = i + WG) {
        var v = 0.0;
        if (has(0u)) {
            let base = (i / n4) * 2u * n4 + i % n4;
            v = bias[base] + bias[base + n4];
        }
        buf[p.bias_off + i] = v;
    }
    for (var i = l; i < p.dirs * 3u * p.hidden; i = i + WG) {
        var v = 0.0;
        if (has(1u)) {
            v = peep[i];
        }
        buf[p.peep_off + i] = v;
    }
    for (var i = l; i < p.dnh; i = i + WG) {
        var h = 0.0;
        if (has(3u)) {
            h = h0[i];
        }
        var c = 0.0;
        if (has(4u)) {
            c = c0[i];
        }
        buf[p.h_off + i] = h;
        buf[p.hlast_off + i] = h;
        buf[p.c_off + i] = c;
    }
}
