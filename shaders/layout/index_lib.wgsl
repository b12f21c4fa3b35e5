// Index reading for the kernels that take indices (layout/gather, movement/pos_elements,
// movement/pos_nd, movement/pos_tscatter), with reporting of out-of-range ones. Such a kernel declares
// `idx: array<i32>` (int64 indices as (lo, hi) pairs when IDX64) and, as its last storage
// binding, `err: array<atomic<u32>>`: the executor binds each such dispatch to its own zeroed
// record [flag, index lo, index hi, axis length], reads the records back with the stage's
// outputs and fails the run naming the node. The first invocation to find a bad index records
// it; the kernel itself then reads zero or skips the write, never out of bounds.

fn report_bad_index(lo: u32, hi: u32, len: u32) {
    if (atomicLoad(&err[0]) == 0u && atomicExchange(&err[0], 1u) == 0u) {
        atomicStore(&err[1], lo);
        atomicStore(&err[2], hi);
        atomicStore(&err[3], len);
    }
}

// The index at position q of `idx` on an axis of `len`, negative ones counting from the end;
// 0xffffffff (after reporting it) when it is out of range.
fn checked_index(q: u32, len: u32) -> u32 {
    var k: i32;
    var hi: i32;
    if (IDX64) {
        k = idx[2u * q];
        hi = idx[2u * q + 1u];
    } else {
        k = idx[q];
        hi = select(0, -1, k < 0);
    }
    let neg = k < 0;
    let w = bitcast<u32>(k);
    let mag = select(w, 0u - w, neg);
    if (hi != select(0, -1, neg) || (neg && mag > len) || (!neg && mag >= len)) {
        report_bad_index(w, bitcast<u32>(hi), len);
        return 0xffffffffu;
    }
    return select(mag, len - mag, neg);
}
