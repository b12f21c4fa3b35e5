// Cast between GPU element layouts, reading and writing raw 32-bit words so that one shader
// serves every pair. Integers go through an exact 64-bit two's-complement intermediate;
// floats through f32 (float-to-int truncates toward zero, like C). 16-bit float outputs are
// written a word (two elements) per invocation.
// Prelude: IN_KIND / OUT_KIND (CAST_* codes), OUT_BITS (width of a narrow integer output),
// OUT_SIGNED, OUT_BOOL.
struct Params {
    n: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

const CAST_F32: u32 = 0u;
const CAST_F16: u32 = 1u;
const CAST_BF16: u32 = 2u;
const CAST_SINT: u32 = 3u;
const CAST_UINT: u32 = 4u;
const CAST_I64: u32 = 5u;
const CAST_U64: u32 = 6u;

fn in_is_float() -> bool {
    return IN_KIND == CAST_F32 || IN_KIND == CAST_F16 || IN_KIND == CAST_BF16;
}

fn load_f(i: u32) -> f32 {
    switch IN_KIND {
        case CAST_F32, CAST_BF16: { return bitcast<f32>(x[i]); }
        case CAST_F16: { return unpack2x16float(x[i / 2u])[i % 2u]; }
        case CAST_SINT: { return f32(bitcast<i32>(x[i])); }
        case CAST_UINT: { return f32(x[i]); }
        default: {
            let w = vec2<u32>(x[2u * i], x[2u * i + 1u]);
            let neg = IN_KIND == CAST_I64 && (w.y & 0x80000000u) != 0u;
            let m = select(w, neg64(w), neg);
            let f = f32(m.y) * 4294967296.0 + f32(m.x);
            return select(f, -f, neg);
        }
    }
}

fn neg64(a: vec2<u32>) -> vec2<u32> {
    let lo = 0u - a.x;
    return vec2<u32>(lo, 0u - a.y - select(0u, 1u, a.x != 0u));
}

// The input as a 64-bit two's-complement integer (floats truncated toward zero).
fn load_i(i: u32) -> vec2<u32> {
    switch IN_KIND {
        case CAST_SINT: {
            let v = bitcast<i32>(x[i]);
            return vec2<u32>(bitcast<u32>(v), select(0u, 0xffffffffu, v < 0));
        }
        case CAST_UINT: { return vec2<u32>(x[i], 0u); }
        case CAST_I64, CAST_U64: { return vec2<u32>(x[2u * i], x[2u * i + 1u]); }
        default: {
            let t = trunc(load_f(i));
            let m = abs(t);
            let hi = floor(m / 4294967296.0);
            let r = vec2<u32>(u32(m - hi * 4294967296.0), u32(hi));
            return select(r, neg64(r), t < 0.0);
        }
    }
}

fn nonzero(i: u32) -> bool {
    if (in_is_float()) {
        return load_f(i) != 0.0;
    }
    let v = load_i(i);
    return v.x != 0u || v.y != 0u;
}

fn out_word(i: u32) -> u32 {
    if (OUT_BOOL) {
        return select(0u, 1u, nonzero(i));
    }
    switch OUT_KIND {
        case CAST_F32: { return bitcast<u32>(load_f(i)); }
        case CAST_BF16: {
            let f = load_f(i);
            let u = bitcast<u32>(f);
            if (is_nan_f32(f)) { return u; }
            return (u + 0x7fffu + ((u >> 16u) & 1u)) & 0xffff0000u;
        }
        default: {
            let lo = load_i(i).x;
            let sh = 32u - OUT_BITS;
            if (OUT_SIGNED) {
                return bitcast<u32>(bitcast<i32>(lo << sh) >> sh);
            }
            return (lo << sh) >> sh;
        }
    }
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (OUT_KIND == CAST_F16) {
        // One word: elements 2i and 2i + 1.
        if (2u * i >= p.n) {
            return;
        }
        let a = load_f(2u * i);
        let b = select(0.0, load_f(min(2u * i + 1u, p.n - 1u)), 2u * i + 1u < p.n);
        y[i] = pack2x16float(vec2<f32>(a, b));
        return;
    }
    if (i >= p.n) {
        return;
    }
    if (OUT_KIND == CAST_I64 || OUT_KIND == CAST_U64) {
        let v = load_i(i);
        y[2u * i] = v.x;
        y[2u * i + 1u] = v.y;
        return;
    }
    y[i] = out_word(i);
}
