// DFT (forward, inverse, one-sided forward, one-sided inverse = IRFFT) and STFT as direct
// sums, one invocation per output element, in the type library's math type F (f32, or f64
// for doubles). The twiddles come from a table tw (cos(2πj/n) for j < n, then sin(2πj/n))
// computed on the host in double precision, indexed by (k·t) mod n, so no trigonometry runs
// on the device.
// Output element (o, k, i) (outer, bin, inner) sums over t < p.m the complex input element at
// (o / p.frames) * p.batch_stride + (o % p.frames) * p.frame_stride + t * p.t_stride + i,
// times window[t] when p.has_window (STFT).
// Prelude: the type library (T, F).
struct Params {
    total: u32,
    out_len: u32,
    inner: u32,
    m: u32,
    n: u32,
    frames: u32,
    batch_stride: u32,
    frame_stride: u32,
    t_stride: u32,
    in_complex: u32,
    out_complex: u32,
    // 0: forward, 1: inverse (scaled by 1 / n), 2: one-sided inverse (real output)
    mode: u32,
    has_window: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<T>;
@group(0) @binding(1) var<storage, read_write> window: array<T>;
@group(0) @binding(2) var<storage, read_write> tw: array<F>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

// The complex input element at flat complex index c.
fn load(c: u32) -> vec2<F> {
    if (p.in_complex != 0u) {
        return vec2<F>(t_to_f(x[2u * c]), t_to_f(x[2u * c + 1u]));
    }
    return vec2<F>(t_to_f(x[c]), F(0.0));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = flat_index(gid, nwg, 256u);
    if (e >= p.total) {
        return;
    }
    let i = e % p.inner;
    let k = (e / p.inner) % p.out_len;
    let o = e / (p.inner * p.out_len);
    let base = (o / p.frames) * p.batch_stride + (o % p.frames) * p.frame_stride + i;
    var re = F(0.0);
    var im = F(0.0);
    if (p.mode == 2u) {
        // irfft: output sample k from bins 0 .. m - 1 (and their conjugate mirrors)
        re = load(base).x;
        var j = 0u;
        let half = (p.n + 1u) / 2u;
        for (var b = 1u; b < min(half, p.m); b = b + 1u) {
            j = j + k;
            if (j >= p.n) {
                j = j % p.n;
            }
            let v = load(base + b * p.t_stride);
            re = re + F(2.0) * (v.x * tw[j] - v.y * tw[p.n + j]);
        }
        if (p.n % 2u == 0u && p.n / 2u < p.m) {
            // cos(π k) = ±1
            let v = load(base + (p.n / 2u) * p.t_stride).x;
            re = re + select(v, -v, k % 2u == 1u);
        }
        y[e] = t_from_f(re / F(p.n));
        return;
    }
    let sgn = select(F(-1.0), F(1.0), p.mode == 1u);
    var j = 0u;
    for (var t = 0u; t < p.m; t = t + 1u) {
        var v = load(base + t * p.t_stride);
        if (p.has_window != 0u) {
            v = v * t_to_f(window[t]);
        }
        let c = tw[j];
        let s = sgn * tw[p.n + j];
        re = re + v.x * c - v.y * s;
        im = im + v.x * s + v.y * c;
        j = j + k;
        if (j >= p.n) {
            j = j - p.n;
        }
    }
    if (p.mode == 1u) {
        re = re / F(p.n);
        im = im / F(p.n);
    }
    if (p.out_complex != 0u) {
        y[2u * e] = t_from_f(re);
        y[2u * e + 1u] = t_from_f(im);
    } else {
        y[e] = t_from_f(re);
    }
}
