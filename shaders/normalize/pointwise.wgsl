// Small elementwise ops of one shape (no broadcasting), per MODE:
//   SWISH      y = a · sigmoid(alpha · a);
//   SWIGLU     y = a · sigmoid(alpha · a) · b;
//   SHRINK     y = a + beta below −alpha, a − beta above alpha, else 0 (alpha = lambd,
//              beta = bias);
//   BITWISENOT y = ~a (exact, wrapped to the integer width).
// Floats compute in f32. `b` is read only by SWIGLU (other modes may alias it to `a`).
// Prelude: a type library (T), MODE (a POINTWISE_* code).
struct Params {
    n: u32,
    alpha: f32,
    beta: f32,
    pad0: u32,
}

@group(0) @binding(0) var<storage, read_write> a: array<T>;
@group(0) @binding(1) var<storage, read_write> b: array<T>;
@group(0) @binding(2) var<storage, read_write> y: array<T>;
@group(0) @binding(3) var<uniform> p: Params;

fn sigmoid(v: f32) -> f32 {
    if (v >= 0.0) {
        return 1.0 / (1.0 + exp(-v));
    }
    let e = exp(v);
    return e / (1.0 + e);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    switch MODE {
        case POINTWISE_BITWISENOT: {
            y[i] = t_not(a[i]);
        }
        case POINTWISE_SWIGLU: {
            let v = t_to_f32(a[i]);
            y[i] = t_from_f32(v * sigmoid(p.alpha * v) * t_to_f32(b[i]));
        }
        case POINTWISE_SHRINK: {
            let v = t_to_f32(a[i]);
            var r = 0.0;
            if (v < -p.alpha) {
                r = v + p.beta;
            } else if (v > p.alpha) {
                r = v - p.beta;
            }
            y[i] = t_from_f32(r);
        }
        default: {
            let v = t_to_f32(a[i]);
            y[i] = t_from_f32(v * sigmoid(p.alpha * v));
        }
    }
}
