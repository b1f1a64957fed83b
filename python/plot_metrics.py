#!/usr/bin/env python3
"""Plots a training metrics log (JSON lines, as the training executables write it).

  plot_metrics.py LOG.jsonl -o OUT.png [--title T] [--smooth N] [--summary]

Records (fields may be missing, unknown keys are ignored):
  {"kind": "step", "step": 12, "epoch": 0, "loss": 2.1, "lr": 0.001, ...}
  {"kind": "epoch", "epoch": 0, "step": 469, "train_loss": 1.2, "val_loss": 0.9,
   "val_top1": 71.3, "val_top5": 98.2, "seconds": 61.2}
Left panel: train loss per step (raw, light) with a trailing moving average and
val loss at epoch-end steps; right panel: val top-1/top-5 (%) against epoch.
A truncated last line (the run was killed mid-write) is skipped with a warning.
"""
import argparse
import json
import math
import os
import sys


def number(v):
    """A finite float, or None (missing, null, NaN, inf, a string, a bool)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def read_log(path):
    """(steps, epochs): {step: loss} and {epoch: record}, later records winning, so
    a run resumed from a checkpoint overwrites the steps it repeats."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        raise SystemExit(f"error: cannot read {path}: {e.strerror or e}")
    lines = text.split("\n")
    last = max((i for i, l in enumerate(lines) if l.strip()), default=-1)
    steps, epochs = {}, {}
    last_step = None
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            what = "truncated last line" if i == last else "malformed line"
            print(f"warning: {path}:{i + 1}: skipping {what}", file=sys.stderr)
            continue
        if not isinstance(rec, dict):
            continue
        kind = rec.get("kind")
        if kind is None:  # infer it from the fields when missing
            kind = "step" if "loss" in rec else "epoch" if any(k in rec for k in
                   ("val_loss", "val_top1", "val_top5", "train_loss")) else None
        step = number(rec.get("step"))
        if kind == "step":
            loss = number(rec.get("loss"))
            if step is None:
                step = 0.0 if last_step is None else last_step + 1
            last_step = step
            if loss is not None:
                steps[step] = loss
        elif kind == "epoch":
            epoch = number(rec.get("epoch"))
            if epoch is None:
                epoch = float(len(epochs))
            vals = {k: number(rec.get(k)) for k in ("train_loss", "val_loss", "val_top1", "val_top5")}
            vals["step"] = step if step is not None else last_step
            if any(v is not None for k, v in vals.items() if k != "step"):
                epochs[epoch] = vals
    return dict(sorted(steps.items())), dict(sorted(epochs.items()))


def moving_average(y, window):
    """Trailing mean over up to `window` values (shorter at the start)."""
    import numpy as np
    y = np.asarray(y, dtype=float)
    c = np.concatenate([[0.0], np.cumsum(y)])
    i = np.arange(1, len(y) + 1)
    lo = np.maximum(i - window, 0)
    return (c[i] - c[lo]) / (i - lo)


def fmt_epoch(e):
    return str(int(e)) if float(e).is_integer() else f"{e:g}"


def summary(steps, epochs):
    out = []
    if epochs:
        out.append(f"final epoch: {fmt_epoch(max(epochs))} ({len(epochs)} epoch records)")
        top1 = [(r["val_top1"], e) for e, r in epochs.items() if r["val_top1"] is not None]
        if top1:
            best, at = max(top1, key=lambda t: t[0])
            out.append(f"best val top-1: {best:.2f}% (epoch {fmt_epoch(at)})")
        else:
            out.append("best val top-1: n/a")
    else:
        out.append("final epoch: n/a")
    if steps:
        s = max(steps)
        out.append(f"last train loss: {steps[s]:.4g} (step {fmt_epoch(s)})")
    else:
        losses = [(e, r["train_loss"]) for e, r in epochs.items() if r["train_loss"] is not None]
        out.append(f"last train loss: {losses[-1][1]:.4g} (epoch mean, epoch {fmt_epoch(losses[-1][0])})"
                   if losses else "last train loss: n/a")
    return "\n".join(out)


def plot(steps, epochs, out, title, smooth):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    fig.suptitle(title)
    if steps:
        x, y = list(steps), list(steps.values())
        smoothed = smooth > 1 and len(y) > 1
        left.plot(x, y, color="tab:blue", alpha=0.25 if smoothed else 1.0, linewidth=0.8, label="train loss")
        if smoothed:
            left.plot(x, moving_average(y, smooth), color="tab:blue", linewidth=1.6,
                      label=f"train loss (mean of {smooth})")
    val = [(r["step"], r["val_loss"]) for r in epochs.values()
           if r["val_loss"] is not None and r["step"] is not None]
    if val:
        left.plot(*zip(*val), "o-", color="tab:orange", label="val loss")
    left.set(title="loss", xlabel="step", ylabel="loss")
    for key, name, colour in (("val_top1", "val top-1", "tab:green"), ("val_top5", "val top-5", "tab:red")):
        pts = [(e, r[key]) for e, r in epochs.items() if r[key] is not None]
        if pts:
            right.plot(*zip(*pts), "o-", color=colour, label=name)
    right.set(title="accuracy %", xlabel="epoch", ylabel="%")
    right.xaxis.set_major_locator(MaxNLocator(integer=True))  # no "epoch 0.5"
    lo, hi = right.get_xlim()
    if right.lines and hi - lo < 2:  # one epoch: widen, or the locator falls back to fractions
        right.set_xlim((lo + hi) / 2 - 1, (lo + hi) / 2 + 1)
    for ax in (left, right):
        if ax.lines:
            ax.legend()
            ax.grid(alpha=0.3)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey")
            ax.set(xticks=[], yticks=[])
    fig.tight_layout()
    # Temporary beside the target, then rename: a reader never sees half a PNG and a
    # failed save leaves the previous plot.
    tmp = f"{out}.tmp.{os.getpid()}"
    try:
        fig.savefig(tmp, format="png", dpi=100)
        os.replace(tmp, out)
    except OSError as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise SystemExit(f"error: cannot write {out}: {e.strerror or e}")
    finally:
        plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("log", help="metrics log, JSON lines")
    p.add_argument("-o", "--output", help="PNG to write")
    p.add_argument("--title", help="chart title (default: the log's file name)")
    p.add_argument("--smooth", type=int, default=50, help="moving-average window over steps (default 50; 1: off)")
    p.add_argument("--summary", action="store_true", help="print final epoch, best val top-1, last train loss")
    a = p.parse_args(argv)
    if not a.output and not a.summary:
        p.error("nothing to do: give -o OUT.png and/or --summary")
    if a.smooth < 1:
        p.error("--smooth must be at least 1")
    steps, epochs = read_log(a.log)
    if not steps and not epochs:
        print(f"error: {a.log}: no usable records", file=sys.stderr)
        return 1
    if a.summary:
        print(summary(steps, epochs))
    if a.output:
        plot(steps, epochs, a.output, a.title if a.title is not None else os.path.basename(a.log), a.smooth)
    return 0


if __name__ == "__main__":
    sys.exit(main())  # SystemExit("error: ...") prints to stderr and exits with 1
