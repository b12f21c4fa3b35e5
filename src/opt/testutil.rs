//! Helpers shared by the passes' before/after tests: deterministic inputs and a check that the
//! optimized and unoptimized graphs compute the same outputs on the CPU.

use crate::tensor::Tensor;
use crate::{Backend, Session};

/// A deterministic f32 tensor with values in `[-6, 6] · scale`.
pub fn ramp(shape: &[usize], scale: f32) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::new(shape, (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) * scale).collect::<Vec<f32>>()).unwrap()
}

/// Runs the model `bytes` (one input `x`) on the CPU with and without the optimizer and
/// asserts that every output agrees to `tol` (relative to 1 + |value|).
pub fn same_outputs(bytes: &[u8], x: Tensor, tol: f64) {
    let run = |opt: bool| {
        let s = Session::builder().backend(Backend::Cpu).optimize(opt).from_bytes(bytes).unwrap();
        s.run(&[("x", x.clone())]).unwrap().into_vec()
    };
    let (a, b) = (run(false), run(true));
    assert_eq!(a.len(), b.len());
    for ((_, ta), (_, tb)) in a.iter().zip(&b) {
        let (va, vb) = (ta.to_f64_vec().unwrap(), tb.to_f64_vec().unwrap());
        assert_eq!(va.len(), vb.len());
        for (x, y) in va.iter().zip(&vb) {
            assert!((x - y).abs() <= tol * (1.0 + x.abs()), "{x} vs {y}");
        }
    }
}
