#!/usr/bin/env python3
"""Data-parallel scaling model: bytes all-reduced per step and expected efficiency.

  scaling_model.py [--batch 128] [--step-ms VARIANT=MS ...] [--allreduce-gbs LINK=GB/S ...]
                   [--overlap F] [--latency-us 10]

Per variant (CMT-Ti, XS, S, B): the parameters and so the float32 gradient
bytes every rank all-reduces per step, and the expected step efficiency
(one-GPU step time / data-parallel step time) at 8 GPUs over NVLink and at
2-16 nodes of 8 GPUs over InfiniBand, for a ring all-reduce:

  t_allreduce = 2 (N - 1) / N * bytes / bus_bandwidth + 2 (N - 1) * latency
  t_step(N)   = t_step(1) + max(0, t_allreduce - overlap * t_backward),  t_backward = 2/3 t_step(1)

Every input is printed with where it comes from. Measured here: the
parameter counts (the reference model). Not measured here (no GPU in the
session that wrote this): the step time per GPU defaults to the peers'
measured steps on the H100 (../shared/PEERS-H100.md: torch.compile with CUDA
graphs for CMT-Ti, eager for XS/S/B, batch 128, bf16) until our executable's
is passed with --step-ms; the overlap defaults to 0 (no overlap, the bound
from below) until measured (issue 7: NCCL world size 1 on one GPU); bus
bandwidths are nominal figures, to be replaced by measured ones with
--allreduce-gbs nvlink=... ib=...
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cmt_reference import CMT, VARIANTS  # noqa: E402

# ms per step at batch 128 on one H100, from PEERS-H100.md's measured throughputs.
PEER_STEP_MS = {"cmt-ti": 27.9, "cmt-xs": 128 / 1357 * 1e3, "cmt-s": 128 / 839 * 1e3, "cmt-b": 128 / 445 * 1e3}
PEER_SOURCE = {"cmt-ti": "torch.compile + CUDA graphs", "cmt-xs": "PyTorch eager", "cmt-s": "PyTorch eager",
               "cmt-b": "PyTorch eager"}
# Nominal all-reduce bus bandwidths (GB/s): NVLink 4 within an 8 x H100 node,
# one 400 Gb/s InfiniBand NIC per GPU across nodes.
NOMINAL_GBS = {"nvlink": 360.0, "ib": 45.0}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--step-ms", nargs="*", default=[], help="VARIANT=MS, measured step time of one GPU")
    ap.add_argument("--allreduce-gbs", nargs="*", default=[], help="nvlink=GB/S ib=GB/S, measured bus bandwidth")
    ap.add_argument("--overlap", type=float, default=0.0, help="fraction of the backward the all-reduce hides behind")
    ap.add_argument("--latency-us", type=float, default=10.0)
    a = ap.parse_args()
    steps = dict(PEER_STEP_MS)
    sources = {k: f"peer: {v}" for k, v in PEER_SOURCE.items()}
    for kv in a.step_ms:
        k, v = kv.split("=")
        steps[k], sources[k] = float(v), "measured (--step-ms)"
    gbs = dict(NOMINAL_GBS)
    gbs_source = {k: "nominal" for k in gbs}
    for kv in a.allreduce_gbs:
        k, v = kv.split("=")
        gbs[k], gbs_source[k] = float(v), "measured"

    configs = [("8 GPUs, NVLink", 8, "nvlink")] + [(f"{n} nodes x 8, IB", 8 * n, "ib") for n in (2, 4, 8, 16)]
    print(f"batch {a.batch} per GPU; overlap {a.overlap:.0%} of the backward; latency {a.latency_us} us per ring step;"
          f" NVLink {gbs['nvlink']:.0f} GB/s ({gbs_source['nvlink']}), IB {gbs['ib']:.0f} GB/s ({gbs_source['ib']})")
    print()
    print("| variant | parameters | MiB all-reduced per step | step ms (1 GPU) | step from | "
          + " | ".join(c[0] for c in configs) + " |")
    print("|---" * (5 + len(configs)) + "|")
    for name in ("cmt-ti", "cmt-xs", "cmt-s", "cmt-b"):
        params = sum(p.numel() for p in CMT(VARIANTS[name]).parameters())
        size = 4 * params
        step = steps[name] / 1e3
        cells = []
        for _, n, link in configs:
            t = 2 * (n - 1) / n * size / (gbs[link] * 1e9) + 2 * (n - 1) * a.latency_us * 1e-6
            exposed = max(0.0, t - a.overlap * (2.0 / 3.0) * step)
            cells.append(f"{100 * step / (step + exposed):.1f}% ({t * 1e3:.2f} ms)")
        print(f"| {name} | {params / 1e6:.2f} M | {size / 2**20:.1f} | {steps[name]:.1f} | {sources[name]} | "
              + " | ".join(cells) + " |")
    print()
    print("cells: expected efficiency (all-reduce time). The IB rows' ring spans every GPU of every node at the"
          " IB rate (the slowest link), an upper bound on its time.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
