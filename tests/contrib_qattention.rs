//! ONNX Runtime's quantized transformer contrib ops QAttention and QEmbedLayerNormalization
//! (`tests/data/contrib_qattention/`, written by `tools/gen_contrib_qattention.py` with ORT 1.32's
//! CPU outputs): every case must pass on the CPU backend and on the GPU backend with CPU
//! fallback disabled (float outputs within rtol 1e-3 / atol 1e-4, mask indices exactly).
//! Attribute combinations ORT's kernels do not run are typed load errors naming the node.

mod common;

use common::gpu_available;
use onnx_wgpu::onnx::builder::{Attr, ModelBuilder};
use onnx_wgpu::onnx::proto::OperatorSetIdProto;
use onnx_wgpu::{Backend, DType, Error, Session, Tensor};

fn run_all(backend: Backend) {
    common::run_data_cases("contrib_qattention", 20, backend);
}

#[test]
fn contrib_qattention_cpu() {
    run_all(Backend::Cpu);
}

#[test]
fn contrib_qattention_gpu_no_fallback() {
    if !gpu_available("contrib_qattention_gpu_no_fallback") {
        return;
    }
    run_all(Backend::Gpu);
}

/// A QAttention model with extra attributes `attrs`.
fn qattention_model(attrs: &[(&str, Attr)]) -> Vec<u8> {
    let mut b = ModelBuilder::new(17);
    b.model.opset_import.push(OperatorSetIdProto { domain: Some("com.microsoft".into()), version: Some(1) });
    b.input("x", DType::U8, &[1, 2, 4]);
    b.initializer("w", Tensor::new(&[4, 12], vec![3u8; 48]).unwrap());
    b.initializer("bias", Tensor::new(&[12], vec![0f32; 12]).unwrap());
    b.initializer("sx", Tensor::new(&[], vec![0.1f32]).unwrap());
    b.initializer("sw", Tensor::new(&[], vec![0.1f32]).unwrap());
    let mut a = vec![("num_heads", Attr::Int(2))];
    a.extend(attrs.iter().cloned());
    b.node_in("com.microsoft", "QAttention", &["x", "w", "bias", "sx", "sw"], &["y"], &a);
    b.output("y", DType::F32, &[1, 2, 4]);
    b.to_bytes()
}

#[test]
fn unsupported_attributes_are_typed_errors_naming_the_node() {
    let ok = Session::builder().backend(Backend::Cpu).from_bytes(&qattention_model(&[]));
    assert!(ok.is_ok(), "{:?}", ok.err());
    for attr in [("do_rotary", Attr::Int(1)), ("past_present_share_buffer", Attr::Int(1))] {
        let name = attr.0;
        let e = Session::builder().backend(Backend::Cpu).from_bytes(&qattention_model(&[attr])).err();
        let e = e.unwrap_or_else(|| panic!("{name} must be rejected"));
        let s = e.to_string();
        assert!(matches!(e, Error::Node { .. }), "{s}");
        assert!(s.contains("QAttention_y") && s.contains(name), "{s}");
    }
}
