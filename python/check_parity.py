#!/usr/bin/env python3
"""Runs a compiled executable and the PyTorch reference (python/cmt_reference.py)
on the same checkpoint and input, and compares the logits.

  check_parity.py EXE CHECKPOINT.safetensors [--input FILE.safetensors:NAME] [--batch N] [--tol 1e-4]

Without --input, a random input of the executable's batch and resolution is
used. Exits 1 if the relative error ||ours - ref|| / ||ref|| exceeds --tol.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cmt_reference import load_model, load_safetensors, save_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("exe")
    ap.add_argument("checkpoint")
    ap.add_argument("--input")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    model, _ = load_model(args.checkpoint)
    res = model.cfg.resolution
    with tempfile.TemporaryDirectory() as tmp:
        if args.input:
            path, name = args.input.rsplit(":", 1)
            x = load_safetensors(path)[0][name].float()
            spec = args.input
        else:
            torch.manual_seed(args.seed)
            x = torch.randn(args.batch, model.cfg.in_channels, res, res)
            spec = os.path.join(tmp, "input.safetensors")
            save_safetensors(spec, {"input": x})
            spec += ":input"
        out = os.path.join(tmp, "out.safetensors")
        run = subprocess.run([args.exe, "--weights", args.checkpoint, "--input", spec, "--output", out],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(run.stdout + run.stderr)
            print(f"executable failed with exit code {run.returncode}")
            return 1
        ours = load_safetensors(out)[0]["logits"].double()
    with torch.no_grad():
        ref = model.double()(x.double())
    err = float((ours - ref).norm() / ref.norm())
    ok = err <= args.tol and np.isfinite(err)
    print(f"logits {tuple(ref.shape)}: rel err {err:.3e} vs the PyTorch reference "
          f"({'ok' if ok else 'FAIL'}, tol {args.tol:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
