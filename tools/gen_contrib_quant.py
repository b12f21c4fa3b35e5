#!/usr/bin/env python3
"""Generates tests/data/contrib_quant/<case>/: small models of ONNX Runtime's QOperator contrib ops
(domain com.microsoft) with reference outputs from ONNX Runtime's CPU provider (graph
optimizations off, so each op runs as its own kernel) on seeded random inputs, in ONNX's
backend-test layout (model.onnx + test_data_set_0/input_K.pb, output_K.pb).

Scales and zero points are initializers (as ORT's quantizer writes them); data inputs are graph
inputs. A case ORT rejects is reported and not written.

    python3 tools/gen_contrib_quant.py [OUT_DIR]   # default tests/data/contrib_quant
"""
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

MS = "com.microsoft"
NP2ONNX = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float16): TensorProto.FLOAT16,
           np.dtype(np.uint8): TensorProto.UINT8,
           np.dtype(np.int8): TensorProto.INT8, np.dtype(np.int32): TensorProto.INT32,
           np.dtype(np.int64): TensorProto.INT64}


def rand_q(rng, dt, shape):
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max + 1, size=shape).astype(dt)


def rand_w(rng, ta, tb, shape):
    """Weights B for A of type ta. For uint8 A with int8 B, 7-bit values in [-64, 63] (ORT's
    quantizer's reduce_range): MLAS's AVX2 u8s8 kernel adds pairs of u8·s8 products in
    saturating int16 (vpmaddubsw), so full-range int8 weights give hardware-dependent sums
    that are not the exact product these tests check."""
    if ta == np.uint8 and tb == np.int8:
        return rng.integers(-64, 64, size=shape).astype(tb)
    return rand_q(rng, tb, shape)


class Case:
    def __init__(self, name, op, attrs=None):
        self.name, self.op, self.attrs = name, op, attrs or {}
        self.node_inputs, self.graph_inputs, self.feeds, self.inits = [], [], {}, []

    def data(self, name, arr):
        self.node_inputs.append(name)
        self.graph_inputs.append(helper.make_tensor_value_info(name, NP2ONNX[arr.dtype], arr.shape))
        self.feeds[name] = arr
        return self

    def const(self, name, arr):
        self.node_inputs.append(name)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return self

    def const_proto(self, t):
        self.node_inputs.append(t.name)
        self.inits.append(t)
        return self

    def absent(self):
        self.node_inputs.append("")
        return self

    def build(self, out_dtype):
        node = helper.make_node(self.op, self.node_inputs, ["y"], domain=MS, **self.attrs)
        out = helper.make_tensor_value_info("y", out_dtype, None)
        g = helper.make_graph([node], self.name, self.graph_inputs, [out], initializer=self.inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)],
                                 ir_version=8)


def save_case(root, name, model, feeds, out_names=None, err_len=160, threads=None):
    """Runs `model` on ONNX Runtime's CPU provider (no graph optimizations; `threads` intra-op
    threads when given) and writes the case folder: model.onnx and test_data_set_0 with the
    inputs and ORT's outputs (named `out_names`, else "y"). A model ORT rejects is skipped, not
    a case."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if threads is not None:
        so.intra_op_num_threads = threads
    try:
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        outs = sess.run(None, feeds)
    except Exception as e:  # ORT rejects it: not a case
        print(f"skip {name}: {str(e).splitlines()[0][:err_len]}")
        return
    d = os.path.join(root, name)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    onnx.save(model, os.path.join(d, "model.onnx"))
    for k, (input_name, arr) in enumerate(feeds.items()):
        with open(os.path.join(d, "test_data_set_0", f"input_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(arr, input_name).SerializeToString())
    for k, arr in enumerate(outs):
        with open(os.path.join(d, "test_data_set_0", f"output_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(arr, out_names[k] if out_names else "y").SerializeToString())
    print(f"wrote {name}")


def write(root, case, out_dtype):
    save_case(root, case.name, case.build(out_dtype), case.feeds)


def f32(v):
    return np.array(v, dtype=np.float32)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data",
                                                               "contrib_quant")
    if os.path.isdir(root):
        shutil.rmtree(root)
    os.makedirs(root)
    rng = np.random.default_rng(20261127)
    ty = {np.uint8: TensorProto.UINT8, np.int8: TensorProto.INT8}

    # ---- QLinearSigmoid / QLinearLeakyRelu: a 256-entry table per (scales, zero points) ----
    for dt, tag in [(np.uint8, "u8"), (np.int8, "i8")]:
        for zp in [True, False]:
            c = Case(f"qlinear_sigmoid_{tag}{'' if zp else '_nozp'}", "QLinearSigmoid")
            c.data("x", rand_q(rng, dt, (2, 3, 43)))
            c.const("x_scale", f32(0.0625 if dt == np.uint8 else 0.047))
            c.const("x_zp", np.array(128 if dt == np.uint8 else -3, dt)) if zp else c.absent()
            c.const("y_scale", f32(1.0 / 256))
            # Absent zero points are written as empty names: ORT reads input 4's definition.
            c.const("y_zp", np.array(0 if dt == np.uint8 else -128, dt)) if zp else c.absent()
            write(root, c, ty[dt])
        for alpha in [None, 0.3]:
            c = Case(f"qlinear_leaky_relu_{tag}{'' if alpha is None else '_alpha'}", "QLinearLeakyRelu",
                     {} if alpha is None else {"alpha": alpha})
            c.data("x", rand_q(rng, dt, (4, 37)))
            c.const("x_scale", f32(0.1)).const("x_zp", np.array(120 if dt == np.uint8 else 5, dt))
            c.const("y_scale", f32(0.07)).const("y_zp", np.array(100 if dt == np.uint8 else -20, dt))
            write(root, c, ty[dt])

    # ---- QLinearConcat: (Y_scale, Y_zp, (X, X_scale, X_zp)...) ----
    for dt, tag, axis in [(np.uint8, "u8", 1), (np.int8, "i8", -1), (np.uint8, "u8_axis0", 0)]:
        c = Case(f"qlinear_concat_{tag}", "QLinearConcat", {"axis": axis})
        c.const("y_scale", f32(0.05)).const("y_zp", np.array(128 if dt == np.uint8 else 0, dt))
        shapes = {1: [(2, 3, 4), (2, 5, 4), (2, 1, 4)], -1: [(3, 2, 5), (3, 2, 3)], 0: [(1, 6), (3, 6), (2, 6)]}[axis]
        params = [(0.05, 128 if dt == np.uint8 else 0), (0.11, 100 if dt == np.uint8 else -7), (0.023, 3)]
        for k, shp in enumerate(shapes):
            s, z = params[k % 3]
            c.data(f"x{k}", rand_q(rng, dt, shp))
            c.const(f"x{k}_scale", f32(s)).const(f"x{k}_zp", np.array(z, dt))
        write(root, c, ty[dt])

    # ---- QLinearGlobalAveragePool: NCHW and channels_last ----
    for dt, tag in [(np.uint8, "u8"), (np.int8, "i8")]:
        for cl, shp in [(0, (2, 3, 5, 7)), (1, (2, 4, 6, 3)), (0, (1, 4, 9)), (1, (1, 3, 3, 1))]:
            name = f"qlinear_global_avg_pool_{tag}_{'nhwc' if cl else 'nchw'}_{'x'.join(map(str, shp))}"
            c = Case(name, "QLinearGlobalAveragePool", {"channels_last": cl})
            c.data("x", rand_q(rng, dt, shp))
            c.const("x_scale", f32(0.03)).const("x_zp", np.array(110 if dt == np.uint8 else -9, dt))
            c.const("y_scale", f32(0.02)).const("y_zp", np.array(125 if dt == np.uint8 else 4, dt))
            write(root, c, ty[dt])

    # ---- QGemm: A, a_scale, a_zp, B, b_scale, b_zp, C?, y_scale?, y_zp? ----
    gemm_cases = [
        # name, A type, B type, M, K, N, transA, transB, alpha, per-column B, C shape, quantized output
        ("qgemm_u8u8_bias_n_requant", np.uint8, np.uint8, 3, 7, 5, 0, 0, 1.0, False, (5,), True),
        ("qgemm_u8i8_transb_perchannel_requant", np.uint8, np.int8, 4, 9, 6, 0, 1, 1.0, True, (4, 6), True),
        ("qgemm_i8i8_transa_alpha_requant", np.int8, np.int8, 5, 6, 3, 1, 0, 0.5, False, (1, 3), True),
        ("qgemm_i8i8_perchannel_bias_m1_requant", np.int8, np.int8, 3, 8, 4, 0, 1, 1.0, True, (3, 1), True),
        ("qgemm_u8u8_float", np.uint8, np.uint8, 3, 10, 4, 0, 0, 1.0, False, None, False),
        ("qgemm_u8i8_perchannel_bias_float", np.uint8, np.int8, 2, 5, 6, 1, 1, 2.0, True, (6,), False),
        ("qgemm_i8i8_scalar_bias_float", np.int8, np.int8, 4, 4, 4, 0, 0, 1.0, False, (), False),
    ]
    for name, ta, tb, m, k, n, tra, trb, alpha, perc, cshape, quant in gemm_cases:
        c = Case(name, "QGemm", {"transA": tra, "transB": trb, "alpha": alpha})
        c.data("a", rand_q(rng, ta, (k, m) if tra else (m, k)))
        c.const("a_scale", f32(0.02)).const("a_zp", np.array(131 if ta == np.uint8 else -2, ta))
        c.data("b", rand_w(rng, ta, tb, (n, k) if trb else (k, n)))
        if perc:
            c.const("b_scale", rng.uniform(0.005, 0.03, n).astype(np.float32))
            c.const("b_zp", (rng.integers(120, 136, n) if tb == np.uint8 else np.zeros(n)).astype(tb))
        else:
            c.const("b_scale", f32(0.013)).const("b_zp", np.array(127 if tb == np.uint8 else 0, tb))
        if cshape is not None:
            c.const("c", rng.integers(-3000, 3000, cshape).astype(np.int32))
        elif quant:
            c.absent()
        if quant:
            c.const("y_scale", f32(0.5)).const("y_zp", np.array(120 if ta == np.uint8 else 3, ta))
        write(root, c, ty[ta] if quant else TensorProto.FLOAT)

    # ---- MatMulIntegerToFloat: A, B, a_scale, b_scale, a_zp?, b_zp?, bias? ----
    m2f = [
        ("matmul_integer_to_float_u8u8_zp", np.uint8, np.uint8, (2, 3, 8), (8, 5), False, True, False),
        ("matmul_integer_to_float_u8i8_perchannel_bias", np.uint8, np.int8, (4, 6), (6, 7), True, True, True),
        ("matmul_integer_to_float_u8u8_nozp_bias", np.uint8, np.uint8, (3, 5), (5, 4), False, False, True),
        ("matmul_integer_to_float_i8i8_zp", np.int8, np.int8, (2, 9), (9, 3), False, True, False),
        ("matmul_integer_to_float_u8u8_batched_b", np.uint8, np.uint8, (2, 3, 4), (2, 4, 5), False, True, False),
    ]
    for name, ta, tb, ash, bsh, perc, zp, bias in m2f:
        n = bsh[-1]
        c = Case(name, "MatMulIntegerToFloat")
        c.data("a", rand_q(rng, ta, ash)).data("b", rand_w(rng, ta, tb, bsh))
        c.const("a_scale", f32(0.031))
        c.const("b_scale", rng.uniform(0.01, 0.05, n).astype(np.float32) if perc else f32(0.017))
        if zp:
            c.const("a_zp", np.array(129 if ta == np.uint8 else 3, ta))
            if perc:
                c.const("b_zp", (rng.integers(120, 136, n) if tb == np.uint8 else rng.integers(-4, 5, n)).astype(tb))
            else:
                c.const("b_zp", np.array(125 if tb == np.uint8 else -1, tb))
        elif bias:
            c.absent().absent()
        if bias:
            c.const("bias", rng.uniform(-1, 1, n).astype(np.float32))
        write(root, c, TensorProto.FLOAT)

    # ---- DynamicQuantizeMatMul: A (float), B, b_scale, b_zp?, bias? ----
    dqm = [
        ("dynamic_quantize_matmul_u8_zp", np.uint8, (2, 3, 8), (8, 5), False, True, False),
        ("dynamic_quantize_matmul_i8_bias", np.int8, (4, 6), (6, 7), False, False, True),
        ("dynamic_quantize_matmul_i8_perchannel_zp_bias", np.int8, (3, 10), (10, 4), True, True, True),
        ("dynamic_quantize_matmul_u8_positive_input", np.uint8, (1, 16), (16, 8), False, True, False),
    ]
    for name, tb, ash, bsh, perc, zp, bias in dqm:
        n = bsh[-1]
        c = Case(name, "DynamicQuantizeMatMul")
        a = rng.uniform(-2, 3, ash).astype(np.float32)
        if "positive" in name:
            a = np.abs(a) + 0.5
        c.data("a", a).data("b", rand_w(rng, np.uint8, tb, bsh))
        c.const("b_scale", rng.uniform(0.01, 0.05, n).astype(np.float32) if perc else f32(0.021))
        if zp:
            if perc:
                c.const("b_zp", (rng.integers(120, 136, n) if tb == np.uint8 else rng.integers(-4, 5, n)).astype(tb))
            else:
                c.const("b_zp", np.array(130 if tb == np.uint8 else 2, tb))
        elif bias:
            c.absent()
        if bias:
            c.const("bias", rng.uniform(-1, 1, n).astype(np.float32))
        write(root, c, TensorProto.FLOAT)

    # ---- MatMulNBits: A, B (N, blocks, blob) uint8, scales, zero_points?, g_idx?, bias? ----
    # M = 1 rows exercise the GPU's GEMV kernel, M > 1 its tiled kernel.
    nbits = [
        # name, bits, A shape, K, N, block, zero points ("packed", "float" or None), bias
        ("matmul_nbits_4b_gemv_zp", 4, (1, 64), 64, 24, 32, "packed", False),
        ("matmul_nbits_4b_gemv_nozp_bias_k_tail", 4, (1, 1, 72), 72, 10, 16, None, True),
        ("matmul_nbits_4b_tiled_zp_bias", 4, (2, 9, 48), 48, 37, 16, "packed", True),
        ("matmul_nbits_4b_tiled_float_zp", 4, (5, 40), 40, 18, 32, "float", False),
        ("matmul_nbits_8b_gemv_zp", 8, (1, 48), 48, 12, 16, "packed", False),
        ("matmul_nbits_8b_tiled_nozp", 8, (3, 80), 80, 20, 32, None, True),
        ("matmul_nbits_2b_gemv_zp", 2, (1, 64), 64, 8, 32, "packed", False),
        ("matmul_nbits_2b_tiled_nozp", 2, (4, 96), 96, 17, 32, None, False),
    ]
    # g_idx (each row k's scale/zero-point group). Only without zero points or with float ones:
    # with uint8 zero points ORT 1.32's g_idx path ignores them (its reorder kernel never
    # assigns the unpacked zero point, so it dequantizes with 8), which is not the op's definition.
    nbits += [
        ("matmul_nbits_4b_gidx_nozp", 4, (3, 64), 64, 6, 16, None, False, "gidx"),
        ("matmul_nbits_4b_gidx_float_zp_bias", 4, (1, 48), 48, 5, 16, "float", True, "gidx"),
    ]
    nbits += [
        ("matmul_nbits_4b_gemv_f16_zp_bias", 4, (1, 64), 64, 12, 32, "packed", True, np.float16),
        ("matmul_nbits_4b_tiled_f16", 4, (3, 64), 64, 20, 16, None, False, np.float16),
    ]
    for name, bits, ash, k, n, block, zp, bias, *extra in nbits:
        ft = extra.pop() if extra and extra[-1] is np.float16 else np.float32
        nb = (k + block - 1) // block
        blob = block * bits // 8
        c = Case(name, "MatMulNBits", {"K": k, "N": n, "bits": bits, "block_size": block})
        c.data("a", rng.uniform(-1, 1, ash).astype(ft))
        c.const("b", rng.integers(0, 256, (n, nb, blob)).astype(np.uint8))
        c.const("scales", rng.uniform(0.01, 0.1, n * nb).astype(ft))
        if zp == "packed":
            c.const("zp", rng.integers(0, 256, n * ((nb * bits + 7) // 8)).astype(np.uint8))
        elif zp == "float":
            c.const("zp", rng.uniform(0, 2 ** bits - 1, n * nb).astype(np.float32))
        elif bias or extra:
            c.absent()
        if extra:
            c.const("g_idx", rng.integers(0, nb, k).astype(np.int32))
        elif bias:
            c.absent()
        if bias:
            c.const("bias", rng.uniform(-1, 1, n).astype(ft))
        write(root, c, TensorProto.FLOAT if ft == np.float32 else TensorProto.FLOAT16)

    # ---- GatherBlockQuantized: data, indices, scales, zero_points? ----
    gbq = [
        # name, data type, bits, logical data shape, gather_axis, quantize_axis, block, zp, indices, scale type
        ("gbq_u8_4b_zp_i64", "u8", 4, (10, 64), 0, 1, 32, True, np.array([[3, -1, 0], [9, 4, 3]], np.int64), np.float32),
        ("gbq_u8_4b_nozp_i32", "u8", 4, (6, 48), 0, 1, 16, False, np.array([5, 0, 2], np.int32), np.float32),
        ("gbq_u8_8b_zp", "u8", 8, (7, 40), 0, 1, 16, True, np.array([6, 1], np.int64), np.float32),
        ("gbq_u8_2b_zp", "u8", 2, (5, 64), 0, 1, 32, True, np.array([[4], [2]], np.int32), np.float32),
        ("gbq_u8_4b_zp_3d", "u8", 4, (4, 3, 32), 0, 2, 16, True, np.array([1, 3], np.int64), np.float32),
        ("gbq_u8_4b_out_of_range_index", "u8", 4, (4, 32), 0, 1, 16, True, np.array([1, 7, -9, 2], np.int64), np.float32),
        ("gbq_u8_4b_zp_f16_scales", "u8", 4, (8, 64), 0, 1, 32, True, np.array([7, 2, 2], np.int64), np.float16),
        ("gbq_int4_zp_axis0", "i4", 4, (9, 40), 0, 1, 16, True, np.array([8, 0, -2], np.int64), np.float32),
        ("gbq_int4_nozp", "i4", 4, (6, 32), 0, 1, 16, False, np.array([[1, 5]], np.int32), np.float32),
        ("gbq_uint4_zp_gather1_quant0", "u4", 4, (48, 5), 1, 0, 16, True, np.array([4, 1], np.int64), np.float32),
    ]
    for name, dt, bits, shape, ga, qa, block, zp, idx, st in gbq:
        comps = 8 // bits if dt == "u8" else 1
        c = Case(name, "GatherBlockQuantized",
                 {"gather_axis": ga, "quantize_axis": qa, "block_size": block, "bits": bits})
        sshape = list(shape)
        sshape[qa] = (shape[qa] + block - 1) // block
        if dt == "u8":
            pshape = list(shape)
            pshape[-1] //= comps
            c.const("data", rng.integers(0, 256, pshape).astype(np.uint8))
        else:
            lo, hi = (-8, 8) if dt == "i4" else (0, 16)
            code = TensorProto.INT4 if dt == "i4" else TensorProto.UINT4
            c.const_proto(helper.make_tensor("data", code, shape, rng.integers(lo, hi, shape).flatten().tolist()))
        c.data("indices", idx)
        c.const("scales", rng.uniform(0.01, 0.2, sshape).astype(st))
        if zp:
            if dt == "u8":
                zshape = list(sshape)
                zshape[-1] = (zshape[-1] + comps - 1) // comps
                c.const("zp", rng.integers(0, 256, zshape).astype(np.uint8))
            else:
                lo, hi = (-8, 8) if dt == "i4" else (0, 16)
                code = TensorProto.INT4 if dt == "i4" else TensorProto.UINT4
                c.const_proto(helper.make_tensor("zp", code, sshape, rng.integers(lo, hi, sshape).flatten().tolist()))
        write(root, c, TensorProto.FLOAT if st == np.float32 else TensorProto.FLOAT16)


if __name__ == "__main__":
    main()
