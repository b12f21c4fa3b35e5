// The packed int8 product, tiled (see `dp4_lib.wgsl` for the operands, the zero-point algebra
// and the epilogues): a workgroup of WG_C x WG_R invocations computes a BM x BN tile
// (BM = 4 * WG_R, BN = 4 * WG_C) staging BK words of K (4 * BK values) of A and B per step in
// workgroup memory (packed into words there as they are read, for raw and im2col sources); invocation (tx, ty) keeps a 4 x 4 register block (vectors, no dynamically
// indexed arrays) of rows ty + r * WG_R and columns tx + c * WG_C, sixteen dot4I8Packed per
// staged word.
// Prelude: WG_R, WG_C, BK, and dp4_lib.wgsl's.

const BM: u32 = 4u * WG_R;
const BN: u32 = 4u * WG_C;
const NT: u32 = WG_R * WG_C;
// Words per staged row: BK plus one, so the rows an invocation reads fall in different banks.
const SK: u32 = BK + 1u;

var<workgroup> ta: array<u32, BM * SK>;
var<workgroup> tb: array<u32, BN * SK>;

fn dots(a: u32, b: vec4<u32>) -> vec4<i32> {
    return vec4<i32>(dot4I8Packed(a, b.x), dot4I8Packed(a, b.y), dot4I8Packed(a, b.z), dot4I8Packed(a, b.w));
}

fn sums(v: vec4<u32>) -> vec4<i32> {
    return vec4<i32>(dot4I8Packed(v.x, ONES), dot4I8Packed(v.y, ONES), dot4I8Packed(v.z, ONES), dot4I8Packed(v.w, ONES));
}

@compute @workgroup_size(WG_C, WG_R, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let li = ty * WG_C + tx;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    let off = batch_offsets(wid.z);
    var acc0 = vec4<i32>();
    var acc1 = vec4<i32>();
    var acc2 = vec4<i32>();
    var acc3 = vec4<i32>();
    var suma = vec4<i32>();
    var sumb = vec4<i32>();
    for (var kt = 0u; kt < p.k4; kt = kt + BK) {
        for (var l = li; l < BM * BK; l = l + NT) {
            let r = l / BK;
            let kw = l % BK;
            var v = 0u;
            if (row0 + r < p.m && kt + kw < p.k4) {
                v = a_word(off.x, row0 + r, kt + kw);
            }
            ta[r * SK + kw] = v;
        }
        for (var l = li; l < BN * BK; l = l + NT) {
            let c = l / BK;
            let kw = l % BK;
            var v = 0u;
            if (col0 + c < p.n && kt + kw < p.k4) {
                v = b_word(off.y, col0 + c, kt + kw);
            }
            tb[c * SK + kw] = v;
        }
        workgroupBarrier();
        for (var kw = 0u; kw < BK; kw = kw + 1u) {
            let av = vec4<u32>(
                ta[ty * SK + kw],
                ta[(ty + WG_R) * SK + kw],
                ta[(ty + 2u * WG_R) * SK + kw],
                ta[(ty + 3u * WG_R) * SK + kw],
            );
            let bv = vec4<u32>(
                tb[tx * SK + kw],
                tb[(tx + WG_C) * SK + kw],
                tb[(tx + 2u * WG_C) * SK + kw],
                tb[(tx + 3u * WG_C) * SK + kw],
            );
            acc0 = acc0 + dots(av.x, bv);
            acc1 = acc1 + dots(av.y, bv);
            acc2 = acc2 + dots(av.z, bv);
            acc3 = acc3 + dots(av.w, bv);
            if (SA_CALC) {
                suma = suma + sums(av);
            }
            if (SB_CALC) {
                sumb = sumb + sums(bv);
            }
        }
        workgroupBarrier();
    }
    let accs = array<vec4<i32>, 4>(acc0, acc1, acc2, acc3);
    for (var r = 0u; r < 4u; r = r + 1u) {
        let i = row0 + ty + r * WG_R;
        if (i >= p.m) {
            continue;
        }
        for (var c = 0u; c < 4u; c = c + 1u) {
            let j = col0 + tx + c * WG_C;
            if (j < p.n) {
                finish(accs[r][c], suma[r], sumb[c], wid.z, off, i, j);
            }
        }
    }
}
