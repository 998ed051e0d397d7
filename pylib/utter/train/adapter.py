"""Lux et al.'s step 2 model: a small adapter (MLP with dropout) trained on frozen embeddings.

The network is frozen, so its embeddings are extracted once and the adapter trains on them in
memory: a few seconds per (fold, seed) on a CPU, instead of a network forward pass per step.
That is also why this loop is not the one trainer's: there are no loaders, checkpoints or
schedules to share, only mini-batch Adam with early stopping on the dev set's UA (ties go to
the lower dev loss; the best epoch's weights are kept). Cross-entropy is class-weighted
(inverse frequency) with ``balanced``, as UA weights the classes equally. The per-fold runner
(embedding extraction, runs and summary) is :mod:`utter.transfer.adapter`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from utter.nnet.adapter import Adapter


@dataclass
class AdapterOptions:
    """Adapter architecture and its training."""

    hidden: tuple[int, ...] = (256,)
    dropout: float = 0.5
    input_dropout: float = 0.5
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 32
    max_epochs: int = 100
    patience: int = 10
    balanced: bool = True
    standardize: bool = True

    def __post_init__(self):
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.batch_size < 1 or self.max_epochs < 1 or self.patience < 1 or self.lr <= 0:
            raise ValueError("adapter batch size, epochs and patience must be at least 1 and lr positive")


def _ua(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def train_adapter(x_train: np.ndarray, y_train: np.ndarray, num_classes: int, opts: AdapterOptions, *,
                  x_dev: np.ndarray | None = None, y_dev: np.ndarray | None = None, seed: int = 0,
                  device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train an :class:`~utter.nnet.adapter.Adapter` on embeddings; returns it (eval mode, with
    ``mean``/``scale`` buffers of the input standardisation) and a summary of training."""
    device = torch.device(device)
    gen = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))
    xtr = torch.as_tensor(np.asarray(x_train, dtype=np.float32))
    ytr = torch.as_tensor(np.asarray(y_train, dtype=np.int64))
    if xtr.ndim != 2 or len(xtr) != len(ytr) or len(xtr) == 0:
        raise ValueError(f"adapter training needs [N, D] embeddings and N labels, got {tuple(xtr.shape)}, {len(ytr)}")
    mean = xtr.mean(0) if opts.standardize else torch.zeros(xtr.shape[1])
    scale = xtr.std(0).clamp(min=1e-6) if opts.standardize and len(xtr) > 1 else torch.ones(xtr.shape[1])
    model = Adapter(xtr.shape[1], num_classes, hidden=opts.hidden, dropout=opts.dropout,
                    input_dropout=opts.input_dropout)
    model.register_buffer("mean", mean.clone())
    model.register_buffer("scale", scale.clone())
    model.to(device)
    counts = torch.bincount(ytr, minlength=num_classes).float()
    weight = (counts.sum() / (num_classes * counts.clamp(min=1))).to(device) if opts.balanced else None
    optim = torch.optim.Adam(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    xtr_n = ((xtr - mean) / scale).to(device)
    ytr = ytr.to(device)
    has_dev = x_dev is not None and len(x_dev) > 0
    if has_dev:
        xdv = ((torch.as_tensor(np.asarray(x_dev, dtype=np.float32)) - mean) / scale).to(device)
        ydv = np.asarray(y_dev, dtype=np.int64)
    best = (-1.0, float("inf"))
    best_state, best_epoch, waited = None, 0, 0
    history = []
    for epoch in range(1, opts.max_epochs + 1):
        model.train()
        perm = torch.randperm(len(xtr_n), generator=gen).to(device)
        total = 0.0
        for i in range(0, len(perm), opts.batch_size):
            idx = perm[i:i + opts.batch_size]
            loss = F.cross_entropy(model(xtr_n[idx]), ytr[idx], weight=weight)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            total += float(loss.detach()) * len(idx)
        row = {"epoch": epoch, "train_loss": total / len(perm)}
        if has_dev:
            model.eval()
            with torch.no_grad():
                logits = model(xdv)
                dev_loss = float(F.cross_entropy(logits, torch.as_tensor(ydv, device=device), weight=weight))
            dev_ua = _ua(logits.argmax(1).cpu().numpy(), ydv)
            row.update(dev_loss=dev_loss, dev_UA=dev_ua)
            if (dev_ua, -dev_loss) > (best[0], -best[1]):
                best, best_epoch, waited = (dev_ua, dev_loss), epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
        history.append(row)
        if has_dev and waited >= opts.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = len(history)
    model.eval()
    info = {"epochs": len(history), "best_epoch": best_epoch, "history": history}
    if has_dev:
        info.update(dev_UA=best[0], dev_loss=best[1])
    return model, info


@torch.no_grad()
def adapter_predict(model: torch.nn.Module, x: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
    """Class posteriors ``[N, C]`` of embeddings through a trained adapter (its standardisation applied)."""
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32)).to(device)
    logits = model((xt - model.mean) / model.scale)
    return torch.softmax(logits, dim=1).cpu().numpy()
