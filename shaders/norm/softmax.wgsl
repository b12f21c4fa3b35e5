// Softmax / LogSoftmax / Hardmax over rows of a [outer, len, inner] view: one workgroup of 64
// invocations per (outer, inner) row; max, then the sum of exponentials, then the write.
// Prelude: a type library (T), OP (SOFTMAX_SOFTMAX | SOFTMAX_LOGSOFTMAX | SOFTMAX_HARDMAX).
struct Params {
    rows: u32,
    len: u32,
    inner: u32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> part: array<f32, 64>;
var<workgroup> part_i: array<u32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lidx: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = flat_group(wid, nwg);
    if (row >= p.rows) {
        return;
    }
    let o = row / p.inner;
    let i = row % p.inner;
    let base = o * p.len * p.inner + i;
    var m = -3.402823e38;
    var mi = 0xffffffffu;
    for (var k = lidx; k < p.len; k = k + 64u) {
        let v = t_to_f32(x[base + k * p.inner]);
        if (v > m || mi == 0xffffffffu) {
            m = v;
            mi = k;
        }
    }
    part[lidx] = m;
    part_i[lidx] = mi;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (lidx < s) {
            let a = part[lidx];
            let b = part[lidx + s];
            let ai = part_i[lidx];
            let bi = part_i[lidx + s];
            // Larger value wins; ties go to the lower index (Hardmax takes the first max).
            if (bi != 0xffffffffu && (ai == 0xffffffffu || b > a || (b == a && bi < ai))) {
                part[lidx] = b;
                part_i[lidx] = bi;
            }
        }
        workgroupBarrier();
    }
    let mx = part[0];
    let argmax = part_i[0];
    workgroupBarrier();
    if (OP == SOFTMAX_HARDMAX) {
        for (var k = lidx; k < p.len; k = k + 64u) {
            y[base + k * p.inner] = t_from_f32(select(0.0, 1.0, k == argmax));
        }
        return;
    }
    var acc = 0.0;
    for (var k = lidx; k < p.len; k = k + 64u) {
        acc = acc + exp(t_to_f32(x[base + k * p.inner]) - mx);
    }
    part[lidx] = acc;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (lidx < s) {
            part[lidx] = part[lidx] + part[lidx + s];
        }
        workgroupBarrier();
    }
    let total = part[0];
    for (var k = lidx; k < p.len; k = k + 64u) {
        let v = t_to_f32(x[base + k * p.inner]) - mx;
        if (OP == SOFTMAX_LOGSOFTMAX) {
            y[base + k * p.inner] = t_from_f32(v - log(total));
        } else {
            y[base + k * p.inner] = t_from_f32(exp(v) / total);
        }
    }
}
