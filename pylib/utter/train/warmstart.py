"""Start a training run from another run's weights, and train only part of a network.

Used by speaker-classification runs that begin from a pretrained network (a DINO teacher,
or an earlier fine-tuning stage): :func:`init_from_checkpoint` loads the checkpoint's exported
network and, where names and shapes agree, its other modules (e.g. an AAM-softmax head
trained on the same labels); :func:`train_only` freezes everything but the named parameters
("affine first": the post-pooling layers of ``last_affine()`` and the head).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from torch import nn

from utter.train.checkpoint import CheckpointError, load_checkpoint, load_embedder

log = logging.getLogger(__name__)


def network_from_checkpoint(path: str | os.PathLike) -> nn.Module:
    """The exported network of a checkpoint (DINO: the teacher backbone), in train mode."""
    return load_embedder(path).train()


def init_from_checkpoint(objective, path: str | os.PathLike, *, same_labels: bool = False) -> list[str]:
    """Load the other modules of checkpoint ``path`` into ``objective`` where they fit.

    The network itself comes from :func:`network_from_checkpoint`; here every module of the
    objective other than the exported network whose name, parameter names and shapes match a
    module saved in the checkpoint is loaded, but only when ``same_labels`` (a head is only
    meaningful for the same classes). Returns the names of the modules loaded.
    """
    state = load_checkpoint(path)
    saved = state["extra"].get("modules") or {}
    loaded = []
    if not same_labels:
        return loaded
    exported = objective.model_for_export()
    for name, m in objective.modules().items():
        sd = saved.get(name)
        if m is exported or sd is None:
            continue
        own = m.state_dict()
        if set(own) != set(sd) or any(tuple(own[k].shape) != tuple(sd[k].shape) for k in own):
            log.info("%s: module %s does not fit this run's; left at its initialisation", path, name)
            continue
        m.load_state_dict(sd)
        loaded.append(name)
    return loaded


def saved_label_map(path: str | os.PathLike) -> dict | None:
    """The label map of a speaker-classification checkpoint, or None (e.g. a DINO checkpoint)."""
    state = load_checkpoint(path)
    lm = (state["extra"].get("objective") or {}).get("label_map")
    return dict(lm) if isinstance(lm, dict) else None


def train_only(network: nn.Module, names: Iterable[str]) -> tuple[int, int]:
    """Freeze every parameter of ``network`` not in ``names`` (requires_grad False; the trainer leaves
    parameters without gradients untouched). Returns (trainable, frozen) parameter counts."""
    names = set(names)
    unknown = names - {n for n, _ in network.named_parameters()}
    if unknown:
        raise ValueError(f"no parameter(s) {', '.join(sorted(unknown))} in the network")
    if not names:
        raise CheckpointError("the network names no last affine parameters: cannot train only them")
    on = off = 0
    for n, p in network.named_parameters():
        p.requires_grad_(n in names)
        if n in names:
            on += p.numel()
        else:
            off += p.numel()
    return on, off
