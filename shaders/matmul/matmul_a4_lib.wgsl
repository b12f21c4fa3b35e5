// Operand A of the matrix-product kernels as an array of vec4 (VEC4_A variants): chosen on the
// host only when A's rows are contiguous along K (a_col = 1) and K, a_off and the batch strides
// are multiples of 4, so that mm_a4 is one aligned vec4 load. mm_a reads one lane.
// Prelude: a type library (T), ACC; matmul_lib.wgsl (Params p).
@group(0) @binding(0) var<storage, read_write> a: array<vec4<T>>;

// A[r, k] of the batch at `ao` (no bounds check).
fn mm_a(ao: u32, r: u32, k: u32) -> ACC {
    let i = ao + r * p.a_row + k * p.a_col;
    return ACC(t_to_f32(a[i / 4u][i % 4u]));
}

// A[r, k..k+4] of the batch at `ao` (k a multiple of 4).
fn mm_a4(ao: u32, r: u32, k: u32) -> vec4<ACC> {
    let v = a[(ao + r * p.a_row + k) / 4u];
    return vec4<ACC>(ACC(t_to_f32(v.x)), ACC(t_to_f32(v.y)), ACC(t_to_f32(v.z)), ACC(t_to_f32(v.w)));
}
