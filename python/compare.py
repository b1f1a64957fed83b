#!/usr/bin/env python3
"""Compares tensors of two safetensors files by relative error ||out - ref|| / ||ref||.

  compare.py OURS.safetensors GOLDEN.safetensors [--names logits=logits_eval act/stem ...] [--tol 1e-4]

Each name is OURS_NAME or OURS_NAME=REF_NAME; without --names, every tensor of
ours whose name, after --ref-prefix, is in the golden file. Prints one line per tensor and exits 1 if any error
exceeds the tolerance (or a tensor is missing or mis-shaped).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cmt_reference import load_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ours")
    ap.add_argument("golden")
    ap.add_argument("--names", nargs="*")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--ref-prefix", default="", help="golden name = prefix + our name (without --names)")
    ap.add_argument("--floor", type=float, default=1e-30,
                    help="smallest norm to divide by: tensors whose reference norm is below it (gradients "
                         "that are zero in exact arithmetic, noise-sized in both) are judged in absolute terms")
    args = ap.parse_args()
    ours, _ = load_safetensors(args.ours)
    ref, _ = load_safetensors(args.golden)
    pairs = [n.split("=", 1) if "=" in n else (n, n) for n in args.names] if args.names else \
        [(n, args.ref_prefix + n) for n in ours if args.ref_prefix + n in ref]
    if not pairs:
        print("no tensors to compare")
        return 1
    bad = 0
    for a, b in pairs:
        if a not in ours or b not in ref:
            print(f"{a}: missing ({'ours' if a not in ours else 'golden'})")
            bad += 1
            continue
        x, y = ours[a].double().numpy(), ref[b].double().numpy()
        if x.size == 1 and y.size == 1:  # a scalar saved as () or (1,)
            x = x.reshape(y.shape)
        if x.shape != y.shape:
            print(f"{a}: shape {x.shape} != golden {b} {y.shape}")
            bad += 1
            continue
        err = float(np.linalg.norm(x - y) / max(np.linalg.norm(y), args.floor))
        ok = err <= args.tol and np.isfinite(err)
        bad += not ok
        print(f"{a:24s} vs {b:24s} rel err {err:.3e}  {'ok' if ok else 'FAIL'} (tol {args.tol:g})")
    print(f"{len(pairs) - bad} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
