// RNN/GRU/LSTM, second of the two dispatches of the fused path (after seq_proj.wgsl): the whole
// recurrence. One workgroup of 64 invocations per (direction, batch entry) loops over the time
// steps; invocation l owns the hidden units l, l + 64, … and for each sums R·h_{t−1} over its
// gate rows, adds the input projection (`buf`, [seq, dirs, batch, gates·hidden] at word 0) and
// the recurrent bias, and applies the cell. Hidden states ping-pong between two slots at h_off
// ([dirs, batch, hidden] each: read slot step % 2, write the other) with a storage barrier
// between steps; the LSTM cell state (at c_off) and GRU's z (at z_off) are only touched by
// their unit's invocation. GRU with linear_before_reset = 0 has a second barrier per step:
// r ⊙ h_{t−1} (at rh_off) must be complete before the hidden gate sums it. Direction d runs
// backwards when bit d of rev_mask is set, from its entry's last valid step; an entry past its
// sequence length gets zeros in Y at those steps, and its final state is the last valid one.
// The same dispatch writes Y (bit 0 of flags), Y_h (bit 3) and Y_c (bit 4); entries of sequence
// length 0 get zero final states.
// Activations: p.acts[d·3 + k] (codes of ops::recurrent::ActKind) with alpha/beta.
// Prelude: a type library (T), CELL (CELL_RNN | CELL_GRU | CELL_GRULBR | CELL_LSTM), the ACT_*
// codes, recurrent/act_lib.wgsl.
struct Params {
    batch: u32,
    hidden: u32,
    dirs: u32,
    seq: u32,
    dnh: u32,
    gh: u32,
    rb_off: u32,
    peep_off: u32,
    lens_off: u32,
    h_off: u32,
    c_off: u32,
    z_off: u32,
    rh_off: u32,
    y_t: u32,
    y_d: u32,
    y_b: u32,
    st_d: u32,
    st_b: u32,
    // bit 0: write Y, bit 1: clip, bit 2: LSTM input_forget, bit 3: write Y_h, bit 4: write Y_c.
    flags: u32,
    clip: f32,
    rev_mask: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
    acts: array<vec4<u32>, 2>,
    alpha: array<vec4<f32>, 2>,
    beta: array<vec4<f32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> buf: array<f32>;
@group(0) @binding(1) var<storage, read_write> r: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<storage, read_write> yh: array<T>;
@group(0) @binding(4) var<storage, read_write> yc: array<T>;
@group(0) @binding(5) var<uniform> p: Params;

const WG: u32 = 64u;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lidx: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let g = flat_group(wid, nwg);
    if (g >= p.dirs * p.batch) {
        return;
    }
    let hs = p.hidden;
    let d = g / p.batch;
    let b = g % p.batch;
    let row0 = g * hs;
    let len = bitcast<u32>(buf[p.lens_off + b]);
    let rev = ((p.rev_mask >> d) & 1u) == 1u;
    let rd = d * p.gh * hs;
    let rb = p.rb_off + d * p.gh;
    let pp = p.peep_off + d * 3u * hs;
    let a0 = d * 3u;
    for (var step = 0u; step < p.seq; step = step + 1u) {
        let valid = step < len;
        var t = step;
        if (rev && valid) {
            t = len - 1u - step;
        }
        let hin = p.h_off + (step % 2u) * p.dnh + row0;
        let hout = p.h_off + ((step + 1u) % 2u) * p.dnh + row0;
        let pb = ((t * p.dirs + d) * p.batch + b) * p.gh;
        if (CELL == CELL_GRU) {
            // z and r ⊙ h_{t−1} for every unit before the hidden gate reads them.
            if (valid) {
                for (var j = lidx; j < hs; j = j + WG) {
                    var sz = 0.0;
                    var sr = 0.0;
                    for (var k = 0u; k < hs; k = k + 1u) {
                        let hv = buf[hin + k];
                        sz = sz + hv * t_to_f32(r[rd + j * hs + k]);
                        sr = sr + hv * t_to_f32(r[rd + (hs + j) * hs + k]);
                    }
                    let z = act(a0, clipped(buf[pb + j] + sz + buf[rb + j]));
                    let rg = act(a0, clipped(buf[pb + hs + j] + sr + buf[rb + hs + j]));
                    buf[p.z_off + row0 + j] = z;
                    buf[p.rh_off + row0 + j] = rg * buf[hin + j];
                }
            }
            storageBarrier();
        }
        if (valid) {
            for (var j = lidx; j < hs; j = j + WG) {
                let hp = buf[hin + j];
                var hn = 0.0;
                if (CELL == CELL_RNN) {
                    var s0 = 0.0;
                    for (var k = 0u; k < hs; k = k + 1u) {
                        s0 = s0 + buf[hin + k] * t_to_f32(r[rd + j * hs + k]);
                    }
                    hn = act(a0, clipped(buf[pb + j] + s0 + buf[rb + j]));
                } else if (CELL == CELL_GRU) {
                    var s0 = 0.0;
                    let rh = p.rh_off + row0;
                    for (var k = 0u; k < hs; k = k + 1u) {
                        s0 = s0 + buf[rh + k] * t_to_f32(r[rd + (2u * hs + j) * hs + k]);
                    }
                    let z = buf[p.z_off + row0 + j];
                    let hh = act(a0 + 1u, clipped(buf[pb + 2u * hs + j] + s0 + buf[rb + 2u * hs + j]));
                    hn = (1.0 - z) * hh + z * hp;
                } else if (CELL == CELL_GRULBR) {
                    var s = vec3<f32>(0.0);
                    for (var k = 0u; k < hs; k = k + 1u) {
                        let hv = buf[hin + k];
                        s.x = s.x + hv * t_to_f32(r[rd + j * hs + k]);
                        s.y = s.y + hv * t_to_f32(r[rd + (hs + j) * hs + k]);
                        s.z = s.z + hv * t_to_f32(r[rd + (2u * hs + j) * hs + k]);
                    }
                    let z = act(a0, clipped(buf[pb + j] + s.x + buf[rb + j]));
                    let rg = act(a0, clipped(buf[pb + hs + j] + s.y + buf[rb + hs + j]));
                    let hh = act(a0 + 1u, clipped(buf[pb + 2u * hs + j] + rg * (s.z + buf[rb + 2u * hs + j])));
                    hn = (1.0 - z) * hh + z * hp;
                } else {
                    // LSTM gates i, o, f, c; peepholes i, o, f.
                    var s = vec4<f32>(0.0);
                    for (var k = 0u; k < hs; k = k + 1u) {
                        let hv = buf[hin + k];
                        s.x = s.x + hv * t_to_f32(r[rd + j * hs + k]);
                        s.y = s.y + hv * t_to_f32(r[rd + (hs + j) * hs + k]);
                        s.z = s.z + hv * t_to_f32(r[rd + (2u * hs + j) * hs + k]);
                        s.w = s.w + hv * t_to_f32(r[rd + (3u * hs + j) * hs + k]);
                    }
                    let cp = buf[p.c_off + row0 + j];
                    let ig = act(a0, clipped(buf[pb + j] + s.x + buf[rb + j] + buf[pp + j] * cp));
                    var fg = 1.0 - ig;
                    if ((p.flags & 4u) == 0u) {
                        fg = act(a0, clipped(buf[pb + 2u * hs + j] + s.z + buf[rb + 2u * hs + j] + buf[pp + 2u * hs + j] * cp));
                    }
                    let cc = act(a0 + 1u, clipped(buf[pb + 3u * hs + j] + s.w + buf[rb + 3u * hs + j]));
                    let cn = fg * cp + ig * cc;
                    let og = act(a0, clipped(buf[pb + hs + j] + s.y + buf[rb + hs + j] + buf[pp + hs + j] * cn));
                    hn = og * act(a0 + 2u, cn);
                    buf[p.c_off + row0 + j] = cn;
                }
                buf[hout + j] = hn;
                if ((p.flags & 1u) != 0u) {
                    y[t * p.y_t + d * p.y_d + b * p.y_b + j] = t_from_f32(hn);
                }
            }
        } else if ((p.flags & 1u) != 0u) {
            for (var j = lidx; j < hs; j = j + WG) {
                y[step * p.y_t + d * p.y_d + b * p.y_b + j] = t_from_f32(0.0);
            }
        }
        storageBarrier();
    }
    let hfin = p.h_off + (len % 2u) * p.dnh + row0;
    for (var j = lidx; j < hs; j = j + WG) {
        let dst = d * p.st_d + b * p.st_b + j;
        if ((p.flags & 8u) != 0u) {
            yh[dst] = t_from_f32(select(buf[hfin + j], 0.0, len == 0u));
        }
        if ((p.flags & 16u) != 0u) {
            yc[dst] = t_from_f32(select(buf[p.c_off + row0 + j], 0.0, len == 0u));
        }
    }
}
