// Shared part of the matrix-product kernels (matmul, matmul_direct, matmul_gemv): Params, the
// bindings, batch offsets, element loads into the accumulator type and the epilogue store.
// y[b] = act(alpha · A[b] · B[b] + beta · C). Transposed operands are read through their
// strides (never materialized); element offsets into A, C and Y and Y's row stride let one
// product be split into column or K blocks when B is larger than a binding may be.
// Prelude: a type library (T), ACC (the accumulation type: f32, or f16 with f16 storage and the
// session's f16 accumulation), HAS_BIAS (C is bound and added), ACT and the activation library.
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
}

@group(0) @binding(0) var<storage, read_write> a: array<T>;
@group(0) @binding(1) var<storage, read_write> b: array<T>;
@group(0) @binding(2) var<storage, read_write> c: array<T>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

// Element offsets of batch `z` into A (x, including a_off) and B (y).
fn mm_batch_offsets(z: u32) -> vec2<u32> {
    var rem = z;
    var ao = p.a_off;
    var bo = 0u;
    for (var d = i32(p.batch_rank) - 1; d >= 0; d = d - 1) {
        let s = p.batch_shape[d];
        let i = rem % s;
        rem = rem / s;
        ao = ao + i * p.a_batch[d];
        bo = bo + i * p.b_batch[d];
    }
    return vec2<u32>(ao, bo);
}

// A[r, k] of the batch at `ao` (no bounds check).
fn mm_a(ao: u32, r: u32, k: u32) -> ACC {
    return ACC(t_to_f32(a[ao + r * p.a_row + k * p.a_col]));
}

// B[k, col] of the batch at `bo` (no bounds check).
fn mm_b(bo: u32, k: u32, col: u32) -> ACC {
    return ACC(t_to_f32(b[bo + k * p.b_row + col * p.b_col]));
}

// Y element (r, col) of batch `z`: alpha · acc (+ beta · C), then the activation.
fn mm_store(z: u32, r: u32, col: u32, acc: ACC) {
    var v = p.alpha * f32(acc);
    if (HAS_BIAS) {
        v = v + p.beta * t_to_f32(c[p.c_off + r * p.c_row + col * p.c_col]);
    }
    v = act_apply(v, p.act_alpha, p.act_beta);
    y[z * p.m * p.y_row + p.y_off + r * p.y_row + col] = t_from_f32(v);
}
