// Reduction over any set of axes: one workgroup of 64 invocations per output element. The
// output index decomposes over the kept dims and each reduced index over the reduced dims,
// both through strides of the input, so non-adjacent axes need no transpose.
// Prelude: T (element), OP (a REDUCE_* code).
struct Params {
    n_out: u32,
    n_red: u32,
    kept_rank: u32,
    red_rank: u32,
    kept_shape: array<vec4<u32>, 2>,
    kept_strides: array<vec4<u32>, 2>,
    red_shape: array<vec4<u32>, 2>,
    red_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> part: array<f32, 64>;

fn red_offset(r: u32) -> u32 {
    var rem = r;
    var off = 0u;
    for (var d = i32(p.red_rank) - 1; d >= 0; d = d - 1) {
        let k = u32(d);
        let s = p.red_shape[k / 4u][k % 4u];
        off = off + (rem % s) * p.red_strides[k / 4u][k % 4u];
        rem = rem / s;
    }
    return off;
}

fn init() -> f32 {
    switch OP {
        case REDUCE_MAX: { return bitcast<f32>(0xff800000u); }
        case REDUCE_MIN: { return bitcast<f32>(0x7f800000u); }

        case REDUCE_PROD: { return 1.0; }
        default: { return 0.0; }
    }
}

fn combine(acc: f32, v: f32) -> f32 {
    switch OP {
        case REDUCE_MAX: { return select(max(acc, v), v, is_nan_f32(v) || is_nan_f32(acc)); }
        case REDUCE_MIN: { return select(min(acc, v), v, is_nan_f32(v) || is_nan_f32(acc)); }
        case REDUCE_PROD: { return acc * v; }
        default: { return acc + v; }
    }
}

fn map_in(v: f32) -> f32 {
    switch OP {
        case REDUCE_L1: { return abs(v); }
        case REDUCE_L2, REDUCE_SUMSQUARE: { return v * v; }
        default: { return v; }
    }
}

// Tree reduction of `part` across the workgroup; every invocation gets the result.
fn workgroup_combine(lidx: u32, v: f32) -> f32 {
    part[lidx] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (lidx < s) {
            part[lidx] = combine(part[lidx], part[lidx + s]);
        }
        workgroupBarrier();
    }
    let r = part[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lidx: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = flat_group(wid, nwg);
    if (o >= p.n_out) {
        return;
    }
    var rem = o;
    var base = 0u;
    for (var d = i32(p.kept_rank) - 1; d >= 0; d = d - 1) {
        let k = u32(d);
        let s = p.kept_shape[k / 4u][k % 4u];
        base = base + (rem % s) * p.kept_strides[k / 4u][k % 4u];
        rem = rem / s;
    }
    var result: f32;
    if (OP == REDUCE_LOGSUMEXP) {
        var m = -3.402823e38;
        for (var r = lidx; r < p.n_red; r = r + 64u) {
            m = max(m, f32(x[base + red_offset(r)]));
        }
        part[lidx] = m;
        workgroupBarrier();
        for (var s = 32u; s > 0u; s = s >> 1u) {
            if (lidx < s) {
                part[lidx] = max(part[lidx], part[lidx + s]);
            }
            workgroupBarrier();
        }
        let mx = part[0];
        workgroupBarrier();
        var acc = 0.0;
        for (var r = lidx; r < p.n_red; r = r + 64u) {
            acc = acc + exp(f32(x[base + red_offset(r)]) - mx);
        }
        result = log(workgroup_combine(lidx, acc)) + mx;
    } else {
        var acc = init();
        for (var r = lidx; r < p.n_red; r = r + 64u) {
            acc = combine(acc, map_in(f32(x[base + red_offset(r)])));
        }
        result = workgroup_combine(lidx, acc);
        switch OP {
            case REDUCE_MEAN: { result = result / f32(p.n_red); }
            case REDUCE_L2: { result = sqrt(result); }
            case REDUCE_LOGSUM: { result = log(result); }
            default: {}
        }
    }
    if (lidx == 0u) {
        y[o] = T(result);
    }
}
