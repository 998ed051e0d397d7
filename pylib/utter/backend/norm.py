"""Score normalisation: symmetric S-norm and adaptive S-norm against a cohort of speaker means.

For a trial (e, t) with raw score s, S-norm gives
    s' = ((s - mu_e) / sigma_e + (s - mu_t) / sigma_t) / 2
where mu_e, sigma_e are the mean and (population) standard deviation of the scores of e
against every cohort item, and likewise for t. Adaptive S-norm (AS-norm) uses only the
top-N cohort scores of each side. Cohort scores are computed once per model and per test
utterance, then indexed per trial.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np

from utter.backend.scoring import Scorer

log = logging.getLogger(__name__)
METHODS = ("snorm", "asnorm")


def cohort_embeddings(ids: Sequence[str], x: np.ndarray, utt2spk: Mapping[str, str],
                      what: str = "cohort") -> tuple[list[str], np.ndarray]:
    """Speaker-mean embeddings of a cohort set: (speaker ids, [S, D] means of their utterances)."""
    pos = {u: i for i, u in enumerate(ids)}
    missing = [u for u in utt2spk if u not in pos]
    if missing:
        raise ValueError(f"{what}: {len(missing)} utterances in utt2spk have no embedding "
                         f"(first: {', '.join(missing[:5])})")
    spk_rows: OrderedDict[str, list[int]] = OrderedDict()
    for u, s in utt2spk.items():
        spk_rows.setdefault(s, []).append(pos[u])
    means = np.stack([x[rows].mean(0) for rows in spk_rows.values()])
    return list(spk_rows), means


def cohort_stats(cohort_scores: np.ndarray, top_n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per row: mean and standard deviation of all cohort scores, or of the ``top_n`` highest."""
    if top_n is not None and top_n < cohort_scores.shape[1]:
        k = cohort_scores.shape[1] - top_n
        cohort_scores = np.partition(cohort_scores, k, axis=1)[:, k:]
    mean = cohort_scores.mean(1)
    std = cohort_scores.std(1)
    return mean, np.maximum(std, 1e-12)


def clamp_top_n(top_n: int, cohort_size: int) -> int:
    """AS-norm's N, clamped (with a warning) to the cohort size."""
    if top_n < 1:
        raise ValueError(f"AS-norm top-N must be positive, got {top_n}")
    if top_n > cohort_size:
        log.warning("AS-norm top-N %d clamped to the cohort size %d", top_n, cohort_size)
        return cohort_size
    return top_n


def _side_stats(scorer: Scorer, models, cohort_tests, n_models: int, top_n: int | None, block: int = 2048):
    means, stds = np.empty(n_models), np.empty(n_models)
    for start in range(0, n_models, block):
        sel = slice(start, min(start + block, n_models))
        sub = _slice_side(models, sel)
        means[sel], stds[sel] = cohort_stats(scorer.score_matrix(sub, cohort_tests), top_n)
    return means, stds


def _slice_side(side, sel: slice):
    if isinstance(side, dict):   # PLDA model side: per-model arrays plus shared session counts
        return {k: (v if k == "ns" else v[sel]) for k, v in side.items()}
    return side[sel]


def normalize_scores(scorer: Scorer, models, tests, n_models: int, n_tests: int, cohort_x: np.ndarray,
                     scores: np.ndarray, mi: np.ndarray, ti: np.ndarray, method: str = "asnorm",
                     top_n: int = 300) -> np.ndarray:
    """S-norm or AS-norm of ``scores`` (trial k is model ``mi[k]`` vs test ``ti[k]``).

    ``models``/``tests`` are the scorer's prepared sides; the cohort (speaker means) is scored
    as test utterances against the models, and as single-session models against the tests.
    """
    if method not in METHODS:
        raise ValueError(f"score normalisation must be one of {', '.join(METHODS)}, got '{method}'")
    n = None if method == "snorm" else clamp_top_n(top_n, len(cohort_x))
    cohort_as_tests = scorer.test_side(cohort_x)
    cohort_as_models = scorer.model_side(cohort_x)
    mu_e, sd_e = _side_stats(scorer, models, cohort_as_tests, n_models, n)
    mu_t, sd_t = np.empty(n_tests), np.empty(n_tests)
    block = 2048
    for start in range(0, n_tests, block):
        sel = slice(start, min(start + block, n_tests))
        mat = scorer.score_matrix(cohort_as_models, tests[sel]).T      # [tests, cohort]
        mu_t[sel], sd_t[sel] = cohort_stats(mat, n)
    return 0.5 * ((scores - mu_e[mi]) / sd_e[mi] + (scores - mu_t[ti]) / sd_t[ti])
