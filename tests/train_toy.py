"""A toy training run through utter.train.Trainer, for the trainer tests (in-process or as a script).

Seeded synthetic regression batches (a pure function of seed, epoch, batch index), a small MLP
with dropout, a teacher kept as an EMA of it (the exported model, as for DINO), and noise drawn
from an objective-owned numpy Generator, python ``random`` and numpy's global generator, so a
resumed run is bit-identical only if every one of those states is restored.

Run as a script (also under ``torchrun``): ``python tests/train_toy.py EXP_DIR [options]``.
"""
from __future__ import annotations

import argparse
import copy
import logging
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from utter.train.checkpoint import numpy_generator_state, set_numpy_generator_state
from utter.train.config import TrainConfig
from utter.train.objectives.base import Objective
from utter.train.trainer import Trainer

IN_DIM, OUT_DIM = 6, 3


class ToyNet(nn.Module):
    """Linear - ReLU - Dropout - Linear, with the ``.config`` an utter network carries."""

    def __init__(self, hidden: int = 16, dropout: float = 0.1) -> None:
        super().__init__()
        self.config = {"type": "toy_mlp", "in_dim": IN_DIM, "hidden": hidden, "out_dim": OUT_DIM,
                       "dropout": dropout}
        self.body = nn.Sequential(nn.Linear(IN_DIM, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, OUT_DIM))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(x)


class ToyObjective(Objective):
    """MSE regression; the teacher is an EMA of the student and is what gets exported."""

    def __init__(self, net: ToyNet, noise: float = 0.1, momentum: float = 0.9, seed: int = 0) -> None:
        self.net = net
        self.teacher = copy.deepcopy(net)
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.noise = noise
        self.momentum = momentum
        self.rng = np.random.default_rng(seed)
        self.steps_seen = 0
        self.epochs_seen: list[int] = []
        self.length: tuple[int, int] | None = None
        self.steps_begun: list[int] = []

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.net, "teacher": self.teacher}

    def trainable(self) -> list[str]:
        return ["model"]

    def model_for_export(self) -> nn.Module:
        return self.teacher

    def begin_training(self, total_steps: int, steps_per_epoch: int) -> None:
        self.length = (total_steps, steps_per_epoch)

    def before_epoch(self, epoch: int) -> None:
        self.epochs_seen.append(epoch)

    def before_step(self, step: int) -> None:
        self.steps_begun.append(step)

    def loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        x, y = batch
        if self.noise:
            x = x + self.noise * torch.from_numpy(self.rng.standard_normal(x.shape).astype(np.float32))
            x = x * (1.0 + self.noise * (random.random() - 0.5)) + self.noise * float(np.random.standard_normal())
        pred = self.net(x)
        loss = torch.mean((pred - y) ** 2)
        return loss, {"mae": float(torch.mean(torch.abs(pred.detach() - y)))}

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        self.steps_seen += 1
        for pt, ps in zip(self.teacher.parameters(), self.net.parameters()):
            pt.mul_(self.momentum).add_(ps.detach(), alpha=1 - self.momentum)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": numpy_generator_state(self.rng), "steps_seen": self.steps_seen}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        set_numpy_generator_state(self.rng, state["rng"])
        self.steps_seen = state["steps_seen"]


class ToyLoader:
    """One epoch of synthetic batches for one rank; batch b is a pure function of (seed, epoch, b).

    The global batch (``batch_size * world_size`` rows) is drawn whole and each rank takes its
    slice, so ranks together see exactly what one process sees with the whole batch.
    """

    def __init__(self, seed: int, epoch: int, rank: int, world_size: int, start_batch: int,
                 num_batches: int, global_batch: int, sleep: float = 0.0) -> None:
        if global_batch % world_size:
            raise ValueError(f"global batch {global_batch} does not split over {world_size} ranks")
        self.seed, self.epoch, self.rank, self.world = seed, epoch, rank, world_size
        self.start, self.num_batches, self.global_batch, self.sleep = start_batch, num_batches, global_batch, sleep

    def __len__(self) -> int:
        return max(0, self.num_batches - self.start)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        w = torch.arange(IN_DIM * OUT_DIM, dtype=torch.float32).reshape(IN_DIM, OUT_DIM) / 10 - 0.8
        per_rank = self.global_batch // self.world
        for b in range(self.start, self.num_batches):
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch * 10_007 + b)
            x = torch.randn(self.global_batch, IN_DIM, generator=g)
            y = torch.tanh(x @ w) + 0.05 * torch.randn(self.global_batch, OUT_DIM, generator=g)
            sl = slice(self.rank * per_rank, (self.rank + 1) * per_rank)
            if self.sleep:
                time.sleep(self.sleep)
            yield x[sl], y[sl]


def make_trainer(exp_dir: str | os.PathLike, *, hidden: int = 16, dropout: float = 0.1, noise: float = 0.1,
                 batches: int = 6, global_batch: int = 8, sleep: float = 0.0, seed: int = 0,
                 **config: Any) -> Trainer:
    """A Trainer over the toy objective; ``config`` entries override TrainConfig defaults."""
    torch.manual_seed(seed)  # the network's initialisation
    objective = ToyObjective(ToyNet(hidden, dropout), noise=noise, seed=seed)
    cfg = dict(epochs=3, optimizer="adamw", lr=0.01, min_lr=1e-4, warmup_steps=3, weight_decay=0.01,
               grad_clip=1.0, checkpoint_interval=4, keep_last=3, average_last=2, log_interval=5, seed=seed,
               num_threads=1)
    cfg.update(config)

    def factory(epoch: int, rank: int, world_size: int, start_batch: int) -> ToyLoader:
        return ToyLoader(seed, epoch, rank, world_size, start_batch, batches, global_batch, sleep)

    return Trainer(objective, factory, TrainConfig(**cfg), exp_dir, run_config={"toy": True})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("exp_dir")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--sleep", type=float, default=0.0, help="seconds per batch (gives a test time to kill)")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--global-batch", type=int, default=8)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--optimizer", default="adamw")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    torch.set_num_threads(1)
    trainer = make_trainer(args.exp_dir, dropout=args.dropout, noise=args.noise, global_batch=args.global_batch,
                           sleep=args.sleep, epochs=args.epochs, optimizer=args.optimizer)
    trainer.train(resume=args.resume)
    rank = trainer.dist.rank
    params = {f"{name}.{k}": v.detach().cpu().clone()
              for name, m in trainer.objective.modules().items() for k, v in m.state_dict().items()}
    torch.save(params, Path(args.exp_dir) / f"params_rank{rank}.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
