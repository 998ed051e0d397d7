"""Paired comparisons (utter.metrics.paired) against independent references.

References: the t interval against published Student-t quantiles (t_{0.975, 4} = 2.776445,
t_{0.975, 14} = 2.144787, from any statistics table) and hand arithmetic; the bootstrap against
a brute-force loop written here (plain Python recall per class, its own resampling with the same
generator draws); verdicts by their definition.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from utter.metrics.paired import (
    REPRODUCED,
    REVERSED,
    UNDECIDED,
    Interval,
    paired_bootstrap,
    speaker_bootstrap_eer,
    t_interval,
    unweighted_accuracy,
    verdict,
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
    iv = speaker_bootstrap_eer(lab, good, bad, spk, num_resamples=200)
    assert iv.mean == pytest.approx(100 * (compute_eer(good, lab) - compute_eer(bad, lab)))
    assert iv.high < 0          # the better system has the lower EER, decided
    assert iv.n == 30
    same = speaker_bootstrap_eer(lab, good, good, spk, num_resamples=50)
    assert same.low == same.high == 0.0


def test_verdicts():
    assert verdict(Interval(2, 1, 3, "", 3), "greater") == REPRODUCED
    assert verdict(Interval(-2, -3, -1, "", 3), "greater") == REVERSED
    assert verdict(Interval(0.5, -1, 2, "", 3), "greater") == UNDECIDED
    assert verdict(Interval(-2, -3, -1, "", 3), "less") == REPRODUCED
    assert verdict(Interval(2, 1, 3, "", 3), "less") == REVERSED
    with pytest.raises(ValueError):
        verdict(Interval(0, 0, 0, "", 1), "better")
