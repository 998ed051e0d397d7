"""Verification metrics against brute force over every threshold, closed forms and naive PAV."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from utter.metrics.verification import (
    compute_act_dcf,
    compute_cllr,
    compute_eer,
    compute_min_cllr,
    compute_min_dcf,
    det_plot,
    kaldi_eer,
    verification_report,
)


def brute_points(scores, labels):
    """(P_fa, P_miss) at every distinct score as threshold (accept >= t), plus reject-all."""
    tar, non = scores[labels], scores[~labels]
    pts = [(float(np.mean(non >= t)), float(np.mean(tar < t))) for t in np.unique(scores)]
    pts.append((0.0, 1.0))
    return np.array(pts)


def brute_rocch_eer(pts):
    """Min over chords between points on opposite sides of the diagonal of their crossing (O(n^2))."""
    x, y = np.append(pts[:, 0], 1.0), np.append(pts[:, 1], 0.0)
    best = 1.0
    for i in np.flatnonzero(x >= y):
        for j in np.flatnonzero(x <= y):
            di, dj = y[i] - x[i], y[j] - x[j]
            e = x[i] if di == dj else x[i] + di / (di - dj) * (x[j] - x[i])
            best = min(best, e)
    return best


def tied_data(rng, n=600, step=0.25):
    labels = rng.random(n) < 0.3
    scores = rng.normal(size=n) + 1.5 * labels
    return np.round(scores / step) * step, labels       # coarse grid: many ties across classes


@pytest.mark.parametrize("seed", range(4))
def test_eer_equals_brute_force_hull_with_ties(seed):
    rng = np.random.default_rng(seed)
    scores, labels = tied_data(rng)
    assert compute_eer(scores, labels) == pytest.approx(brute_rocch_eer(brute_points(scores, labels)), abs=1e-12)


def test_eer_close_to_threshold_sweep_on_large_tied_set():
    rng = np.random.default_rng(5)
    scores, labels = tied_data(rng, n=40000, step=0.01)
    pts = brute_points(scores, labels)
    k = np.argmin(np.abs(pts[:, 0] - pts[:, 1]))
    sweep = pts[k].mean()
    assert abs(compute_eer(scores, labels) - sweep) < 1e-3


@pytest.mark.parametrize("p", [0.01, 0.001, 0.05, 0.5])
@pytest.mark.parametrize("costs", [(1, 1), (10, 1), (1, 3)])
def test_min_dcf_equals_brute_force(p, costs):
    rng = np.random.default_rng(1)
    scores, labels = tied_data(rng, n=3000, step=0.1)
    c_miss, c_fa = costs
    pts = brute_points(scores, labels)
    brute = min(np.min(c_miss * p * pts[:, 1] + c_fa * (1 - p) * pts[:, 0]), c_fa * (1 - p))
    brute /= min(c_miss * p, c_fa * (1 - p))
    assert compute_min_dcf(scores, labels, p, c_miss, c_fa) == pytest.approx(brute, abs=1e-12)


def test_eer_matches_two_gaussians():
    """Targets N(d, 1), nontargets N(0, 1): EER = Phi(-d/2); n large enough for ~0.2% error."""
    rng = np.random.default_rng(2)
    d = 2.0
    tar, non = rng.normal(d, 1, 200000), rng.normal(0, 1, 200000)
    scores = np.concatenate([tar, non])
    labels = np.concatenate([np.ones(len(tar), bool), np.zeros(len(non), bool)])
    se = np.sqrt(norm.cdf(-d / 2) * (1 - norm.cdf(-d / 2)) / len(tar))
    assert abs(compute_eer(scores, labels) - norm.cdf(-d / 2)) < 4 * se


def test_perfect_and_useless_systems():
    labels = np.array([1, 1, 0, 0], bool)
    assert compute_eer(np.array([2.0, 3.0, 0.0, 1.0]), labels) == 0.0
    assert compute_eer(np.zeros(4), labels) == pytest.approx(0.5)
    assert compute_min_dcf(np.zeros(4), labels, 0.01) == pytest.approx(1.0)


def naive_pav_min_cllr(scores, labels):
    """Pool tied scores, PAV the target fraction, convert posteriors to LLRs, compute Cllr."""
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], labels[order].astype(float)
    blocks = []   # [n_tar, n_total]
    for v in np.unique(s):
        m = s == v
        blocks.append([y[m].sum(), m.sum()])
    merged = []
    for b in blocks:
        merged.append(list(b))
        while len(merged) > 1 and merged[-2][0] / merged[-2][1] >= merged[-1][0] / merged[-1][1]:
            t, n = merged.pop()
            merged[-1][0] += t
            merged[-1][1] += n
    nt, nn = labels.sum(), (~labels).sum()
    cllr_t = cllr_n = 0.0
    for t, n in merged:
        p = t / n
        if 0 < p < 1:
            llr = np.log(p / (1 - p)) - np.log(nt / nn)
            cllr_t += t * np.log2(1 + np.exp(-llr))
            cllr_n += (n - t) * np.log2(1 + np.exp(llr))
    return 0.5 * (cllr_t / nt + cllr_n / nn)


@pytest.mark.parametrize("seed", range(3))
def test_min_cllr_equals_naive_pav(seed):
    rng = np.random.default_rng(seed)
    scores, labels = tied_data(rng, n=2000, step=0.05)
    assert compute_min_cllr(scores, labels) == pytest.approx(naive_pav_min_cllr(scores, labels), abs=1e-9)


def test_cllr_and_act_dcf_closed_forms():
    scores = np.array([2.0, -1.0, 0.5, -3.0])
    labels = np.array([1, 1, 0, 0], bool)
    want = 0.5 * (np.mean(np.log2(1 + np.exp(-scores[:2]))) + np.mean(np.log2(1 + np.exp(scores[2:]))))
    assert compute_cllr(scores, labels) == pytest.approx(want)
    # p = 0.5: threshold 0: one miss (-1), one false alarm (0.5): cost 0.5*0.5+0.5*0.5, norm 0.5
    assert compute_act_dcf(scores, labels, 0.5) == pytest.approx(1.0)
    # perfectly calibrated Gaussian LLRs: Cllr close to minCllr
    rng = np.random.default_rng(3)
    tar, non = rng.normal(2, 2, 50000), rng.normal(-2, 2, 50000)   # llr of N(+-2, 2^2) is the score itself
    s = np.concatenate([tar, non])
    lab = np.concatenate([np.ones(50000, bool), np.zeros(50000, bool)])
    assert compute_cllr(s, lab) - compute_min_cllr(s, lab) < 0.01


def test_report_keys_and_bad_input():
    rng = np.random.default_rng(4)
    scores, labels = tied_data(rng)
    rep = verification_report(scores, labels)
    for key in ("EER", "minDCF@0.01", "minDCF@0.001", "minDCF@0.05", "actDCF@0.01", "Cllr", "minCllr"):
        assert key in rep
    assert rep["EER"] == pytest.approx(100 * compute_eer(scores, labels))
    with pytest.raises(ValueError, match="target and nontarget"):
        compute_eer(np.ones(3), np.ones(3, bool))
    with pytest.raises(ValueError, match="not finite"):
        compute_eer(np.array([np.nan, 1.0]), np.array([1, 0]))
    with pytest.raises(ValueError, match="labels"):
        compute_eer(np.ones(2), np.array([2, 0]))
    with pytest.raises(ValueError, match="p_target"):
        compute_min_dcf(scores, labels, 1.5)


def test_det_plot_writes_png(tmp_path):
    rng = np.random.default_rng(6)
    systems = {}
    for name, d in (("good", 3.0), ("bad", 1.0)):
        labels = rng.random(3000) < 0.2
        systems[name] = (rng.normal(size=3000) + d * labels, labels)
    det_plot(systems, tmp_path / "det.png")
    assert (tmp_path / "det.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def brute_kaldi_eer(scores, labels):
    """Kaldi compute-eer's documented definition, literally: float scores sorted; for target
    position p = 0, 1, ... (while p + 1 < T) the nontarget at the same error rate is at
    N - 1 - int(N * p / T) (at least 0); the first p whose target is above it is the cut."""
    tar = sorted(np.float32(x) for x, y in zip(scores, labels) if y)
    non = sorted(np.float32(x) for x, y in zip(scores, labels) if not y)
    t, n = len(tar), len(non)
    p = 0
    while p + 1 < t:
        q = max(n - 1 - int(n * p * 1.0 / t), 0)
        if non[q] < tar[p]:
            break
        p += 1
    return p / t, float(tar[p])


def test_kaldi_eer_by_hand_and_against_its_definition():
    # T = 4 targets, N = 3 nontargets. p=0: non[2]=0.6 < 0.1? no; p=1: non[2] < 0.5? no;
    # p=2: int(3*2/4)=1 -> non[1]=0.2 < 0.9: EER 2/4, threshold 0.9. The hull's EER is 2/7.
    s = np.array([0.1, 0.5, 0.9, 1.3, -1, 0.2, 0.6])
    y = np.array([1, 1, 1, 1, 0, 0, 0], bool)
    eer, thr = kaldi_eer(s, y)
    assert eer == 0.5 and thr == pytest.approx(0.9)
    assert compute_eer(s, y, method="kaldi") == 0.5
    assert compute_eer(s, y) == pytest.approx(2 / 7)
    rng = np.random.default_rng(5)
    for trial in range(30):
        n = int(rng.integers(2, 400))
        labels = rng.random(n) < rng.uniform(0.1, 0.9)
        labels[:2] = [True, False]
        scores = rng.normal(size=n) + rng.uniform(0, 3) * labels
        if trial % 3 == 0:
            scores = np.round(scores * 2) / 2          # ties
        assert kaldi_eer(scores, labels) == pytest.approx(brute_kaldi_eer(scores, labels), abs=0, rel=1e-7)


def test_compute_eer_program_names_its_method(tmp_path):
    import subprocess
    import sys
    f = tmp_path / "scores"
    f.write_text("0.1 target\n0.5 target\n0.9 target\n1.3 target\n-1 nontarget\n0.2 nontarget\n0.6 nontarget\n")
    r = subprocess.run([sys.executable, "-m", "utter.bin.compute_eer", "--method", "kaldi", str(f)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "50" and "Equal error rate (Kaldi compute-eer) is 50%, at threshold 0.9" in r.stderr
    r = subprocess.run([sys.executable, "-m", "utter.bin.compute_eer", str(f)], capture_output=True, text=True)
    assert r.stdout.strip() == "28.57" and "Equal error rate (ROCCH) is 28.5714%" in r.stderr
    with pytest.raises(ValueError, match="unknown EER method"):
        compute_eer(np.array([0.0, 1.0]), np.array([0, 1]), method="bogus")
