#!/bin/bash
# The benchmark run for a lent GPU machine, from gpubench/ (see scripts/gpu_bench_prepare.sh);
# builds nothing, finishes within 8 minutes (each step has a time limit), and writes under $OUT:
#   summary.md   adapter, correctness, model bench table, per-op top table, kernel GFLOP/s,
#                copy bandwidth (and PyTorch's matmul/copy on the same card where torch exists)
#   bench.json   `onnx-wgpu bench --json` of the models;  trace.json  their Chrome trace
#   test.txt, bench.txt, kernels.txt   the raw outputs
# Environment: OUT (default /tmp/gpu_bench), KERNELS_FULL (1: the large shapes, default 1),
# BACKEND (default gpu), KERNELS_FILTER (criterion filter, default gemm), ITER and WARMUP (model bench runs, default 30 and 5),
# MATMUL_VARIANTS (float matmul configurations timed one by one with ONNX_WGPU_MATMUL, default all five; empty skips).
# The autotuner's winners and the Vulkan pipeline cache go to $OUT/cache (ONNX_WGPU_CACHE_DIR): the first model bench
# is cold, a second short one warm (session_create_ms of both in summary.md). Local check on lavapipe: OUT=/tmp/x KERNELS_FULL=0 bash scripts/gpu_bench.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_bench}
KERNELS_FULL=${KERNELS_FULL:-1}
BACKEND=${BACKEND:-gpu}
KERNELS_FILTER=${KERNELS_FILTER:-gemm}
ITER=${ITER:-30}
WARMUP=${WARMUP:-5}
MATMUL_VARIANTS=${MATMUL_VARIANTS-tile64 tile128 direct4x4 gemv gemv_subgroup}
export ONNX_WGPU_CACHE_DIR=$OUT/cache
rm -rf "$ONNX_WGPU_CACHE_DIR"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
mkdir -p "$OUT"
G=gpubench
bin=$(mktemp -d)
for f in onnx-wgpu kernels; do
    gunzip -c "$G/$f.gz" > "$bin/$f" && chmod +x "$bin/$f" || { echo "missing $G/$f.gz: run scripts/gpu_bench_prepare.sh" >&2; exit 1; }
done
CLI=$bin/onnx-wgpu
S=$OUT/summary.md
start=$SECONDS
step() { echo "[$((SECONDS - start)) s] $*" >&2; }

step adapter
{
    echo "# onnx-wgpu GPU bench ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo '```'
    command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
    timeout 60 "$CLI" 2>&1 | grep -E '^(backend|timing)'
    echo "CPU: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo '```'
} > "$S"

step correctness
# No disk caches here, so that the first model bench below starts cold.
ONNX_WGPU_CACHE_DIR=off timeout 90 "$CLI" test --backend "$BACKEND" --no-fallback -q $G/node $G/models > "$OUT/test.txt" 2>&1
echo "exit $?" >> "$OUT/test.txt"
{
    echo
    echo "## Correctness (\`onnx-wgpu test --backend $BACKEND --no-fallback\`, node tests and models)"
    echo
    echo '```'
    grep -E '^(FAIL|[0-9]+ passed)' "$OUT/test.txt" | tail -20
    echo '```'
} >> "$S"

step models
timeout 150 "$CLI" bench --backend "$BACKEND" $G/models/*/model.onnx --iterations "$ITER" --warmup "$WARMUP" \
    --json "$OUT/bench.json" --profile "$OUT/trace.json" > "$OUT/bench.txt" 2>&1
echo "exit $?" >> "$OUT/bench.txt"
{
    echo
    echo "## Models (\`onnx-wgpu bench --backend $BACKEND --iterations $ITER --warmup $WARMUP\`)"
    echo
    sed -n '/^| model/,$p' "$OUT/bench.txt" | grep '^|'
    echo
    echo "Top ops by GPU time of one profiled run:"
    echo
    echo '```'
    grep -vE '^\||^exit' "$OUT/bench.txt"
    echo '```'
} >> "$S"

step "models, warm caches"
timeout 90 "$CLI" bench --backend "$BACKEND" $G/models/*/model.onnx --iterations 2 --warmup 0 \
    --json "$OUT/bench_warm.json" > "$OUT/bench_warm.txt" 2>&1
python3 - "$OUT/bench.json" "$OUT/bench_warm.json" >> "$S" <<'PY'
import json, sys
def load(p):
    try:
        return {r["model"]: r for r in json.load(open(p))["models"]}
    except Exception:
        return {}
cold, warm = load(sys.argv[1]), load(sys.argv[2])
print("\n## Session creation, cold vs warm caches (autotuner winners + Vulkan pipeline cache in $OUT/cache)\n")
print("| model | cold session ms | warm session ms | pipeline cache bytes loaded (warm) | matmul kernels |\n|---|---:|---:|---:|---|")
for m, r in cold.items():
    w = warm.get(m, {})
    mm = (w.get("matmul") or {})
    print(f"| {m} | {r.get('session_create_ms', float('nan')):.1f} | {w.get('session_create_ms', float('nan')):.1f} | "
          f"{mm.get('pipeline_cache_loaded_bytes', '')} | {', '.join(f'{k}×{n}' for k, n in (mm.get('kernels') or {}).items())} |")
print("\nAutotuner decisions (first, cold run):\n\n```")
for m, r in cold.items():
    for d in ((r.get("matmul") or {}).get("autotune") or []):
        print(f"{m}: {d['key'].split('|matmul|')[-1]} -> {d['winner']} ({d['how']}; {d['times_us']})")
print("```")
PY

step bandwidth
timeout 60 "$CLI" bench --backend "$BACKEND" $G/copy_bandwidth.onnx --iterations 3 --warmup 1 --json "$bin/bw.json" > /dev/null 2>&1
python3 - "$bin/bw.json" >> "$S" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))["models"][0]
except Exception as e:
    print(f"\n## Copy bandwidth\n\nno result ({e})"); sys.exit()
n = 1
for i in r["inputs"]:
    for d in i["shape"]:
        n *= d
neg = [o for o in r["top_ops"] if o["op"] == "Neg"]
print("\n## Copy bandwidth (8 chained Neg over %d float32, read + write per step)\n" % n)
if neg and neg[0]["ms"] > 0:
    o = neg[0]
    gbs = o["steps"] * 2 * 4 * n / (o["ms"] * 1e-3) / 1e9
    print(f"{o['steps']} steps in {o['ms']:.3f} ms of {o['clock']} time: **{gbs:.1f} GB/s** (the roofline's memory slope); "
          f"whole run {r['median_ms']:.2f} ms median (with the upload and read-back of {4 * n / 2**20:.0f} MiB)")
else:
    print("no Neg timings: " + str(r.get("profile_note")))
PY

step kernels
if [ "$KERNELS_FULL" = 1 ]; then export ONNX_WGPU_BENCH_FULL=1; fi
mkdir -p "$bin/crit" && (cd "$bin/crit" && timeout 170 "$bin/kernels" --bench "$KERNELS_FILTER" --warm-up-time 0.5 --measurement-time 1.5 --noplot) > "$OUT/kernels.txt" 2>&1
echo "exit $?" >> "$OUT/kernels.txt"
{
    echo
    echo "## Kernel microbenchmarks (criterion \`gemm\` group, ONNX_WGPU_BENCH_FULL=$KERNELS_FULL; a run includes A's upload and Y's read-back)"
    echo
    python3 scripts/criterion_table.py "$OUT/kernels.txt"
} >> "$S"

for v in $MATMUL_VARIANTS; do
    step "kernels, ONNX_WGPU_MATMUL=$v"
    (cd "$bin/crit" && ONNX_WGPU_MATMUL=$v timeout 45 "$bin/kernels" --bench 'gemm/f(32|16)' --warm-up-time 0.2 \
        --measurement-time 0.5 --noplot) > "$OUT/kernels_$v.txt" 2>&1
    echo "exit $?" >> "$OUT/kernels_$v.txt"
    {
        echo
        echo "### Float matmul forced to \`$v\` (ONNX_WGPU_MATMUL; where its grid does not fit, the default runs)"
        echo
        python3 scripts/criterion_table.py "$OUT/kernels_$v.txt"
    } >> "$S"
done
cp "$ONNX_WGPU_CACHE_DIR/autotune.json" "$OUT/" 2> /dev/null

step torch
if python3 -c 'import torch; assert torch.cuda.is_available()' 2> /dev/null; then
    timeout 60 python3 - >> "$S" 2>&1 <<'PY'
import torch, time
def t(f, n=20):
    f(); torch.cuda.synchronize()
    s = time.perf_counter()
    for _ in range(n): f()
    torch.cuda.synchronize()
    return (time.perf_counter() - s) / n
print(f"\n## PyTorch {torch.__version__} on {torch.cuda.get_device_name()} (same card, for ratios)\n")
print("| op | time | rate |\n|---|---:|---:|")
for (m, k, n) in [(1, 4096, 4096), (128, 4096, 4096), (512, 512, 512)]:
    for dt in (torch.float32, torch.float16):
        a, b = torch.randn(m, k, device="cuda", dtype=dt), torch.randn(k, n, device="cuda", dtype=dt)
        s = t(lambda: a @ b)
        print(f"| matmul {str(dt)[6:]} {m}x{k}x{n} | {s*1e3:.4f} ms | {2*m*k*n/s/1e9:.0f} GFLOP/s |")
x = torch.empty(1 << 26, device="cuda")
s = t(lambda: x.neg())
print(f"| neg 2^26 float32 | {s*1e3:.3f} ms | {2*4*(1<<26)/s/1e9:.0f} GB/s |")
PY
else
    echo -e "\n(no PyTorch with CUDA here: no reference figures)" >> "$S"
fi
step "done in $((SECONDS - start)) s"
rm -rf "$bin"
