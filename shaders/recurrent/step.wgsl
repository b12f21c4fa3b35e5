// One time step of RNN/GRU/LSTM for every (direction, batch entry, hidden unit): one
// workgroup of 64 invocations per unit sums its gate rows of W·x_t and R·h_{t−1} (coalesced
// along the rows), then invocation 0 applies the cell. States ping-pong between two slots of
// `state` (f32, [dirs, batch, hidden] hidden states, then LSTM cell states): read at in_slot,
// written at out_slot. Direction d runs backwards when bit d of rev_mask is set, starting at
// its entry's last valid step. An entry past its sequence length keeps its state and gets a
// zero in Y at time `step` (which no valid step of that entry writes).
// `aux` (u32 words, see init.wgsl): biases, peepholes and sequence lengths.
// GRU with linear_before_reset = 0 takes two dispatches per step: CELL_GRUGATES writes z and
// r ⊙ h_{t−1} at gru_off, then CELL_GRUHIDDEN sums Rh·(r ⊙ h_{t−1}) and finishes the cell.
// Activations: p.acts[d·3 + k] (codes of ops::recurrent::ActKind) with alpha/beta.
// Prelude: a type library (T), CELL (CELL_RNN | CELL_GRULBR | CELL_GRUGATES | CELL_GRUHIDDEN |
// CELL_LSTM), the ACT_* codes, recurrent/act_lib.wgsl.
struct Params {
    batch: u32,
    hidden: u32,
    input: u32,
    dnh: u32,
    step: u32,
    in_slot: u32,
    out_slot: u32,
    gru_off: u32,
    x_t: u32,
    x_b: u32,
    y_t: u32,
    y_d: u32,
    y_b: u32,
    // bit 0: write Y, bit 1: clip, bit 2: LSTM input_forget.
    flags: u32,
    clip: f32,
    rev_mask: u32,
    peep_off: u32,
    lens_off: u32,
    // gates · hidden: the rows of W/R per direction (the bias stride is twice this).
    gh: u32,
    pad0: u32,
    acts: array<vec4<u32>, 2>,
    alpha: array<vec4<f32>, 2>,
    beta: array<vec4<f32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> w: array<T>;
@group(0) @binding(2) var<storage, read_write> r: array<T>;
@group(0) @binding(3) var<storage, read_write> aux: array<u32>;
@group(0) @binding(4) var<storage, read_write> state: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<T>;
@group(0) @binding(6) var<uniform> p: Params;

var<workgroup> part: array<vec4<f32>, 64>;

fn f32_at(i: u32) -> f32 {
    return bitcast<f32>(aux[i]);
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lidx: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let unit = flat_group(wid, nwg);
    if (unit >= p.dnh) {
        return;
    }
    let hs = p.hidden;
    let nh = p.batch * hs;
    let d = unit / nh;
    let b = (unit / hs) % p.batch;
    let j = unit % hs;
    let len = aux[p.lens_off + b];
    let valid = p.step < len;
    let rev = ((p.rev_mask >> d) & 1u) == 1u;
    var t = p.step;
    if (rev && valid) {
        t = len - 1u - p.step;
    }
    if (!valid) {
        t = 0u;
    }
    let xb = t * p.x_t + b * p.x_b;
    let wd = d * p.gh * p.input;
    let rd = d * p.gh * hs;
    // The state row read by the recurrent sums: h_{t−1}, or r ⊙ h_{t−1} for CELL_GRUHIDDEN.
    var hrow = p.in_slot + (d * p.batch + b) * hs;
    if (CELL == CELL_GRUHIDDEN) {
        hrow = p.gru_off + p.dnh + (d * p.batch + b) * hs;
    }
    var acc = vec4<f32>(0.0);
    for (var k = lidx; k < p.input; k = k + 64u) {
        let xv = t_to_f32(x[xb + k]);
        if (CELL == CELL_RNN) {
            acc.x = acc.x + xv * t_to_f32(w[wd + j * p.input + k]);
        } else if (CELL == CELL_GRUGATES) {
            acc.x = acc.x + xv * t_to_f32(w[wd + j * p.input + k]);
            acc.y = acc.y + xv * t_to_f32(w[wd + (hs + j) * p.input + k]);
        } else if (CELL == CELL_GRUHIDDEN) {
            acc.x = acc.x + xv * t_to_f32(w[wd + (2u * hs + j) * p.input + k]);
        } else if (CELL == CELL_GRULBR) {
            acc.x = acc.x + xv * t_to_f32(w[wd + j * p.input + k]);
            acc.y = acc.y + xv * t_to_f32(w[wd + (hs + j) * p.input + k]);
            acc.z = acc.z + xv * t_to_f32(w[wd + (2u * hs + j) * p.input + k]);
        } else {
            acc.x = acc.x + xv * t_to_f32(w[wd + j * p.input + k]);
            acc.y = acc.y + xv * t_to_f32(w[wd + (hs + j) * p.input + k]);
            acc.z = acc.z + xv * t_to_f32(w[wd + (2u * hs + j) * p.input + k]);
            acc.w = acc.w + xv * t_to_f32(w[wd + (3u * hs + j) * p.input + k]);
        }
    }
    for (var k = lidx; k < hs; k = k + 64u) {
        let hv = state[hrow + k];
        if (CELL == CELL_RNN) {
            acc.x = acc.x + hv * t_to_f32(r[rd + j * hs + k]);
        } else if (CELL == CELL_GRUGATES) {
            acc.x = acc.x + hv * t_to_f32(r[rd + j * hs + k]);
            acc.y = acc.y + hv * t_to_f32(r[rd + (hs + j) * hs + k]);
        } else if (CELL == CELL_GRUHIDDEN) {
            acc.x = acc.x + hv * t_to_f32(r[rd + (2u * hs + j) * hs + k]);
        } else if (CELL == CELL_GRULBR) {
            // The hidden gate's recurrent sum stays apart: r multiplies it.
            acc.x = acc.x + hv * t_to_f32(r[rd + j * hs + k]);
            acc.y = acc.y + hv * t_to_f32(r[rd + (hs + j) * hs + k]);
            acc.w = acc.w + hv * t_to_f32(r[rd + (2u * hs + j) * hs + k]);
        } else {
            acc.x = acc.x + hv * t_to_f32(r[rd + j * hs + k]);
            acc.y = acc.y + hv * t_to_f32(r[rd + (hs + j) * hs + k]);
            acc.z = acc.z + hv * t_to_f32(r[rd + (2u * hs + j) * hs + k]);
            acc.w = acc.w + hv * t_to_f32(r[rd + (3u * hs + j) * hs + k]);
        }
    }
    part[lidx] = acc;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (lidx < s) {
            part[lidx] = part[lidx] + part[lidx + s];
        }
        workgroupBarrier();
    }
    if (lidx != 0u) {
        return;
    }
    let tot = part[0];
    let u = (d * p.batch + b) * hs + j;
    let hp = state[p.in_slot + u];
    // Wb of gate g at bb + g·hidden, Rb at bb + gh + g·hidden.
    let bb = d * 2u * p.gh + j;
    let a0 = d * 3u;
    if (CELL == CELL_GRUGATES) {
        if (valid) {
            let z = act(a0, clipped(tot.x + f32_at(bb) + f32_at(bb + p.gh)));
            let rg = act(a0, clipped(tot.y + f32_at(bb + hs) + f32_at(bb + p.gh + hs)));
            state[p.gru_off + u] = z;
            state[p.gru_off + p.dnh + u] = rg * hp;
        }
        return;
    }
    if (!valid) {
        state[p.out_slot + u] = hp;
        if (CELL == CELL_LSTM) {
            state[p.out_slot + p.dnh + u] = state[p.in_slot + p.dnh + u];
        }
        if ((p.flags & 1u) != 0u) {
            y[p.step * p.y_t + d * p.y_d + b * p.y_b + j] = t_from_f32(0.0);
        }
        return;
    }
    var hn = 0.0;
    if (CELL == CELL_RNN) {
        hn = act(a0, clipped(tot.x + f32_at(bb) + f32_at(bb + p.gh)));
    } else if (CELL == CELL_GRULBR) {
        let z = act(a0, clipped(tot.x + f32_at(bb) + f32_at(bb + p.gh)));
        let rg = act(a0, clipped(tot.y + f32_at(bb + hs) + f32_at(bb + p.gh + hs)));
        let pre = tot.z + f32_at(bb + 2u * hs) + rg * (tot.w + f32_at(bb + p.gh + 2u * hs));
        let hh = act(a0 + 1u, clipped(pre));
        hn = (1.0 - z) * hh + z * hp;
    } else if (CELL == CELL_GRUHIDDEN) {
        let z = state[p.gru_off + u];
        let hh = act(a0 + 1u, clipped(tot.x + f32_at(bb + 2u * hs) + f32_at(bb + p.gh + 2u * hs)));
        hn = (1.0 - z) * hh + z * hp;
    } else {
        // LSTM gates i, o, f, c; peepholes i, o, f.
        let cp = state[p.in_slot + p.dnh + u];
        let pp = p.peep_off + d * 3u * hs + j;
        let ig = act(a0, clipped(tot.x + f32_at(bb) + f32_at(bb + p.gh) + f32_at(pp) * cp));
        var fg = 1.0 - ig;
        if ((p.flags & 4u) == 0u) {
            fg = act(a0, clipped(tot.z + f32_at(bb + 2u * hs) + f32_at(bb + p.gh + 2u * hs) + f32_at(pp + 2u * hs) * cp));
        }
        let cc = act(a0 + 1u, clipped(tot.w + f32_at(bb + 3u * hs) + f32_at(bb + p.gh + 3u * hs)));
        let cn = fg * cp + ig * cc;
        let og = act(a0, clipped(tot.y + f32_at(bb + hs) + f32_at(bb + p.gh + hs) + f32_at(pp + hs) * cn));
        hn = og * act(a0 + 2u, cn);
        state[p.out_slot + p.dnh + u] = cn;
    }
    state[p.out_slot + u] = hn;
    if ((p.flags & 1u) != 0u) {
        y[t * p.y_t + d * p.y_d + b * p.y_b + j] = t_from_f32(hn);
    }
}
