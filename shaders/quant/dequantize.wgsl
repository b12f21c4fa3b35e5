// DequantizeLinear: y = (x - zero_point) * scale per tensor, per axis or per block, exactly
// as the CPU reference computes it (the difference exact, the product rounded to double and
// then to the output type).
// Prelude: X_CLASS (CLASS_SINT, CLASS_UINT or CLASS_FLOAT: x and the zero point, one word per
// element), S_LAYOUT / S_CLASS (the scale), Y_LAYOUT (the float output: LAYOUT_WORD,
// LAYOUT_HALF written a word per invocation, or LAYOUT_PAIR), and the codec library. The
// scale/zero-point index is as in quant/quantize.wgsl.
struct Params {
    n: u32,
    x_fmt: u32,
    s_fmt: u32,
    y_fmt: u32,
    // left shift of a word output's code (16 for bfloat16 stored as f32)
    y_shift: u32,
    z_scalar: u32,
    pad0: u32,
    pad1: u32,
    inner: u32,
    axis_len: u32,
    block: u32,
    o_stride: u32,
    a_stride: u32,
    i_stride: u32,
    pad2: u32,
    pad3: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> s: array<u32>;
@group(0) @binding(2) var<storage, read_write> z: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

fn s_num(i: u32) -> CvNum {
    var c = cv_u64(s[i]);
    if (S_LAYOUT == LAYOUT_HALF) {
        c = cv_u64((s[i / 2u] >> (16u * (i % 2u))) & 0xffffu);
    } else if (S_LAYOUT == LAYOUT_PAIR) {
        c = vec2<u32>(s[2u * i], s[2u * i + 1u]);
    }
    return cv_value(c, S_LAYOUT, S_CLASS, p.s_fmt);
}

// Element i's output code.
fn elem(i: u32) -> vec2<u32> {
    let pi = (i / (p.inner * p.axis_len)) * p.o_stride + ((i / p.inner) % p.axis_len / p.block) * p.a_stride
        + (i % p.inner) * p.i_stride;
    let zi = select(pi, 0u, p.z_scalar != 0u);
    var d: CvNum;
    if (X_CLASS == CLASS_FLOAT) {
        let xv = cv_value(cv_u64(x[i]), LAYOUT_WORD, CLASS_FLOAT, p.x_fmt);
        let zv = cv_value(cv_u64(z[zi]), LAYOUT_WORD, CLASS_FLOAT, p.x_fmt);
        d = cv_add_num(xv, cv_negate(zv));
    } else {
        // both fit in 32 bits: the difference is exact in 64
        var xw = cv_u64(x[i]);
        var zw = cv_u64(z[zi]);
        if (X_CLASS == CLASS_SINT) {
            xw.y = select(0u, 0xffffffffu, (xw.x & 0x80000000u) != 0u);
            zw.y = select(0u, 0xffffffffu, (zw.x & 0x80000000u) != 0u);
        }
        d = cv_from_int(cv_sub(xw, zw), true);
    }
    let v = cv_round(cv_mul_num(d, s_num(pi)), CV_FMT_F64);
    return cv_shl(cv_encode(cv_fmt(p.y_fmt), v, false), p.y_shift);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (Y_LAYOUT == LAYOUT_HALF) {
        if (2u * i >= p.n) {
            return;
        }
        var w = elem(2u * i).x & 0xffffu;
        if (2u * i + 1u < p.n) {
            w = w | ((elem(2u * i + 1u).x & 0xffffu) << 16u);
        }
        y[i] = w;
        return;
    }
    if (i >= p.n) {
        return;
    }
    let v = elem(i);
    if (Y_LAYOUT == LAYOUT_PAIR) {
        y[2u * i] = v.x;
        y[2u * i + 1u] = v.y;
        return;
    }
    y[i] = v.x;
}
