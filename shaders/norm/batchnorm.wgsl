// Inference-mode batch normalization over channel axis 1:
// y = (x − mean[c]) / sqrt(var[c] + ε) · scale[c] + bias[c]. Prelude: a type library (T).
struct Params {
    n: u32,
    channels: u32,
    inner: u32,
    epsilon: f32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> scale: array<T>;
@group(0) @binding(2) var<storage, read_write> bias: array<T>;
@group(0) @binding(3) var<storage, read_write> mean: array<T>;
@group(0) @binding(4) var<storage, read_write> variance: array<T>;
@group(0) @binding(5) var<storage, read_write> y: array<T>;
@group(0) @binding(6) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let c = (i / p.inner) % p.channels;
    let inv = inverseSqrt(t_to_f32(variance[c]) + p.epsilon);
    y[i] = t_from_f32((t_to_f32(x[i]) - t_to_f32(mean[c])) * inv * t_to_f32(scale[c]) + t_to_f32(bias[c]));
}
