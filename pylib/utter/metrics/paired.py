"""Paired comparisons of two systems run on the same folds and seeds: difference, 95% CI, verdict.

Two intervals, for two kinds of evidence:

- :func:`t_interval` over the per-run differences (one per fold x seed pair). It treats each
  pair as one draw of "train both systems, test on a held-out fold", so it counts seed and fold
  variation, which is what decides whether a training recipe is better; it is what the
  recipes' Findings tables use when there are at least three pairs.
- :func:`paired_bootstrap` over test items (utterances, or speakers for ADReSS) resampled
  within each run, both systems scored on the same resample. It counts test-set sampling
  only, so it is narrower; it is the choice for one run (SV on one trial list), where a t
  interval cannot be formed. :func:`speaker_bootstrap_eer` does this for verification
  trials, resampling speakers (with all their trials) because trials of one speaker are not
  independent.

A finding is "reproduced" when the whole interval lies on the side the paper claims,
"reversed" when it lies on the other side, and "not decided at this size" otherwise.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtrit

from utter.metrics.verification import compute_eer

REPRODUCED, REVERSED, UNDECIDED = "reproduced", "reversed", "not decided at this size"


@dataclass(frozen=True)
class Interval:
    """A difference (system A minus system B) with its confidence interval and how it was formed."""

    mean: float
    low: float
    high: float
    method: str
    n: int

    def as_dict(self) -> dict:
        return {"mean": self.mean, "low": self.low, "high": self.high, "method": self.method, "n": self.n}


def t_interval(differences: Sequence[float], level: float = 0.95) -> Interval:
    """Student-t interval of the mean of paired differences: mean ± t_{n-1} · sd / sqrt(n)."""
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim != 1 or len(d) < 2:
        raise ValueError(f"a t interval needs at least two paired differences, got {len(d)}")
    if not np.isfinite(d).all():
        raise ValueError("paired differences are not all finite")
    mean = float(d.mean())
    half = float(stdtrit(len(d) - 1, 0.5 + level / 2) * d.std(ddof=1) / np.sqrt(len(d)))
    return Interval(mean, mean - half, mean + half, f"t interval over {len(d)} paired runs", len(d))


def paired_bootstrap(runs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
                     metric: Callable[[np.ndarray, np.ndarray], float], *, num_resamples: int = 2000,
                     level: float = 0.95, seed: int = 0) -> Interval:
    """Percentile interval of mean over runs of ``metric(y, a) - metric(y, b)``, items resampled within runs.

    ``runs``: per run, (true labels, system A's predictions, system B's predictions) over the
    same test items. Each resample draws every run's items with replacement (same draw for A
    and B) and averages the per-run differences, as the point estimate does.
    """
    if not runs:
        raise ValueError("no runs to compare")
    for k, (y, a, b) in enumerate(runs):
        if not len(y) == len(a) == len(b) or len(y) == 0:
            raise ValueError(f"run {k}: {len(y)} labels, {len(a)} and {len(b)} predictions (must be equal, > 0)")
    point = float(np.mean([metric(y, a) - metric(y, b) for y, a, b in runs]))
    rng = np.random.default_rng(seed)
    stats = np.empty(num_resamples)
    for r in range(num_resamples):
        diffs = []
        for y, a, b in runs:
            idx = rng.integers(0, len(y), len(y))
            diffs.append(metric(y[idx], a[idx]) - metric(y[idx], b[idx]))
        stats[r] = np.mean(diffs)
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    n_items = sum(len(y) for y, _, _ in runs)
    return Interval(point, float(lo), float(hi),
                    f"paired bootstrap over {n_items} test items in {len(runs)} runs ({num_resamples} resamples)",
                    len(runs))


def speaker_bootstrap_eer(labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray,
                          speakers: Sequence[str], *, num_resamples: int = 1000, level: float = 0.95,
                          seed: int = 0) -> Interval:
    """Interval of EER(A) - EER(B) (in %) on one trial list, speakers resampled with all their trials.

    ``speakers``: the speaker each trial is grouped under (its enrolment side's). A resample
    draws speakers with replacement and takes every trial of each drawn speaker once per draw.
    """
    labels = np.asarray(labels, dtype=bool)
    scores_a, scores_b = np.asarray(scores_a, float), np.asarray(scores_b, float)
    if not len(labels) == len(scores_a) == len(scores_b) == len(speakers):
        raise ValueError("labels, both score lists and speakers must have one entry per trial")
    names, group = np.unique(np.asarray(speakers), return_inverse=True)
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(len(names)))
    ends = np.append(starts[1:], len(order))
    point = 100 * (compute_eer(scores_a, labels) - compute_eer(scores_b, labels))
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(num_resamples):
        drawn = rng.integers(0, len(names), len(names))
        idx = np.concatenate([order[starts[s]:ends[s]] for s in drawn])
        y = labels[idx]
        if y.all() or not y.any():
            continue
        a, b = scores_a[idx], scores_b[idx]
        stats.append(100 * (compute_eer(a, y) - compute_eer(b, y)))
    if len(stats) < num_resamples / 2:
        raise ValueError(f"only {len(stats)} of {num_resamples} speaker resamples had both target and "
                         "non-target trials: too few speakers for a bootstrap")
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(point), float(lo), float(hi),
                    f"bootstrap over {len(names)} speakers' trials ({len(stats)} resamples)", len(names))


def verdict(interval: Interval, claim: str) -> str:
    """``claim`` 'greater' (the paper says A > B) or 'less' (A < B): reproduced / reversed / undecided."""
    if claim not in ("greater", "less"):
        raise ValueError(f"claim must be 'greater' or 'less', got {claim!r}")
    above, below = interval.low > 0, interval.high < 0
    if claim == "greater":
        return REPRODUCED if above else REVERSED if below else UNDECIDED
    return REPRODUCED if below else REVERSED if above else UNDECIDED


def unweighted_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """UA: the mean of the per-class recalls over the classes present in ``y`` (vectorised)."""
    classes, yi = np.unique(y, return_inverse=True)
    hits = np.bincount(yi, weights=(np.asarray(pred) == np.asarray(y)).astype(float), minlength=len(classes))
    return float(np.mean(hits / np.bincount(yi, minlength=len(classes))))


def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(y)))


METRICS: Mapping[str, Callable[[np.ndarray, np.ndarray], float]] = {"UA": unweighted_accuracy, "WA": accuracy,
                                                                     "accuracy": accuracy}
