"""Per-step schedules of a training run: learning rate, weight decay, teacher momentum, warm-ups.

Every schedule is a function of the optimiser step (0-based), so a run resumed at step ``s``
takes the same values an uninterrupted run takes there. The trainer builds its learning-rate
and weight-decay schedules here; an objective builds its own (DINO's teacher momentum and
temperature, the AAM margin) from the same functions once the run's length is known
(``Objective.begin_training``).
"""
from __future__ import annotations

import math

import numpy as np


def linear_value(step: int, start: float, end: float, steps: int) -> float:
    """Linear warm-up: ``start`` at step 0 rising to ``end`` at step ``steps``, then ``end``."""
    if step >= steps:
        return end
    return start + (end - start) * step / steps


def cosine_value(step: int, base: float, final: float, total_steps: int,
                 warmup_steps: int = 0, warmup_start: float = 0.0) -> float:
    """Value at ``step`` of a linear warm-up (warmup_start -> base over warmup_steps steps)
    followed by a half-cosine from base (first step after warm-up) to final (last step,
    total_steps - 1); final beyond the end. As DINO's cosine_scheduler, but exact endpoints."""
    if total_steps < 1 or not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"need total_steps >= 1 and 0 <= warmup_steps <= total_steps, "
                         f"got total_steps={total_steps}, warmup_steps={warmup_steps}")
    if step < warmup_steps:
        return linear_value(step, warmup_start, base, warmup_steps)
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


def schedule_steps(steps: int, epochs: float, steps_per_epoch: int, total_steps: int) -> int:
    """The length of a schedule given in steps, or in epochs when ``steps`` is 0; capped at the
    run's ``total_steps`` (options such as ``--warmup-steps`` / ``--warmup-epochs``)."""
    n = int(steps) if steps > 0 else int(round(epochs * steps_per_epoch))
    return max(0, min(n, total_steps))
