"""Supervised speaker embeddings, the first paper's x-vector baseline: network -> AAM-softmax.

:class:`SpeakerClassificationObjective` classifies the training speakers with an additive angular
margin softmax (:class:`~utter.nnet.heads.AAMSoftmax`) whose margin rises linearly over a
warm-up (``utter.train.schedules``), as hyperion's margin warm-up; the one trainer runs it.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from utter.nnet.heads import AAMSoftmax
from utter.nnet.specaug import SpecAugment
from utter.train.checkpoint import CheckpointError
from utter.train.objectives.base import Objective, weight_decay_groups
from utter.train.schedules import linear_value, schedule_steps


class SpeakerClassificationObjective(Objective):
    """Supervised speaker embeddings: network -> AAM-softmax (s, m) over the training speakers.

    Batches from ``utter.data.dataset.chunk_loader_factory`` (``feats``, ``feats_lengths``,
    ``labels``). The margin rises linearly from ``margin_start`` to ``margin`` over the
    warm-up (steps, or epochs when the step count is 0), as hyperion's margin warm-up.
    The label map (label -> class index) is saved in the checkpoint's objective state.
    """

    def __init__(self, network: nn.Module, label_map: Mapping[str, int], *, scale: float = 30.0,
                 margin: float = 0.3, margin_start: float = 0.0, margin_warmup_steps: int = 0,
                 margin_warmup_epochs: float = 0.0, easy_margin: bool = False,
                 specaug: SpecAugment | None = None) -> None:
        if len(label_map) < 2:
            raise ValueError(f"speaker classification needs at least 2 classes, got {len(label_map)} "
                             f"({', '.join(label_map) or 'none'}): the loss would be 0 from the first step")
        if sorted(label_map.values()) != list(range(len(label_map))):
            raise ValueError("label map indices must be 0 .. number of labels - 1")
        self.model = network
        self.label_map = dict(label_map)
        self.head = AAMSoftmax(network.embed_dim, len(self.label_map), scale=scale, margin=margin_start,
                               easy_margin=easy_margin)
        self.margin, self.margin_start = float(margin), float(margin_start)
        self._warmup = (margin_warmup_steps, margin_warmup_epochs)
        self.margin_warmup_steps = 0
        self.specaug = specaug

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "head": self.head}

    def param_groups(self) -> list[dict[str, Any]]:
        """Weight decay on weights only; parameters frozen now (``--trainable affine``) left out."""
        return weight_decay_groups([self.model, self.head], include_frozen=False)

    def begin_training(self, total_steps: int, steps_per_epoch: int) -> None:
        self.margin_warmup_steps = schedule_steps(*self._warmup, steps_per_epoch, total_steps)

    def margin_at(self, step: int) -> float:
        """The AAM margin at ``step``: linear warm-up, then constant."""
        return linear_value(step, self.margin_start, self.margin, self.margin_warmup_steps)

    def before_step(self, step: int) -> None:
        self.head.set_margin(self.margin_at(step))

    def loss(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        feats, lengths, labels = batch["feats"], batch["feats_lengths"], batch["labels"]
        if self.specaug is not None:
            feats = self.specaug(feats, lengths)
        logits, loss = self.head(self.model(feats, lengths), labels)
        acc = float((logits.detach().argmax(dim=1) == labels).float().mean())
        return loss, {"acc": acc, "margin": self.head.margin}

    def state_dict(self) -> dict[str, Any]:
        return {"label_map": dict(self.label_map)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state.get("label_map")
        if saved != self.label_map:
            n = len(saved) if isinstance(saved, dict) else 0
            raise CheckpointError(f"checkpoint label map ({n} labels) differs from this training set's "
                                  f"({len(self.label_map)} labels): train into a new experiment dir")
