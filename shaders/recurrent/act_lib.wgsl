// RNN/GRU/LSTM activations and clipping, shared by step.wgsl and seq_loop.wgsl (included as a
// library): reads p.acts / p.alpha / p.beta (codes of ops::recurrent::ActKind), bit 1 of p.flags
// (clip) and p.clip from the including shader's Params. Needs the ACT_* codes in the prelude.

// tanh on an argument bounded so exp-based implementations cannot overflow (|tanh| = 1 in f32
// beyond 15).
fn tanh_safe(v: f32) -> f32 {
    return tanh(clamp(v, -15.0, 15.0));
}

fn act(i: u32, v: f32) -> f32 {
    let kind = p.acts[i / 4u][i % 4u];
    let a = p.alpha[i / 4u][i % 4u];
    let b = p.beta[i / 4u][i % 4u];
    switch kind {
        case ACT_RELU: { return max(v, 0.0); }
        case ACT_TANH: { return tanh_safe(v); }
        case ACT_SIGMOID: {
            let e = exp(-abs(v));
            return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
        }
        case ACT_AFFINE: { return a * v + b; }
        case ACT_LEAKYRELU: { return select(a * v, v, v >= 0.0); }
        case ACT_THRESHOLDEDRELU: { return select(0.0, v, v >= a); }
        case ACT_SCALEDTANH: { return a * tanh_safe(b * v); }
        case ACT_HARDSIGMOID: { return clamp(a * v + b, 0.0, 1.0); }
        case ACT_ELU: { return select(a * (exp(v) - 1.0), v, v >= 0.0); }
        case ACT_SOFTSIGN: { return v / (1.0 + abs(v)); }
        case ACT_SOFTPLUS: { return select(log(1.0 + exp(v)), v, v > 20.0); }
        default: { return v; }
    }
}

fn clipped(v: f32) -> f32 {
    if ((p.flags & 2u) != 0u) {
        return clamp(v, -p.clip, p.clip);
    }
    return v;
}
