"""Chains of embedding transforms, saved in the npz file of the model they precede.

A :class:`Pipeline` fits each step on the output of the previous one and stores every step's
arrays under ``{prefix}{i}.`` keys beside the step names, so a back-end model (cosine scorer,
PLDA, PLDA classifier) can rebuild its preprocessing from its own file. The transforms are
known here by name (:data:`TRANSFORMS`), above both :mod:`utter.backend.transforms` and
:mod:`utter.backend.lda`, so neither needs to import the other back.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from utter.backend.io import check_embeddings
from utter.backend.lda import LDA
from utter.backend.transforms import Centering, LengthNorm, Whitening

#: Every transform a saved pipeline may name, by its ``name``.
TRANSFORMS = {c.name: c for c in (Centering, Whitening, LengthNorm, LDA)}


class Pipeline:
    """A chain of transforms, each fitted on the output of the previous one."""

    def __init__(self, steps: Sequence = ()):
        self.steps = list(steps)

    def fit(self, x: np.ndarray, labels=None) -> Pipeline:
        for step in self.steps:
            step.fit(x, labels)
            x = step.transform(x)
        return self

    @property
    def dim_in(self) -> int | None:
        return self.steps[0].dim_in if self.steps else None

    def transform(self, x: np.ndarray, what: str = "embeddings") -> np.ndarray:
        if self.steps:
            check_embeddings(x, dim=self.dim_in, what=what)
        for step in self.steps:
            x = step.transform(x)
        return x

    def state(self, prefix: str = "pre") -> tuple[dict, list[str]]:
        """Arrays (keys ``{prefix}{i}.{name}``) and the step names, for :func:`save_npz`."""
        arrays: dict = {}
        for i, step in enumerate(self.steps):
            arrays.update({f"{prefix}{i}.{k}": v for k, v in step.state().items()})
        return arrays, [s.name for s in self.steps]

    @classmethod
    def from_state(cls, names: Sequence[str], arrays: dict, prefix: str = "pre") -> Pipeline:
        steps = []
        for i, name in enumerate(names):
            p = f"{prefix}{i}."
            steps.append(TRANSFORMS[name].from_state({k[len(p):]: v for k, v in arrays.items() if k.startswith(p)}))
        return cls(steps)
