#!/usr/bin/env bash
# Runs each fuzz target (fuzz/fuzz_targets) for a fixed time: `scripts/fuzz.sh [SECONDS]`
# (default 300 per target), without a sanitizer (the crate is safe Rust; debug assertions catch
# overflow). Needs `cargo install cargo-fuzz` and a nightly toolchain. Seeds:
# fuzz/seeds/load (small models copied from the corpus' onnx-node tests); the working corpora
# go to fuzz/corpus/<target> (ignored by git). A crash leaves its input in
# fuzz/artifacts/<target>/: keep it as a regression test in tests/hostile.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-300}"
for target in load run; do
    mkdir -p "fuzz/corpus/$target"
    seeds=()
    if [ "$target" = load ]; then seeds=(fuzz/seeds/load); fi
    cargo +nightly fuzz run --sanitizer none --debug-assertions "$target" "fuzz/corpus/$target" "${seeds[@]}" -- \
        -max_total_time="$secs" -rss_limit_mb=4096 -timeout=30 -print_final_stats=1
done
