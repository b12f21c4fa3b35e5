//! RNN / GRU / LSTM on the GPU (no CPU fallback) against the CPU reference, over the options
//! the ONNX node tests leave out: sequence lengths (including 0), clip, non-default
//! activations with alpha/beta, peepholes, input_forget, both GRU forms, layout 1, subsets of
//! outputs, hidden sizes above one workgroup, and f16 where the adapter has it.

mod common;

use common::{assert_close, gpu_available};
use onnx_wgpu::embedded::Rng;
use onnx_wgpu::onnx::builder::{Attr, ModelBuilder};
use onnx_wgpu::onnx::proto::{attribute_proto::AttributeType, AttributeProto};
use onnx_wgpu::{Backend, DType, Session, Tensor};

struct Case {
    op: &'static str,
    direction: &'static str,
    layout: i64,
    seq: usize,
    batch: usize,
    input: usize,
    hidden: usize,
    bias: bool,
    lens: Option<Vec<i32>>,
    initial: bool,
    peepholes: bool,
    /// Which of Y, Y_h, Y_c the node names.
    outputs: [bool; 3],
    attrs: Vec<(&'static str, Attr)>,
    activations: Vec<&'static str>,
    dtype: DType,
}

impl Case {
    fn new(op: &'static str, direction: &'static str) -> Case {
        Case {
            op,
            direction,
            layout: 0,
            seq: 4,
            batch: 3,
            input: 5,
            hidden: 6,
            bias: true,
            lens: None,
            initial: false,
            peepholes: false,
            outputs: [true, true, op == "LSTM"],
            attrs: vec![],
            activations: vec![],
            dtype: DType::F32,
        }
    }
}

fn rand(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
    let n: usize = shape.iter().product();
    let t = Tensor::new(shape, Rng::new(seed).vec(n, 0.8)).unwrap();
    if dtype == DType::F32 {
        t
    } else {
        Tensor::from_f64(dtype, shape, &t.to_f64_vec().unwrap()).unwrap()
    }
}

fn run(model: &[u8], backend: Backend, inputs: &[(&str, Tensor)]) -> Vec<Tensor> {
    let s = Session::builder()
        .backend(backend)
        .cpu_fallback(false)
        .from_bytes(model)
        .unwrap_or_else(|e| panic!("{backend:?} load: {e}"));
    let outs = s.run(inputs).unwrap_or_else(|e| panic!("{backend:?} run: {e}"));
    outs.into_vec().into_iter().map(|(_, t)| t).collect()
}

fn check(c: &Case) {
    let gates = match c.op {
        "RNN" => 1,
        "GRU" => 3,
        _ => 4,
    };
    let dirs = if c.direction == "bidirectional" { 2 } else { 1 };
    let (h, dt) = (c.hidden, c.dtype);
    let x_shape = if c.layout == 0 { [c.seq, c.batch, c.input] } else { [c.batch, c.seq, c.input] };
    let st_shape = if c.layout == 0 { [dirs, c.batch, h] } else { [c.batch, dirs, h] };
    let mut inputs: Vec<(&str, Tensor)> = vec![
        ("x", rand(&x_shape, 1, dt)),
        ("w", rand(&[dirs, gates * h, c.input], 2, dt)),
        ("r", rand(&[dirs, gates * h, h], 3, dt)),
    ];
    let mut names = vec!["x", "w", "r"];
    let mut opt = |name: &'static str, t: Option<Tensor>, names: &mut Vec<&'static str>| match t {
        Some(t) => {
            inputs.push((name, t));
            names.push(name);
        }
        None => names.push(""),
    };
    opt("b", c.bias.then(|| rand(&[dirs, 2 * gates * h], 4, dt)), &mut names);
    opt("lens", c.lens.as_ref().map(|l| Tensor::new(&[c.batch], l.clone()).unwrap()), &mut names);
    opt("h0", c.initial.then(|| rand(&st_shape, 5, dt)), &mut names);
    if c.op == "LSTM" {
        opt("c0", c.initial.then(|| rand(&st_shape, 6, dt)), &mut names);
        opt("p", c.peepholes.then(|| rand(&[dirs, 3 * h], 7, dt)), &mut names);
    }
    while names.last() == Some(&"") {
        names.pop();
    }
    let mut b = ModelBuilder::new(22);
    for (name, t) in &inputs {
        b.input(name, t.dtype(), t.shape());
    }
    let outs: Vec<&str> = ["y", "yh", "yc"]
        .iter()
        .zip(c.outputs)
        .take(if c.op == "LSTM" { 3 } else { 2 })
        .map(|(n, o)| if o { *n } else { "" })
        .collect();
    let mut attrs = c.attrs.clone();
    attrs.push(("hidden_size", (h as i64).into()));
    attrs.push(("direction", c.direction.into()));
    attrs.push(("layout", c.layout.into()));
    b.node(c.op, &names, &outs, &attrs);
    if !c.activations.is_empty() {
        let a = AttributeProto {
            name: Some("activations".into()),
            r#type: Some(AttributeType::Strings as i32),
            strings: c.activations.iter().map(|s| s.as_bytes().to_vec()).collect(),
            ..Default::default()
        };
        b.graph().node[0].attribute.push(a);
    }
    for o in outs.iter().filter(|o| !o.is_empty()) {
        b.output(o, dt, &[]);
    }
    let model = b.to_bytes();
    let cpu = run(&model, Backend::Cpu, &inputs);
    let gpu = run(&model, Backend::Gpu, &inputs);
    assert_eq!(cpu.len(), gpu.len());
    let tol = if dt == DType::F32 { 1e-4 } else { 1e-2 };
    for (i, (g, want)) in gpu.iter().zip(&cpu).enumerate() {
        assert_eq!(g.shape(), want.shape(), "{} output {i}", c.op);
        assert_close(&format!("{} {} output {i}", c.op, c.direction), g, want, tol, tol);
    }
}

#[test]
fn rnn_bidirectional_lengths_and_activations() {
    if !gpu_available("recurrent::rnn") {
        return;
    }
    let mut c = Case::new("RNN", "bidirectional");
    c.lens = Some(vec![4, 2, 0]);
    c.initial = true;
    c.activations = vec!["Relu", "LeakyRelu"];
    c.attrs.push(("activation_alpha", vec![0.2f32].into()));
    check(&c);
    // One long step with a hidden size over one workgroup, Y only.
    let mut c = Case::new("RNN", "reverse");
    c.seq = 1;
    c.hidden = 100;
    c.input = 70;
    c.outputs = [true, false, false];
    check(&c);
}

#[test]
fn gru_both_forms() {
    if !gpu_available("recurrent::gru") {
        return;
    }
    let mut c = Case::new("GRU", "forward");
    c.layout = 1;
    c.initial = true;
    c.attrs.push(("clip", 0.5f32.into()));
    c.activations = vec!["HardSigmoid", "Softsign"];
    c.attrs.push(("activation_alpha", vec![0.3f32].into()));
    c.attrs.push(("activation_beta", vec![0.45f32].into()));
    c.outputs = [false, true, false];
    check(&c);
    let mut c = Case::new("GRU", "bidirectional");
    c.attrs.push(("linear_before_reset", 1i64.into()));
    c.lens = Some(vec![1, 4, 3]);
    c.outputs = [true, false, false];
    check(&c);
    let mut c = Case::new("GRU", "reverse");
    c.lens = Some(vec![3, 0, 2]);
    c.hidden = 65;
    c.bias = false;
    check(&c);
}

#[test]
fn lstm_options() {
    if !gpu_available("recurrent::lstm") {
        return;
    }
    let mut c = Case::new("LSTM", "reverse");
    c.peepholes = true;
    c.initial = true;
    c.lens = Some(vec![2, 4, 0]);
    c.attrs.push(("input_forget", 1i64.into()));
    check(&c);
    let mut c = Case::new("LSTM", "bidirectional");
    c.layout = 1;
    c.hidden = 70;
    c.input = 130;
    c.seq = 3;
    c.attrs.push(("clip", 1.0f32.into()));
    c.activations = vec!["HardSigmoid", "Elu", "Softplus", "Sigmoid", "Affine", "ScaledTanh"];
    c.attrs.push(("activation_alpha", vec![0.25f32, 0.9, 0.7, 1.1].into()));
    c.attrs.push(("activation_beta", vec![0.5f32, 0.1, 0.8].into()));
    c.outputs = [false, false, true];
    check(&c);
    let mut c = Case::new("LSTM", "forward");
    c.activations = vec!["Sigmoid", "ThresholdedRelu", "Tanh"];
    c.peepholes = true;
    c.bias = false;
    c.outputs = [true, false, true];
    check(&c);
}

#[test]
fn lstm_f16() {
    if !gpu_available("recurrent::lstm_f16") {
        return;
    }
    let ctx = onnx_wgpu::backend::wgpu::device::GpuContext::shared().unwrap();
    if !ctx.features.contains(wgpu::Features::SHADER_F16) {
        eprintln!("SKIP recurrent::lstm_f16: no shader-f16 on this adapter");
        return;
    }
    let mut c = Case::new("LSTM", "bidirectional");
    c.dtype = DType::F16;
    c.initial = true;
    c.peepholes = true;
    check(&c);
}

#[test]
fn weights_over_the_binding_limit_fall_back_to_the_cpu() {
    if !gpu_available("recurrent::binding_limit") {
        return;
    }
    let (h, i) = (8, 4);
    let mut b = ModelBuilder::new(22);
    b.input("x", DType::F32, &[2, 1, i]);
    b.initializer("w", rand(&[1, 4 * h, i], 2, DType::F32));
    b.initializer("r", rand(&[1, 4 * h, h], 3, DType::F32));
    b.node("LSTM", &["x", "w", "r"], &["y"], &[("hidden_size", (h as i64).into())]);
    b.output("y", DType::F32, &[]);
    let model = b.to_bytes();
    let inputs = [("x", rand(&[2, 1, i], 1, DType::F32))];
    let cpu = run(&model, Backend::Cpu, &inputs);
    // R (1 KiB) is over a 512-byte binding limit: the node runs on the host.
    let s = Session::builder().backend(Backend::Gpu).max_binding_bytes(512).from_bytes(&model).unwrap();
    let gpu: Vec<Tensor> = s.run(&inputs).unwrap().into_vec().into_iter().map(|(_, t)| t).collect();
    assert_close("LSTM fallback", &gpu[0], &cpu[0], 1e-6, 1e-6);
}

#[test]
fn long_sequences_over_the_fused_scratch_limit_take_the_per_step_path() {
    if !gpu_available("recurrent::per_step_path") {
        return;
    }
    // The fused path's scratch holds the projection of every step (64 · 2 · 16 floats = 8 KiB),
    // over a 2 KiB binding limit that every tensor fits: the per-step kernels run on the GPU.
    let (seq, h, i) = (64, 4, 4);
    let mut b = ModelBuilder::new(22);
    b.input("x", DType::F32, &[seq, 1, i]);
    b.initializer("w", rand(&[2, 4 * h, i], 2, DType::F32));
    b.initializer("r", rand(&[2, 4 * h, h], 3, DType::F32));
    b.initializer("b", rand(&[2, 8 * h], 4, DType::F32));
    let attrs = [("hidden_size", Attr::from(h as i64)), ("direction", Attr::from("bidirectional"))];
    b.node("LSTM", &["x", "w", "r", "b"], &["y", "y_h", "y_c"], &attrs);
    for o in ["y", "y_h", "y_c"] {
        b.output(o, DType::F32, &[]);
    }
    let model = b.to_bytes();
    let inputs = [("x", rand(&[seq, 1, i], 1, DType::F32))];
    let cpu = run(&model, Backend::Cpu, &inputs);
    let s = Session::builder()
        .backend(Backend::Gpu)
        .cpu_fallback(false)
        .max_binding_bytes(2048)
        .from_bytes(&model)
        .unwrap();
    let gpu: Vec<Tensor> = s.run(&inputs).unwrap().into_vec().into_iter().map(|(_, t)| t).collect();
    for (k, (g, c)) in gpu.iter().zip(&cpu).enumerate() {
        assert_close(&format!("LSTM per-step output {k}"), g, c, 1e-4, 1e-5);
    }
}
