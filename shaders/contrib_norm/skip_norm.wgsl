// SkipLayerNormalization / SkipSimplifiedLayerNormalization in one pass over the data: one
// workgroup of 64 invocations per row of `len` elements. Each element of the row is
// s = (x + skip) + bias, rounded to the element type after each add (the skip repeats every
// `skip_rows` rows; bias is per column). s is written to `sum` (flag 4); then
//   SIMPLIFIED: y = s / sqrt(mean(s²) + ε) · γ
//   otherwise:  y = (s − mean) / sqrt(var + ε) · γ (+ β, flag 1), with `mean` / the inverse
//               standard deviation written per row (flags 8 and 16; f32 storage).
// Statistics accumulate in f32 (tree reductions), mean first, then the centered second moment.
// Flag 2: bias present. Unused bindings may alias any buffer.
// Prelude: a float type library (T), SIMPLIFIED (bool), normalize/row_sum_lib.
struct Params {
    rows: u32,
    len: u32,
    skip_rows: u32,
    flags: u32,
    epsilon: f32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> skip: array<T>;
@group(0) @binding(2) var<storage, read_write> gamma: array<T>;
@group(0) @binding(3) var<storage, read_write> beta: array<T>;
@group(0) @binding(4) var<storage, read_write> bias: array<T>;
@group(0) @binding(5) var<storage, read_write> y: array<T>;
@group(0) @binding(6) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(7) var<storage, read_write> inv_out: array<f32>;
@group(0) @binding(8) var<storage, read_write> sum: array<T>;
@group(0) @binding(9) var<uniform> p: Params;

const HAS_BETA: u32 = 1u;
const HAS_BIAS: u32 = 2u;
const WRITE_SUM: u32 = 4u;
const WRITE_MEAN: u32 = 8u;
const WRITE_INV: u32 = 16u;

// Element c of row `row`'s residual sum, rounded as the separate adds would round it.
fn residual(row: u32, c: u32) -> f32 {
    let srow = row % p.skip_rows;
    var v = t_to_f32(t_from_f32(t_to_f32(x[row * p.len + c]) + t_to_f32(skip[srow * p.len + c])));
    if ((p.flags & HAS_BIAS) != 0u) {
        v = t_to_f32(t_from_f32(v + t_to_f32(bias[c])));
    }
    return v;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lidx: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = flat_group(wid, nwg);
    if (row >= p.rows) {
        return;
    }
    let n = f32(p.len);
    let base = row * p.len;
    var acc = 0.0;
    for (var c = lidx; c < p.len; c = c + 64u) {
        let v = residual(row, c);
        if ((p.flags & WRITE_SUM) != 0u) {
            sum[base + c] = t_from_f32(v);
        }
        if (SIMPLIFIED) {
            acc = acc + v * v;
        } else {
            acc = acc + v;
        }
    }
    let total = tree_sum(lidx, acc);
    var mean = 0.0;
    var mult = 1.0;
    if (SIMPLIFIED) {
        mult = 1.0 / sqrt(total / n + p.epsilon);
    } else {
        mean = total / n;
        var acc2 = 0.0;
        for (var c = lidx; c < p.len; c = c + 64u) {
            let d = residual(row, c) - mean;
            acc2 = acc2 + d * d;
        }
        mult = 1.0 / sqrt(tree_sum(lidx, acc2) / n + p.epsilon);
    }
    for (var c = lidx; c < p.len; c = c + 64u) {
        var v = (residual(row, c) - mean) * mult * t_to_f32(gamma[c]);
        if ((p.flags & HAS_BETA) != 0u) {
            v = v + t_to_f32(beta[c]);
        }
        y[base + c] = t_from_f32(v);
    }
    if (lidx == 0u) {
        if ((p.flags & WRITE_MEAN) != 0u) {
            mean_out[row] = mean;
        }
        if ((p.flags & WRITE_INV) != 0u) {
            inv_out[row] = mult;
        }
    }
}
