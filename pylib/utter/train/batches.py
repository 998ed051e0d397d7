"""Batches in the loop: moving a (nested) batch to the device, and naming the utterances of a batch
whose inputs are not finite (the reason a loss is NaN)."""
from __future__ import annotations

from typing import Any

import torch


def move_to(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a (nested) batch to ``device``."""
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)) and not hasattr(batch, "_fields"):
        return type(batch)(move_to(v, device) for v in batch)
    if isinstance(batch, tuple):  # namedtuple
        return type(batch)(*(move_to(v, device) for v in batch))
    return batch


def nonfinite_utterances(batch: Any) -> list[str]:
    """The utterances (``batch['utts']``) whose rows of a float tensor of the batch are not finite:
    row r of a ``[V * B, ...]`` tensor (views stacked view-major, as multi-crop batches are) is utterance
    ``r % B``."""
    if not isinstance(batch, dict) or not batch.get("utts"):
        return []
    utts = list(batch["utts"])
    bad: set[int] = set()
    for value in batch.values():
        if torch.is_tensor(value) and value.is_floating_point() and value.dim() >= 1 and \
                value.shape[0] % len(utts) == 0:
            rows = ~torch.isfinite(value.detach()).reshape(value.shape[0], -1).all(dim=1)
            bad.update(int(r) % len(utts) for r in torch.nonzero(rows).flatten().tolist())
    return [str(utts[i]) for i in sorted(bad)]
