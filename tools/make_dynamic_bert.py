#!/usr/bin/env python3
"""Rewrites the corpus bert_tiny (exported by torch with every sequence length baked in as 128)
into the same network with a symbolic `seq` dim, and writes ONNX Runtime's outputs for three
sequence lengths as an ONNX backend-test folder:

    python3 tools/make_dynamic_bert.py [CORPUS [OUT]]
    # default CORPUS: $ONNX_WGPU_CORPUS or ../shared/corpus; OUT: target/generated/bert_tiny_dynamic

The weights and every node are kept; only the seq-dependent constants change: four Reshape
targets get -1 where they said 128 (the head count 2 and hidden size 128 stay), and the three
constant tensors of length 128 (position ids, the all-true mask row, the GatherND indices that
pick mask[0, s]) are computed from Shape(input_ids) instead. test_data_set_0 is the corpus's own
seq-128 input (its ORT output is checked against the corpus reference here), sets 1 and 2 are
seeded random ids at seq 48 and 17 with some padding masked out.
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

corpus = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ONNX_WGPU_CORPUS", "../shared/corpus")
out = sys.argv[2] if len(sys.argv) > 2 else "target/generated/bert_tiny_dynamic"
src = os.path.join(corpus, "models", "bert_tiny")
m = onnx.load(os.path.join(src, "model.onnx"))
g = m.graph
inits = {i.name: i for i in g.initializer}

for vi in list(g.input) + list(g.output):
    dims = vi.type.tensor_type.shape.dim
    if len(dims) >= 2 and dims[1].dim_value == 128 and vi.name != "pooler_output":
        dims[1].Clear()
        dims[1].dim_param = "seq"

# Reshape targets: the seq entry becomes -1 (the other -1 is made explicit).
new_targets = {
    (1, 128, -1, 64): [1, -1, 2, 64],
    (-1, 128, 64): [2, -1, 64],
    (1, 2, 64, 128): [1, 2, 64, -1],
    (1, 128, -1): [1, -1, 128],
}
for n in g.node:
    if n.op_type == "Reshape" and n.input[1] in inits:
        t = inits[n.input[1]]
        key = tuple(int(v) for v in numpy_helper.to_array(t))
        if list(key) in new_targets.values():
            continue  # shared by several Reshapes, already rewritten
        if key in new_targets:
            t.CopyFrom(numpy_helper.from_array(np.array(new_targets[key], np.int64), t.name))
        else:
            raise SystemExit(f"unexpected Reshape target {key} at {n.name}")


def take(name):
    t = inits.pop(name)
    g.initializer.remove(t)
    return numpy_helper.to_array(t)


pos = take("slice_1")
assert (pos == np.arange(128)[None]).all()
ones = take("bitwise_and")
assert ones.all() and ones.shape == (1, 1, 128, 1)
idx = take("val_38")
assert (idx.reshape(128, 2) == np.stack([np.zeros(128), np.arange(128)], 1)).all()

c = lambda name, arr: g.initializer.append(numpy_helper.from_array(np.asarray(arr), name))
c("dyn_all_positions", np.arange(512, dtype=np.int64)[None])
c("dyn_0", np.array([0], np.int64))
c("dyn_1", np.array([1], np.int64))
c("dyn_2", np.array([2], np.int64))
c("dyn_one_s", np.array(1, np.int64))
c("dyn_zero_s", np.array(0, np.int64))
c("dyn_true", np.array(True))
c("dyn_11", np.array([1, 1], np.int64))
c("dyn_idx_shape", np.array([1, 1, 1, -1, 2], np.int64))
nodes = [
    helper.make_node("Shape", ["input_ids"], ["dyn_shape"]),
    helper.make_node("Slice", ["dyn_shape", "dyn_1", "dyn_2"], ["dyn_seq1"]),
    helper.make_node("Squeeze", ["dyn_seq1"], ["dyn_seq"]),
    # position ids 0..seq
    helper.make_node("Slice", ["dyn_all_positions", "dyn_0", "dyn_seq1", "dyn_1"], ["slice_1"]),
    # the all-true [1, 1, seq, 1] row
    helper.make_node("Concat", ["dyn_11", "dyn_seq1", "dyn_1"], ["dyn_row_shape"], axis=0),
    helper.make_node("Expand", ["dyn_true", "dyn_row_shape"], ["bitwise_and"]),
    # GatherND indices [[0, s] for s < seq] as [1, 1, 1, seq, 2]
    helper.make_node("Range", ["dyn_zero_s", "dyn_seq", "dyn_one_s"], ["dyn_range"]),
    helper.make_node("Unsqueeze", ["dyn_range", "dyn_1"], ["dyn_col"]),
    helper.make_node("Mul", ["dyn_col", "dyn_zero_s"], ["dyn_zcol"]),
    helper.make_node("Concat", ["dyn_zcol", "dyn_col"], ["dyn_pairs"], axis=1),
    helper.make_node("Reshape", ["dyn_pairs", "dyn_idx_shape"], ["val_38"]),
]
for i, n in enumerate(nodes):
    g.node.insert(i, n)
del g.value_info[:]
onnx.checker.check_model(m)

os.makedirs(out, exist_ok=True)
path = os.path.join(out, "model.onnx")
onnx.save(m, path)
so = ort.SessionOptions()
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
names = [i.name for i in sess.get_inputs()]


def load(d, k):
    t = onnx.TensorProto()
    with open(os.path.join(d, f"input_{k}.pb"), "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


base = os.path.join(src, "test_data_set_0")
sets = [{n: load(base, k) for k, n in enumerate(names)}]
rng = np.random.default_rng(7)
for seq, pad in [(48, 5), (17, 3)]:
    mask = np.ones((1, seq), np.int64)
    mask[0, seq - pad:] = 0
    sets.append({
        "input_ids": rng.integers(0, 30522, (1, seq)).astype(np.int64),
        "attention_mask": mask,
        "token_type_ids": (np.arange(seq) >= seq // 2).astype(np.int64)[None],
    })
for k, feeds in enumerate(sets):
    outs = sess.run(None, feeds)
    if k == 0:  # the rewrite computes what the static export computed
        for j, o in enumerate(outs):
            t = onnx.TensorProto()
            with open(os.path.join(base, f"output_{j}.pb"), "rb") as f:
                t.ParseFromString(f.read())
            np.testing.assert_allclose(o, numpy_helper.to_array(t), rtol=1e-5, atol=1e-6)
    d = os.path.join(out, f"test_data_set_{k}")
    os.makedirs(d, exist_ok=True)
    for j, n in enumerate(names):
        with open(os.path.join(d, f"input_{j}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(feeds[n], n).SerializeToString())
    for j, (o, info) in enumerate(zip(outs, sess.get_outputs())):
        with open(os.path.join(d, f"output_{j}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(o, info.name).SerializeToString())
print(f"wrote {out} (seq {', '.join(str(s['input_ids'].shape[1]) for s in sets)})")
