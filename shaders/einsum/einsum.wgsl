// Einsum as a strided sum of products: one invocation per output element loops over the
// summed index space; every operand reaches its element through per-label strides (repeated
// labels add their strides: the diagonal; broadcast labels have stride 0). Labels: the first
// out_rank are the output's axes, then sum_rank summed ones; strides[k·16 + l] is input k's
// stride of output label l (< 8) or summed label l − 8. Floats accumulate in F (f32, f64 for
// doubles) and round once; integers wrap exactly in T.
// Prelude: a type library (T).
struct Params {
    n_out: u32,
    n_in: u32,
    out_rank: u32,
    sum_rank: u32,
    n_sum: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
    out_shape: array<vec4<u32>, 2>,
    sum_shape: array<vec4<u32>, 2>,
    strides: array<vec4<u32>, 16>,
}

@group(0) @binding(0) var<storage, read_write> x0: array<T>;
@group(0) @binding(1) var<storage, read_write> x1: array<T>;
@group(0) @binding(2) var<storage, read_write> x2: array<T>;
@group(0) @binding(3) var<storage, read_write> x3: array<T>;
@group(0) @binding(4) var<storage, read_write> y: array<T>;
@group(0) @binding(5) var<uniform> p: Params;

fn stride(k: u32, l: u32) -> u32 {
    let f = k * 16u + l;
    return p.strides[f / 4u][f % 4u];
}

fn load(k: u32, off: u32) -> T {
    switch k {
        case 0u: { return x0[off]; }
        case 1u: { return x1[off]; }
        case 2u: { return x2[off]; }
        default: { return x3[off]; }
    }
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = flat_index(gid, nwg, 256u);
    if (o >= p.n_out) {
        return;
    }
    var base = array<u32, 4>(0u, 0u, 0u, 0u);
    var rem = o;
    for (var a = p.out_rank; a > 0u; a = a - 1u) {
        let sz = p.out_shape[(a - 1u) / 4u][(a - 1u) % 4u];
        let c = rem % sz;
        rem = rem / sz;
        for (var k = 0u; k < p.n_in; k = k + 1u) {
            base[k] = base[k] + c * stride(k, a - 1u);
        }
    }
    var facc: F = t_to_f(t_zero());
    var iacc: T = t_zero();
    for (var s = 0u; s < p.n_sum; s = s + 1u) {
        var off = base;
        var r = s;
        for (var a = p.sum_rank; a > 0u; a = a - 1u) {
            let sz = p.sum_shape[(a - 1u) / 4u][(a - 1u) % 4u];
            let c = r % sz;
            r = r / sz;
            for (var k = 0u; k < p.n_in; k = k + 1u) {
                off[k] = off[k] + c * stride(k, 8u + a - 1u);
            }
        }
        if (T_IS_FLOAT) {
            var prod = t_to_f(load(0u, off[0]));
            for (var k = 1u; k < p.n_in; k = k + 1u) {
                prod = prod * t_to_f(load(k, off[k]));
            }
            facc = facc + prod;
        } else {
            var prod = load(0u, off[0]);
            for (var k = 1u; k < p.n_in; k = k + 1u) {
                prod = t_mul(prod, load(k, off[k]));
            }
            iacc = t_add(iacc, prod);
        }
    }
    y[o] = select(iacc, t_from_f(facc), T_IS_FLOAT);
}
