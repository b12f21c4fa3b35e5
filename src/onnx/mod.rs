//! ONNX protobuf → [`ir::Graph`]. Owns decoding (prost types generated from
//! `proto/onnx.proto`), initializer decoding in every encoding (see [`tensor_proto`]),
//! attributes ([`attrs`]), opset imports per domain, `Constant` nodes, and the one-shot report
//! of every unsupported operator. A small [`builder`] writes models, for the embedded default
//! model and for tests.

pub mod attrs;
pub mod builder;
pub mod import;
pub mod tensor_proto;

/// Rust types generated from `proto/onnx.proto` by prost.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

pub use import::{load_model, LoadOptions};
