"""Benchmark the scoring back-ends and verification metrics; prints times and ratios.

550k trials over 5k utterances with 256-d embeddings: cosine and PLDA scoring times (the
target: PLDA <= 2 s). EER + minDCF at three priors on 1M scores against a bare numpy sort of
the same scores (the floor; target <= 10x) and against a straightforward per-threshold Python
loop on a 20k sample, extrapolated to 1M (the loop is O(n * thresholds), so it scales as n^2).
Run: tools/venv/bin/python bench/backend.py [--threads 1]
"""
from __future__ import annotations

import argparse
import os
import time


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def loop_metrics(scores, labels, p_targets):
    """EER (threshold sweep) and minDCFs by looping over every distinct threshold in Python."""
    import numpy as np

    tar, non = scores[labels], scores[~labels]
    best_gap, eer = 2.0, None
    dcf = {p: float("inf") for p in p_targets}
    for t in np.unique(scores):
        pm, pf = float(np.mean(tar < t)), float(np.mean(non >= t))
        if abs(pm - pf) < best_gap:
            best_gap, eer = abs(pm - pf), (pm + pf) / 2
        for p in p_targets:
            dcf[p] = min(dcf[p], (p * pm + (1 - p) * pf) / min(p, 1 - p))
    return eer, dcf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="BLAS threads")
    ap.add_argument("--utts", type=int, default=5000)
    ap.add_argument("--trials", type=int, default=550_000)
    ap.add_argument("--dim", type=int, default=256)
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np

    from utter.backend.cosine import CosineScorer
    from utter.backend.io import Trials
    from utter.backend.plda import fit_plda, make_preprocessing
    from utter.backend.scoring import score_trials
    from utter.metrics.verification import P_TARGETS, compute_eer, compute_min_dcf, verification_report

    rng = np.random.default_rng(0)
    n_spk = 500
    spk = rng.integers(0, n_spk, args.utts)
    x = rng.normal(size=(n_spk, args.dim))[spk] + rng.normal(size=(args.utts, args.dim))
    train_spk = np.repeat(np.arange(1000), 8)
    train = rng.normal(size=(1000, args.dim))[train_spk] + rng.normal(size=(len(train_spk), args.dim))
    ids = [f"u{i}" for i in range(args.utts)]
    e, t = rng.integers(0, args.utts, args.trials), rng.integers(0, args.utts, args.trials)
    trials = Trials([ids[i] for i in e], [ids[i] for i in t])
    print(f"back-end: {args.trials} trials over {args.utts} utterances, {args.dim}-d, {args.threads} thread(s)")

    cos = CosineScorer().fit(train)
    t_cos = best_of(lambda: score_trials(cos, trials, ids, x))
    t0 = time.perf_counter()
    plda = fit_plda(train, train_spk, num_iters=5, pre=make_preprocessing(lda_dim=200))
    t_train = time.perf_counter() - t0
    t_plda = best_of(lambda: score_trials(plda, trials, ids, x))
    print(f"  cosine scoring            {t_cos:7.3f} s")
    print(f"  PLDA scoring (LDA 200)    {t_plda:7.3f} s   target <= 2 s: {'ok' if t_plda <= 2 else 'MISSED'}"
          f"   (training on 8000 x {args.dim}: {t_train:.2f} s, 5 EM iterations)")

    n = 1_000_000
    labels = rng.random(n) < 0.1
    scores = rng.normal(size=n) + 2.5 * labels
    t_sort = best_of(lambda: np.sort(scores))

    def metrics():
        return verification_report(scores, labels, P_TARGETS, calibration_metrics=False)

    t_metrics = best_of(metrics)
    t_separate = best_of(lambda: (compute_eer(scores, labels),
                                  [compute_min_dcf(scores, labels, p) for p in P_TARGETS]), 1)
    t_full = best_of(lambda: verification_report(scores, labels), 1)
    m = 20_000
    sub = rng.choice(n, m, replace=False)
    t0 = time.perf_counter()
    loop_eer, loop_dcf = loop_metrics(scores[sub], labels[sub], P_TARGETS)
    t_loop = (time.perf_counter() - t0) * (n / m) ** 2
    fast = verification_report(scores[sub], labels[sub], P_TARGETS, calibration_metrics=False)
    print(f"metrics on {n} scores ({int(labels.sum())} targets):")
    print(f"  bare numpy sort (floor)   {t_sort:7.3f} s")
    print(f"  EER + 3 minDCF (one sort) {t_metrics:7.3f} s   {t_metrics / t_sort:5.1f}x the sort   "
          f"target <= 10x: {'ok' if t_metrics <= 10 * t_sort else 'MISSED'}")
    print(f"  EER + 3 minDCF (4 calls)  {t_separate:7.3f} s   {t_separate / t_sort:5.1f}x the sort")
    print(f"  + actDCF, Cllr, minCllr   {t_full:7.3f} s")
    print(f"  Python threshold loop     {t_loop:7.0f} s   (20k sample x {(n / m) ** 2:.0f}, extrapolated), "
          f"{t_loop / t_metrics:,.0f}x slower")
    print(f"  check on the 20k sample: EER {fast['EER']:.3f}% vs loop {100 * loop_eer:.3f}%; "
          f"minDCF@0.01 {fast['minDCF@0.01']:.4f} vs loop {loop_dcf[0.01]:.4f}")


if __name__ == "__main__":
    main()
