// ArgMax / ArgMin along one axis of a [outer, len, inner] view: one workgroup of 64
// invocations per (outer, inner); ties go to the first index (or the last with
// SELECT_LAST). NaN wins over numbers, like NumPy. Output: int64 (two u32 words).
// Prelude: a type library (T), IS_MAX, SELECT_LAST.
struct Params {
    rows: u32,
    len: u32,
    inner: u32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> part_v: array<T, 64>;
var<workgroup> part_i: array<u32, 64>;

const NONE: u32 = 0xffffffffu;

// Whether candidate (v, i) beats the current best (b, j).
fn better(v: T, i: u32, b: T, j: u32) -> bool {
    if (i == NONE) { return false; }
    if (j == NONE) { return true; }
    if (t_is_nan(b)) { return false; }
    if (t_is_nan(v)) { return true; }
    var strictly = t_lt(b, v);
    if (!IS_MAX) { strictly = t_lt(v, b); }
    if (strictly) { return true; }
    if (t_eq(v, b)) { return select((i < j), (i > j), SELECT_LAST); }
    return false;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lidx: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let row = flat_group(wid, nwg);
    if (row >= p.rows) {
        return;
    }
    let base = (row / p.inner) * p.len * p.inner + row % p.inner;
    var bv = t_zero();
    var bi = NONE;
    for (var k = lidx; k < p.len; k = k + 64u) {
        let v = x[base + k * p.inner];
        if (better(v, k, bv, bi)) {
            bv = v;
            bi = k;
        }
    }
    part_v[lidx] = bv;
    part_i[lidx] = bi;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (lidx < s) {
            if (better(part_v[lidx + s], part_i[lidx + s], part_v[lidx], part_i[lidx])) {
                part_v[lidx] = part_v[lidx + s];
                part_i[lidx] = part_i[lidx + s];
            }
        }
        workgroupBarrier();
    }
    if (lidx == 0u) {
        y[2u * row] = part_i[0];
        y[2u * row + 1u] = 0u;
    }
}
