#!/usr/bin/env python3
"""Bisect an (int8) ONNX model to the first node where onnx-wgpu and ONNX Runtime disagree.

Usage:
    python3 tools/int8_bisect.py MODEL_DIR [--bin PATH] [--backend cpu|gpu] [--work DIR]
        [--steps N] [--float-tol T] [--show K] [--per-node] [--ort-u8u8]
        [--prefix-scan noopt|basic|extended|all] [--isolate NODE_NAME]

MODEL_DIR holds model.onnx and test_data_set_0/input_*.pb. Default binary /tmp/ow-main (a copy of
target/release/onnx-wgpu), default backend cpu (gpu: set VK_DRIVER_FILES for lavapipe; the
script defaults it to Mesa's lvp ICD).

Default (graph bisection): every node output becomes a graph output (elem types from onnx shape
inference, com.microsoft QLinear* types filled in from their zero points); the copy runs in ORT
(ORT_DISABLE_ALL, one thread: the setting of ref_ort_noopt) and in onnx-wgpu; the differing
tensors are listed in node order (integer tensors: max diff, values 1 step off, values more
than 1 step off) and the first node whose output differs by more than --steps (integers) or
--float-tol x range (floats) while its inputs matched is reported. Making every tensor an output
stops onnx-wgpu fusing across it: this mode runs unfused kernels (e.g. no DQ->MatMul->Q fusion).

--per-node: every node alone (one disconnected model, one run), each fed ORT's in-graph inputs,
compared with ORT's in-graph output: the local error of each kernel, free of compounding. Then,
for every u8 x s8 QLinearMatMul/MatMulInteger, exact integer arithmetic and a model of MLAS's
AVX2 (non-VNNI) U8S8 kernel (vpmaddubsw: adjacent k pairs summed into int16 WITH SATURATION)
are each compared with ORT's and ours.

--ort-u8u8: the ORT reference runs a re-encoding of the model where int8 weights (and their zero
points) of QLinearMatMul/MatMulInteger/QLinearConv/DequantizeLinear become uint8 (+128): the same
integers after zero-point subtraction, but ORT takes its U8U8 kernel, which does not saturate.

--prefix-scan LEVEL: fused-path bisection. The model is cut at one QuantizeLinear output (the cut
tensor the only graph output, so both engines fuse everything upstream as usual), and the first
cut where onnx-wgpu differs from ORT at optimization LEVEL is binary-searched.

--isolate NODE_NAME: that node alone as a one-node model with ORT's in-graph inputs; prints the
differing elements (ORT side on the u8u8 re-encoding with --ort-u8u8).

Example (the gpt2_small int8 QOperator finding):
    python3 tools/int8_bisect.py /work/corpus-extra/variants/gpt2_small-int8_qop --per-node
    python3 tools/int8_bisect.py /work/corpus-extra/variants/gpt2_small-int8_qop --per-node --ort-u8u8
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnx.utils
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper, shape_inference


def load_inputs(model_dir, graph):
    ds = os.path.join(model_dir, "test_data_set_0")
    feeds = {}
    init_names = {i.name for i in graph.initializer}
    real_inputs = [i for i in graph.input if i.name not in init_names]
    for k, inp in enumerate(real_inputs):
        t = onnx.TensorProto()
        with open(os.path.join(ds, f"input_{k}.pb"), "rb") as f:
            t.ParseFromString(f.read())
        name = t.name or inp.name
        feeds[name] = numpy_helper.to_array(t)
    return feeds


def elem_types(model):
    """Map tensor name -> onnx elem type, for every node output."""
    types = {}
    for vi in list(model.graph.input) + list(model.graph.output) + list(model.graph.value_info):
        if vi.type.tensor_type.elem_type:
            types[vi.name] = vi.type.tensor_type.elem_type
    for init in model.graph.initializer:
        types[init.name] = init.data_type
    for _ in range(20):
        m = onnx.ModelProto()
        m.CopyFrom(model)
        del m.graph.value_info[:]
        for name, t in types.items():
            if name in {i.name for i in m.graph.initializer}:
                continue
            m.graph.value_info.append(helper.make_tensor_value_info(name, t, None))
        try:
            inferred = shape_inference.infer_shapes(m, strict_mode=False)
        except Exception:
            inferred = m
        for vi in inferred.graph.value_info:
            if vi.type.tensor_type.elem_type:
                types.setdefault(vi.name, vi.type.tensor_type.elem_type)
        changed = False
        for n in model.graph.node:
            # contrib ops that shape inference does not know: output type from the y zero point
            zp_idx = {"QLinearAdd": 7, "QLinearMul": 7, "QLinearSoftmax": 4, "QLinearSigmoid": 4,
                      "QLinearLeakyRelu": 4, "QLinearAveragePool": 4, "QLinearGlobalAveragePool": 4,
                      "QLinearConcat": 2}.get(n.op_type)
            for o in n.output:
                if not o or o in types:
                    continue
                t = None
                if n.op_type == "DequantizeLinear" or n.op_type in ("DynamicQuantizeMatMul", "MatMulIntegerToFloat",
                                                                    "QAttention"):
                    t = TensorProto.FLOAT
                elif zp_idx is not None and len(n.input) > zp_idx and n.input[zp_idx] in types:
                    t = types[n.input[zp_idx]]
                if t:
                    types[o] = t
                    changed = True
        if not changed:
            break
    return types


def add_all_outputs(model, types):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    existing = {o.name for o in m.graph.output}
    missing = []
    for n in m.graph.node:
        for o in n.output:
            if not o or o in existing:
                continue
            if o not in types:
                missing.append(o)
                continue
            m.graph.output.append(helper.make_tensor_value_info(o, types[o], None))
            existing.add(o)
    return m, missing


def run_ort(path, feeds):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(names, feeds)))


def safe(name):
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def run_ours(binary, path, feeds, backend, work):
    outdir = os.path.join(work, f"ours_{backend}")
    os.makedirs(outdir, exist_ok=True)
    for f in os.listdir(outdir):
        os.remove(os.path.join(outdir, f))
    cmd = [binary, "run", path, "--backend", backend, "--output", outdir, "--iterations", "0"]
    for k, v in feeds.items():
        p = os.path.join(work, f"in_{safe(k)}.npy")
        np.save(p, v)
        cmd += ["--input", f"{k}={p}"]
    env = dict(os.environ)
    env.setdefault("VK_DRIVER_FILES", "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(f"onnx-wgpu failed ({r.returncode}):\n{r.stderr[-4000:]}")
    res = {}
    files = os.listdir(outdir)
    for f in files:
        if f.endswith(".npy"):
            res[f[:-4]] = np.load(os.path.join(outdir, f))
    return res


def get_ours(ours, name):
    if name in ours:
        return ours[name]
    return ours.get(safe(name))


def compare(a, b):
    """Return (max_abs, n_one_step, n_more, n_total, is_int)."""
    if a.shape != b.shape:
        return None
    if np.issubdtype(a.dtype, np.integer) or a.dtype == bool:
        d = np.abs(a.astype(np.int64) - b.astype(np.int64))
        return float(d.max(initial=0)), int((d == 1).sum()), int((d > 1).sum()), d.size, True
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    d = np.where(np.isnan(a) & np.isnan(b), 0, d)
    return float(np.nanmax(d, initial=0)), 0, 0, d.size, False


def bisect(model, ref, ours, steps, float_tol, show):
    exact = set(i.name for i in model.graph.initializer) | set(i.name for i in model.graph.input)
    first = None
    listed = 0
    for idx, n in enumerate(model.graph.node):
        inputs_exact = all((not i) or i in exact for i in n.input)
        for o in n.output:
            if not o or o not in ref:
                continue
            a, b = ref[o], get_ours(ours, o)
            if b is None:
                print(f"  [{idx}] {n.op_type} {n.name} -> {o}: missing in onnx-wgpu outputs")
                continue
            c = compare(a, b)
            if c is None:
                print(f"  [{idx}] {n.op_type} {n.name} -> {o}: shape {a.shape} vs {b.shape}")
                continue
            mx, one, more, tot, is_int = c
            if is_int:
                bad = mx > steps
                ok = mx == 0
            else:
                rng = float(np.abs(a).max(initial=0)) or 1.0
                bad = mx > float_tol * rng
                ok = bad is False
            if ok:
                exact.add(o)
            if mx > 0 and listed < show:
                tag = "int" if is_int else "f32"
                extra = f" 1-step={one} >1-step={more} of {tot}" if is_int else f" (range {np.abs(a).max():.4g})"
                print(f"  [{idx}] {n.op_type:<22} {n.name or '-'} -> {o} [{tag}] max_abs={mx:.4g}{extra}"
                      f"{'  inputs-identical' if inputs_exact else ''}")
                listed += 1
            if bad and inputs_exact and first is None:
                first = (idx, n, o, c)
    return first


def isolate(model, node_name, ref, types, binary, backend, work, u8u8=False):
    node = next(n for n in model.graph.node if n.name == node_name)
    inits = {i.name: i for i in model.graph.initializer}
    g_inputs, g_inits, feeds = [], [], {}
    for i in node.input:
        if not i:
            continue
        if i in inits:
            g_inits.append(inits[i])
        else:
            v = ref[i]
            g_inputs.append(helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape)))
            feeds[i] = v
    outs = [helper.make_tensor_value_info(o, types[o], None) for o in node.output if o]
    g = helper.make_graph([node], "isolated", g_inputs, outs, g_inits)
    m = helper.make_model(g, opset_imports=model.opset_import, ir_version=model.ir_version)
    path = os.path.join(work, "isolated.onnx")
    onnx.save(m, path)
    if u8u8:
        path_ref = os.path.join(work, "isolated_u8u8.onnx")
        onnx.save(to_u8u8(m)[0], path_ref)
    else:
        path_ref = path
    r = run_ort(path_ref, feeds)
    o = run_ours(binary, path, feeds, backend, work)
    for name in r:
        a, b = r[name], get_ours(o, name)
        c = compare(a, b)
        print(f"isolated {node.op_type} {node_name} -> {name}: ORT vs ours max_abs={c[0]} 1-step={c[1]} "
              f">1-step={c[2]} of {c[3]}")
        ref_graph = ref[name]
        c2 = compare(a, ref_graph)
        print(f"  isolated ORT vs in-graph ORT: max_abs={c2[0]} (sanity)")
        if c[0] > 0:
            diff = np.argwhere(a.astype(np.int64) != b.astype(np.int64))[:10]
            for ix in diff:
                t = tuple(ix)
                ins = []
                for i in node.input:
                    if i in feeds and feeds[i].shape == a.shape:
                        ins.append(f"{i[-20:]}={feeds[i][t]}")
                print(f"    at {t}: ORT={a[t]} ours={b[t]} {' '.join(ins)}")
    return r, o, feeds, node


def per_node(model, ref, types, binary, backend, work, feeds0):
    """Every node alone, fed ORT's in-graph inputs: one disconnected model, one run of each engine."""
    inits = {i.name for i in model.graph.initializer}
    nodes, g_inputs, outs, feeds, owner = [], [], [], {}, []
    for idx, n in enumerate(model.graph.node):
        if not all(o in ref for o in n.output if o):
            continue
        nn = onnx.NodeProto()
        nn.CopyFrom(n)
        nn.name = f"n{idx}_{n.name}"
        ok = True
        for k, i in enumerate(n.input):
            if not i or i in inits:
                continue
            v = ref.get(i, feeds0.get(i))
            if v is None:
                ok = False
                break
            nm = f"n{idx}_in{k}"
            nn.input[k] = nm
            g_inputs.append(helper.make_tensor_value_info(nm, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape)))
            feeds[nm] = v
        if not ok:
            continue
        for k, o in enumerate(n.output):
            if not o:
                continue
            nm = f"n{idx}_out{k}"
            nn.output[k] = nm
            outs.append(helper.make_tensor_value_info(nm, types[o], None))
            owner.append((nm, idx, n, o))
        nodes.append(nn)
    g = helper.make_graph(nodes, "per_node", g_inputs, outs, list(model.graph.initializer))
    m = helper.make_model(g, opset_imports=model.opset_import, ir_version=model.ir_version)
    path = os.path.join(work, "per_node.onnx")
    onnx.save(m, path)
    ours = run_ours(binary, path, feeds, backend, work)
    print("per-node (each node fed ORT's in-graph inputs; compared with ORT's in-graph output):")
    worst = []
    for nm, idx, n, o in owner:
        a, b = ref[o], get_ours(ours, nm)
        c = compare(a, b) if b is not None else None
        if c is None:
            print(f"  [{idx}] {n.op_type} {n.name}: missing/shape mismatch")
            continue
        mx, one, more, tot, is_int = c
        if mx > 0:
            if is_int:
                print(f"  [{idx}] {n.op_type:<22} {n.name} -> {o}: max_abs={mx:g} 1-step={one} >1-step={more} of {tot}")
            else:
                rng = float(np.abs(a).max(initial=0)) or 1.0
                print(f"  [{idx}] {n.op_type:<22} {n.name} -> {o} [f32]: max_abs={mx:.3g} rel-to-range={mx / rng:.2g}")
    return ours, owner


def u8s8_products(a, b, za, zb, saturate):
    """a [M,K] uint8, b [K,N] int8 -> int64 [M,N] of sum_k (a-za)(b-zb).

    saturate=True models MLAS's AVX2 (non-VNNI) U8S8 kernel: vpmaddubsw sums the products of
    adjacent k pairs (2i, 2i+1) of the raw u8/s8 values into int16 with saturation, before the
    int32 accumulation; the zero points are corrected afterwards from row/column sums."""
    a = a.astype(np.int32)
    b = b.astype(np.int32)
    m, k = a.shape
    n = b.shape[1]
    za = np.asarray(za, dtype=np.int64).reshape(-1)
    zb = np.asarray(zb, dtype=np.int64).reshape(-1)
    if not saturate:
        return (a.astype(np.int64) - za[:, None] if za.size == m else a.astype(np.int64) - za) @ (b.astype(np.int64) - zb)
    if k % 2:
        a = np.concatenate([a, np.zeros((m, 1), np.int32)], 1)
        b = np.concatenate([b, np.zeros((1, n), np.int32)], 0)
    out = np.zeros((m, n), np.int64)
    for j in range(0, n, 128):
        bj = b[:, j:j + 128]
        p = a[:, :, None] * bj[None, :, :]
        pairs = np.clip(p[:, 0::2] + p[:, 1::2], -32768, 32767)
        out[:, j:j + 128] = pairs.sum(1, dtype=np.int64)
    kk = k
    out -= za.reshape(-1, 1) * b[:kk].astype(np.int64).sum(0)[None, :] if za.size == m else za * b.astype(np.int64).sum(0)[None, :]
    out -= a.astype(np.int64).sum(1)[:, None] * zb[None, :]
    out += kk * (za.reshape(-1, 1) if za.size == m else za) * zb[None, :]
    return out


def requant(acc, scale, zp, dtype):
    info = np.iinfo(dtype)
    y = np.round(acc.astype(np.float32) * scale.astype(np.float32) + np.float32(zp))
    return np.clip(y, info.min, info.max).astype(dtype)


def explain_matmuls(model, ref, ours_pn, owner):
    """For u8 x s8 QLinearMatMul / MatMulInteger nodes: exact integer arithmetic vs the saturating
    MLAS AVX2 model, each compared with ORT and with onnx-wgpu (per-node run)."""
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    val = lambda name: inits[name] if name in inits else ref[name]
    print("u8 x s8 integer matmuls: exact arithmetic vs MLAS-AVX2 saturating model "
          "(values differing; 0 = identical):")
    tot = {"ort_exact": 0, "ort_sat": 0, "ours_exact": 0}
    for nm, idx, n, o in owner:
        if n.op_type not in ("QLinearMatMul", "MatMulInteger"):
            continue
        if n.op_type == "QLinearMatMul":
            a, sa, za, b, sb, zb, sy, zy = [val(i) for i in n.input[:8]]
        else:
            a, b = val(n.input[0]), val(n.input[1])
            za = val(n.input[2]) if len(n.input) > 2 and n.input[2] else np.zeros((), a.dtype)
            zb = val(n.input[3]) if len(n.input) > 3 and n.input[3] else np.zeros((), b.dtype)
        if a.dtype != np.uint8 or b.dtype != np.int8 or b.ndim != 2:
            continue
        a2 = a.reshape(-1, a.shape[-1])
        if np.asarray(za).size != 1:
            continue
        res = []
        for sat in (False, True):
            acc = u8s8_products(a2, b, za, zb, sat)
            if n.op_type == "QLinearMatMul":
                scale = (np.float32(sa) * sb.astype(np.float32) / np.float32(sy)).reshape(1, -1)
                y = requant(acc, scale, zy, ref[o].dtype)
            else:
                y = acc.astype(np.int32)
            res.append(y.reshape(ref[o].shape))
        exact, sat = res
        r, u = ref[o], get_ours(ours_pn, nm)
        ne = lambda x, y: int((x.astype(np.int64) != y.astype(np.int64)).sum())
        c = (ne(r, exact), ne(r, sat), ne(u, exact))
        tot["ort_exact"] += c[0]
        tot["ort_sat"] += c[1]
        tot["ours_exact"] += c[2]
        print(f"  [{idx}] {n.op_type} {n.name}: ORT!=exact {c[0]}, ORT!=saturating-model {c[1]}, "
              f"ours!=exact {c[2]} (of {r.size})")
    print("  (the numpy model rounds acc * f32(sa*sb/sy); a handful of near-ties can differ from both engines)")
    print(f"  total: ORT!=exact {tot['ort_exact']}, ORT!=saturating-model {tot['ort_sat']}, "
          f"ours!=exact {tot['ours_exact']}")


def to_u8u8(model):
    """Copy of the model where every int8 weight of QLinearMatMul / MatMulInteger / QLinearConv /
    DequantizeLinear (QDQ weights, so ORT's QDQ fusion picks U8U8) is re-encoded as uint8 (w + 128, zero point + 128): the same integers after zero-point subtraction,
    but ORT then takes its U8U8 kernel, which does not saturate. Used as an exact ORT reference."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    inits = {i.name: i for i in m.graph.initializer}
    slots = {"QLinearMatMul": (3, 5), "QLinearConv": (3, 5), "MatMulInteger": (1, 3), "DequantizeLinear": (0, 2)}
    done = {}
    for n in m.graph.node:
        if n.op_type not in slots:
            continue
        wi, zi = slots[n.op_type]
        w = n.input[wi]
        if w not in inits or inits[w].data_type != TensorProto.INT8:
            continue
        z = n.input[zi] if len(n.input) > zi and n.input[zi] else None
        if z is not None and z not in inits:
            continue
        if w not in done:
            arr = numpy_helper.to_array(inits[w]).astype(np.int16) + 128
            inits[w].CopyFrom(numpy_helper.from_array(arr.astype(np.uint8), w))
            done[w] = True
        if z is None:
            zname = w + "_u8zp"
            if zname not in inits:
                t = numpy_helper.from_array(np.array(128, np.uint8), zname)
                m.graph.initializer.append(t)
                inits[zname] = m.graph.initializer[-1]
            while len(n.input) <= zi:
                n.input.append("")
            n.input[zi] = zname
        elif z not in done:
            arr = numpy_helper.to_array(inits[z]).astype(np.int16) + 128
            inits[z].CopyFrom(numpy_helper.from_array(arr.astype(np.uint8), z))
            done[z] = True
    return m, len([k for k in done])


def run_ort_level(path, feeds, level):
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(names, feeds)))


def prefix_scan(model, types, feeds, binary, backend, work, u8u8, level):
    """Fused-path bisection: cut the model at one QuantizeLinear output T (T the only graph output,
    so both engines fuse everything upstream as usual) and binary-search the first T where
    onnx-wgpu differs from ORT (at optimization `level`, on the u8u8 re-encoding if asked)."""
    cands = [n.output[0] for n in model.graph.node if n.op_type == "QuantizeLinear"]
    ref_model = to_u8u8(model)[0] if u8u8 else model
    init_names = {i.name for i in model.graph.initializer}
    in_names = [i.name for i in model.graph.input if i.name not in init_names]
    cache = {}

    def diff_at(k):
        if k in cache:
            return cache[k]
        t = cands[k]
        res = []
        for tag, m in (("ref", ref_model), ("ours", model)):
            mm = onnx.ModelProto()
            mm.CopyFrom(m)
            del mm.graph.output[:]
            mm.graph.output.append(helper.make_tensor_value_info(t, types[t], None))
            mm = onnx.utils.Extractor(mm).extract_model(in_names, [t])
            path = os.path.join(work, f"prefix_{tag}.onnx")
            onnx.save(mm, path)
            if tag == "ref":
                res.append(run_ort_level(path, feeds, level)[t])
            else:
                res.append(get_ours(run_ours(binary, path, feeds, backend, work), t))
        c = compare(res[0], res[1])
        cache[k] = c
        print(f"  cut at #{k} {t}: max_abs={c[0]:g} 1-step={c[1]} >1-step={c[2]} of {c[3]}", flush=True)
        return c

    lo, hi = 0, len(cands) - 1
    if diff_at(hi)[0] == 0:
        print("prefix scan: last QuantizeLinear output matches")
        return
    while lo < hi:
        mid = (lo + hi) // 2
        if diff_at(mid)[0] > 0:
            hi = mid
        else:
            lo = mid + 1
    print(f"prefix scan: first differing QuantizeLinear output #{lo} {cands[lo]}: {cache.get(lo)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--bin", default="/tmp/ow-main")
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--work", default=None)
    ap.add_argument("--steps", type=int, default=1, help="integer tolerance in quantization steps")
    ap.add_argument("--float-tol", type=float, default=1e-5, help="float tolerance relative to the tensor's range")
    ap.add_argument("--show", type=int, default=40, help="how many differing tensors to list")
    ap.add_argument("--per-node", action="store_true", help="also run every node alone on ORT's inputs")
    ap.add_argument("--ort-u8u8", action="store_true",
                    help="reference = ORT on the model with int8 weights re-encoded as uint8 (no saturation)")
    ap.add_argument("--prefix-scan", choices=["noopt", "basic", "extended", "all"], default=None,
                    help="fused-path bisection against ORT at this optimization level (see prefix_scan)")
    ap.add_argument("--isolate", default=None, help="node name to re-run alone with ORT's inputs")
    args = ap.parse_args()

    work = args.work or tempfile.mkdtemp(prefix="int8_bisect_")
    os.makedirs(work, exist_ok=True)
    model = onnx.load(os.path.join(args.model_dir, "model.onnx"))
    feeds = load_inputs(args.model_dir, model.graph)
    types = elem_types(model)
    full, missing = add_all_outputs(model, types)
    if missing:
        print(f"note: no type for {len(missing)} tensors (not compared): {missing[:5]}")
    path = os.path.join(work, "all_outputs.onnx")
    onnx.save(full, path)
    print(f"model with {len(full.graph.output)} outputs: {path}")
    if args.ort_u8u8:
        full_u8, nw = to_u8u8(full)
        path_u8 = os.path.join(work, "all_outputs_u8u8.onnx")
        onnx.save(full_u8, path_u8)
        print(f"reference: ORT on the u8u8 re-encoding ({nw} int8 weights/zero points re-encoded)")
        ref = run_ort(path_u8, feeds)
    else:
        ref = run_ort(path, feeds)
    ours = run_ours(args.bin, path, feeds, args.backend, work)
    final = model.graph.output[0].name
    c = compare(ref[final], get_ours(ours, final))
    print(f"final output {final}: max_abs={c[0]:.4g}")
    first = bisect(model, ref, ours, args.steps, args.float_tol, args.show)
    if first is None:
        print("no node diverges beyond tolerance with identical inputs")
    else:
        idx, n, o, c = first
        print(f"FIRST divergence with identical inputs: node [{idx}] {n.op_type} '{n.name}' output {o}: "
              f"max_abs={c[0]} 1-step={c[1]} >1-step={c[2]} of {c[3]}")
    if args.prefix_scan:
        level = {"noopt": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                 "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                 "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                 "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[args.prefix_scan]
        prefix_scan(model, types, feeds, args.bin, args.backend, work, args.ort_u8u8, level)
    if args.per_node:
        ours_pn, owner = per_node(model, ref, types, args.bin, args.backend, work, feeds)
        explain_matmuls(model, ref, ours_pn, owner)
    if args.isolate:
        isolate(model, args.isolate, ref, types, args.bin, args.backend, work, args.ort_u8u8)


if __name__ == "__main__":
    main()
