// RNN/GRU/LSTM, first of the two dispatches of the fused path (then seq_loop.wgsl): the input
// projection of every time step at once, proj[t, d, b, row] = x_t[b] · W[d, row] + Wb[d, row]
// (f32, [seq, dirs, batch, gates·hidden] at word 0 of `buf`), one invocation per element.
// The same dispatch gathers the node's other inputs into `buf` for the loop: the recurrent
// biases Rb [dirs, gates·hidden] at rb_off, the LSTM peepholes [dirs, 3·hidden] at peep_off,
// the sequence lengths (u32 bits, clamped to [0, seq]; seq when absent) at lens_off, the
// initial hidden state [dirs, batch, hidden] at h_off (slot 0 of the loop's two) and the LSTM
// initial cell state at c_off, read from initial_h / initial_c in either layout through
// (st_d, st_b); zeros for absent inputs.
// A length outside [0, seq] is reported (layout/index_report_lib: the run fails naming the
// node) and clamped meanwhile. Prelude: a type library (T), the index report library.
struct Params {
    n_proj: u32,
    input: u32,
    batch: u32,
    seq: u32,
    dirs: u32,
    hidden: u32,
    gh: u32,
    x_t: u32,
    x_b: u32,
    // bit 0: B, 1: P, 2: sequence_lens, 3: initial_h, 4: initial_c given; bit 5: LSTM.
    flags: u32,
    st_d: u32,
    st_b: u32,
    rb_off: u32,
    peep_off: u32,
    lens_off: u32,
    h_off: u32,
    c_off: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> w: array<T>;
@group(0) @binding(2) var<storage, read_write> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> lens: array<i32>;
@group(0) @binding(4) var<storage, read_write> h0: array<T>;
@group(0) @binding(5) var<storage, read_write> c0: array<T>;
@group(0) @binding(6) var<storage, read_write> peep: array<T>;
@group(0) @binding(7) var<storage, read_write> buf: array<f32>;
@group(0) @binding(8) var<storage, read_write> err: array<atomic<u32>>;
@group(0) @binding(9) var<uniform> p: Params;

fn has(bit: u32) -> bool {
    return ((p.flags >> bit) & 1u) == 1u;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i < p.n_proj) {
        let row = i % p.gh;
        let b = (i / p.gh) % p.batch;
        let d = (i / (p.gh * p.batch)) % p.dirs;
        let t = i / (p.gh * p.batch * p.dirs);
        let xb = t * p.x_t + b * p.x_b;
        let wr = (d * p.gh + row) * p.input;
        var acc = 0.0;
        for (var k = 0u; k < p.input; k = k + 1u) {
            acc = acc + t_to_f32(x[xb + k]) * t_to_f32(w[wr + k]);
        }
        if (has(0u)) {
            acc = acc + t_to_f32(bias[d * 2u * p.gh + row]);
        }
        buf[i] = acc;
    }
    let n_rb = p.dirs * p.gh;
    if (i < n_rb) {
        var v = 0.0;
        if (has(0u)) {
            v = t_to_f32(bias[(i / p.gh) * 2u * p.gh + p.gh + i % p.gh]);
        }
        buf[p.rb_off + i] = v;
    }
    let n_peep = select(0u, p.dirs * 3u * p.hidden, has(5u));
    if (i < n_peep) {
        var v = 0.0;
        if (has(1u)) {
            v = t_to_f32(peep[i]);
        }
        buf[p.peep_off + i] = v;
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
        buf[p.lens_off + i] = bitcast<f32>(len);
    }
    let dnh = p.dirs * p.batch * p.hidden;
    if (i < dnh) {
        let d = i / (p.batch * p.hidden);
        let b = (i / p.hidden) % p.batch;
        let j = i % p.hidden;
        let src = d * p.st_d + b * p.st_b + j;
        var h = 0.0;
        if (has(3u)) {
            h = t_to_f32(h0[src]);
        }
        buf[p.h_off + i] = h;
        if (has(5u)) {
            var c = 0.0;
            if (has(4u)) {
                c = t_to_f32(c0[src]);
            }
            buf[p.c_off + i] = c;
        }
    }
}
