// 2-D max / average / Lp pooling, one invocation per output element. Windows are clipped to
// the input; average pooling divides by the taps inside the input, or (COUNT_PAD) by the taps
// inside the padded bounds. Prelude: a type library (T), OP (POOL_MAX | POOL_AVG | POOL_LP),
// COUNT_PAD.
struct Params {
    total: u32,
    in_h: u32,
    in_w: u32,
    out_h: u32,
    out_w: u32,
    k_h: u32,
    k_w: u32,
    stride_h: u32,
    stride_w: u32,
    dil_h: u32,
    dil_w: u32,
    pad_h: u32,
    pad_w: u32,
    end_h: u32,
    end_w: u32,
    lp: f32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.total) {
        return;
    }
    let ox = i % p.out_w;
    let oy = (i / p.out_w) % p.out_h;
    let plane = i / (p.out_w * p.out_h);
    let xb = plane * p.in_h * p.in_w;
    var best = -3.402823e38;
    var seen = false;
    var sum = 0.0;
    var inside = 0u;
    var padded = 0u;
    for (var ky = 0u; ky < p.k_h; ky = ky + 1u) {
        let iy = i32(oy * p.stride_h + ky * p.dil_h) - i32(p.pad_h);
        if (iy >= i32(p.in_h + p.end_h)) {
            continue;
        }
        for (var kx = 0u; kx < p.k_w; kx = kx + 1u) {
            let ix = i32(ox * p.stride_w + kx * p.dil_w) - i32(p.pad_w);
            if (ix >= i32(p.in_w + p.end_w)) {
                continue;
            }
            padded = padded + 1u;
            if (iy < 0 || iy >= i32(p.in_h) || ix < 0 || ix >= i32(p.in_w)) {
                continue;
            }
            inside = inside + 1u;
            let v = t_to_f32(x[xb + u32(iy) * p.in_w + u32(ix)]);
            if (OP == POOL_MAX) {
                if (!seen || v > best) {
                    best = v;
                }
                seen = true;
            } else if (OP == POOL_AVG) {
                sum = sum + v;
            } else {
                sum = sum + pow(abs(v), p.lp);
            }
        }
    }
    var r = best;
    if (OP == POOL_AVG) {
        let div = select(inside, padded, COUNT_PAD);
        r = sum / f32(div);
    } else if (OP == POOL_LP) {
        r = pow(sum, 1.0 / p.lp);
    }
    y[i] = t_from_f32(r);
}
