#!/usr/bin/env python3
"""Checks one compiled training step against reference gradients and an optimizer step.

  check_train.py GRADS.safetensors AFTER.safetensors START.safetensors REF.safetensors
                 [--grad-tol 2e-3] [--update-tol 1e-2] [--lr 1e-3]

GRADS is what the train executable's --dump-grads wrote (grad/<name>), AFTER its
--save after one step, START the weights it started from, REF a file holding
grad/<name> and after_adamw/<name> (../shared/golden/cmt-micro.io.safetensors or one
python/train_reference.py writes). Relative error ||ours - ref|| / ||ref|| per tensor.

Gradients that are zero in exact arithmetic hold only rounding noise in a
float64 reference (softmax and training-mode BN cancel the biases in front of
them, ../shared/golden/README.md); they are recognised by size, not by name:
||ref|| below 1e-9 x the median gradient norm. Their error is divided by a
floor, 1e-2 x the median (--zero-floor): the README's example, 1e-3, fails
PyTorch's own float32 backward (2.5e-3 on CMT-micro's
blocks_a.0.mlp.proj_bn.bias, python/train_reference.py). Their update (Adam
normalises noise to about the learning rate) must stay within 2 x lr of the
reference's, element by element.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cmt_reference import load_safetensors  # noqa: E402


def rel(x, y, floor=0.0):
    return float(np.linalg.norm(x - y) / max(np.linalg.norm(y), floor, 1e-30))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("grads")
    ap.add_argument("after")
    ap.add_argument("start")
    ap.add_argument("ref")
    ap.add_argument("--grad-tol", type=float, default=2e-3)
    ap.add_argument("--update-tol", type=float, default=1e-2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--after-prefix", default="after_adamw/")
    ap.add_argument("--zero-floor", type=float, default=1e-2)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    grads, _ = load_safetensors(a.grads)
    after, _ = load_safetensors(a.after)
    start, _ = load_safetensors(a.start)
    ref, _ = load_safetensors(a.ref)
    names = sorted(n[len("grad/"):] for n in ref if n.startswith("grad/"))
    if not names:
        print("no grad/* in the reference")
        return 1
    norms = {n: float(np.linalg.norm(ref["grad/" + n].double().numpy())) for n in names}
    median = float(np.median(list(norms.values())))
    floor = a.zero_floor * median
    bad, worst_g, worst_u, zero = 0, (0.0, ""), (0.0, ""), []
    for n in names:
        if "grad/" + n not in grads or n not in after or n not in start:
            print(f"{n}: missing from ours")
            bad += 1
            continue
        g, rg = grads["grad/" + n].double().numpy(), ref["grad/" + n].double().numpy()
        if g.shape != rg.shape:
            print(f"{n}: gradient shape {g.shape} != reference {rg.shape}")
            bad += 1
            continue
        exact_zero = norms[n] < 1e-9 * median
        eg = rel(g, rg, floor if exact_zero else 0.0)
        up = after[n].double().numpy() - start[n].double().numpy()
        rup = ref[a.after_prefix + n].double().numpy() - start[n].double().numpy()
        if exact_zero:
            zero.append(n)
            eu = float(np.abs(up - rup).max()) / a.lr  # in learning rates
            ok_u = eu <= 2.0 + 1e-3
        else:
            # An update below float32's resolution of the parameter itself is
            # rounding: compare against 100 ulp-sized roundings of its storage.
            eu = rel(up, rup, 100 * 2.0 ** -23 * float(np.linalg.norm(start[n].double().numpy())))
            ok_u = eu <= a.update_tol
        ok_g = eg <= a.grad_tol and np.isfinite(eg)
        if not exact_zero:
            worst_g = max(worst_g, (eg, n))
            worst_u = max(worst_u, (eu, n))
        if a.verbose or not (ok_g and ok_u):
            print(f"{n:40s} grad {eg:.2e} {'ok' if ok_g else 'FAIL'}  update "
                  f"{eu:.2e}{' lr' if exact_zero else ''} {'ok' if ok_u else 'FAIL'}")
        bad += not (ok_g and ok_u)
    print(f"worst gradient {worst_g[0]:.2e} ({worst_g[1]}), worst update {worst_u[0]:.2e} ({worst_u[1]}); "
          f"{len(zero)} zero in exact arithmetic (floor {floor:.2e})")
    print(f"{len(names) - bad} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
