"""Training objectives of the first paper for :class:`utter.train.trainer.Trainer`.

:class:`DINOObjective`: self-distillation without labels (Caron et al. 2021; for speech Cho
et al. 2022): a student network + :class:`~utter.nnet.heads.DINOHead` learns to match a
teacher (an EMA copy of both) across multi-crop views. :class:`SpeakerClassificationObjective`:
the supervised baseline, speaker classification with AAM-softmax and a margin warm-up.
The losses, EMA, schedules and checkpoints live in ``utter.ssl`` / ``utter.nnet`` /
``utter.train``; this module only connects them.
"""
from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from utter.nnet.heads import AAMSoftmax, DINOHead
from utter.nnet.specaug import SpecAugment
from utter.ssl.dino import DINOLoss, cosine_schedule, ema_update, entropy_stats, param_groups_no_decay
from utter.train.checkpoint import CheckpointError, describe_arch, latest_checkpoint, load_checkpoint
from utter.train.trainer import Objective


def _steps(steps: int, epochs: float, steps_per_epoch: int, total_steps: int) -> int:
    """A schedule length given in steps, or else in epochs; capped at the run's length."""
    n = int(steps) if steps > 0 else int(round(epochs * steps_per_epoch))
    return max(0, min(n, total_steps))


def _groups_for(modules: list[nn.Module]) -> list[dict[str, Any]]:
    """Trainer parameter groups (``wd_scale``) from ``param_groups_no_decay`` of each module."""
    decay, no_decay = [], []
    for m in modules:
        with_decay, without = param_groups_no_decay(m, 1.0)
        decay += with_decay["params"]
        no_decay += without["params"]
    groups = [{"params": decay, "lr_scale": 1.0, "wd_scale": 1.0, "name": "decay"},
              {"params": no_decay, "lr_scale": 1.0, "wd_scale": 0.0, "name": "no_decay"}]
    return [g for g in groups if g["params"]]


class DINOObjective(Objective):
    """DINO: student = network + head (trained), teacher = their EMA copy (not trained).

    Batches come from ``utter.data.dataset.dino_loader_factory``: ``global`` ``[B*G, T_g, F]``
    and ``local`` ``[B*L, T_l, F]``, view-major. The teacher sees only the G global crops;
    the student sees all G + L crops, and the loss compares each teacher view with every
    student view but its own. Schedules (teacher momentum 0.996 -> 1 by a per-step cosine,
    teacher temperature warm-up, last-layer freezing) are given in steps or, when the
    step count is 0, in epochs, and are fixed once the run's length is known.

    Like the DINO reference, the teacher runs in training mode (batch-norm uses batch
    statistics; its running statistics follow its own batches and the student's by EMA),
    and :meth:`model_for_export` is the teacher network before the head.
    """

    def __init__(self, network: nn.Module, *, num_global: int = 2, num_local: int = 4,
                 out_dim: int = 65536, hidden: int = 2048, bottleneck: int = 256, head_layers: int = 3,
                 head_bn: bool = False, norm_last_layer: bool = True, student_temp: float = 0.1,
                 teacher_temp: float = 0.04, teacher_temp_final: float | None = None,
                 teacher_temp_warmup_steps: int = 0, teacher_temp_warmup_epochs: float = 0.0,
                 center_momentum: float = 0.9, momentum: float = 0.996, momentum_final: float = 1.0,
                 freeze_last_layer_steps: int = 0, freeze_last_layer_epochs: float = 1.0,
                 specaug: SpecAugment | None = None) -> None:
        if num_global < 1 or num_local < 0:
            raise ValueError(f"need at least one global crop and no negative local crops, got "
                             f"{num_global} and {num_local}")
        if not 0.0 <= momentum <= momentum_final <= 1.0:
            raise ValueError(f"teacher momentum must rise within [0, 1], got {momentum} -> {momentum_final}")
        self.student = network
        self.student_head = DINOHead(network.embed_dim, out_dim=out_dim, hidden=hidden, bottleneck=bottleneck,
                                     nlayers=head_layers, norm_last_layer=norm_last_layer, use_bn=head_bn)
        self.teacher = copy.deepcopy(network)
        self.teacher_head = copy.deepcopy(self.student_head)
        for m in (self.teacher, self.teacher_head):
            for p in m.parameters():
                p.requires_grad_(False)
        self.head_config = dict(out_dim=out_dim, hidden=hidden, bottleneck=bottleneck, head_layers=head_layers,
                                head_bn=head_bn, norm_last_layer=norm_last_layer)
        self.dino_loss = DINOLoss(out_dim, n_teacher_crops=num_global, n_student_crops=num_global + num_local,
                                  student_temp=student_temp, teacher_temp=teacher_temp,
                                  teacher_temp_final=teacher_temp_final, warmup_steps=teacher_temp_warmup_steps,
                                  center_momentum=center_momentum, student_sees_teacher_crops=True)
        self.num_global, self.num_local = num_global, num_local
        self.specaug = specaug
        self._temp_warmup = (teacher_temp_warmup_steps, teacher_temp_warmup_epochs)
        self._freeze = (freeze_last_layer_steps, freeze_last_layer_epochs)
        self._momentum = (momentum, momentum_final)
        self.momentum_values = np.array([momentum])
        self.freeze_last_layer_steps = 0
        self._step = 0

    def modules(self) -> dict[str, nn.Module]:
        return {"student": self.student, "student_head": self.student_head, "teacher": self.teacher,
                "teacher_head": self.teacher_head, "dino_loss": self.dino_loss}

    def trainable(self) -> list[str]:
        return ["student", "student_head"]

    def param_groups(self) -> list[dict[str, Any]]:
        """Weight decay on weights only (``param_groups_no_decay``); the frozen last-layer gain left out."""
        return _groups_for([self.student, self.student_head])

    def train_mode(self) -> None:
        for m in self.modules().values():  # teacher too: batch statistics, as the DINO reference
            m.train()

    def model_for_export(self) -> nn.Module:
        return self.teacher

    def begin_training(self, total_steps: int, steps_per_epoch: int) -> None:
        self.momentum_values = cosine_schedule(self._momentum[0], self._momentum[1], total_steps)
        self.dino_loss.warmup_steps = _steps(*self._temp_warmup, steps_per_epoch, total_steps)
        self.freeze_last_layer_steps = _steps(*self._freeze, steps_per_epoch, total_steps)

    def before_step(self, step: int) -> None:
        self._step = step

    def _student(self, feats: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.specaug is not None:
            feats = self.specaug(feats, lengths)
        return self.student_head(self.student(feats, lengths))

    def loss(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        glob, glob_len = batch["global"], batch["global_lengths"]
        with torch.no_grad():
            teacher_out = self.teacher_head(self.teacher(glob, glob_len))
        student_out = [self._student(glob, glob_len)]
        if self.num_local:
            student_out.append(self._student(batch["local"], batch["local_lengths"]))
        loss, stats = self.dino_loss(torch.cat(student_out), teacher_out, self._step, return_stats=True)
        metrics = {k: float(v) for k, v in stats.items()}
        metrics["entropy_ratio"] = metrics["entropy"] / math.log(self.dino_loss.out_dim)
        metrics["momentum"] = float(self.momentum_values[min(self._step, len(self.momentum_values) - 1)])
        return loss, metrics

    def after_backward(self, step: int) -> None:
        if step < self.freeze_last_layer_steps:
            self.student_head.cancel_last_layer_gradients()

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        m = float(self.momentum_values[min(step, len(self.momentum_values) - 1)])
        ema_update(self.teacher, self.student, m)
        ema_update(self.teacher_head, self.student_head, m)

    def state_dict(self) -> dict[str, Any]:
        loss = self.dino_loss
        return {"head": dict(self.head_config),
                "loss": {"num_global": self.num_global, "num_local": self.num_local,
                         "student_temp": loss.student_temp, "teacher_temp": loss.teacher_temp,
                         "teacher_temp_final": loss.teacher_temp_final, "warmup_steps": loss.warmup_steps,
                         "center_momentum": loss.center_momentum}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Check the saved head config (temperatures and crops may change on resume)."""
        if state.get("head") != self.head_config:
            raise CheckpointError(f"checkpoint DINO head {state.get('head')} differs from this run's "
                                  f"{self.head_config}")

    @torch.no_grad()
    def teacher_collapse_stats(self, glob: torch.Tensor, lengths: torch.Tensor | None = None,
                               step: int | None = None) -> dict[str, float]:
        """Teacher entropies (mean per-sample, of the batch mean; nats) on global crops, with the
        centre and temperature of ``step`` (default: the current one): the collapse diagnostics."""
        out = self.teacher_head(self.teacher(glob, lengths))
        probs = self.dino_loss.teacher_probs(out, self._step if step is None else step)
        return {k: float(v) for k, v in entropy_stats(probs).items()}

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> DINOObjective:
        """The objective of a DINO checkpoint (student, teacher, heads, centre), for diagnostics."""
        from utter.nnet import build_network

        state = load_checkpoint(path, map_location=device)
        saved = state["extra"].get("objective", {})
        if "head" not in saved or "loss" not in saved:
            raise CheckpointError(f"{path} is not a DINO checkpoint (no head config in its objective state)")
        loss = saved["loss"]
        obj = cls(build_network(dict(state["arch_config"])), num_global=loss["num_global"],
                  num_local=loss["num_local"], student_temp=loss["student_temp"],
                  teacher_temp=loss["teacher_temp"], teacher_temp_final=loss["teacher_temp_final"],
                  teacher_temp_warmup_steps=loss["warmup_steps"], center_momentum=loss["center_momentum"],
                  **saved["head"])
        for name, m in obj.modules().items():
            sd = state["extra"]["modules"][name]
            m.load_state_dict(state["model"] if sd is None else sd)
            m.to(device).eval()
        obj._step = int(state["step"])
        return obj


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
        if not label_map:
            raise ValueError("speaker classification needs at least one label")
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
        return _groups_for([self.model, self.head])

    def begin_training(self, total_steps: int, steps_per_epoch: int) -> None:
        self.margin_warmup_steps = _steps(*self._warmup, steps_per_epoch, total_steps)

    def margin_at(self, step: int) -> float:
        """The AAM margin at ``step``: linear warm-up, then constant."""
        if step >= self.margin_warmup_steps:
            return self.margin
        return self.margin_start + (self.margin - self.margin_start) * step / self.margin_warmup_steps

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


def check_resume(objective: Objective, exp_dir: str | os.PathLike) -> None:
    """Before resuming in ``exp_dir``: its latest checkpoint must hold this objective's architecture,
    modules (shapes) and state, else a :class:`CheckpointError` naming the difference."""
    path = latest_checkpoint(exp_dir)
    if path is None:
        return
    state = load_checkpoint(path, expected_arch=objective.arch_config())
    saved = state["extra"].get("modules", {})
    mods = objective.modules()
    if set(saved) != set(mods):
        raise CheckpointError(f"checkpoint {path} holds modules {sorted(saved)}, this run has {sorted(mods)}: "
                              "it is from another kind of training")
    for name, m in mods.items():
        sd = state["model"] if saved[name] is None else saved[name]
        for key, t in m.state_dict().items():
            if key not in sd or tuple(sd[key].shape) != tuple(t.shape):
                found = tuple(sd[key].shape) if key in sd else "absent"
                raise CheckpointError(f"checkpoint {path}: {name}.{key} is {found}, this run needs "
                                      f"{tuple(t.shape)} ({describe_arch(objective.arch_config())})")
    objective.load_state_dict(state["extra"].get("objective", {}))
