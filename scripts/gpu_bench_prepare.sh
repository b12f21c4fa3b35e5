#!/bin/bash
# Prepares gpubench/ (ignored by git) for scripts/gpu_bench.sh on a lent GPU machine, which gets
# only the working tree and the carried paths (no ../shared, no crates registry, no compiler):
#   gpubench/onnx-wgpu.gz   the release CLI (stripped, gzipped)
#   gpubench/kernels.gz     the criterion kernel benchmarks (`cargo build --release --bench kernels`:
#                           the release profile, so the library built for the CLI is reused), likewise
#   gpubench/node/          a few hundred small ONNX node tests that pass on the GPU without fallback
#   gpubench/models/NAME/   corpus models with their test_data_set_0 (a correctness case and a
#                           bench model at once), added while the folder stays under 56 MiB
#                           (the device carries 64 MiB in all, .gl included)
#   gpubench/copy_bandwidth.onnx  8 chained Neg over 2^26 floats (scripts/make_bandwidth_model.py)
# Then, on the device (carry [".gl", "gpubench"], .gl from ../shared/gpu/prepare-vulkan-loader.sh):
#   <loader prefix> bash scripts/gpu_bench.sh
# GPU_BENCH_MODELS (default "squeezenet1_1 bert_tiny mobilenet_v2 vit_tiny") and BW_ELEMS (default
# 2^26) change what is packed; GPU_BENCH_DEBUG=1 packs the debug builds instead (a quick local check of gpu_bench.sh only:
# never for timings).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
corpus=${ONNX_WGPU_CORPUS:-../shared/corpus}
[ -d "$corpus/models" ] || { echo "no corpus at $corpus: set ONNX_WGPU_CORPUS" >&2; exit 1; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
limit=$((56 * 1024 * 1024))

if [ "${GPU_BENCH_DEBUG:-0}" = 1 ]; then
    cargo build --bin onnx-wgpu
    cli="$CARGO_TARGET_DIR/debug/onnx-wgpu"
    build=(cargo build)
else
    cargo build --release --bin onnx-wgpu
    cli="$CARGO_TARGET_DIR/release/onnx-wgpu"
    build=(cargo build --release)
fi
exe=$("${build[@]}" --bench kernels --message-format=json |
    python3 -c 'import json, sys
for l in sys.stdin:
    j = json.loads(l)
    if j.get("reason") == "compiler-artifact" and j.get("executable") and j["target"]["name"] == "kernels":
        print(j["executable"])' | tail -1)
[ -x "$exe" ] || { echo "no kernels bench executable" >&2; exit 1; }

rm -rf gpubench
mkdir -p gpubench/node gpubench/models
for f in "$cli:onnx-wgpu" "$exe:kernels"; do
    src=${f%%:*}
    name=${f##*:}
    strip -o "gpubench/$name" "$src"
    gzip -9 "gpubench/$name"
done

# Node tests that pass on the GPU without fallback, in the families the models use, 16 KiB at most each.
grep -E '^node/test_(matmul|gemm|conv|softmax|layer_norm|gelu|attention|relu|add|mul|reduce_mean|transpose|gather|concat|resize|averagepool|maxpool|batchnorm|cast|dequantizelinear|qlinearmatmul|matmulinteger|lstm|gru|einsum|rotary|rms|erf|sqrt|div|sub|where|slice|reshape|clip|sigmoid|tanh)' \
    tests/expected/node_gpu.txt | sed 's|^node/||' | while read -r c; do
    d="$corpus/onnx-node/node/$c"
    if [ -d "$d" ] && [ "$(du -sb "$d" | cut -f1)" -le 16384 ]; then cp -r "$d" gpubench/node/; fi
done

python3 scripts/make_bandwidth_model.py gpubench/copy_bandwidth.onnx "${BW_ELEMS:-$((1 << 26))}"

for m in ${GPU_BENCH_MODELS:-squeezenet1_1 bert_tiny mobilenet_v2 vit_tiny}; do
    src="$corpus/models/$m"
    need=$(( $(du -sb "$src/model.onnx" | cut -f1) + $(du -sb "$src/test_data_set_0" | cut -f1) ))
    have=$(du -sb gpubench | cut -f1)
    if [ $((have + need)) -le $limit ]; then
        mkdir -p "gpubench/models/$m"
        cp -r "$src/model.onnx" "$src/test_data_set_0" "gpubench/models/$m/"
    else
        echo "skipped model $m: gpubench would exceed 56 MiB" >&2
    fi
done
echo "gpubench: $(du -sh gpubench | cut -f1), $(ls gpubench/node | wc -l) node tests, models: $(ls gpubench/models | tr '\n' ' ')"
