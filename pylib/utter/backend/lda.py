"""Linear discriminant analysis: project embeddings onto the directions that best separate speakers.

Solves the generalised eigenproblem S_b v = lambda S_w v (between- and within-class
covariances) and keeps the leading directions, scaled so the projected within-class
covariance is the identity.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import scipy.linalg

from utter.backend.io import check_embeddings, load_npz, save_npz
from utter.backend.transforms import ClassStats, check_within_covariance

log = logging.getLogger(__name__)


class LDA:
    """x -> (x - mean) @ matrix, ``matrix`` [D, dim]; ``dim`` defaults to 200, at most classes - 1."""

    name = "lda"

    def __init__(self, dim: int = 200, mean: np.ndarray | None = None, matrix: np.ndarray | None = None,
                 eigenvalues: np.ndarray | None = None):
        self.dim, self.mean, self.matrix, self.eigenvalues = dim, mean, matrix, eigenvalues

    def fit(self, x: np.ndarray, labels: Sequence, what: str = "LDA training set") -> LDA:
        x = check_embeddings(x, what=what)
        if labels is None or len(labels) != len(x):
            raise ValueError(f"{what}: LDA needs one speaker label per embedding")
        stats = ClassStats.compute(x, labels)
        n_classes = len(stats.counts)
        if n_classes < 2:
            raise ValueError(f"{what}: LDA needs at least 2 speakers, got {n_classes}")
        dim = self.dim
        limit = min(n_classes - 1, x.shape[1])
        if dim > limit:
            log.warning("%s: LDA dimension %d clamped to %d (%d speakers, input dimension %d)",
                        what, dim, limit, n_classes, x.shape[1])
            dim = limit
        n = stats.counts.sum()
        sw = stats.within / n
        check_within_covariance(sw, stats, what)
        d = stats.class_means - stats.mean
        sb = (d * (stats.counts / n)[:, None]).T @ d
        eig, vec = scipy.linalg.eigh(sb, sw)   # ascending; vec^T sw vec = I
        order = np.argsort(eig)[::-1][:dim]
        self.dim, self.mean = dim, stats.mean
        self.matrix, self.eigenvalues = vec[:, order], eig[order]
        return self

    @property
    def dim_in(self) -> int:
        return self.matrix.shape[0]

    @property
    def dim_out(self) -> int:
        return self.matrix.shape[1]

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = check_embeddings(x, dim=self.dim_in, what="LDA input")
        return (x - self.mean) @ self.matrix

    def state(self) -> dict:
        return {"mean": self.mean, "matrix": self.matrix, "eigenvalues": self.eigenvalues}

    @classmethod
    def from_state(cls, s: dict) -> LDA:
        return cls(s["matrix"].shape[1], s["mean"], s["matrix"], s["eigenvalues"])

    def save(self, path: str | os.PathLike) -> None:
        save_npz(path, "lda", self.state())

    @classmethod
    def load(cls, path: str | os.PathLike) -> LDA:
        return cls.from_state(load_npz(path, "lda")[1])
