#!/usr/bin/env python3
"""GPU inference speed: cmt-compile's CUDA executables against PyTorch eager and
torch.compile on the same GPU, bf16, batch 128 and batch 1. Two halves, since
the compiler needs MLIR (no GPU) and the benchmark a GPU (no MLIR):

  bench_cuda.py build DIR [--models cmt-ti cmt-xs cmt-s cmt-b]     (here: compiles)
  bench_cuda.py run DIR [--models ...] [--compile-models cmt-ti]   (GPU machine)

`run` prints a markdown table: images/s at batch 128 and latency at batch 1
for our executables (--precision bf16: the executable's forward with
activations stored as bf16, tensor-core GEMMs accumulating in f32; at batch
128 also --precision tf32, the f32-activation forward; one CUDA graph replayed
on device-resident data) and for the PyTorch model of
CMT-SPEC.md (python/cmt_reference.py) in eager mode and with
torch.compile(mode="reduce-overhead") (CUDA graphs; the best mode measured in
PEERS-H100.md), both under bf16 autocast, timed with CUDA events on
device-resident inputs after warm-up, median of the runs; peak GPU memory
(torch.cuda.max_memory_allocated; ours: arena + arguments + cuBLAS
workspace, as the executable reports). Weights are zeros for ours and random
for PyTorch: no data-dependent control flow on either side.
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
ROOT = os.path.join(HERE, "..")
RES = {"cmt-ti": 160, "cmt-xs": 192, "cmt-s": 224, "cmt-b": 256}


def build(args):
    os.makedirs(args.dir, exist_ok=True)
    compiler = os.path.join(args.build, "bin", "cmt-compile")
    times = {}
    for name in args.models:
        # Each executable holds both forwards (f32 and bf16 activations).
        for batch in (128, 1):
            tag = f"{name}-b{batch}"
            exe = os.path.join(args.dir, tag)
            t0 = time.perf_counter()
            subprocess.run([compiler, os.path.join(ROOT, "models", name + ".mlir"), "--target=cuda",
                            f"--batch={batch}", "-o", exe], check=True)
            times[tag] = time.perf_counter() - t0
            subprocess.run(["strip", exe], check=False)
    json.dump(times, open(os.path.join(args.dir, "compile.json"), "w"))
    print("built", args.dir)


def ours(exe, iterations, precision="bf16"):
    out = subprocess.run([exe, "--benchmark", "--precision", precision, "--iterations", str(iterations)],
                         check=True, capture_output=True, text=True).stdout
    return {"images_s": float(re.search(r"([0-9.]+) images/s", out).group(1)),
            "p50_ms": float(re.search(r"p50 ([0-9.]+)", out).group(1)),
            "mib": float(re.search(r"resident ([0-9.]+) MiB", out).group(1)),
            "nodes": int(re.search(r"graph of ([0-9]+) nodes", out).group(1))}


def torch_time(model, x, iterations):
    import torch
    for _ in range(10):
        model(x)
    torch.cuda.synchronize()
    times = []
    for _ in range(iterations):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        model(x)
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def peer(name, batch, compiled, iterations):
    import torch
    sys.path.insert(0, HERE)
    from cmt_reference import CMT, VARIANTS
    torch.backends.cudnn.benchmark = True
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model = CMT(VARIANTS[name]).cuda().eval()
    x = torch.randn(batch, 3, RES[name], RES[name], device="cuda")
    fn = torch.compile(model, mode="reduce-overhead", dynamic=False) if compiled else model
    t0 = time.perf_counter()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        fn(x)
        compile_s = time.perf_counter() - t0
        ms = torch_time(fn, x, iterations)
    peak = torch.cuda.max_memory_allocated() / 2**20
    del model, fn
    return {"images_s": batch * 1000 / ms, "p50_ms": ms, "mib": peak, "compile_s": compile_s}


def run(args):
    import torch
    times = json.load(open(os.path.join(args.dir, "compile.json")))
    device = torch.cuda.get_device_name()
    rows = []
    for name in args.models:
        r = {"name": name}
        r["ours128"] = ours(os.path.join(args.dir, f"{name}-b128"), 50)
        r["ours128tf32"] = ours(os.path.join(args.dir, f"{name}-b128"), 50, "tf32")
        r["ours1"] = ours(os.path.join(args.dir, f"{name}-b1"), 300)
        r["eager128"] = peer(name, 128, False, 30)
        r["eager1"] = peer(name, 1, False, 100)
        if name in args.compile_models:
            r["comp128"] = peer(name, 128, True, 30)
            r["comp1"] = peer(name, 1, True, 100)
        r["compile_s"] = times.get(f"{name}-b128", float("nan"))
        rows.append(r)
        print(json.dumps(r), flush=True)
    print(f"\nInference, bf16, {device}, torch {torch.__version__}, {datetime.date.today()}\n")
    print("| model | cmt b128 (img/s) | cmt tf32 f32-activations b128 | eager b128 | compiled b128 | cmt b1 (ms) "
          "| eager b1 | compiled b1 | cmt peak MiB b128 | cmt tf32 peak | eager peak | compiled peak "
          "| cmt graph nodes | cmt compile s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c128, c1 = r.get("comp128"), r.get("comp1")
        cells = [r["name"], f"{r['ours128']['images_s']:.0f}", f"{r['ours128tf32']['images_s']:.0f}",
                 f"{r['eager128']['images_s']:.0f}",
                 f"{c128['images_s']:.0f}" if c128 else "not run",
                 f"{r['ours1']['p50_ms']:.2f}", f"{r['eager1']['p50_ms']:.2f}",
                 f"{c1['p50_ms']:.2f}" if c1 else "not run",
                 f"{r['ours128']['mib']:.0f}", f"{r['ours128tf32']['mib']:.0f}", f"{r['eager128']['mib']:.0f}",
                 f"{c128['mib']:.0f}" if c128 else "-",
                 str(r["ours128"]["nodes"]), f"{r['compile_s']:.0f}"]
        print("| " + " | ".join(cells) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["build", "run"])
    ap.add_argument("dir")
    ap.add_argument("--models", nargs="+", default=["cmt-ti", "cmt-xs", "cmt-s", "cmt-b"])
    ap.add_argument("--compile-models", nargs="*", default=["cmt-ti"],
                    help="models also measured with torch.compile (about a minute of compiling each)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    args = ap.parse_args()
    build(args) if args.mode == "build" else run(args)


if __name__ == "__main__":
    main()
