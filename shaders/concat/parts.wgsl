// Concat of 2 to 4 inputs, or Split into 2 to 4 outputs, in one dispatch. The whole tensor
// (Concat's output, Split's input) is viewed as [outer, p.ends.w, inner] along the axis; part q
// holds axis positions [ends[q-1], ends[q]) (ends[-1] = 0). One invocation per element of the
// whole tensor copies the element's bits between it and its part.
// Bindings: Concat (SPLIT false): b0..b3 the parts, b4 the whole; Split: b0 the whole, b1..b4
// the parts. Bindings of absent parts repeat another and are never touched (empty ranges).
// Prelude: E (the element as bits: u32, f16 or vec2<u32>), SPLIT.
struct Params {
    n: u32,
    inner: u32,
    pad0: u32,
    pad1: u32,
    // Cumulative axis extents of parts 0..3 (ends.w is the whole's axis extent).
    ends: vec4<u32>,
}

@group(0) @binding(0) var<storage, read_write> b0: array<E>;
@group(0) @binding(1) var<storage, read_write> b1: array<E>;
@group(0) @binding(2) var<storage, read_write> b2: array<E>;
@group(0) @binding(3) var<storage, read_write> b3: array<E>;
@group(0) @binding(4) var<storage, read_write> b4: array<E>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    let inn = i % p.inner;
    let a = (i / p.inner) % p.ends.w;
    let o = i / (p.inner * p.ends.w);
    var q = 3u;
    if (a < p.ends.x) {
        q = 0u;
    } else if (a < p.ends.y) {
        q = 1u;
    } else if (a < p.ends.z) {
        q = 2u;
    }
    var start = 0u;
    if (q > 0u) {
        start = p.ends[q - 1u];
    }
    let li = (o * (p.ends[q] - start) + a - start) * p.inner + inn;
    if (SPLIT) {
        let v = b0[i];
        switch (q) {
            case 0u: { b1[li] = v; }
            case 1u: { b2[li] = v; }
            case 2u: { b3[li] = v; }
            default: { b4[li] = v; }
        }
    } else {
        var v: E;
        switch (q) {
            case 0u: { v = b0[li]; }
            case 1u: { v = b1[li]; }
            case 2u: { v = b2[li]; }
            default: { v = b3[li]; }
        }
        b4[i] = v;
    }
}
