#!/usr/bin/env python3
"""Back-ends that need no speaker labels, measured on the dev half of the real-voice corpus
(issue 24 point 4): cosine, cosine after subtracting the mean embedding of the unlabelled
training audio, AS-norm with a cohort of those recordings, and both.

Reads an egs/custom run (bench/realvoice/run_custom.sh) whose training audio is the half itself, so
each recording is left out of its own cohort (a cohort recording identical to a trial side would
be a target of itself). Prints EER and minDCF(0.01) of each, and the ratio to plain cosine:

    tools/venv/bin/python bench/realvoice/label_free_backends.py bench/out/custom_dev [--top-n 20]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from utter.backend.io import read_trials
from utter.data.kaldi_io import read_embeddings
from utter.metrics.verification import compute_eer, compute_min_dcf


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def asnorm(raw: np.ndarray, e: np.ndarray, t: np.ndarray, cohort_scores: np.ndarray, top_n: int) -> np.ndarray:
    """Adaptive S-norm of trial scores ``raw`` (sides ``e``, ``t`` index the rows of ``cohort_scores``:
    each utterance's cosine scores against the cohort, its own column already set to -inf)."""
    top = -np.sort(-cohort_scores, axis=1)[:, :top_n]
    mean, std = top.mean(1), np.maximum(top.std(1), 1e-12)
    return 0.5 * ((raw - mean[e]) / std[e] + (raw - mean[t]) / std[t])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", type=Path, help="an egs/custom copy after run_custom.sh (exp/<sys>/emb/eval)")
    p.add_argument("--system", default="dino_small")
    p.add_argument("--top-n", type=int, default=20, help="AS-norm top-N (egs/custom/conf/backend.conf)")
    args = p.parse_args()
    t0 = time.time()
    ids, x = read_embeddings(args.run_dir / "exp" / args.system / "emb" / "eval" / "xvector.scp")
    trials = read_trials(args.run_dir / "data" / "eval_trials" / "main", require_labels=True)
    pos = {u: i for i, u in enumerate(ids)}
    e = np.array([pos[u] for u in trials.enroll])
    t = np.array([pos[u] for u in trials.test])
    labels = np.asarray(trials.labels, bool)
    rows = []
    for name, centred in (("cosine", False), ("cosine, training mean subtracted", True)):
        z = unit(x - x.mean(0) if centred else x)
        raw = np.einsum("ij,ij->i", z[e], z[t])
        cohort = z @ z.T
        np.fill_diagonal(cohort, -np.inf)   # a recording is not in its own cohort
        rows.append((name, raw))
        rows.append((f"{name} + AS-norm (top {args.top_n})", asnorm(raw, e, t, cohort, args.top_n)))
    base = None
    print(f"{len(ids)} recordings, {labels.sum()} target and {(~labels).sum()} non-target trials")
    for name, s in rows:
        eer, dcf = 100 * compute_eer(s, labels), compute_min_dcf(s, labels, 0.01)
        base = base or (eer, dcf)
        print(f"{name:45s} EER {eer:6.2f}%  minDCF(0.01) {dcf:.3f}  (EER x{eer / base[0]:.2f} of cosine)")
    print(f"{time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
