#!/usr/bin/env python3
"""Generates the com.microsoft attention test cases under tests/data/contrib_attention/.

Each case is a one-node model (MultiHeadAttention, GroupQueryAttention, RotaryEmbedding or
Attention with past/present, domain com.microsoft) run by ONNX Runtime's CPU provider on seeded
random inputs; the folder holds `model.onnx` and `test_data_set_0/{input,output}_K.pb` in the
ONNX backend-test layout. A case that ONNX Runtime rejects is reported and not written (so
MultiHeadAttention's packed QKV / packed KV forms, which ORT's CPU provider does not implement,
have no cases). Cases whose later outputs the operator leaves unspecified (GQA's present caches
of a ragged batch) get reference data for the leading outputs only.

    python3 tools/gen_contrib_attention.py [--out tests/data/contrib_attention]
"""

import argparse
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

F32 = TensorProto.FLOAT
I32 = TensorProto.INT32
I64 = TensorProto.INT64
NP = {F32: np.float32, I32: np.int32, I64: np.int64}


class Case:
    def __init__(self, name, op, attrs, inputs, outputs, expect=None, cast_i64=()):
        """inputs: list of (name, elem_type, array) or None for an absent optional input;
        outputs: list of (name, elem_type, rank) or None for an absent optional output;
        expect: how many leading outputs get reference data (default all: later ones are
        unspecified by the operator); cast_i64: int32 inputs that the model takes as int64
        graph inputs `<name>_i64` and casts to int32 before the node (as ORT's transformer
        exports do)."""
        self.name, self.op, self.attrs, self.inputs, self.outputs = name, op, attrs, inputs, outputs
        self.expect, self.cast_i64 = expect, cast_i64


def graph_inputs(case):
    """(graph input name, elem type, array) of each given input, int64 for the cast ones."""
    out = []
    for n, t, a in (i for i in case.inputs if i):
        if n in case.cast_i64:
            out.append((n + "_i64", I64, a))
        else:
            out.append((n, t, a))
    return out


def rnd(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def build(case):
    node_in = [i[0] if i is not None else "" for i in case.inputs]
    while node_in and node_in[-1] == "":
        node_in.pop()
    node_out = [o[0] if o is not None else "" for o in case.outputs]
    while node_out and node_out[-1] == "":
        node_out.pop()
    node = helper.make_node(case.op, node_in, node_out, domain="com.microsoft", **case.attrs)
    casts = [helper.make_node("Cast", [n + "_i64"], [n], to=I32) for n in case.cast_i64]
    g_in = [helper.make_tensor_value_info(n, t, list(a.shape)) for n, t, a in graph_inputs(case)]
    g_out = [helper.make_tensor_value_info(n, t, None) for n, t, _ in (o for o in case.outputs if o)]
    graph = helper.make_graph(casts + [node], case.name, g_in, g_out)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    model.ir_version = 8
    return model


def run(case, out_root):
    model = build(case)
    feeds = {n: a.astype(NP[t]) for n, t, a in graph_inputs(case)}
    try:
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        outs = sess.run(None, feeds)
    except Exception as e:  # ORT rejects the combination: not a case.
        print(f"skip {case.name}: ORT: {str(e).splitlines()[0][:200]}", file=sys.stderr)
        return False
    d = os.path.join(out_root, case.name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(os.path.join(d, "test_data_set_0"))
    onnx.save(model, os.path.join(d, "model.onnx"))
    k = 0
    for n, _, a in graph_inputs(case):
        t = numpy_helper.from_array(feeds[n], n)
        with open(os.path.join(d, "test_data_set_0", f"input_{k}.pb"), "wb") as f:
            f.write(t.SerializeToString())
        k += 1
    names = [o[0] for o in case.outputs if o][: case.expect]
    for k, (n, a) in enumerate(zip(names, outs)):
        t = numpy_helper.from_array(np.asarray(a), n)
        with open(os.path.join(d, "test_data_set_0", f"output_{k}.pb"), "wb") as f:
            f.write(t.SerializeToString())
    print(f"ok   {case.name}")
    return True


def f(name, a):
    return (name, F32, a)


def i32(name, a):
    return (name, I32, np.asarray(a, dtype=np.int32))


def i64(name, a):
    return (name, I64, np.asarray(a, dtype=np.int64))


def o(name):
    return (name, F32, None)


# ---- RotaryEmbedding ------------------------------------------------------------------------


def rotary_cases(rng):
    b, s, n, h, max_s = 2, 3, 2, 8, 10
    ang = rng.uniform(0, 3, (max_s, h // 2)).astype(np.float32)
    cos, sin = np.cos(ang), np.sin(ang)
    pos = rng.integers(0, max_s, (b, s))
    out = []
    for inter in (0, 1):
        out.append(
            Case(
                f"rotary_3d_pos2d_inter{inter}",
                "RotaryEmbedding",
                {"interleaved": inter},
                [f("x", rnd(rng, b, s, n * h)), i64("pos", pos), f("cos", cos), f("sin", sin)],
                [o("y")],
            )
        )
        out.append(
            Case(
                f"rotary_4d_inter{inter}",
                "RotaryEmbedding",
                {"interleaved": inter},
                [f("x", rnd(rng, b, n, s, h)), i64("pos", pos), f("cos", cos), f("sin", sin)],
                [o("y")],
            )
        )
    out.append(
        Case(
            "rotary_3d_pos_offset",
            "RotaryEmbedding",
            {},
            [f("x", rnd(rng, b, s, n * h)), i64("pos", [4]), f("cos", cos), f("sin", sin)],
            [o("y")],
        )
    )
    h16 = lambda a: ("x", TensorProto.FLOAT16, a.astype(np.float16))
    c16 = lambda n_, a: (n_, TensorProto.FLOAT16, a.astype(np.float16))
    for inter in (0, 1):
        out.append(
            Case(
                f"rotary_f16_3d_inter{inter}",
                "RotaryEmbedding",
                {"interleaved": inter},
                [h16(rnd(rng, b, s, n * h)), i64("pos", pos), c16("cos", cos), c16("sin", sin)],
                [("y", TensorProto.FLOAT16, None)],
            )
        )
    out.append(
        Case(
            "rotary_4d_pos_offset_inter1",
            "RotaryEmbedding",
            {"interleaved": 1},
            [f("x", rnd(rng, b, n, s, h)), i64("pos", [2]), f("cos", cos), f("sin", sin)],
            [o("y")],
        )
    )
    rd = 4
    for inter in (0, 1):
        out.append(
            Case(
                f"rotary_partial_dim_inter{inter}",
                "RotaryEmbedding",
                {"interleaved": inter, "num_heads": n, "rotary_embedding_dim": rd},
                [
                    f("x", rnd(rng, b, s, n * h)),
                    i64("pos", pos),
                    f("cos", cos[:, : rd // 2].copy()),
                    f("sin", sin[:, : rd // 2].copy()),
                ],
                [o("y")],
            )
        )
    return out


# ---- MultiHeadAttention ---------------------------------------------------------------------


def mha_cases(rng):
    b, s, l, n, h, p = 2, 3, 4, 2, 4, 2
    d = n * h
    q = lambda: f("q", rnd(rng, b, s, d))
    k = lambda L=l: f("k", rnd(rng, b, L, d))
    v = lambda L=l: f("v", rnd(rng, b, L, d))
    A = {"num_heads": n}
    out = [
        Case("mha_cross", "MultiHeadAttention", A, [q(), k(), v()], [o("y")]),
        Case("mha_bias", "MultiHeadAttention", A, [q(), k(), v(), f("bias", rnd(rng, 3 * d))], [o("y")]),
        Case("mha_scale", "MultiHeadAttention", {**A, "scale": 0.3}, [q(), k(), v()], [o("y")]),
        Case(
            "mha_vsize",
            "MultiHeadAttention",
            A,
            [q(), k(), f("v", rnd(rng, b, l, 2 * d))],
            [o("y")],
        ),
        Case(
            "mha_cross_bnsh",
            "MultiHeadAttention",
            A,
            [q(), f("k", rnd(rng, b, n, l, h)), f("v", rnd(rng, b, n, l, h))],
            [o("y")],
        ),
        Case(
            "mha_cross_bnsh_bias",
            "MultiHeadAttention",
            A,
            [q(), f("k", rnd(rng, b, n, l, h)), f("v", rnd(rng, b, n, l, h)), f("bias", rnd(rng, 3 * d))],
            [o("y")],
        ),
        Case(
            "mha_kpm_1d",
            "MultiHeadAttention",
            A,
            [q(), k(), v(), None, i32("kpm", [2, 4])],
            [o("y")],
        ),
        Case(
            "mha_kpm_3b2",
            "MultiHeadAttention",
            A,
            [q(), k(), v(), None, i32("kpm", [3, 1, 0, 0, 2, 2, 4, 4])],
            [o("y")],
        ),
        Case(
            "mha_kpm_2d",
            "MultiHeadAttention",
            A,
            [q(), k(), v(), None, i32("kpm", [[1, 1, 0, 1], [1, 0, 1, 1]])],
            [o("y")],
        ),
        Case(
            "mha_kpm_2d_filter",
            "MultiHeadAttention",
            {**A, "mask_filter_value": -2.0},
            [q(), k(), v(), None, i32("kpm", [[1, 1, 0, 1], [1, 0, 1, 1]])],
            [o("y")],
        ),
        Case(
            "mha_kpm_3d",
            "MultiHeadAttention",
            A,
            [q(), k(), v(), None, i32("kpm", rng.integers(0, 2, (b, s, l)))],
            [o("y")],
        ),
        Case(
            "mha_attn_bias_1n",
            "MultiHeadAttention",
            A,
            [q(), k(), v(), None, None, f("ab", rnd(rng, 1, n, s, l))],
            [o("y")],
        ),
        Case(
            "mha_attn_bias_b1",
            "MultiHeadAttention",
            A,
            [q(), k(), v(), None, None, f("ab", rnd(rng, b, 1, s, l))],
            [o("y")],
        ),
        Case(
            "mha_unidirectional",
            "MultiHeadAttention",
            {**A, "unidirectional": 1},
            [q(), k(s), v(s)],
            [o("y")],
        ),
    ]
    # Self attention with a KV cache.
    pk, pv = f("pk", rnd(rng, b, n, p, h)), f("pv", rnd(rng, b, n, p, h))
    t = p + s
    out += [
        Case(
            "mha_past",
            "MultiHeadAttention",
            A,
            [q(), k(s), v(s), None, None, None, pk, pv],
            [o("y"), o("present_key"), o("present_value")],
        ),
        Case(
            "mha_past_bias_causal",
            "MultiHeadAttention",
            {**A, "unidirectional": 1},
            [q(), k(s), v(s), f("bias", rnd(rng, 3 * d)), None, None, pk, pv],
            [o("y"), o("present_key"), o("present_value")],
        ),
        Case(
            "mha_past_kpm_2d_total",
            "MultiHeadAttention",
            A,
            [q(), k(s), v(s), None, i32("kpm", [[0, 1, 1, 1, 1], [1, 1, 1, 0, 1]]), None, pk, pv],
            [o("y"), o("present_key"), o("present_value")],
        ),
        Case(
            "mha_past_attn_bias",
            "MultiHeadAttention",
            A,
            [q(), k(s), v(s), None, None, f("ab", rnd(rng, b, n, s, t)), pk, pv],
            [o("y"), o("present_key"), o("present_value")],
        ),
        Case(
            "mha_past_kpm_1d_bias_causal_scale",
            "MultiHeadAttention",
            {**A, "unidirectional": 1, "scale": 0.4},
            [q(), k(s), v(s), None, i32("kpm", [5, 4]), f("ab", rnd(rng, 1, 1, s, t)), pk, pv],
            [o("y"), o("present_key"), o("present_value")],
        ),
        Case(
            "mha_kpm_2d_attn_bias",
            "MultiHeadAttention",
            A,
            [q(), k(), v(), None, i32("kpm", [[1, 1, 1, 0], [0, 1, 1, 1]]), f("ab", rnd(rng, b, n, s, l))],
            [o("y")],
        ),
        Case(
            "mha_cross_bnsh_kpm",
            "MultiHeadAttention",
            A,
            [q(), f("k", rnd(rng, b, n, l, h)), f("v", rnd(rng, b, n, l, h)), None, i32("kpm", [3, 4])],
            [o("y")],
        ),
        Case(
            "mha_decode_causal",
            "MultiHeadAttention",
            {**A, "unidirectional": 1},
            [f("q", rnd(rng, b, 1, d)), k(1), v(1), None, None, None, pk, pv],
            [o("y"), o("present_key"), o("present_value")],
        ),
    ]
    return out


# ---- GroupQueryAttention --------------------------------------------------------------------


def gqa_cases(rng):
    b, n, max_s = 2, 4, 8
    A = {"num_heads": n}
    out = []

    def caches(h):
        ang = rng.uniform(0, 3, (max_s, h // 2)).astype(np.float32)
        return [f("cos", np.cos(ang)), f("sin", np.sin(ang))]

    def qkv(batch, s, h, kvn, packed):
        d, kvd = n * h, kvn * h
        if packed:
            return [f("qkv", rnd(rng, batch, s, d + 2 * kvd)), None, None]
        return [f("q", rnd(rng, batch, s, d)), f("k", rnd(rng, batch, s, kvd)), f("v", rnd(rng, batch, s, kvd))]

    def prompt(name, attrs, s=3, h=8, kvn=2, rotary=False, packed=False, batch=b, extra=()):
        # ORT's CPU rotary needs a head size that is a multiple of 16.
        h = 16 if rotary else h
        ins = qkv(batch, s, h, kvn, packed)
        ins += [None, None, i32("seqlens_k", [s - 1] * batch), i32("total_seq", s)]
        ins += caches(h) if rotary else ([None, None] if extra else [])
        ins += list(extra)
        attrs = {**A, "kv_num_heads": kvn, **attrs}
        return Case(name, "GroupQueryAttention", attrs, ins, [o("y"), o("present_key"), o("present_value")])

    def decode(name, attrs, p=3, s=1, h=8, kvn=2, rotary=False, packed=False, batch=b, seqlens=None, expect=None):
        h = 16 if rotary else h
        ins = qkv(batch, s, h, kvn, packed)
        ins += [f("pk", rnd(rng, batch, kvn, p, h)), f("pv", rnd(rng, batch, kvn, p, h))]
        sl = seqlens if seqlens is not None else [p + s - 1] * batch
        ins += [i32("seqlens_k", sl), i32("total_seq", max(sl) + 1)]
        ins += caches(h) if rotary else []
        outs = [o("y"), o("present_key"), o("present_value")]
        return Case(name, "GroupQueryAttention", {**A, "kv_num_heads": kvn, **attrs}, ins, outs, expect)

    out += [
        prompt("gqa_prompt", {}),
        prompt("gqa_prompt_mqa", {}, kvn=1),
        prompt("gqa_prompt_packed", {}, packed=True),
        prompt("gqa_prompt_rotary", {"do_rotary": 1}, rotary=True),
        prompt("gqa_prompt_rotary_interleaved", {"do_rotary": 1, "rotary_interleaved": 1}, rotary=True),
        prompt("gqa_prompt_packed_rotary", {"do_rotary": 1}, rotary=True, packed=True),
        prompt("gqa_prompt_local_window", {"local_window_size": 2}, s=5),
        prompt("gqa_prompt_softcap", {"softcap": 1.5}),
        prompt("gqa_prompt_scale", {"scale": 0.2}),
        prompt("gqa_prompt_not_causal", {"causal": 0}),
        prompt("gqa_prompt_attn_bias", {}, extra=[None, f("ab", rnd(rng, 1, n, 3, 3))]),
        prompt("gqa_prompt_rotary_position_ids", {"do_rotary": 1}, rotary=True, extra=[i64("pos_ids", [[2, 3, 4], [0, 1, 2]])]),
        decode("gqa_decode", {}),
        decode("gqa_decode_window_softcap_mqa", {"local_window_size": 3, "softcap": 1.0}, p=4, kvn=1),
        decode("gqa_decode_mha", {}, kvn=4),
        decode("gqa_decode_packed", {}, packed=True),
        decode("gqa_decode_rotary", {"do_rotary": 1}, rotary=True),
        decode("gqa_decode_rotary_interleaved", {"do_rotary": 1, "rotary_interleaved": 1}, rotary=True),
        decode("gqa_decode_packed_rotary", {"do_rotary": 1}, rotary=True, packed=True),
        decode("gqa_decode_local_window", {"local_window_size": 2}, p=4),
        decode("gqa_decode_softcap", {"softcap": 2.0}),
        decode("gqa_chunk_with_past", {}, p=2, s=3, batch=1),
        decode("gqa_chunk_with_past_rotary", {"do_rotary": 1}, p=2, s=2, batch=1, rotary=True),
        # Ragged batch: entry 1 has fewer cached tokens. The present caches are declared (ORT
        # computes a different output without them) but their rows past an entry's length are
        # unspecified, so only the output is compared.
        decode("gqa_decode_ragged", {}, p=3, seqlens=[3, 2], expect=1),
        decode("gqa_decode_ragged_rotary", {"do_rotary": 1}, p=3, seqlens=[3, 1], rotary=True, expect=1),
    ]
    return out


# ---- Attention with past/present ------------------------------------------------------------


def attention_cases(rng):
    b, s, n, h, p, hin = 2, 3, 2, 4, 2, 6
    d = n * h
    x = lambda S=s: f("x", rnd(rng, b, S, hin))
    w = lambda: f("w", rnd(rng, hin, 3 * d) * 0.5)
    bias = lambda: f("bias", rnd(rng, 3 * d))
    past = lambda: f("past", rnd(rng, 2, b, n, p, h))
    A = {"num_heads": n}
    outs = [o("y"), o("present")]
    t = p + s
    return [
        Case("attn_past", "Attention", A, [x(), w(), bias(), None, past()], outs),
        Case("attn_past_unidirectional", "Attention", {**A, "unidirectional": 1}, [x(), w(), bias(), None, past()], outs),
        Case(
            "attn_decode_unidirectional",
            "Attention",
            {**A, "unidirectional": 1},
            [x(1), w(), bias(), None, past()],
            outs,
        ),
        Case(
            "attn_past_mask_2d",
            "Attention",
            A,
            [x(), w(), bias(), i32("mask", [[1, 1, 1, 1, 0], [0, 1, 1, 1, 1]]), past()],
            outs,
        ),
        Case(
            "attn_past_mask_1d",
            "Attention",
            A,
            [x(), w(), bias(), i32("mask", [5, 4]), past()],
            outs,
        ),
        Case(
            "attn_past_mask_3d",
            "Attention",
            {**A, "unidirectional": 1},
            [x(), w(), bias(), i32("mask", rng.integers(0, 2, (b, s, t)) | np.eye(s, t, p, dtype=np.int64)), past()],
            outs,
        ),
        Case(
            "attn_attn_bias_unidirectional",
            "Attention",
            {**A, "unidirectional": 1},
            [x(), w(), bias(), None, None, f("ab", rnd(rng, 1, n, s, s))],
            outs,
        ),
        Case(
            "attn_past_mask_2b_scale",
            "Attention",
            {**A, "scale": 0.5},
            [x(), w(), bias(), i32("mask", [5, 4, 1, 0]), past()],
            outs,
        ),
        Case(
            "attn_qkv_sizes_attn_bias",
            "Attention",
            {**A, "qkv_hidden_sizes": [d, d, 2 * d]},
            [x(), f("w", rnd(rng, hin, 4 * d) * 0.5), f("bias", rnd(rng, 4 * d)), None, None, f("ab", rnd(rng, b, 1, s, s))],
            [o("y")],
        ),
        Case("attn_present_no_past", "Attention", {**A, "unidirectional": 1}, [x(), w(), bias()], outs),
        Case(
            "attn_mask_2d_unidirectional",
            "Attention",
            {**A, "unidirectional": 1},
            [x(), w(), bias(), i32("mask", [[1, 1, 0], [1, 1, 1]])],
            [o("y")],
        ),
    ]


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "contrib_attention"))
    args = ap.parse_args()
    rng = np.random.default_rng(20261127)
    cases = rotary_cases(rng) + mha_cases(rng) + gqa_cases(rng) + attention_cases(rng)
    os.makedirs(args.out, exist_ok=True)
    ok = sum(run(c, args.out) for c in cases)
    print(f"{ok} of {len(cases)} cases written to {os.path.normpath(args.out)}")


if __name__ == "__main__":
    main()
