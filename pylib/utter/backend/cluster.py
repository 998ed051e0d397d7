"""Clustering embeddings into pseudo speaker labels, and scoring clusters against true labels.

Spherical k-means (cosine, on length-normalised embeddings) scales to a million
utterances by fitting the centroids on a random sample and then assigning every
embedding in chunks; average-linkage agglomerative clustering (scipy) is the option for
smaller sets. Purity and NMI measure a clustering against known labels when they exist.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

log = logging.getLogger(__name__)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def assign(x: np.ndarray, centroids: np.ndarray, chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid by cosine for each row, in chunks so memory stays bounded."""
    labels = np.empty(len(x), dtype=np.int64)
    sims = np.empty(len(x))
    c = _unit(centroids)
    for start in range(0, len(x), chunk):
        s = _unit(x[start:start + chunk]) @ c.T
        labels[start:start + chunk] = s.argmax(1)
        sims[start:start + chunk] = s.max(1)
    return labels, sims


def spherical_kmeans(x: np.ndarray, k: int, *, n_iter: int = 30, seed: int = 0,
                     sample_size: int | None = 200_000, n_init: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Cluster rows of ``x`` into ``k`` groups by cosine; returns (labels, unit centroids).

    Centroids are fitted by Lloyd iterations on at most ``sample_size`` rows (k-means++
    seeding), then every row is assigned. An empty cluster is re-seeded with the row
    farthest from its centroid. With ``n_init`` > 1 the run with the best mean cosine wins.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"k-means needs a non-empty 2-D matrix, got shape {x.shape}")
    if not 1 <= k <= len(x):
        raise ValueError(f"k-means: k={k} must be between 1 and the number of embeddings ({len(x)})")
    rng = np.random.default_rng(seed)
    z = _unit(x)
    fit = z if sample_size is None or len(z) <= sample_size else z[rng.choice(len(z), sample_size, replace=False)]
    best = None
    for _ in range(n_init):
        c = _kmeans_pp(fit, k, rng)
        for _ in range(n_iter):
            lab, sim = assign(fit, c)
            new = np.zeros_like(c)
            np.add.at(new, lab, fit)
            counts = np.bincount(lab, minlength=k)
            for empty in np.flatnonzero(counts == 0):
                far = int(sim.argmin())
                new[empty], sim[far] = fit[far], np.inf
            new = _unit(new)
            if np.allclose(new, c):
                break
            c = new
        score = assign(fit, c)[1].mean()
        if best is None or score > best[0]:
            best = (score, c)
    labels, _ = assign(z, best[1])
    return labels, best[1]


def _kmeans_pp(z: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding with cosine distance 1 - cos."""
    centres = [z[rng.integers(len(z))]]
    d = 1.0 - z @ centres[0]
    for _ in range(1, k):
        p = np.maximum(d, 0)
        idx = rng.choice(len(z), p=p / p.sum()) if p.sum() > 0 else rng.integers(len(z))
        centres.append(z[idx])
        d = np.minimum(d, 1.0 - z @ z[idx])
    return np.stack(centres)


def agglomerative(x: np.ndarray, k: int | None = None, threshold: float | None = None,
                  method: str = "average") -> np.ndarray:
    """Agglomerative clustering by cosine distance, cut at ``k`` clusters or a distance ``threshold``."""
    if (k is None) == (threshold is None):
        raise ValueError("agglomerative clustering needs exactly one of k or threshold")
    if len(x) > 50_000:
        raise ValueError(f"agglomerative clustering of {len(x)} embeddings needs O(n^2) memory; use k-means")
    tree = linkage(_unit(np.asarray(x, dtype=np.float64)), method=method, metric="cosine")
    labels = fcluster(tree, t=k, criterion="maxclust") if k else fcluster(tree, t=threshold, criterion="distance")
    return labels.astype(np.int64) - 1


def cluster_labels(x: np.ndarray, method: str, num_clusters: int | None, *, seed: int = 0,
                   sample_size: int | None = 200_000, threshold: float | None = None,
                   n_iter: int = 30) -> np.ndarray:
    """Cluster index per row of ``x``: spherical k-means (sampled fit, chunked assignment) or
    average-linkage agglomerative clustering by cosine (at ``num_clusters`` or a ``threshold``)."""
    if method == "kmeans":
        if not num_clusters:
            raise ValueError("k-means clustering needs --num-clusters")
        return spherical_kmeans(x, num_clusters, n_iter=n_iter, seed=seed, sample_size=sample_size)[0]
    if method == "agglomerative":
        return agglomerative(x, k=num_clusters or None, threshold=None if num_clusters else threshold)
    raise ValueError(f"unknown clustering method '{method}' (kmeans or agglomerative)")


def drop_small_clusters(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Labels renumbered 0..K-1 by decreasing cluster size; members of clusters smaller than ``min_size`` get -1."""
    ids, counts = np.unique(labels, return_counts=True)
    order = np.lexsort((ids, -counts))
    kept = [ids[i] for i in order if counts[i] >= min_size]
    remap = {old: new for new, old in enumerate(kept)}
    return np.array([remap.get(v, -1) for v in labels], dtype=np.int64)


def _contingency(pred: Sequence, true: Sequence) -> np.ndarray:
    _, p = np.unique(np.asarray(pred), return_inverse=True)
    _, t = np.unique(np.asarray(true), return_inverse=True)
    table = np.zeros((p.max() + 1, t.max() + 1))
    np.add.at(table, (p, t), 1)
    return table


def purity(pred: Sequence, true: Sequence) -> float:
    """Fraction of items whose cluster's majority true label is their own."""
    table = _contingency(pred, true)
    return float(table.max(1).sum() / table.sum())


def nmi(pred: Sequence, true: Sequence) -> float:
    """Normalised mutual information, I(P;T) / ((H(P) + H(T)) / 2) (the arithmetic-mean normalisation)."""
    table = _contingency(pred, true)
    pxy = table / table.sum()
    px, py = pxy.sum(1), pxy.sum(0)
    nz = pxy > 0
    mi = float((pxy[nz] * np.log(pxy[nz] / np.outer(px, py)[nz])).sum())
    hx = -float((px[px > 0] * np.log(px[px > 0])).sum())
    hy = -float((py[py > 0] * np.log(py[py > 0])).sum())
    if hx + hy == 0:
        return 1.0
    return max(0.0, mi / ((hx + hy) / 2))
