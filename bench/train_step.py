"""Overhead of utter.train.Trainer over a bare PyTorch loop doing the same optimiser steps.

Both train the same small x-vector TDNN (utter.nnet) with a linear classifier and
cross-entropy on synthetic fbank-like batches already in memory: AdamW, per-step cosine
learning rate, gradient clipping, the loss read back every step. The trainer also writes
train_log.tsv, a progress line every --log-interval steps, and at the end a checkpoint,
final.pt and the loss curve. Each side is timed for N and 2N steps; the difference divided
by N is the steady per-step time (fixed costs cancel), reported with the ratio
trainer/bare, and the trainer's fixed cost (set-up, checkpoint, final.pt, plot) apart.

usage: tools/venv/bin/python bench/train_step.py [--steps 40] [--device cpu] [--threads 1]
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import time

import torch
from torch import nn

from utter.nnet import build_network
from utter.train.config import TrainConfig
from utter.train.objectives.base import Objective
from utter.train.schedules import cosine_schedule
from utter.train.trainer import Trainer

ARCH = {"arch": "tdnn", "feat_dim": 40, "channels": [128, 128, 128, 128, 384], "embed_dim": 128}
BATCH, FRAMES, CLASSES = 32, 200, 50


class Classify(Objective):
    def __init__(self, net: nn.Module, head: nn.Module) -> None:
        self.net, self.head = net, head

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.net, "head": self.head}

    def loss(self, batch):
        feats, labels = batch
        return nn.functional.cross_entropy(self.head(self.net(feats)), labels), {}


def make_batches(n: int, device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(BATCH, FRAMES, ARCH["feat_dim"], generator=g).to(device),
             torch.randint(0, CLASSES, (BATCH,), generator=g).to(device)) for _ in range(n)]


def fresh(device: torch.device) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    return build_network(ARCH).to(device), nn.Linear(ARCH["embed_dim"], CLASSES).to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare(steps: int, batches: list, device: torch.device) -> float:
    net, head = fresh(device)
    params = [*net.parameters(), *head.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4)
    lrs = cosine_schedule(1e-3, 1e-5, steps, steps // 10)
    net.train()
    head.train()
    _sync(device)
    t0 = time.perf_counter()
    for i in range(steps):
        for g in opt.param_groups:
            g["lr"] = float(lrs[i])
        feats, labels = batches[i % len(batches)]
        loss = nn.functional.cross_entropy(head(net(feats)), labels)
        float(loss.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
    _sync(device)
    return time.perf_counter() - t0


def trained(steps: int, batches: list, device: torch.device, log_interval: int) -> tuple[float, float]:
    """(seconds for the whole train() call, seconds inside the step loop)."""
    net, head = fresh(device)
    cfg = TrainConfig(total_steps=steps, steps_per_epoch=steps, optimizer="adamw", lr=1e-3, min_lr=1e-5,
                      warmup_steps=steps // 10, weight_decay=1e-4, grad_clip=5.0, device=str(device),
                      log_interval=log_interval)

    def factory(epoch, rank, world_size, start_batch):
        return (batches[i % len(batches)] for i in range(start_batch, steps))

    with tempfile.TemporaryDirectory() as exp:
        trainer = Trainer(Classify(net, head), factory, cfg, exp)
        loop = {}
        inner = trainer._loop

        def timed_loop():
            _sync(device)
            t = time.perf_counter()
            inner()
            _sync(device)
            loop["s"] = time.perf_counter() - t

        trainer._loop = timed_loop
        t0 = time.perf_counter()
        trainer.train()
        _sync(device)
        return time.perf_counter() - t0, loop["s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--log-interval", type=int, default=10)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    n = args.steps
    batches = make_batches(8, device)
    bare(5, batches, device)  # warm-up: allocator, kernels
    b1, b2 = bare(n, batches, device), bare(2 * n, batches, device)
    _, l1 = trained(n, batches, device, args.log_interval)
    t2, l2 = trained(2 * n, batches, device, args.log_interval)
    bare_step = (b2 - b1) / n
    loop_step = (l2 - l1) / n
    fixed = t2 - l2
    print(f"device {device}, threads {args.threads}, TDNN {ARCH['channels']} batch {BATCH}x{FRAMES}x"
          f"{ARCH['feat_dim']}, {n} and {2 * n} steps")
    print(f"bare loop      : {1000 * bare_step:8.2f} ms/step")
    print(f"trainer        : {1000 * loop_step:8.2f} ms/step   ratio trainer/bare {loop_step / bare_step:.3f}")
    print(f"trainer fixed  : {fixed:8.2f} s (set-up, end checkpoint, final.pt, loss curve)")


if __name__ == "__main__":
    main()
