#!/usr/bin/env python3
"""Checks data-parallel training against one process with the whole batch.

  check_data_parallel.py ONE.safetensors MANY.safetensors START.safetensors GRADS_ONE.safetensors
                         [--buffer-tol 1e-4] [--update-tol 1e-2] [--lr 1e-3] [--steps N]

ONE: the checkpoint after N steps of one process with batch 2B; MANY: after the
same N steps of 2 ranks with batch B each (mpirun, --sync-bn); START: the
state both started from (--steps 0 --save); GRADS_ONE: ONE's first-step
gradients (--dump-grads). Checks, as issue 7 asks:
  - BN running statistics within --buffer-tol (absolute), counters equal;
  - each parameter's update (after - start) within --update-tol relative.
Parameters whose gradient is zero in exact arithmetic (found by size: below
1e-4 x the median gradient norm; softmax and training-mode BN cancel the
biases in front of them, ../shared/golden/README.md) hold rounding noise that
Adam normalises to about the learning rate, so only their size is checked:
every element of their update within 2 x lr x N.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cmt_reference import load_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("one")
    ap.add_argument("many")
    ap.add_argument("start")
    ap.add_argument("grads")
    ap.add_argument("--buffer-tol", type=float, default=1e-4)
    ap.add_argument("--update-tol", type=float, default=1e-2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--steps", type=int, default=1)
    a = ap.parse_args()
    one, _ = load_safetensors(a.one)
    many, _ = load_safetensors(a.many)
    start, _ = load_safetensors(a.start)
    grads, _ = load_safetensors(a.grads)
    norms = {k[5:]: float(np.linalg.norm(v.numpy())) for k, v in grads.items() if k.startswith("grad/")}
    median = float(np.median(list(norms.values())))
    passed, failed, zero, worst = 0, [], 0, (0.0, "")
    for name, s in start.items():
        if name.startswith(("optimizer/", "train/")):
            continue
        x, y, s = one[name].double().numpy(), many[name].double().numpy(), s.double().numpy()
        if name.endswith(("running_mean", "running_var", "num_batches_tracked")):
            err = float(np.abs(x - y).max()) if x.size else 0.0
            ok = err <= a.buffer_tol
        elif name in norms and norms[name] < 1e-4 * median:
            zero += 1
            err = float(np.abs(y - s).max()) / (2 * a.lr * a.steps)
            ok = err <= 1.0
        else:
            du = x - s
            err = float(np.linalg.norm((y - s) - du) / max(np.linalg.norm(du), 1e-30))
            ok = err <= a.update_tol
            if err > worst[0]:
                worst = (err, name)
        if ok:
            passed += 1
        else:
            failed.append((name, err))
    for name, err in failed[:10]:
        print(f"FAIL {name}: {err:.3g}")
    print(f"{zero} zero in exact arithmetic; worst update difference {worst[0]:.2e} ({worst[1]})")
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
