// Det: the determinant of each trailing n×n matrix of x, one invocation per matrix, by LU
// decomposition with partial pivoting in f32 on a scratch copy `w` (batch · n · n f32s).
// Prelude: a type library (T).
struct Params {
    batch: u32,
    n: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let m = flat_index(gid, nwg, 64u);
    if (m >= p.batch) {
        return;
    }
    let n = p.n;
    let base = m * n * n;
    for (var k = 0u; k < n * n; k = k + 1u) {
        w[base + k] = t_to_f32(x[base + k]);
    }
    var det = 1.0;
    for (var c = 0u; c < n; c = c + 1u) {
        // The first row with the largest magnitude in column c.
        var piv_row = c;
        var best = abs(w[base + c * n + c]);
        for (var r = c + 1u; r < n; r = r + 1u) {
            let v = abs(w[base + r * n + c]);
            if (v > best) {
                best = v;
                piv_row = r;
            }
        }
        if (w[base + piv_row * n + c] == 0.0) {
            det = 0.0;
            break;
        }
        if (piv_row != c) {
            for (var k = 0u; k < n; k = k + 1u) {
                let t = w[base + piv_row * n + k];
                w[base + piv_row * n + k] = w[base + c * n + k];
                w[base + c * n + k] = t;
            }
            det = -det;
        }
        let piv = w[base + c * n + c];
        det = det * piv;
        for (var r = c + 1u; r < n; r = r + 1u) {
            let f = w[base + r * n + c] / piv;
            for (var k = c; k < n; k = k + 1u) {
                w[base + r * n + k] = w[base + r * n + k] - f * w[base + c * n + k];
            }
        }
    }
    y[m] = t_from_f32(det);
}
