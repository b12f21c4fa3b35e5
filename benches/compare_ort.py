#!/usr/bin/env python3
"""Compares onnx-wgpu with ONNX Runtime on the same models and input shapes.

For each model: ONNX Runtime (CPU execution provider, graph optimizations ENABLE_ALL) with
intra-op threads 1 and 2, timed like `onnx-wgpu bench` (warm-up runs, then the median of the
timed runs) on seeded random inputs of the same shapes and ranges as onnx-wgpu's (floats
uniform in [-1, 1), integers and bools 0 or 1); then `onnx-wgpu bench --json` on the same
models (or the report given with --ours-json).
Prints a Markdown table: our median, ORT's medians, the ratios (ours / ORT: above 1 means ORT is
faster), and ORT's node count after ENABLE_ALL (the optimized model saved with
optimized_model_filepath) beside our dispatches per inference.

    python3 benches/compare_ort.py --backend cpu MODEL.onnx... [--bin target/release/onnx-wgpu]
        [--iterations 20] [--warmup 3] [--dim NAME=N]... [--json-out FILE] [--ours-json FILE]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort

ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def model_name(path):
    base = os.path.basename(path)
    return os.path.basename(os.path.dirname(os.path.abspath(path))) if base == "model.onnx" else os.path.splitext(base)[0]


def make_inputs(sess, dims, rng):
    feeds = {}
    for i in sess.get_inputs():
        shape = []
        for k, d in enumerate(i.shape):
            if isinstance(d, int):
                shape.append(d)
            elif isinstance(d, str) and d in dims:
                shape.append(dims[d])
            elif f"{i.name}:{k}" in dims:
                shape.append(dims[f"{i.name}:{k}"])
            else:
                sys.exit(f"input {i.name} dim {k} ({d}) is not known: give it with --dim")
        t = ORT_TYPES.get(i.type)
        if t is None:
            sys.exit(f"input {i.name}: cannot generate {i.type}")
        if t == np.bool_:
            feeds[i.name] = rng.integers(0, 2, size=shape).astype(np.bool_)
        elif np.issubdtype(t, np.floating):
            feeds[i.name] = rng.uniform(-1, 1, size=shape).astype(t)
        else:
            feeds[i.name] = rng.integers(0, 2, size=shape).astype(t)
    return feeds


def ort_median(path, threads, dims, iterations, warmup, optimized_path=None):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if optimized_path:
        so.optimized_model_filepath = optimized_path
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feeds = make_inputs(sess, dims, np.random.default_rng(1))
    for _ in range(warmup + 1):
        sess.run(None, feeds)
    lat = []
    for _ in range(iterations):
        t = time.perf_counter()
        sess.run(None, feeds)
        lat.append((time.perf_counter() - t) * 1e3)
    return statistics.median(lat)


def ort_nodes(optimized_path):
    m = onnx.load(optimized_path, load_external_data=False)
    return len(m.graph.node)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--backend", default="auto", choices=["auto", "gpu", "cpu"])
    ap.add_argument("--bin", default=os.path.join("target", "release", "onnx-wgpu"))
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--dim", action="append", default=[], metavar="NAME=N")
    ap.add_argument("--json-out", help="also write the rows as JSON")
    ap.add_argument("--ours-json", help="an existing `onnx-wgpu bench --json` report of these models: no bench run; "
                    "without it the bench's report is kept here when given a path that does not exist")
    a = ap.parse_args()
    dims = {}
    for d in a.dim:
        k, _, v = d.partition("=")
        dims[k] = int(v)

    with tempfile.TemporaryDirectory() as tmp:
        ours_json = a.ours_json or os.path.join(tmp, "ours.json")
        cmd = [a.bin, "bench", *a.models, "--backend", a.backend, "--iterations", str(a.iterations),
               "--warmup", str(a.warmup), "--json", ours_json]
        for d in a.dim:
            cmd += ["--dim", d]
        if not (a.ours_json and os.path.exists(a.ours_json)):
            print("$ " + " ".join(cmd), file=sys.stderr)
            subprocess.run(cmd, check=True, stdout=sys.stderr)
        with open(ours_json) as f:
            ours = {r["path"]: r for r in json.load(f)["models"]}

        rows = []
        for path in a.models:
            opt = os.path.join(tmp, model_name(path) + ".ort_opt.onnx")
            t1 = ort_median(path, 1, dims, a.iterations, a.warmup, opt)
            t2 = ort_median(path, 2, dims, a.iterations, a.warmup)
            r = ours[path]
            rows.append({
                "model": model_name(path), "backend": r["backend"], "adapter": r["adapter"],
                "ours_ms": r["median_ms"], "ort1_ms": t1, "ort2_ms": t2,
                "ratio1": r["median_ms"] / t1, "ratio2": r["median_ms"] / t2,
                "ort_nodes": ort_nodes(opt), "dispatches": r["dispatches"],
                "source_nodes": len(onnx.load(path, load_external_data=False).graph.node),
            })

    print(f"onnxruntime {ort.__version__} (CPU EP, ENABLE_ALL); ours: `onnx-wgpu bench --backend {a.backend}`; "
          f"median of {a.iterations} runs after {a.warmup} warm-up; ratio = ours / ORT (above 1: ORT is faster)")
    print()
    print("| model | ours (backend) ms | ORT 1 thread ms | ORT 2 threads ms | ours/ORT-1t | ours/ORT-2t "
          "| model nodes | ORT nodes (ENABLE_ALL) | our dispatches |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['ours_ms']:.2f} ({r['backend']}) | {r['ort1_ms']:.2f} | {r['ort2_ms']:.2f} "
              f"| {r['ratio1']:.2f} | {r['ratio2']:.2f} | {r['source_nodes']} | {r['ort_nodes']} | {r['dispatches']} |")
    if rows:
        print()
        print("adapter: " + rows[0]["adapter"])
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
