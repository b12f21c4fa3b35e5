//! Run-time values that are not just tensors: ONNX sequences and optionals. Tensors stay the
//! common currency of kernels; [`Data`] is what flows through the host paths (CPU-placed
//! nodes, control flow, graph inputs and outputs) where sequence- and optional-typed values
//! can appear.

use super::Tensor;
use std::fmt;

/// The static kind of a value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Kind {
    #[default]
    Tensor,
    Sequence(Box<Kind>),
    Optional(Box<Kind>),
}

impl Kind {
    pub fn is_tensor(&self) -> bool {
        matches!(self, Kind::Tensor)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Tensor => write!(f, "tensor"),
            Kind::Sequence(k) => write!(f, "sequence({k})"),
            Kind::Optional(k) => write!(f, "optional({k})"),
        }
    }
}

/// A run-time value.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    Tensor(Tensor),
    Sequence(Vec<Data>),
    Optional(Option<Box<Data>>),
}

impl Data {
    pub fn as_tensor(&self) -> Result<&Tensor, String> {
        match self {
            Data::Tensor(t) => Ok(t),
            other => Err(format!("expected a tensor, got a {}", other.kind_name())),
        }
    }

    pub fn into_tensor(self) -> Result<Tensor, String> {
        match self {
            Data::Tensor(t) => Ok(t),
            other => Err(format!("expected a tensor, got a {}", other.kind_name())),
        }
    }

    pub fn as_sequence(&self) -> Result<&[Data], String> {
        match self {
            Data::Sequence(s) => Ok(s),
            other => Err(format!("expected a sequence, got a {}", other.kind_name())),
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            Data::Tensor(_) => "tensor",
            Data::Sequence(_) => "sequence",
            Data::Optional(_) => "optional",
        }
    }

    /// A short human summary.
    pub fn summary(&self) -> String {
        match self {
            Data::Tensor(t) => t.summary(),
            Data::Sequence(s) => {
                format!("sequence of {} [{}]", s.len(), s.iter().map(|d| d.summary()).collect::<Vec<_>>().join("; "))
            }
            Data::Optional(None) => "optional (empty)".into(),
            Data::Optional(Some(d)) => format!("optional ({})", d.summary()),
        }
    }
}

impl From<Tensor> for Data {
    fn from(t: Tensor) -> Data {
        Data::Tensor(t)
    }
}
