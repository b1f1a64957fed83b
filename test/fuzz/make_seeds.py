"""Small seed inputs for the fuzzers: a safetensors file and an ONNX graph with
the shapes of a CMT export (scoped names, anonymous and official initializers)."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import torch  # noqa: E402
from cmt_reference import save_safetensors  # noqa: E402

out = sys.argv[1]
os.makedirs(os.path.join(out, "safetensors"), exist_ok=True)
os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
save_safetensors(os.path.join(out, "safetensors", "small.safetensors"),
                 {"a.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3), "n": torch.tensor(3)},
                 {"model": "seed"})

w = numpy_helper.from_array(np.ones((4, 3, 2, 2), np.float32), "onnx::Conv_1")
b = numpy_helper.from_array(np.zeros(4, np.float32), "patch_embed_a.proj.bias")
m = numpy_helper.from_array(np.ones((4, 4), np.float32), "onnx::MatMul_2")
nodes = [helper.make_node("Conv", ["input", "onnx::Conv_1", "patch_embed_a.proj.bias"], ["c"],
                          name="/blocks_a.0/mlp/conv2/conv2.0/Conv", strides=[2, 2]),
         helper.make_node("Flatten", ["c"], ["f"], name="/Flatten"),
         helper.make_node("MatMul", ["f", "onnx::MatMul_2"], ["logits"], name="/head/MatMul")]
graph = helper.make_graph(nodes, "seed", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 2, 2])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])], [w, b, m])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
          os.path.join(out, "onnx", "seed.onnx"))
