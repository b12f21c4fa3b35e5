//! Bad input gets a typed error naming the model part and the reason — never a panic.

use onnx_wgpu::onnx::builder::ModelBuilder;
use onnx_wgpu::{Backend, DType, Error, Session, Tensor};

fn relu_model() -> Vec<u8> {
    let mut b = ModelBuilder::new(13);
    b.input("x", DType::F32, &[2, 3]);
    b.node("Relu", &["x"], &["y"], &[]);
    b.output("y", DType::F32, &[2, 3]);
    b.to_bytes()
}

fn cpu(bytes: &[u8]) -> Result<Session, Error> {
    Session::builder().backend(Backend::Cpu).from_bytes(bytes)
}

#[test]
fn truncated_and_foreign_files_are_decode_errors() {
    let m = relu_model();
    for cut in [1, m.len() / 2, m.len() - 3] {
        let e = cpu(&m[..cut]).err().expect("truncated model must fail");
        assert!(matches!(e, Error::Decode(_) | Error::Model(_)), "{e}");
    }
    let e = cpu(b"this is not an onnx model, just text").err().unwrap();
    assert!(matches!(e, Error::Decode(_) | Error::Model(_)), "{e}");
    let e = cpu(&[]).err().unwrap();
    assert!(e.to_string().contains("no graph"), "{e}");
}

#[test]
fn cycle_is_reported_with_its_nodes() {
    let mut b = ModelBuilder::new(13);
    b.input("x", DType::F32, &[2]);
    b.node("Add", &["x", "c"], &["a"], &[]);
    b.node("Relu", &["a"], &["c"], &[]);
    b.output("a", DType::F32, &[2]);
    let e = cpu(&b.to_bytes()).err().unwrap();
    let s = e.to_string();
    assert!(matches!(e, Error::Model(_)) && s.contains("cycle") && s.contains("Add_a") && s.contains("Relu_c"), "{s}");
}

#[test]
fn undefined_value_and_duplicate_names() {
    let mut b = ModelBuilder::new(13);
    b.input("x", DType::F32, &[2]);
    b.node("Add", &["x", "ghost"], &["y"], &[]);
    b.output("y", DType::F32, &[2]);
    let s = cpu(&b.to_bytes()).err().unwrap().to_string();
    assert!(s.contains("Add_y") && s.contains("'ghost'"), "{s}");

    let mut b = ModelBuilder::new(13);
    b.input("x", DType::F32, &[2]);
    b.node("Relu", &["x"], &["y"], &[]);
    b.node("Neg", &["x"], &["y"], &[]);
    b.output("y", DType::F32, &[2]);
    let s = cpu(&b.to_bytes()).err().unwrap().to_string();
    assert!(s.contains("'y'") && s.contains("already defined"), "{s}");
}

#[test]
fn every_unsupported_op_is_listed_at_once() {
    let mut b = ModelBuilder::new(13);
    b.input("x", DType::F32, &[2]);
    b.node("FancyOp", &["x"], &["a"], &[]);
    b.node("FancyOp", &["a"], &["b"], &[]);
    b.node_in("com.example", "Mystery", &["b"], &["c"], &[]);
    b.output("c", DType::F32, &[2]);
    match cpu(&b.to_bytes()) {
        Err(Error::Unsupported(list)) => {
            assert_eq!(list.len(), 2, "{list:?}");
            let s = Error::Unsupported(list).to_string();
            assert!(
                s.contains("FancyOp") && s.contains("FancyOp_a") && s.contains("FancyOp_b") && s.contains("Mystery"),
                "{s}"
            );
        }
        other => panic!("expected Unsupported, got {other:?}", other = other.err()),
    }
}

#[test]
fn opset_and_shape_errors_name_the_node() {
    let mut b = ModelBuilder::new(999);
    b.input("x", DType::F32, &[2]);
    b.node("Relu", &["x"], &["y"], &[]);
    b.output("y", DType::F32, &[2]);
    let s = cpu(&b.to_bytes()).err().unwrap().to_string();
    assert!(s.contains("opset 999"), "{s}");

    let mut b = ModelBuilder::new(13);
    b.input("a", DType::F32, &[2, 3]);
    b.input("b", DType::F32, &[4, 5]);
    b.node("MatMul", &["a", "b"], &["y"], &[]);
    b.output("y", DType::F32, &[2, 5]);
    let s = cpu(&b.to_bytes()).err().unwrap().to_string();
    assert!(s.contains("MatMul_y") && s.contains("inner dims"), "{s}");
}

#[test]
fn bad_run_inputs_are_input_errors() {
    let s = cpu(&relu_model()).unwrap();
    let ok = Tensor::new(&[2, 3], vec![0f32; 6]).unwrap();
    let cases: Vec<(Vec<(&str, Tensor)>, &str)> = vec![
        (vec![], "missing"),
        (vec![("x", ok.clone()), ("extra", ok.clone())], "no such input"),
        (vec![("x", Tensor::new(&[2, 3], vec![0i64; 6]).unwrap())], "expected float, got int64"),
        (vec![("x", Tensor::new(&[6], vec![0f32; 6]).unwrap())], "rank"),
        (vec![("x", Tensor::new(&[2, 4], vec![0f32; 8]).unwrap())], "dim 1 must be 3"),
        (vec![("x", ok.clone()), ("x", ok.clone())], "twice"),
    ];
    for (inputs, want) in cases {
        match s.run(&inputs) {
            Err(e @ Error::Input { .. }) => assert!(e.to_string().contains(want), "{e} (wanted '{want}')"),
            other => panic!("expected an input error containing '{want}', got {:?}", other.map(|_| ())),
        }
    }
    assert!(s.run(&[("x", ok)]).is_ok());
}

#[test]
fn symbolic_dims_must_agree_across_inputs() {
    use onnx_wgpu::onnx::builder::DimSpec;
    let mut b = ModelBuilder::new(13);
    let dims = [DimSpec::Name("batch".into()), DimSpec::Size(2)];
    b.input_dims("a", DType::F32, &dims);
    b.input_dims("b", DType::F32, &dims);
    b.node("Add", &["a", "b"], &["y"], &[]);
    b.output_dims("y", DType::F32, &dims);
    let s = cpu(&b.to_bytes()).unwrap();
    let t = |n: usize| Tensor::new(&[n, 2], vec![1f32; 2 * n]).unwrap();
    let y = s.run(&[("a", t(3)), ("b", t(3))]).unwrap();
    assert_eq!(y[0].shape(), &[3, 2]);
    let y = s.run(&[("a", t(5)), ("b", t(5))]).unwrap();
    assert_eq!(y[0].shape(), &[5, 2]);
    let e = s.run(&[("a", t(3)), ("b", t(4))]).err().unwrap().to_string();
    assert!(e.contains("'batch'"), "{e}");
}

#[test]
fn cli_errors_are_one_line_and_nonzero() {
    let dir = std::env::temp_dir().join(format!("onnx_wgpu_cli_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.onnx");
    std::fs::write(&bad, b"definitely not protobuf \xff\xff\xff").unwrap();
    let bin = env!("CARGO_BIN_EXE_onnx-wgpu");
    for args in [
        vec!["run", bad.to_str().unwrap(), "--backend", "cpu"],
        vec!["info", "/nonexistent/model.onnx"],
        vec!["test", "/nonexistent"],
    ] {
        let out = std::process::Command::new(bin).args(&args).output().unwrap();
        let code = out.status.code().unwrap();
        assert!(code != 0 && code != 101, "{args:?}: exit {code}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: stderr was {err:?}");
        assert!(err.starts_with("error: "), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
