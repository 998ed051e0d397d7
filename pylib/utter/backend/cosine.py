"""Cosine scoring, optionally after subtracting a training-set mean and whitening.

Each utterance is transformed and normalised to unit length once; a multi-session model is
the renormalised mean of its utterances' unit vectors; a trial is then one dot product.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from utter.backend.io import check_embeddings, load_npz, save_npz
from utter.backend.pipeline import Pipeline
from utter.backend.scoring import group_means, trial_dot
from utter.backend.transforms import Centering, Whitening


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Euclidean length (zero rows stay zero)."""
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


class CosineScorer:
    """Cosine similarity of (optionally centred and whitened) embeddings."""

    kind = "cosine"

    def __init__(self, pre: Pipeline | None = None, dim: int | None = None):
        self.pre = pre or Pipeline()
        self.dim = dim

    def fit(self, x: np.ndarray | None = None, subtract_mean: bool = True, whiten: bool = False,
            what: str = "cosine training set") -> CosineScorer:
        """Estimate the mean (and whitening) from training embeddings ``x``; no-op without them."""
        steps = []
        if x is not None:
            x = check_embeddings(x, what=what)
            self.dim = x.shape[1]
            if whiten:   # whitening centres too
                steps.append(Whitening().fit(x, what=what))
            elif subtract_mean:
                steps.append(Centering().fit(x))
        self.pre = Pipeline(steps)
        return self

    def transform(self, x: np.ndarray, what: str = "embeddings") -> np.ndarray:
        x = check_embeddings(x, dim=self.dim, what=what)
        return unit_rows(self.pre.transform(x, what))

    def model_side(self, x: np.ndarray, groups: Sequence[np.ndarray] | None = None) -> np.ndarray:
        u = self.transform(x, "enrolment embeddings")
        if groups is None:
            return u
        return unit_rows(group_means(u, groups)[0])

    def test_side(self, x: np.ndarray) -> np.ndarray:
        return self.transform(x, "test embeddings")

    def score(self, models: np.ndarray, tests: np.ndarray, mi: np.ndarray, ti: np.ndarray) -> np.ndarray:
        return trial_dot(models, tests, mi, ti)

    def score_matrix(self, models: np.ndarray, tests: np.ndarray) -> np.ndarray:
        return models @ tests.T

    def save(self, path: str | os.PathLike) -> None:
        arrays, names = self.pre.state()
        save_npz(path, self.kind, arrays, {"steps": names, "dim": self.dim})

    @classmethod
    def load(cls, path: str | os.PathLike) -> CosineScorer:
        meta, arrays = load_npz(path, cls.kind)
        return cls(Pipeline.from_state(meta["steps"], arrays), meta["dim"])
