// com.microsoft QLinearSoftmax as ONNX Runtime's CPU kernel computes it: per row of `d` elements
// (`inner` apart), the row max xm aligns each x with the top of a 256-entry f32 exp table
// (built on the host from x_scale and d), vsum = sum of the table entries in row order, and
// y = min(round(e * y_scale / vsum) + y_zp, 255) with y_scale = floor(1 / Y_scale).
// One invocation per row. uint8/int8 stored one 32-bit word per element (int8 sign-extended).
// Prelude: SIGNED (int8 data).
struct Params {
    rows: u32,
    d: u32,
    inner: u32,
    y_zp: i32,
    y_scale: f32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> table: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

fn xval(i: u32) -> i32 {
    if (SIGNED) {
        return bitcast<i32>(x[i]);
    }
    return i32(x[i]);
}

fn pos(v: i32, xm: i32) -> u32 {
    if (SIGNED) {
        return u32(127 - xm + v) & 255u;
    }
    return u32(255 - xm + v);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = flat_index(gid, nwg, 64u);
    if (r >= p.rows) {
        return;
    }
    let base = (r / p.inner) * p.d * p.inner + r % p.inner;
    var xm = -2147483647;
    for (var j = 0u; j < p.d; j = j + 1u) {
        xm = max(xm, xval(base + j * p.inner));
    }
    var vsum = 0.0;
    for (var j = 0u; j < p.d; j = j + 1u) {
        vsum = vsum + table[pos(xval(base + j * p.inner), xm)];
    }
    if (vsum == 0.0) {
        // the CPU reference leaves such a row at zero
        for (var j = 0u; j < p.d; j = j + 1u) {
            y[base + j * p.inner] = 0u;
        }
        return;
    }
    for (var j = 0u; j < p.d; j = j + 1u) {
        let i = base + j * p.inner;
        let e = table[pos(xval(i), xm)];
        let q = min(i32(round((e * p.y_scale) / vsum)) + p.y_zp, 255);
        if (SIGNED) {
            // ORT stores the int32 result's low byte
            y[i] = bitcast<u32>((q << 24u) >> 24u);
        } else {
            y[i] = u32(q) & 255u;
        }
    }
}
