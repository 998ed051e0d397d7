"""Classification fine-tuning: cross-entropy over a head on a pretrained network's embeddings.

:class:`ClassificationObjective` (network -> :class:`~utter.nnet.heads.ClassifierHead`,
cross-entropy) runs in the one :class:`~utter.train.trainer.Trainer`; which network
parameters it trains is a list of names, so fine-tuning strategies are stages of it (all
parameters; the last affine layers then all; none, the head on fixed embeddings), chosen by
:mod:`utter.transfer.finetune`. Frozen layers are also kept in eval mode, so their
batch-norm statistics stay as pretrained. With an ``evaluator`` (a dev set's UA) the weights
with the best score are kept; they are part of the objective's checkpoint state, so a
resumed run keeps them.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from utter.nnet.heads import ClassifierHead
from utter.train.checkpoint import CheckpointError
from utter.train.objectives.base import Objective, weight_decay_groups
from utter.train.rng import preserved_rng

log = logging.getLogger(__name__)


def predict_utterances(model: nn.Module, head: nn.Module, loader_factory) -> tuple[list[str], np.ndarray]:
    """(utterance ids, log-posteriors [N, C]) of whole utterances from an ``utterance_loader_factory``."""
    device = next(head.parameters()).device
    modes = [(m, m.training) for m in (model, head)]
    model.eval()
    head.eval()
    utts: list[str] = []
    out: list[np.ndarray] = []
    try:
        with torch.no_grad(), preserved_rng():
            for batch in loader_factory(0, 0, 1, 0):
                emb = model(batch["feats"].to(device), batch["feats_lengths"].to(device))
                out.append(F.log_softmax(head(emb).float(), dim=1).cpu().numpy().astype(np.float64))
                utts += list(batch["utts"])
    finally:
        for m, was in modes:
            m.train(was)
    return utts, np.concatenate(out)


class ClassificationObjective(Objective):
    """Cross-entropy over ``head(network(feats))``; trains the network parameters named in
    ``train_params`` (None: all; ``[]``: none) and the whole head.

    Batches from ``utter.data.dataset.chunk_loader_factory`` (``feats``, ``feats_lengths``,
    ``labels``). ``evaluator(objective) -> float`` (higher is better) is called every
    ``eval_interval`` steps and after the last step; the best weights are kept in
    :attr:`best` and in the checkpoint state. With ``patience`` N > 0, training stops early after N
    evaluations in a row without a better score (the stage has converged on dev).
    """

    def __init__(self, network: nn.Module, label_map: Mapping[str, int], *, head: nn.Module | None = None,
                 train_params: Sequence[str] | None = None, specaug: nn.Module | None = None,
                 evaluator: Callable[[ClassificationObjective], float] | None = None,
                 eval_interval: int = 0, patience: int = 0) -> None:
        if sorted(label_map.values()) != list(range(len(label_map))) or len(label_map) < 2:
            raise ValueError("label map must give at least two labels the indices 0 .. number of labels - 1")
        self.model = network
        self.label_map = dict(label_map)
        self.head = head if head is not None else ClassifierHead(network.embed_dim, len(label_map))
        names = dict(network.named_parameters())
        if train_params is not None:
            unknown = sorted(set(train_params) - set(names))
            if unknown:
                raise ValueError(f"parameters to train not in the network: {unknown[:5]}")
        self.train_params = None if train_params is None else set(train_params)
        for n, p in names.items():
            p.requires_grad_(self.train_params is None or n in self.train_params)
        self.specaug = specaug
        if patience and (evaluator is None or eval_interval <= 0):
            raise ValueError("early stopping (patience) needs a dev evaluator and an evaluation interval > 0")
        self.evaluator, self.eval_interval, self.patience = evaluator, int(eval_interval), int(patience)
        self.total_steps = 0
        self.best: dict[str, Any] = {}
        self.steps_done = 0
        self.evals_since_best = 0

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "head": self.head}

    def param_groups(self) -> list[dict[str, Any]]:
        """Only what this stage trains (``affine-then-full`` freezes the rest), split by weight decay."""
        return weight_decay_groups((self.model, self.head), include_frozen=False)

    def train_mode(self) -> None:
        """Training mode, except frozen layers (all own parameters frozen; buffer-only layers too
        when anything is frozen) stay in eval mode."""
        self.model.train()
        self.head.train()
        if self.train_params is None:
            return
        for m in self.model.modules():
            own = list(m.parameters(recurse=False))
            if (own and not any(p.requires_grad for p in own)) or (not own and list(m.buffers(recurse=False))):
                m.eval()

    def begin_training(self, total_steps: int, steps_per_epoch: int) -> None:
        self.total_steps = total_steps

    def loss(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        feats, lengths, labels = batch["feats"], batch["feats_lengths"], batch["labels"]
        if self.specaug is not None:
            feats = self.specaug(feats, lengths)
        with torch.set_grad_enabled(self.train_params is None or bool(self.train_params)):
            emb = self.model(feats, lengths)
        logits = self.head(emb)
        loss = F.cross_entropy(logits.float(), labels)
        acc = float((logits.detach().argmax(1) == labels).float().mean())
        return loss, {"acc": acc}

    def after_step(self, step: int) -> None:
        done = step + 1
        self.steps_done = done
        if self.evaluator is None:
            return
        if not (done == self.total_steps or (self.eval_interval and done % self.eval_interval == 0)):
            return
        score = float(self.evaluator(self))
        log.info("step %d: dev score %.4f (best %s)", done, score,
                 f"{self.best['score']:.4f} at step {self.best['step']}" if self.best else "none yet")
        if not self.best or score > self.best["score"]:
            self.best = {"score": score, "step": done,
                         "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
                         "head": {k: v.detach().cpu().clone() for k, v in self.head.state_dict().items()}}
            self.evals_since_best = 0
        else:
            self.evals_since_best += 1
        self.train_mode()

    def should_stop(self) -> bool:
        """Early stopping: ``patience`` evaluations in a row without a better dev score."""
        return bool(self.patience) and self.evals_since_best >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"label_map": dict(self.label_map), "best": self.best, "steps_done": self.steps_done,
                "evals_since_best": self.evals_since_best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("label_map") != self.label_map:
            raise CheckpointError("checkpoint label map differs from this training set's: "
                                  "train into a new experiment dir")
        self.best = state.get("best") or {}
        self.steps_done = int(state.get("steps_done", 0))
        self.evals_since_best = int(state.get("evals_since_best", 0))

    def selected_state(self) -> dict[str, Any]:
        """Weights to keep after training: the best on dev when evaluated, else the current ones;
        ``steps_run`` is how many steps the stage trained (fewer than its length when it stopped early)."""
        if self.best:
            return {"model": self.best["model"], "head": self.best["head"], "step": self.best["step"],
                    "dev_score": self.best["score"], "steps_run": self.steps_done}
        return {"model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
                "head": {k: v.detach().cpu().clone() for k, v in self.head.state_dict().items()},
                "step": self.total_steps, "dev_score": None, "steps_run": self.steps_done}
