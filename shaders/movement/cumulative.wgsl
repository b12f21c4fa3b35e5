// CumSum / CumProd along the axis read at run time (one int32 or int64 value, negative counts
// from the end) of a tensor of rank ≤ 8: one invocation per line [outer, len, inner],
// accumulating serially (in the reference's order) in the element type's arithmetic. An
// out-of-range axis is reported (layout/index_report_lib: the run fails naming the node) and
// writes nothing. Prelude: a type library (T), MUL (CumProd instead of CumSum), AXIS64 (the
// axis is int64, read as (lo, hi) i32 words), the index report library.
struct Params {
    n: u32,
    rank: u32,
    exclusive: u32,
    reverse: u32,
    shape: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> axis: array<i32>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<storage, read_write> err: array<atomic<u32>>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let l = flat_index(gid, nwg, 64u);
    let raw = axis[0];
    var hi = select(0, -1, raw < 0);
    if (AXIS64) {
        hi = axis[1];
    }
    var a = raw;
    if (a < 0) {
        a = a + i32(p.rank);
    }
    if (hi != select(0, -1, raw < 0) || a < 0 || a >= i32(p.rank)) {
        report_bad_index(bitcast<u32>(raw), bitcast<u32>(hi), p.rank);
        return;
    }
    let ax = u32(a);
    let len = p.shape[ax / 4u][ax % 4u];
    var inner = 1u;
    for (var d = ax + 1u; d < p.rank; d = d + 1u) {
        inner = inner * p.shape[d / 4u][d % 4u];
    }
    if (len == 0u || l >= p.n / len) {
        return;
    }
    let base = (l / inner) * len * inner + l % inner;
    var acc = t_zero();
    if (MUL) {
        acc = t_one();
    }
    for (var k = 0u; k < len; k = k + 1u) {
        var j = k;
        if (p.reverse != 0u) {
            j = len - 1u - k;
        }
        let at = base + j * inner;
        let v = x[at];
        if (p.exclusive != 0u) {
            y[at] = acc;
        }
        if (MUL) {
            acc = t_mul(acc, v);
        } else {
            acc = t_add(acc, v);
        }
        if (p.exclusive == 0u) {
            y[at] = acc;
        }
    }
}
