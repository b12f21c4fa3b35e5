// Col2Im: every output element (plane, image coords) sums, in block-offset order, the input
// columns whose block position covers it: pos_d = (p_d + pad_d − off_d·dil_d) / stride_d when
// that divides exactly and lies in [0, n_blocks_d). Input viewed as [planes, K, L] with K the
// block size and L the number of block positions. Prelude: a type library (T).
struct Params {
    n: u32,
    nd: u32,
    kk: u32,
    ll: u32,
    image: array<vec4<u32>, 2>,
    block: array<vec4<u32>, 2>,
    dil: array<vec4<u32>, 2>,
    pad: array<vec4<u32>, 2>,
    stride: array<vec4<u32>, 2>,
    n_blocks: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

fn image(d: u32) -> u32 { return p.image[d / 4u][d % 4u]; }
fn block(d: u32) -> u32 { return p.block[d / 4u][d % 4u]; }
fn dil(d: u32) -> u32 { return p.dil[d / 4u][d % 4u]; }
fn pad(d: u32) -> u32 { return p.pad[d / 4u][d % 4u]; }
fn stride(d: u32) -> u32 { return p.stride[d / 4u][d % 4u]; }
fn n_blocks(d: u32) -> u32 { return p.n_blocks[d / 4u][d % 4u]; }

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    var img = 1u;
    for (var d = 0u; d < p.nd; d = d + 1u) {
        img = img * image(d);
    }
    let plane = i / img;
    var acc = t_zero();
    for (var kk = 0u; kk < p.kk; kk = kk + 1u) {
        // Walk the dims from the last: image coordinate, block offset, block position.
        var irem = i % img;
        var krem = kk;
        var bl = 0u;
        var bl_stride = 1u;
        var ok = true;
        for (var dd = i32(p.nd) - 1; dd >= 0; dd = dd - 1) {
            let d = u32(dd);
            let pd = irem % image(d);
            irem = irem / image(d);
            let off = krem % block(d);
            krem = krem / block(d);
            let q = i32(pd + pad(d)) - i32(off * dil(d));
            let s = i32(stride(d));
            if (q < 0 || q % s != 0 || u32(q / s) >= n_blocks(d)) {
                ok = false;
                break;
            }
            bl = bl + u32(q / s) * bl_stride;
            bl_stride = bl_stride * n_blocks(d);
        }
        if (ok) {
            acc = t_add(acc, x[(plane * p.kk + kk) * p.ll + bl]);
        }
    }
    y[i] = acc;
}
