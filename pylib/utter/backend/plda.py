"""PLDA: two-covariance and simplified models trained by EM, closed-form LLR scoring.

Model: x = y_s + e with speaker variable y_s ~ N(mu, B) and e ~ N(0, W). The two-covariance
model has a full-rank B; simplified PLDA has B = V V^T of rank ``rank`` (speaker subspace).
Scoring diagonalises B and W together (T W T^T = I, T B T^T = diag(psi)), so the LLR of a
model with n enrolment utterances (mean a) against a test utterance b is, per dimension, a
quadratic form: sum(gamma a b) + sum(alpha a^2) + sum(beta b^2) + const, all depending on n only.
Each trial then costs one dot product plus a model term and a test term.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import scipy.linalg

from utter.backend.io import check_embeddings, load_npz, save_npz
from utter.backend.lda import LDA
from utter.backend.pipeline import Pipeline
from utter.backend.scoring import group_means, trial_dot
from utter.backend.transforms import Centering, ClassStats, LengthNorm, Whitening, check_within_covariance

log = logging.getLogger(__name__)
LOG_2PI = np.log(2 * np.pi)
MODEL_TYPES = ("two-cov", "simplified")


def _sym(a: np.ndarray) -> np.ndarray:
    return (a + a.T) / 2


def _logdet(a: np.ndarray) -> float:
    sign, val = np.linalg.slogdet(a)
    if sign <= 0:
        raise np.linalg.LinAlgError("matrix is not positive definite")
    return float(val)


def plda_log_likelihood(stats: ClassStats, mean: np.ndarray, between: np.ndarray, within: np.ndarray) -> float:
    """Total marginal log-likelihood of the training set under N(mu, B) speakers and N(0, W) noise.

    Per speaker with n utterances, mean xbar and scatter S: log N(xbar; mu, B + W/n)
    - (n-1)/2 (d log 2 pi + log|W|) - d/2 log n - tr(W^-1 S)/2.
    """
    d = len(mean)
    total = 0.0
    for n in np.unique(stats.counts):
        sel = stats.counts == n
        cov = between + within / n
        chol = scipy.linalg.cho_factor(cov)
        diff = stats.class_means[sel] - mean
        maha = np.einsum("ij,ji->i", diff, scipy.linalg.cho_solve(chol, diff.T))
        logdet = 2 * np.log(np.diag(chol[0])).sum()
        total += float(-0.5 * (maha + logdet + d * LOG_2PI).sum())
    n = stats.counts
    logdet_w = _logdet(within)
    total -= float(((n - 1) * (d * LOG_2PI + logdet_w)).sum() / 2 + d / 2 * np.log(n).sum())
    total -= 0.5 * float(np.trace(np.linalg.solve(within, stats.within)))
    return total


class PLDA:
    """A trained PLDA model (mean, between- and within-class covariances) with its preprocessing."""

    kind = "plda"

    def __init__(self, mean: np.ndarray, between: np.ndarray, within: np.ndarray,
                 model_type: str = "two-cov", pre: Pipeline | None = None,
                 log_likelihoods: Sequence[float] = ()):
        self.mean, self.between, self.within = mean, _sym(between), _sym(within)
        self.model_type = model_type
        self.pre = pre or Pipeline()
        self.log_likelihoods = list(log_likelihoods)
        self._diagonalise()

    @property
    def dim(self) -> int:
        """Dimension of the embeddings this model takes (before its preprocessing)."""
        return self.pre.dim_in or len(self.mean)

    def _diagonalise(self) -> None:
        psi, vec = scipy.linalg.eigh(self.between, self.within)   # vec^T W vec = I, vec^T B vec = diag(psi)
        keep = psi > 1e-10 * max(psi.max(), 1e-300)
        order = np.argsort(psi[keep])[::-1]
        self.psi = psi[keep][order]
        self.transform_matrix = vec[:, keep][:, order]           # [D, K]: u = (x - mu) @ transform_matrix

    def _coefficients(self, n: np.ndarray) -> tuple[np.ndarray, ...]:
        """(gamma, alpha, beta, const) per [len(n), K] for enrolment session counts ``n``."""
        psi = self.psi[None, :]
        p = psi + 1.0 / np.asarray(n, dtype=np.float64)[:, None]
        q = psi + 1.0
        det = p * q - psi ** 2
        gamma = psi / det
        alpha = 0.5 * (1 / p - q / det)
        beta = 0.5 * (1 / q - p / det)
        const = 0.5 * (np.log(p) + np.log(q) - np.log(det))
        return gamma, alpha, beta, const

    def project(self, x: np.ndarray, what: str = "embeddings") -> np.ndarray:
        """Preprocess and map to the diagonalised space (one row per utterance)."""
        x = check_embeddings(x, dim=self.dim, what=what)
        z = self.pre.transform(x, what)
        return (z - self.mean) @ self.transform_matrix

    def model_side(self, x: np.ndarray, groups: Sequence[np.ndarray] | None = None) -> dict:
        """Per model: gamma-scaled mean projection, its own LLR term, and its session count."""
        u = self.project(x, "enrolment embeddings")
        if groups is None:
            a, n = u, np.ones(len(u), dtype=np.int64)
        else:
            a, n = group_means(u, groups)
        ns, n_idx = np.unique(n, return_inverse=True)
        gamma, alpha, _, const = self._coefficients(ns)
        n_idx = n_idx.reshape(-1)
        return {"a": a * gamma[n_idx], "term": (a ** 2 * alpha[n_idx]).sum(1) + const.sum(1)[n_idx],
                "ns": ns, "n_idx": n_idx}

    def test_side(self, x: np.ndarray) -> np.ndarray:
        return self.project(x, "test embeddings")

    def _test_terms(self, models: dict, tests: np.ndarray) -> np.ndarray:
        beta = self._coefficients(models["ns"])[2]          # [J, K]
        return (tests ** 2) @ beta.T                          # [T, J]

    def score(self, models: dict, tests: np.ndarray, mi: np.ndarray, ti: np.ndarray) -> np.ndarray:
        r = self._test_terms(models, tests)
        return trial_dot(models["a"], tests, mi, ti) + models["term"][mi] + r[ti, models["n_idx"][mi]]

    def score_matrix(self, models: dict, tests: np.ndarray) -> np.ndarray:
        r = self._test_terms(models, tests)
        return models["a"] @ tests.T + models["term"][:, None] + r[:, models["n_idx"]].T

    def save(self, path: str | os.PathLike) -> None:
        arrays, names = self.pre.state()
        arrays.update(mean=self.mean, between=self.between, within=self.within,
                      log_likelihoods=np.array(self.log_likelihoods))
        save_npz(path, self.kind, arrays, {"steps": names, "model_type": self.model_type})

    @classmethod
    def load(cls, path: str | os.PathLike) -> PLDA:
        meta, arrays = load_npz(path, cls.kind)
        return cls(arrays["mean"], arrays["between"], arrays["within"], meta["model_type"],
                   Pipeline.from_state(meta["steps"], arrays), arrays["log_likelihoods"].tolist())


def _em_two_cov(stats: ClassStats, mean, between, within):
    """One EM iteration of the two-covariance model (B full rank, mu re-estimated)."""
    S, D = stats.class_means.shape
    m = np.empty((S, D))
    post_cov_sum = np.zeros((D, D))
    post_cov_weighted = np.zeros((D, D))
    for n in np.unique(stats.counts):
        sel = stats.counts == n
        gain = np.linalg.solve(between + within / n, between).T      # B (B + W/n)^-1
        m[sel] = mean + (stats.class_means[sel] - mean) @ gain.T
        pcov = _sym(between - gain @ between)
        post_cov_sum += sel.sum() * pcov
        post_cov_weighted += n * sel.sum() * pcov
    new_mean = m.mean(0)
    dm = m - new_mean
    new_between = (dm.T @ dm + post_cov_sum) / S
    dx = stats.class_means - m
    new_within = (stats.within + (dx * stats.counts[:, None]).T @ dx + post_cov_weighted) / stats.counts.sum()
    return new_mean, _sym(new_between), _sym(new_within)


def _em_simplified(stats: ClassStats, mean, v, within, total_scatter):
    """One EM iteration of simplified PLDA (x = mu + V y + e, y ~ N(0, I), mu fixed)."""
    S, D = stats.class_means.shape
    r = v.shape[1]
    wi_v = np.linalg.solve(within, v)                      # W^-1 V
    vt_wi_v = v.T @ wi_v
    ybar = np.empty((S, r))
    nR = np.zeros((r, r))
    for n in np.unique(stats.counts):
        sel = stats.counts == n
        linv = np.linalg.inv(np.eye(r) + n * vt_wi_v)
        ybar[sel] = n * (stats.class_means[sel] - mean) @ wi_v @ linv
        nR += n * sel.sum() * linv
    wy = ybar * stats.counts[:, None]
    nR += ybar.T @ wy
    cross = (stats.class_means - mean).T @ wy                # sum_s n_s (xbar_s - mu) ybar_s^T  [D, r]
    new_v = np.linalg.solve(nR, cross.T).T
    new_within = _sym(total_scatter - new_v @ cross.T) / stats.counts.sum()
    return new_v, new_within


def fit_plda(x: np.ndarray, labels: Sequence, model_type: str = "two-cov", rank: int = 100,
             num_iters: int = 10, pre: Pipeline | None = None, what: str = "PLDA training set") -> PLDA:
    """Fit ``pre`` (if given) then PLDA by EM; logs the log-likelihood per utterance each iteration."""
    if model_type not in MODEL_TYPES:
        raise ValueError(f"PLDA model type must be one of {', '.join(MODEL_TYPES)}, got '{model_type}'")
    x = check_embeddings(x, what=what)
    if labels is None or len(labels) != len(x):
        raise ValueError(f"{what}: PLDA needs one speaker label per embedding")
    pre = pre or Pipeline()
    if pre.steps:
        pre.fit(x, labels)
        x = pre.transform(x)
    stats = ClassStats.compute(x, labels)
    n_total = stats.counts.sum()
    if len(stats.counts) < 2:
        raise ValueError(f"{what}: PLDA needs at least 2 speakers, got {len(stats.counts)}")
    within = stats.within / n_total
    check_within_covariance(within, stats, what)
    mean = stats.mean
    dm = stats.class_means - mean
    between = _sym((dm * stats.counts[:, None]).T @ dm / n_total)
    D = x.shape[1]
    if model_type == "simplified":
        if not 1 <= rank <= D:
            raise ValueError(f"simplified PLDA rank must be between 1 and the dimension {D}, got {rank}")
        eig, vec = np.linalg.eigh(between)
        v = vec[:, ::-1][:, :rank] * np.sqrt(np.maximum(eig[::-1][:rank], 1e-6 * eig.max()))
        xc = x - mean
        total_scatter = xc.T @ xc
        between = v @ v.T
    else:
        between = between + 1e-6 * np.trace(between) / D * np.eye(D)   # full rank to start from
    lls = [plda_log_likelihood(stats, mean, between, within)]
    log.info("%s: PLDA (%s) %s; initial log-likelihood per utterance %.4f",
             what, model_type, stats.describe(), lls[0] / n_total)
    for it in range(1, num_iters + 1):
        if model_type == "two-cov":
            mean, between, within = _em_two_cov(stats, mean, between, within)
        else:
            v, within = _em_simplified(stats, mean, v, within, total_scatter)
            between = v @ v.T
        lls.append(plda_log_likelihood(stats, mean, between, within))
        log.info("PLDA EM iteration %d: log-likelihood per utterance %.4f (change %+.2e)",
                 it, lls[-1] / n_total, (lls[-1] - lls[-2]) / n_total)
    return PLDA(mean, between, within, model_type, pre, lls)


def make_preprocessing(lda_dim: int = 200, whiten: bool = True, length_norm: bool = True) -> Pipeline:
    """Kaldi's x-vector chain: centring, LDA (``lda_dim`` 0 skips it), whitening, length-norm."""
    steps = [Centering()]
    if lda_dim > 0:
        steps.append(LDA(lda_dim))
    if whiten:
        steps.append(Whitening())
    if length_norm:
        steps.append(LengthNorm())
    return Pipeline(steps)
