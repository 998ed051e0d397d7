"""Paired comparisons (utter.metrics.paired) against independent references.

References: the t interval against published Student-t quantiles (t_{0.975, 4} = 2.776445,
t_{0.975, 14} = 2.144787, from any statistics table) and hand arithmetic; the bootstrap against
a brute-force loop written here (plain Python recall per class, its own resampling with the same
generator draws); verdicts by their definition. The crossed interval against mean squares from
least-squares fits of dummy-coded models (np.linalg.lstsq) and scipy.stats.t quantiles; both
random-effects intervals by their coverage on data simulated from the model; the speaker
bootstraps against a loop that builds each resample's trial multiset pair by pair; Holm against
a hand example; TOST and the smallest detectable difference against scipy.stats.t.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from utter.metrics.paired import (
    Interval,
    crossed_interval,
    holm,
    nested_interval,
    noninferiority_p,
    p_value,
    paired_bootstrap,
    pretrained_eer_interval,
    smallest_detectable_difference,
    speaker_bootstrap_eer,
    t_interval,
    tost_p,
    unweighted_accuracy,
)
from utter.metrics.verification import compute_eer


def test_t_interval_against_the_table():
    d = [1.0, 2.0, 3.0, 4.0, 5.0]
    sd = math.sqrt(sum((x - 3.0) ** 2 for x in d) / 4)   # 1.5811
    half = 2.776445 * sd / math.sqrt(5)
    iv = t_interval(d)
    assert iv.mean == pytest.approx(3.0)
    assert iv.low == pytest.approx(3.0 - half, abs=1e-5) and iv.high == pytest.approx(3.0 + half, abs=1e-5)
    rng = np.random.default_rng(1)
    d15 = rng.normal(size=15)
    iv = t_interval(d15)
    half = 2.144787 * d15.std(ddof=1) / math.sqrt(15)
    assert iv.high - iv.mean == pytest.approx(half, abs=1e-5)


@pytest.mark.parametrize("bad", [[1.0], [], [1.0, float("nan")]])
def test_t_interval_refuses(bad):
    with pytest.raises(ValueError):
        t_interval(bad)


def _ua_brute(y, p):
    recalls = []
    for c in sorted(set(y)):
        idx = [i for i, v in enumerate(y) if v == c]
        recalls.append(sum(p[i] == c for i in idx) / len(idx))
    return sum(recalls) / len(recalls)


def test_unweighted_accuracy_against_brute_force():
    rng = np.random.default_rng(0)
    y = rng.choice(["ang", "hap", "neu", "sad"], 200)
    p = np.where(rng.random(200) < 0.6, y, rng.choice(["ang", "hap", "neu", "sad"], 200))
    assert unweighted_accuracy(y, p) == pytest.approx(_ua_brute(list(y), list(p)))


def test_paired_bootstrap_against_a_brute_force_loop():
    rng = np.random.default_rng(3)
    runs = []
    for n in (40, 55):
        y = rng.choice(["a", "b", "c"], n)
        a = np.where(rng.random(n) < 0.8, y, "a")
        b = np.where(rng.random(n) < 0.5, y, "b")
        runs.append((y, a, b))
    iv = paired_bootstrap(runs, unweighted_accuracy, num_resamples=300, seed=7)
    # brute force: the same generator, the same draws, plain Python metric
    g = np.random.default_rng(7)
    stats = []
    for _ in range(300):
        diffs = []
        for y, a, b in runs:
            idx = g.integers(0, len(y), len(y))
            yy, aa, bb = [y[i] for i in idx], [a[i] for i in idx], [b[i] for i in idx]
            diffs.append(_ua_brute(yy, aa) - _ua_brute(yy, bb))
        stats.append(sum(diffs) / len(diffs))
    lo, hi = np.quantile(stats, [0.025, 0.975])
    assert iv.low == pytest.approx(lo) and iv.high == pytest.approx(hi)
    assert iv.mean == pytest.approx(np.mean([_ua_brute(list(y), list(a)) - _ua_brute(list(y), list(b))
                                             for y, a, b in runs]))
    assert iv.low < iv.mean < iv.high and iv.low > 0     # A is clearly better here


def test_paired_bootstrap_identical_systems_give_zero():
    y = np.array(list("abcabcabca"))
    iv = paired_bootstrap([(y, y, y)], unweighted_accuracy, num_resamples=50)
    assert iv.mean == iv.low == iv.high == 0.0


def test_paired_bootstrap_refuses_mismatched_runs():
    with pytest.raises(ValueError, match="run 0"):
        paired_bootstrap([(np.array([1, 2]), np.array([1]), np.array([1, 2]))], unweighted_accuracy)


def test_speaker_bootstrap_eer():
    rng = np.random.default_rng(5)
    spk = np.repeat([f"s{k}" for k in range(30)], 40)
    lab = rng.random(len(spk)) < 0.3
    good = np.where(lab, 2.0, 0.0) + rng.normal(size=len(spk))
    bad = np.where(lab, 0.5, 0.0) + rng.normal(size=len(spk))
    test_spk = np.where(lab, spk, np.roll(spk, 40))   # non-targets against the next speaker
    iv = speaker_bootstrap_eer(lab, good, bad, spk, test_spk, num_resamples=200)
    assert iv.mean == pytest.approx(100 * (compute_eer(good, lab) - compute_eer(bad, lab)))
    assert iv.high < 0          # the better system has the lower EER, decided
    assert iv.n == 30
    same = speaker_bootstrap_eer(lab, good, good, spk, test_spk, num_resamples=50)
    assert same.low == same.high == 0.0


# --- random-effects intervals -------------------------------------------------------------------

def _rss(x: np.ndarray, y: np.ndarray) -> float:
    """Residual sum of squares of the least-squares fit of y on the columns of x."""
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    return float(((y - x @ coef) ** 2).sum())


def _two_way_mean_squares(d: np.ndarray) -> tuple[float, float, float]:
    """MSP, MSK, MSE from dummy-coded regressions (no ANOVA formula): the reference."""
    n_p, n_k = d.shape
    y = d.reshape(-1)
    rows = np.kron(np.eye(n_p), np.ones((n_k, 1)))        # cell (p, k) is entry p * K + k
    cols = np.kron(np.ones((n_p, 1)), np.eye(n_k))
    one = np.ones((n_p * n_k, 1))
    full = _rss(np.hstack([one, rows[:, 1:], cols[:, 1:]]), y)
    no_rows = _rss(np.hstack([one, cols[:, 1:]]), y)
    no_cols = _rss(np.hstack([one, rows[:, 1:]]), y)
    return ((no_rows - full) / (n_p - 1), (no_cols - full) / (n_k - 1), full / ((n_p - 1) * (n_k - 1)))


D34 = np.array([[1.0, -0.5, 4.2, 0.3],
                [4.1, 2.2, 7.0, 2.8],
                [-1.2, -2.9, 2.1, -2.4]])


def test_crossed_interval_closed_form():
    msp, msk, mse = _two_way_mean_squares(D34)
    assert msp > mse and msk > mse                      # no truncation on this matrix
    total = msp + msk - mse
    se = math.sqrt(total / 12)
    df = total ** 2 / (msp ** 2 / 2 + msk ** 2 / 3 + mse ** 2 / 6)
    half = stats.t.ppf(0.975, df) * se
    iv = crossed_interval(D34)
    assert iv.mean == pytest.approx(D34.mean(), abs=1e-12)
    assert iv.se == pytest.approx(se, abs=1e-10) and iv.df == pytest.approx(df, abs=1e-10)
    assert iv.low == pytest.approx(D34.mean() - half, abs=1e-10)
    assert iv.high == pytest.approx(D34.mean() + half, abs=1e-10)
    assert iv.components["pretraining"] == pytest.approx((msp - mse) / 4, abs=1e-10)
    assert iv.components["fold"] == pytest.approx((msk - mse) / 3, abs=1e-10)
    assert iv.components["residual"] == pytest.approx(mse, abs=1e-10)
    assert iv.p_value == pytest.approx(2 * stats.t.sf(abs(D34.mean()) / se, df), abs=1e-10)
    assert iv.n == 12 and "3 pretraining seeds x 4 folds" in iv.method and f"df {df:.1f}" in iv.method
    json.dumps(iv.as_dict(), allow_nan=False)


def test_crossed_interval_truncates_a_negative_component():
    # rows nearly equal: MSP < MSE, the pretraining component is taken as 0 and MSK alone (df K-1) remains
    d = np.array([[0.0, 5.0, 1.0, 3.0], [1.0, 4.0, 0.0, 4.0], [0.5, 4.5, 1.5, 2.5]])
    msp, msk, mse = _two_way_mean_squares(d)
    assert msp < mse < msk
    iv = crossed_interval(d)
    assert iv.se == pytest.approx(math.sqrt(msk / 12), abs=1e-12) and iv.df == pytest.approx(3)
    assert iv.components["pretraining"] == 0.0 and "pretraining variance estimated at 0" in iv.method


def test_crossed_interval_one_factor_not_replicated():
    row = D34[1]
    iv = crossed_interval(row[None, :])
    ref = t_interval(row)
    assert (iv.low, iv.high, iv.df) == pytest.approx((ref.low, ref.high, 3))
    assert set(iv.components) == {"fold"} and "pretraining not replicated" in iv.method
    iv = crossed_interval(D34[:, :1])
    assert set(iv.components) == {"pretraining"} and iv.df == 2


def _coverage(draw, interval, n: int = 2000, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n):
        iv = interval(draw(rng))
        hits += iv.low <= 0 <= iv.high
    return hits / n


@pytest.mark.parametrize("sd_p, sd_k, sd_e", [(7.0, 4.0, 5.0), (7.0, 0.0, 5.0), (0.0, 4.0, 5.0)])
def test_crossed_interval_coverage(sd_p, sd_k, sd_e):
    # reference: the model itself; true difference 0, 2000 data sets of 5 pretraining seeds x 5 folds
    def draw(rng):
        return rng.normal(0, sd_p, (5, 1)) + rng.normal(0, sd_k, (1, 5)) + rng.normal(0, sd_e, (5, 5))
    assert 0.93 <= _coverage(draw, crossed_interval) <= 0.97


@pytest.mark.parametrize("sd_p, sizes", [(7.0, [5] * 5), (0.0, [5] * 5), (7.0, [3, 5, 4, 6, 5])])
def test_nested_interval_coverage(sd_p, sizes):
    # reference: the nested model, true difference 0; fold-within-pretraining SD 5
    def draw(rng):
        return [rng.normal(0, sd_p) + rng.normal(0, 5.0, k) for k in sizes]
    assert 0.93 <= _coverage(draw, nested_interval) <= 0.97


def test_nested_interval_against_hand_anova():
    groups = [[1.0, 2.0, 3.0], [4.0, 6.0, 5.0], [0.0, -1.0, 1.0]]
    means = np.array([2.0, 5.0, 0.0])
    se = means.std(ddof=1) / math.sqrt(3)
    iv = nested_interval(groups)
    assert iv.mean == pytest.approx(7 / 3) and iv.se == pytest.approx(se) and iv.df == 2
    assert iv.high - iv.mean == pytest.approx(stats.t.ppf(0.975, 2) * se)
    # within: every group has sum of squares 2 -> MSW = 6 / 6; between: 3 * sum((m - 7/3)^2) / 2
    msb = 3 * ((means - 7 / 3) ** 2).sum() / 2
    assert iv.components["fold (within pretraining)"] == pytest.approx(1.0)
    assert iv.components["pretraining"] == pytest.approx((msb - 1.0) / 3)
    one = nested_interval([[1.0, 2.0, 4.0]])
    assert "pretraining not replicated" in one.method and set(one.components) == {"fold (within pretraining)"}


@pytest.mark.parametrize("bad, what", [
    (np.array([[1.0, np.nan], [2.0, 3.0]]), "not finite"),
    ([[1.0, 2.0], [3.0]], "not a complete"),
    (np.array([[1.0]]), "at least two"),
    (np.zeros((0, 3)), "at least two"),
    (np.array([1.0, 2.0, 3.0]), "matrix"),
])
def test_crossed_interval_refuses(bad, what):
    with pytest.raises(ValueError, match=what):
        crossed_interval(bad)


@pytest.mark.parametrize("bad, what", [([], "no pretraining"), ([[1.0], []], "seed 1"),
                                       ([[1.0, float("nan")], [2.0]], "not finite"), ([[1.0]], "one fold")])
def test_nested_interval_refuses(bad, what):
    with pytest.raises(ValueError, match=what):
        nested_interval(bad)


# --- tests on an interval -----------------------------------------------------------------------

def test_p_values_tost_and_detectable_difference_against_scipy():
    iv = Interval(1.0, 0.0, 2.0, "", 6, se=0.5, df=5.0)
    assert p_value(iv) == pytest.approx(2 * stats.t.sf(2.0, 5))
    assert p_value(iv, alternative="greater") == pytest.approx(stats.t.sf(2.0, 5))
    assert p_value(iv, null=1.5, alternative="less") == pytest.approx(stats.t.cdf(-1.0, 5))
    assert tost_p(iv, 2.0) == pytest.approx(max(stats.t.sf(6.0, 5), stats.t.cdf(-2.0, 5)))
    assert noninferiority_p(iv, 0.5, "greater") == pytest.approx(stats.t.sf(3.0, 5))
    assert noninferiority_p(iv, 0.5, "less") == pytest.approx(stats.t.cdf(1.0, 5))
    assert smallest_detectable_difference(iv) == pytest.approx((stats.t.ppf(0.975, 5) + stats.t.ppf(0.8, 5)) * 0.5)
    normal = Interval(1.0, 0.0, 2.0, "", 100, se=0.5, df=math.inf)
    assert p_value(normal) == pytest.approx(2 * stats.norm.sf(2.0))
    assert smallest_detectable_difference(normal) == pytest.approx((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * 0.5)
    assert math.isnan(p_value(Interval(1.0, math.nan, math.nan, "one run", 1)))
    assert p_value(Interval(0.0, 0.0, 0.0, "", 3, se=0.0, df=2.0)) == 1.0
    with pytest.raises(ValueError):
        tost_p(iv, 0.0)


def test_holm_against_a_hand_example():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    out = holm([0.01, float("nan"), 0.04])               # family of 2: 0.02, then max(0.02, 0.04)
    assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.04)
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_as_dict_writes_nan_and_inf_as_none():
    iv = Interval(1.0, math.nan, math.nan, "one run", 1, df=math.inf, components={"fold": math.nan})
    out = iv.as_dict()
    assert out["low"] is None and out["df"] is None and out["components"] == {"fold": None}
    json.dumps(out, allow_nan=False)


# --- speakers resampled on both sides -----------------------------------------------------------

def _small_trial_list(num_systems: int = 1):
    """8 enrolled speakers, 10 test speakers (2 only on the test side), ~150 trials."""
    rng = np.random.default_rng(11)
    enroll, test = [], []
    for e in range(8):
        for _ in range(4):
            enroll.append(f"s{e}")
            test.append(f"s{e}")                              # target trials
        for t in rng.choice(10, 14):
            if t != e:
                enroll.append(f"s{e}")
                test.append(f"s{t}")
    lab = np.array([e == t for e, t in zip(enroll, test)])
    n = len(lab)
    systems = [(np.where(lab, 1.5, 0.0) + rng.normal(size=n), np.where(lab, 0.8, 0.0) + rng.normal(size=n))
               for _ in range(num_systems)]
    return lab, enroll, test, systems


def _brute_speaker_bootstrap(lab, enroll, test, systems, num_resamples, seed):
    """Each resample's trial multiset built pair by pair of drawn speaker positions (a, b): the trials
    from speaker[a] to speaker[b], when a == b (one speaker's own trials) or the two are different
    speakers; the mean over systems of 100 * (EER(a) - EER(b)) on that list."""
    names = sorted(set(enroll) | set(test))
    by_pair: dict[tuple[str, str], list[int]] = {}
    for i, (e, t) in enumerate(zip(enroll, test)):
        by_pair.setdefault((e, t), []).append(i)
    g = np.random.default_rng(seed)
    out = []
    for _ in range(num_resamples):
        drawn = [names[j] for j in g.integers(0, len(names), len(names))]
        idx = []
        for a, x in enumerate(drawn):
            for b, y in enumerate(drawn):
                if a == b or x != y:
                    idx += by_pair.get((x, y), [])
        yy = [bool(lab[i]) for i in idx]
        if all(yy) or not any(yy):
            continue
        out.append(np.mean([100 * (compute_eer([sa[i] for i in idx], yy) - compute_eer([sb[i] for i in idx], yy))
                            for sa, sb in systems]))
    return np.array(out)


def test_speaker_bootstrap_on_both_sides_against_a_brute_force_loop():
    lab, enroll, test, systems = _small_trial_list()
    (a, b), = systems
    iv = speaker_bootstrap_eer(lab, a, b, enroll, test, num_resamples=150, seed=3)
    ref = _brute_speaker_bootstrap(lab, enroll, test, systems, 150, 3)
    lo, hi = np.quantile(ref, [0.025, 0.975])
    assert iv.low == pytest.approx(lo) and iv.high == pytest.approx(hi)
    assert iv.se == pytest.approx(ref.std(ddof=1)) and iv.df == math.inf
    assert iv.p_value == pytest.approx(min(1.0, 2 * min(np.mean(ref <= 0), np.mean(ref >= 0))))
    assert iv.n == 10 and "both sides" in iv.method


def test_pretrained_eer_interval_against_its_parts():
    lab, enroll, test, systems = _small_trial_list(num_systems=3)
    iv = pretrained_eer_interval(lab, [s[0] for s in systems], [s[1] for s in systems], enroll, test,
                                 num_resamples=100, seed=4)
    per_seed = np.array([100 * (compute_eer(a, lab) - compute_eer(b, lab)) for a, b in systems])
    boot = _brute_speaker_bootstrap(lab, enroll, test, systems, 100, 4)
    v_seed, v_boot = per_seed.var(ddof=1), boot.var(ddof=1)
    se = math.sqrt(v_seed / 3 + v_boot)
    df = se ** 4 / ((v_seed / 3) ** 2 / 2 + v_boot ** 2 / 9)
    assert iv.mean == pytest.approx(per_seed.mean()) and iv.se == pytest.approx(se) and iv.df == pytest.approx(df)
    assert iv.high - iv.mean == pytest.approx(stats.t.ppf(0.975, df) * se)
    assert iv.components == pytest.approx({"pretraining": v_seed, "test speakers": v_boot})
    one = pretrained_eer_interval(lab, [systems[0][0]], [systems[0][1]], enroll, test, num_resamples=100, seed=4)
    alone = speaker_bootstrap_eer(lab, *systems[0], enroll, test, num_resamples=100, seed=4)
    assert (one.low, one.high) == (alone.low, alone.high) and "pretraining not replicated" in one.method


def test_speaker_bootstrap_refuses_too_few_speakers_and_misaligned_lists():
    # targets only of speaker a, non-targets only between b and c: a resample needs all three (2/9)
    lab = np.array([True, False, True, False])
    with pytest.raises(ValueError, match="too few speakers"):
        speaker_bootstrap_eer(lab, np.arange(4.0), np.arange(4.0), ["a", "b", "a", "c"], ["a", "c", "a", "b"],
                              num_resamples=200)
    with pytest.raises(ValueError, match="test speakers"):
        speaker_bootstrap_eer(lab, np.arange(4.0), np.arange(4.0), ["a"] * 4, ["a"] * 3)
