// RNN/GRU/LSTM final states: copies the state slot left by the last step ([dirs, batch,
// hidden] hidden states, then for LSTM the cell states) into Y_h / Y_c in either layout
// through (st_d, st_b). An entry whose sequence length is 0 gets zeros.
// Prelude: a type library (T).
struct Params {
    dnh: u32,
    batch: u32,
    hidden: u32,
    slot: u32,
    st_d: u32,
    st_b: u32,
    // bit 0: write Y_h, bit 1: write Y_c.
    flags: u32,
    lens_off: u32,
}

@group(0) @binding(0) var<storage, read_write> state: array<f32>;
@group(0) @binding(1) var<storage, read_write> aux: array<u32>;
@group(0) @binding(2) var<storage, read_write> yh: array<T>;
@group(0) @binding(3) var<storage, read_write> yc: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.dnh) {
        return;
    }
    let d = i / (p.batch * p.hidden);
    let b = (i / p.hidden) % p.batch;
    let j = i % p.hidden;
    let empty = aux[p.lens_off + b] == 0u;
    let dst = d * p.st_d + b * p.st_b + j;
    if ((p.flags & 1u) != 0u) {
        yh[dst] = t_from_f32(select(state[p.slot + i], 0.0, empty));
    }
    if ((p.flags & 2u) != 0u) {
        yc[dst] = t_from_f32(select(state[p.slot + p.dnh + i], 0.0, empty));
    }
}
