"""Paired comparisons of two systems (A minus B, in points): difference, confidence interval, p-value.

Each interval says in its ``method`` string what variation it counts. What each one covers:

- :func:`crossed_interval` (P pretraining seeds x K folds, every seed tested on the same folds):
  a two-way random-effects model, so the interval covers the variation of retraining the
  pretrained models, of drawing other test folds, and their interaction. It is the interval for
  "would this hold with other pretraining runs and other data", given that the caller averaged the
  fine-tuning seeds within each cell (their variation enters only through the residual).
- :func:`nested_interval` (each pretraining seed with its own fold partition): a t over the
  per-seed means, which carry both the pretraining and the fold variation.
- :func:`t_interval` over per-run differences: the variation among those runs only. With folds
  of one pretraining seed it ignores the pretraining variance, so it is too narrow for a claim
  about pretraining recipes; it remains for the simple cases.
- :func:`paired_bootstrap` over test items resampled within each run: test-set sampling only.
- :func:`speaker_bootstrap_eer` (one trial list): speakers resampled on both sides of the trials,
  which covers drawing other speakers, not retraining either system.
- :func:`pretrained_eer_interval` (one trial list scored by P pretrained model pairs): the
  pretraining variance plus the speaker bootstrap's, with a Satterthwaite t.

None of them covers a change of corpus, language or recording conditions, or the choices made
while developing the systems (hyper-parameters tuned on the same data).

What a finding's verdict says is decided in :mod:`utter.transfer.findings` (the declared test,
Holm over the primary rows, the words); :func:`p_value`, :func:`tost_p`, :func:`noninferiority_p`,
:func:`smallest_detectable_difference` and :func:`holm` (several findings at once) read an
interval's ``se`` and ``df``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.special import stdtr, stdtrit

from utter.metrics.verification import compute_eer

ALTERNATIVES = ("two-sided", "greater", "less")


def json_number(x: float) -> float | None:
    """``x`` as a float, or None for NaN and inf, which JSON cannot hold."""
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Interval:
    """A difference (system A minus system B) with its confidence interval and how it was formed.

    ``n``: how many values or units it was formed from (runs, cells, folds or speakers; the
    ``method`` string says which). ``se``: the standard error of ``mean``; ``df``: the degrees of
    freedom of its t reference (inf: normal, as for a bootstrap; NaN: unknown). ``components``:
    the variance components estimated on the way, in squared points. ``p_value``: two-sided,
    H0: no difference.
    """

    mean: float
    low: float
    high: float
    method: str
    n: int
    se: float = math.nan
    df: float = math.nan
    components: Mapping[str, float] = field(default_factory=dict, hash=False)
    p_value: float = math.nan

    def as_dict(self) -> dict:
        """JSON-ready: every number a float or None (NaN and inf become None)."""
        return {"mean": json_number(self.mean), "low": json_number(self.low), "high": json_number(self.high),
                "method": self.method, "n": self.n, "se": json_number(self.se), "df": json_number(self.df),
                "components": {k: json_number(v) for k, v in self.components.items()},
                "p_value": json_number(self.p_value)}


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")


def _t_quantile(df: float, q: float) -> float:
    """The q quantile of Student's t with ``df`` degrees of freedom (normal when df is inf)."""
    return float(stdtrit(df, q))


def _p(mean: float, se: float, df: float, null: float, alternative: str) -> float:
    """The t test's p-value of H0 ``difference == null`` (see :func:`p_value`)."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}")
    if not (math.isfinite(mean) and math.isfinite(null)) or math.isnan(se) or math.isnan(df):
        return math.nan
    diff = mean - null
    if se == 0:
        if diff == 0:
            return 1.0
        if alternative == "two-sided":
            return 0.0
        return 0.0 if (diff > 0) == (alternative == "greater") else 1.0
    t = diff / se
    if alternative == "greater":
        return float(stdtr(df, -t))
    if alternative == "less":
        return float(stdtr(df, t))
    return float(min(1.0, 2 * stdtr(df, -abs(t))))


def _t_bounds(mean: float, se: float, df: float, level: float) -> tuple[float, float]:
    half = 0.0 if se == 0 else _t_quantile(df, 0.5 + level / 2) * se
    return mean - half, mean + half


def _satterthwaite(terms: Sequence[tuple[float, float]]) -> float:
    """Satterthwaite's degrees of freedom of a sum of independent (signed) mean-square terms (value, df).

    All terms 0 (no variation at all): the smallest df among them; the interval is a point anyway.
    """
    total = sum(v for v, _ in terms)
    denominator = sum(v * v / df for v, df in terms)
    if denominator == 0:
        return float(min(df for _, df in terms))
    return float(total * total / denominator)


def _bootstrap_p(stats: np.ndarray) -> float:
    """Two-sided bootstrap p-value of H0 'difference 0': twice the smaller tail share, at most 1."""
    return float(min(1.0, 2 * min(np.mean(stats <= 0), np.mean(stats >= 0))))


def t_interval(differences: Sequence[float], level: float = 0.95) -> Interval:
    """Student-t interval of the mean of paired differences: mean ± t_{n-1} · sd / sqrt(n)."""
    _check_level(level)
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim != 1 or len(d) < 2:
        raise ValueError(f"a t interval needs at least two paired differences, got {len(d)}")
    if not np.isfinite(d).all():
        raise ValueError("paired differences are not all finite")
    mean = float(d.mean())
    se = float(d.std(ddof=1) / np.sqrt(len(d)))
    df = float(len(d) - 1)
    low, high = _t_bounds(mean, se, df, level)
    return Interval(mean, low, high, f"t interval over {len(d)} paired runs", len(d), se=se, df=df,
                    p_value=_p(mean, se, df, 0.0, "two-sided"))


def _one_way(v: np.ndarray, level: float, method: str, component: str) -> Interval:
    """t over the values of one factor: mean ± t_{n-1} sd / sqrt(n); their variance as ``component``."""
    ms = float(v.var(ddof=1))
    mean, se, df = float(v.mean()), math.sqrt(ms / len(v)), float(len(v) - 1)
    low, high = _t_bounds(mean, se, df, level)
    return Interval(mean, low, high, f"{method}, df {len(v) - 1}", len(v), se=se, df=df,
                    components={component: ms}, p_value=_p(mean, se, df, 0.0, "two-sided"))


def crossed_interval(d: np.ndarray, level: float = 0.95) -> Interval:
    """Interval of the mean difference over a (P pretraining seeds x K folds) grid, both factors random.

    Model d_pk = mu + a_p + b_k + e_pk, with a (pretraining seed), b (fold) and e independent:
    every pretraining seed is tested on the same folds (crossed). From the two-way ANOVA without
    replication, E[MSP] = s_e^2 + K s_a^2, E[MSK] = s_e^2 + P s_b^2, E[MSE] = s_e^2, so
    Var(mean) = s_a^2/P + s_b^2/K + s_e^2/(PK) = (E[MSP] + E[MSK] - E[MSE]) / (PK).

    Negative components are truncated at 0: a mean square below MSE estimates its component
    as 0, and MSE stands in for it, giving (max(MSP, MSE) + max(MSK, MSE) - MSE) / (PK) with the
    Satterthwaite df of that combination (e.g. MSK alone, df K-1, when MSP < MSE). Why: the plain
    estimate (MSP + MSK - MSE) / (PK) can be below what MSP or MSK alone implies, or negative,
    which gives intervals that are too short exactly when one factor looks unimportant by
    chance; the truncated one is never below max(MSP, MSK, MSE) / (PK), each of which is an
    estimate of a part of Var(mean) (the coverage tests check the result at 95%).

    P == 1 (pretraining not replicated) or K == 1: a t over the other factor, its variance
    (which then includes the residual) the only component. Fine-tuning seeds are averaged within
    each cell by the caller; their variance reaches the interval through the residual.
    """
    _check_level(level)
    try:
        d = np.asarray(d, dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"the differences are not a complete (pretraining seeds x folds) matrix: {e}") from None
    if d.ndim != 2:
        raise ValueError(f"a crossed design needs a (pretraining seeds x folds) matrix, got shape {d.shape}")
    n_p, n_k = d.shape
    if n_p * n_k < 2:
        raise ValueError(f"a crossed interval needs at least two (pretraining seed, fold) cells, got {n_p} x {n_k}")
    bad = int((~np.isfinite(d)).sum())
    if bad:
        raise ValueError(f"{bad} of the {n_p} x {n_k} (pretraining seed, fold) differences are not finite: "
                         "the crossed design needs every cell")
    if n_p == 1:
        return _one_way(d[0], level, f"t interval over {n_k} folds of one pretraining seed (pretraining not "
                        "replicated: its variance is not counted)", "fold")
    if n_k == 1:
        return _one_way(d[:, 0], level, f"t interval over {n_p} pretraining seeds on one fold (fold not "
                        "replicated: its variance is not counted)", "pretraining")
    m = float(d.mean())
    rows, cols = d.mean(axis=1), d.mean(axis=0)
    df_p, df_k, df_e = n_p - 1, n_k - 1, (n_p - 1) * (n_k - 1)
    msp = float(n_k * ((rows - m) ** 2).sum() / df_p)
    msk = float(n_p * ((cols - m) ** 2).sum() / df_k)
    mse = float(((d - rows[:, None] - cols[None, :] + m) ** 2).sum() / df_e)
    keep_p, keep_k = msp > mse, msk > mse
    terms = [(msp, df_p)] if keep_p else []
    terms += [(msk, df_k)] if keep_k else []
    c_e = 1 - int(keep_p) - int(keep_k)               # MSE's coefficient: -1, 0 or 1
    if c_e:
        terms.append((c_e * mse, df_e))
    se = math.sqrt(max(sum(v for v, _ in terms), 0.0) / (n_p * n_k))
    df = _satterthwaite(terms)
    low, high = _t_bounds(m, se, df, level)
    zero = [name for name, kept in (("pretraining", keep_p), ("fold", keep_k)) if not kept]
    note = f"; {' and '.join(zero)} variance estimated at 0" if zero else ""
    return Interval(m, low, high, f"crossed random effects ({n_p} pretraining seeds x {n_k} folds), "
                    f"Satterthwaite df {df:.1f}{note}", n_p * n_k, se=se, df=df,
                    components={"pretraining": max(0.0, (msp - mse) / n_k), "fold": max(0.0, (msk - mse) / n_p),
                                "residual": mse},
                    p_value=_p(m, se, df, 0.0, "two-sided"))


def nested_interval(groups: Sequence[Sequence[float]], level: float = 0.95) -> Interval:
    """Interval of the mean difference when each pretraining seed has its own folds (folds nested in seeds).

    ``groups``: per pretraining seed, its fold differences. The estimate is the mean of the
    per-seed means, with a t over the P seeds (df P-1): each seed's mean carries its pretraining
    effect plus the average of its folds, so the spread of the means counts both. Exact for
    balanced data; with unequal fold counts the means have unequal variances and the t is an
    approximation (the seeds still weigh equally). The components come from the one-way ANOVA:
    "pretraining" = (MSB - MSW) / n0 truncated at 0, "fold (within pretraining)" = MSW (absent
    when every seed has one fold, where it cannot be told from the pretraining variance).
    P == 1: a t over that seed's folds, pretraining not replicated.
    """
    _check_level(level)
    if len(groups) == 0:
        raise ValueError("no pretraining seeds to compare")
    arrays = []
    for p, g in enumerate(groups):
        try:
            x = np.asarray(g, dtype=np.float64)
        except ValueError as e:
            raise ValueError(f"pretraining seed {p}: its fold differences are not a flat list: {e}") from None
        if x.ndim != 1 or len(x) == 0:
            raise ValueError(f"pretraining seed {p}: expected a non-empty list of fold differences, "
                             f"got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"pretraining seed {p}: {int((~np.isfinite(x)).sum())} fold differences are not finite")
        arrays.append(x)
    n_p = len(arrays)
    if n_p == 1:
        if len(arrays[0]) < 2:
            raise ValueError("one pretraining seed with one fold: no interval can be formed")
        return _one_way(arrays[0], level, f"t interval over {len(arrays[0])} folds of one pretraining seed "
                        "(pretraining not replicated: its variance is not counted)", "fold (within pretraining)")
    sizes = np.array([len(x) for x in arrays], dtype=np.float64)
    means = np.array([x.mean() for x in arrays])
    mean = float(means.mean())
    se = float(means.std(ddof=1) / math.sqrt(n_p))
    df = float(n_p - 1)
    low, high = _t_bounds(mean, se, df, level)
    total = sizes.sum()
    grand = float(sum(x.sum() for x in arrays) / total)
    msb = float((sizes * (means - grand) ** 2).sum() / (n_p - 1))
    if total > n_p:
        msw = float(sum(((x - x.mean()) ** 2).sum() for x in arrays) / (total - n_p))
        n0 = float((total - (sizes ** 2).sum() / total) / (n_p - 1))
        components = {"pretraining": max(0.0, (msb - msw) / n0), "fold (within pretraining)": msw}
    else:
        components = {"pretraining": msb}
    design = "balanced" if (sizes == sizes[0]).all() else "unbalanced, seeds weighted equally"
    return Interval(mean, low, high, f"t over the means of {n_p} pretraining seeds ({int(total)} folds nested in "
                    f"them, {design}), df {n_p - 1}", int(total), se=se, df=df, components=components,
                    p_value=_p(mean, se, df, 0.0, "two-sided"))


def p_value(iv: Interval, null: float = 0.0, alternative: str = "two-sided") -> float:
    """p-value of H0 ``difference == null`` from t = (mean - null) / se with ``iv.df`` (normal when inf).

    ``alternative`` "greater": H1 difference > null; "less": H1 difference < null. NaN when the
    interval has no se or df (e.g. one run). se == 0 (every run gave the same difference): 1 when
    the mean equals ``null`` (nothing against H0), else 0 when the mean lies on the alternative's
    side (two-sided: either) and 1 when it lies on the other. For a bootstrap interval (df inf)
    this is the normal approximation; ``iv.p_value`` holds the bootstrap's own.
    """
    return _p(iv.mean, iv.se, iv.df, null, alternative)


def tost_p(iv: Interval, delta: float) -> float:
    """Two one-sided tests of equivalence within ±delta: max of p(H0 d <= -delta) and p(H0 d >= +delta).

    Small: the difference is shown to lie within ±delta (the systems are equivalent at that margin).
    """
    if not delta > 0:
        raise ValueError(f"the equivalence margin must be > 0, got {delta}")
    return max(_p(iv.mean, iv.se, iv.df, -delta, "greater"), _p(iv.mean, iv.se, iv.df, delta, "less"))


def noninferiority_p(iv: Interval, margin: float, direction: str) -> float:
    """p-value that A is not worse than B by more than ``margin``.

    ``direction`` "greater": higher is better (UA: H0 difference <= -margin); "less": lower is
    better (EER: H0 difference >= +margin).
    """
    if not margin >= 0:
        raise ValueError(f"the non-inferiority margin must be >= 0, got {margin}")
    if direction == "greater":
        return p_value(iv, -margin, "greater")
    if direction == "less":
        return p_value(iv, margin, "less")
    raise ValueError(f"direction must be 'greater' or 'less', got {direction!r}")


def smallest_detectable_difference(iv: Interval, level: float = 0.95, power: float = 0.8) -> float:
    """The true difference a two-sided test at ``level`` would detect with ``power``, at this se and df.

    (t_{1-alpha/2, df} + t_{power, df}) * se: the size below which "not decided" says little.
    """
    _check_level(level)
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")
    if iv.se == 0:
        return 0.0
    return float((_t_quantile(iv.df, 0.5 + level / 2) + _t_quantile(iv.df, power)) * iv.se)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni step-down adjusted p-values, in the input order (monotone, at most 1).

    The i-th smallest of m p-values is multiplied by m - i + 1, and each adjusted value is the
    running maximum so the order is kept. NaN entries stay NaN and do not count in m.
    """
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    out = np.full(len(p), math.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ((p[ok] < 0) | (p[ok] > 1)).any():
        raise ValueError("p-values must lie in [0, 1] (or be NaN)")
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return [float(x) for x in out]


def paired_bootstrap(runs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
                     metric: Callable[[np.ndarray, np.ndarray], float], *, num_resamples: int = 2000,
                     level: float = 0.95, seed: int = 0) -> Interval:
    """Percentile interval of mean over runs of ``metric(y, a) - metric(y, b)``, items resampled within runs.

    ``runs``: per run, (true labels, system A's predictions, system B's predictions) over the
    same test items. Each resample draws every run's items with replacement (same draw for A
    and B) and averages the per-run differences, as the point estimate does.
    """
    _check_level(level)
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
                    len(runs), se=float(stats.std(ddof=1)), df=math.inf, p_value=_bootstrap_p(stats))


def _trial_speakers(n: int, enroll_speakers: Sequence[str], test_speakers: Sequence[str]
                    ) -> tuple[int, np.ndarray, np.ndarray]:
    """(number of speakers, enrolment side's and test side's speaker index per trial) over both sides' union."""
    if not len(enroll_speakers) == len(test_speakers) == n:
        raise ValueError(f"{n} trials but {len(enroll_speakers)} enrolment and {len(test_speakers)} test speakers "
                         "(one each per trial)")
    names, index = np.unique(np.concatenate([np.asarray(enroll_speakers, dtype=str),
                                             np.asarray(test_speakers, dtype=str)]), return_inverse=True)
    return len(names), index[:n], index[n:]


def _speaker_bootstrap(labels: np.ndarray, pairs: Sequence[tuple[np.ndarray, np.ndarray]], enroll: np.ndarray,
                       test: np.ndarray, num_speakers: int, num_resamples: int, seed: int) -> np.ndarray:
    """Per resample, the mean over ``pairs`` of 100 * (EER(a) - EER(b)) on the resampled trials.

    A resample draws ``num_speakers`` speakers with replacement; speaker s drawn c_s times. A trial
    between two speakers (e != t) enters c_e * c_t times: every drawn copy of e against every
    drawn copy of t. A trial within one speaker (e == t: the target trials) enters c_e times,
    once per drawn copy, as its trials come with that speaker as one unit; c_e^2 would treat
    the two sides of one speaker as two independent draws and inflate the target side's variance.
    Resamples without both target and non-target trials are skipped.
    """
    rng = np.random.default_rng(seed)
    same = enroll == test
    trial = np.arange(len(labels))
    stats = []
    for _ in range(num_resamples):
        counts = np.bincount(rng.integers(0, num_speakers, num_speakers), minlength=num_speakers)
        idx = np.repeat(trial, np.where(same, counts[enroll], counts[enroll] * counts[test]))
        y = labels[idx]
        if y.all() or not y.any():
            continue
        stats.append(np.mean([100 * (compute_eer(a[idx], y) - compute_eer(b[idx], y)) for a, b in pairs]))
    if len(stats) < num_resamples / 2:
        raise ValueError(f"only {len(stats)} of {num_resamples} speaker resamples had both target and "
                         "non-target trials: too few speakers for a bootstrap")
    return np.asarray(stats)


def _score_arrays(labels: np.ndarray, scores: Sequence[np.ndarray], what: str) -> list[np.ndarray]:
    out = [np.asarray(s, dtype=np.float64).reshape(-1) for s in scores]
    for p, s in enumerate(out):
        if len(s) != len(labels):
            raise ValueError(f"{what}[{p}]: {len(s)} scores for {len(labels)} trials")
    return out


def speaker_bootstrap_eer(labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray,
                          enroll_speakers: Sequence[str], test_speakers: Sequence[str], *,
                          num_resamples: int = 1000, level: float = 0.95, seed: int = 0) -> Interval:
    """Interval of EER(A) - EER(B) (in %) on one trial list, speakers resampled on both sides of the trials.

    ``enroll_speakers``, ``test_speakers``: each trial's speaker on either side. Each resample
    draws the union of both sides' speakers with replacement; a trial between two different
    speakers enters count(e) * count(t) times, a trial within one speaker (targets) count(s) times
    (see :func:`_speaker_bootstrap` for why not count(s)^2). The interval counts the sampling of the speakers whose
    models are enrolled and of those who are tested; not the training of either system.
    Percentile interval; ``se`` the bootstrap standard deviation, ``df`` inf, ``p_value`` twice
    the smaller share of resampled differences on one side of 0 (at most 1).
    """
    _check_level(level)
    labels = np.asarray(labels, dtype=bool).reshape(-1)
    scores_a, scores_b = _score_arrays(labels, [scores_a, scores_b], "scores")
    n_spk, enroll, test = _trial_speakers(len(labels), enroll_speakers, test_speakers)
    point = 100 * (compute_eer(scores_a, labels) - compute_eer(scores_b, labels))
    stats = _speaker_bootstrap(labels, [(scores_a, scores_b)], enroll, test, n_spk, num_resamples, seed)
    lo, hi = np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(point), float(lo), float(hi),
                    f"bootstrap over {n_spk} speakers, speakers resampled on both sides of the trials "
                    f"({len(stats)} resamples)", n_spk, se=float(stats.std(ddof=1)), df=math.inf,
                    p_value=_bootstrap_p(stats))


def pretrained_eer_interval(labels: np.ndarray, scores_a: Sequence[np.ndarray], scores_b: Sequence[np.ndarray],
                            enroll_speakers: Sequence[str], test_speakers: Sequence[str], *,
                            num_resamples: int = 1000, level: float = 0.95, seed: int = 0) -> Interval:
    """Interval of EER(A) - EER(B) (in %) on one trial list scored by P pairs of pretrained models.

    ``scores_a[p]``, ``scores_b[p]``: pretraining seed p's two systems, aligned to the trials.
    Estimate: the mean over seeds of 100 * (EER(a_p) - EER(b_p)). Variance: s_p^2 / P (the
    between-seed sample variance of the per-seed differences, P-1 df) plus the speaker bootstrap
    variance of the mean over seeds (one speaker resample applied to every seed's scores; taken
    to have (speakers - 1) df), with a Satterthwaite t. Components: "pretraining" s_p^2,
    "test speakers" the bootstrap variance (already of the mean over seeds).

    The seed x speaker interaction is counted twice, slightly and conservatively: s_p^2 on a
    fixed trial list includes it, and so does the bootstrap variance of the mean (divided by P).
    P == 1: :func:`speaker_bootstrap_eer`, pretraining not replicated.
    """
    _check_level(level)
    if len(scores_a) != len(scores_b) or len(scores_a) == 0:
        raise ValueError(f"{len(scores_a)} and {len(scores_b)} score lists: one pair per pretraining seed needed")
    n_seeds = len(scores_a)
    if n_seeds == 1:
        iv = speaker_bootstrap_eer(labels, scores_a[0], scores_b[0], enroll_speakers, test_speakers,
                                   num_resamples=num_resamples, level=level, seed=seed)
        return replace(iv, method=iv.method + "; one pretrained model pair (pretraining not replicated: "
                       "its variance is not counted)")
    labels = np.asarray(labels, dtype=bool).reshape(-1)
    a_list = _score_arrays(labels, scores_a, "scores_a")
    b_list = _score_arrays(labels, scores_b, "scores_b")
    n_spk, enroll, test = _trial_speakers(len(labels), enroll_speakers, test_speakers)
    per_seed = np.array([100 * (compute_eer(a, labels) - compute_eer(b, labels)) for a, b in zip(a_list, b_list)])
    stats = _speaker_bootstrap(labels, list(zip(a_list, b_list)), enroll, test, n_spk, num_resamples, seed)
    var_seed, var_boot = float(per_seed.var(ddof=1)), float(stats.var(ddof=1))
    terms = [(var_seed / n_seeds, n_seeds - 1), (var_boot, n_spk - 1)]
    mean, se, df = float(per_seed.mean()), math.sqrt(var_seed / n_seeds + var_boot), _satterthwaite(terms)
    low, high = _t_bounds(mean, se, df, level)
    return Interval(mean, low, high, f"{n_seeds} pretraining seeds + bootstrap over {n_spk} speakers, speakers "
                    f"resampled on both sides of the trials ({len(stats)} resamples), Satterthwaite df {df:.1f}",
                    n_spk, se=se, df=df, components={"pretraining": var_seed, "test speakers": var_boot},
                    p_value=_p(mean, se, df, 0.0, "two-sided"))


def unweighted_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """UA: the mean of the per-class recalls over the classes present in ``y`` (vectorised)."""
    classes, yi = np.unique(y, return_inverse=True)
    hits = np.bincount(yi, weights=(np.asarray(pred) == np.asarray(y)).astype(float), minlength=len(classes))
    return float(np.mean(hits / np.bincount(yi, minlength=len(classes))))


def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(y)))


METRICS: Mapping[str, Callable[[np.ndarray, np.ndarray], float]] = {"UA": unweighted_accuracy, "WA": accuracy,
                                                                     "accuracy": accuracy}
