"""Embedding-space metrics against brute-force loops written from their definitions."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from utter.metrics.embedding_space import (
    davies_bouldin,
    embedding_space_report,
    nearest_class_mean_accuracy,
    within_between_ratio,
)


def _data(seed=0, n=40, d=6, k=4, spread=1.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 2
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)
    return centres[y] + spread * rng.normal(size=(n, d)), [f"c{v}" for v in y]


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def brute_ratio(x, y):
    w, b = [], []
    for i, j in itertools.combinations(range(len(x)), 2):
        (w if y[i] == y[j] else b).append(1 - _cos(x[i], x[j]))
    return np.mean(w) / np.mean(b)


def brute_db(x, y):
    u = [v / np.linalg.norm(v) for v in x]
    classes = sorted(set(y))
    members = {c: [u[i] for i in range(len(u)) if y[i] == c] for c in classes}
    cent = {c: np.mean(members[c], axis=0) for c in classes}
    s = {c: np.mean([np.linalg.norm(v - cent[c]) for v in members[c]]) for c in classes}
    total = 0.0
    for i in classes:
        total += max((s[i] + s[j]) / np.linalg.norm(cent[i] - cent[j]) for j in classes if j != i)
    return total / len(classes)


def brute_ncm_loo(x, y):
    right = 0
    for i in range(len(x)):
        best, best_c = -np.inf, None
        for c in sorted(set(y)):
            others = [x[j] / np.linalg.norm(x[j]) for j in range(len(x)) if y[j] == c and j != i]
            if not others:
                continue
            s = _cos(x[i], np.mean(others, axis=0))
            if s > best:
                best, best_c = s, c
        right += best_c == y[i]
    return right / len(x)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_brute_force(seed):
    x, y = _data(seed)
    assert within_between_ratio(x, y) == pytest.approx(brute_ratio(x, y), rel=1e-10)
    assert davies_bouldin(x, y) == pytest.approx(brute_db(x, y), rel=1e-10)
    assert nearest_class_mean_accuracy(x, y) == pytest.approx(brute_ncm_loo(x, y))


def test_ncm_test_set_and_separation_ordering():
    x, y = _data(3, spread=0.2)
    xt, yt = _data(3, spread=0.2)  # same centres (same seed), so a tight space scores high
    assert nearest_class_mean_accuracy(x, y, xt, yt) > 0.9
    loose, _ = _data(3, spread=5.0)
    assert within_between_ratio(x, y) < within_between_ratio(loose, y)
    assert davies_bouldin(x, y) < davies_bouldin(loose, y)
    rep = embedding_space_report(x, y, xt, yt)
    assert set(rep) == {"within_between", "davies_bouldin", "ncm_acc_loo", "test_within_between",
                        "test_davies_bouldin", "test_ncm_acc"}
    # test-vs-train-means NCM by hand
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    means = {c: u[[i for i in range(len(y)) if y[i] == c]].mean(0) for c in set(y)}
    pred = [max(means, key=lambda c: _cos(v, means[c])) for v in xt]
    assert rep["test_ncm_acc"] == pytest.approx(np.mean([p == t for p, t in zip(pred, yt)]))


def test_bad_inputs():
    x, y = _data(0)
    with pytest.raises(ValueError, match="two classes"):
        within_between_ratio(x, ["a"] * len(x))
    with pytest.raises(ValueError, match="labels"):
        davies_bouldin(x, y[:-1])
    x[0] = 0
    with pytest.raises(ValueError, match="zeros"):
        nearest_class_mean_accuracy(x, y)
