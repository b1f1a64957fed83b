#!/usr/bin/env python3
"""PyTorch reference of the compiled training step, for tests and comparisons.

  train_reference.py WEIGHTS.safetensors DATA.safetensors OUT.safetensors --steps N [flags as the
      train executable's: --optimizer adamw|sgd --lr --min-lr --weight-decay --beta1 --beta2 --eps
      --momentum --nesterov --schedule cosine|constant --schedule-steps --warmup-steps
      --clip-grad-norm --label-smoothing] [--float32]

Runs N steps of the authors' training step (python/cmt_reference.py, in float64
unless --float32) on the batches the executable would use (step s: images
[s*B, (s+1)*B) mod K, B = --batch) and writes grad/<param> of the first step,
after/<name> for every parameter and buffer after the last step, and loss/<s>.
The semantics are the executable's (runtime/train_hyper.h): weight decay only
on parameters of rank >= 2 (AdamW decoupled, SGD as L2), the learning rate of
step s from linear warm-up then cosine, gradients clipped by global norm.
"""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cmt_reference import load_model, load_safetensors, save_safetensors  # noqa: E402


def learning_rate(a, step):
    if step < a.warmup_steps:
        return a.lr * (step + 1) / max(a.warmup_steps, 1)
    if a.schedule == "constant":
        return a.lr
    total = a.schedule_steps if a.schedule_steps is not None else a.steps
    t = min(max((step - a.warmup_steps) / max(total - a.warmup_steps, 1), 0.0), 1.0)
    return a.min_lr + 0.5 * (a.lr - a.min_lr) * (1 + math.cos(math.pi * t))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights")
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"])
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=0.0)
    ap.add_argument("--weight-decay", type=float, default=1e-2)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--momentum", type=float, default=0.0)
    ap.add_argument("--nesterov", action="store_true")
    ap.add_argument("--schedule", default="cosine", choices=["cosine", "constant"])
    ap.add_argument("--schedule-steps", type=int)
    ap.add_argument("--warmup-steps", type=int, default=0)
    ap.add_argument("--clip-grad-norm", type=float, default=0.0)
    ap.add_argument("--label-smoothing", type=float, default=0.0)
    ap.add_argument("--float32", action="store_true")
    ap.add_argument("--dropout-uniform", metavar="GRADS.safetensors",
                    help="apply the model's head dropout with the draws a train executable's --dump-grads wrote")
    a = ap.parse_args()

    dtype = torch.float32 if a.float32 else torch.float64
    model, _ = load_model(a.weights)
    model = model.to(dtype).train()
    for m in model.modules():  # an executable compiled with --head-dropout=0 has none
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    if a.dropout_uniform:  # the executable's own draws: element kept where u >= p, scaled by 1 / (1 - p)
        if a.steps != 1:
            ap.error("--dropout-uniform holds the draws of one step: pass --steps 1")
        u = load_safetensors(a.dropout_uniform)[0]["batch/dropout_uniform"].to(dtype)
        p = model.cfg.dropout
        model._drop.forward = lambda x: x * (u >= p).to(x.dtype) / (1 - p)
    data, _ = load_safetensors(a.data)
    images, labels = data["input"].to(dtype), data["labels"]
    if labels.is_floating_point():  # target distributions (mixup, cutmix)
        labels = labels.to(dtype)
    per_data = images.shape[0] // a.batch

    params = dict(model.named_parameters())
    decay = [p for p in params.values() if p.ndim >= 2]
    rest = [p for p in params.values() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": a.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if a.optimizer == "adamw":
        opt = torch.optim.AdamW(groups, lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps)
    else:
        opt = torch.optim.SGD(groups, lr=a.lr, momentum=a.momentum, nesterov=a.nesterov)
    out = {}
    for step in range(a.steps):
        for g in opt.param_groups:
            g["lr"] = learning_rate(a, step)
        s = step % per_data
        x, y = images[s * a.batch:(s + 1) * a.batch], labels[s * a.batch:(s + 1) * a.batch]
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y, label_smoothing=a.label_smoothing)
        loss.backward()
        if step == 0:
            out.update({"grad/" + n: p.grad.detach().clone() for n, p in params.items()})
        if a.clip_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip_grad_norm)
        opt.step()
        out[f"loss/{step}"] = loss.detach().clone()
    out.update({"after/" + n: t.detach().clone() for n, t in model.state_dict().items()})
    save_safetensors(a.out, out, {"steps": a.steps, "dtype": str(dtype)})
    print(" ".join(f"{float(out[f'loss/{s}']):.6f}" for s in range(a.steps)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
