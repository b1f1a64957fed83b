#!/usr/bin/env python3
"""Writes a CMT checkpoint (official state-dict names, safetensors) with random
weights, for a released variant or any configuration.

  make_checkpoint.py OUT.safetensors --variant cmt-xs
  make_checkpoint.py OUT.safetensors --resolution 96 --dims 24 48 96 192 --depths 1 2 1 1 \\
      --heads 1 2 4 8 --reductions 4 2 2 1 --mlp-ratio 3.5 --stem 8 --fc-dim 64 --classes 7

BN running statistics are randomised too, so that an implementation that
ignores them is caught.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cmt_reference import CMT, VARIANTS, Config, save_safetensors  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--variant", choices=sorted(VARIANTS))
    ap.add_argument("--resolution", type=int)
    ap.add_argument("--dims", type=int, nargs=4)
    ap.add_argument("--depths", type=int, nargs=4)
    ap.add_argument("--heads", type=int, nargs=4, default=[1, 2, 4, 8])
    ap.add_argument("--reductions", type=int, nargs=4, default=[8, 4, 2, 1])
    ap.add_argument("--mlp-ratio", type=float, default=3.6)
    ap.add_argument("--stem", type=int, default=16)
    ap.add_argument("--fc-dim", type=int, default=1280)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--in-channels", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default=None, help="model name stored in the metadata")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    if args.variant:
        cfg = VARIANTS[args.variant]
        if args.resolution:
            cfg = Config(args.resolution, cfg.dims, cfg.depths, cfg.heads, cfg.reductions, cfg.mlp_ratio,
                         cfg.stem, cfg.fc_dim, cfg.classes, cfg.dropout, cfg.in_channels)
    else:
        if not (args.resolution and args.dims and args.depths):
            ap.error("give --variant, or --resolution, --dims and --depths")
        cfg = Config(args.resolution, args.dims, args.depths, args.heads, args.reductions, args.mlp_ratio,
                     args.stem, args.fc_dim, args.classes, in_channels=args.in_channels)
    model = CMT(cfg)
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.02)
    sd = model.state_dict()
    save_safetensors(args.out, sd, {"model": args.name or (args.variant or "custom"),
                                    "resolution": cfg.resolution})
    print(f"wrote {args.out}: {sum(p.numel() for p in model.parameters())} parameters")


if __name__ == "__main__":
    main()
