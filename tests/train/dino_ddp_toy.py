"""A few DINO steps of a tiny batch-norm-free network through utter.train.Trainer, for the DDP test.

Run alone with the whole batch, or under ``torchrun --nproc-per-node N`` where rank r trains on
its 1/N share of the same utterances (every view of an utterance stays on one rank). Each rank
writes ``losses_rank{r}.json`` (its own per-step losses) and ``params_rank{r}.pt`` (student,
teacher, heads and centre after training) into EXP_DIR.

usage: python tests/train/dino_ddp_toy.py EXP_DIR [--steps 4] [--global-batch 8]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import torch
from torch import nn

from utter.nnet.pooling import StatsPool
from utter.train.config import TrainConfig
from utter.train.objectives.dino import DINOObjective
from utter.train.trainer import Trainer

FEAT_DIM, G, L, TG, TL = 12, 2, 2, 24, 12


class TinyNet(nn.Module):
    """Conv1d - ReLU - conv1d - stats pooling - linear: the embedding-network interface, no batch norm
    (batch statistics are per process under the trainer's data parallelism, so a BN network's
    2 x B run is not the 1 x 2B run)."""

    embed_dim = 8

    def __init__(self) -> None:
        super().__init__()
        self.config = {"arch": "tiny_ddp_toy"}
        self.frames = nn.Sequential(nn.Conv1d(FEAT_DIM, 16, 3, padding=1), nn.ReLU(),
                                    nn.Conv1d(16, 16, 3, padding=1), nn.ReLU())
        self.pool = StatsPool()
        self.embedding = nn.Linear(32, self.embed_dim)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.embedding(self.pool(self.frames(feats.transpose(1, 2))))


class RecordingDINO(DINOObjective):
    """DINOObjective that keeps every step's loss of this process."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.losses: list[float] = []

    def loss(self, batch):
        loss, metrics = super().loss(batch)
        self.losses.append(float(loss.detach()))
        return loss, metrics


def global_batch(step: int, n_utts: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The step's crops per utterance: [n_utts, G, TG, F] and [n_utts, L, TL, F]."""
    g = torch.Generator().manual_seed(100 + step)
    return torch.randn(n_utts, G, TG, FEAT_DIM, generator=g), torch.randn(n_utts, L, TL, FEAT_DIM, generator=g)


def rank_batch(step: int, n_utts: int, rank: int, world: int) -> dict:
    """This rank's share of the step's utterances, view-major as the multi-crop loader gives them."""
    glob, loc = global_batch(step, n_utts)
    share = slice(rank * n_utts // world, (rank + 1) * n_utts // world)
    glob, loc = glob[share], loc[share]
    b = glob.shape[0]
    return {"global": glob.transpose(0, 1).reshape(G * b, TG, FEAT_DIM),
            "global_lengths": torch.full((G * b,), TG),
            "local": loc.transpose(0, 1).reshape(L * b, TL, FEAT_DIM),
            "local_lengths": torch.full((L * b,), TL)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("exp_dir")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--global-batch", type=int, default=8)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    objective = RecordingDINO(TinyNet(), num_global=G, num_local=L, out_dim=64, hidden=32, bottleneck=16,
                              teacher_momentum=0.9, teacher_momentum_final=1.0, freeze_last_layer_steps=1,
                              freeze_last_layer_epochs=0.0)

    def factory(epoch, rank, world, start):
        return [rank_batch(i, args.global_batch, rank, world) for i in range(start, args.steps)]

    cfg = TrainConfig(total_steps=args.steps, steps_per_epoch=args.steps, optimizer="adam", lr=0.01, min_lr=0.001,
                      warmup_steps=1, weight_decay=0.04, weight_decay_end=0.1, grad_clip=1.0, seed=0,
                      log_interval=1)
    trainer = Trainer(objective, factory, cfg, args.exp_dir)
    trainer.train()
    rank = int(os.environ.get("RANK", "0"))
    out = Path(args.exp_dir)
    (out / f"losses_rank{rank}.json").write_text(json.dumps(objective.losses))
    torch.save({f"{name}.{k}": v.detach().clone() for name, m in objective.modules().items()
                for k, v in m.state_dict().items()}, out / f"params_rank{rank}.pt")


if __name__ == "__main__":
    main()
