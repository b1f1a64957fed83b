#!/usr/bin/env python3
"""GPU training speed: cmt-compile's training executables against PyTorch eager and
torch.compile on the same GPU, batch 128, bf16. Two halves, since the compiler
needs MLIR (no GPU) and the benchmark a GPU (no MLIR):

  bench_train.py build DIR [--models cmt-ti cmt-xs cmt-s]          (here: compiles)
  bench_train.py run DIR [--models ...] [--compile-models cmt-ti]  (GPU machine)

`run` prints a markdown table: training images/s (forward, backward and
AdamW, median step after the first) and peak GPU memory. Ours: the
executable from the initialisation of CMT-SPEC.md on one random batch
(--precision bf16: tensor-core GEMMs; activations stored f32, and bf16 with
--storage=bf16), peak = arena + arguments
+ cuBLAS workspace as it reports. PyTorch (python/cmt_reference.py): train
mode, bf16 autocast, cross-entropy, backward, fused AdamW, eager and
torch.compile (default mode, and mode="reduce-overhead" whose CUDA graphs
PEERS-H100.md measured fastest), steps timed with CUDA events, peak =
torch.cuda.max_memory_allocated (which misses the CUDA-graph pool).
"""
import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_cuda import RES, ROOT  # noqa: E402

BATCH = 128


def build(args):
    os.makedirs(args.dir, exist_ok=True)
    compiler = os.path.join(args.build, "bin", "cmt-compile")
    times = {}
    for name in args.models:
        # Activations (and their gradients) stored f32, and bf16 as autocast stores them.
        for storage in ("f32", "bf16"):
            tag = f"{name}-train" + ("-bf16" if storage == "bf16" else "")
            exe = os.path.join(args.dir, tag)
            t0 = time.perf_counter()
            subprocess.run([compiler, os.path.join(ROOT, "models", name + ".mlir"), "--target=cuda",
                            "--mode=train", "--head-dropout=0", f"--batch={BATCH}", f"--storage={storage}",
                            "-o", exe], check=True)
            times[tag] = time.perf_counter() - t0
            subprocess.run(["strip", exe], check=False)
    json.dump(times, open(os.path.join(args.dir, "compile.json"), "w"))
    print("built", args.dir)


def data_file(args, name):
    """One random batch (made on the GPU machine: the files are large)."""
    import torch
    from cmt_reference import save_safetensors
    path = os.path.join(args.dir, f"{name}-data.safetensors")
    if not os.path.exists(path):
        g = torch.Generator().manual_seed(0)
        save_safetensors(path, {"input": torch.randn(BATCH, 3, RES[name], RES[name], generator=g),
                                "labels": torch.randint(0, 1000, (BATCH,), generator=g)})
    return path


def ours(args, name, tag):
    out = subprocess.run([os.path.join(args.dir, tag), "--data", data_file(args, name),
                          "--steps", str(args.steps), "--precision", "bf16", "--lr", "1e-4"],
                         check=True, capture_output=True, text=True).stdout
    return {"images_s": float(re.search(r"median ([0-9.]+) images/s", out).group(1)),
            "mib": float(re.search(r"resident ([0-9.]+) MiB", out).group(1))}


def peer(name, mode, steps):
    import torch
    import torch.nn.functional as F
    from cmt_reference import CMT, VARIANTS
    torch.backends.cudnn.benchmark = True
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model = CMT(VARIANTS[name]).cuda().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    x = torch.randn(BATCH, 3, RES[name], RES[name], device="cuda")
    y = torch.randint(0, 1000, (BATCH,), device="cuda")

    def loss_of(x, y):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return F.cross_entropy(model(x), y)

    fn = loss_of if mode == "eager" else torch.compile(
        loss_of, mode="reduce-overhead" if mode == "graphs" else "default", dynamic=False)
    t0 = time.perf_counter()
    times = []
    for i in range(steps + 5):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        opt.zero_grad(set_to_none=True)
        fn(x, y).backward()
        opt.step()
        b.record()
        b.synchronize()
        if i == 0:
            compile_s = time.perf_counter() - t0
        if i >= 5:
            times.append(a.elapsed_time(b))
    times.sort()
    ms = times[len(times) // 2]
    return {"images_s": BATCH * 1000 / ms, "mib": torch.cuda.max_memory_allocated() / 2**20,
            "compile_s": compile_s}


def run(args):
    import torch
    times = json.load(open(os.path.join(args.dir, "compile.json")))
    device = torch.cuda.get_device_name()
    rows = []
    for name in args.models:
        r = {"name": name, "ours": ours(args, name, f"{name}-train"),
             "ours_bf16": ours(args, name, f"{name}-train-bf16"), "eager": peer(name, "eager", args.steps)}
        if name in args.compile_models:
            r["compiled"] = peer(name, "default", args.steps)
            r["graphs"] = peer(name, "graphs", args.steps)
        r["compile_s"] = times.get(f"{name}-train", float("nan"))
        rows.append(r)
        print(json.dumps(r), flush=True)
    print(f"\nTraining, batch {BATCH}, bf16, {device}, torch {torch.__version__}, {datetime.date.today()}\n")
    print("| model | cmt img/s | cmt bf16-storage | eager | compiled | compiled + CUDA graphs | cmt peak MiB "
          "| cmt bf16-storage peak | eager peak | compiled peak | cmt compile s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c, g = r.get("compiled"), r.get("graphs")
        print("| " + " | ".join([
            r["name"], f"{r['ours']['images_s']:.0f}", f"{r['ours_bf16']['images_s']:.0f}",
            f"{r['eager']['images_s']:.0f}",
            f"{c['images_s']:.0f}" if c else "not run", f"{g['images_s']:.0f}" if g else "not run",
            f"{r['ours']['mib']:.0f}", f"{r['ours_bf16']['mib']:.0f}", f"{r['eager']['mib']:.0f}",
            f"{c['mib']:.0f}" if c else "-", f"{r['compile_s']:.0f}"]) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["build", "run"])
    ap.add_argument("dir")
    ap.add_argument("--models", nargs="+", default=["cmt-ti", "cmt-xs", "cmt-s"])
    ap.add_argument("--compile-models", nargs="*", default=["cmt-ti"],
                    help="models also measured with torch.compile (minutes of compiling each)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    build(args) if args.mode == "build" else run(args)


if __name__ == "__main__":
    main()
