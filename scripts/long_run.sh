#!/usr/bin/env bash
# The full forms of the concurrency, long-run and determinism tests (tests/concurrency.rs):
# 8 threads × 1,000 runs on one shared session, 10,000 runs for the resident-memory check, on
# both backends. The CI form (without ONNX_WGPU_LONG) runs reduced counts.
set -euo pipefail
cd "$(dirname "$0")/.."
export VK_DRIVER_FILES="${VK_DRIVER_FILES:-/usr/share/vulkan/icd.d/lvp_icd.x86_64.json}"
ONNX_WGPU_LONG=1 cargo test --release --test concurrency -- --nocapture "$@"
