"""The :class:`Objective` every training run optimises, and the one weight-decay split of its parameters.

An objective says what is trained and how the loss is computed (one module each beside this one:
``dino``, ``speaker``, ``classification``, ``triplet_barlow``); :class:`utter.train.trainer.Trainer` runs
any of them the same way. Its optimiser groups come from :func:`weight_decay_groups`.
"""
from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from utter.train.checkpoint import CheckpointError


def weight_decay_groups(modules: Iterable[nn.Module], *, include_frozen: bool = True) -> list[dict[str, Any]]:
    """The optimiser groups of ``modules``: ``decay`` (weights, ``wd_scale`` 1) and ``no_decay``
    (biases and other 1-D parameters such as norm gains, ``wd_scale`` 0), as DINO's
    get_params_groups; empty groups are left out, a parameter shared by two modules counts once.

    ``include_frozen=False`` leaves out the parameters that do not require a gradient now (a
    frozen DINO last-layer gain); with it, they stay in the groups, so unfreezing them later
    trains them without a new optimiser. The one decay split: the trainer's default
    :meth:`Objective.param_groups` and an objective's own groups are built with it.
    """
    decay, no_decay = [], []
    seen: set[int] = set()
    for module in modules:
        for name, p in module.named_parameters():
            if id(p) in seen or not (include_frozen or p.requires_grad):
                continue
            seen.add(id(p))
            (no_decay if name.endswith(".bias") or p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "lr_scale": 1.0, "wd_scale": 1.0, "name": "decay"},
              {"params": no_decay, "lr_scale": 1.0, "wd_scale": 0.0, "name": "no_decay"}]
    return [g for g in groups if g["params"]]


class Objective(abc.ABC):
    """What a training run optimises. Subclasses implement :meth:`modules` and :meth:`loss`.

    The trainer moves :meth:`modules` to the device, builds the optimiser from
    :meth:`param_groups`, calls ``before_epoch``, then per step ``loss`` -> backward ->
    (gradient all-reduce, unscale, clip) -> ``after_backward`` -> optimiser step ->
    ``after_step``; checkpoints hold every module's state plus :meth:`state_dict`.
    """

    @abc.abstractmethod
    def modules(self) -> dict[str, nn.Module]:
        """Every module with state, by a stable name, e.g. ``{'model': student, 'teacher': t, 'head': h}``."""

    @abc.abstractmethod
    def loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """The scalar loss of one (device-resident) batch, and metrics (floats) to log."""

    def trainable(self) -> list[str]:
        """Names of the modules the optimiser trains (default: all; a DINO teacher is left out)."""
        return list(self.modules())

    def param_groups(self) -> list[dict[str, Any]]:
        """Optimiser parameter groups: dicts with ``params`` and optional ``lr_scale`` / ``wd_scale``.

        Default: :func:`weight_decay_groups` of the trainable modules with their frozen
        parameters too (so a freezing schedule may unfreeze them later: a parameter without
        a gradient is not updated).
        """
        mods = self.modules()
        return weight_decay_groups([mods[name] for name in self.trainable()])

    def to(self, device: torch.device) -> None:
        """Move everything with state to ``device`` (override to move tensors kept outside modules)."""
        for m in self.modules().values():
            m.to(device)

    def train_mode(self) -> None:
        """Set train/eval modes: trainable modules train, the others (e.g. a teacher) eval."""
        trainable = set(self.trainable())
        for name, m in self.modules().items():
            m.train(name in trainable)

    def begin_training(self, total_steps: int, steps_per_epoch: int) -> None:  # noqa: B027 (optional hook)
        """Hook once the run's length is known, before any checkpoint is loaded (build schedules here)."""

    def before_epoch(self, epoch: int) -> None:  # noqa: B027 (optional hook)
        """Hook at the start of each epoch (0-based), e.g. a freezing schedule."""

    def before_step(self, step: int) -> None:  # noqa: B027 (optional hook)
        """Hook before ``loss`` of step ``step`` (0-based), e.g. to pick this step's temperature."""

    def after_backward(self, step: int) -> None:  # noqa: B027 (optional hook)
        """Hook after gradients are averaged, unscaled and clipped, before the optimiser step."""

    def after_step(self, step: int) -> None:  # noqa: B027 (optional hook)
        """Hook after the optimiser step ``step`` (0-based), e.g. a teacher EMA or a centre update."""

    def should_stop(self) -> bool:
        """True to end training before ``total_steps`` (early stopping on a dev set); asked after each
        step and when a run resumes, so it must follow from :meth:`state_dict`. Default: never."""
        return False

    def state_dict(self) -> dict[str, Any]:
        """The objective's own state outside its modules (plain types and tensors only)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        if state:
            raise CheckpointError(f"{type(self).__name__} keeps no state but the checkpoint has {sorted(state)}")

    def model_for_export(self) -> nn.Module:
        """The network whose weights become the checkpoint's ``model`` (default ``modules()['model']``)."""
        mods = self.modules()
        if "model" not in mods:
            raise NotImplementedError(f"{type(self).__name__} has no module named 'model': "
                                      "override model_for_export()")
        return mods["model"]

    def arch_config(self) -> dict[str, Any]:
        """The config dict that rebuilds :meth:`model_for_export` via ``utter.nnet.build_network``."""
        config = getattr(self.model_for_export(), "config", None)
        if not isinstance(config, dict):
            raise NotImplementedError(f"{type(self).__name__}: the exported network has no .config dict: "
                                      "override arch_config()")
        return dict(config)

