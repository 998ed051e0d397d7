"""The scoring back-ends by name: the one list that scoring, the results table and the recipes read.

Each back-end writes ``scores_<name>`` (``steps/score_<...>.sh``); RESULTS.md shows it by its
label, in the order of :data:`SCORERS`. A back-end with a saved model (an npz whose ``kind`` is the
name) has a loader; AS-norm has none: it normalises the scores of another back-end's model. Adding a
back-end is an entry here (plus its model class and step script); ``python -m utter.bin.scorers``
lists the names for the recipes.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from utter.backend.cosine import CosineScorer
from utter.backend.io import load_npz
from utter.backend.plda import PLDA
from utter.backend.scoring import Scorer


@dataclass(frozen=True)
class ScorerKind:
    """A scoring back-end: its name (``scores_<name>``, the npz ``kind``), its label in RESULTS.md, and
    the loader of its saved model (None: it has no model of its own)."""

    name: str
    label: str
    load: Callable[[str | os.PathLike], Scorer] | None = None


#: every scoring back-end, in the order RESULTS.md shows them
SCORERS: dict[str, ScorerKind] = {k.name: k for k in (
    ScorerKind("cosine", "cosine", CosineScorer.load),
    ScorerKind("plda", "PLDA", PLDA.load),
    ScorerKind("asnorm", "AS-norm"),
)}


def scorer_label(name: str) -> str:
    """The back-end's label in RESULTS.md (an unknown name shows as it is)."""
    kind = SCORERS.get(name)
    return kind.label if kind else name


def load_scorer(path: str | os.PathLike) -> Scorer:
    """Load a saved scorer of whichever back-end the npz file's ``kind`` names."""
    loaders = {name: k.load for name, k in SCORERS.items() if k.load is not None}
    kind = load_npz(path, tuple(loaders))[0]["kind"]
    return loaders[kind](path)
