"""The trainer's fused Adam/AdamW (one kernel over every parameter) == torch's per-tensor loop.

Reference: the same groups, learning rate and weight decay stepped by ``torch.optim.Adam`` /
``AdamW`` with ``foreach=False`` on the same gradients; parameters must agree to rounding.
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from utter.train.config import TrainConfig
from utter.train.objectives.base import Objective
from utter.train.trainer import Trainer


class Regress(Objective):
    def __init__(self) -> None:
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(5, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 3))

    def modules(self):
        return {"model": self.net}

    def loss(self, batch):
        x, y = batch
        return (self.net(x) - y).pow(2).mean(), {}


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_fused_optimizer_matches_loop(tmp_path, optimizer, amsgrad):
    objective = Regress()
    init = copy.deepcopy(objective.net)
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(8, 5, generator=g), torch.randn(8, 3, generator=g)) for _ in range(6)]
    cfg = TrainConfig(total_steps=6, steps_per_epoch=6, optimizer=optimizer, amsgrad=amsgrad, lr=0.01,
                      min_lr=0.01, weight_decay=0.05, betas=(0.9, 0.95))
    trainer = Trainer(objective, lambda *a: batches, cfg, tmp_path)
    trainer._setup()
    assert all(group["fused"] for group in trainer.optimizer.param_groups)
    for b in batches:
        trainer._train_step(b)
        trainer.step += 1

    ref = init
    decay = [p for n, p in ref.named_parameters() if not (n.endswith(".bias") or p.dim() <= 1)]
    no_decay = [p for n, p in ref.named_parameters() if n.endswith(".bias") or p.dim() <= 1]
    cls = torch.optim.AdamW if optimizer == "adamw" else torch.optim.Adam
    opt = cls([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}], lr=0.01,
              betas=(0.9, 0.95), amsgrad=amsgrad, foreach=False)
    for x, y in batches:
        opt.zero_grad()
        (ref(x) - y).pow(2).mean().backward()
        opt.step()
    for (name, a), b in zip(objective.net.named_parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=f"parameter {name}")
