#!/usr/bin/env python3
"""Writes copy_bandwidth.onnx: a float32 vector of N elements through 8 chained Neg nodes (each
reads and writes N·4 bytes on the device). `onnx-wgpu bench --json` profiles it; the GPU time of
the Neg steps gives the device's streaming bandwidth for a roofline figure.

    python3 scripts/make_bandwidth_model.py OUT.onnx [N]
"""

import sys

import onnx
from onnx import TensorProto, helper

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 26
nodes = [helper.make_node("Neg", [f"x{i}"], [f"x{i + 1}"], name=f"neg{i}") for i in range(8)]
g = helper.make_graph(nodes, "copy_bandwidth", [helper.make_tensor_value_info("x0", TensorProto.FLOAT, [n])],
                      [helper.make_tensor_value_info("x8", TensorProto.FLOAT, [n])])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), out)
