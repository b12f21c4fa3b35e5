// A fused elementwise program (the optimizer's FusedElementwise, src/ops/fused_ew.rs): one
// invocation per output element loads its inputs (broadcast through strides) into registers
// r[0..N_IN), runs up to 12 instructions, instruction k writing r[N_IN + k], and stores the last
// register. The program is constants of the prelude, so the compiler specialises this fixed
// interpreter into straight-line code; shapes, strides and immediates are in Params.
// Math runs in f32: unary instructions through unary_lib.wgsl, binary ones with the formulas
// of binary.wgsl.
// Prelude: a type library (T), unary_lib.wgsl, UNARY_* and BINARY_* codes, N_IN, N_OPS, per instruction k
// OP_k (a UNARY_* code, BIN0 + a BINARY_* code, or WHERE_OP) and operand slots A_k, B_k, C_k
// (a register, or IMM0 + j for immediate j; a unary op's alpha and beta are B_k and C_k), and
// per input k BC_k (read through broadcast strides).
struct Params {
    n: u32,
    rank: u32,
    pad0: u32,
    pad1: u32,
    shape: array<vec4<u32>, 2>,
    s0: array<vec4<u32>, 2>,
    s1: array<vec4<u32>, 2>,
    s2: array<vec4<u32>, 2>,
    s3: array<vec4<u32>, 2>,
    s4: array<vec4<u32>, 2>,
    s5: array<vec4<u32>, 2>,
    imm: array<vec4<f32>, 4>,
}

@group(0) @binding(0) var<storage, read_write> x0: array<T>;
@group(0) @binding(1) var<storage, read_write> x1: array<T>;
@group(0) @binding(2) var<storage, read_write> x2: array<T>;
@group(0) @binding(3) var<storage, read_write> x3: array<T>;
@group(0) @binding(4) var<storage, read_write> x4: array<T>;
@group(0) @binding(5) var<storage, read_write> x5: array<T>;
@group(0) @binding(6) var<storage, read_write> y: array<T>;
@group(0) @binding(7) var<uniform> p: Params;

const IMM0: u32 = 32u;
const BIN0: u32 = 64u;
const WHERE_OP: u32 = 128u;
const NREG: u32 = 18u;

fn stride(k: u32, d: u32) -> u32 {
    let q = d / 4u;
    let e = d % 4u;
    switch k {
        case 0u: { return p.s0[q][e]; }
        case 1u: { return p.s1[q][e]; }
        case 2u: { return p.s2[q][e]; }
        case 3u: { return p.s3[q][e]; }
        case 4u: { return p.s4[q][e]; }
        default: { return p.s5[q][e]; }
    }
}

fn bcast(k: u32) -> bool {
    switch k {
        case 0u: { return BC_0; }
        case 1u: { return BC_1; }
        case 2u: { return BC_2; }
        case 3u: { return BC_3; }
        case 4u: { return BC_4; }
        default: { return BC_5; }
    }
}

fn load(k: u32, i: u32) -> f32 {
    switch k {
        case 0u: { return t_to_f32(x0[i]); }
        case 1u: { return t_to_f32(x1[i]); }
        case 2u: { return t_to_f32(x2[i]); }
        case 3u: { return t_to_f32(x3[i]); }
        case 4u: { return t_to_f32(x4[i]); }
        default: { return t_to_f32(x5[i]); }
    }
}

fn imm(j: u32) -> f32 {
    return p.imm[j / 4u][j % 4u];
}

fn operand(r: ptr<function, array<f32, NREG>>, s: u32) -> f32 {
    if (s >= IMM0) {
        return imm(s - IMM0);
    }
    return (*r)[s];
}

fn binary_f(op: u32, a: f32, b: f32) -> f32 {
    switch op {
        case BINARY_ADD: { return a + b; }
        case BINARY_SUB: { return a - b; }
        case BINARY_MUL: { return a * b; }
        case BINARY_DIV: { return div_f32(a, b); }
        case BINARY_POW: { return pow_f32(a, b); }
        case BINARY_MAX: {
            if (is_nan_f32(a) || is_nan_f32(b)) { return bitcast<f32>(0x7fc00000u); }
            return max(a, b);
        }
        case BINARY_MIN: {
            if (is_nan_f32(a) || is_nan_f32(b)) { return bitcast<f32>(0x7fc00000u); }
            return min(a, b);
        }
        case BINARY_PRELU: { return select(a, a * b, a < 0.0); }
        case BINARY_EQUAL: { return unary_flag(a == b); }
        case BINARY_LESS: { return unary_flag(a < b); }
        case BINARY_LESSOREQUAL: { return unary_flag(a <= b); }
        case BINARY_GREATER: { return unary_flag(a > b); }
        case BINARY_GREATEROREQUAL: { return unary_flag(a >= b); }
        default: { return a; }
    }
}

fn step(r: ptr<function, array<f32, NREG>>, op: u32, a: u32, b: u32, c: u32) -> f32 {
    let va = operand(r, a);
    if (op == WHERE_OP) {
        return select(operand(r, c), operand(r, b), va != 0.0);
    }
    if (op >= BIN0) {
        return binary_f(op - BIN0, va, operand(r, b));
    }
    return unary_f32(op, va, operand(r, b), operand(r, c));
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = flat_index(gid, nwg, 256u);
    if (i >= p.n) {
        return;
    }
    var off: array<u32, 6>;
    for (var k = 0u; k < N_IN; k = k + 1u) {
        off[k] = select(i, 0u, bcast(k));
    }
    if (BC_0 || BC_1 || BC_2 || BC_3 || BC_4 || BC_5) {
        var rem = i;
        for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
            let dd = u32(d);
            let s = p.shape[dd / 4u][dd % 4u];
            let c = rem % s;
            rem = rem / s;
            for (var k = 0u; k < N_IN; k = k + 1u) {
                if (bcast(k)) {
                    off[k] = off[k] + c * stride(k, dd);
                }
            }
        }
    }
    var r: array<f32, NREG>;
    for (var k = 0u; k < N_IN; k = k + 1u) {
        r[k] = load(k, off[k]);
    }
    if (N_OPS > 0u) { r[N_IN + 0u] = step(&r, OP_0, A_0, B_0, C_0); }
    if (N_OPS > 1u) { r[N_IN + 1u] = step(&r, OP_1, A_1, B_1, C_1); }
    if (N_OPS > 2u) { r[N_IN + 2u] = step(&r, OP_2, A_2, B_2, C_2); }
    if (N_OPS > 3u) { r[N_IN + 3u] = step(&r, OP_3, A_3, B_3, C_3); }
    if (N_OPS > 4u) { r[N_IN + 4u] = step(&r, OP_4, A_4, B_4, C_4); }
    if (N_OPS > 5u) { r[N_IN + 5u] = step(&r, OP_5, A_5, B_5, C_5); }
    if (N_OPS > 6u) { r[N_IN + 6u] = step(&r, OP_6, A_6, B_6, C_6); }
    if (N_OPS > 7u) { r[N_IN + 7u] = step(&r, OP_7, A_7, B_7, C_7); }
    if (N_OPS > 8u) { r[N_IN + 8u] = step(&r, OP_8, A_8, B_8, C_8); }
    if (N_OPS > 9u) { r[N_IN + 9u] = step(&r, OP_9, A_9, B_9, C_9); }
    if (N_OPS > 10u) { r[N_IN + 10u] = step(&r, OP_10, A_10, B_10, C_10); }
    if (N_OPS > 11u) { r[N_IN + 11u] = step(&r, OP_11, A_11, B_11, C_11); }
    y[i] = t_from_f32(r[N_IN + N_OPS - 1u]);
}
