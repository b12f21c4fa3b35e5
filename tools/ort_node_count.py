import onnxruntime as ort, onnx, sys, collections
for p in sys.argv[1:]:
    so=ort.SessionOptions(); so.graph_optimization_level=ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.optimized_model_filepath='/tmp/opt.onnx'
    ort.InferenceSession(p, so, providers=['CPUExecutionProvider'])
    m=onnx.load('/tmp/opt.onnx')
    c=collections.Counter(n.op_type for n in m.graph.node)
    print(p.split('/')[-2], len(m.graph.node), dict(c.most_common(8)))
