//! Device-resident tensors end to end: greedy decoding with the tiny GPT decoder
//! (`embedded::decoder`), its KV cache and next token kept on the GPU between runs
//! (`IoBinding`), against the same decode with host round trips (`Session::run`) and on the CPU
//! backend: identical token ids, logits and caches within tolerance, and the exact number of
//! host↔device transfers per token. Also: device tensors on the CPU backend, device inputs
//! checked like host inputs, and a device tensor refused by a session on another device.

mod common;

use common::{assert_close, gpu_available};
use onnx_wgpu::embedded::decoder::{greedy_device, greedy_host, Decoded, TinyGpt};
use onnx_wgpu::{Backend, DType, Error, IoBinding, Session, Tensor};

const PROMPT: [i64; 4] = [3, 14, 15, 92];
const STEPS: usize = 8;

fn session(gpt: &TinyGpt, backend: Backend) -> Session {
    Session::builder().backend(backend).cpu_fallback(false).from_bytes(&gpt.build()).expect("load the decoder")
}

fn assert_same_decode(what: &str, got: &Decoded, want: &Decoded, rtol: f64, atol: f64) {
    assert_eq!(got.tokens, want.tokens, "{what}: token ids");
    assert_close(&format!("{what}: last logits"), &got.last_logits, &want.last_logits, rtol, atol);
    for ((name, g), (_, w)) in got.cache.iter().zip(&want.cache) {
        assert_close(&format!("{what}: {name}"), g, w, rtol, atol);
    }
}

#[test]
fn gpu_decode_keeps_the_cache_on_the_device() {
    if !gpu_available("gpu_decode_keeps_the_cache_on_the_device") {
        return;
    }
    let gpt = TinyGpt::default();
    let gpu = session(&gpt, Backend::Gpu);
    let device = greedy_device(&gpu, &gpt, &PROMPT, STEPS).expect("device-resident decode");
    let host = greedy_host(&gpu, &gpt, &PROMPT, STEPS).expect("host round-trip decode");
    let cpu = greedy_host(&session(&gpt, Backend::Cpu), &gpt, &PROMPT, STEPS).expect("CPU decode");
    println!("tokens {:?}", device.tokens);
    assert_eq!(device.tokens.len(), STEPS);
    assert_same_decode("GPU device loop vs GPU host loop", &device, &host, 0.0, 0.0);
    assert_same_decode("GPU device loop vs CPU", &device, &cpu, 1e-4, 1e-5);

    let inputs = 1 + 2 * gpt.layers as u64; // input_ids and the past cache tensors
    let outputs = 2 + 2 * gpt.layers as u64; // logits, next_token and the present cache tensors
                                             // Device loop: the first run uploads the prompt and the empty cache; every later run
                                             // takes last run's device outputs (copied into its arena on the device) and keeps all
                                             // its outputs there: no transfer at all.
    for (i, s) in device.per_token.iter().enumerate() {
        println!("device loop token {i}: {s:?}");
        let uploads = if i == 0 { inputs } else { 0 };
        assert_eq!((s.uploads, s.downloads), (uploads, 0), "device loop, token {i}: {s:?}");
        assert_eq!(s.device_copies, outputs + if i == 0 { 0 } else { inputs }, "device loop, token {i}: {s:?}");
    }
    // Host loop: every run uploads its inputs and reads back every output.
    for (i, s) in host.per_token.iter().enumerate() {
        println!("host loop token {i}: {s:?}");
        assert_eq!((s.uploads, s.downloads, s.device_copies), (inputs, outputs, 0), "host loop, token {i}: {s:?}");
    }
}

#[test]
fn device_tensors_work_on_the_cpu_backend() {
    let gpt = TinyGpt { layers: 1, ..TinyGpt::default() };
    let cpu = session(&gpt, Backend::Cpu);
    let device = greedy_device(&cpu, &gpt, &PROMPT, 4).expect("device-resident decode on the CPU");
    let host = greedy_host(&cpu, &gpt, &PROMPT, 4).expect("host decode on the CPU");
    assert_same_decode("CPU device loop vs CPU host loop", &device, &host, 0.0, 0.0);
    assert!(device.per_token.iter().chain(&host.per_token).all(|s| *s == Default::default()));
    let t = cpu.to_device(&Tensor::new(&[1, 1], vec![5i64]).unwrap()).unwrap();
    assert!(!t.is_gpu());
    assert_eq!(t.to_host().unwrap().to_vec::<i64>().unwrap(), vec![5]);
}

/// Device inputs get the same typed errors as host inputs, and unknown output names are
/// refused.
fn check_input_errors(s: &Session, gpt: &TinyGpt) {
    let mut io = IoBinding::new();
    for (name, t) in gpt.empty_cache() {
        io.bind_input(&name, s.to_device(&t).unwrap());
    }
    let wrong_dtype = s.to_device(&Tensor::new(&[1, 1], vec![1.0f32]).unwrap()).unwrap();
    io.bind_input("input_ids", wrong_dtype);
    let e = s.run_binding(&mut io).unwrap_err();
    assert!(
        matches!(&e, Error::Input { name, reason } if name == "input_ids" && reason.contains("expected int64")),
        "{e}"
    );
    let wrong_rank = s.to_device(&Tensor::new(&[1], vec![1i64]).unwrap()).unwrap();
    io.bind_input("input_ids", wrong_rank);
    let e = s.run_binding(&mut io).unwrap_err();
    assert!(matches!(&e, Error::Input { name, reason } if name == "input_ids" && reason.contains("rank")), "{e}");
    // past_len must agree between the cache tensors.
    io.bind_input("input_ids", Tensor::new(&[1, 1], vec![1i64]).unwrap());
    let longer = Tensor::zeros(DType::F32, &[1, gpt.heads, 2, gpt.head_dim()]).unwrap();
    io.bind_input("past_value_0", s.to_device(&longer).unwrap());
    let e = s.run_binding(&mut io).unwrap_err();
    assert!(
        matches!(&e, Error::Input { name, reason } if name == "past_value_0" && reason.contains("past_len")),
        "{e}"
    );
    let mut io = IoBinding::new();
    io.bind_output_to_device("nonsense");
    assert!(matches!(s.run_binding(&mut io), Err(Error::Usage(m)) if m.contains("nonsense")));
}

#[test]
fn device_inputs_are_checked_like_host_inputs() {
    let gpt = TinyGpt { layers: 1, ..TinyGpt::default() };
    check_input_errors(&session(&gpt, Backend::Cpu), &gpt);
    if gpu_available("device_inputs_are_checked_like_host_inputs") {
        check_input_errors(&session(&gpt, Backend::Gpu), &gpt);
    }
}

#[test]
fn device_tensors_of_another_device_are_refused() {
    if !gpu_available("device_tensors_of_another_device_are_refused") {
        return;
    }
    let gpt = TinyGpt { layers: 1, ..TinyGpt::default() };
    let (gpu, cpu) = (session(&gpt, Backend::Gpu), session(&gpt, Backend::Cpu));
    let ids = Tensor::new(&[1, 1], vec![1i64]).unwrap();
    for (from, to) in [(&gpu, &cpu), (&cpu, &gpu)] {
        let mut io = IoBinding::new();
        io.bind_input("input_ids", from.to_device(&ids).unwrap());
        for (name, t) in gpt.empty_cache() {
            io.bind_input(&name, t);
        }
        let e = to.run_binding(&mut io).unwrap_err();
        assert!(
            matches!(&e, Error::Input { name, reason } if name == "input_ids" && reason.contains("cannot feed")),
            "{e}"
        );
    }
    // Downloaded, the same tensor is fine.
    let t = gpu.to_device(&ids).unwrap();
    assert!(t.is_gpu());
    let before = gpu.transfer_stats();
    assert_eq!(t.to_host().unwrap(), ids);
    let d = gpu.transfer_stats() - before;
    assert_eq!((d.uploads, d.downloads, d.download_bytes), (0, 1, 8));
}

/// Device outputs are copies out of the run's arena: a later run of the same shapes (which
/// reuses that arena) leaves them intact.
#[test]
fn device_outputs_survive_the_next_run() {
    if !gpu_available("device_outputs_survive_the_next_run") {
        return;
    }
    let gpt = TinyGpt { layers: 1, ..TinyGpt::default() };
    let gpu = session(&gpt, Backend::Gpu);
    let run = |token: i64| {
        let mut io = IoBinding::new();
        io.bind_input("input_ids", Tensor::new(&[1, 1], vec![token]).unwrap()).bind_outputs_to_device();
        for (name, t) in gpt.empty_cache() {
            io.bind_input(&name, t);
        }
        gpu.run_binding(&mut io).unwrap();
        io.output("logits").unwrap().clone()
    };
    let a = run(1);
    let want = a.to_host().unwrap();
    let b = run(2);
    assert_ne!(b.to_host().unwrap(), want);
    assert_eq!(a.to_host().unwrap(), want);
}

/// A device input whose value a plan needs (a Reshape target) is downloaded once, and that
/// download is counted; a device input passed through a Reshape to an output stays shared.
#[test]
fn device_inputs_needed_on_the_host_are_downloaded_and_counted() {
    use onnx_wgpu::onnx::builder::{DimSpec, ModelBuilder};
    let mut b = ModelBuilder::new(20);
    b.input_dims("x", DType::F32, &[DimSpec::Name("n".into())]);
    b.input("shape", DType::I64, &[2]);
    b.node("Reshape", &["x", "shape"], &["y"], &[]);
    b.node("Add", &["y", "y"], &["z"], &[]);
    b.output_dims("y", DType::F32, &[DimSpec::Name("a".into()), DimSpec::Name("b".into())]);
    b.output_dims("z", DType::F32, &[DimSpec::Name("a".into()), DimSpec::Name("b".into())]);
    let model = b.to_bytes();
    let x = Tensor::new(&[6], vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    let shape = Tensor::new(&[2], vec![2i64, 3]).unwrap();
    let want_z = Tensor::new(&[2, 3], vec![2.0f32, 4.0, 6.0, 8.0, 10.0, 12.0]).unwrap();
    let mut backends = vec![Backend::Cpu];
    if gpu_available("device_inputs_needed_on_the_host_are_downloaded_and_counted") {
        backends.push(Backend::Gpu);
    }
    for backend in backends {
        let s = Session::builder().backend(backend).cpu_fallback(false).from_bytes(&model).unwrap();
        let mut io = IoBinding::new();
        io.bind_input("x", s.to_device(&x).unwrap())
            .bind_input("shape", s.to_device(&shape).unwrap())
            .bind_outputs_to_device();
        let before = s.transfer_stats();
        s.run_binding(&mut io).unwrap();
        let d = s.transfer_stats() - before;
        let (y, z) = (io.output("y").unwrap(), io.output("z").unwrap());
        assert!(y.is_device() && z.is_device());
        assert_eq!(y.shape(), &[2, 3]);
        assert_eq!(y.to_host().unwrap(), x.reshape(&[2, 3]).unwrap());
        assert_eq!(z.to_host().unwrap(), want_z);
        if backend == Backend::Gpu {
            // The Reshape target comes to the host (16 bytes); x is copied into the arena for
            // the Add; z is copied out; y is x's own buffer, viewed as [2, 3].
            assert_eq!((d.uploads, d.downloads, d.download_bytes, d.device_copies), (0, 1, 16, 2), "{d:?}");
        } else {
            assert_eq!(d, Default::default());
        }
    }
}
