// Cast between any two GPU layouts with ONNX Cast semantics, exactly (types/codec.wgsl):
// one rounding from the exact source value, float8 saturation and E8M0 rounding from the
// params, float to integer truncating and saturating like the CPU reference, integers
// wrapping to the target width.
// Prelude: IN_LAYOUT / OUT_LAYOUT (LAYOUT_WORD: one u32 per element, LAYOUT_HALF: two 16-bit
// codes per u32, LAYOUT_PAIR: two u32 per element), IN_CLASS / OUT_CLASS (CLASS_FLOAT: a float
// code of format p.in_fmt / p.out_fmt, CLASS_SINT / CLASS_UINT: an integer, CLASS_E8M0,
// CLASS_BOOL: output only). A 16-bit-float output is written a word (two elements) per
// invocation. The codec library is included by the prelude.
struct Params {
    n: u32,
    in_fmt: u32,
    out_fmt: u32,
    // width of a word-sized integer output (wrapped and sign- or zero-extended)
    out_bits: u32,
    // left shift of a word-sized float output code (16 for bfloat16 stored as f32)
    out_shift: u32,
    saturate: u32,
    round: u32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

fn load(i: u32) -> CvNum {
    var c = vec2<u32>(0u, 0u);
    switch IN_LAYOUT {
        case LAYOUT_HALF: { c = vec2<u32>((x[i / 2u] >> (16u * (i % 2u))) & 0xffffu, 0u); }
        case LAYOUT_PAIR: { c = vec2<u32>(x[2u * i], x[2u * i + 1u]); }
        default: { c = vec2<u32>(x[i], select(0u, 0xffffffffu, IN_CLASS == CLASS_SINT && (x[i] & 0x80000000u) != 0u)); }
    }
    switch IN_CLASS {
        case CLASS_SINT: { return cv_from_int(c, true); }
        case CLASS_UINT: { return cv_from_int(c, false); }
        case CLASS_E8M0: { return cv_e8m0_decode(c.x); }
        default: { return cv_decode(cv_fmt(p.in_fmt), c); }
    }
}

// Element i in the output layout (the high word only for LAYOUT_PAIR).
fn convert(i: u32) -> vec2<u32> {
    let v = load(i);
    switch OUT_CLASS {
        case CLASS_FLOAT: { return cv_shl(cv_encode(cv_fmt(p.out_fmt), v, p.saturate != 0u), p.out_shift); }
        case CLASS_E8M0: { return cv_u64(cv_e8m0_encode(v, p.saturate != 0u, p.round)); }
        case CLASS_BOOL: { return cv_u64(select(0u, 1u, cv_nonzero(v))); }
        default: {
            var t: vec2<u32>;
            if (IN_CLASS == CLASS_SINT || IN_CLASS == CLASS_UINT) {
                t = cv_int_bits(v);
            } else {
                t = cv_to_int(v, OUT_CLASS == CLASS_UINT && OUT_LAYOUT == LAYOUT_PAIR);
            }
            if (OUT_LAYOUT == LAYOUT_PAIR) {
                return t;
            }
            let sh = 32u - p.out_bits;
            if (OUT_CLASS == CLASS_SINT) {
                return cv_u64(bitcast<u32>(bitcast<i32>(t.x << sh) >> sh));
            }
            return cv_u64((t.x << sh) >> sh);
        }
    }
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (OUT_LAYOUT == LAYOUT_HALF) {
        // one word: elements 2i and 2i + 1
        if (2u * i >= p.n) {
            return;
        }
        var w = convert(2u * i).x & 0xffffu;
        if (2u * i + 1u < p.n) {
            w = w | ((convert(2u * i + 1u).x & 0xffffu) << 16u);
        }
        y[i] = w;
        return;
    }
    if (i >= p.n) {
        return;
    }
    let v = convert(i);
    if (OUT_LAYOUT == LAYOUT_PAIR) {
        y[2u * i] = v.x;
        y[2u * i + 1u] = v.y;
        return;
    }
    y[i] = v.x;
}
