#!/usr/bin/env python3
"""Evaluates an ONNX graph node by node with PyTorch: an independent check of
what --export-onnx writes where onnxruntime is not installed (it is not in
Debian). Supports the standard ops a CMT graph uses. With --onnxruntime (on a
machine that has it, such as the GPU machine) onnxruntime runs the graph instead.

  run_onnx.py MODEL.onnx INPUT.safetensors:NAME OUT.safetensors [--onnxruntime]
"""
import math
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cmt_reference import load_safetensors, save_safetensors  # noqa: E402


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def run(model, x):
    env = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
    env[model.graph.input[0].name] = x
    for node in model.graph.node:
        a, i = attrs(node), [env[n] if n else None for n in node.input]
        op = node.op_type
        if op == "Conv":
            p = a.get("pads", [0, 0, 0, 0])
            y = F.conv2d(i[0], i[1], i[2] if len(i) > 2 else None, a.get("strides", [1, 1]), (p[0], p[1]),
                         groups=a.get("group", 1))
        elif op == "BatchNormalization":
            y = F.batch_norm(i[0], i[3], i[4], i[1], i[2], False, 0.0, a.get("epsilon", 1e-5))
        elif op == "LayerNormalization":
            y = F.layer_norm(i[0], i[1].shape, i[1], i[2], a.get("epsilon", 1e-5))
        elif op == "Gemm":
            w = i[1].t() if a.get("transB", 0) else i[1]
            y = i[0] @ w + (i[2] if len(i) > 2 else 0)
        elif op == "MatMul":
            y = i[0] @ i[1]
        elif op in ("Add", "Mul", "Div", "Sub"):
            y = {"Add": torch.add, "Mul": torch.mul, "Div": torch.div, "Sub": torch.sub}[op](i[0], i[1])
        elif op == "Erf":
            y = torch.erf(i[0])
        elif op == "Sigmoid":
            y = torch.sigmoid(i[0])
        elif op == "Softmax":
            y = torch.softmax(i[0], dim=a.get("axis", -1))
        elif op == "Reshape":
            shape = [int(s) if s != 0 else i[0].shape[k] for k, s in enumerate(i[1].tolist())]
            y = i[0].reshape(shape)
        elif op == "Transpose":
            y = i[0].permute(*a["perm"])
        elif op == "GlobalAveragePool":
            y = i[0].mean(dim=(2, 3), keepdim=True)
        elif op == "Flatten":
            y = i[0].flatten(a.get("axis", 1))
        elif op == "Identity":
            y = i[0]
        else:
            raise SystemExit(f"run_onnx.py: op {op} (node {node.name}) is not supported")
        env[node.output[0]] = y
    return {o.name: env[o.name] for o in model.graph.output}


def main():
    model_path, spec, out = sys.argv[1:4]
    path, name = spec.rsplit(":", 1)
    x = load_safetensors(path)[0][name].double()
    if "--onnxruntime" in sys.argv[4:]:
        import onnxruntime  # noqa: E402 (only where installed)
        session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        values = session.run(names, {session.get_inputs()[0].name: x.float().numpy()})
        save_safetensors(out, {k: torch.from_numpy(v) for k, v in zip(names, values)})
        print(f"wrote {out} (onnxruntime {onnxruntime.__version__})")
        return
    model = onnx.load(model_path)
    for t in model.graph.initializer:  # evaluate in float64, like the golden data
        if t.data_type == onnx.TensorProto.FLOAT:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name))
    with torch.no_grad():
        outs = run(model, x)
    save_safetensors(out, {k: v.float() for k, v in outs.items()})
    print(f"wrote {out}: " + ", ".join(f"{k} {tuple(v.shape)}" for k, v in outs.items()))


if __name__ == "__main__":
    main()
