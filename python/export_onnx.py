#!/usr/bin/env python3
"""Exports the PyTorch reference of a checkpoint to ONNX, as users do with the
authors' code: torch.onnx.export in evaluation mode, dynamic batch.

  export_onnx.py CHECKPOINT.safetensors OUT.onnx [--opset 17]
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cmt_reference import load_model  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("out")
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()
    model, _ = load_model(args.checkpoint)
    res = model.cfg.resolution
    x = torch.randn(1, model.cfg.in_channels, res, res)
    torch.onnx.export(model, (x,), args.out, opset_version=args.opset, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    print(f"wrote {args.out} (opset {args.opset})")


if __name__ == "__main__":
    main()
