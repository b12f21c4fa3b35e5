//! Arbitrary input tensors on a small fixed model (Gather by caller indices, Reshape to a
//! caller shape, Softmax, Expand): the bytes choose each input's shape and values. Errors are
//! fine; panics, aborts and hangs are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onnx_wgpu::onnx::builder::{DimSpec, ModelBuilder};
use onnx_wgpu::{Backend, DType, Session, Tensor};
use std::sync::OnceLock;

fn session() -> &'static Session {
    static S: OnceLock<Session> = OnceLock::new();
    S.get_or_init(|| {
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
    })
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        let (h, t) = self.0.split_first().map(|(h, t)| (*h, t)).unwrap_or((0, &[]));
        self.0 = t;
        h
    }
    fn i64(&mut self) -> i64 {
        let mut v = [0u8; 8];
        for b in &mut v {
            *b = self.u8();
        }
        i64::from_le_bytes(v)
    }
    fn f32(&mut self) -> f32 {
        f32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let (a, c, k) = (b.u8() as usize % 9, b.u8() as usize % 9, b.u8() as usize % 9);
    let x: Vec<f32> = (0..a * c).map(|_| b.f32()).collect();
    // Small indices and shapes most of the time, arbitrary 64-bit values sometimes.
    let int = |b: &mut Bytes| if b.u8() < 200 { b.u8() as i8 as i64 } else { b.i64() };
    let idx: Vec<i64> = (0..k).map(|_| int(&mut b)).collect();
    let shape = vec![int(&mut b), int(&mut b)];
    let e = vec![int(&mut b), int(&mut b)];
    let t = |s: &[usize], v: Vec<i64>| Tensor::new(s, v).unwrap();
    let inputs = [
        ("x", Tensor::new(&[a, c], x).unwrap()),
        ("idx", t(&[k], idx)),
        ("shape", t(&[2], shape)),
        ("e", t(&[2], e)),
    ];
    let _ = session().run(&inputs);
});
