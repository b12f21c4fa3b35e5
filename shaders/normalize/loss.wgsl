// Negative log-likelihood over log-probabilities logp of a [N, C, inner] view, targets of a
// [N, inner] view: loss = −weight[t] · logp[n, t, i], and 0 (weighing 0) where t equals
// ignore_index. A target outside [0, C) is reported (layout/index_report_lib: the run fails naming
// the node) and gives NaN meanwhile. RED_NONE: one invocation per position
// writes its loss; RED_SUM / RED_MEAN: a single workgroup accumulates the losses (and, for the
// mean, the applied weights) in f32 and writes the scalar.
// Flags: 1 weight given (else every weight is 1; `weight` may alias any buffer), 2 ignore_index
// given (its int64 value as lo/hi words).
// Prelude: a type library (T), IDX64 (targets are int64 as i32 pairs), RED (a RED_* code), the
// index report library.
struct Params {
    n: u32,
    classes: u32,
    inner: u32,
    flags: u32,
    ignore_lo: u32,
    ignore_hi: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> logp: array<T>;
@group(0) @binding(1) var<storage, read_write> tgt: array<i32>;
@group(0) @binding(2) var<storage, read_write> weight: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<storage, read_write> err: array<atomic<u32>>;
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> part_l: array<f32, 256>;
var<workgroup> part_w: array<f32, 256>;

// (loss, applied weight) of position j.
fn position(j: u32) -> vec2<f32> {
    var lo: i32;
    var hi: i32;
    if (IDX64) {
        lo = tgt[2u * j];
        hi = tgt[2u * j + 1u];
    } else {
        lo = tgt[j];
        hi = select(0, -1, lo < 0);
    }
    if ((p.flags & 2u) != 0u && u32(lo) == p.ignore_lo && u32(hi) == p.ignore_hi) {
        return vec2<f32>(0.0, 0.0);
    }
    if (hi != 0 || lo < 0 || u32(lo) >= p.classes) {
        report_bad_index(bitcast<u32>(lo), bitcast<u32>(hi), p.classes);
        let nan = bitcast<f32>(0x7fc00000u);
        return vec2<f32>(nan, nan);
    }
    let k = u32(lo);
    var w = 1.0;
    if ((p.flags & 1u) != 0u) {
        w = t_to_f32(weight[k]);
    }
    let o = j / p.inner;
    let i = j % p.inner;
    return vec2<f32>(-t_to_f32(logp[(o * p.classes + k) * p.inner + i]) * w, w);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) lidx: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
    if (RED == RED_NONE) {
        let j = flat_index(gid, nwg, 256u);
        if (j < p.n) {
            y[j] = t_from_f32(position(j).x);
        }
        return;
    }
    var acc = vec2<f32>(0.0, 0.0);
    for (var j = lidx; j < p.n; j = j + 256u) {
        acc = acc + position(j);
    }
    part_l[lidx] = acc.x;
    part_w[lidx] = acc.y;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s >> 1u) {
        if (lidx < s) {
            part_l[lidx] = part_l[lidx] + part_l[lidx + s];
            part_w[lidx] = part_w[lidx] + part_w[lidx + s];
        }
        workgroupBarrier();
    }
    if (lidx == 0u) {
        if (RED == RED_MEAN) {
            y[0] = t_from_f32(part_l[0] / part_w[0]);
        } else {
            y[0] = t_from_f32(part_l[0]);
        }
    }
}
