"""Cross-validation protocols over utterance lists: reading folds, summarising folds × seeds.

A fold is a directory ``folds/<name>/`` holding ``train``, optional ``dev`` and ``test``
utterance lists (IEMOCAP leave-one-session-out, ADReSS leave-one-speaker-out). Results
are reported as mean ± standard deviation over every (fold, seed) run, because the
differences between fine-tuning strategies can be smaller than seed noise.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utter.data.datadir import read_id_list, sort_key


@dataclass(frozen=True)
class Fold:
    """One train/dev/test partition of a data dir's utterances."""

    name: str
    train: list[str]
    test: list[str]
    dev: list[str] = field(default_factory=list)


def read_folds(folds_dir: str | os.PathLike, max_folds: int | None = None) -> list[Fold]:
    """Read ``folds_dir/<name>/{train,dev,test}`` in C order of the fold names.

    Raises a ValueError naming the fold when a list is missing or train and test overlap.
    """
    folds_dir = Path(folds_dir)
    if not folds_dir.is_dir():
        raise ValueError(f"{folds_dir}: no folds directory (run the data preparation stage)")
    names = sorted((p.name for p in folds_dir.iterdir() if p.is_dir()), key=sort_key)
    names.sort(key=lambda n: (not n.isdigit(), int(n) if n.isdigit() else 0, sort_key(n)))
    if not names:
        raise ValueError(f"{folds_dir}: holds no fold directories")
    folds = []
    for name in names[: max_folds or None]:
        d = folds_dir / name
        for part in ("train", "test"):
            if not (d / part).is_file():
                raise ValueError(f"{d / part}: missing fold list")
        fold = Fold(name, read_id_list(d / "train"), read_id_list(d / "test"),
                    read_id_list(d / "dev") if (d / "dev").is_file() else [])
        overlap = set(fold.train) & set(fold.test) | set(fold.dev) & set(fold.test)
        if overlap:
            raise ValueError(f"fold {d}: {len(overlap)} utterances are in both training and test lists, "
                             f"e.g. {sorted(overlap)[:3]}")
        folds.append(fold)
    return folds


def mean_std(runs: list[dict[str, float]], keys: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Mean, sample standard deviation (ddof=1; 0 for one run) and count of each figure over runs."""
    if not runs:
        raise ValueError("no runs to summarise")
    keys = keys or [k for k, v in runs[0].items() if isinstance(v, (int, float))]
    out = {}
    for k in keys:
        values = np.array([r[k] for r in runs], dtype=float)
        out[k] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                  "n": len(values)}
    return out


def format_mean_std(summary: dict[str, float], scale: float = 100.0, digits: int = 1) -> str:
    """``62.3 ± 1.4`` from a :func:`mean_std` entry (percent by default)."""
    return f"{summary['mean'] * scale:.{digits}f} ± {summary['std'] * scale:.{digits}f}"
