// Reduction over any set of axes: one workgroup of 64 invocations per output element. The
// output index decomposes over the kept dims and each reduced index over the reduced dims,
// both through strides of the input, so non-adjacent axes need no transpose. Floats
// accumulate in F (f32 for 16-bit floats); integers accumulate exactly in T.
// Prelude: a type library (T), OP (a REDUCE_* code).
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

var<workgroup> part_f: array<F, 64>;
var<workgroup> part_t: array<T, 64>;

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

// ---- float path (in F) ----
fn init_f() -> F {
    switch OP {
        case REDUCE_MAX: { return t_to_f(t_lowest()); }
        case REDUCE_MIN: { return t_to_f(t_highest()); }
        case REDUCE_PROD: { return F(1.0); }
        default: { return F(0.0); }
    }
}

fn combine_f(acc: F, v: F) -> F {
    switch OP {
        case REDUCE_MAX: { return select(max(acc, v), v, v != v || acc != acc); }
        case REDUCE_MIN: { return select(min(acc, v), v, v != v || acc != acc); }
        case REDUCE_PROD: { return acc * v; }
        default: { return acc + v; }
    }
}

fn map_f(v: F) -> F {
    switch OP {
        case REDUCE_L1: { return abs(v); }
        case REDUCE_L2, REDUCE_SUMSQUARE: { return v * v; }
        default: { return v; }
    }
}

fn tree_f(lidx: u32, v: F, logsumexp_max: bool) -> F {
    part_f[lidx] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (lidx < s) {
            if (logsumexp_max) {
                part_f[lidx] = max(part_f[lidx], part_f[lidx + s]);
            } else {
                part_f[lidx] = combine_f(part_f[lidx], part_f[lidx + s]);
            }
        }
        workgroupBarrier();
    }
    let r = part_f[0];
    workgroupBarrier();
    return r;
}

// ---- integer path (exact, in T) ----
fn init_t() -> T {
    switch OP {
        case REDUCE_MAX: { return t_lowest(); }
        case REDUCE_MIN: { return t_highest(); }
        case REDUCE_PROD: { return t_one(); }
        default: { return t_zero(); }
    }
}

fn combine_t(acc: T, v: T) -> T {
    switch OP {
        case REDUCE_MAX: { return t_max(acc, v); }
        case REDUCE_MIN: { return t_min(acc, v); }
        case REDUCE_PROD: { return t_mul(acc, v); }
        default: { return t_add(acc, v); }
    }
}

fn map_t(v: T) -> T {
    switch OP {
        case REDUCE_L1: { return select(v, t_neg(v), t_lt(v, t_zero())); }
        case REDUCE_L2, REDUCE_SUMSQUARE: { return t_mul(v, v); }
        default: { return v; }
    }
}

fn tree_t(lidx: u32, v: T) -> T {
    part_t[lidx] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s >> 1u) {
        if (lidx < s) {
            part_t[lidx] = combine_t(part_t[lidx], part_t[lidx + s]);
        }
        workgroupBarrier();
    }
    let r = part_t[0];
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
    let float_path = T_IS_FLOAT || OP == REDUCE_LOGSUM || OP == REDUCE_LOGSUMEXP || OP == REDUCE_L2;
    var out: T;
    if (float_path && OP == REDUCE_LOGSUMEXP) {
        var m = t_to_f(t_lowest());
        for (var r = lidx; r < p.n_red; r = r + 64u) {
            m = max(m, t_to_f(x[base + red_offset(r)]));
        }
        let mx = tree_f(lidx, m, true);
        var acc = F(0.0);
        for (var r = lidx; r < p.n_red; r = r + 64u) {
            acc = acc + F(exp(f32(t_to_f(x[base + red_offset(r)]) - mx)));
        }
        let s = tree_f(lidx, acc, false);
        out = t_from_f(select(F(log(f32(s))) + mx, F(log(f32(s))), mx == t_to_f(t_lowest())));
    } else if (float_path) {
        var acc = init_f();
        for (var r = lidx; r < p.n_red; r = r + 64u) {
            acc = combine_f(acc, map_f(t_to_f(x[base + red_offset(r)])));
        }
        var v = tree_f(lidx, acc, false);
        switch OP {
            case REDUCE_MEAN: { v = v / F(f32(p.n_red)); }
            case REDUCE_L2: { v = F(sqrt(f32(v))); }
            case REDUCE_LOGSUM: { v = F(log(f32(v))); }
            default: {}
        }
        out = t_from_f(v);
    } else {
        var acc = init_t();
        for (var r = lidx; r < p.n_red; r = r + 64u) {
            acc = combine_t(acc, map_t(x[base + red_offset(r)]));
        }
        var v = tree_t(lidx, acc);
        if (OP == REDUCE_MEAN) {
            v = t_div(v, t_from_f32(f32(p.n_red)));
        }
        out = v;
    }
    if (lidx == 0u) {
        y[o] = out;
    }
}
