//! The embedded default model: a small CNN classifier (Conv → BatchNorm → Relu → MaxPool →
//! depthwise Conv → Clip → Conv → GlobalAveragePool → Flatten → Gemm → Softmax) with seeded
//! weights, written by this crate's own model builder. `cargo run --release` runs it;
//! `assets/tiny_cnn.onnx` is the committed file, checked against [`build`] by a test.
//! [`decoder`] holds a tiny GPT-style decoder with a KV cache and its greedy decode loops.

pub mod decoder;

use crate::onnx::builder::ModelBuilder;
use crate::tensor::{DType, Tensor};

/// The committed model bytes.
pub static TINY_CNN: &[u8] = include_bytes!("../assets/tiny_cnn.onnx");

/// The input the default run feeds: name and shape.
pub const INPUT: (&str, [usize; 4]) = ("image", [1, 3, 32, 32]);

/// A deterministic pseudo-random stream (xorshift64*), in [-1, 1).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform() * scale).collect()
    }
}

fn t(shape: &[usize], v: Vec<f32>) -> Tensor {
    Tensor::new(shape, v).expect("shape")
}

/// Builds the default model's bytes.
pub fn build() -> Vec<u8> {
    let mut r = Rng::new(2024);
    let mut b = ModelBuilder::new(17);
    b.input(INPUT.0, DType::F32, &INPUT.1);
    b.initializer("conv1.w", t(&[16, 3, 3, 3], r.vec(16 * 27, 0.35)));
    b.initializer("conv1.b", t(&[16], r.vec(16, 0.1)));
    b.initializer("bn.scale", t(&[16], r.vec(16, 0.2).into_iter().map(|x| 1.0 + x).collect()));
    b.initializer("bn.bias", t(&[16], r.vec(16, 0.1)));
    b.initializer("bn.mean", t(&[16], r.vec(16, 0.1)));
    b.initializer("bn.var", t(&[16], r.vec(16, 0.2).into_iter().map(|x| 1.0 + x).collect()));
    b.initializer("dw.w", t(&[16, 1, 3, 3], r.vec(16 * 9, 0.5)));
    b.initializer("pw.w", t(&[32, 16, 1, 1], r.vec(32 * 16, 0.4)));
    b.initializer("pw.b", t(&[32], r.vec(32, 0.1)));
    b.initializer("fc.w", t(&[10, 32], r.vec(320, 0.5)));
    b.initializer("fc.b", t(&[10], r.vec(10, 0.1)));
    b.initializer("six", Tensor::scalar(6.0f32));
    b.initializer("zero", Tensor::scalar(0.0f32));
    let ints = |v: &[i64]| v.to_vec();
    b.node("Conv", &["image", "conv1.w", "conv1.b"], &["c1"], &[("pads", ints(&[1, 1, 1, 1]).into())]);
    b.node("BatchNormalization", &["c1", "bn.scale", "bn.bias", "bn.mean", "bn.var"], &["bn"], &[]);
    b.node("Relu", &["bn"], &["r1"], &[]);
    b.node("MaxPool", &["r1"], &["p1"], &[("kernel_shape", ints(&[2, 2]).into()), ("strides", ints(&[2, 2]).into())]);
    b.node(
        "Conv",
        &["p1", "dw.w"],
        &["dw"],
        &[("group", 16i64.into()), ("pads", ints(&[1, 1, 1, 1]).into()), ("strides", ints(&[2, 2]).into())],
    );
    b.node("Clip", &["dw", "zero", "six"], &["r2"], &[]);
    b.node("Conv", &["r2", "pw.w", "pw.b"], &["pw"], &[]);
    b.node("GlobalAveragePool", &["pw"], &["gap"], &[]);
    b.node("Flatten", &["gap"], &["flat"], &[]);
    b.node("Gemm", &["flat", "fc.w", "fc.b"], &["logits"], &[("transB", 1i64.into())]);
    b.node("Softmax", &["logits"], &["probabilities"], &[]);
    b.output("probabilities", DType::F32, &[1, 10]);
    b.to_bytes()
}

/// The deterministic input the default run feeds.
pub fn input() -> Tensor {
    let n: usize = INPUT.1.iter().product();
    t(&INPUT.1, Rng::new(7).vec(n, 1.0))
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_model_matches_builder() {
        assert!(
            super::build() == super::TINY_CNN,
            "assets/tiny_cnn.onnx is stale: run `cargo run --example write_default_model`"
        );
    }
}
