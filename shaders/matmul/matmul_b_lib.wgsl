// Operand B of the matrix-product kernels as a scalar array (any strides and offsets).
// mm_b4 reads four consecutive elements along N one by one (see matmul_a_lib.wgsl).
// Prelude: a type library (T), ACC; matmul_lib.wgsl (Params p).
@group(0) @binding(1) var<storage, read_write> b: array<T>;

// B[k, col] of the batch at `bo` (no bounds check).
fn mm_b(bo: u32, k: u32, col: u32) -> ACC {
    return ACC(t_to_f32(b[bo + k * p.b_row + col * p.b_col]));
}

// B[k, col..col+4] of the batch at `bo`.
fn mm_b4(bo: u32, k: u32, col: u32) -> vec4<ACC> {
    return vec4<ACC>(mm_b(bo, k, col), mm_b(bo, k, col + 1u), mm_b(bo, k, col + 2u), mm_b(bo, k, col + 3u));
}
