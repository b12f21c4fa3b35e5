#!/usr/bin/env python3
"""Generates tests/data/int8_ties/<case>/: cases where a quotient one ulp off changes a result,
with ONNX Runtime's CPU outputs (graph optimizations off) as the reference, in ONNX's backend-test
layout (model.onnx + test_data_set_0/input_K.pb, output_K.pb).

Found by tools/int8_bisect.py on vit_tiny-int8_qop: the GPU kernels divide with div_f32
(shaders/common.wgsl), whose FMA residual correction relied on fma() being fused; Mesa's
lavapipe does not fuse it, and 3 of the 192 requantization multipliers (a_scale * b_scale) /
y_scale of one QLinearMatMul came out one ulp high, which moved one near-tie output by a step.

  div_ieee_quotients       Div over seeded random f32 pairs (exponents -40..40) plus the three
                           multipliers: every quotient must be the IEEE one (compared exactly).
  qlinearmatmul_near_tie   QLinearMatMul with those scales (one column each) and an accumulator
                           of -16018 (K = 2, uint8 weights so ORT's U8U8 kernel is exact): the
                           vit column 70 output is -31.499996 before rounding -> 95, one ulp more in
                           the multiplier gives -31.5 -> 94.

    python3 tools/gen_int8_ties.py [OUT_DIR]   # default tests/data/int8_ties
"""
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

# vit_tiny-int8_qop node_MatMul_746/MatMulAddFusion_matmul_quant: A scale / zero point, the
# weight scales of columns 32, 70, 79 (the three multipliers lavapipe got wrong) and 0, 1, and
# the output scale / zero point.
SA, ZA = float.fromhex("0x1.c3b1bap-11"), 114
SB = [float.fromhex(h) for h in ("0x1.20e498p-11", "0x1.191848p-11", "0x1.19c8d6p-11", "0x1.054e94p-11",
                                  "0x1.e7cf90p-12")]
SY, ZY = float.fromhex("0x1.ec96f2p-13"), 126


def save(out, name, model, feeds):
    d = os.path.join(out, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    onnx.checker.check_model(model)
    path = os.path.join(d, "model.onnx")
    onnx.save(model, path)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    outs = s.run(None, feeds)
    for k, (name_in, v) in enumerate(feeds.items()):
        t = numpy_helper.from_array(v, name_in)
        open(os.path.join(d, "test_data_set_0", f"input_{k}.pb"), "wb").write(t.SerializeToString())
    for k, (o, v) in enumerate(zip(s.get_outputs(), outs)):
        t = numpy_helper.from_array(v, o.name)
        open(os.path.join(d, "test_data_set_0", f"output_{k}.pb"), "wb").write(t.SerializeToString())
    return outs


def div_case(out):
    rng = np.random.default_rng(7)
    n = 4096

    def gen():
        e = rng.integers(-40, 41, n).astype(np.float64)
        return (rng.choice([-1.0, 1.0], n) * rng.uniform(1.0, 2.0, n) * 2.0 ** e).astype(np.float32)

    a, b = gen(), gen()
    sa = np.float32(SA)
    for k, s in enumerate(SB[:3]):
        a[k] = sa * np.float32(s)
        b[k] = np.float32(SY)
    g = helper.make_graph([helper.make_node("Div", ["a", "b"], ["y"])], "div",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, [n]),
                           helper.make_tensor_value_info("b", TensorProto.FLOAT, [n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    (y,) = save(out, "div_ieee_quotients", m, {"a": a, "b": b})
    assert np.array_equal(y, a / b), "ORT's Div is not the IEEE quotient"


def qlinearmatmul_case(out):
    n = len(SB)
    # (240 - 114) * (1 - 128) + (130 - 114) * (127 - 128) = -16002 - 16 = -16018 in every column.
    a = np.array([[240, 130]], np.uint8)
    w = np.tile(np.array([[1], [127]], np.uint8), (1, n))
    inits = [numpy_helper.from_array(np.array(SA, np.float32), "a_scale"),
             numpy_helper.from_array(np.array(ZA, np.uint8), "a_zero_point"),
             numpy_helper.from_array(w, "b"),
             numpy_helper.from_array(np.array(SB, np.float32), "b_scale"),
             numpy_helper.from_array(np.full(n, 128, np.uint8), "b_zero_point"),
             numpy_helper.from_array(np.array(SY, np.float32), "y_scale"),
             numpy_helper.from_array(np.array(ZY, np.uint8), "y_zero_point")]
    node = helper.make_node("QLinearMatMul", ["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point",
                                              "y_scale", "y_zero_point"], ["y"])
    g = helper.make_graph([node], "qlinearmatmul", [helper.make_tensor_value_info("a", TensorProto.UINT8, [1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, n])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    (y,) = save(out, "qlinearmatmul_near_tie", m, {"a": a})
    assert y[0, 1] == 95, f"expected ORT's 95 in the near-tie column, got {y[0, 1]}"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data",
                                                             "int8_ties")
    os.makedirs(out, exist_ok=True)
    div_case(out)
    qlinearmatmul_case(out)
    print("wrote", sorted(os.listdir(out)))


if __name__ == "__main__":
    main()
