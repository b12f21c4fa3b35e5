//! Model bytes → `Session` on the CPU backend: decode, import, inference, optimization and (for
//! static input shapes) planning. Any outcome but a panic, an abort or a hang is a pass.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onnx_wgpu::{Backend, Session};

fuzz_target!(|data: &[u8]| {
    let _ = Session::builder().backend(Backend::Cpu).max_memory_bytes(64 << 20).from_bytes(data);
});
