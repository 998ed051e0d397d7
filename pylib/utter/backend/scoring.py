"""What every scorer shares: trial lists resolved to embedding rows, and per-trial dot products.

A scorer (cosine, PLDA) prepares each enrolment model and each test utterance once
(``model_side``/``test_side``) and then scores all trials by indexing, so the cost per trial
is one dot product plus per-side terms. :func:`score_trials` scores a trial list held in
memory; :mod:`utter.transfer.verification` reads the files around it.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from utter.backend.io import MissingEmbeddingError, Trials


def trial_dot(a: np.ndarray, b: np.ndarray, ia: np.ndarray, ib: np.ndarray, block: int = 512) -> np.ndarray:
    """``sum(a[ia] * b[ib], axis=1)`` without materialising the gathered [n_trials, D] matrices.

    When the trials cover a dense part of all (a-row, b-row) pairs, blocks of the full product
    ``a @ b.T`` (a BLAS GEMM) are computed and the needed entries picked; otherwise rows are
    gathered chunk by chunk.
    """
    ia, ib = np.asarray(ia, dtype=np.int64), np.asarray(ib, dtype=np.int64)
    out = np.empty(len(ia))
    if len(ia) == 0:
        return out
    if a.shape[0] * b.shape[0] <= 64 * len(ia):
        order = np.argsort(ia, kind="stable")
        sorted_ia = ia[order]
        bt = np.ascontiguousarray(b.T)
        for start in range(0, a.shape[0], block):
            lo, hi = np.searchsorted(sorted_ia, [start, start + block])
            if lo == hi:
                continue
            sel = order[lo:hi]
            prod = a[start:start + block] @ bt
            out[sel] = prod[ia[sel] - start, ib[sel]]
        return out
    chunk = max(1, 4_000_000 // max(1, a.shape[1]))
    for start in range(0, len(ia), chunk):
        s = slice(start, start + chunk)
        out[s] = np.einsum("ij,ij->i", a[ia[s]], b[ib[s]])
    return out


@dataclass
class TrialIndex:
    """A trial list resolved to rows: model ``k`` averages enrolment rows ``groups[k]``."""

    model_ids: list[str]
    groups: list[np.ndarray]   # per model, rows of the enrolment matrix
    mi: np.ndarray             # per trial, model index
    test_rows: np.ndarray      # distinct test utterances, rows of the test matrix
    ti: np.ndarray             # per trial, index into test_rows


def _missing_error(missing: list[str], what: str) -> MissingEmbeddingError:
    missing = list(OrderedDict.fromkeys(missing))
    return MissingEmbeddingError(f"{what}: {len(missing)} utterances have no embedding (first: "
                                 f"{', '.join(missing[:5])})")


def index_trials(trials: Trials, enroll_ids: Sequence[str], test_ids: Sequence[str],
                 enrollment: Mapping[str, Sequence[str]] | None = None, what: str = "trials") -> TrialIndex:
    """Resolve trials to embedding rows; every utterance without an embedding is named in one error.

    Without ``enrollment`` each trial's enrolment side is an utterance (single session); with it,
    a model id whose utterances (``spk2utt`` style) are averaged (multi-session).
    """
    model_ids = list(OrderedDict.fromkeys(trials.enroll))
    mpos = {m: k for k, m in enumerate(model_ids)}
    mi = np.fromiter((mpos[e] for e in trials.enroll), dtype=np.int64, count=len(trials))
    epos = {u: i for i, u in enumerate(enroll_ids)}
    tpos = {u: i for i, u in enumerate(test_ids)}
    missing: list[str] = []
    groups = []
    if enrollment is None:
        for m in model_ids:
            if m not in epos:
                missing.append(m)
            groups.append(np.array([epos.get(m, -1)]))
    else:
        no_model = [m for m in model_ids if m not in enrollment]
        if no_model:
            raise ValueError(f"{what}: {len(no_model)} enrolment models are not in the enrolment file "
                             f"(first: {', '.join(no_model[:5])})")
        for m in model_ids:
            utts = enrollment[m]
            missing.extend(u for u in utts if u not in epos)
            groups.append(np.array([epos.get(u, -1) for u in utts], dtype=np.int64))
    test_names = list(OrderedDict.fromkeys(trials.test))
    missing.extend(u for u in test_names if u not in tpos)
    if missing:
        raise _missing_error(missing, what)
    test_rows = np.array([tpos[u] for u in test_names], dtype=np.int64)
    tp = {u: k for k, u in enumerate(test_names)}
    ti = np.fromiter((tp[t] for t in trials.test), dtype=np.int64, count=len(trials))
    return TrialIndex(model_ids, groups, mi, test_rows, ti)


class Scorer(Protocol):
    """Cosine and PLDA scorers: sides prepared once, trials scored by indexing."""

    def model_side(self, x: np.ndarray, groups: Sequence[np.ndarray] | None = None): ...

    def test_side(self, x: np.ndarray): ...

    def score(self, models, tests, mi: np.ndarray, ti: np.ndarray) -> np.ndarray: ...

    def score_matrix(self, models, tests) -> np.ndarray: ...


def score_trials(scorer: Scorer, trials: Trials, enroll_ids: Sequence[str], enroll_x: np.ndarray,
                 test_ids: Sequence[str] | None = None, test_x: np.ndarray | None = None,
                 enrollment: Mapping[str, Sequence[str]] | None = None, what: str = "trials") -> np.ndarray:
    """Score every trial (in list order); test embeddings default to the enrolment ones."""
    if test_ids is None:
        test_ids, test_x = enroll_ids, enroll_x
    idx = index_trials(trials, enroll_ids, test_ids, enrollment, what)
    models = scorer.model_side(enroll_x, idx.groups)
    tests = scorer.test_side(test_x[idx.test_rows])
    return scorer.score(models, tests, idx.mi, idx.ti)


def group_means(x: np.ndarray, groups: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(mean row of each group, group sizes), vectorised over groups."""
    sizes = np.array([len(g) for g in groups], dtype=np.int64)
    if (sizes == 0).any():
        raise ValueError(f"{int((sizes == 0).sum())} enrolment models have no utterances")
    rows = np.concatenate(groups)
    if (sizes == 1).all():
        return x[rows], sizes
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return np.add.reduceat(x[rows], starts, axis=0) / sizes[:, None], sizes
