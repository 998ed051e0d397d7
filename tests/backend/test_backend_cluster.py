"""Clustering: k-means recovers well separated groups; purity and NMI against brute-force
definitions written here (counts of every pair of labels, entropies by loops)."""
import math
from collections import Counter

import numpy as np
import pytest

from utter.backend.cluster import agglomerative, assign, drop_small_clusters, nmi, purity, spherical_kmeans


def _groups(rng, k=6, n=30, dim=16, spread=0.15):
    centres = rng.normal(size=(k, dim))
    x = np.concatenate([c + spread * np.linalg.norm(c) * rng.normal(size=(n, dim)) / np.sqrt(dim) for c in centres])
    return x, np.repeat(np.arange(k), n)


def _nmi_loops(a, b):
    n = len(a)
    ca, cb, cab = Counter(a), Counter(b), Counter(zip(a, b))
    mi = sum(c / n * math.log((c / n) / (ca[x] / n * cb[y] / n)) for (x, y), c in cab.items())
    ha = -sum(c / n * math.log(c / n) for c in ca.values())
    hb = -sum(c / n * math.log(c / n) for c in cb.values())
    return mi / ((ha + hb) / 2)


def test_purity_and_nmi_against_definitions():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 200), rng.integers(0, 4, 200)
    assert nmi(a, b) == pytest.approx(_nmi_loops(list(a), list(b)))
    majority = sum(max(Counter(b[a == c]).values()) for c in np.unique(a)) / len(a)
    assert purity(a, b) == pytest.approx(majority)
    assert nmi(b, b) == pytest.approx(1.0) and purity(b, b) == 1.0
    assert nmi([0, 0, 1, 1], ["x", "x", "y", "y"]) == pytest.approx(1.0)


@pytest.mark.parametrize("sample_size", [None, 100])
def test_kmeans_recovers_groups_even_fitting_on_a_sample(sample_size):
    rng = np.random.default_rng(1)
    x, y = _groups(rng)
    labels, centroids = spherical_kmeans(x, 6, seed=3, sample_size=sample_size, n_init=3)
    assert nmi(labels, y) > 0.95
    assert np.allclose(np.linalg.norm(centroids, axis=1), 1.0)
    again, _ = spherical_kmeans(x, 6, seed=3, sample_size=sample_size, n_init=3)
    assert np.array_equal(labels, again)
    # the chunked assignment agrees with one big product
    lab_chunked, _ = assign(x, centroids, chunk=7)
    assert np.array_equal(lab_chunked, labels)


def test_wrong_k_still_gives_pure_clusters():
    rng = np.random.default_rng(2)
    x, y = _groups(rng)
    labels, _ = spherical_kmeans(x, 10, seed=0, n_init=3)  # more clusters than speakers
    assert purity(labels, y) > 0.95


def test_agglomerative_and_dropping():
    rng = np.random.default_rng(3)
    x, y = _groups(rng, k=4, n=20)
    labels = agglomerative(x, k=4)
    assert nmi(labels, y) > 0.95
    kept = drop_small_clusters(np.array([5, 5, 5, 2, 2, 9]), min_size=2)
    assert kept.tolist() == [0, 0, 0, 1, 1, -1]
    with pytest.raises(ValueError, match="exactly one of k or threshold"):
        agglomerative(x)
    with pytest.raises(ValueError, match="k=500 must be between 1"):
        spherical_kmeans(x, 500)
