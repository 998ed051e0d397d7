"""What each downstream run trains and tests on: fold lists, train -> test splits, and targets.

A fold is a directory ``folds/<name>/`` holding ``train``, optional ``dev`` and ``test``
utterance lists (IEMOCAP leave-one-session-out, ADReSS leave-one-speaker-out); without folds
a stage trains on one data dir and tests on another (one split named ``test``). Targets are
the first field of a data dir's label table (``utt2emo``, ``utt2label``), or a number for
regression (``utt2mmse``).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from utter.data.datadir import DataDir, read_id_list, read_table, sort_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """One evaluation: train/dev utterances of the training set, test utterances of the test set
    (a cross-validation fold, or the one train -> test split)."""

    name: str
    train: list[str]
    test: list[str]
    dev: list[str] = field(default_factory=list)


def read_folds(folds_dir: str | os.PathLike, max_folds: int | None = None) -> list[Split]:
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
        fold = Split(name, read_id_list(d / "train"), read_id_list(d / "test"),
                     read_id_list(d / "dev") if (d / "dev").is_file() else [])
        overlap = set(fold.train) & set(fold.test) | set(fold.dev) & set(fold.test)
        if overlap:
            raise ValueError(f"fold {d}: {len(overlap)} utterances are in both training and test lists, "
                             f"e.g. {sorted(overlap)[:3]}")
        folds.append(fold)
    return folds


def splits_from_args(folds_dir: str | None, max_folds: int, train_targets: Mapping, test_targets: Mapping | None,
                     only: Sequence[str] = ()) -> list[Split]:
    """Cross-validation folds (``folds_dir``) or one train -> test split named ``test``."""
    if folds_dir:
        return [f for f in read_folds(folds_dir, max_folds or None) if not only or f.name in only]
    if test_targets is None:
        raise ValueError("give either a folds dir (cross-validation) or test data (train -> test)")
    return [Split("test", sorted(train_targets, key=sort_key), sorted(test_targets, key=sort_key))]


def read_targets(data_dir: str | os.PathLike, table: str, regression: bool = False) -> dict:
    """utt -> label (first field) or float target of a data dir's label table."""
    path = DataDir(data_dir).file(table)
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such label table")
    out = {}
    for utt, value in read_table(path).items():
        v = value.split()[0]
        if regression:
            try:
                out[utt] = float(v)
            except ValueError:
                raise ValueError(f"{path}: target '{v}' of {utt} is not a number") from None
        else:
            out[utt] = v
    return out


def read_labels(data_dir: str | os.PathLike, label_table: str, utts: Sequence[str]) -> list[str]:
    """The label (first field of ``label_table``) of each utterance; an error names a missing one."""
    targets = read_targets(data_dir, label_table)
    missing = [u for u in utts if u not in targets]
    if missing:
        raise ValueError(f"{missing[0]}: no entry in {DataDir(data_dir).file(label_table)}")
    return [targets[u] for u in utts]


def select_targets(utts: Sequence[str], targets: Mapping, what: str, regression: bool) -> list[str]:
    """Utterances with a target; a missing label is an error, a missing regression target is logged."""
    missing = [u for u in utts if u not in targets]
    if missing and not regression:
        raise ValueError(f"{what}: {len(missing)} utterances have no label, e.g. {missing[:3]}")
    if missing:
        log.info("%s: %d utterances without a target are left out (e.g. %s)", what, len(missing), missing[0])
    return [u for u in utts if u in targets]
