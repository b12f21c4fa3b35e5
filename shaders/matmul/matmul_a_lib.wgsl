// Operand A of the matrix-product kernels as a scalar array (any strides and offsets).
// mm_a4 reads four consecutive elements along K one by one (it serves the tiled kernel's vec4
// path only in the matmul_a4_lib.wgsl form; here it exists so that both paths compile).
// Prelude: a type library (T), ACC; matmul_lib.wgsl (Params p).
@group(0) @binding(0) var<storage, read_write> a: array<T>;

// A[r, k] of the batch at `ao` (no bounds check).
fn mm_a(ao: u32, r: u32, k: u32) -> ACC {
    return ACC(t_to_f32(a[ao + r * p.a_row + k * p.a_col]));
}

// A[r, k..k+4] of the batch at `ao`.
fn mm_a4(ao: u32, r: u32, k: u32) -> vec4<ACC> {
    return vec4<ACC>(mm_a(ao, r, k), mm_a(ao, r, k + 1u), mm_a(ao, r, k + 2u), mm_a(ao, r, k + 3u));
}
