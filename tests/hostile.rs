//! Hostile models: files written to crash, hang, exhaust memory or escape the model folder.
//! Every case must end in a typed error that names the node (where there is one) and the
//! reason — never a panic, an abort or an unbounded allocation. `tests/errors.rs` holds the
//! plain malformed-model cases (truncation, cycles, undefined and duplicate names, unsupported
//! ops, opset 999); this file adds the adversarial ones, built with the project's own
//! `ModelBuilder` or, where the builder cannot express the corruption, raw prost messages.
//! Reproducers found by fuzzing (`fuzz/`) are kept at the end.

use onnx_wgpu::onnx::builder::{Attr, DimSpec, ModelBuilder};
use onnx_wgpu::onnx::proto::{
    attribute_proto::AttributeType, tensor_proto::DataLocation, AttributeProto, GraphProto, NodeProto,
    StringStringEntryProto, TensorProto,
};
use onnx_wgpu::{Backend, DType, Error, Session, Tensor};
use prost::Message;

fn cpu(bytes: &[u8]) -> Result<Session, Error> {
    Session::builder().backend(Backend::Cpu).from_bytes(bytes)
}

/// Loads `bytes` on the CPU and returns the error message; the load must fail.
fn load_err(bytes: &[u8]) -> (Error, String) {
    match cpu(bytes) {
        Ok(_) => panic!("the hostile model loaded"),
        Err(e) => {
            let s = e.to_string();
            (e, s)
        }
    }
}

fn relu_model() -> ModelBuilder {
    let mut b = ModelBuilder::new(13);
    b.input("x", DType::F32, &[2, 3]);
    b.node("Relu", &["x"], &["y"], &[]);
    b.output("y", DType::F32, &[2, 3]);
    b
}

// ---- protobuf-level corruption ----------------------------------------------------------------

#[test]
fn wrong_wire_types_are_decode_errors() {
    // Field 7 (graph) sent as a varint, field 1 (ir_version) as a length-delimited blob, and a
    // length prefix that claims more bytes than follow.
    for bytes in [&[0x38u8, 0x01][..], &[0x0a, 0x02, 0x01, 0x02][..], &[0x3a, 0xff, 0xff, 0xff, 0x0f, 0x00][..]] {
        let (e, s) = load_err(bytes);
        assert!(matches!(e, Error::Decode(_)), "{s}");
    }
    // A valid model whose graph's node list is re-tagged as a fixed64 field.
    let mut m = relu_model().to_bytes();
    let pos = m.iter().position(|&b| b == 0x3a).expect("graph tag");
    m[pos] = 0x39;
    let (e, s) = load_err(&m);
    assert!(matches!(e, Error::Decode(_) | Error::Model(_)), "{s}");
}

#[test]
fn every_truncation_of_a_model_fails_cleanly() {
    let mut b = relu_model();
    b.initializer("w", Tensor::new(&[2, 3], vec![1f32; 6]).unwrap());
    b.node("Add", &["y", "w"], &["z"], &[]);
    b.output("z", DType::F32, &[2, 3]);
    let m = b.to_bytes();
    for cut in 0..m.len() {
        // Some prefixes are themselves valid models (protobuf has no end marker); they must
        // load or fail, never panic.
        let _ = cpu(&m[..cut]);
    }
}

#[test]
fn self_loop_is_a_cycle() {
    let mut b = ModelBuilder::new(13);
    b.input("x", DType::F32, &[2]);
    b.node("Add", &["x", "a"], &["a"], &[]);
    b.output("a", DType::F32, &[2]);
    let (e, s) = load_err(&b.to_bytes());
    assert!(matches!(e, Error::Model(_)) && s.contains("cycle") && s.contains("Add_a"), "{s}");
}

#[test]
fn duplicate_graph_outputs_and_node_outputs() {
    let mut b = relu_model();
    b.output("y", DType::F32, &[2, 3]);
    let (_, s) = load_err(&b.to_bytes());
    assert!(s.contains("'y'") && s.contains("listed twice"), "{s}");

    let mut b = ModelBuilder::new(13);
    b.input("x", DType::F32, &[4]);
    b.node("Split", &["x"], &["a", "a"], &[("axis", 0i64.into())]);
    b.output("a", DType::F32, &[2]);
    let (_, s) = load_err(&b.to_bytes());
    assert!(s.contains("'a'") && s.contains("already defined"), "{s}");
}

#[test]
fn output_nobody_produces() {
    let mut b = relu_model();
    b.output("phantom", DType::F32, &[2, 3]);
    let (_, s) = load_err(&b.to_bytes());
    assert!(s.contains("'phantom'") && s.contains("not produced"), "{s}");
}

// ---- sizes ----------------------------------------------------------------------------------

/// A graph input of 2^40 f32 elements: 4 TiB of activations.
#[test]
fn huge_input_shape_is_refused_at_load() {
    let mut b = ModelBuilder::new(13);
    b.input("x", DType::F32, &[1 << 20, 1 << 20]);
    b.node("Relu", &["x"], &["y"], &[]);
    b.output("y", DType::F32, &[1 << 20, 1 << 20]);
    let (e, s) = load_err(&b.to_bytes());
    assert!(matches!(e, Error::Limit(_)) && s.contains("'x'") && s.contains("max_memory_bytes"), "{s}");
}

/// ConstantOfShape of a constant 2^40-element shape: folding it would allocate 4 TiB.
#[test]
fn huge_folded_constant_is_refused() {
    let mut b = ModelBuilder::new(13);
    b.input("x", DType::F32, &[1]);
    b.initializer("shape", Tensor::new(&[2], vec![1i64 << 20, 1 << 20]).unwrap());
    b.node("ConstantOfShape", &["shape"], &["big"], &[]);
    b.node("Add", &["x", "big"], &["y"], &[]);
    b.output("y", DType::F32, &[1 << 20, 1 << 20]);
    let (e, s) = load_err(&b.to_bytes());
    assert!(matches!(e, Error::Limit(_)) && s.contains("ConstantOfShape_big"), "{s}");
}

/// Expand to a run-time shape: the shape is only known when the run reads it back.
#[test]
fn huge_run_time_shape_is_refused() {
    let mut b = ModelBuilder::new(13);
    b.input("x", DType::F32, &[1]);
    b.input("shape", DType::I64, &[2]);
    b.node("Expand", &["x", "shape"], &["y"], &[]);
    b.output_dims("y", DType::F32, &[DimSpec::Name("a".into()), DimSpec::Name("b".into())]);
    let s = cpu(&b.to_bytes()).unwrap();
    let x = Tensor::new(&[1], vec![1f32]).unwrap();
    let shape = Tensor::new(&[2], vec![1i64 << 20, 1 << 20]).unwrap();
    let e = s.run(&[("x", x.clone()), ("shape", shape)]).expect_err("4 TiB Expand ran");
    let m = e.to_string();
    assert!(matches!(e, Error::Limit(_)) && m.contains("Expand_y"), "{m}");
    let small = Tensor::new(&[2], vec![2i64, 3]).unwrap();
    assert_eq!(s.run(&[("x", x), ("shape", small)]).unwrap()[0].shape(), &[2, 3]);
}

#[test]
fn max_memory_bytes_is_configurable() {
    let mut b = ModelBuilder::new(13);
    b.input("x", DType::F32, &[256, 256]);
    b.initializer("w", Tensor::new(&[256, 256], vec![0.5f32; 65536]).unwrap());
    b.node("MatMul", &["x", "w"], &["y"], &[]);
    b.output("y", DType::F32, &[256, 256]);
    let m = b.to_bytes();
    // 256 KiB of weights: refused under a 64 KiB budget, accepted under 16 MiB.
    let e = Session::builder().backend(Backend::Cpu).max_memory_bytes(64 << 10).from_bytes(&m).err().unwrap();
    let s = e.to_string();
    assert!(matches!(e, Error::Limit(_)) && s.contains("'w'") && s.contains("max_memory_bytes"), "{s}");
    assert!(Session::builder().backend(Backend::Cpu).max_memory_bytes(16 << 20).from_bytes(&m).is_ok());
    // Activations: 256 KiB weights + 256 KiB input + 256 KiB output fit 1 MiB, not 600 KiB.
    let e = Session::builder().backend(Backend::Cpu).max_memory_bytes(600 << 10).from_bytes(&m).err().unwrap();
    assert!(matches!(e, Error::Limit(_)), "{e}");
}

fn raw_initializer(name: &str, dims: &[i64], f: impl FnOnce(&mut TensorProto)) -> TensorProto {
    let mut t = TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(DType::F32.onnx_code()),
        ..Default::default()
    };
    f(&mut t);
    t
}

fn with_initializer(t: TensorProto) -> Vec<u8> {
    let mut b = ModelBuilder::new(13);
    b.input("x", DType::F32, &[4]);
    b.graph().initializer.push(t);
    b.node("Add", &["x", "w"], &["y"], &[]);
    b.output("y", DType::F32, &[4]);
    b.to_bytes()
}

#[test]
fn initializer_size_disagrees_with_data() {
    let cases: Vec<(TensorProto, &str)> = vec![
        (raw_initializer("w", &[4], |t| t.raw_data = Some(vec![0; 8])), "8"),
        (raw_initializer("w", &[4], |t| t.float_data = vec![1.0; 3]), "3"),
        (raw_initializer("w", &[1 << 40], |t| t.raw_data = Some(vec![0; 16])), "w"),
        (raw_initializer("w", &[-4], |t| t.raw_data = Some(vec![0; 16])), "negative"),
        (raw_initializer("w", &[i64::MAX, i64::MAX], |t| t.raw_data = Some(vec![0; 16])), "overflow"),
        (raw_initializer("w", &[4], |t| t.data_type = Some(12345)), "data_type"),
    ];
    for (t, want) in cases {
        let (e, s) = load_err(&with_initializer(t));
        assert!(matches!(e, Error::Tensor { .. } | Error::Limit(_)) && s.contains("'w'") && s.contains(want), "{s}");
    }
}

#[test]
fn negative_and_absurd_declared_dims() {
    let mut b = ModelBuilder::new(13);
    b.input_dims("x", DType::F32, &[DimSpec::Size(-3)]);
    b.node("Relu", &["x"], &["y"], &[]);
    b.output("y", DType::F32, &[3]);
    let (_, s) = load_err(&b.to_bytes());
    assert!(s.contains("'x'") && s.contains("negative"), "{s}");

    // -1 is an exporter's (Paddle2ONNX's) way of writing a dynamic dim, as ORT reads it.
    let mut b = ModelBuilder::new(13);
    b.input_dims("x", DType::F32, &[DimSpec::Size(-1), DimSpec::Size(3)]);
    b.node("Relu", &["x"], &["y"], &[]);
    b.output("y", DType::F32, &[2, 3]);
    let s = Session::builder().backend(Backend::Cpu).from_bytes(&b.to_bytes()).unwrap();
    let y = s.run(&[("x", Tensor::new(&[2, 3], vec![-1.0f32, 2.0, -3.0, 4.0, -5.0, 6.0]).unwrap())]).unwrap();
    assert_eq!(y[0].as_slice::<f32>().unwrap(), &[0.0, 2.0, 0.0, 4.0, 0.0, 6.0]);

    let mut b = ModelBuilder::new(13);
    b.input_dims("x", DType::F32, &[DimSpec::Size(i64::MAX), DimSpec::Size(i64::MAX)]);
    b.node("Relu", &["x"], &["y"], &[]);
    b.output("y", DType::F32, &[1]);
    let (e, s) = load_err(&b.to_bytes());
    assert!(matches!(e, Error::Limit(_) | Error::Model(_)), "{s}");

    // Reshape to a negative size other than -1.
    let mut b = ModelBuilder::new(13);
    b.input("x", DType::F32, &[6]);
    b.initializer("s", Tensor::new(&[2], vec![-2i64, -3]).unwrap());
    b.node("Reshape", &["x", "s"], &["y"], &[]);
    b.output("y", DType::F32, &[2, 3]);
    let (_, s) = load_err(&b.to_bytes());
    assert!(s.contains("Reshape_y"), "{s}");
}

// ---- external data --------------------------------------------------------------------------

#[test]
fn external_data_cannot_leave_the_model_folder() {
    let root = std::env::temp_dir().join(format!("onnx_wgpu_hostile_{}", std::process::id()));
    let dir = root.join("model");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(root.join("secret.bin"), [0u8; 16]).unwrap();
    std::fs::write(dir.join("ok.bin"), [0u8; 16]).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(root.join("secret.bin"), dir.join("link.bin")).unwrap();
    let ext = |loc: &str| {
        raw_initializer("w", &[4], |t| {
            t.data_location = Some(DataLocation::External as i32);
            t.external_data = vec![StringStringEntryProto { key: Some("location".into()), value: Some(loc.into()) }];
        })
    };
    let path = dir.join("m.onnx");
    let mut cases = vec![
        ("/etc/passwd", "absolute"),
        ("../../etc/passwd", "escapes"),
        ("../secret.bin", "escapes"),
        ("sub/../../secret.bin", "escapes"),
        ("missing.bin", "missing.bin"),
    ];
    if cfg!(unix) {
        cases.push(("link.bin", "outside"));
    }
    for (loc, want) in cases {
        std::fs::write(&path, with_initializer(ext(loc))).unwrap();
        let e = Session::builder().backend(Backend::Cpu).from_file(&path).err().expect(loc);
        let s = e.to_string();
        assert!(matches!(e, Error::Tensor { .. }) && s.contains("'w'") && s.contains(want), "{loc}: {s}");
    }
    std::fs::write(&path, with_initializer(ext("ok.bin"))).unwrap();
    Session::builder().backend(Backend::Cpu).from_file(&path).unwrap();
    // From bytes there is no folder: external data is refused.
    let e = cpu(&with_initializer(ext("ok.bin"))).err().unwrap();
    assert!(e.to_string().contains("folder"), "{e}");
    std::fs::remove_dir_all(&root).ok();
}

// ---- nesting --------------------------------------------------------------------------------

/// Wraps `inner` (an encoded GraphProto) as the `then_branch`/`else_branch` of an If node of a
/// new graph, without recursion (so that the test itself cannot overflow the stack).
fn nest_if(depth: usize) -> Vec<u8> {
    let leaf = GraphProto {
        name: Some("leaf".into()),
        node: vec![NodeProto {
            op_type: Some("Identity".into()),
            input: vec!["c".into()],
            output: vec!["o0".into()],
            ..Default::default()
        }],
        output: vec![onnx_wgpu::onnx::proto::ValueInfoProto { name: Some("o0".into()), ..Default::default() }],
        ..Default::default()
    };
    let leaf_bytes = leaf.encode_to_vec();
    use prost::encoding::{encode_key, encode_varint, WireType::LengthDelimited};
    let field = |out: &mut Vec<u8>, tag: u32, len: usize| {
        encode_key(tag, LengthDelimited, out);
        encode_varint(len as u64, out);
    };
    let attr = |name: &str| {
        AttributeProto { name: Some(name.into()), r#type: Some(AttributeType::Graph as i32), ..Default::default() }
            .encode_to_vec()
    };
    // Level k's graph is `before[k] + graph(k-1) + after[k]`: collect the pieces inside-out
    // (lengths only), then concatenate once, so that building 10,000 levels stays linear.
    let mut else_attr = attr("else_branch");
    field(&mut else_attr, 6, leaf_bytes.len());
    else_attr.extend_from_slice(&leaf_bytes);
    let mut after = Vec::new();
    field(&mut after, 5, else_attr.len());
    after.extend_from_slice(&else_attr);
    let mut befores: Vec<Vec<u8>> = Vec::with_capacity(depth);
    let mut inner_len = leaf_bytes.len();
    for level in 1..=depth {
        let node = NodeProto {
            name: Some(format!("if{level}")),
            op_type: Some("If".into()),
            input: vec!["c".into()],
            output: vec![format!("o{level}")],
            ..Default::default()
        }
        .encode_to_vec();
        let mut then_head = attr("then_branch");
        field(&mut then_head, 6, inner_len);
        let then_len = then_head.len() + inner_len;
        let mut node_head = node;
        field(&mut node_head, 5, then_len);
        let node_len = node_head.len() + then_len + after.len();
        let mut before = GraphProto {
            name: Some(format!("g{level}")),
            output: vec![onnx_wgpu::onnx::proto::ValueInfoProto {
                name: Some(format!("o{level}")),
                ..Default::default()
            }],
            ..Default::default()
        }
        .encode_to_vec();
        field(&mut before, 1, node_len);
        before.extend_from_slice(&node_head);
        before.extend_from_slice(&then_head);
        inner_len = before.len() + inner_len + after.len();
        befores.push(before);
    }
    let mut g = Vec::with_capacity(inner_len);
    for b in befores.iter().rev() {
        g.extend_from_slice(b);
    }
    g.extend_from_slice(&leaf_bytes);
    for _ in 0..depth {
        g.extend_from_slice(&after);
    }
    assert_eq!(g.len(), inner_len);
    // The model: opset 13 and the nested graph as field 7, with a bool input "c".
    let mut b = ModelBuilder::new(13);
    b.input("c", DType::Bool, &[]);
    let mut m = b.to_bytes();
    // Drop the builder's graph and splice ours in, then append the input declaration.
    let mut model = onnx_wgpu::onnx::proto::ModelProto::decode(&m[..]).unwrap();
    let input = model.graph.take().unwrap().input;
    m = model.encode_to_vec();
    let mut graph = g;
    for vi in input {
        let v = vi.encode_to_vec();
        prost::encoding::encode_key(11, prost::encoding::WireType::LengthDelimited, &mut graph);
        prost::encoding::encode_varint(v.len() as u64, &mut graph);
        graph.extend_from_slice(&v);
    }
    prost::encoding::encode_key(7, prost::encoding::WireType::LengthDelimited, &mut m);
    prost::encoding::encode_varint(graph.len() as u64, &mut m);
    m.extend_from_slice(&graph);
    m
}

#[test]
fn deeply_nested_subgraphs_are_refused_without_stack_overflow() {
    // Shallow nesting loads (the depth limit is not hit by ordinary models).
    let ok = nest_if(3);
    cpu(&ok).unwrap_or_else(|e| panic!("3 nested Ifs: {e}"));
    for depth in [40, 200, 10_000] {
        let m = nest_if(depth);
        // Run on a small stack: the loader must not recurse without bound.
        let h = std::thread::Builder::new().stack_size(1 << 20).spawn(move || cpu(&m).err().map(|e| e.to_string()));
        let s = h.unwrap().join().expect("loading nested subgraphs panicked").expect("deep nesting loaded");
        assert!(s.contains("nest") || s.contains("recursion"), "depth {depth}: {s}");
    }
}

// ---- attributes, opsets, domains --------------------------------------------------------------

#[test]
fn attribute_of_the_wrong_type() {
    type Case<'a> = (&'a str, &'a [&'a str], Vec<(&'a str, Attr)>, &'a str);
    let cases: Vec<Case> = vec![
        ("Transpose", &["x"], vec![("perm", Attr::Float(1.0))], "perm"),
        ("Softmax", &["x"], vec![("axis", Attr::Str("one".into()))], "axis"),
        ("LeakyRelu", &["x"], vec![("alpha", Attr::Ints(vec![1, 2]))], "alpha"),
        ("Transpose", &["x"], vec![("perm", Attr::Ints(vec![0, 0]))], "perm"),
    ];
    for (op, ins, attrs, want) in cases {
        let mut b = ModelBuilder::new(13);
        b.input("x", DType::F32, &[2, 3]);
        b.node(op, ins, &["y"], &attrs);
        b.output("y", DType::F32, &[3, 2]);
        let (e, s) = load_err(&b.to_bytes());
        assert!(matches!(e, Error::Node { .. }) && s.contains(&format!("{op}_y")) && s.contains(want), "{s}");
    }
    // An attribute whose declared type disagrees with the field that carries it.
    let mut b = relu_model();
    b.graph().node[0].attribute.push(AttributeProto {
        name: Some("alpha".into()),
        r#type: Some(AttributeType::Tensor as i32),
        f: Some(1.0),
        ..Default::default()
    });
    b.graph().node[0].op_type = Some("LeakyRelu".into());
    let (_, s) = load_err(&b.to_bytes());
    assert!(s.contains("Relu_y") && s.contains("alpha"), "{s}");
}

#[test]
fn opset_and_domain_mismatches() {
    for v in [0i64, -1, 999, i64::MAX] {
        let mut b = relu_model();
        b.model.opset_import[0].version = Some(v);
        let (_, s) = load_err(&b.to_bytes());
        assert!(s.contains(&format!("opset {v}")), "{s}");
    }
    let mut b = relu_model();
    b.model
        .opset_import
        .push(onnx_wgpu::onnx::proto::OperatorSetIdProto { domain: Some("com.evil".into()), version: Some(1) });
    b.graph().node[0].domain = Some("com.evil".into());
    match cpu(&b.to_bytes()) {
        Err(e @ Error::Unsupported(_)) => {
            let s = e.to_string();
            assert!(s.contains("com.evil") && s.contains("Relu_y"), "{s}");
        }
        other => panic!("expected Unsupported, got {:?}", other.err()),
    }
}

// ---- run-time input -------------------------------------------------------------------------

fn gather_model(op: &str, data: &[usize], idx: &[usize], out: &[usize]) -> Vec<u8> {
    let mut b = ModelBuilder::new(13);
    b.input("data", DType::F32, data);
    b.input("idx", DType::I64, idx);
    b.node(op, &["data", "idx"], &["y"], &[("axis", 0i64.into())]);
    b.output("y", DType::F32, out);
    b.to_bytes()
}

fn scatter_nd_model() -> Vec<u8> {
    let mut b = ModelBuilder::new(13);
    b.input("data", DType::F32, &[4]);
    b.input("idx", DType::I64, &[1, 1]);
    b.input("upd", DType::F32, &[1]);
    b.node("ScatterND", &["data", "idx", "upd"], &["y"], &[]);
    b.output("y", DType::F32, &[4]);
    b.to_bytes()
}

/// Out-of-range indices supplied by the caller: an error naming the node on both backends
/// (the GPU checks index tensors that are known on the host before they are uploaded).
pub fn out_of_range_indices_on(backend: Backend) {
    let data = Tensor::new(&[4], vec![1f32, 2., 3., 4.]).unwrap();
    for (op, bad) in [("Gather", 4i64), ("Gather", -5), ("GatherElements", 7), ("GatherElements", i64::MIN)] {
        let s = Session::builder().backend(backend).from_bytes(&gather_model(op, &[4], &[2], &[2])).unwrap();
        let ok = Tensor::new(&[2], vec![0i64, -1]).unwrap();
        let y = s.run(&[("data", data.clone()), ("idx", ok)]).unwrap();
        assert_eq!(y[0].as_slice::<f32>().unwrap(), &[1., 4.]);
        let idx = Tensor::new(&[2], vec![1i64, bad]).unwrap();
        let e = s.run(&[("data", data.clone()), ("idx", idx)]).err().unwrap_or_else(|| panic!("{op} index {bad}"));
        let m = e.to_string();
        assert!(m.contains(&format!("{op}_y")) && m.contains("out of range"), "{backend:?} {op} {bad}: {m}");
    }
    let s = Session::builder().backend(backend).from_bytes(&scatter_nd_model()).unwrap();
    let upd = Tensor::new(&[1], vec![9f32]).unwrap();
    let idx = Tensor::new(&[1, 1], vec![2i64]).unwrap();
    let y = s.run(&[("data", data.clone()), ("idx", idx), ("upd", upd.clone())]).unwrap();
    assert_eq!(y[0].as_slice::<f32>().unwrap(), &[1., 2., 9., 4.]);
    let idx = Tensor::new(&[1, 1], vec![4i64]).unwrap();
    let e = s.run(&[("data", data), ("idx", idx), ("upd", upd)]).expect_err("ScatterND index 4");
    assert!(e.to_string().contains("ScatterND_y") && e.to_string().contains("out of range"), "{e}");
}

#[test]
fn out_of_range_indices_cpu() {
    out_of_range_indices_on(Backend::Cpu);
}

mod common;

#[test]
fn out_of_range_indices_gpu() {
    if common::gpu_available("out_of_range_indices_gpu") {
        out_of_range_indices_on(Backend::Gpu);
    }
}

/// `op(data, Add(idx, shift)[, upd])`: indices computed by the backend from caller inputs.
fn computed_index_model(op: &str, data: &[usize], idx: &[usize], out: &[usize], axis: Option<i64>) -> Vec<u8> {
    let mut b = ModelBuilder::new(16);
    b.input("data", DType::F32, data);
    b.input("idx", DType::I64, idx);
    b.input("shift", DType::I64, &[1]);
    b.node("Add", &["idx", "shift"], &["i"], &[]);
    let scatter = op.starts_with("Scatter");
    if scatter {
        b.input("upd", DType::F32, if op == "ScatterND" { &idx[..idx.len() - 1] } else { idx });
    }
    let ins: &[&str] = if scatter { &["data", "i", "upd"] } else { &["data", "i"] };
    let attrs: Vec<(&str, Attr)> = axis.map(|a| ("axis", a.into())).into_iter().collect();
    b.node(op, ins, &["y"], &attrs);
    b.output("y", DType::F32, out);
    b.to_bytes()
}

/// Out-of-range indices computed by the model itself (on the GPU: by a kernel, so the host
/// never sees them before the gather) are errors naming the node and the index; in-range ones
/// give the normal results, and the session keeps working after the error.
pub fn computed_out_of_range_indices_on(backend: Backend) {
    let t = |shape: &[usize], v: Vec<f32>| Tensor::new(shape, v).unwrap();
    let i = |shape: &[usize], v: Vec<i64>| Tensor::new(shape, v).unwrap();
    // (op, data shape, idx shape, out shape, axis, idx, good result, shift out of range, bad index)
    #[allow(clippy::type_complexity)]
    let cases: Vec<(&str, Vec<usize>, Vec<usize>, Vec<usize>, Option<i64>, Vec<i64>, Vec<f32>, i64, i64)> = vec![
        ("Gather", vec![4], vec![2], vec![2], Some(0), vec![0, 3], vec![1., 4.], 2, 5),
        ("Gather", vec![4], vec![2], vec![2], Some(0), vec![0, 3], vec![1., 4.], -5, -5),
        ("GatherElements", vec![2, 2], vec![2, 2], vec![2, 2], Some(1), vec![1, 0, 0, 1], vec![2., 1., 3., 4.], 1, 2),
        ("GatherND", vec![2, 2], vec![2, 1], vec![2, 2], None, vec![1, 0], vec![3., 4., 1., 2.], 1, 2),
        ("ScatterElements", vec![4], vec![2], vec![4], Some(0), vec![3, 0], vec![8., 2., 3., 9.], 1, 4),
        ("ScatterND", vec![4], vec![1, 1], vec![4], None, vec![2], vec![1., 2., 9., 4.], 2, 4),
    ];
    for (op, ds, is, os, axis, idx, good, bad_shift, bad) in cases {
        let n: usize = ds.iter().product();
        let data = t(&ds, (1..=n).map(|v| v as f32).collect());
        let s = Session::builder().backend(backend).from_bytes(&computed_index_model(op, &ds, &is, &os, axis)).unwrap();
        let run = |shift: i64| {
            let mut ins = vec![("data", data.clone()), ("idx", i(&is, idx.clone())), ("shift", i(&[1], vec![shift]))];
            if op.starts_with("Scatter") {
                ins.push(("upd", if op == "ScatterND" { t(&[1], vec![9.]) } else { t(&is, vec![9., 8.]) }));
            }
            s.run(&ins)
        };
        for round in 0..2 {
            let y = run(0).unwrap_or_else(|e| panic!("{backend:?} {op} round {round}: {e}"));
            assert_eq!(y[0].as_slice::<f32>().unwrap(), &good[..], "{backend:?} {op} round {round}");
            let e = run(bad_shift).err().unwrap_or_else(|| panic!("{backend:?} {op}: shift {bad_shift} passed"));
            let m = e.to_string();
            assert!(matches!(e, Error::Node { .. }), "{backend:?} {op}: {m}");
            assert!(
                m.contains(&format!("{op}_y")) && m.contains("out of range") && m.contains(&bad.to_string()),
                "{backend:?} {op} shift {bad_shift}: {m}"
            );
            if backend == Backend::Gpu {
                assert!(m.contains("computed on the device"), "{op}: not reported by the kernel: {m}");
            }
        }
    }
}

/// ArgMax → Gather with int32 indices through a Cast: the classic device-computed index.
pub fn argmax_gather_on(backend: Backend) {
    let mut b = ModelBuilder::new(13);
    b.input("scores", DType::F32, &[1, 6]);
    b.input("table", DType::F32, &[4, 2]);
    b.node("ArgMax", &["scores"], &["am"], &[("axis", 1i64.into()), ("keepdims", 0i64.into())]);
    b.node("Cast", &["am"], &["am32"], &[("to", 6i64.into())]);
    b.node("Gather", &["table", "am32"], &["row"], &[("axis", 0i64.into())]);
    b.output("row", DType::F32, &[1, 2]);
    let s = Session::builder().backend(backend).from_bytes(&b.to_bytes()).unwrap();
    let table = Tensor::new(&[4, 2], (0..8).map(|v| v as f32).collect()).unwrap();
    let scores = |at: usize| Tensor::new(&[1, 6], (0..6).map(|k| if k == at { 1f32 } else { 0. }).collect()).unwrap();
    let y = s.run(&[("scores", scores(2)), ("table", table.clone())]).unwrap();
    assert_eq!(y[0].as_slice::<f32>().unwrap(), &[4., 5.]);
    let e = s.run(&[("scores", scores(5)), ("table", table.clone())]).expect_err("ArgMax 5 of 4 rows");
    assert!(e.to_string().contains("Gather_row") && e.to_string().contains("index 5"), "{backend:?}: {e}");
    let y = s.run(&[("scores", scores(3)), ("table", table)]).unwrap();
    assert_eq!(y[0].as_slice::<f32>().unwrap(), &[6., 7.]);
}

/// TensorScatter's write indices (a KV-cache position, here a caller input the GPU does not
/// check on the host) past the cache are errors naming the node; in-range ones write.
pub fn tensor_scatter_write_indices_on(backend: Backend) {
    let mut b = ModelBuilder::new(24);
    b.input("cache", DType::F32, &[1, 4, 2]);
    b.input("upd", DType::F32, &[1, 1, 2]);
    b.input("w", DType::I64, &[1]);
    b.node("TensorScatter", &["cache", "upd", "w"], &["y"], &[]);
    b.output("y", DType::F32, &[1, 4, 2]);
    let s = Session::builder().backend(backend).from_bytes(&b.to_bytes()).unwrap();
    let run = |w: i64| {
        let cache = Tensor::new(&[1, 4, 2], vec![0f32; 8]).unwrap();
        let upd = Tensor::new(&[1, 1, 2], vec![5f32, 6.]).unwrap();
        s.run(&[("cache", cache), ("upd", upd), ("w", Tensor::new(&[1], vec![w]).unwrap())])
    };
    for w in [4i64, -1] {
        let e = run(w).err().unwrap_or_else(|| panic!("{backend:?}: write index {w} passed"));
        assert!(matches!(e, Error::Node { .. }) && e.to_string().contains("TensorScatter_y"), "{backend:?}: {e}");
        let y = run(3).unwrap();
        assert_eq!(y[0].as_slice::<f32>().unwrap(), &[0., 0., 0., 0., 0., 0., 5., 6.]);
    }
}

/// The index error of a run whose outputs stay on the device (no read-back of outputs).
fn computed_index_error_with_device_outputs() {
    let model = computed_index_model("Gather", &[4], &[2], &[2], Some(0));
    let s = Session::builder().backend(Backend::Gpu).from_bytes(&model).unwrap();
    for (shift, ok) in [(0i64, true), (2, false), (0, true)] {
        let mut io = onnx_wgpu::IoBinding::new();
        io.bind_input("data", Tensor::new(&[4], vec![1f32, 2., 3., 4.]).unwrap())
            .bind_input("idx", Tensor::new(&[2], vec![0i64, 3]).unwrap())
            .bind_input("shift", Tensor::new(&[1], vec![shift]).unwrap());
        io.bind_output_to_device("y");
        let r = s.run_binding(&mut io);
        assert_eq!(r.is_ok(), ok, "shift {shift}: {r:?}");
        if let Err(e) = r {
            assert!(e.to_string().contains("Gather_y") && e.to_string().contains("index 5"), "{e}");
        }
    }
}

#[test]
fn computed_out_of_range_indices_cpu() {
    computed_out_of_range_indices_on(Backend::Cpu);
    argmax_gather_on(Backend::Cpu);
    tensor_scatter_write_indices_on(Backend::Cpu);
}

#[test]
fn computed_out_of_range_indices_gpu() {
    if common::gpu_available("computed_out_of_range_indices_gpu") {
        computed_out_of_range_indices_on(Backend::Gpu);
        argmax_gather_on(Backend::Gpu);
        tensor_scatter_write_indices_on(Backend::Gpu);
        computed_index_error_with_device_outputs();
    }
}

/// A run whose dynamic shape needs more memory than `max_memory_bytes` (the session was planned
/// for small inputs) is an `Error::Limit` before anything is allocated, on both backends, and
/// the same session then runs a small input again.
fn dynamic_shape_over_max_memory_on(backend: Backend) {
    let mut b = ModelBuilder::new(13);
    b.input_dims("x", DType::F32, &[DimSpec::Name("n".into()), DimSpec::Size(256)]);
    b.initializer("w", Tensor::new(&[256, 64], vec![0.25f32; 256 * 64]).unwrap());
    b.node("MatMul", &["x", "w"], &["h"], &[]);
    b.node("Relu", &["h"], &["y"], &[]);
    b.output_dims("y", DType::F32, &[DimSpec::Name("n".into()), DimSpec::Size(64)]);
    let s = Session::builder().backend(backend).max_memory_bytes(1 << 20).from_bytes(&b.to_bytes()).unwrap();
    let x = |n: usize| Tensor::new(&[n, 256], (0..n * 256).map(|k| (k % 5) as f32).collect()).unwrap();
    let small = s.run(&[("x", x(4))]).unwrap();
    assert_eq!(small[0].shape(), &[4, 64]);
    // 2048 rows: 2 MiB of input and 512 KiB of output, over the 1 MiB bound.
    let e = s.run(&[("x", x(2048))]).expect_err("a run over max_memory_bytes");
    let m = e.to_string();
    eprintln!("{backend:?}: {m}");
    assert!(matches!(e, Error::Limit(_)) && m.contains("max_memory_bytes"), "{backend:?}: {m}");
    let again = s.run(&[("x", x(4))]).unwrap();
    assert_eq!(again[0].as_slice::<f32>().unwrap(), small[0].as_slice::<f32>().unwrap());
}

#[test]
fn dynamic_shape_over_max_memory_cpu() {
    dynamic_shape_over_max_memory_on(Backend::Cpu);
}

#[test]
fn dynamic_shape_over_max_memory_gpu() {
    if common::gpu_available("dynamic_shape_over_max_memory_gpu") {
        dynamic_shape_over_max_memory_on(Backend::Gpu);
    }
}

// ---- indices read by other kernels ---------------------------------------------------------

/// An op (node `{op}_y`) reading indices `Add(raw, shift)` from the device: in-range ones (shift
/// zero) give the CPU's result on both backends, `bad_shift` makes an index out of range (`bad`,
/// when only one is) and the run an error naming the node, and the session keeps working.
struct IndexCase {
    op: &'static str,
    model: Vec<u8>,
    inputs: Vec<(&'static str, Tensor)>,
    raw: Tensor,
    bad_shift: Vec<i64>,
    bad: i64,
    noun: &'static str,
}

/// A builder with inputs `raw` and `shift` (int64, `shape`) and the node `Add(raw, shift) -> i`.
fn shifted_indices(opset: i64, shape: &[usize]) -> ModelBuilder {
    let mut b = ModelBuilder::new(opset);
    b.input("raw", DType::I64, shape);
    b.input("shift", DType::I64, shape);
    b.node("Add", &["raw", "shift"], &["i"], &[]);
    b
}

fn f32s(shape: &[usize], f: impl Fn(usize) -> f32) -> Tensor {
    Tensor::new(shape, (0..shape.iter().product::<usize>()).map(f).collect()).unwrap()
}

fn index_cases() -> Vec<IndexCase> {
    let i64s = |shape: &[usize], v: Vec<i64>| Tensor::new(shape, v).unwrap();
    let mut cases = Vec::new();

    let mut b = shifted_indices(11, &[1, 1, 2]);
    b.input("x", DType::F32, &[1, 1, 2]);
    b.node("MaxUnpool", &["x", "i"], &["y"], &[("kernel_shape", vec![2i64].into()), ("strides", vec![2i64].into())]);
    b.output("y", DType::F32, &[1, 1, 4]);
    cases.push(IndexCase {
        op: "MaxUnpool",
        model: b.to_bytes(),
        inputs: vec![("x", f32s(&[1, 1, 2], |k| k as f32 + 5.))],
        raw: i64s(&[1, 1, 2], vec![1, 2]),
        bad_shift: vec![0, 2],
        bad: 4,
        noun: "unpooling index",
    });

    // Targets 0, 2 and the ignored -100 (outside [0, C): ignore_index stays allowed).
    for (op, red) in [("NegativeLogLikelihoodLoss", "none"), ("NegativeLogLikelihoodLoss", "mean")] {
        let mut b = shifted_indices(13, &[3]);
        b.input("x", DType::F32, &[3, 3]);
        b.node(op, &["x", "i"], &["y"], &[("reduction", red.into()), ("ignore_index", (-100i64).into())]);
        b.output("y", DType::F32, if red == "none" { &[3] } else { &[] });
        cases.push(IndexCase {
            op,
            model: b.to_bytes(),
            inputs: vec![("x", f32s(&[3, 3], |k| -(k as f32 + 1.) / 4.))],
            raw: i64s(&[3], vec![0, 2, -100]),
            bad_shift: vec![0, 1, 0],
            bad: 3,
            noun: "target",
        });
    }
    let mut b = shifted_indices(13, &[3]);
    b.input("x", DType::F32, &[3, 3]);
    b.node(
        "SoftmaxCrossEntropyLoss",
        &["x", "i"],
        &["y"],
        &[("reduction", "sum".into()), ("ignore_index", 1i64.into())],
    );
    b.output("y", DType::F32, &[]);
    cases.push(IndexCase {
        op: "SoftmaxCrossEntropyLoss",
        model: b.to_bytes(),
        inputs: vec![("x", f32s(&[3, 3], |k| (k as f32 * 0.7).sin()))],
        raw: i64s(&[3], vec![0, 2, 1]),
        bad_shift: vec![-1, 0, 0],
        bad: -1,
        noun: "target",
    });

    let mut b = shifted_indices(16, &[1]);
    b.input("x", DType::F32, &[1, 1, 4, 4]);
    b.input("rois", DType::F32, &[1, 4]);
    let attrs: Vec<(&str, Attr)> =
        vec![("output_height", 2i64.into()), ("output_width", 2i64.into()), ("sampling_ratio", 1i64.into())];
    b.node("RoiAlign", &["x", "rois", "i"], &["y"], &attrs);
    b.output("y", DType::F32, &[1, 1, 2, 2]);
    cases.push(IndexCase {
        op: "RoiAlign",
        model: b.to_bytes(),
        inputs: vec![
            ("x", f32s(&[1, 1, 4, 4], |k| k as f32)),
            ("rois", Tensor::new(&[1, 4], vec![0f32, 0., 3., 3.]).unwrap()),
        ],
        raw: i64s(&[1], vec![0]),
        bad_shift: vec![1],
        bad: 1,
        noun: "batch index",
    });

    // Time 4 (axis 0), batch 2 (axis 1); lengths may be 0..=4.
    let mut b = shifted_indices(10, &[2]);
    b.input("x", DType::F32, &[4, 2]);
    b.node("ReverseSequence", &["x", "i"], &["y"], &[("time_axis", 0i64.into()), ("batch_axis", 1i64.into())]);
    b.output("y", DType::F32, &[4, 2]);
    cases.push(IndexCase {
        op: "ReverseSequence",
        model: b.to_bytes(),
        inputs: vec![("x", f32s(&[4, 2], |k| k as f32))],
        raw: i64s(&[2], vec![4, 1]),
        bad_shift: vec![0, 4],
        bad: 5,
        noun: "sequence length",
    });

    // CumSum over a run-time axis of a rank-2 tensor.
    let mut b = shifted_indices(14, &[]);
    b.input("x", DType::F32, &[2, 3]);
    b.node("CumSum", &["x", "i"], &["y"], &[]);
    b.output("y", DType::F32, &[2, 3]);
    cases.push(IndexCase {
        op: "CumSum",
        model: b.to_bytes(),
        inputs: vec![("x", f32s(&[2, 3], |k| k as f32 + 1.))],
        raw: i64s(&[], vec![1]),
        bad_shift: vec![2],
        bad: 3,
        noun: "axis",
    });

    // RNN over 3 steps: sequence lengths may be 0..=3.
    let mut b = shifted_indices(14, &[1]);
    b.node("Cast", &["i"], &["i32"], &[("to", 6i64.into())]);
    b.input("x", DType::F32, &[3, 1, 2]);
    b.initializer("w", f32s(&[1, 2, 2], |k| 0.3 - k as f32 * 0.2));
    b.initializer("r", f32s(&[1, 2, 2], |k| (k as f32 * 0.5).sin() * 0.5));
    b.node("RNN", &["x", "w", "r", "", "i32"], &["y", "y_h"], &[("hidden_size", 2i64.into())]);
    b.output("y", DType::F32, &[3, 1, 1, 2]);
    b.output("y_h", DType::F32, &[1, 1, 2]);
    cases.push(IndexCase {
        op: "RNN",
        model: b.to_bytes(),
        inputs: vec![("x", f32s(&[3, 1, 2], |k| k as f32 * 0.25 - 0.5))],
        raw: i64s(&[1], vec![2]),
        bad_shift: vec![2],
        bad: 4,
        noun: "sequence length",
    });

    // One new token after 3 cached ones: seqlens_k = total − 1 = 3; 5 needs 6 cache rows of 4.
    let mut b = shifted_indices(13, &[1]);
    b.model
        .opset_import
        .push(onnx_wgpu::onnx::proto::OperatorSetIdProto { domain: Some("com.microsoft".into()), version: Some(1) });
    b.node("Cast", &["i"], &["i32"], &[("to", 6i64.into())]);
    b.input("q", DType::F32, &[1, 1, 4]);
    b.input("k", DType::F32, &[1, 1, 4]);
    b.input("v", DType::F32, &[1, 1, 4]);
    b.input("past_k", DType::F32, &[1, 1, 3, 4]);
    b.input("past_v", DType::F32, &[1, 1, 3, 4]);
    b.initializer("total", Tensor::new(&[], vec![4i32]).unwrap());
    b.node_in(
        "com.microsoft",
        "GroupQueryAttention",
        &["q", "k", "v", "past_k", "past_v", "i32", "total"],
        &["y", "present_k", "present_v"],
        &[("num_heads", 1i64.into()), ("kv_num_heads", 1i64.into())],
    );
    b.output("y", DType::F32, &[1, 1, 4]);
    b.output("present_k", DType::F32, &[1, 1, 4, 4]);
    b.output("present_v", DType::F32, &[1, 1, 4, 4]);
    cases.push(IndexCase {
        op: "GroupQueryAttention",
        model: b.to_bytes(),
        inputs: vec![
            ("q", f32s(&[1, 1, 4], |k| k as f32 * 0.25)),
            ("k", f32s(&[1, 1, 4], |k| 1. - k as f32 * 0.5)),
            ("v", f32s(&[1, 1, 4], |k| k as f32)),
            ("past_k", f32s(&[1, 1, 3, 4], |k| (k as f32 * 0.4).sin())),
            ("past_v", f32s(&[1, 1, 3, 4], |k| (k as f32 * 0.9).cos())),
        ],
        raw: i64s(&[1], vec![3]),
        bad_shift: vec![2],
        bad: 5,
        noun: "seqlens_k entry",
    });

    // Word ids into a 5-row table (the GPU gathers the rows with the Gather kernel).
    let mut b = shifted_indices(13, &[1, 2]);
    b.model
        .opset_import
        .push(onnx_wgpu::onnx::proto::OperatorSetIdProto { domain: Some("com.microsoft".into()), version: Some(1) });
    b.node("Cast", &["i"], &["i32"], &[("to", 6i64.into())]);
    b.initializer("word", f32s(&[5, 4], |k| (k as f32 * 0.37).sin()));
    b.initializer("pos", f32s(&[4, 4], |k| (k as f32 * 0.11).cos()));
    b.initializer("gamma", f32s(&[4], |k| 1. + k as f32 * 0.1));
    b.initializer("beta", f32s(&[4], |k| k as f32 * 0.01));
    b.node_in(
        "com.microsoft",
        "EmbedLayerNormalization",
        &["i32", "", "word", "pos", "", "gamma", "beta"],
        &["y", "mask_index"],
        &[("epsilon", 1e-5f32.into())],
    );
    b.output("y", DType::F32, &[1, 2, 4]);
    b.output("mask_index", DType::I32, &[1]);
    cases.push(IndexCase {
        op: "EmbedLayerNormalization",
        model: b.to_bytes(),
        inputs: vec![],
        raw: i64s(&[1, 2], vec![0, 4]),
        bad_shift: vec![0, 1],
        bad: 5,
        noun: "index",
    });

    // X [batch 1, heads 1, seq 2, head 4], caches of 4 positions.
    let mut b = shifted_indices(23, &[1, 2]);
    b.input("x", DType::F32, &[1, 1, 2, 4]);
    b.input("cos", DType::F32, &[4, 2]);
    b.input("sin", DType::F32, &[4, 2]);
    b.node("RotaryEmbedding", &["x", "cos", "sin", "i"], &["y"], &[]);
    b.output("y", DType::F32, &[1, 1, 2, 4]);
    cases.push(IndexCase {
        op: "RotaryEmbedding",
        model: b.to_bytes(),
        inputs: vec![
            ("x", f32s(&[1, 1, 2, 4], |k| k as f32 - 3.)),
            ("cos", f32s(&[4, 2], |k| (k as f32 * 0.3).cos())),
            ("sin", f32s(&[4, 2], |k| (k as f32 * 0.3).sin())),
        ],
        raw: i64s(&[1, 2], vec![0, 3]),
        bad_shift: vec![0, 1],
        bad: 4,
        noun: "position id",
    });
    cases
}

/// Runs every [`IndexCase`] on `backend`: good, bad, good again; the good results equal the
/// CPU's (within f32 rounding).
fn other_index_kernels_on(backend: Backend) {
    for c in index_cases() {
        let s = Session::builder().backend(backend).from_bytes(&c.model).unwrap_or_else(|e| panic!("{}: {e}", c.op));
        let cpu = Session::builder().backend(Backend::Cpu).from_bytes(&c.model).unwrap();
        let run = |s: &Session, shift: Vec<i64>| {
            let mut ins = c.inputs.clone();
            ins.push(("raw", c.raw.clone()));
            ins.push(("shift", Tensor::new(c.raw.shape(), shift).unwrap()));
            s.run(&ins)
        };
        let zero = vec![0i64; c.bad_shift.len()];
        let want = run(&cpu, zero.clone()).unwrap_or_else(|e| panic!("cpu {}: {e}", c.op));
        let want = want[0].as_slice::<f32>().unwrap();
        for round in 0..2 {
            let y = run(&s, zero.clone()).unwrap_or_else(|e| panic!("{backend:?} {} round {round}: {e}", c.op));
            let got = y[0].as_slice::<f32>().unwrap();
            assert_eq!(got.len(), want.len(), "{backend:?} {}", c.op);
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() <= 1e-5 * w.abs().max(1.), "{backend:?} {}: {got:?} vs {want:?}", c.op);
            }
            let e =
                run(&s, c.bad_shift.clone()).err().unwrap_or_else(|| panic!("{backend:?} {}: bad index passed", c.op));
            let m = e.to_string();
            if round == 0 {
                eprintln!("{backend:?} {}: {m}", c.op);
            }
            assert!(matches!(e, Error::Node { .. }), "{backend:?} {}: {m}", c.op);
            assert!(
                m.contains(&format!("{}_y", c.op))
                    && (m.contains("out of range") || m.contains("outside"))
                    && m.contains(&c.bad.to_string()),
                "{backend:?} {}: {m}",
                c.op
            );
            if backend == Backend::Gpu {
                assert!(
                    m.contains("computed on the device") && m.contains(c.noun),
                    "{}: not reported by the kernel: {m}",
                    c.op
                );
            }
        }
    }
}

#[test]
fn other_index_kernels_report_out_of_range_cpu() {
    other_index_kernels_on(Backend::Cpu);
}

#[test]
fn other_index_kernels_report_out_of_range_gpu() {
    if common::gpu_available("other_index_kernels_report_out_of_range_gpu") {
        other_index_kernels_on(Backend::Gpu);
    }
}

/// NaN and infinities propagate by IEEE rules, as ONNX Runtime computes them.
fn nan_inf_on(backend: Backend) {
    let nan = f32::NAN;
    let inf = f32::INFINITY;
    let a = vec![nan, inf, -inf, 1.0, 0.0, inf];
    let b = vec![1.0, -inf, 1.0, nan, 0.0, 0.0];
    // (op, expected) for op(a, b) elementwise, or op(a) for unary ops.
    let binary: Vec<(&str, Vec<f32>)> = vec![
        ("Add", vec![nan, nan, -inf, nan, 0.0, inf]),
        ("Mul", vec![nan, -inf, -inf, nan, 0.0, nan]),
        ("Div", vec![nan, nan, -inf, nan, nan, inf]),
        ("Sub", vec![nan, inf, -inf, nan, 0.0, inf]),
    ];
    let unary: Vec<(&str, Vec<f32>)> = vec![
        ("Relu", vec![nan, inf, 0.0, 1.0, 0.0, inf]),
        ("Exp", vec![nan, inf, 0.0, std::f32::consts::E, 1.0, inf]),
        ("Sqrt", vec![nan, inf, nan, 1.0, 0.0, inf]),
        ("Neg", vec![nan, -inf, inf, -1.0, -0.0, -inf]),
        ("Abs", vec![nan, inf, inf, 1.0, 0.0, inf]),
        ("Sigmoid", vec![nan, 1.0, 0.0, 0.731_058_6, 0.5, 1.0]),
    ];
    let same = |got: &[f32], want: &[f32]| {
        got.iter().zip(want).all(|(g, w)| (g.is_nan() && w.is_nan()) || (g == w) || ((g - w).abs() <= 1e-6 * w.abs()))
    };
    for (op, want) in binary.iter().chain(&unary) {
        let is_bin = binary.iter().any(|(o, _)| o == op);
        let mut m = ModelBuilder::new(13);
        m.input("a", DType::F32, &[6]);
        if is_bin {
            m.input("b", DType::F32, &[6]);
            m.node(op, &["a", "b"], &["y"], &[]);
        } else {
            m.node(op, &["a"], &["y"], &[]);
        }
        m.output("y", DType::F32, &[6]);
        let s = Session::builder().backend(backend).from_bytes(&m.to_bytes()).unwrap();
        let ta = Tensor::new(&[6], a.clone()).unwrap();
        let tb = Tensor::new(&[6], b.clone()).unwrap();
        let ins: Vec<(&str, Tensor)> = if is_bin { vec![("a", ta), ("b", tb)] } else { vec![("a", ta)] };
        let y = s.run(&ins).unwrap();
        let got = y[0].as_slice::<f32>().unwrap();
        assert!(same(got, want), "{backend:?} {op}: got {got:?}, want {want:?}");
    }
}

#[test]
fn nan_and_inf_propagate_cpu() {
    nan_inf_on(Backend::Cpu);
}

#[test]
fn nan_and_inf_propagate_gpu() {
    if common::gpu_available("nan_and_inf_propagate_gpu") {
        nan_inf_on(Backend::Gpu);
    }
}

// ---- CLI ------------------------------------------------------------------------------------

#[test]
fn cli_refuses_hostile_files_with_one_line() {
    let dir = std::env::temp_dir().join(format!("onnx_wgpu_cli_hostile_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cycle = ModelBuilder::new(13);
    cycle.input("x", DType::F32, &[2]);
    cycle.node("Add", &["x", "a"], &["a"], &[]);
    cycle.output("a", DType::F32, &[2]);
    let mut huge = ModelBuilder::new(13);
    huge.input("x", DType::F32, &[1 << 20, 1 << 20]);
    huge.node("Relu", &["x"], &["y"], &[]);
    huge.output("y", DType::F32, &[1 << 20, 1 << 20]);
    let mut escape_b = ModelBuilder::new(13);
    escape_b.input("x", DType::F32, &[4]);
    escape_b.graph().initializer.push(raw_initializer("w", &[4], |t| {
        t.data_location = Some(DataLocation::External as i32);
        t.external_data =
            vec![StringStringEntryProto { key: Some("location".into()), value: Some("../../etc/passwd".into()) }];
    }));
    escape_b.node("Add", &["x", "w"], &["y"], &[]);
    escape_b.output("y", DType::F32, &[4]);
    let mut dup = relu_model();
    dup.output("y", DType::F32, &[2, 3]);
    let mut phantom = relu_model();
    phantom.output("phantom", DType::F32, &[2, 3]);
    let mut neg = ModelBuilder::new(13);
    neg.input_dims("x", DType::F32, &[DimSpec::Size(-3)]);
    neg.node("Relu", &["x"], &["y"], &[]);
    neg.output("y", DType::F32, &[3]);
    let mut attr = ModelBuilder::new(13);
    attr.input("x", DType::F32, &[2, 3]);
    attr.node("Transpose", &["x"], &["y"], &[("perm", Attr::Float(1.0))]);
    attr.output("y", DType::F32, &[3, 2]);
    let mut opset = relu_model();
    opset.model.opset_import[0].version = Some(999);
    let mut domain = relu_model();
    domain.graph().node[0].domain = Some("com.evil".into());
    let mut absolute = ModelBuilder::new(13);
    absolute.input("x", DType::F32, &[4]);
    absolute.graph().initializer.push(raw_initializer("w", &[4], |t| {
        t.data_location = Some(DataLocation::External as i32);
        t.external_data =
            vec![StringStringEntryProto { key: Some("location".into()), value: Some("/etc/passwd".into()) }];
    }));
    absolute.node("Add", &["x", "w"], &["y"], &[]);
    absolute.output("y", DType::F32, &[4]);
    let files = [
        ("cycle.onnx", cycle.to_bytes()),
        ("huge.onnx", huge.to_bytes()),
        ("escape.onnx", escape_b.to_bytes()),
        ("absolute.onnx", absolute.to_bytes()),
        ("nested.onnx", nest_if(10_000)),
        ("truncated.onnx", relu_model().to_bytes()[..20].to_vec()),
        ("wire.onnx", vec![0x38u8, 0x01]),
        ("dup.onnx", dup.to_bytes()),
        ("phantom.onnx", phantom.to_bytes()),
        ("size.onnx", with_initializer(raw_initializer("w", &[4], |t| t.raw_data = Some(vec![0; 8])))),
        ("neg.onnx", neg.to_bytes()),
        ("attr.onnx", attr.to_bytes()),
        ("opset.onnx", opset.to_bytes()),
        ("domain.onnx", domain.to_bytes()),
    ];
    let bin = env!("CARGO_BIN_EXE_onnx-wgpu");
    for (name, bytes) in files {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let p = p.to_str().unwrap();
        for cmd in [&["run", p, "--backend", "cpu"][..], &["run", p, "--backend", "gpu"], &["info", p, "--plan"]] {
            let out = std::process::Command::new(bin).args(cmd).output().unwrap();
            let code = out.status.code().expect("killed by a signal");
            assert!(code != 0 && code != 101, "{cmd:?}: exit {code}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(err.trim().lines().count(), 1, "{cmd:?}: stderr was {err:?}");
            assert!(err.starts_with("error: "), "{err}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

// ---- panics inside the engine ---------------------------------------------------------------

/// A panic inside a kernel (a bug, not a model error) surfaces as `Error::Internal`; the
/// session stays usable.
#[test]
fn internal_panic_becomes_an_error() {
    let s = cpu(&relu_model().to_bytes()).unwrap();
    let e = onnx_wgpu::error::guard("test", || -> onnx_wgpu::Result<()> { panic!("kernel bug") }).err().unwrap();
    assert!(matches!(e, Error::Internal(_)) && e.to_string().contains("kernel bug"), "{e}");
    let x = Tensor::new(&[2, 3], vec![1f32; 6]).unwrap();
    assert!(s.run(&[("x", x)]).is_ok());
}

// ---- fuzzing reproducers --------------------------------------------------------------------

/// The `run` fuzz target's model (Gather → Reshape → Softmax → Expand with caller inputs).
fn fuzz_run_model() -> Session {
    let sym = |n: &str| DimSpec::Name(n.into());
    let mut b = ModelBuilder::new(17);
    b.input_dims("x", DType::F32, &[sym("a"), sym("b")]);
    b.input_dims("idx", DType::I64, &[sym("k")]);
    b.input_dims("shape", DType::I64, &[DimSpec::Size(2)]);
    b.input_dims("e", DType::I64, &[DimSpec::Size(2)]);
    b.node("Gather", &["x", "idx"], &["g"], &[("axis", 0i64.into())]);
    b.node("Reshape", &["g", "shape"], &["r"], &[]);
    b.node("Softmax", &["r"], &["y"], &[("axis", (-1i64).into())]);
    b.node("Expand", &["y", "e"], &["z"], &[]);
    b.output_dims("z", DType::F32, &[sym("p"), sym("q")]);
    Session::builder().backend(Backend::Cpu).max_memory_bytes(64 << 20).from_bytes(&b.to_bytes()).unwrap()
}

/// fuzz/artifacts/run/timeout-475c94…: Reshape of an empty tensor to [0x003F0015FC3F0015, 0],
/// then Softmax looped over 1.8e16 empty rows (a hang). Zero-element outputs are now known
/// from their shapes without running a kernel.
#[test]
fn fuzz_run_empty_tensor_with_huge_dim_does_not_hang() {
    let s = fuzz_run_model();
    let t = |sh: &[usize], v: Vec<i64>| Tensor::new(sh, v).unwrap();
    let start = std::time::Instant::now();
    let r = s.run(&[
        ("x", Tensor::new(&[0, 0], Vec::<f32>::new()).unwrap()),
        ("idx", t(&[0], vec![])),
        ("shape", t(&[2], vec![0x003F_0015_FC3F_0015, 0])),
        ("e", t(&[2], vec![0, 0])),
    ]);
    assert!(start.elapsed().as_secs() < 10, "took {:?}: {:?}", start.elapsed(), r.map(|_| ()));
}

/// fuzz/artifacts/run/crash-b596a5…: a Reshape target whose dims multiply past usize
/// overflowed in the shape rule (a panic under debug assertions, a wrong check without).
#[test]
fn fuzz_run_reshape_target_overflow_is_an_error() {
    let s = fuzz_run_model();
    let t = |sh: &[usize], v: Vec<i64>| Tensor::new(sh, v).unwrap();
    for target in [vec![i64::MAX, 4], vec![-1, i64::MAX], vec![1 << 40, 1 << 40]] {
        let e = s
            .run(&[
                ("x", Tensor::new(&[1, 1], vec![1f32]).unwrap()),
                ("idx", t(&[1], vec![0])),
                ("shape", t(&[2], target.clone())),
                ("e", t(&[2], vec![1, 1])),
            ])
            .expect_err("an impossible Reshape ran");
        let m = e.to_string();
        assert!(m.contains("Reshape_r") && !m.contains("internal"), "{target:?}: {m}");
    }
}

/// The `run` fuzz target's memory grew with every new Expand target (20,000 runs: 721 MB):
/// each value read back at a stage barrier kept its prepared stage forever. The plan caches
/// are now bounded (emptied past 256 entries); runs across the eviction stay correct.
#[test]
fn fuzz_run_plan_cache_is_bounded_and_eviction_keeps_results() {
    let s = fuzz_run_model();
    let t = |sh: &[usize], v: Vec<i64>| Tensor::new(sh, v).unwrap();
    for i in 0..600i64 {
        let cols = i % 300 + 1;
        let y = s
            .run(&[
                ("x", Tensor::new(&[2, 1], vec![1f32, 2.]).unwrap()),
                ("idx", t(&[1], vec![1])),
                ("shape", t(&[2], vec![1, 1])),
                ("e", t(&[2], vec![2, cols])),
            ])
            .unwrap_or_else(|e| panic!("run {i}: {e}"));
        assert_eq!(y[0].shape(), &[2, cols as usize], "run {i}");
        assert!(y[0].as_slice::<f32>().unwrap().iter().all(|&v| v == 1.0), "run {i}");
    }
}
