// EyeLike: y[r, c] = one[0] where c − r = k, else zero (a rows × cols matrix).
// Prelude: E (the element as bits; zero bits are zero in every type).
struct Params {
    n: u32,
    cols: u32,
    k: i32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> one: array<E>;
@group(0) @binding(1) var<storage, read_write> y: array<E>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    if (i32(i % p.cols) - i32(i / p.cols) == p.k) {
        y[i] = one[0];
    } else {
        y[i] = E();
    }
}
