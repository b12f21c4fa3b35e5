// Hann, Hamming and Blackman windows: y[i] = a0 - a1 cos(2πi/d) + a2 cos(4πi/d), in the type
// library's math type F, from a table c computed on the host in double precision:
// c = [a0, a1, a2, cos(2πj/d) for j < d]. With d = 0 (a one-point symmetric window) every
// value is 1.
// Prelude: the type library (T, F).
struct Params {
    n: u32,
    d: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> c: array<F>;
@group(0) @binding(1) var<storage, read_write> y: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    if (p.d == 0u) {
        y[i] = t_from_f(F(1.0));
        return;
    }
    let j1 = i % p.d;
    let j2 = (j1 + j1) % p.d;
    y[i] = t_from_f(c[0] - c[1] * c[3u + j1] + c[2] * c[3u + j2]);
}
