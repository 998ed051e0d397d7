"""Quality of an embedding space for a labelled task, beside accuracy (numpy only).

* ``within_between_ratio``: mean cosine distance over same-class pairs divided by the mean
  over different-class pairs (lower: classes are tighter relative to their separation).
* ``davies_bouldin``: Davies-Bouldin index (Davies & Bouldin 1979) with Euclidean distances on
  length-normalised embeddings (the cosine geometry the back-ends use); lower is better.
* ``nearest_class_mean_accuracy``: assign each embedding to the class mean with the highest
  cosine; leave-one-out on one set (a sample's own class mean leaves it out), or test
  embeddings against the training set's class means.

Class sums make the pairwise means O(N D) instead of O(N^2 D).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or not np.all(np.isfinite(x)):
        raise ValueError(f"embeddings must be a finite [N, D] matrix, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("an embedding is all zeros: its cosine is undefined")
    return x / norms


def _codes(labels: Sequence, n: int) -> tuple[np.ndarray, list]:
    labels = list(labels)
    if len(labels) != n:
        raise ValueError(f"{n} embeddings but {len(labels)} labels")
    classes = sorted(set(labels), key=str)
    pos = {c: i for i, c in enumerate(classes)}
    return np.array([pos[v] for v in labels], dtype=np.int64), classes


def within_between_ratio(x: np.ndarray, labels: Sequence) -> float:
    """Mean within-class / mean between-class cosine distance over unordered pairs i != j."""
    u = _normalise(x)
    y, classes = _codes(labels, len(u))
    if len(classes) < 2:
        raise ValueError("the within/between ratio needs at least two classes")
    sums = np.zeros((len(classes), u.shape[1]))
    np.add.at(sums, y, u)
    counts = np.bincount(y, minlength=len(classes)).astype(np.float64)
    # sum over ordered pairs i != j of cos = ||sum||^2 - n (unit vectors)
    within_cos = float(np.sum(np.einsum("cd,cd->c", sums, sums) - counts))
    total_cos = float(sums.sum(0) @ sums.sum(0) - len(u))
    n_within = float(np.sum(counts * (counts - 1)))
    n_between = float(len(u) * (len(u) - 1) - n_within)
    if n_within == 0:
        raise ValueError("the within/between ratio needs a class with at least two embeddings")
    d_within = 1.0 - within_cos / n_within
    d_between = 1.0 - (total_cos - within_cos) / n_between
    return d_within / d_between


def davies_bouldin(x: np.ndarray, labels: Sequence, normalise: bool = True) -> float:
    """mean_i max_{j != i} (S_i + S_j) / ||c_i - c_j||, S_i the mean distance of class i to its centroid c_i."""
    u = _normalise(x) if normalise else np.asarray(x, dtype=np.float64)
    y, classes = _codes(labels, len(u))
    k = len(classes)
    if k < 2:
        raise ValueError("the Davies-Bouldin index needs at least two classes")
    counts = np.bincount(y, minlength=k).astype(np.float64)
    cent = np.zeros((k, u.shape[1]))
    np.add.at(cent, y, u)
    cent /= counts[:, None]
    scatter = np.bincount(y, weights=np.linalg.norm(u - cent[y], axis=1), minlength=k) / counts
    sep = np.linalg.norm(cent[:, None, :] - cent[None, :, :], axis=2)
    if np.any(sep[~np.eye(k, dtype=bool)] == 0):
        raise ValueError("two classes have the same centroid: the Davies-Bouldin index is undefined")
    with np.errstate(divide="ignore"):
        r = (scatter[:, None] + scatter[None, :]) / sep
    np.fill_diagonal(r, -np.inf)
    return float(r.max(axis=1).mean())


def nearest_class_mean_accuracy(x: np.ndarray, labels: Sequence, x_test: np.ndarray | None = None,
                                labels_test: Sequence | None = None) -> float:
    """Accuracy of the nearest (cosine) class mean of length-normalised embeddings.

    Without a test set: leave-one-out over ``x`` (each sample's own class mean is computed
    without it; a class with one sample cannot be predicted for that sample). With one: test
    embeddings against the class means of ``x``.
    """
    u = _normalise(x)
    y, classes = _codes(labels, len(u))
    k = len(classes)
    sums = np.zeros((k, u.shape[1]))
    np.add.at(sums, y, u)
    counts = np.bincount(y, minlength=k).astype(np.float64)
    if x_test is None:
        n = len(u)
        sims = np.empty((n, k))
        for c in range(k):
            s = np.broadcast_to(sums[c], u.shape).copy()
            cnt = np.full(n, counts[c])
            own = y == c
            s[own] -= u[own]
            cnt[own] -= 1
            mean = s / np.maximum(cnt, 1)[:, None]
            norm = np.linalg.norm(mean, axis=1)
            sims[:, c] = np.where((cnt > 0) & (norm > 0), np.einsum("nd,nd->n", u, mean) / np.maximum(norm, 1e-300),
                                  -np.inf)
        return float(np.mean(sims.argmax(axis=1) == y))
    if labels_test is None:
        raise ValueError("a test set needs its labels")
    t = _normalise(x_test)
    if t.shape[1] != u.shape[1]:
        raise ValueError(f"test embeddings have dimension {t.shape[1]}, training ones {u.shape[1]}")
    means = sums / counts[:, None]
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-300)
    pos = {c: i for i, c in enumerate(classes)}
    pred = (t @ means.T).argmax(axis=1)
    truth = [pos.get(v, -1) for v in labels_test]
    if len(truth) != len(t):
        raise ValueError(f"{len(t)} test embeddings but {len(truth)} labels")
    return float(np.mean(pred == np.array(truth)))


def embedding_space_report(x: np.ndarray, labels: Sequence, x_test: np.ndarray | None = None,
                           labels_test: Sequence | None = None) -> dict[str, float]:
    """Every figure above for one set (``x``; leave-one-out NCM) and, if given, on a test set
    (``test_*``: ratio and DB on the test embeddings, NCM against the class means of ``x``)."""
    out = {"within_between": within_between_ratio(x, labels), "davies_bouldin": davies_bouldin(x, labels),
           "ncm_acc_loo": nearest_class_mean_accuracy(x, labels)}
    if x_test is not None:
        out.update(test_within_between=within_between_ratio(x_test, labels_test),
                   test_davies_bouldin=davies_bouldin(x_test, labels_test),
                   test_ncm_acc=nearest_class_mean_accuracy(x, labels, x_test, labels_test))
    return out
