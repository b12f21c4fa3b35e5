//! The crate's one error type. Every variant names the part of the model or call that is
//! wrong (node, input, tensor, kernel) and why, so that a user can act on the message.

use std::fmt;

/// An operator the engine cannot run, with every node that uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedOp {
    pub domain: String,
    pub op_type: String,
    pub opset: i64,
    pub nodes: Vec<String>,
}

impl fmt::Display for UnsupportedOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<&str> = self.nodes.iter().take(5).map(|s| s.as_str()).collect();
        write!(
            f,
            "{}::{} (opset {}) at {}{}",
            if self.domain.is_empty() { "ai.onnx" } else { &self.domain },
            self.op_type,
            self.opset,
            shown.join(", "),
            if self.nodes.len() > 5 { format!(" and {} more", self.nodes.len() - 5) } else { String::new() }
        )
    }
}

fn list(ops: &[UnsupportedOp]) -> String {
    ops.iter().map(|o| o.to_string()).collect::<Vec<_>>().join("; ")
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a well-formed ONNX protobuf.
    #[error("not a valid ONNX model: {0}")]
    Decode(String),
    /// The model is well-formed protobuf but not a valid graph (names, cycles, types).
    #[error("invalid model: {0}")]
    Model(String),
    /// A node is invalid or cannot be executed with the shapes it receives.
    #[error("node '{node}' ({op}): {reason}")]
    Node { node: String, op: String, reason: String },
    /// Operators the engine does not implement, all of them at once.
    #[error("unsupported operators: {}", list(.0))]
    Unsupported(Vec<UnsupportedOp>),
    /// An initializer or constant tensor is malformed.
    #[error("tensor '{tensor}': {reason}")]
    Tensor { tensor: String, reason: String },
    /// A caller-supplied input is missing, unknown or of the wrong dtype/shape.
    #[error("input '{name}': {reason}")]
    Input { name: String, reason: String },
    /// No GPU adapter could be found or opened.
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    /// A shader or pipeline failed to build.
    #[error("kernel '{kernel}': {reason}")]
    Kernel { kernel: String, reason: String },
    /// The GPU reported an error while running (out of memory, device lost, validation).
    #[error("GPU: {0}")]
    Gpu(String),
    /// The requested resources exceed a limit of the adapter or of the session.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// A caller used the API wrongly (unknown output name, bad option).
    #[error("{0}")]
    Usage(String),
    /// A bug inside the engine (a panic caught at the API boundary by [`guard`]); the session
    /// that raised it stays usable.
    #[error("internal error (please report): {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn node(node: &str, op: &str, reason: impl Into<String>) -> Error {
        Error::Node { node: node.to_string(), op: op.to_string(), reason: reason.into() }
    }
    pub fn input(name: &str, reason: impl Into<String>) -> Error {
        Error::Input { name: name.to_string(), reason: reason.into() }
    }
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Error {
        Error::Io { path: path.display().to_string(), source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs `f`, turning a panic inside it into [`Error::Internal`] naming `what`, so that a bug in
/// a kernel or a shape rule cannot take down the host process. The public entry points
/// (`SessionBuilder::from_*`, `Session::run*`, `Session::plan_report`) go through it. Locks a
/// panic poisoned are recovered by their users (`lock().unwrap_or_else(|e| e.into_inner())`
/// where a run holds them); panics with `panic = "abort"` cannot be caught.
pub fn guard<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Err(Error::Internal(format!("{what}: {msg}")))
        }
    }
}
