"""DINO self-distillation (Caron et al. 2021; for speech Cho et al. 2022): loss with centring,
teacher temperature schedule, teacher EMA, cosine schedules, parameter groups, collapse diagnostics.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def cosine_value(step: int, base: float, final: float, total_steps: int,
                 warmup_steps: int = 0, warmup_start: float = 0.0) -> float:
    """Value at ``step`` of a linear warm-up (warmup_start -> base over warmup_steps steps)
    followed by a half-cosine from base (first step after warm-up) to final (last step,
    total_steps - 1); final beyond the end. As DINO's cosine_scheduler, but exact endpoints."""
    if total_steps < 1 or not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"need total_steps >= 1 and 0 <= warmup_steps <= total_steps, "
                         f"got total_steps={total_steps}, warmup_steps={warmup_steps}")
    if step < warmup_steps:
        return warmup_start + (base - warmup_start) * step / warmup_steps
    n = total_steps - warmup_steps
    if step >= total_steps - 1 or n <= 1:
        return final if step >= total_steps - 1 else base
    t = (step - warmup_steps) / (n - 1)
    return final + 0.5 * (base - final) * (1.0 + math.cos(math.pi * t))


def cosine_schedule(base: float, final: float, total_steps: int, warmup_steps: int = 0,
                    warmup_start: float = 0.0) -> np.ndarray:
    """Per-iteration values of ``cosine_value`` for steps 0..total_steps-1 (lr, wd, momentum)."""
    return np.array([cosine_value(s, base, final, total_steps, warmup_steps, warmup_start)
                     for s in range(total_steps)])


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float,
               buffers: str = "ema") -> None:
    """teacher <- momentum * teacher + (1 - momentum) * student, in place, for parameters.

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
    w = 1.0 - momentum
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


def param_groups_no_decay(model: nn.Module, weight_decay: float) -> list[dict]:
    """Optimizer groups: weight decay on weights, none on biases and 1-D parameters
    (norm gains), as DINO's get_params_groups; frozen parameters are left out."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if name.endswith(".bias") or p.dim() <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def entropy_stats(probs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Collapse diagnostics of a [N, K] distribution: mean per-sample entropy (high -> uniform
    collapse) and entropy of the batch-mean distribution (low -> one-dimension collapse), nats."""
    p = probs.detach().float()
    per_sample = -(p * torch.log(p.clamp(min=1e-30))).sum(dim=-1).mean()
    mean_p = p.mean(dim=0)
    batch = -(mean_p * torch.log(mean_p.clamp(min=1e-30))).sum()
    return {"entropy": per_sample, "batch_entropy": batch}


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
        if step >= self.warmup_steps:
            return self.teacher_temp_final
        return self.teacher_temp + (self.teacher_temp_final - self.teacher_temp) * step / \
            self.warmup_steps

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
