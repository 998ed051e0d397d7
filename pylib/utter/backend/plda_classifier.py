"""PLDA-based class scoring: classes play the part of speakers in a PLDA model.

Preprocessing (centring, optional LDA, whitening, length-norm) and a PLDA model are fitted
on the training embeddings with their class labels as "speaker" labels; a test embedding's
score for class c is the multi-session log-likelihood ratio of it against *all* training
embeddings of c (same class vs. different classes), computed by :class:`utter.backend.plda.PLDA`.
Scores are LLRs, not posteriors: the predicted class is the one with the highest LLR.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from utter.backend.classifiers import EmbeddingClassifier, _check_matrix
from utter.backend.plda import PLDA, fit_plda, make_preprocessing
from utter.backend.transforms import Pipeline

_MODEL_KEYS = ("a", "term", "ns", "n_idx")


class PLDAClassifier(EmbeddingClassifier):
    """LDA (``lda_dim`` > 0, clamped to classes - 1) + whitening + length-norm + PLDA; class LLR scores."""

    kind = "plda"

    def __init__(self, lda_dim: int = 0, whiten: bool = True, length_norm: bool = True,
                 model_type: str = "two-cov", num_iters: int = 10):
        super().__init__(lda_dim=int(lda_dim), whiten=bool(whiten), length_norm=bool(length_norm),
                         model_type=model_type, num_iters=int(num_iters))
        self._plda: PLDA | None = None

    def fit(self, x: np.ndarray, y: Sequence[str]) -> PLDAClassifier:
        x = _check_matrix(x, None, "PLDA classifier training set")
        yi = self._encode(y)
        o = self.options
        pre = make_preprocessing(o["lda_dim"], o["whiten"], o["length_norm"])
        plda = fit_plda(x, yi, model_type=o["model_type"], num_iters=o["num_iters"], pre=pre,
                        what="PLDA classifier training set")
        groups = [np.flatnonzero(yi == c) for c in range(len(self.labels))]
        models = plda.model_side(x, groups)
        arrays, names = plda.pre.state()
        self.params = {**arrays, "pre_steps": np.array(names, dtype=str), "plda_mean": plda.mean,
                       "between": plda.between, "within": plda.within,
                       **{f"model_{k}": np.asarray(models[k]) for k in _MODEL_KEYS}}
        self._plda = plda
        return self

    @property
    def plda(self) -> PLDA:
        """The PLDA model (rebuilt from ``params`` after :meth:`load`)."""
        if self._plda is None:
            if "between" not in self.params:
                raise ValueError("the PLDA classifier is not trained")
            p = self.params
            names = [str(n) for n in p["pre_steps"].tolist()]
            pre = Pipeline.from_state(names, p)
            self._plda = PLDA(p["plda_mean"], p["between"], p["within"], self.options["model_type"], pre)
        return self._plda

    @property
    def dim(self) -> int | None:
        return self.plda.dim if self.params else None

    def scores(self, x: np.ndarray) -> np.ndarray:
        """LLR of each test embedding (rows) against each class's training embeddings (columns)."""
        plda = self.plda
        x = _check_matrix(x, plda.dim, "PLDA classifier input")
        models = {k: self.params[f"model_{k}"] for k in _MODEL_KEYS}
        return plda.score_matrix(models, plda.test_side(x)).T
