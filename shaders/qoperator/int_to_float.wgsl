// MatMulIntegerToFloat / DynamicQuantizeMatMul epilogue, one invocation per output element:
// y = (a_scale * b_scale[j]) * f32(acc) (+ bias[j]) for the int32 sums of MatMulInteger's kernel
// (shaders/quant/matmul_int.wgsl), j = element % p.cols. a_scale is word 0 of `a_s` (f32 bits:
// a constant, or DynamicQuantizeLinear's range pass output); b_scale has one entry per column
// or one in all (p.per_col).
// Prelude: none.
struct Params {
    n: u32,
    cols: u32,
    per_col: u32,
    has_bias: u32,
}

@group(0) @binding(0) var<storage, read_write> acc: array<i32>;
@group(0) @binding(1) var<storage, read_write> a_s: array<u32>;
@group(0) @binding(2) var<storage, read_write> b_s: array<f32>;
@group(0) @binding(3) var<storage, read_write> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let o = flat_index(gid, nwg, 256u);
    if (o >= p.n) {
        return;
    }
    let j = o % p.cols;
    let s = bitcast<f32>(a_s[0]) * b_s[select(0u, j, p.per_col != 0u)];
    var v = s * f32(acc[o]);
    if (p.has_bias != 0u) {
        v = v + bias[j];
    }
    y[o] = v;
}
