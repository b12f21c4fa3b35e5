// Reporting of out-of-range indices read from tensors, for every kernel that reads indices
// (layout/gather, movement/pos_*, vision/maxunpool, vision/roialign, normalize/loss,
// attention/rotary; layout/index_lib adds the common bounds check). Such a kernel declares, as
// its last storage binding, `err: array<atomic<u32>>`: the executor binds each such dispatch
// to its own zeroed record [flag, index lo, index hi, axis length], reads the records back with
// the stage's outputs and fails the run naming the node. The first invocation to find a bad
// index records it; the kernel itself then reads zero or skips the write, never out of bounds.

fn report_bad_index(lo: u32, hi: u32, len: u32) {
    if (atomicLoad(&err[0]) == 0u && atomicExchange(&err[0], 1u) == 0u) {
        atomicStore(&err[1], lo);
        atomicStore(&err[2], hi);
        atomicStore(&err[3], len);
    }
}
