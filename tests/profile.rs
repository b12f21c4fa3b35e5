//! The profiler: a profiled run times every plan step (GPU timestamp queries, CPU wall clock),
//! names its node, op and kernel, and an unprofiled run leaves the last profile alone.

use onnx_wgpu::embedded::Rng;
use onnx_wgpu::onnx::builder::ModelBuilder;
use onnx_wgpu::{Backend, Clock, DType, Session, Tensor};

fn model() -> Vec<u8> {
    let mut b = ModelBuilder::new(13);
    b.input("a", DType::F32, &[4, 8]);
    b.initializer("w", Tensor::new(&[8, 6], Rng::new(2).vec(48, 1.0)).unwrap());
    b.initializer("c", Tensor::new(&[6], Rng::new(3).vec(6, 1.0)).unwrap());
    b.node("MatMul", &["a", "w"], &["m"], &[]);
    b.node("Add", &["m", "c"], &["s"], &[]);
    b.node("Relu", &["s"], &["y"], &[]);
    b.output("y", DType::F32, &[4, 6]);
    b.to_bytes()
}

fn check(be: Backend, clock: Clock) {
    // Unoptimized, so that the three nodes stay three steps (the optimizer fuses them).
    let s = Session::builder().backend(be).optimize(false).profile(true).from_bytes(&model()).unwrap();
    let a = Tensor::new(&[4, 8], Rng::new(1).vec(32, 1.0)).unwrap();
    assert!(s.last_profile().is_none());
    s.run(&[("a", a.clone())]).unwrap();
    let p = s.last_profile().expect("a profile");
    let dispatches = s.plan_report(&[vec![4, 8]]).unwrap().dispatches;
    assert_eq!(p.steps.len(), dispatches, "{p:?}");
    assert!(p.note.is_none(), "{:?}", p.note);
    let ops: Vec<&str> = p.steps.iter().map(|s| s.op_type.as_str()).collect();
    for op in ["MatMul", "Add", "Relu"] {
        assert!(ops.contains(&op), "{op} missing from {ops:?}");
    }
    assert!(p.steps.iter().all(|s| s.clock == clock && !s.kernel.is_empty() && !s.node.is_empty()));
    assert!(p.total_ns(clock) > 0 && p.wall_ns > 0);
    assert_eq!(p.steps.iter().map(|s| s.start_ns).min(), Some(0));
    // Off again: the next run records nothing new.
    s.set_profiling(false);
    s.run(&[("a", a)]).unwrap();
    assert_eq!(s.last_profile(), Some(p));
}

#[test]
fn cpu_steps_are_timed() {
    check(Backend::Cpu, Clock::Host);
}

#[test]
fn gpu_steps_are_timed() {
    if let Err(e) = onnx_wgpu::backend::wgpu::device::GpuContext::shared() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "no adapter under CI: {e}");
        eprintln!("skipped: {e}");
        return;
    }
    check(Backend::Gpu, Clock::Gpu);
}
