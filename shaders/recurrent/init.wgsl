// RNN/GRU/LSTM set-up (one dispatch per node): gathers the optional inputs into the node's
// scratch buffers. `aux` (u32 words): the biases B as f32 bits [dirs, 2·gates·hidden] at 0,
// the LSTM peepholes P as f32 bits [dirs, 3·hidden] at peep_off, the sequence lengths
// (clamped to [0, seq]; seq when absent) at lens_off. `state` (f32): slot 0 holds the
// initial hidden state [dirs, batch, hidden] (and for LSTM the initial cell state after it),
// read from initial_h / initial_c in either layout through (st_d, st_b); zeros when absent.
// A length outside [0, seq] is reported (layout/index_report_lib: the run fails naming the
// node) and clamped meanwhile. Prelude: a type library (T), the index report library.
struct Params {
    n_bias: u32,
    n_peep: u32,
    batch: u32,
    seq: u32,
    dnh: u32,
    hidden: u32,
    // bit 0: B, 1: P, 2: sequence_lens, 3: initial_h, 4: initial_c given; bit 5: LSTM.
    flags: u32,
    st_d: u32,
    st_b: u32,
    peep_off: u32,
    lens_off: u32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> bias: array<T>;
@group(0) @binding(1) var<storage, read_write> peep: array<T>;
@group(0) @binding(2) var<storage, read_write> lens: array<i32>;
@group(0) @binding(3) var<storage, read_write> h0: array<T>;
@group(0) @binding(4) var<storage, read_write> c0: array<T>;
@group(0) @binding(5) var<storage, read_write> aux: array<u32>;
@group(0) @binding(6) var<storage, read_write> state: array<f32>;
@group(0) @binding(7) var<storage, read_write> err: array<atomic<u32>>;
@group(0) @binding(8) var<uniform> p: Params;

fn has(bit: u32) -> bool {
    return ((p.flags >> bit) & 1u) == 1u;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i < p.n_bias) {
        var v = 0.0;
        if (has(0u)) {
            v = t_to_f32(bias[i]);
        }
        aux[i] = bitcast<u32>(v);
    }
    if (i < p.n_peep) {
        var v = 0.0;
        if (has(1u)) {
            v = t_to_f32(peep[i]);
        }
        aux[p.peep_off + i] = bitcast<u32>(v);
    }
    if (i < p.batch) {
        var len = p.seq;
        if (has(2u)) {
            let l = lens[i];
            if (l < 0 || l > i32(p.seq)) {
                report_bad_index(bitcast<u32>(l), select(0u, 0xffffffffu, l < 0), p.seq);
            }
            len = u32(clamp(l, 0, i32(p.seq)));
        }
        aux[p.lens_off + i] = len;
    }
    if (i < p.dnh) {
        let nh = p.batch * p.hidden;
        let d = i / nh;
        let b = (i / p.hidden) % p.batch;
        let j = i % p.hidden;
        let src = d * p.st_d + b * p.st_b + j;
        var h = 0.0;
        if (has(3u)) {
            h = t_to_f32(h0[src]);
        }
        state[i] = h;
        if (has(5u)) {
            var c = 0.0;
            if (has(4u)) {
                c = t_to_f32(c0[src]);
            }
            state[p.dnh + i] = c;
        }
    }
}
