#!/usr/bin/env python3
"""Top-1/top-5 of a checkpoint on an IDX test split (Fashion-MNIST, MNIST) in PyTorch.

  eval_idx.py CKPT.safetensors [DIR] [--resolution R] [--batch 500]

The reference's view of what a training executable reports each epoch: the
model from the checkpoint (training state dropped, load_state_dict strict),
the grey 28 x 28 images scaled bilinearly to the model's resolution (pixel
centres, as the runtime), replicated to 3 channels and normalised with the
ImageNet statistics. DIR defaults to Debian's /usr/share/datasets/fashion-mnist.
"""
import argparse
import gzip
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cmt_reference import load_model  # noqa: E402


def idx(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt")
    ap.add_argument("dir", nargs="?", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--batch", type=int, default=500)
    a = ap.parse_args()
    find = lambda stem: next(os.path.join(a.dir, stem + e) for e in (".gz", "") if os.path.exists(os.path.join(a.dir, stem + e)))
    images, labels = idx(find("t10k-images-idx3-ubyte")), idx(find("t10k-labels-idx1-ubyte"))
    model, _ = load_model(a.ckpt)
    res = model.cfg.resolution
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    top1 = top5 = 0
    with torch.no_grad():
        for i in range(0, len(labels), a.batch):
            x = torch.from_numpy(images[i:i + a.batch].astype(np.float32) / 255.0).unsqueeze(1)
            x = F.interpolate(x, size=(res, res), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
            logits = model((x - mean) / std)
            y = torch.from_numpy(labels[i:i + a.batch].astype(np.int64))
            best = logits.topk(5, dim=1).indices
            top1 += (best[:, 0] == y).sum().item()
            top5 += (best == y[:, None]).any(dim=1).sum().item()
    n = len(labels)
    print(f"{n} test images at {res} px: top-1 {100.0 * top1 / n:.2f}%  top-5 {100.0 * top5 / n:.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
