#!/usr/bin/env python3
"""Generates the com.microsoft fused-normalization test cases under tests/data/contrib_norm/.

One-node models (SkipLayerNormalization, SkipSimplifiedLayerNormalization, BiasGelu, FastGelu,
EmbedLayerNormalization, domain com.microsoft) run by ONNX Runtime's CPU provider on seeded random
inputs, written in the ONNX backend-test layout by `gen_contrib_attention.run` (a case ORT rejects
is reported and not written). Rows longer than a 64-wide workgroup and broadcast skips are
included so the fused GPU row kernels' loops and index math are exercised.

    python3 tools/gen_contrib_norm.py [--out tests/data/contrib_norm]
"""

import argparse
import os

import numpy as np

from gen_contrib_attention import I32, Case, f, i32, o, rnd, run


def skip_cases(rng):
    cs = []
    for h in (16, 100):
        x, skip = rnd(rng, 2, 3, h), rnd(rng, 2, 3, h)
        g, b, bias = rnd(rng, h), rnd(rng, h), rnd(rng, h)
        ins = [f("x", x), f("skip", skip), f("gamma", g), f("beta", b), f("bias", bias)]
        cs.append(Case(f"skip_ln_h{h}", "SkipLayerNormalization", {"epsilon": 1e-5}, ins, [o("y")]))
        cs.append(
            Case(
                f"skip_ln_sum_h{h}",
                "SkipLayerNormalization",
                {"epsilon": 1e-5},
                ins,
                [o("y"), None, None, o("sum")],
            )
        )
        ins_s = [f("x", x), f("skip", skip), f("gamma", g), f("bias", bias)]
        cs.append(
            Case(f"skip_simplified_sum_h{h}", "SkipSimplifiedLayerNormalization", {"epsilon": 1e-5}, ins_s,
                 [o("y"), None, None, o("sum")])
        )
    h = 24
    x = rnd(rng, 2, 3, h)
    g = rnd(rng, h)
    cs.append(
        Case("skip_ln_broadcast_no_bias", "SkipLayerNormalization", {"epsilon": 1e-5},
             [f("x", x), f("skip", rnd(rng, 3, h)), f("gamma", g)], [o("y")])
    )
    cs.append(
        Case("skip_ln_broadcast_1sh", "SkipLayerNormalization", {"epsilon": 1e-5},
             [f("x", x), f("skip", rnd(rng, 1, 3, h)), f("gamma", g), f("beta", rnd(rng, h))], [o("y")])
    )
    cs.append(
        Case("skip_simplified_plain", "SkipSimplifiedLayerNormalization", {"epsilon": 1e-6},
             [f("x", x), f("skip", rnd(rng, 2, 3, h)), f("gamma", g)], [o("y")])
    )
    return cs


def gelu_cases(rng):
    cs = []
    for h in (40, 300):
        a, b = rnd(rng, 2, 3, h), rnd(rng, h)
        cs.append(Case(f"bias_gelu_h{h}", "BiasGelu", {}, [f("A", a), f("B", b)], [o("C")]))
        cs.append(Case(f"fast_gelu_bias_h{h}", "FastGelu", {}, [f("X", a), f("bias", b)], [o("Y")]))
    return cs


def embed_cases(rng):
    cs = []
    b, s, h, vocab, npos = 2, 5, 20, 30, 8
    ids = rng.integers(0, vocab, (b, s))
    seg = rng.integers(0, 2, (b, s))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    word, pos, segt = rnd(rng, vocab, h), rnd(rng, npos, h), rnd(rng, 2, h)
    g, beta = rnd(rng, h), rnd(rng, h)
    base = [i32("input_ids", ids), i32("segment_ids", seg), f("word", word), f("pos", pos), f("seg", segt),
            f("gamma", g), f("beta", beta)]
    cs.append(Case("embed_ln_mask", "EmbedLayerNormalization", {"epsilon": 1e-5}, base + [i32("mask", mask)],
                   [o("y"), ("mask_index", 6, None)]))
    cs.append(Case("embed_ln_sum", "EmbedLayerNormalization", {"epsilon": 1e-5}, base,
                   [o("y"), ("mask_index", 6, None), o("sum")]))
    no_seg = [base[0], None, base[2], base[3], None, base[5], base[6]]
    cs.append(Case("embed_ln_no_segment", "EmbedLayerNormalization", {"epsilon": 1e-5}, no_seg,
                   [o("y"), ("mask_index", 6, None)]))
    pos_ids = rng.integers(0, npos, (b, s))
    cs.append(Case("embed_ln_position_ids", "EmbedLayerNormalization", {"epsilon": 1e-5},
                   base + [None, i32("position_ids", pos_ids)], [o("y"), ("mask_index", 6, None)]))
    # int64 model inputs cast to int32 (the optimizer reads them in place of the casts), with an
    # id and a mask entry whose high word the cast drops.
    wide_ids, wide_mask = ids.astype(np.int64), mask.astype(np.int64)
    wide_ids[1, 2] += 1 << 32
    wide_mask[0, 1] += 1 << 32
    cs.append(Case("embed_ln_int64_casts", "EmbedLayerNormalization", {"epsilon": 1e-5},
                   [("input_ids", I32, wide_ids), ("segment_ids", I32, seg.astype(np.int64))] + base[2:] +
                   [("mask", I32, wide_mask), ("position_ids", I32, pos_ids.astype(np.int64))],
                   [o("y"), ("mask_index", 6, None), o("sum")],
                   cast_i64=("input_ids", "segment_ids", "mask", "position_ids")))
    return cs


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "contrib_norm"))
    args = ap.parse_args()
    rng = np.random.default_rng(20261127)
    cases = skip_cases(rng) + gelu_cases(rng) + embed_cases(rng)
    os.makedirs(args.out, exist_ok=True)
    ok = sum(run(c, args.out) for c in cases)
    print(f"{ok} of {len(cases)} cases written to {os.path.normpath(args.out)}")


if __name__ == "__main__":
    main()
