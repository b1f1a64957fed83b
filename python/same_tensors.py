#!/usr/bin/env python3
"""Whether two safetensors files hold bit-identical tensors (metadata aside).

  same_tensors.py A.safetensors B.safetensors

Checkpoints of the same training state differ in their metadata (where they
were saved, for one), so resume tests compare tensors: names, dtypes, shapes
and every bit. Exit status 1 when they differ.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cmt_reference import load_safetensors  # noqa: E402


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    a, _ = load_safetensors(sys.argv[1])
    b, _ = load_safetensors(sys.argv[2])
    def bits(t):
        return t.reshape(-1).view(torch.uint8)

    differ = sorted(k for k in set(a) | set(b)
                    if k not in a or k not in b or a[k].dtype != b[k].dtype or a[k].shape != b[k].shape
                    or not torch.equal(bits(a[k]), bits(b[k])))
    print(f"{len(a)} tensors, {len(differ)} differ {differ[:5]}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
