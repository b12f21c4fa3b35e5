// Double-f32 arithmetic: a value is x + y (about 44 significant bits), for the few kernels whose
// floor, ties or bounds must be decided as an f64 reference decides them. Every intermediate
// whose rounding error is extracted passes through opaque(), a multiplication by the uniform
// `p.one` (the including shader's Params must have `one: f32` set to 1.0) that the device
// cannot see through: compilers may otherwise simplify (a + b) − a to b, and some evaluate
// fma unfused, so none is used.
fn opaque(x: f32) -> f32 {
    return x * p.one;
}

fn df_two_sum(a: f32, b: f32) -> vec2<f32> {
    let s = opaque(a + b);
    let bb = opaque(s - a);
    return vec2<f32>(s, opaque(a - opaque(s - bb)) + opaque(b - bb));
}

fn df_fast(a: f32, b: f32) -> vec2<f32> {
    let s = opaque(a + b);
    return vec2<f32>(s, b - opaque(s - a));
}

// Veltkamp's split into two halves of 12 bits.
fn df_split(a: f32) -> vec2<f32> {
    let c = opaque(4097.0 * a);
    let hi = opaque(c - opaque(c - a));
    return vec2<f32>(hi, a - hi);
}

// Dekker's exact product a·b = x + y.
fn df_two_prod(a: f32, b: f32) -> vec2<f32> {
    let q = opaque(a * b);
    let sa = df_split(a);
    let sb = df_split(b);
    let e1 = opaque(opaque(sa.x * sb.x) - q);
    let e2 = opaque(e1 + opaque(sa.x * sb.y));
    let e3 = opaque(e2 + opaque(sa.y * sb.x));
    return vec2<f32>(q, e3 + opaque(sa.y * sb.y));
}

fn df_add(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    let s = df_two_sum(a.x, b.x);
    let t = df_two_sum(a.y, b.y);
    let u = df_fast(s.x, s.y + t.x);
    return df_fast(u.x, u.y + t.y);
}

fn df_mul_f(a: vec2<f32>, b: f32) -> vec2<f32> {
    let q = df_two_prod(a.x, b);
    return df_fast(q.x, q.y + a.y * b);
}

fn df_div(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    let q1 = a.x / b.x;
    let r1 = df_add(a, -df_mul_f(b, q1));
    let q2 = r1.x / b.x;
    let r2 = df_add(r1, -df_mul_f(b, q2));
    let q3 = r2.x / b.x;
    return df_add(df_fast(q1, q2), vec2<f32>(q3, 0.0));
}

fn df_div_f(a: vec2<f32>, b: f32) -> vec2<f32> {
    let q1 = a.x / b;
    let r1 = df_add(a, -df_two_prod(b, q1));
    let q2 = r1.x / b;
    let r2 = df_add(r1, -df_two_prod(b, q2));
    let q3 = r2.x / b;
    return df_add(df_fast(q1, q2), vec2<f32>(q3, 0.0));
}

fn df_lt(a: vec2<f32>, b: f32) -> bool {
    return a.x < b || (a.x == b && a.y < 0.0);
}

fn df_gt(a: vec2<f32>, b: f32) -> bool {
    return a.x > b || (a.x == b && a.y > 0.0);
}
