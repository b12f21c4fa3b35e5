// com.microsoft DynamicQuantizeLSTM, third of three dispatches (after qlstm_prep.wgsl and
// qlstm_proj.wgsl): the recurrence, one workgroup of 256 per direction looping over the steps,
// as ONNX Runtime's CPU kernel computes it. Each step quantizes the hidden-state matrix of all
// batch entries of the direction (slot step % 2 at h_off, [batch, hidden]) to uint8 with one
// dynamic scale/zero point (qlstm_lib.wgsl's u8_params, as qlstm_prep does for X) and
// stores q − zh (i32 bits) at qh_off; then invocation e = b·hidden + j of each entry still in
// its sequence sums the four gates' int32 products with R ([dirs, hidden, 4·hidden], int8 or
// uint8 stored as one i32 word each, minus the direction's zero point zr), scales them by
// sh · R scale (per tensor or per column), adds the input projection (buf at word 0) and runs
// LSTM's cell (gates i, o, f, c; peepholes i, o, f; fused bias; clip; input_forget) in f32.
// The next step's matrix holds the new states of active entries and, for entries past their
// length, zeros when Y is an output (bit 6; ORT reads the zeroed Y rows) or their previous
// state otherwise. Writes Y (bit 0; zeros past an entry's length), Y_h (bit 3) and Y_c (bit 4:
// the last valid states, zeros for length 0). Direction d runs backwards (from its entry's last
// valid step) when bit d of rev_mask is set. Storage barriers separate the phases.
// Activations: p.acts[d·3 + k] (codes of ops::recurrent::ActKind) with alpha/beta.
// Prelude: the ACT_* codes, recurrent/act_lib.wgsl, recurrent/qlstm_lib.wgsl.
struct Params {
    seq: u32,
    batch: u32,
    hidden: u32,
    dirs: u32,
    n4: u32,
    bh: u32,
    dnh: u32,
    lens_off: u32,
    bias_off: u32,
    peep_off: u32,
    h_off: u32,
    hlast_off: u32,
    c_off: u32,
    qh_off: u32,
    // bit 0: write Y, 1: clip, 2: input_forget, 3: write Y_h, 4: write Y_c, 5: per-channel R
    // scales, 6: Y is an output of the node.
    flags: u32,
    clip: f32,
    rev_mask: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
    zr: vec4<i32>,
    acts: array<vec4<u32>, 2>,
    alpha: array<vec4<f32>, 2>,
    beta: array<vec4<f32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> buf: array<f32>;
@group(0) @binding(1) var<storage, read_write> r: array<i32>;
@group(0) @binding(2) var<storage, read_write> r_scale: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> yh: array<f32>;
@group(0) @binding(5) var<storage, read_write> yc: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

fn flag(bit: u32) -> bool {
    return ((p.flags >> bit) & 1u) == 1u;
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) l: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let d = wid.x;
    if (d >= p.dirs) {
        return;
    }
    let hs = p.hidden;
    let n4 = p.n4;
    let dbase = d * p.bh;
    let rev = ((p.rev_mask >> d) & 1u) == 1u;
    let rd = d * hs * n4;
    let zr = p.zr[d];
    let a0 = d * 3u;
    for (var step = 0u; step < p.seq; step = step + 1u) {
        let hin = p.h_off + (step % 2u) * p.dnh + dbase;
        let hout = p.h_off + ((step + 1u) % 2u) * p.dnh + dbase;
        var mn = 0.0;
        var mx = 0.0;
        for (var i = l; i < p.bh; i = i + WG) {
            mn = min(mn, buf[hin + i]);
            mx = max(mx, buf[hin + i]);
        }
        let sz = u8_params(l, mn, mx);
        let sh = sz.x;
        let zh = sz.y;
        for (var i = l; i < p.bh; i = i + WG) {
            let q = i32(clamp(round(div_f32(buf[hin + i], sh)) + zh, 0.0, 255.0)) - i32(zh);
            buf[p.qh_off + dbase + i] = bitcast<f32>(q);
        }
        storageBarrier();
        for (var e = l; e < p.bh; e = e + WG) {
            let b = e / hs;
            let j = e % hs;
            let len = bitcast<u32>(buf[p.lens_off + b]);
            if (step < len) {
                let t = select(step, len - 1u - step, rev);
                var acc = vec4<i32>(0);
                let qb = p.qh_off + dbase + b * hs;
                for (var k = 0u; k < hs; k = k + 1u) {
                    let q = bitcast<i32>(buf[qb + k]);
                    let row = rd + k * n4 + j;
                    acc = acc + q * (vec4<i32>(r[row], r[row + hs], r[row + 2u * hs], r[row + 3u * hs]) - zr);
                }
                var sr = vec4<f32>(r_scale[d]);
                if (flag(5u)) {
                    let c0 = d * n4 + j;
                    sr = vec4<f32>(r_scale[c0], r_scale[c0 + hs], r_scale[c0 + 2u * hs], r_scale[c0 + 3u * hs]);
                }
                let pb = ((t * p.dirs + d) * p.batch + b) * n4 + j;
                let g = vec4<f32>(buf[pb], buf[pb + hs], buf[pb + 2u * hs], buf[pb + 3u * hs]) + vec4<f32>(acc) * (sh * sr);
                let cp = buf[p.c_off + dbase + e];
                let bb = p.bias_off + d * n4 + j;
                let pp = p.peep_off + d * 3u * hs + j;
                let ig = act(a0, clipped(g.x + cp * buf[pp] + buf[bb]));
                var fg = 1.0 - ig;
                if (!flag(2u)) {
                    fg = act(a0, clipped(g.z + cp * buf[pp + 2u * hs] + buf[bb + 2u * hs]));
                }
                let cc = act(a0 + 1u, clipped(g.w + buf[bb + 3u * hs]));
                let cn = cp * fg + ig * cc;
                let og = act(a0, clipped(g.y + cn * buf[pp + hs] + buf[bb + hs]));
                let h = act(a0 + 2u, cn) * og;
                buf[p.c_off + dbase + e] = cn;
                buf[hout + e] = h;
                buf[p.hlast_off + dbase + e] = h;
                if (flag(0u)) {
                    y[((t * p.dirs + d) * p.batch + b) * hs + j] = h;
                }
            } else {
                buf[hout + e] = select(buf[hin + e], 0.0, flag(6u));
                if (flag(0u)) {
                    y[((step * p.dirs + d) * p.batch + b) * hs + j] = 0.0;
                }
            }
        }
        storageBarrier();
    }
    for (var e = l; e < p.bh; e = e + WG) {
        let len = bitcast<u32>(buf[p.lens_off + e / hs]);
        if (flag(3u)) {
            yh[dbase + e] = select(buf[p.hlast_off + dbase + e], 0.0, len == 0u);
        }
        if (flag(4u)) {
            yc[dbase + e] = select(buf[p.c_off + dbase + e], 0.0, len == 0u);
        }
    }
}
