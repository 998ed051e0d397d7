"""Embedding preprocessing before scoring: centring, whitening, length normalisation.

Each transform has ``fit(x)``, ``transform(x)``, a ``name`` and array ``state()``, so a
:class:`utter.backend.pipeline.Pipeline` of them (centring, LDA, whitening, length-norm, as
Kaldi's x-vector back-end) is stored in the same npz file as the model that follows it. The
class statistics here are shared with :mod:`utter.backend.lda`.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from utter.backend.io import check_embeddings

log = logging.getLogger(__name__)


@dataclass
class ClassStats:
    """Per-class means and within-class scatter of a labelled embedding set."""

    mean: np.ndarray          # [D] global mean
    class_means: np.ndarray   # [C, D]
    counts: np.ndarray        # [C] utterances per class
    within: np.ndarray        # [D, D] sum over utterances of (x - class mean)(x - class mean)^T

    @classmethod
    def compute(cls, x: np.ndarray, labels: Sequence) -> ClassStats:
        _, inv = np.unique(np.asarray(labels), return_inverse=True)
        inv = inv.reshape(-1)
        counts = np.bincount(inv).astype(np.float64)
        order = np.argsort(inv, kind="stable")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        class_means = np.add.reduceat(x[order], starts, axis=0) / counts[:, None]
        centred = x - class_means[inv]
        return cls(x.mean(0), class_means, counts, centred.T @ centred)

    def describe(self) -> str:
        c = self.counts
        return (f"{len(c)} speakers, {int(c.sum())} utterances, utterances per speaker "
                f"min {int(c.min())} mean {c.mean():.1f} max {int(c.max())}")


def check_within_covariance(cov: np.ndarray, stats: ClassStats, what: str) -> None:
    """Raise when a within-class covariance is singular, saying which set and how it is made up."""
    eig = np.linalg.eigvalsh(cov)
    if eig[0] <= max(1e-10 * eig[-1], 1e-300):
        rank = int((eig > 1e-10 * eig[-1]).sum())
        dof = int(stats.counts.sum() - len(stats.counts))
        raise ValueError(
            f"{what}: within-class covariance is singular (rank {rank} < dimension {cov.shape[0]}; "
            f"{dof} within-class degrees of freedom): {stats.describe()}. Use more utterances per "
            f"speaker or reduce the dimension first (LDA)")


class Centering:
    """Subtract the training mean."""

    name = "center"

    def __init__(self, mean: np.ndarray | None = None):
        self.mean = mean

    def fit(self, x: np.ndarray, labels=None) -> Centering:
        self.mean = check_embeddings(x, what="centring training set").mean(0)
        return self

    @property
    def dim_in(self) -> int:
        return len(self.mean)

    dim_out = dim_in

    def transform(self, x: np.ndarray) -> np.ndarray:
        return x - self.mean

    def state(self) -> dict:
        return {"mean": self.mean}

    @classmethod
    def from_state(cls, s: dict) -> Centering:
        return cls(s["mean"])


class Whitening:
    """ZCA whitening with the training covariance: W = U diag(1/sqrt(eig)) U^T, after centring."""

    name = "whiten"

    def __init__(self, mean: np.ndarray | None = None, matrix: np.ndarray | None = None):
        self.mean, self.matrix = mean, matrix

    def fit(self, x: np.ndarray, labels=None, what: str = "whitening training set") -> Whitening:
        x = check_embeddings(x, what=what)
        self.mean = x.mean(0)
        cov = np.cov(x, rowvar=False, bias=True).reshape(x.shape[1], x.shape[1])
        eig, vec = np.linalg.eigh(cov)
        if eig[0] <= 1e-10 * eig[-1]:
            raise ValueError(f"{what}: covariance is singular ({len(x)} embeddings of dimension {x.shape[1]}, "
                             f"rank {int((eig > 1e-10 * eig[-1]).sum())}); whitening needs more embeddings "
                             f"than dimensions")
        self.matrix = (vec / np.sqrt(eig)) @ vec.T
        return self

    @property
    def dim_in(self) -> int:
        return self.matrix.shape[0]

    dim_out = dim_in

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) @ self.matrix

    def state(self) -> dict:
        return {"mean": self.mean, "matrix": self.matrix}

    @classmethod
    def from_state(cls, s: dict) -> Whitening:
        return cls(s["mean"], s["matrix"])


class LengthNorm:
    """Scale each embedding to length sqrt(dim), as Kaldi's ivector-normalize-length."""

    name = "lnorm"

    def __init__(self, dim: int | None = None):
        self.dim = dim

    def fit(self, x: np.ndarray, labels=None) -> LengthNorm:
        self.dim = x.shape[1]
        return self

    @property
    def dim_in(self) -> int:
        return self.dim

    dim_out = dim_in

    def transform(self, x: np.ndarray) -> np.ndarray:
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        return x * (np.sqrt(x.shape[1]) / np.maximum(norm, 1e-30))

    def state(self) -> dict:
        return {"dim": np.array(self.dim)}

    @classmethod
    def from_state(cls, s: dict) -> LengthNorm:
        return cls(int(s["dim"]))
