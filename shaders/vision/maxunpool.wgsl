// MaxUnpool in three passes over a scratch `win` of one atomic word per output element:
// PASS 0 clears it; PASS 1 scatters every input element k to the output position its index
// names (flat in the attribute-implied shape `dims`, placed in the output by `out_strides`)
// with atomicMax(k + 1), so the last writer wins as in the reference; PASS 2 gathers
// y[o] = x[win[o] − 1], or zero where nothing landed. An index outside the implied shape is
// reported (layout/index_report_lib: the run fails naming the node) and not scattered.
// Prelude: E (element bits), IDX64 (indices are int64 as i32 pairs), PASS, the index report
// library (every pass binds the record; only PASS 1 writes it).
struct Params {
    n_in: u32,
    n_out: u32,
    total: u32,
    rank: u32,
    dims: array<vec4<u32>, 2>,
    out_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> x: array<E>;
@group(0) @binding(1) var<storage, read_write> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> win: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> y: array<E>;
@group(0) @binding(4) var<storage, read_write> err: array<atomic<u32>>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (PASS == 0u) {
        if (i < p.n_out) {
            atomicStore(&win[i], 0u);
        }
        return;
    }
    if (PASS == 2u) {
        if (i < p.n_out) {
            let k = atomicLoad(&win[i]);
            if (k == 0u) {
                y[i] = E();
            } else {
                y[i] = x[k - 1u];
            }
        }
        return;
    }
    if (i >= p.n_in) {
        return;
    }
    var lo: i32;
    var hi: i32;
    if (IDX64) {
        lo = idx[2u * i];
        hi = idx[2u * i + 1u];
    } else {
        lo = idx[i];
        hi = select(0, -1, lo < 0);
    }
    if (hi != 0 || lo < 0 || u32(lo) >= p.total) {
        report_bad_index(bitcast<u32>(lo), bitcast<u32>(hi), p.total);
        return;
    }
    let flat = u32(lo);
    var rem = flat;
    var o = 0u;
    for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
        let k = u32(d);
        let s = p.dims[k / 4u][k % 4u];
        o = o + (rem % s) * p.out_strides[k / 4u][k % 4u];
        rem = rem / s;
    }
    atomicMax(&win[o], i + 1u);
}
