//! Host-side tensor types: element types ([`DType`]), shapes with symbolic dims ([`Dim`]),
//! host tensors ([`Tensor`]) and the `.npy` format the CLI reads and writes.

pub mod data;
pub mod dtype;
pub mod minifloat;
pub mod npy;
pub mod shape;
#[allow(clippy::module_inception)]
pub mod tensor;

pub use data::{Data, Kind};
pub use dtype::{DType, Element};

pub use shape::Dim;
pub use tensor::Tensor;
