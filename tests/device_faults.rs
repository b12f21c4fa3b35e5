//! Device faults on the GPU backend: resources over the device's (or the session's) limits are
//! typed errors when the session is created, and a device lost during a session (here
//! destroyed with wgpu's `Device::destroy`) makes `run` return a typed error — no panic, no
//! hang — while a new session opens a new device and works. Everything runs in one test
//! function: the device is shared by the process, so losing it would fail tests running
//! beside it. A device error outside any error scope fails the next run. (Shader and pipeline
//! creation failures naming the kernel are checked by the unit test
//! `backend::wgpu::pipeline::tests`, which can feed invalid WGSL; a device error raised by a
//! run itself by `backend::wgpu::exec::tests`.)

mod common;

use onnx_wgpu::backend::wgpu::device::GpuContext;
use onnx_wgpu::onnx::builder::ModelBuilder;
use onnx_wgpu::{Backend, DType, Error, Session, Tensor};
use std::sync::Arc;

/// `y = Relu(MatMul(a, b))` on [n, n] f32 inputs.
fn matmul_model(n: usize) -> Vec<u8> {
    let mut b = ModelBuilder::new(13);
    b.input("a", DType::F32, &[n, n]);
    b.input("b", DType::F32, &[n, n]);
    b.node("MatMul", &["a", "b"], &["m"], &[]);
    b.node("Relu", &["m"], &["y"], &[]);
    b.output("y", DType::F32, &[n, n]);
    b.to_bytes()
}

fn inputs(n: usize) -> Vec<(&'static str, Tensor)> {
    let a = Tensor::new(&[n, n], (0..n * n).map(|i| (i % 7) as f32 - 3.0).collect()).unwrap();
    let b = Tensor::new(&[n, n], (0..n * n).map(|i| (i % 5) as f32 - 2.0).collect()).unwrap();
    vec![("a", a), ("b", b)]
}

#[test]
fn device_faults() {
    if !common::gpu_available("device_faults") {
        return;
    }
    let n = 64;
    let model = matmul_model(n);

    // Over the limits: 16 KiB tensors with bindings capped at 1 KiB and no CPU fallback, and a
    // session memory bound below the model's needs, fail at creation with typed errors.
    let e = Session::builder()
        .backend(Backend::Gpu)
        .cpu_fallback(false)
        .max_binding_bytes(1024)
        .from_bytes(&model)
        .err()
        .expect("a 16 KiB activation with 1 KiB bindings and no fallback");
    assert!(matches!(e, Error::Limit(_)) && e.to_string().contains("binding"), "{e:?}");
    let e = Session::builder()
        .backend(Backend::Gpu)
        .max_memory_bytes(8 * 1024)
        .from_bytes(&model)
        .err()
        .expect("a model over max_memory_bytes");
    assert!(matches!(e, Error::Limit(_)), "{e:?}");

    // An error the device reports outside any error scope (here a buffer over the device's
    // size limit, created directly on the shared device) fails the next run with a typed error
    // saying so, instead of passing unseen; the run after it works.
    let s = Session::builder().backend(Backend::Gpu).from_bytes(&model).unwrap();
    let want = s.run(&inputs(n)).unwrap()[0].as_slice::<f32>().unwrap().to_vec();
    let ctx = GpuContext::shared().unwrap();
    let too_big = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("over the size limit"),
        size: ctx.limits.max_buffer_size.saturating_add(4),
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    drop(too_big);
    let e = s.run(&inputs(n)).expect_err("a run after an uncaptured device error");
    let m = e.to_string();
    eprintln!("{m}");
    assert!(matches!(e, Error::Gpu(_)) && m.contains("outside any error scope"), "{m}");
    assert_eq!(s.run(&inputs(n)).unwrap()[0].as_slice::<f32>().unwrap(), &want[..]);

    // Device loss.
    let s = Session::builder().backend(Backend::Gpu).from_bytes(&model).unwrap();
    let want = s.run(&inputs(n)).unwrap()[0].as_slice::<f32>().unwrap().to_vec();
    let old = GpuContext::shared().unwrap();
    old.device.destroy();
    for attempt in 0..2 {
        let e = s.run(&inputs(n)).err().unwrap_or_else(|| panic!("run {attempt} on a destroyed device succeeded"));
        assert!(matches!(e, Error::Gpu(_)) && e.to_string().contains("device lost"), "run {attempt}: {e:?}");
    }
    assert!(old.is_lost());
    let s2 = Session::builder().backend(Backend::Gpu).from_bytes(&model).expect("a new session after the loss");
    let ctx = GpuContext::shared().unwrap();
    assert!(!ctx.is_lost() && !Arc::ptr_eq(&ctx, &old), "the shared device was not replaced");
    assert_eq!(s2.run(&inputs(n)).unwrap()[0].as_slice::<f32>().unwrap(), &want[..]);
    // The lost session keeps failing cleanly.
    assert!(s.run(&inputs(n)).is_err());
}
