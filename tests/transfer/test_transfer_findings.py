"""Findings from result files (utter.transfer.findings): pairing over pretraining seeds and folds,
declared tests, Holm, verdict words, rows that cannot be decided, the table and the program.

References: the interval of a grid of summaries against utter.metrics.paired.crossed_interval /
nested_interval on the matrix of per-cell differences written out here by hand (those functions
are tested against closed forms and by coverage in test_metrics_paired.py); Holm against hand
arithmetic; the EER difference against compute_eer on the aligned scores; the pairing against the
(fold, seed) keys written in the fixtures.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from utter.metrics.paired import crossed_interval, nested_interval
from utter.metrics.verification import compute_eer
from utter.report.spec import parse_declaration
from utter.transfer.findings import (
    AGREES,
    DISAGREES,
    Declaration,
    Finding,
    adjust_and_decide,
    compare_summaries,
    compare_verification,
    findings_table,
    paired_run_figures,
)

F2 = Finding("F2", "affine first, then all, beats all at once", "affine-then-full", "full", "UA", "greater",
             Declaration(role="primary", delta=2.0))


def _summary(path, runs, figure="UA"):
    path.write_text(json.dumps({"runs": [{"fold": f, "seed": s, figure: v} for f, s, v in runs]}))
    return path


def _grid(tmp_path, name, values, seeds=(0,), figure="UA"):
    """One summary per pretraining seed: values[p][k] is fold k+1's figure (every seed the same)."""
    return [_summary(tmp_path / f"{name}{p}.json", [(str(k + 1), s, v) for k, v in enumerate(row) for s in seeds],
                     figure) for p, row in enumerate(values)]


def test_runs_are_paired_by_fold_and_seed(tmp_path):
    a = _summary(tmp_path / "a.json", [("1", 0, 0.50), ("2", 0, 0.60), ("1", 1, 0.55), ("3", 0, 0.4)])
    b = _summary(tmp_path / "b.json", [("2", 0, 0.50), ("1", 0, 0.45), ("1", 1, 0.50), ("4", 0, 0.9)])
    pairs = paired_run_figures(json.loads(a.read_text()), json.loads(b.read_text()), "UA")
    assert sorted(pairs) == [("1", 0, 0.50, 0.45), ("1", 1, 0.55, 0.50), ("2", 0, 0.60, 0.50)]


def test_crossed_grid_is_the_crossed_interval_of_the_cell_means(tmp_path):
    """3 pretraining seeds x 4 folds x 2 fine-tuning seeds: each cell the mean of its two seeds."""
    rng = np.random.default_rng(3)
    fa = rng.uniform(0.4, 0.7, (3, 4, 2))
    fb = rng.uniform(0.4, 0.7, (3, 4, 2))
    a = [_summary(tmp_path / f"a{p}.json", [(str(k + 1), s, fa[p, k, s]) for k in range(4) for s in range(2)])
         for p in range(3)]
    b = [_summary(tmp_path / f"b{p}.json", [(str(k + 1), s, fb[p, k, s]) for k in range(4) for s in range(2)])
         for p in range(3)]
    r = compare_summaries(F2, a, b)
    expected = crossed_interval(100 * (fa - fb).mean(axis=2))
    assert r.interval.mean == pytest.approx(expected.mean) and r.interval.low == pytest.approx(expected.low)
    assert r.interval.high == pytest.approx(expected.high)
    assert (r.design.pretrain_seeds, r.design.folds, r.design.seeds, r.design.runs) == (3, 4, 2, 24)
    assert r.design.words() == "3 pretraining x 4 folds x 2 seeds"
    assert not r.no_verdict and np.isfinite(r.p_raw)


def test_nested_folds_use_the_nested_interval(tmp_path):
    nested = Finding("F1", "DINO beats x-vector", "DINO", "x-vector", "WA", "greater",
                     Declaration(role="primary", folds="nested"))
    a = _grid(tmp_path, "a", [[0.6, 0.7, 0.5], [0.55, 0.6, 0.65], [0.7, 0.7, 0.6]], figure="WA")
    b = _grid(tmp_path, "b", [[0.5, 0.6, 0.5], [0.50, 0.5, 0.60], [0.6, 0.5, 0.6]], figure="WA")
    r = compare_summaries(nested, a, b)
    expected = nested_interval([[10, 10, 0], [5, 10, 5], [10, 20, 0]])
    assert r.interval.mean == pytest.approx(expected.mean) and r.interval.high == pytest.approx(expected.high)


@pytest.mark.parametrize("values_a,values_b,words", [
    ([[0.70, 0.72, 0.69, 0.75]] * 2 + [[0.71, 0.70, 0.74, 0.72]], [[0.50, 0.52, 0.51, 0.50]] * 3, AGREES),
    ([[0.50, 0.52, 0.51, 0.50]] * 3, [[0.70, 0.72, 0.69, 0.75]] * 2 + [[0.71, 0.70, 0.74, 0.72]], DISAGREES),
    ([[0.501, 0.499, 0.502, 0.500], [0.500, 0.501, 0.499, 0.500], [0.502, 0.500, 0.500, 0.499]],
     [[0.500] * 4] * 3, "equivalent within ±2"),
    ([[0.6, 0.3, 0.5, 0.45], [0.4, 0.6, 0.5, 0.3], [0.5, 0.5, 0.2, 0.7]], [[0.5] * 4] * 3, "not decided"),
])
def test_superiority_verdict_words(tmp_path, values_a, values_b, words):
    r = adjust_and_decide([compare_summaries(F2, _grid(tmp_path, "a", values_a), _grid(tmp_path, "b", values_b))])[0]
    assert r.verdict.startswith(words), r.verdict
    if words == "not decided":
        assert "smallest detectable difference" in r.verdict


def test_noninferiority(tmp_path):
    f3 = Finding("F3", "long chunks not worse", "300", "100", "UA", "greater",
                 Declaration(role="primary", test="noninferiority", margin=2.0, delta=2.0))
    near = [[0.501, 0.503, 0.499, 0.502], [0.500, 0.502, 0.501, 0.503], [0.502, 0.499, 0.500, 0.501]]
    r = adjust_and_decide([compare_summaries(f3, _grid(tmp_path, "a", near), _grid(tmp_path, "b", [[0.5] * 4] * 3))])
    assert r[0].verdict == "non-inferior (margin 2)"
    worse = [[0.40, 0.41, 0.39, 0.40], [0.41, 0.40, 0.40, 0.42], [0.39, 0.40, 0.41, 0.40]]
    r = adjust_and_decide([compare_summaries(f3, _grid(tmp_path, "c", worse), _grid(tmp_path, "d", [[0.5] * 4] * 3))])
    assert r[0].verdict == "inferior beyond the margin 2"


def test_holm_over_the_primary_rows_only(tmp_path):
    """Two primary rows and an exploratory one: the primaries' p adjusted as Holm's step-down
    (smaller p x 2, larger p x 1, made monotone), the exploratory row's raw p kept."""
    grids = [([[0.60, 0.63, 0.58, 0.61]] * 2 + [[0.62, 0.59, 0.60, 0.61]], [[0.50] * 4] * 3),
             ([[0.53, 0.49, 0.55, 0.50], [0.54, 0.52, 0.50, 0.53], [0.50, 0.55, 0.52, 0.51]], [[0.50] * 4] * 3),
             ([[0.53, 0.49, 0.55, 0.50], [0.54, 0.52, 0.50, 0.53], [0.50, 0.55, 0.52, 0.51]], [[0.50] * 4] * 3)]
    roles = ["primary", "primary", "exploratory"]
    rows = [compare_summaries(Finding(f"F{i}", "c", "a", "b", "UA", "greater", Declaration(role=role)),
                              _grid(tmp_path, f"a{i}", ga), _grid(tmp_path, f"b{i}", gb))
            for i, ((ga, gb), role) in enumerate(zip(grids, roles))]
    out = adjust_and_decide(rows)
    p0, p1 = rows[0].p_raw, rows[1].p_raw
    lo, hi = sorted([p0, p1])
    adj_lo, adj_hi = min(1.0, 2 * lo), min(1.0, max(2 * lo, hi))
    assert sorted([out[0].p_adjusted, out[1].p_adjusted]) == pytest.approx([adj_lo, adj_hi])
    assert np.isnan(out[2].p_adjusted) and out[2].verdict.endswith("(exploratory)")


def test_rows_that_cannot_be_decided_say_why(tmp_path):
    one = compare_summaries(F2, _grid(tmp_path, "a", [[0.6, 0.7, 0.65, 0.6]]), _grid(tmp_path, "b", [[0.5] * 4]))
    assert one.verdict.startswith("no verdict: pretraining not replicated (1 pretraining seed")
    assert one.interval is not None and np.isfinite(one.interval.low)   # the interval is still shown
    two_folds = compare_summaries(F2, _grid(tmp_path, "c", [[0.6, 0.7]] * 3), _grid(tmp_path, "d", [[0.5, 0.5]] * 3))
    assert "2 folds (3 or more needed)" in two_folds.verdict
    flat = compare_summaries(F2, _grid(tmp_path, "e", [[0.6] * 4] * 3), _grid(tmp_path, "f", [[0.5] * 4] * 3))
    assert "zero spread" in flat.verdict
    # a 5-fold A against a 2-fold B: not decided on the 2 common folds without a word
    a = _grid(tmp_path, "g", [[0.6, 0.7, 0.5, 0.6, 0.7]] * 3)
    b = _grid(tmp_path, "h", [[0.5, 0.5]] * 3)
    unpaired = compare_summaries(F2, a, b)
    assert "unpaired runs" in unpaired.verdict and "only A has 3" in unpaired.verdict
    fewer = compare_summaries(F2, a, b[:2])
    assert fewer.verdict == "no verdict: unpaired pretraining: 3 result files for A, 2 for B"


def test_a_nan_marks_the_row_and_aborts_nothing(tmp_path):
    a = _grid(tmp_path, "a", [[0.6, 0.7, 0.65, 0.6]] * 3)
    _summary(a[1], [("1", 0, 0.6), ("2", 0, float("nan")), ("3", 0, 0.65), ("4", 0, 0.6)])
    r = compare_summaries(F2, a, _grid(tmp_path, "b", [[0.5] * 4] * 3))
    assert "not a number in 1 run(s)" in r.verdict and "fold 2" in r.verdict
    table = findings_table(adjust_and_decide([r]))
    assert "no verdict" in table


def test_verification_finding_over_pretraining_seeds(tmp_path):
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
    paths = {"a": [], "b": []}
    eers = {"a": [], "b": []}
    for p in range(3):
        for name, gap in (("a", 2.0), ("b", 0.7)):
            s = np.round(np.where(la, gap, 0.0) + rng.normal(size=len(la)), 6)
            path = tmp_path / f"{name}{p}"
            path.write_text("".join(f"{e} {t} {v:.6f}\n" for (e, t), v in zip(trials, s)))
            paths[name].append(path)
            eers[name].append(compute_eer(s, la))
    f1 = Finding("F1", "the x-vector verifies better", "x-vector", "DINO", "EER", "less",
                 Declaration(role="primary", delta=1.0))
    r = compare_verification(f1, paths["a"], paths["b"], tmp_path / "trials", utt2spk, num_resamples=200)
    assert r.interval.mean == pytest.approx(100 * np.mean(np.array(eers["a"]) - np.array(eers["b"])))
    assert "25 speakers" in r.interval.method and r.design.words() == "3 pretraining"
    assert adjust_and_decide([r])[0].verdict == AGREES
    with pytest.raises(ValueError, match="no speaker"):
        compare_verification(f1, paths["a"], paths["b"], tmp_path / "trials", {})


def test_declaration_is_checked():
    assert parse_declaration("role=primary,test=noninferiority,margin=2,delta=2").margin == 2.0
    for bad, match in (("role=main", "role"), ("test=noninferiority", "margin"), ("delta=-1", "delta"),
                       ("folds=sideways", "folds"), ("colour=red", "expected")):
        with pytest.raises(ValueError, match=match):
            parse_declaration(bad)


def test_table(tmp_path):
    r = adjust_and_decide([compare_summaries(F2, _grid(tmp_path, "a", [[0.60, 0.63, 0.58, 0.61]] * 3),
                                             _grid(tmp_path, "b", [[0.5, 0.52, 0.49, 0.5]] * 3))])
    table = findings_table(r, simulated=True)
    assert table.startswith("**Simulated corpora**")
    head, rule, row = [line for line in table.splitlines() if line.startswith("|")][:3]
    assert head.startswith("| finding | row |") and rule.count("|") == 9
    assert row.startswith("| F2: affine first") and "| primary (superiority, δ 2) |" in row
    assert "| 3 pretraining x 4 folds x 1 seed |" in row and "[+" in row and "UA" in row


def test_make_findings_program(tmp_path):
    """The stage program: specs with one path per pretraining seed parsed, a missing file listed as
    not run, a bad spec or declaration named."""
    a = _grid(tmp_path, "a", [[0.50, 0.58, 0.55]] * 2)
    b = _grid(tmp_path, "b", [[0.45, 0.50, 0.49]] * 2)
    spec = f"F2|affine first beats all at once|affine={a[0]},{a[1]}|full={b[0]},{b[1]}|UA|greater|runs|role=primary"
    absent = f"F4|augmentation helps SER|aug={tmp_path / 'none.json'}|plain={b[0]}|UA|greater|runs"
    cmd = [sys.executable, "-m", "utter.bin.make_findings", "--out", str(tmp_path / "f.md"),
           "--json", str(tmp_path / "f.json"), spec, absent]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("F2: ") and lines[1] == f"F4: not run (no {tmp_path / 'none.json'})"
    rows = json.loads((tmp_path / "f.json").read_text())
    assert rows[0]["design"]["pretrain_seeds"] == 2 and rows[0]["declaration"]["role"] == "primary"
    assert rows[1]["interval"] is None
    bad = subprocess.run(cmd[:-2] + ["F9|too|few"], capture_output=True, text=True)
    assert bad.returncode == 1 and "F9|too|few" in bad.stderr and "7 or 8 '|'-separated fields" in bad.stderr
    bad = subprocess.run(cmd[:-2] + [spec.replace("role=primary", "role=main")], capture_output=True, text=True)
    assert bad.returncode == 1 and "declaration 'role=main'" in bad.stderr
