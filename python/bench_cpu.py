#!/usr/bin/env python3
"""CPU inference speed: compiled executables against PyTorch (eager) on the same
CPU, same batch, same threads. Prints a markdown table.

  bench_cpu.py [--models cmt-micro cmt-ti] [--batch 8] [--threads 2] [--build build]

Weights are random (speed does not depend on them); each executable is
compiled from models/<name>.mlir with build/bin/cmt-compile.
"""
import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cmt_reference import CMT, VARIANTS  # noqa: E402


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def torch_images_per_s(name, batch, threads, seconds=5.0):
    torch.set_num_threads(threads)
    model = CMT(VARIANTS[name]).eval()
    x = torch.randn(batch, 3, model.cfg.resolution, model.cfg.resolution)
    times = []
    with torch.no_grad():
        model(x)
        start = time.perf_counter()
        while len(times) < 5 or (time.perf_counter() - start < seconds and len(times) < 200):
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    times.sort()
    return batch / times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["cmt-micro", "cmt-ti"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    args = ap.parse_args()
    compiler = os.path.join(args.build, "bin", "cmt-compile")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            ckpt = os.path.join(tmp, name + ".safetensors")
            exe = os.path.join(tmp, name)
            subprocess.run([sys.executable, os.path.join(HERE, "make_checkpoint.py"), ckpt, "--variant", name],
                           check=True, capture_output=True)
            t0 = time.perf_counter()
            subprocess.run([compiler, os.path.join(HERE, "..", "models", name + ".mlir"),
                            f"--batch={args.batch}", "-o", exe], check=True)
            compile_s = time.perf_counter() - t0
            out = subprocess.run([exe, "--weights", ckpt, "--benchmark", "--threads", str(args.threads)],
                                 check=True, capture_output=True, text=True).stdout
            ours = float(re.search(r"([0-9.]+) images/s", out).group(1))
            p50 = float(re.search(r"p50 ([0-9.]+)", out).group(1))
            theirs = torch_images_per_s(name, args.batch, args.threads)
            rows.append((name, ours, p50, theirs, compile_s))
    print(f"CPU inference, batch {args.batch}, {args.threads} threads, {cpu_name()}, "
          f"torch {torch.__version__}, {datetime.date.today()}\n")
    print("| model | cmt (images/s) | cmt p50 per batch (ms) | PyTorch eager (images/s) | speed-up | compile (s) |")
    print("|---|---|---|---|---|---|")
    for name, ours, p50, theirs, compile_s in rows:
        print(f"| {name} | {ours:.1f} | {p50:.1f} | {theirs:.1f} | {ours / theirs:.2f}x | {compile_s:.0f} |")


if __name__ == "__main__":
    main()
