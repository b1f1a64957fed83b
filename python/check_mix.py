#!/usr/bin/env python3
"""Checks a mixed training batch against the data it came from, by timm's Mixup.

  check_mix.py DATA.safetensors GRADS.safetensors [--write MIXED.safetensors]

GRADS is what a train executable's --dump-grads wrote for its first step
(batch/input and batch/targets: the batch as the step took it), DATA the
prepared tensors it read in order (input, labels). timm's batch mode mixes
image i with image B-1-i: mixup as lam x + (1 - lam) x.flip(0); cutmix by
pasting one box of x.flip(0), lam then being the area kept; the targets are
lam onehot(y) + (1 - lam) onehot(y.flip(0)). Prints which it was, fails when
the batch or the targets are neither. --write saves the batch as input and
labels (target distributions), which python/train_reference.py and a train
executable's --data take.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cmt_reference import load_safetensors, save_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("grads")
    ap.add_argument("--write")
    a = ap.parse_args()
    dumped, _ = load_safetensors(a.grads)
    mixed, targets = dumped["batch/input"], dumped["batch/targets"]
    batch, classes = targets.shape
    data, _ = load_safetensors(a.data)
    x, y = data["input"][:batch], data["labels"][:batch]
    xf, yf = x.flip(0), y.flip(0)

    if bool(((mixed == x) | (mixed == xf)).all()):
        pasted = (mixed != x).any(0).any(0)
        rows, cols = pasted.any(1).nonzero().flatten(), pasted.any(0).nonzero().flatten()
        box = torch.zeros_like(pasted)
        if len(rows):
            box[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = True
        if not torch.equal(mixed, torch.where(box, xf, x)):
            print("cutmix: the pasted pixels are not one box of the reversed batch")
            return 1
        lam = 1 - float(box.sum()) / box.numel()
        print(f"cutmix: a {len(rows) and int(rows[-1] - rows[0] + 1)}x{len(cols) and int(cols[-1] - cols[0] + 1)} "
              f"box from the reversed batch, lam {lam:.4f}")
    else:
        d = (x - xf).double()
        lam = float(((mixed - xf).double() * d).sum() / (d * d).sum())
        err = float((mixed.double() - (lam * x.double() + (1 - lam) * xf.double())).abs().max())
        if err > 1e-5:
            print(f"mixup: the batch is not lam x + (1 - lam) x.flip(0) (deviation {err:.2e})")
            return 1
        print(f"mixup: lam {lam:.4f}, deviation {err:.1e}")
    eye = torch.eye(classes, dtype=torch.float64)
    want = lam * eye[y] + (1 - lam) * eye[yf]
    terr = float((targets.double() - want).abs().max())
    if terr > 1e-6:
        print(f"targets differ from lam onehot(y) + (1 - lam) onehot(y.flip(0)) by {terr:.2e}")
        return 1
    print(f"targets: as mixed (deviation {terr:.1e})")
    if a.write:
        save_safetensors(a.write, {"input": mixed, "labels": targets})
    return 0


if __name__ == "__main__":
    sys.exit(main())
