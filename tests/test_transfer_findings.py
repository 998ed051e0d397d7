"""Findings from result files (utter.transfer.findings): pairing, intervals, verdicts, the table.

References: the t interval of the paired differences computed here by hand from Student-t
quantiles (t_{0.975, 3} = 3.182446); the EER difference against compute_eer on the aligned
scores; the pairing against the (fold, seed) keys written in the fixtures.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from utter.metrics.verification import compute_eer
from utter.transfer.findings import (
    NO_INTERVAL,
    Finding,
    compare_summaries,
    compare_verification,
    findings_table,
    paired_run_figures,
)

F2 = Finding("F2", "affine first, then all, beats all at once", "affine-then-full", "full", "UA", "greater")


def _summary(path, runs):
    path.write_text(json.dumps({"runs": [{"fold": f, "seed": s, "UA": ua} for f, s, ua in runs]}))
    return path


def test_runs_are_paired_by_fold_and_seed(tmp_path):
    a = _summary(tmp_path / "a.json", [("1", 0, 0.50), ("2", 0, 0.60), ("1", 1, 0.55), ("3", 0, 0.4)])
    b = _summary(tmp_path / "b.json", [("2", 0, 0.50), ("1", 0, 0.45), ("1", 1, 0.50), ("4", 0, 0.9)])
    pairs = paired_run_figures(json.loads(a.read_text()), json.loads(b.read_text()), "UA")
    assert sorted(pairs) == [("1", 0, 0.50, 0.45), ("1", 1, 0.55, 0.50), ("2", 0, 0.60, 0.50)]


def test_t_interval_over_pairs(tmp_path):
    a = _summary(tmp_path / "a.json", [(str(k), 0, ua) for k, ua in enumerate([0.50, 0.62, 0.55, 0.58])])
    b = _summary(tmp_path / "b.json", [(str(k), 0, ua) for k, ua in enumerate([0.45, 0.50, 0.52, 0.50])])
    r = compare_summaries(F2, a, b)
    d = [5.0, 12.0, 3.0, 8.0]
    mean, sd = sum(d) / 4, math.sqrt(sum((x - 7.0) ** 2 for x in d) / 3)
    half = 3.182446 * sd / 2
    assert r.interval.mean == pytest.approx(mean)
    assert r.interval.low == pytest.approx(mean - half, abs=1e-4)
    assert r.runs == 4 and r.verdict == "reproduced"
    flipped = compare_summaries(F2, b, a)
    assert flipped.verdict == "reversed"


def test_seeds_of_a_fold_are_averaged_before_the_interval(tmp_path):
    """Folds 1 and 2, seeds 0 and 1: per-fold means 5 and 15 points, t over the two folds
    (t_{0.975, 1} = 12.706205); the per-run interval over the four pairs is narrower."""
    a = _summary(tmp_path / "a.json", [("1", 0, 0.50), ("1", 1, 0.60), ("2", 0, 0.70), ("2", 1, 0.70)])
    b = _summary(tmp_path / "b.json", [("1", 0, 0.50), ("1", 1, 0.50), ("2", 0, 0.55), ("2", 1, 0.55)])
    r = compare_summaries(F2, a, b)
    assert r.interval.mean == pytest.approx(10.0) and r.interval.n == 2 and r.runs == 4
    half = 12.706205 * math.sqrt(50.0) / math.sqrt(2)   # sd of (5, 15) = sqrt(50)
    assert r.interval.high == pytest.approx(10.0 + half, abs=1e-3)
    assert "2 folds" in r.interval.method
    d = [0.0, 10.0, 15.0, 15.0]
    sd = math.sqrt(sum((x - 10.0) ** 2 for x in d) / 3)
    assert r.per_run_interval.high == pytest.approx(10.0 + 3.182446 * sd / 2, abs=1e-4)
    one_fold = compare_summaries(F2, _summary(tmp_path / "c.json", [("1", 0, 0.5), ("1", 1, 0.6)]),
                                 _summary(tmp_path / "d.json", [("1", 0, 0.4), ("1", 1, 0.4)]))
    assert "2 seeds of one fold" in one_fold.interval.method


def test_undecided_and_single_run(tmp_path):
    a = _summary(tmp_path / "a.json", [("1", 0, 0.50), ("2", 0, 0.40)])
    b = _summary(tmp_path / "b.json", [("1", 0, 0.45), ("2", 0, 0.45)])
    assert compare_summaries(F2, a, b).verdict == "not decided at this size"
    one_a = _summary(tmp_path / "c.json", [("1", 0, 0.50)])
    one_b = _summary(tmp_path / "d.json", [("1", 0, 0.40)])
    r = compare_summaries(F2, one_a, one_b)
    assert r.verdict == NO_INTERVAL and r.runs == 1 and r.interval.mean == pytest.approx(10.0)


def test_unpairable_summaries_are_refused(tmp_path):
    a = _summary(tmp_path / "a.json", [("1", 0, 0.5)])
    b = _summary(tmp_path / "b.json", [("2", 0, 0.5)])
    with pytest.raises(ValueError, match="share no"):
        compare_summaries(F2, a, b)
    (tmp_path / "plain.json").write_text(json.dumps({"UA": 0.5}))
    with pytest.raises(ValueError, match="'runs' list"):
        compare_summaries(F2, tmp_path / "plain.json", b)


def test_verification_finding(tmp_path):
    rng = np.random.default_rng(0)
    spk = [f"id{k:02d}" for k in range(25)]
    utts = [f"{s}-u{j}" for s in spk for j in range(6)]
    utt2spk = {u: u.split("-")[0] for u in utts}
    trials, la = [], []
    for _ in range(1500):
        e, t = rng.choice(utts, 2, replace=False)
        if (e, t) not in trials:   # a trial list names each pair once
            trials.append((e, t))
            la.append(utt2spk[e] == utt2spk[t])
    la = np.array(la)
    (tmp_path / "trials").write_text("".join(f"{e} {t} {'target' if y else 'nontarget'}\n"
                                             for (e, t), y in zip(trials, la)))
    sa = np.where(la, 2.0, 0.0) + rng.normal(size=len(la))
    sb = np.where(la, 0.7, 0.0) + rng.normal(size=len(la))
    for name, s in (("a", sa), ("b", sb)):
        (tmp_path / name).write_text("".join(f"{e} {t} {v:.6f}\n" for (e, t), v in zip(trials, s)))
    f1 = Finding("F1", "DINO beats the x-vector", "dino", "xvector", "EER", "less")
    r = compare_verification(f1, tmp_path / "a", tmp_path / "b", tmp_path / "trials", utt2spk, num_resamples=200)
    sa6, sb6 = np.round(sa, 6), np.round(sb, 6)
    assert r.interval.mean == pytest.approx(100 * (compute_eer(sa6, la) - compute_eer(sb6, la)))
    assert r.verdict == "reproduced" and "25 speakers" in r.interval.method
    with pytest.raises(ValueError, match="no speaker"):
        compare_verification(f1, tmp_path / "a", tmp_path / "b", tmp_path / "trials", {})


def test_table(tmp_path):
    a = _summary(tmp_path / "a.json", [(str(k), 0, ua) for k, ua in enumerate([0.50, 0.58, 0.55])])
    b = _summary(tmp_path / "b.json", [(str(k), 0, ua) for k, ua in enumerate([0.45, 0.50, 0.49])])
    table = findings_table([compare_summaries(F2, a, b)])
    head, rule, row = table.splitlines()[:3]
    assert head.startswith("| finding |") and rule.count("|") == 6
    assert row.startswith("| F2: affine first") and "| 3 | reproduced |" in row
    assert "[+" in row and "UA" in row


def test_make_findings_program(tmp_path):
    """The stage program: specs parsed, a missing file listed as not run, a bad spec named."""
    import subprocess
    import sys

    a = _summary(tmp_path / "a.json", [(str(k), 0, ua) for k, ua in enumerate([0.50, 0.58, 0.55])])
    b = _summary(tmp_path / "b.json", [(str(k), 0, ua) for k, ua in enumerate([0.45, 0.50, 0.49])])
    spec = f"F2|affine first beats all at once|affine={a}|full={b}|UA|greater|runs"
    absent = f"F4|augmentation helps SER|aug={tmp_path / 'none.json'}|plain={b}|UA|greater|runs"
    cmd = [sys.executable, "-m", "utter.bin.make_findings", "--out", str(tmp_path / "f.md"),
           "--json", str(tmp_path / "f.json"), spec, absent]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["F2: reproduced", f"F4: not run (no {tmp_path / 'none.json'})"]
    rows = json.loads((tmp_path / "f.json").read_text())
    assert rows[0]["interval"]["n"] == 3 and rows[1]["interval"] is None
    bad = subprocess.run(cmd[:-2] + ["F9|too|few"], capture_output=True, text=True)
    assert bad.returncode == 1 and "F9|too|few" in bad.stderr and "7 '|'-separated fields" in bad.stderr
