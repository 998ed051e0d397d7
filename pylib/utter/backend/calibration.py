"""Linear score calibration to log-likelihood ratios by prior-weighted logistic regression.

llr = w . [score, quality...] + b, fitted (BOSARIS ``train_linear_calibration`` style) by
minimising  P * mean_tar log(1 + exp(-(llr + logit P))) + (1 - P) * mean_non log(1 + exp(llr + logit P)),
the cross-entropy at the effective prior P, with scipy's L-BFGS. Quality measures (e.g. log
durations of the two sides) enter linearly beside the score.
"""
from __future__ import annotations

import logging
import os

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, logit

from utter.backend.io import load_npz, save_npz

log = logging.getLogger(__name__)


def duration_quality(enroll_dur: np.ndarray, test_dur: np.ndarray) -> np.ndarray:
    """Quality measures of a trial from durations in seconds: [min, max] of the two log durations."""
    le, lt = np.log(np.maximum(enroll_dur, 1e-3)), np.log(np.maximum(test_dur, 1e-3))
    return np.stack([np.minimum(le, lt), np.maximum(le, lt)], axis=1)


class LinearCalibration:
    """Affine map from scores (and quality measures) to calibrated LLRs."""

    kind = "calibration"

    def __init__(self, weights: np.ndarray | None = None, bias: float = 0.0, prior: float = 0.5,
                 trained_for: dict | None = None):
        self.weights = weights
        self.bias = float(bias)
        self.prior = prior
        #: what the calibration scores came from (``model``, ``model_sha256``, ``scorer``), recorded so that
        #: it is not applied to another system's scores (``utter verify`` checks it); {} when not known
        self.trained_for = dict(trained_for or {})

    @staticmethod
    def _design(scores: np.ndarray, quality: np.ndarray | None) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64).reshape(-1, 1)
        if quality is None:
            return s
        q = np.asarray(quality, dtype=np.float64).reshape(len(s), -1)
        return np.hstack([s, q])

    def fit(self, scores: np.ndarray, labels: np.ndarray, quality: np.ndarray | None = None,
            prior: float = 0.5) -> LinearCalibration:
        """Fit on a (separate) trial list with boolean target ``labels``."""
        if not 0 < prior < 1:
            raise ValueError(f"calibration prior must be in (0, 1), got {prior}")
        labels = np.asarray(labels, dtype=bool)
        x = self._design(scores, quality)
        if len(labels) != len(x):
            raise ValueError(f"calibration: {len(x)} scores but {len(labels)} labels")
        if not np.isfinite(x).all():
            raise ValueError("calibration: scores or quality measures are not finite")
        n_tar, n_non = int(labels.sum()), int((~labels).sum())
        if n_tar == 0 or n_non == 0:
            raise ValueError(f"calibration needs target and nontarget trials, got {n_tar} and {n_non}")
        # Standardise the columns for a well-conditioned problem; map back afterwards.
        mu, sd = x.mean(0), np.where(x.std(0) > 0, x.std(0), 1.0)
        z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
        offset = logit(prior)
        sign = np.where(labels, 1.0, -1.0)
        weight = np.where(labels, prior / n_tar, (1 - prior) / n_non)

        def objective(theta):
            m = sign * (z @ theta + offset)
            loss = np.logaddexp(0, -m)
            grad = -(weight * sign * expit(-m)) @ z
            return float(weight @ loss), grad

        res = minimize(objective, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B",
                       options={"maxiter": 1000, "gtol": 1e-10})
        if not res.success:
            log.warning("calibration: L-BFGS stopped early: %s", res.message)
        w = res.x[:-1] / sd
        self.weights, self.bias, self.prior = w, float(res.x[-1] - w @ mu), prior
        log.info("calibration: weights %s, bias %.4f (prior %.3f, %d targets, %d nontargets)",
                 np.array2string(w, precision=4), self.bias, prior, n_tar, n_non)
        return self

    @property
    def num_quality(self) -> int:
        return len(self.weights) - 1

    def __call__(self, scores: np.ndarray, quality: np.ndarray | None = None) -> np.ndarray:
        if self.weights is None:
            raise ValueError("calibration model is not trained")
        x = self._design(scores, quality)
        if x.shape[1] != len(self.weights):
            raise ValueError(f"calibration model takes {self.num_quality} quality measures, "
                             f"got {x.shape[1] - 1}")
        return x @ self.weights + self.bias

    def save(self, path: str | os.PathLike) -> None:
        save_npz(path, self.kind, {"weights": self.weights, "bias": np.array(self.bias)},
                 {"prior": self.prior, "trained_for": self.trained_for})

    @classmethod
    def load(cls, path: str | os.PathLike) -> LinearCalibration:
        meta, arrays = load_npz(path, cls.kind)
        return cls(arrays["weights"], float(arrays["bias"]), meta["prior"], meta.get("trained_for"))
