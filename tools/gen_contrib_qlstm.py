#!/usr/bin/env python3
"""Generates tests/data/contrib_qlstm/<case>/: small models of ONNX Runtime's com.microsoft
DynamicQuantizeLSTM with reference outputs from ORT's CPU provider (graph optimizations off,
one intra-op thread: with several, ORT splits the batch across threads and quantizes each
chunk's hidden states on its own), in ONNX's backend-test layout (model.onnx +
test_data_set_0/input_K.pb, output_K.pb). A case ORT rejects is reported and not written.

W [dirs, input, 4*hidden] and R [dirs, hidden, 4*hidden] are quantized initializers with
per-direction or per-column scales; int8 weights are 7-bit ([-64, 63], as ORT's quantizer's
reduce_range writes them: MLAS's AVX2 u8*s8 kernel sums pairs of products in saturating int16),
uint8 weights use one zero point per direction (ORT requires it). X, sequence_lens and the
initial states are graph inputs; B and P initializers.

    python3 tools/gen_contrib_qlstm.py [OUT_DIR]   # default tests/data/contrib_qlstm
"""
import os
import shutil
import sys

import numpy as np
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_contrib_quant import MS, Case, save_case  # noqa: E402  (one Case builder for the generators)


def qweights(rng, wdt, dirs, k, n4, per_channel):
    """Quantized weights [dirs, k, n4] with scales and zero points ([dirs] or [dirs, n4])."""
    pshape = (dirs, n4) if per_channel else (dirs,)
    if wdt == np.int8:
        q = rng.integers(-64, 64, size=(dirs, k, n4)).astype(np.int8)
        zp = np.zeros(pshape, np.int8)
    else:
        q = rng.integers(0, 256, size=(dirs, k, n4)).astype(np.uint8)
        zd = rng.integers(110, 146, size=dirs).astype(np.uint8)
        zp = (np.repeat(zd[:, None], n4, axis=1) if per_channel else zd).astype(np.uint8)
        # Centred weights: about 64 steps either side of the zero point dominate.
        q = np.clip(zd[:, None, None].astype(np.int32) + rng.integers(-64, 64, size=(dirs, k, n4)), 0, 255)
        q = q.astype(np.uint8)
    scale = rng.uniform(0.6, 1.4, size=pshape).astype(np.float32) * np.float32(0.3 / 64)
    return q, scale.astype(np.float32), zp


def qlstm(root, rng, name, seq=3, batch=2, inp=4, hidden=4, direction="forward", wdt=np.int8,
          per_channel=False, bias=True, lens=None, init_h=False, init_c=False, peep=False, y=True, attrs=None):
    dirs = 2 if direction == "bidirectional" else 1
    n4 = 4 * hidden
    c = Case(name, "DynamicQuantizeLSTM", {"direction": direction, "hidden_size": hidden, **(attrs or {})})
    c.data("X", rng.standard_normal((seq, batch, inp)).astype(np.float32))
    w, ws, wz = qweights(rng, wdt, dirs, inp, n4, per_channel)
    r, rs, rz = qweights(rng, wdt, dirs, hidden, n4, per_channel)
    c.const("W", w).const("R", r)
    if bias:
        c.const("B", (rng.standard_normal((dirs, 2 * n4)) * 0.3).astype(np.float32))
    else:
        c.absent()
    if lens is not None:
        c.data("sequence_lens", np.array(lens, np.int32))
    else:
        c.absent()
    for flag, nm in [(init_h, "initial_h"), (init_c, "initial_c")]:
        if flag:
            c.data(nm, (rng.standard_normal((dirs, batch, hidden)) * 0.5).astype(np.float32))
        else:
            c.absent()
    if peep:
        c.const("P", (rng.standard_normal((dirs, 3 * hidden)) * 0.3).astype(np.float32))
    else:
        c.absent()
    c.const("W_scale", ws).const("W_zero_point", wz).const("R_scale", rs).const("R_zero_point", rz)
    outs = ["Y", "Y_h", "Y_c"]
    node_outs = outs if y else [""] + outs[1:]
    node = helper.make_node(c.op, c.node_inputs, node_outs, domain=MS, **c.attrs)
    graph_outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in node_outs if n]
    g = helper.make_graph([node], name, c.graph_inputs, graph_outs, initializer=c.inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)],
                              ir_version=8)
    save_case(root, name, model, c.feeds, [n for n in node_outs if n], err_len=200, threads=1)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data",
                                                               "contrib_qlstm")
    if os.path.isdir(root):
        shutil.rmtree(root)
    os.makedirs(root)
    rng = np.random.default_rng(20261127)
    qlstm(root, rng, "qlstm_fwd_i8_tensor", seq=4, batch=2, inp=5, hidden=4)
    qlstm(root, rng, "qlstm_fwd_i8_tensor_nobias_b1", seq=3, batch=1, inp=2, hidden=16, bias=False)
    qlstm(root, rng, "qlstm_fwd_u8_tensor_init", seq=3, batch=3, inp=4, hidden=5, wdt=np.uint8, init_h=True,
          init_c=True)
    qlstm(root, rng, "qlstm_fwd_i8_channel_peep", seq=4, batch=2, inp=3, hidden=6, per_channel=True, peep=True,
          init_h=True, init_c=True)
    qlstm(root, rng, "qlstm_rev_i8_channel_lens", seq=4, batch=3, inp=4, hidden=4, direction="reverse",
          per_channel=True, lens=[4, 1, 3], init_h=True)
    qlstm(root, rng, "qlstm_rev_u8_channel_peep", seq=3, batch=2, inp=5, hidden=3, direction="reverse",
          wdt=np.uint8, per_channel=True, peep=True, init_c=True)
    qlstm(root, rng, "qlstm_bidi_i8_tensor", seq=3, batch=2, inp=4, hidden=5, direction="bidirectional",
          init_h=True, init_c=True)
    qlstm(root, rng, "qlstm_bidi_u8_tensor_peep_lens", seq=5, batch=3, inp=3, hidden=4, direction="bidirectional",
          wdt=np.uint8, peep=True, lens=[5, 2, 0], init_h=True, init_c=True)
    qlstm(root, rng, "qlstm_bidi_i8_channel_lens", seq=4, batch=3, inp=6, hidden=5, direction="bidirectional",
          per_channel=True, lens=[2, 4, 3])
    qlstm(root, rng, "qlstm_bidi_i8_channel_lens_no_y", seq=4, batch=3, inp=6, hidden=5, direction="bidirectional",
          per_channel=True, lens=[2, 4, 3], init_h=True, y=False)
    qlstm(root, rng, "qlstm_fwd_u8_channel_clip_forget", seq=4, batch=2, inp=4, hidden=4, wdt=np.uint8,
          per_channel=True, init_c=True, attrs={"clip": 0.7, "input_forget": 1})
    qlstm(root, rng, "qlstm_fwd_i8_tensor_activations", seq=3, batch=2, inp=3, hidden=4, init_h=True,
          attrs={"activations": ["HardSigmoid", "Tanh", "Softsign"], "activation_alpha": [0.3],
                 "activation_beta": [0.45]})
    qlstm(root, rng, "qlstm_fwd_i8_channel_wide", seq=5, batch=5, inp=12, hidden=20, per_channel=True,
          peep=True, init_h=True, init_c=True, lens=[5, 3, 5, 1, 4])


if __name__ == "__main__":
    main()
