//! ONNX Runtime's com.microsoft DynamicQuantizeLSTM (`tests/data/contrib_qlstm/`, written by
//! `tools/gen_contrib_qlstm.py` with ORT 1.32's CPU outputs, one intra-op thread): every case
//! must pass on the CPU backend and on the GPU backend with CPU fallback disabled, within ORT's
//! own default tolerance for float outputs (its DynamicQuantizeLSTM tests use it):
//! |got − want| ≤ 1e-5 + 1e-4·|want|. Attribute values ORT rejects are typed load errors.

mod common;

use common::gpu_available;
use onnx_wgpu::onnx::builder::{Attr, ModelBuilder};
use onnx_wgpu::onnx::proto::OperatorSetIdProto;
use onnx_wgpu::testing::Tolerance;
use onnx_wgpu::{Backend, DType, Error, Session, Tensor};

/// ORT's default float tolerance (onnxruntime/test/providers/checkers.cc).
const ORT_FLOAT: Tolerance = Tolerance { rtol: 1e-4, atol: 1e-5 };

fn run_all(backend: Backend) {
    common::run_data_cases_within("contrib_qlstm", 13, backend, ORT_FLOAT);
}

#[test]
fn contrib_qlstm_cpu() {
    run_all(Backend::Cpu);
}

#[test]
fn contrib_qlstm_gpu_no_fallback() {
    if !gpu_available("contrib_qlstm_gpu_no_fallback") {
        return;
    }
    run_all(Backend::Gpu);
}

/// A one-step DynamicQuantizeLSTM (input 2, hidden 1) with int8 weights, zero point `zp` and
/// extra attributes `attrs`.
fn qlstm_model(zp: i8, attrs: &[(&str, Attr)]) -> Vec<u8> {
    let mut b = ModelBuilder::new(17);
    b.model.opset_import.push(OperatorSetIdProto { domain: Some("com.microsoft".into()), version: Some(1) });
    b.input("x", DType::F32, &[1, 1, 2]);
    b.initializer("w", Tensor::new(&[1, 2, 4], vec![3i8; 8]).unwrap());
    b.initializer("r", Tensor::new(&[1, 1, 4], vec![2i8; 4]).unwrap());
    b.initializer("ws", Tensor::new(&[1], vec![0.01f32]).unwrap());
    b.initializer("wz", Tensor::new(&[1], vec![zp]).unwrap());
    b.initializer("rs", Tensor::new(&[1], vec![0.02f32]).unwrap());
    b.initializer("rz", Tensor::new(&[1], vec![0i8]).unwrap());
    let mut a = vec![("hidden_size", Attr::Int(1))];
    a.extend(attrs.iter().cloned());
    let ins = ["x", "w", "r", "", "", "", "", "", "ws", "wz", "rs", "rz"];
    b.node_in("com.microsoft", "DynamicQuantizeLSTM", &ins, &["y"], &a);
    b.output("y", DType::F32, &[1, 1, 1, 1]);
    b.to_bytes()
}

#[test]
fn invalid_attributes_and_zero_points_are_typed_errors() {
    let ok = Session::builder().backend(Backend::Cpu).from_bytes(&qlstm_model(0, &[]));
    assert!(ok.is_ok(), "{:?}", ok.err());
    for attr in [("layout", Attr::Int(1)), ("direction", Attr::Str("sideways".into())), ("clip", Attr::Float(-1.0))] {
        let name = attr.0;
        let e = Session::builder().backend(Backend::Cpu).from_bytes(&qlstm_model(0, &[attr])).err();
        let e = e.unwrap_or_else(|| panic!("{name} must be rejected"));
        assert!(matches!(e, Error::Node { .. }), "{e}");
    }
    // An int8 weight zero point other than 0 is rejected when the node runs (as ORT does).
    let s = Session::builder().backend(Backend::Cpu).from_bytes(&qlstm_model(1, &[])).unwrap();
    let x = Tensor::new(&[1, 1, 2], vec![0.5f32, -0.25]).unwrap();
    let Err(e) = s.run(&[("x", x)]) else { panic!("a non-zero int8 zero point must fail") };
    assert!(e.to_string().contains("zero point"), "{e}");
}
