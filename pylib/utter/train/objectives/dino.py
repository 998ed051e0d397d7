"""DINO self-distillation (Caron et al. 2021; for speech Cho et al. 2022), every piece in one place.

A student (network + :class:`~utter.nnet.heads.DINOHead`) learns to match a teacher, an
exponential moving average (EMA) of itself, across multi-crop views of an utterance, without
labels or negatives: :class:`DINOLoss` (cross-entropy against the centred, sharpened teacher,
the centre an EMA of the teacher's outputs), :func:`ema_update` (the teacher), :func:`entropy_stats`
(collapse diagnostics), :class:`CollapseWatch` (a console warning when they reach a collapsed
regime) and :class:`DINOObjective`, which the one trainer runs. Its batches come
from ``utter.data.dataset.multi_crop_loader_factory``; its schedules (teacher momentum, teacher
temperature warm-up, last-layer freezing) are built from ``utter.train.schedules``.

The head stays in ``utter.nnet.heads`` with the other heads: it is a plain network module
(parameters, initialisation, forward), tested and exported on the network floor, while what
makes the method DINO (loss, centring, EMA, schedules) lives here.
"""
from __future__ import annotations

import copy
import logging
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from utter.nnet import build_network
from utter.nnet.heads import DINOHead
from utter.nnet.specaug import SpecAugment
from utter.train.checkpoint import CheckpointError, load_checkpoint
from utter.train.objectives.base import Objective, weight_decay_groups
from utter.train.schedules import cosine_schedule, linear_value, schedule_steps

log = logging.getLogger(__name__)


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, teacher_momentum: float,
               buffers: str = "ema") -> None:
    """teacher <- teacher_momentum * teacher + (1 - teacher_momentum) * student, in place, for parameters.

    Buffers (BatchNorm running statistics): ``"ema"`` averages floating buffers the same
    way (the teacher's statistics follow its averaged weights, as timm's ModelEma) and
    copies integer ones (num_batches_tracked); ``"copy"`` copies all from the student;
    ``"keep"`` leaves the teacher's own. DDP wrappers are unwrapped; names must match.
    """
    if buffers not in ("ema", "copy", "keep"):
        raise ValueError(f"buffers must be 'ema', 'copy' or 'keep', got {buffers!r}")
    teacher, student = _unwrap(teacher), _unwrap(student)
    tp, sp = dict(teacher.named_parameters()), dict(student.named_parameters())
    if tp.keys() != sp.keys():
        raise ValueError(f"teacher and student parameters differ: "
                         f"{sorted(set(tp) ^ set(sp))[:5]}")
    w = 1.0 - teacher_momentum
    for name, t in tp.items():
        t.lerp_(sp[name].detach(), w)
    if buffers == "keep":
        return
    tb, sb = dict(teacher.named_buffers()), dict(student.named_buffers())
    if tb.keys() != sb.keys():
        raise ValueError(f"teacher and student buffers differ: {sorted(set(tb) ^ set(sb))[:5]}")
    for name, t in tb.items():
        if buffers == "ema" and t.is_floating_point():
            t.lerp_(sb[name], w)
        else:
            t.copy_(sb[name])


def entropy_stats(probs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Collapse diagnostics of a [N, K] distribution: mean per-sample entropy (high -> uniform
    collapse) and entropy of the batch-mean distribution (low -> one-dimension collapse), nats."""
    p = probs.detach().float()
    per_sample = -(p * torch.log(p.clamp(min=1e-30))).sum(dim=-1).mean()
    mean_p = p.mean(dim=0)
    batch = -(mean_p * torch.log(mean_p.clamp(min=1e-30))).sum()
    return {"entropy": per_sample, "batch_entropy": batch}


class CollapseWatch:
    """Warns on the console, once per regime entered, when the teacher's entropies (of
    :func:`entropy_stats`, nats, over a step's teacher outputs) reach one of DINO's two collapses.

    - one prototype for everything: the entropy of the batch-mean teacher distribution below
      ``log 2``, i.e. its perplexity under 2: the whole batch sits on fewer than two prototypes in
      effect (sharpening winning over centring). Left again above ``log 4``.
    - uniform: the mean per-sample entropy above 0.99 ``log K`` (within 1 % of its maximum, each
      teacher output nearly uniform over the K prototypes: centring winning over sharpening).
      Left again below 0.97 ``log K``.

    A regime is entered when the statistic stays past its entry threshold for ``patience``
    consecutive steps (default 20: twice the 10-step time constant of the centre EMA at DINO's
    momentum 0.9, the time centring takes to answer a new state; a randomly initialised teacher
    often maps every input to one prototype until the centre has caught up). The exit thresholds
    lie apart from the entry ones so that a statistic wobbling around a threshold warns once, not
    every step; a regime left and entered again warns again.
    """

    ONE_PROTOTYPE_ENTER, ONE_PROTOTYPE_LEAVE = math.log(2.0), math.log(4.0)
    UNIFORM_ENTER, UNIFORM_LEAVE = 0.99, 0.97

    def __init__(self, out_dim: int, patience: int = 20) -> None:
        if patience < 1:
            raise ValueError(f"patience must be at least 1 step, got {patience}")
        self.log_k = math.log(out_dim)
        self.patience = patience
        self.active: set[str] = set()
        self.run: dict[str, int] = {"one-prototype": 0, "uniform": 0}  # consecutive steps past the entry
        self.warnings: list[str] = []  # the regimes warned about, in order (for tests and reports)

    def update(self, step: int, entropy: float, batch_entropy: float) -> list[str]:
        """Check the statistics of step ``step`` (1-based); return the regimes entered at this step."""
        entered = []
        checks = (("one-prototype", batch_entropy < self.ONE_PROTOTYPE_ENTER,
                   batch_entropy > self.ONE_PROTOTYPE_LEAVE),
                  ("uniform", entropy > self.UNIFORM_ENTER * self.log_k,
                   entropy < self.UNIFORM_LEAVE * self.log_k))
        for regime, enter, leave in checks:
            self.run[regime] = self.run[regime] + 1 if enter else 0
            if regime in self.active:
                if leave:
                    self.active.discard(regime)
            elif self.run[regime] >= self.patience:
                self.active.add(regime)
                entered.append(regime)
        for regime in entered:
            self.warnings.append(regime)
            if _distributed() and dist.get_rank() != 0:
                continue
            if regime == "one-prototype":
                log.warning("step %d: DINO collapse to one prototype? the batch-mean teacher distribution has "
                            "entropy %.3g nats (< log 2: the whole batch on fewer than 2 of the %d prototypes); "
                            "sharpening wins over centring: try a higher --teacher-temp or a lower "
                            "--center-momentum", step, batch_entropy, round(math.exp(self.log_k)))
            else:
                log.warning("step %d: DINO collapse to uniform outputs? the teacher's per-sample entropy is "
                            "%.4g nats, %.1f%% of its maximum log K = %.4g (> 99%%); centring wins over "
                            "sharpening: try a lower --teacher-temp", step, entropy,
                            100.0 * entropy / self.log_k, self.log_k)
        return entered


class DINOLoss(nn.Module):
    """DINO cross-entropy between teacher and student views, with centring of the teacher.

    Inputs are view-major: ``teacher_output`` [n_teacher_crops * B, K] (view 0 of every
    utterance, then view 1, ...); ``student_output`` [n_student_crops * B, K] likewise.
    When ``student_sees_teacher_crops`` (the DINO reference), the student's first
    n_teacher_crops views are the same crops the teacher saw, and teacher view i is
    compared with every student view v != i. Otherwise every student view is a different
    crop and all teacher/student pairs count. The loss is the mean over pairs of the
    batch-mean cross-entropy -sum_k q_k log p_k, with q = softmax((t - centre) / T_teacher),
    p = softmax(s / T_student).

    Teacher temperature: linear from ``teacher_temp`` to ``teacher_temp_final`` over
    ``warmup_steps`` steps, then constant (constant ``teacher_temp`` when final is None).
    The centre (buffer, saved in state_dict) is updated in training mode after each
    forward: c <- m c + (1 - m) mean(teacher_output), the mean all-reduced over processes
    under torch.distributed.
    """

    def __init__(self, out_dim: int, n_teacher_crops: int = 2, n_student_crops: int = 6,
                 student_temp: float = 0.1, teacher_temp: float = 0.04,
                 teacher_temp_final: float | None = None, warmup_steps: int = 0,
                 center_momentum: float = 0.9, student_sees_teacher_crops: bool = True):
        super().__init__()
        if student_sees_teacher_crops and n_student_crops < n_teacher_crops:
            raise ValueError(f"n_student_crops ({n_student_crops}) must include the "
                             f"{n_teacher_crops} teacher crops")
        self.out_dim = out_dim
        self.n_teacher_crops, self.n_student_crops = n_teacher_crops, n_student_crops
        self.student_temp = student_temp
        self.teacher_temp, self.teacher_temp_final = teacher_temp, teacher_temp_final
        self.warmup_steps = warmup_steps
        self.center_momentum = center_momentum
        self.student_sees_teacher_crops = student_sees_teacher_crops
        self.register_buffer("center", torch.zeros(1, out_dim))

    def teacher_temp_at(self, step: int) -> float:
        """Teacher temperature at a training step."""
        if self.teacher_temp_final is None:
            return self.teacher_temp
        return linear_value(step, self.teacher_temp, self.teacher_temp_final, self.warmup_steps)

    def pairs(self) -> list[tuple[int, int]]:
        """(teacher view, student view) pairs the loss averages over."""
        return [(i, v) for i in range(self.n_teacher_crops) for v in range(self.n_student_crops)
                if not (self.student_sees_teacher_crops and v == i)]

    def teacher_probs(self, teacher_output: torch.Tensor, step: int) -> torch.Tensor:
        """Centred, sharpened teacher distribution softmax((t - c) / T_teacher(step))."""
        return F.softmax((teacher_output.detach().float() - self.center) /
                         self.teacher_temp_at(step), dim=-1)

    def forward(self, student_output: torch.Tensor, teacher_output: torch.Tensor, step: int,
                return_stats: bool = False):
        """Loss (and, with return_stats, a dict of teacher entropies and temperature)."""
        if student_output.shape[0] % self.n_student_crops or \
                teacher_output.shape[0] % self.n_teacher_crops:
            raise ValueError(f"outputs of shape {tuple(student_output.shape)} (student) and "
                             f"{tuple(teacher_output.shape)} (teacher) are not "
                             f"{self.n_student_crops} and {self.n_teacher_crops} views")
        B = teacher_output.shape[0] // self.n_teacher_crops
        if student_output.shape[0] // self.n_student_crops != B:
            raise ValueError(f"student has {student_output.shape[0] // self.n_student_crops} "
                             f"utterances per view, teacher {B}")
        q = self.teacher_probs(teacher_output, step).chunk(self.n_teacher_crops)
        logp = F.log_softmax(student_output.float() / self.student_temp, dim=-1)
        logp = logp.chunk(self.n_student_crops)
        pairs = self.pairs()
        loss = sum(-(q[i] * logp[v]).sum(dim=-1).mean() for i, v in pairs) / len(pairs)
        stats = None
        if return_stats:
            stats = entropy_stats(torch.cat(q))
            stats["teacher_temp"] = torch.tensor(self.teacher_temp_at(step))
        if self.training:
            self.update_center(teacher_output)
        return (loss, stats) if return_stats else loss

    @torch.no_grad()
    def update_center(self, teacher_output: torch.Tensor) -> None:
        """EMA of the batch-mean teacher output (all-reduced across processes)."""
        total = teacher_output.detach().float().sum(dim=0, keepdim=True)
        count = torch.tensor([float(teacher_output.shape[0])], device=total.device)
        if _distributed():
            dist.all_reduce(total)
            dist.all_reduce(count)
        self.center.mul_(self.center_momentum).add_(total / count, alpha=1 - self.center_momentum)


class DINOObjective(Objective):
    """DINO: student = network + head (trained), teacher = their EMA copy (not trained).

    Batches come from ``utter.data.dataset.multi_crop_loader_factory``: ``global`` ``[B*G, T_g, F]``
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
                 center_momentum: float = 0.9, teacher_momentum: float = 0.996,
                 teacher_momentum_final: float = 1.0,
                 freeze_last_layer_steps: int = 0, freeze_last_layer_epochs: float = 1.0,
                 specaug: SpecAugment | None = None) -> None:
        if num_global < 1 or num_local < 0:
            raise ValueError(f"need at least one global crop and no negative local crops, got "
                             f"{num_global} and {num_local}")
        if not 0.0 <= teacher_momentum <= teacher_momentum_final <= 1.0:
            raise ValueError(f"teacher momentum must rise within [0, 1], got {teacher_momentum} -> "
                             f"{teacher_momentum_final}")
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
        self._teacher_momentum = (teacher_momentum, teacher_momentum_final)
        self.teacher_momentum_values = np.array([teacher_momentum])
        self.freeze_last_layer_steps = 0
        self._step = 0
        self.collapse_watch = CollapseWatch(out_dim)

    def modules(self) -> dict[str, nn.Module]:
        return {"student": self.student, "student_head": self.student_head, "teacher": self.teacher,
                "teacher_head": self.teacher_head, "dino_loss": self.dino_loss}

    def trainable(self) -> list[str]:
        return ["student", "student_head"]

    def param_groups(self) -> list[dict[str, Any]]:
        """Weight decay on weights only; the frozen last-layer gain (norm_last_layer) left out."""
        return weight_decay_groups([self.student, self.student_head], include_frozen=False)

    def train_mode(self) -> None:
        for m in self.modules().values():  # teacher too: batch statistics, as the DINO reference
            m.train()

    def model_for_export(self) -> nn.Module:
        return self.teacher

    def begin_training(self, total_steps: int, steps_per_epoch: int) -> None:
        self.teacher_momentum_values = cosine_schedule(*self._teacher_momentum, total_steps)
        self.dino_loss.warmup_steps = schedule_steps(*self._temp_warmup, steps_per_epoch, total_steps)
        self.freeze_last_layer_steps = schedule_steps(*self._freeze, steps_per_epoch, total_steps)

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
        values = self.teacher_momentum_values
        metrics["teacher_momentum"] = float(values[min(self._step, len(values) - 1)])
        self.collapse_watch.update(self._step + 1, metrics["entropy"], metrics["batch_entropy"])
        return loss, metrics

    def after_backward(self, step: int) -> None:
        if step < self.freeze_last_layer_steps:
            self.student_head.cancel_last_layer_gradients()

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        m = float(self.teacher_momentum_values[min(step, len(self.teacher_momentum_values) - 1)])
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
