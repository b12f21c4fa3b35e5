#!/usr/bin/env python3
"""Generates tests/data/contrib_qattention/<case>/: small models of ONNX Runtime's quantized
transformer contrib ops QAttention and QEmbedLayerNormalization (domain com.microsoft) with
reference outputs from ORT's CPU provider (graph optimizations off), in ONNX's backend-test
layout (model.onnx + test_data_set_0/input_K.pb, output_K.pb). A case ORT rejects is reported
and not written.

Weights, scales and zero points are initializers; the quantized input, masks and past state are
graph inputs. int8 weights are 7-bit ([-64, 63], as ORT's quantizer's reduce_range writes them):
MLAS's AVX2 u8·s8 kernel sums pairs of products in saturating int16, so full-range int8 weights
give hardware-dependent results rather than the exact integer product.

    python3 tools/gen_contrib_qattention.py [OUT_DIR]   # default tests/data/contrib_qattention
"""
import os
import shutil
import sys

import numpy as np
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_contrib_quant import MS, Case, f32, save_case  # noqa: E402  (one Case builder for both generators)


def write(root, case, outputs):
    """outputs: [(name, onnx elem type)]."""
    node = helper.make_node(case.op, case.node_inputs, [n for n, _ in outputs], domain=MS, **case.attrs)
    outs = [helper.make_tensor_value_info(n, t, None) for n, t in outputs]
    g = helper.make_graph([node], case.name, case.graph_inputs, outs, initializer=case.inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)],
                              ir_version=8)
    save_case(root, case.name, model, case.feeds, [n for n, _ in outputs], err_len=200)


def qattention(root, rng, name, b=2, s=3, d_in=8, hidden=8, heads=2, wdt=np.uint8, mask=None, past=0,
               per_col_scale=False, per_col_zp=False, input_zp=True, weight_zp=True, present=False, attrs=None):
    """mask: None, '1d' (B end positions), '2b' (end + start), '2d' (B,T raw), '3d' (B,S,T raw)."""
    c = Case(name, "QAttention", {"num_heads": heads, **(attrs or {})})
    wo = 3 * hidden
    c.data("input", rng.integers(0, 256, size=(b, s, d_in)).astype(np.uint8))
    if wdt == np.uint8:
        w = rng.integers(0, 256, size=(d_in, wo)).astype(np.uint8)
        wzp = rng.integers(100, 156, size=wo).astype(np.uint8) if per_col_zp else np.array(128, np.uint8)
    else:
        w = rng.integers(-64, 64, size=(d_in, wo)).astype(np.int8)
        wzp = rng.integers(-5, 6, size=wo).astype(np.int8) if per_col_zp else np.array(1, np.int8)
    c.const("weight", w)
    c.const("bias", rng.standard_normal(wo).astype(np.float32) * 0.5)
    c.const("input_scale", f32(0.021))
    c.const("weight_scale", (rng.uniform(0.002, 0.01, size=wo).astype(np.float32) if per_col_scale else f32(0.0063)))
    t = past + s
    if mask is None:
        c.absent()
    elif mask == "1d":
        c.data("mask_index", rng.integers(1, t + 1, size=b).astype(np.int32))
    elif mask == "2b":
        end = rng.integers(2, t + 1, size=b)
        start = np.minimum(rng.integers(0, 2, size=b), end - 1)
        c.data("mask_index", np.concatenate([end, start]).astype(np.int32))
    elif mask == "2d":
        m = (rng.random((b, t)) > 0.3).astype(np.int32)
        m[:, 0] = 1
        c.data("mask_index", m)
    elif mask == "3d":
        m = (rng.random((b, s, t)) > 0.3).astype(np.int32)
        m[:, :, 0] = 1
        c.data("mask_index", m)
    c.const("input_zero_point", np.array(131, np.uint8)) if input_zp else c.absent()
    c.const("weight_zero_point", wzp) if weight_zp else c.absent()
    if past:
        c.data("past", rng.standard_normal((2, b, heads, past, hidden // heads)).astype(np.float32))
    outs = [("output", TensorProto.FLOAT)]
    if present or past:
        outs.append(("present", TensorProto.FLOAT))
    write(root, c, outs)


def qembed(root, rng, name, b=2, s=4, h=8, vocab=11, npos=6, nseg=2, dt=np.uint8, segment=True, mask=True):
    c = Case(name, "QEmbedLayerNormalization", {"epsilon": 1e-5})
    c.data("input_ids", rng.integers(0, vocab, size=(b, s)).astype(np.int32))
    c.data("segment_ids", rng.integers(0, nseg, size=(b, s)).astype(np.int32)) if segment else c.absent()
    lo, hi = (0, 256) if dt == np.uint8 else (-128, 128)
    q = lambda shape: rng.integers(lo, hi, size=shape).astype(dt)  # noqa: E731
    c.const("word_embedding", q((vocab, h)))
    c.const("position_embedding", q((npos, h)))
    c.const("segment_embedding", q((nseg, h))) if segment else c.absent()
    c.const("gamma", q(h))
    c.const("beta", q(h))
    if mask:
        m = np.ones((b, s), np.int32)
        m[0, s - 1] = 0
        if b > 1:
            m[1, s - 2:] = 0
        c.data("mask", m)
    else:
        c.absent()
    for t, sc in [("word", 0.013), ("position", 0.007), ("segment", 0.02), ("gamma", 0.009), ("beta", 0.004)]:
        c.const(f"{t}_scale", f32(sc)) if (segment or t != "segment") else c.absent()
    zp = (lambda v: np.array(v, dt))
    for t, z in [("word", 120), ("position", 130), ("segment", 128), ("gamma", 7), ("beta", 128)]:
        zv = z if dt == np.uint8 else z - 128
        c.const(f"{t}_zero_point", zp(zv)) if (segment or t != "segment") else c.absent()
    write(root, c, [("layernorm_out", TensorProto.FLOAT), ("mask_index_out", TensorProto.INT32)])


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data",
                                                               "contrib_qattention")
    if os.path.isdir(root):
        shutil.rmtree(root)
    os.makedirs(root)
    rng = np.random.default_rng(20261127)

    qattention(root, rng, "qattn_u8u8_b2")
    qattention(root, rng, "qattn_u8s8_b2", wdt=np.int8)
    qattention(root, rng, "qattn_u8u8_b1_no_zero_points", b=1, s=4, input_zp=False, weight_zp=False)
    qattention(root, rng, "qattn_u8u8_mask1d", mask="1d")
    qattention(root, rng, "qattn_u8s8_mask2b", mask="2b", s=4, wdt=np.int8)
    qattention(root, rng, "qattn_u8u8_mask2d", mask="2d")
    qattention(root, rng, "qattn_u8u8_mask3d", mask="3d")
    qattention(root, rng, "qattn_u8u8_unidirectional", s=4, attrs={"unidirectional": 1})
    qattention(root, rng, "qattn_u8u8_unidirectional_mask2d", s=4, mask="2d", attrs={"unidirectional": 1})
    qattention(root, rng, "qattn_u8u8_present", present=True)
    qattention(root, rng, "qattn_u8u8_past_present", s=1, past=3, mask="2d", attrs={"unidirectional": 1})
    qattention(root, rng, "qattn_u8s8_past_present_b3", b=3, s=2, past=2, wdt=np.int8)
    qattention(root, rng, "qattn_u8u8_percol_scale", per_col_scale=True)
    qattention(root, rng, "qattn_u8u8_percol_scale_zp", per_col_scale=True, per_col_zp=True)
    qattention(root, rng, "qattn_u8s8_percol_scale_zp", per_col_scale=True, per_col_zp=True, wdt=np.int8)
    qattention(root, rng, "qattn_u8u8_pruned_input_hidden", d_in=12, hidden=8, heads=4)
    qattention(root, rng, "qattn_u8u8_scale_attr", attrs={"scale": 0.2})
    qattention(root, rng, "qattn_u8u8_mask_filter", mask="2d", attrs={"mask_filter_value": -1000.0})

    qembed(root, rng, "qembed_u8_segment_mask")
    qembed(root, rng, "qembed_i8_segment_mask", dt=np.int8)
    qembed(root, rng, "qembed_u8_no_segment", segment=False)
    qembed(root, rng, "qembed_u8_no_mask_b3", b=3, s=3, mask=False)


if __name__ == "__main__":
    main()
