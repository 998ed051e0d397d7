"""The training configuration: :class:`TrainConfig`, everything the one loop needs."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass
class TrainConfig:
    """Everything the loop needs; schedules are per optimiser step so a resumed run is exact.

    Length: ``total_steps`` if set, else ``epochs * steps_per_epoch`` but at least ``min_steps`` (a
    length in epochs that still gives a tiny corpus enough steps); ``steps_per_epoch``
    defaults to ``len()`` of epoch 0's loader. Warm-up: ``warmup_steps``, or
    ``warmup_epochs`` (times steps per epoch) when that is 0. The stage programs' options
    for these fields are ``utter.bin.train_common.add_train_arguments``.
    """

    epochs: int = 1
    total_steps: int = 0
    min_steps: int = 0
    steps_per_epoch: int = 0
    optimizer: str = "adam"
    lr: float = 1e-3
    min_lr: float = 0.0
    warmup_steps: int = 0
    warmup_epochs: float = 0.0
    warmup_start_lr: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    amsgrad: bool = False
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    weight_decay_end: float | None = None
    grad_clip: float = 0.0
    amp: str = "none"
    device: str = "cpu"
    num_threads: int = 0
    checkpoint_interval: int = 0
    keep_last: int = 3
    average_last: int = 1
    seed: int = 0
    log_interval: int = 50

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)
        checks = [
            (self.optimizer in ("adam", "adamw", "sgd"),
             f"optimizer must be adam, adamw or sgd, got '{self.optimizer}'"),
            (self.amp in ("none", "bf16", "fp16"), f"amp must be none, bf16 or fp16, got '{self.amp}'"),
            (self.epochs >= 1 or self.total_steps >= 1, "need epochs >= 1 or total_steps >= 1"),
            (self.total_steps >= 0 and self.steps_per_epoch >= 0 and self.min_steps >= 0,
             "steps must not be negative"),
            (self.lr > 0, f"lr must be positive, got {self.lr}"),
            (self.warmup_steps >= 0 and self.warmup_epochs >= 0, "warm-up steps and epochs must not be negative"),
            (self.keep_last >= 1, f"keep_last must be at least 1, got {self.keep_last}"),
            (1 <= self.average_last <= self.keep_last,
             f"average_last ({self.average_last}) must be between 1 and keep_last ({self.keep_last})"),
            (len(self.betas) == 2, f"betas must be two numbers, got {self.betas}"),
            (self.log_interval >= 1, "log_interval must be at least 1"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

