"""Speaker-verification metrics: EER (ROC convex hull; or Kaldi's compute-eer), minDCF / actual DCF, Cllr,
minCllr, DET plots.

Conventions. A trial is accepted when its score is >= the threshold. Operating points are
taken at every distinct score (tied scores are never split). Costs are normalised as
Kaldi's ``compute_min_dcf.py``: DCF / min(C_miss * P_target, C_fa * (1 - P_target)).
Everything is one sort of the target and nontarget scores plus linear passes: O(n log n).
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial import ConvexHull

from utter.metrics.plots import DET_TICKS, det_axes, new_figure, probit, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

P_TARGETS = (0.01, 0.001, 0.05)


def _split(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if labels.dtype != bool:
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("labels must be boolean or 0/1 (1 = target)")
        labels = labels.astype(bool)
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} scores but {len(labels)} labels")
    if not np.isfinite(scores).all():
        raise ValueError(f"{int((~np.isfinite(scores)).sum())} scores are not finite")
    tar, non = scores[labels], scores[~labels]
    if len(tar) == 0 or len(non) == 0:
        raise ValueError(f"need target and nontarget trials, got {len(tar)} and {len(non)}")
    return tar, non


@dataclass
class OperatingPoints:
    """Error rates at the thresholds that can be optimal: each distinct target score, and +inf.

    Between two consecutive distinct target scores only nontargets change side, so a lower
    threshold there is never better for any cost; these points carry the whole lower-left ROC
    hull and every minimum-cost operating point. ``p_miss`` ascends, ``p_fa`` descends.
    """

    thresholds: np.ndarray
    p_miss: np.ndarray
    p_fa: np.ndarray
    n_target: int
    n_nontarget: int


def operating_points(scores, labels) -> OperatingPoints:
    """Sort once and count misses and false alarms at every candidate threshold."""
    tar, non = _split(scores, labels)
    tar = np.sort(tar)
    non = np.sort(non)
    first = np.flatnonzero(np.concatenate(([True], tar[1:] != tar[:-1])))
    thr = tar[first]
    misses = first                                         # targets strictly below each threshold
    fas = len(non) - np.searchsorted(non, thr, side="left")  # nontargets at or above it
    thr = np.append(thr, np.inf)
    misses = np.append(misses, len(tar))
    fas = np.append(fas, 0)
    return OperatingPoints(thr, misses / len(tar), fas / len(non), len(tar), len(non))


def _rocch_eer(p_fa: np.ndarray, p_miss: np.ndarray) -> float:
    """Where the lower-left convex hull of the ROC points crosses P_miss = P_fa.

    Uses EER = max over w in [0, 1] of min over points of w P_fa + (1 - w) P_miss (the hull's
    support function on the diagonal), maximised by bisection on the sign of the minimiser's
    P_fa - P_miss; the candidate range of points shrinks with the bracket.
    """
    x = np.concatenate(([1.0], p_fa))      # prepend "accept all" (P_fa 1, P_miss 0)
    y = np.concatenate(([0.0], p_miss))
    a, b = 0, len(x) - 1                    # a: P_fa > P_miss side, b: P_fa < P_miss side
    lo, hi = 0.0, 1.0
    for _ in range(200):
        if b - a <= 1:
            break
        w = (lo + hi) / 2
        seg = w * x[a:b + 1] + (1 - w) * y[a:b + 1]
        m = a + int(np.argmin(seg))
        g = x[m] - y[m]
        if g > 0:
            lo, a = w, m
        elif g < 0:
            hi, b = w, m
        else:
            return float(x[m])
        if hi - lo < 1e-17:
            break
    da, db = y[a] - x[a], y[b] - x[b]       # da < 0 < db
    t = da / (da - db)
    return float(x[a] + t * (x[b] - x[a]))


EER_METHODS = ("rocch", "kaldi")


def kaldi_eer(scores, labels) -> tuple[float, float]:
    """Kaldi's ``compute-eer`` (ivectorbin/compute-eer.cc), from its documented definition.

    Scores are single precision (Kaldi's BaseFloat). With the targets ``t`` (T of them) and the
    nontargets ``n`` (N) sorted ascending, position p = 0, 1, ... of the targets is tried while
    p + 1 < T: the nontarget at the same error rate is ``n[max(N - 1 - floor(N p / T), 0)]``, and the
    first p whose target ``t[p]`` is above that nontarget is the cut (p = T - 1 when none is).
    Returns (EER = p / T, threshold = t[p]).
    """
    tar, non = _split(scores, labels)
    tar = np.sort(tar.astype(np.float32))
    non = np.sort(non.astype(np.float32))
    t, n = len(tar), len(non)
    p = np.arange(t - 1, dtype=np.int64)
    npos = np.maximum(n - 1 - (n * p * 1.0 / t).astype(np.int64), 0)
    hit = np.flatnonzero(non[npos] < tar[p])
    pos = int(hit[0]) if len(hit) else t - 1
    return pos / t, float(tar[pos])


def compute_eer(scores, labels, return_threshold: bool = False, method: str = "rocch"):
    """Equal error rate as a fraction.

    ``method="rocch"`` (default): the ROCCH-EER of BOSARIS -- the value of P_miss = P_fa where the
    diagonal meets the convex hull of the ROC operating points (P_fa, P_miss) over all thresholds
    (distinct scores, accept if score >= threshold, plus accept-all and reject-all); with
    ``return_threshold`` also the threshold of the discrete operating point closest to the crossing.
    ``method="kaldi"``: Kaldi's compute-eer (:func:`kaldi_eer`), a discrete cut that can differ from
    the hull's value on the same scores.
    """
    if method == "kaldi":
        eer, thr = kaldi_eer(scores, labels)
        return (eer, thr) if return_threshold else eer
    if method != "rocch":
        raise ValueError(f"unknown EER method {method!r} (one of {', '.join(EER_METHODS)})")
    pts = operating_points(scores, labels)
    eer = _rocch_eer(pts.p_fa, pts.p_miss)
    if not return_threshold:
        return eer
    k = int(np.argmin(np.abs(pts.p_miss - pts.p_fa)))
    return eer, float(pts.thresholds[k])


def _dcf_norm(p_target: float, c_miss: float, c_fa: float) -> float:
    if not 0 < p_target < 1:
        raise ValueError(f"p_target must be in (0, 1), got {p_target}")
    return min(c_miss * p_target, c_fa * (1 - p_target))


def min_dcf_at(pts: OperatingPoints, p_target: float, c_miss: float = 1, c_fa: float = 1) -> tuple[float, float]:
    """(normalised minimum DCF, its threshold) from precomputed operating points."""
    cost = c_miss * p_target * pts.p_miss + c_fa * (1 - p_target) * pts.p_fa
    k = int(np.argmin(cost))
    return float(cost[k] / _dcf_norm(p_target, c_miss, c_fa)), float(pts.thresholds[k])


def compute_min_dcf(scores, labels, p_target: float, c_miss: float = 1, c_fa: float = 1) -> float:
    """Normalised minimum detection cost over all thresholds (Kaldi's compute_min_dcf.py normalisation)."""
    return min_dcf_at(operating_points(scores, labels), p_target, c_miss, c_fa)[0]


def compute_act_dcf(scores, labels, p_target: float, c_miss: float = 1, c_fa: float = 1) -> float:
    """Normalised DCF of scores read as LLRs, accepting at the Bayes threshold log(C_fa(1-P)/(C_miss P))."""
    tar, non = _split(scores, labels)
    theta = np.log(c_fa * (1 - p_target) / (c_miss * p_target))
    cost = c_miss * p_target * np.mean(tar < theta) + c_fa * (1 - p_target) * np.mean(non >= theta)
    return float(cost / _dcf_norm(p_target, c_miss, c_fa))


def compute_cllr(scores, labels) -> float:
    """Cllr in bits of scores read as natural-log LLRs (BOSARIS cllr, prior 0.5)."""
    tar, non = _split(scores, labels)
    return float((np.logaddexp(0, -tar).mean() + np.logaddexp(0, non).mean()) / (2 * np.log(2)))


def rocch(pts: OperatingPoints) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (P_fa descending, P_miss ascending) of the lower-left ROC convex hull, from accept-all.

    Qhull (scipy.spatial) on the operating points plus the corner (1, 1): the hull without that
    corner is the lower-left chain from (1, 0) to (0, 1); collinear points are not vertices.
    """

    x = np.concatenate(([1.0], pts.p_fa, [1.0]))
    y = np.concatenate(([0.0], pts.p_miss, [1.0]))
    corner = len(x) - 1
    v = ConvexHull(np.stack([x, y], axis=1)).vertices
    v = v[v != corner]
    v = v[np.lexsort((y[v], -x[v]))]
    return x[v], y[v]


def compute_min_cllr(scores, labels) -> float:
    """Cllr after the optimal monotone calibration (PAV); PAV blocks are the edges of the ROC hull.

    A hull edge holding fractions dm of the targets and df of the nontargets is one PAV block
    with LLR log(dm / df).
    """
    return _min_cllr(operating_points(scores, labels))


def _min_cllr(pts: OperatingPoints) -> float:
    hx, hy = rocch(pts)
    df, dm = -np.diff(hx), np.diff(hy)
    tot = dm + df
    with np.errstate(divide="ignore", invalid="ignore"):
        tar_term = np.where(dm > 0, dm * np.log2(tot / np.where(dm > 0, dm, 1)), 0.0)
        non_term = np.where(df > 0, df * np.log2(tot / np.where(df > 0, df, 1)), 0.0)
    return float((tar_term.sum() + non_term.sum()) / 2)


def verification_report(scores, labels, p_targets: Sequence[float] = P_TARGETS, c_miss: float = 1,
                        c_fa: float = 1, calibration_metrics: bool = True) -> dict:
    """The figures of one trial list: EER (%), minDCF (and actDCF, Cllr, minCllr) at each p_target."""
    pts = operating_points(scores, labels)
    out: dict = {"n_target": pts.n_target, "n_nontarget": pts.n_nontarget,
                 "EER": 100 * _rocch_eer(pts.p_fa, pts.p_miss)}
    for p in p_targets:
        out[f"minDCF@{p:g}"] = min_dcf_at(pts, p, c_miss, c_fa)[0]
    if calibration_metrics:
        for p in p_targets:
            out[f"actDCF@{p:g}"] = compute_act_dcf(scores, labels, p, c_miss, c_fa)
        out["Cllr"] = compute_cllr(scores, labels)
        out["minCllr"] = _min_cllr(pts)
    return out


def det_plot(systems: Mapping[str, tuple] | Sequence[tuple], path: str | os.PathLike,
             p_target: float = 0.01, title: str | None = None, max_points: int = 4000) -> Figure:
    """DET curves (probit axes) of several systems in one PNG, each with its EER and minDCF points;
    returns the (closed) figure.

    ``systems``: name -> (scores, labels), or a list of (name, scores, labels). A minDCF point off
    the axes (e.g. at P_miss 100%: rejecting every trial) is drawn hollow at the nearest edge, and
    the system's legend entry says so.
    """

    items = list(systems.items()) if isinstance(systems, Mapping) else [(n, (s, lab)) for n, s, lab in systems]
    fig, ax = new_figure((6, 6))
    worst, counts, curves = 0.0, set(), []
    for name, (scores, labels) in items:
        pts = operating_points(scores, labels)
        eer = _rocch_eer(pts.p_fa, pts.p_miss)
        dcf, thr = min_dcf_at(pts, p_target)
        k = int(np.searchsorted(pts.thresholds, thr))
        n_tar = int(np.count_nonzero(np.asarray(labels, dtype=bool)))
        counts.add((n_tar, len(labels) - n_tar))
        worst = max(worst, eer)
        curves.append((name, pts, eer, dcf, k))
    # limits from the data: past twice the worst EER, down to the lowest error rate a curve reaches
    # inside that window (the ticks below, which no curve reaches, would be empty space)
    hi = min((h for h in (0.4, 0.5, 0.6, 0.8, 0.9, 0.95) if h >= min(0.95, 2.2 * worst)), default=0.95)
    reached = [p for _, pts, *_ in curves for p in (
        pts.p_fa[(pts.p_fa > 0) & (pts.p_fa <= hi) & (pts.p_miss <= hi)],
        pts.p_miss[(pts.p_miss > 0) & (pts.p_miss <= hi) & (pts.p_fa <= hi)]) if p.size]
    low = min((float(p.min()) for p in reached), default=0.001)
    lo = max((t / 100 for t in DET_TICKS if t / 100 <= max(low, 1e-4) and t / 100 < hi), default=1e-4)
    edge_lo, edge_hi = float(probit(lo)), float(probit(hi))
    for name, pts, eer, dcf, k in curves:
        x, y = float(probit(pts.p_fa[k])), float(probit(pts.p_miss[k]))
        off = not (edge_lo <= x <= edge_hi and edge_lo <= y <= edge_hi)
        where = "; its point off the axes, hollow square at the edge" if off else ""
        step = max(1, len(pts.p_fa) // max_points)
        (line,) = ax.plot(probit(pts.p_fa[::step]), probit(pts.p_miss[::step]),
                          label=f"{name} (EER {100 * eer:.2f}%, minDCF@{p_target:g} {dcf:.3f}{where})")
        ax.plot(probit(eer), probit(eer), "o", color=line.get_color())
        if off:
            ax.plot(np.clip(x, edge_lo, edge_hi), np.clip(y, edge_lo, edge_hi), "s", color=line.get_color(),
                    markerfacecolor="none", clip_on=False)
        else:
            ax.plot(x, y, "s", color=line.get_color())
    names = [n for n, _ in items]
    head = title or ("DET of " + (", ".join(names) if len(names) <= 3 else f"{len(names)} systems"))
    if len(counts) == 1:
        n_tar, n_non = counts.pop()
        trials = f"{n_tar:,} target and {n_non:,} non-target trials"
    else:
        trials = "trial lists differ between systems"
    det_axes(ax, f"{head}\n{trials}; o EER, square minDCF@{p_target:g}", lo, hi, legend="below")
    save_figure(fig, path)
    return fig
