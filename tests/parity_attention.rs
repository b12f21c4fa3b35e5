//! CPU-vs-GPU parity of the attention-family and Einsum kernels on shapes larger and more varied
//! than the ONNX node tests (rows and key counts past one workgroup, GQA, every mask rank,
//! caches, qk outputs, 16-bit floats, integer Einsum). The GPU session runs without CPU
//! fallback, so every node must lower to GPU kernels.

mod common;

use common::{assert_close, gpu_available};
use onnx_wgpu::embedded::Rng;
use onnx_wgpu::onnx::builder::{Attr, ModelBuilder};
use onnx_wgpu::onnx::proto::OperatorSetIdProto;
use onnx_wgpu::{Backend, DType, Session, Tensor};

fn rand(shape: &[usize], seed: u64, scale: f32) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::new(shape, Rng::new(seed).vec(n, scale)).unwrap()
}

fn rand_dt(shape: &[usize], seed: u64, dt: DType) -> Tensor {
    let t = rand(shape, seed, 1.0);
    Tensor::from_f64(dt, shape, &t.to_f64_vec().unwrap()).unwrap()
}

fn bools(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut r = Rng::new(seed);
    // Mostly true, so that few rows are fully masked.
    let v: Vec<bool> = (0..n).map(|_| r.uniform() > -0.6).collect();
    Tensor::from_bools(shape, &v).unwrap()
}

fn run(model: &[u8], backend: Backend, inputs: &[(&str, Tensor)], max_binding: Option<u64>) -> Vec<Tensor> {
    let mut b = Session::builder().backend(backend).cpu_fallback(backend == Backend::Cpu);
    if let Some(m) = max_binding {
        b = b.max_binding_bytes(m);
    }
    let s = b.from_bytes(model).unwrap_or_else(|e| panic!("{backend:?} load: {e}"));
    let outs = s.run(inputs).unwrap_or_else(|e| panic!("{backend:?} run: {e}"));
    outs.into_vec().into_iter().map(|(_, t)| t).collect()
}

/// One node with `node_inputs` (names; "" = absent) fed from `inputs`, outputs `outputs`
/// ("" = not requested) of dtype `out_dt`; CPU and GPU must agree.
#[allow(clippy::too_many_arguments)]
fn check(
    op: &str,
    domain: &str,
    opset: i64,
    node_inputs: &[&str],
    inputs: &[(&str, Tensor)],
    outputs: &[&str],
    out_dt: DType,
    attrs: &[(&str, Attr)],
    tol: f64,
) {
    check_bound(op, domain, opset, node_inputs, inputs, outputs, out_dt, attrs, tol, None)
}

/// [`check`] with the GPU's binding size capped at `max_binding` bytes.
#[allow(clippy::too_many_arguments)]
fn check_bound(
    op: &str,
    domain: &str,
    opset: i64,
    node_inputs: &[&str],
    inputs: &[(&str, Tensor)],
    outputs: &[&str],
    out_dt: DType,
    attrs: &[(&str, Attr)],
    tol: f64,
    max_binding: Option<u64>,
) {
    let mut b = ModelBuilder::new(opset);
    for (name, t) in inputs {
        b.input(name, t.dtype(), t.shape());
    }
    if domain.is_empty() {
        b.node(op, node_inputs, outputs, attrs);
    } else {
        b.model.opset_import.push(OperatorSetIdProto { domain: Some(domain.into()), version: Some(1) });
        b.node_in(domain, op, node_inputs, outputs, attrs);
    }
    for o in outputs.iter().filter(|o| !o.is_empty()) {
        b.output(o, out_dt, &[]);
    }
    let model = b.to_bytes();
    let cpu = run(&model, Backend::Cpu, inputs, None);
    let gpu = run(&model, Backend::Gpu, inputs, max_binding);
    assert_eq!(cpu.len(), gpu.len());
    for (i, (g, c)) in gpu.iter().zip(&cpu).enumerate() {
        assert_close(&format!("{op} output {i} {attrs:?}"), g, c, tol, tol);
    }
}

#[test]
fn attention_4d_large_rows_gqa_masks_and_caches() {
    if !gpu_available("parity_attention::attention_4d") {
        return;
    }
    // 4 query heads over 2 KV heads, 70 new keys after 9 cached ones (total 79 > 64 threads),
    // value size 67 > 64.
    let (b, hq, hkv, sq, skv, past, dk, dv) = (2, 4, 2, 5, 70, 9, 12, 67);
    let total = past + skv;
    let q = rand(&[b, hq, sq, dk], 1, 1.0);
    let k = rand(&[b, hkv, skv, dk], 2, 1.0);
    let v = rand(&[b, hkv, skv, dv], 3, 1.0);
    let pk = rand(&[b, hkv, past, dk], 4, 1.0);
    let pv = rand(&[b, hkv, past, dv], 5, 1.0);
    let masks: Vec<Tensor> = vec![
        rand(&[total], 6, 2.0),
        bools(&[sq, total], 7),
        rand(&[hq, sq, total - 3], 8, 2.0),
        bools(&[b, 1, sq, total], 9),
        rand(&[b, hq, 1, total], 10, 2.0),
    ];
    for (mi, m) in masks.into_iter().enumerate() {
        for mode in 0..4i64 {
            let causal = (mi + mode as usize) % 2;
            let mut attrs = vec![("qk_matmul_output_mode", Attr::Int(mode)), ("is_causal", Attr::Int(causal as i64))];
            if mode == 1 {
                attrs.push(("softcap", Attr::Float(1.5)));
            }
            if mode == 2 {
                attrs.push(("scale", Attr::Float(0.3)));
            }
            let inputs = [
                ("q", q.clone()),
                ("k", k.clone()),
                ("v", v.clone()),
                ("m", m.clone()),
                ("pk", pk.clone()),
                ("pv", pv.clone()),
            ];
            check(
                "Attention",
                "",
                24,
                &["q", "k", "v", "m", "pk", "pv"],
                &inputs,
                &["y", "present_k", "present_v", "qk"],
                DType::F32,
                &attrs,
                1e-4,
            );
        }
    }
}

#[test]
fn attention_scores_in_row_chunks() {
    if !gpu_available("parity_attention::row_chunks") {
        return;
    }
    // 128 rows of 61 floats (31 KiB of scores) under a 4 KiB binding cap: 8 chunks of 16 rows.
    let inputs = [
        ("q", rand(&[1, 8, 16, 4], 60, 1.0)),
        ("k", rand(&[1, 1, 60, 4], 61, 1.0)),
        ("v", rand(&[1, 1, 60, 4], 62, 1.0)),
        ("m", rand(&[16, 60], 63, 2.0)),
    ];
    let attrs = [("is_causal", Attr::Int(1))];
    check_bound("Attention", "", 24, &["q", "k", "v", "m"], &inputs, &["y"], DType::F32, &attrs, 1e-4, Some(4096));
}

#[test]
fn attention_3d_windows_nonpad_and_f16() {
    if !gpu_available("parity_attention::attention_3d") {
        return;
    }
    let (b, hq, hkv, sq, skv, dk, dv) = (3, 6, 3, 7, 66, 4, 5);
    let q = rand(&[b, sq, hq * dk], 11, 1.0);
    let k = rand(&[b, skv, hkv * dk], 12, 1.0);
    let v = rand(&[b, skv, hkv * dv], 13, 1.0);
    let heads = [("q_num_heads", Attr::Int(hq as i64)), ("kv_num_heads", Attr::Int(hkv as i64))];
    for (lw, rw, causal) in [(-1i64, -1i64, 1i64), (3, -1, 1), (2, 4, 0), (0, 0, 0)] {
        let mut attrs = heads.to_vec();
        attrs.extend([
            ("left_window_size", Attr::Int(lw)),
            ("right_window_size", Attr::Int(rw)),
            ("is_causal", Attr::Int(causal)),
        ]);
        let inputs = [("q", q.clone()), ("k", k.clone()), ("v", v.clone())];
        check("Attention", "", 25, &["q", "k", "v"], &inputs, &["y"], DType::F32, &attrs, 1e-4);
    }
    // nonpad_kv_seqlen with a bool mask, 4-D.
    let q4 = rand(&[b, hq, sq, dk], 14, 1.0);
    let k4 = rand(&[b, hkv, skv, dk], 15, 1.0);
    let v4 = rand(&[b, hkv, skv, dv], 16, 1.0);
    let nonpad = Tensor::new(&[b], vec![66i64, 3, 40]).unwrap();
    let inputs = [("q", q4), ("k", k4), ("v", v4), ("m", bools(&[sq, skv], 17)), ("n", nonpad)];
    check(
        "Attention",
        "",
        24,
        &["q", "k", "v", "m", "", "", "n"],
        &inputs,
        &["y"],
        DType::F32,
        &[("is_causal", Attr::Int(1))],
        1e-4,
    );
    // f16 with a float16 mask and odd sizes (packed halves), 3-D with caches.
    let dt = DType::F16;
    let (sq, skv, past) = (3, 5, 4);
    let inputs = [
        ("q", rand_dt(&[b, sq, hq * dk], 18, dt)),
        ("k", rand_dt(&[b, skv, hkv * dk], 19, dt)),
        ("v", rand_dt(&[b, skv, hkv * dv], 20, dt)),
        ("m", rand_dt(&[sq, past + skv], 21, dt)),
        ("pk", rand_dt(&[b, hkv, past, dk], 22, dt)),
        ("pv", rand_dt(&[b, hkv, past, dv], 23, dt)),
    ];
    let mut attrs = heads.to_vec();
    attrs.push(("qk_matmul_output_mode", Attr::Int(3)));
    check(
        "Attention",
        "",
        24,
        &["q", "k", "v", "m", "pk", "pv"],
        &inputs,
        &["y", "pk_out", "pv_out", "qk"],
        dt,
        &attrs,
        5e-3,
    );
}

#[test]
fn flex_rotary_and_linear_attention() {
    if !gpu_available("parity_attention::flex_rotary_linear") {
        return;
    }
    let inputs = [
        ("q", rand(&[2, 4, 9, 8], 30, 1.0)),
        ("k", rand(&[2, 2, 77, 8], 31, 1.0)),
        ("v", rand(&[2, 2, 77, 70], 32, 1.0)),
    ];
    check("FlexAttention", "ai.onnx.preview", 26, &["q", "k", "v"], &inputs, &["y"], DType::F32, &[], 1e-4);

    // Rotary: 4-D with position ids, 3-D without, interleaved and partial.
    for (interleaved, rot) in [(0i64, 0i64), (1, 0), (0, 6), (1, 4)] {
        let attrs = [("interleaved", Attr::Int(interleaved)), ("rotary_embedding_dim", Attr::Int(rot))];
        let half = if rot == 0 { 5 } else { rot as usize / 2 };
        let pos = Tensor::new(&[2, 7], (0..14i64).map(|i| (i * 5) % 30).collect()).unwrap();
        let inputs = [
            ("x", rand(&[2, 3, 7, 10], 33, 1.0)),
            ("c", rand(&[30, half], 34, 1.0)),
            ("s", rand(&[30, half], 35, 1.0)),
            ("p", pos),
        ];
        check("RotaryEmbedding", "", 23, &["x", "c", "s", "p"], &inputs, &["y"], DType::F32, &attrs, 1e-5);
        let mut attrs3 = attrs.to_vec();
        attrs3.push(("num_heads", Attr::Int(3)));
        let inputs = [
            ("x", rand(&[2, 7, 30], 36, 1.0)),
            ("c", rand(&[2, 7, half], 37, 1.0)),
            ("s", rand(&[2, 7, half], 38, 1.0)),
        ];
        check("RotaryEmbedding", "", 23, &["x", "c", "s"], &inputs, &["y"], DType::F32, &attrs3, 1e-5);
    }

    // LinearAttention over 12 tokens, GQA, every update rule.
    let (b, t, hq, hk, dk, dv) = (2, 12, 6, 3, 5, 7);
    for rule in ["linear", "gated", "delta", "gated_delta"] {
        let mut names = vec!["q", "k", "v", "s"];
        let mut inputs = vec![
            ("q", rand(&[b, t, hq * dk], 40, 0.5)),
            ("k", rand(&[b, t, hk * dk], 41, 0.5)),
            ("v", rand(&[b, t, hk * dv], 42, 0.5)),
            ("s", rand(&[b, hk, dk, dv], 43, 0.5)),
        ];
        if rule.starts_with("gated") {
            names.push("g");
            inputs.push(("g", rand(&[b, t, if rule == "gated" { hk } else { hk * dk }], 44, 0.3)));
        } else {
            names.push("");
        }
        if rule.ends_with("delta") {
            names.push("beta");
            inputs.push(("beta", rand(&[b, t, if rule == "delta" { 1 } else { hk }], 45, 0.5)));
        }
        let attrs = [
            ("q_num_heads", Attr::Int(hq as i64)),
            ("kv_num_heads", Attr::Int(hk as i64)),
            ("update_rule", Attr::Str(rule.into())),
        ];
        check("LinearAttention", "", 27, &names, &inputs, &["y", "state"], DType::F32, &attrs, 1e-4);
    }
}

#[test]
fn einsum_equations_and_types() {
    if !gpu_available("parity_attention::einsum") {
        return;
    }
    let cases: Vec<(&str, Vec<Vec<usize>>)> = vec![
        ("bij,bjk->bik", vec![vec![3, 4, 5], vec![3, 5, 6]]),
        ("...ii->...i", vec![vec![2, 3, 4, 4]]),
        ("ij,jk,kl->il", vec![vec![3, 4], vec![4, 5], vec![5, 2]]),
        ("i,j->ij", vec![vec![7], vec![9]]),
        ("...j,j->...", vec![vec![2, 1, 3, 6], vec![6]]),
        ("ii", vec![vec![5, 5]]),
        ("abc,cd,a,bd->", vec![vec![2, 3, 4], vec![4, 5], vec![2], vec![3, 5]]),
        ("bhqd,bhkd->bhqk", vec![vec![1, 2, 70, 3], vec![1, 2, 9, 3]]),
    ];
    for (eq, shapes) in cases {
        for dt in [DType::F32, DType::F16, DType::I32, DType::I64] {
            let names = ["a", "b", "c", "d"];
            let inputs: Vec<(&str, Tensor)> = shapes
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let t = rand(s, 50 + i as u64, 4.0);
                    let v: Vec<f64> = t.to_f64_vec().unwrap().into_iter().map(|x| x.round()).collect();
                    let t = if dt.is_int() {
                        Tensor::from_i64(dt, s, &v.iter().map(|&x| x as i64).collect::<Vec<_>>()).unwrap()
                    } else {
                        Tensor::from_f64(dt, s, &v).unwrap()
                    };
                    (names[i], t)
                })
                .collect();
            let tol = if dt == DType::F16 { 1e-2 } else { 1e-5 };
            check(
                "Einsum",
                "",
                12,
                &names[..shapes.len()],
                &inputs,
                &["y"],
                dt,
                &[("equation", Attr::Str(eq.into()))],
                tol,
            );
        }
    }
}
