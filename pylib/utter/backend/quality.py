"""Quality-aware score calibration: logistic regression on the score and per-side quality measures.

A trial's quality vector is [log duration of the enrolment side, log duration of the test side,
mean and std of the enrolment side's top-N cohort scores, the same for the test side] (the
statistics AS-norm uses, here given to the calibration rather than subtracted). The fit is
:class:`utter.backend.calibration.LinearCalibration` (prior-weighted logistic regression) on
held-out trials; this module builds the quality vectors and keeps the settings with the model.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from utter.backend.calibration import LinearCalibration
from utter.backend.io import load_npz, save_npz
from utter.backend.norm import _side_stats, clamp_top_n
from utter.backend.scoring import Scorer

FEATURES = ("log_dur_enroll", "log_dur_test", "cohort_mean_enroll", "cohort_std_enroll",
            "cohort_mean_test", "cohort_std_test")


def cohort_side_stats(scorer: Scorer, x: np.ndarray, cohort_x: np.ndarray, top_n: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of each row's ``top_n`` highest scores against the cohort (rows as single-session models)."""
    n = clamp_top_n(top_n, len(cohort_x))
    return _side_stats(scorer, scorer.model_side(x), scorer.test_side(cohort_x), len(x), n)


def trial_quality_vectors(enroll: Sequence[str], test: Sequence[str], embeddings: Mapping[str, np.ndarray],
                          durations: Mapping[str, float], cohort_x: np.ndarray, scorer: Scorer,
                          top_n: int = 300) -> np.ndarray:
    """The [N, 6] quality vectors (:data:`FEATURES`) of trials ``enroll[k]`` vs ``test[k]``."""
    ids = sorted(set(enroll) | set(test))
    for what, table in (("embedding", embeddings), ("duration", durations)):
        missing = [u for u in ids if u not in table]
        if missing:
            raise ValueError(f"{len(missing)} trial side(s) have no {what} (first: {', '.join(missing[:5])})")
    pos = {u: i for i, u in enumerate(ids)}
    x = np.stack([np.asarray(embeddings[u], dtype=np.float64) for u in ids])
    mean, std = cohort_side_stats(scorer, x, cohort_x, top_n)
    logdur = np.log(np.maximum(np.array([float(durations[u]) for u in ids]), 1e-3))
    e = np.array([pos[u] for u in enroll])
    t = np.array([pos[u] for u in test])
    return np.stack([logdur[e], logdur[t], mean[e], std[e], mean[t], std[t]], axis=1)


class QualityCalibration:
    """A :class:`LinearCalibration` over :data:`FEATURES`, with the cohort top-N it was trained with."""

    kind = "quality_calibration"

    def __init__(self, linear: LinearCalibration | None = None, top_n: int = 300):
        self.linear = linear or LinearCalibration()
        self.top_n = int(top_n)

    def fit(self, scores: np.ndarray, labels: np.ndarray, quality: np.ndarray,
            prior: float = 0.5) -> QualityCalibration:
        quality = np.asarray(quality, dtype=np.float64)
        if quality.ndim != 2 or quality.shape[1] != len(FEATURES):
            raise ValueError(f"quality vectors must be [N, {len(FEATURES)}] ({', '.join(FEATURES)}), "
                             f"got shape {quality.shape}")
        self.linear.fit(scores, labels, quality, prior)
        return self

    def __call__(self, scores: np.ndarray, quality: np.ndarray) -> np.ndarray:
        return self.linear(scores, quality)

    def weights(self) -> dict[str, float]:
        """Weight per input (score first), for the log."""
        return dict(zip(("score",) + FEATURES, map(float, self.linear.weights)))

    def save(self, path: str | os.PathLike) -> None:
        save_npz(path, self.kind, {"weights": self.linear.weights, "bias": np.array(self.linear.bias)},
                 {"prior": self.linear.prior, "top_n": self.top_n, "features": list(FEATURES)})

    @classmethod
    def load(cls, path: str | os.PathLike) -> QualityCalibration:
        meta, arrays = load_npz(path, cls.kind)
        if list(meta.get("features", [])) != list(FEATURES):
            raise ValueError(f"{path}: quality features {meta.get('features')} differ from this toolkit's {FEATURES}")
        return cls(LinearCalibration(arrays["weights"], float(arrays["bias"]), meta["prior"]), meta["top_n"])
