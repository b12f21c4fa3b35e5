// Shared part of the matrix-product kernels (matmul, matmul_direct, matmul_gemv): Params, the
// bindings, batch offsets, element loads into the accumulator type and the epilogue store.
// y[b] = act(alpha · A[b] · B[b] + beta · C[b]). Transposed operands (Gemm's transA/transB,
// the optimizer's folded Transposes) are read through their strides (never materialized); C is
// read through broadcast strides (0 along broadcast dims, batch dims included); element offsets
// into A, C and Y and Y's row stride let one product be split into column or K blocks when B is
// larger than a binding may be.
// Prelude: a type library (T), ACC (the accumulation type: f32, or f16 with f16 storage and the
// session's f16 accumulation), HAS_BIAS (C is bound and added), HAS_RES (R, a residual with Y's
// layout, is bound and added after C: y = act(alpha · AB + beta · C + R)), ACT and the
// activation library, one load library for A and one for B.
struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch_rank: u32,
    a_row: u32,
    a_col: u32,
    b_row: u32,
    b_col: u32,
    c_row: u32,
    c_col: u32,
    alpha: f32,
    beta: f32,
    a_off: u32,
    c_off: u32,
    y_off: u32,
    y_row: u32,
    act_alpha: f32,
    act_beta: f32,
    pad0: u32,
    pad1: u32,
    batch_shape: vec4<u32>,
    a_batch: vec4<u32>,
    b_batch: vec4<u32>,
    c_batch: vec4<u32>,
    y_batch: vec4<u32>,
}

// Bindings 0 (A) and 1 (B) and their loads mm_a/mm_b/mm_a4/mm_b4 are in matmul_{a,b}_lib.wgsl
// (scalar arrays) or matmul_{a,b}4_lib.wgsl (vec4 arrays), chosen by the prelude.
@group(0) @binding(2) var<storage, read_write> c: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<storage, read_write> res: array<T>;
@group(0) @binding(5) var<uniform> p: Params;

// Element offsets of batch `z` into A (x, including a_off), B (y), C (z, including c_off) and
// Y (w, including y_off; Y's batch strides may be those of a permuted result).
fn mm_batch_offsets(z: u32) -> vec4<u32> {
    var rem = z;
    var ao = p.a_off;
    var bo = 0u;
    var co = p.c_off;
    var yo = p.y_off;
    for (var d = i32(p.batch_rank) - 1; d >= 0; d = d - 1) {
        let s = p.batch_shape[d];
        let i = rem % s;
        rem = rem / s;
        ao = ao + i * p.a_batch[d];
        bo = bo + i * p.b_batch[d];
        co = co + i * p.c_batch[d];
        yo = yo + i * p.y_batch[d];
    }
    return vec4<u32>(ao, bo, co, yo);
}

// Y element (r, col) of batch `z` (offsets `off` from mm_batch_offsets): alpha · acc
// (+ beta · C), then the activation.
fn mm_store(z: u32, off: vec4<u32>, r: u32, col: u32, acc: ACC) {
    var v = p.alpha * f32(acc);
    if (HAS_BIAS) {
        v = v + p.beta * t_to_f32(c[off.z + r * p.c_row + col * p.c_col]);
    }
    let yi = off.w + r * p.y_row + col;
    if (HAS_RES) {
        v = v + t_to_f32(res[yi]);
    }
    v = act_apply(v, p.act_alpha, p.act_beta);
    y[yi] = t_from_f32(v);
}
