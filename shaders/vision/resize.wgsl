// Resize / Upsample (linear and cubic): y[o] = Σ over every combination of per-axis taps of
// Π w_d · x[Σ idx_d · in_stride_d], computed in f32. Each axis d has `taps[d]` taps per output
// position in the tables idx/w at `tab_off[d] + o_d · taps[d]` (plan-time constants, or written
// by resize_taps.wgsl for a run-time roi); an index < 0 marks an extrapolated position, which
// takes `extrap`. Prelude: a type library (T).
struct Params {
    n: u32,
    rank: u32,
    combos: u32,
    extrap: f32,
    out_shape: array<vec4<u32>, 2>,
    in_strides: array<vec4<u32>, 2>,
    taps: array<vec4<u32>, 2>,
    tab_off: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    // The first table entry of every axis for this output position.
    var base: array<u32, 8>;
    var rem = i;
    for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
        let k = u32(d);
        let s = p.out_shape[k / 4u][k % 4u];
        let od = rem % s;
        rem = rem / s;
        let e = p.tab_off[k / 4u][k % 4u] + od * p.taps[k / 4u][k % 4u];
        if (idx[e] < 0) {
            y[i] = t_from_f32(p.extrap);
            return;
        }
        base[k] = e;
    }
    var acc = 0.0;
    for (var c = 0u; c < p.combos; c = c + 1u) {
        var r = c;
        var src = 0u;
        var wt = 1.0;
        for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
            let k = u32(d);
            let nt = p.taps[k / 4u][k % 4u];
            let e = base[k] + r % nt;
            r = r / nt;
            src = src + u32(idx[e]) * p.in_strides[k / 4u][k % 4u];
            wt = wt * w[e];
        }
        acc = acc + wt * t_to_f32(x[src]);
    }
    y[i] = t_from_f32(acc);
}
