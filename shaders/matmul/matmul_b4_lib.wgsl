// Operand B of the matrix-product kernels as an array of vec4 (VEC4_B variants): chosen on the
// host only when B's rows are contiguous along N (b_col = 1) and N and the batch strides are
// multiples of 4, so that mm_b4 is one aligned vec4 load. mm_b reads one lane.
// Prelude: a type library (T), ACC; matmul_lib.wgsl (Params p).
@group(0) @binding(1) var<storage, read_write> b: array<vec4<T>>;

// B[k, col] of the batch at `bo` (no bounds check).
fn mm_b(bo: u32, k: u32, col: u32) -> ACC {
    let i = bo + k * p.b_row + col * p.b_col;
    return ACC(t_to_f32(b[i / 4u][i % 4u]));
}

// B[k, col..col+4] of the batch at `bo` (col a multiple of 4).
fn mm_b4(bo: u32, k: u32, col: u32) -> vec4<ACC> {
    let v = b[(bo + k * p.b_row + col) / 4u];
    return vec4<ACC>(ACC(t_to_f32(v.x)), ACC(t_to_f32(v.y)), ACC(t_to_f32(v.z)), ACC(t_to_f32(v.w)));
}
