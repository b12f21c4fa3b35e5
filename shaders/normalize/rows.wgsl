// Row-wise normalization: one workgroup of 64 invocations per row. The elements of a row are
// the reduced dims of X, the rows its kept dims; both decompose through per-dim strides into
// X (and Y, which has X's layout), Scale and Bias, so any axis set and any broadcast of the
// affine parameters needs no transpose. Statistics accumulate in f32 (tree reductions), mean
// first, then the centered second moment. Per MODE:
//   MEANVAR  y = (x − mean) / sqrt(var + ε) · scale + bias; st0/st1 = mean / inverse std dev
//            (LayerNormalization, GroupNormalization, InstanceNormalization);
//   RUNNING  the same, and st0/st1 updated in place: st = st · momentum + stat · (1 − momentum)
//            with stat = mean / population variance (training-mode BatchNormalization);
//   RMS      y = x / sqrt(mean(x²) + ε) · scale;
//   L1, L2   y = x / ‖x‖ (0 for a zero norm);
//   MVN      y = (x − mean) / (sqrt(var) + 1e-9).
// Flags: 1 scale, 2 bias (absent ones read as 1 / 0), 4 write st0, 8 write st1 (unused
// bindings may alias any buffer).
// Prelude: a type library (T), S (the statistics' storage type), S_BF16, MODE (a ROWS_* code).
struct Params {
    rows: u32,
    len: u32,
    kept_rank: u32,
    red_rank: u32,
    epsilon: f32,
    momentum: f32,
    flags: u32,
    pad0: u32,
    kept_shape: array<vec4<u32>, 2>,
    kept_x: array<vec4<u32>, 2>,
    kept_s: array<vec4<u32>, 2>,
    kept_b: array<vec4<u32>, 2>,
    red_shape: array<vec4<u32>, 2>,
    red_x: array<vec4<u32>, 2>,
    red_s: array<vec4<u32>, 2>,
    red_b: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> scale: array<T>;
@group(0) @binding(2) var<storage, read_write> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<storage, read_write> st0: array<S>;
@group(0) @binding(5) var<storage, read_write> st1: array<S>;
@group(0) @binding(6) var<uniform> p: Params;

fn s_from_f32(v: f32) -> S {
    if (S_BF16 && !is_nan_f32(v)) {
        let u = bitcast<u32>(v);
        return S(bitcast<f32>((u + 0x7fffu + ((u >> 16u) & 1u)) & 0xffff0000u));
    }
    return S(v);
}

// Offsets (x, scale, bias) of the kept index `o`.
fn kept_offsets(o: u32) -> vec3<u32> {
    var rem = o;
    var off = vec3<u32>(0u, 0u, 0u);
    for (var d = i32(p.kept_rank) - 1; d >= 0; d = d - 1) {
        let k = u32(d);
        let s = p.kept_shape[k / 4u][k % 4u];
        let i = rem % s;
        off = off + i * vec3<u32>(p.kept_x[k / 4u][k % 4u], p.kept_s[k / 4u][k % 4u], p.kept_b[k / 4u][k % 4u]);
        rem = rem / s;
    }
    return off;
}

// Offsets (x, scale, bias) of the reduced index `r`.
fn red_offsets(r: u32) -> vec3<u32> {
    var rem = r;
    var off = vec3<u32>(0u, 0u, 0u);
    for (var d = i32(p.red_rank) - 1; d >= 0; d = d - 1) {
        let k = u32(d);
        let s = p.red_shape[k / 4u][k % 4u];
        let i = rem % s;
        off = off + i * vec3<u32>(p.red_x[k / 4u][k % 4u], p.red_s[k / 4u][k % 4u], p.red_b[k / 4u][k % 4u]);
        rem = rem / s;
    }
    return off;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lidx: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = flat_group(wid, nwg);
    if (row >= p.rows) {
        return;
    }
    let base = kept_offsets(row);
    let n = f32(p.len);
    // First moment (or the norm's sum).
    var acc = 0.0;
    for (var r = lidx; r < p.len; r = r + 64u) {
        let v = t_to_f32(x[base.x + red_offsets(r).x]);
        switch MODE {
            case ROWS_RMS, ROWS_L2: { acc = acc + v * v; }
            case ROWS_L1: { acc = acc + abs(v); }
            default: { acc = acc + v; }
        }
    }
    let total = tree_sum(lidx, acc);
    var center = 0.0;
    var mult = 1.0;
    var mean = 0.0;
    var variance = 0.0;
    switch MODE {
        case ROWS_RMS: {
            mult = 1.0 / sqrt(total / n + p.epsilon);
        }
        case ROWS_L1: {
            mult = select(1.0 / total, 0.0, total == 0.0);
        }
        case ROWS_L2: {
            mult = select(1.0 / sqrt(total), 0.0, total == 0.0);
        }
        default: {
            mean = total / n;
            var acc2 = 0.0;
            for (var r = lidx; r < p.len; r = r + 64u) {
                let d = t_to_f32(x[base.x + red_offsets(r).x]) - mean;
                acc2 = acc2 + d * d;
            }
            variance = tree_sum(lidx, acc2) / n;
            center = mean;
            if (MODE == ROWS_MVN) {
                mult = 1.0 / (sqrt(variance) + 1e-9);
            } else {
                mult = 1.0 / sqrt(variance + p.epsilon);
            }
        }
    }
    for (var r = lidx; r < p.len; r = r + 64u) {
        let off = base + red_offsets(r);
        var v = (t_to_f32(x[off.x]) - center) * mult;
        if ((p.flags & 1u) != 0u) {
            v = v * t_to_f32(scale[off.y]);
        }
        if ((p.flags & 2u) != 0u) {
            v = v + t_to_f32(bias[off.z]);
        }
        y[off.x] = t_from_f32(v);
    }
    if (lidx == 0u && (MODE == ROWS_MEANVAR || MODE == ROWS_RUNNING)) {
        if ((p.flags & 4u) != 0u) {
            var a = mean;
            if (MODE == ROWS_RUNNING) {
                a = f32(st0[row]) * p.momentum + mean * (1.0 - p.momentum);
            }
            st0[row] = s_from_f32(a);
        }
        if ((p.flags & 8u) != 0u) {
            var b = mult;
            if (MODE == ROWS_RUNNING) {
                b = f32(st1[row]) * p.momentum + variance * (1.0 - p.momentum);
            }
            st1[row] = s_from_f32(b);
        }
    }
}
