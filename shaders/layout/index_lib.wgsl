// Index reading for the kernels that take indices along an axis (layout/gather,
// movement/pos_elements, movement/pos_nd, movement/pos_tscatter), with reporting of out-of-range
// ones through layout/index_report_lib (which must come first). Such a kernel declares
// `idx: array<i32>` (int64 indices as (lo, hi) pairs when IDX64) and the `err` record of
// layout/index_report_lib.

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
