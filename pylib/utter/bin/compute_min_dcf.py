"""Normalised minimum DCF of a score file against a trial list, as Kaldi's compute_min_dcf.py.

Prints `0.1234` (4 decimals) on stdout and the threshold on stderr. Ties are never split
(Kaldi's script can split tied scores, so it may report a slightly lower value on ties).
"""
from __future__ import annotations

import sys

from utter.backend.io import align_scores, read_scores, read_trials
from utter.bin.common import main_entry, make_parser
from utter.metrics.verification import min_dcf_at, operating_points


def build_parser():
    p = make_parser("Compute the normalised minimum detection cost of `enroll test score` lines.", threads=False)
    p.add_argument("--p-target", type=float, default=0.01, help="prior probability of a target trial")
    p.add_argument("--c-miss", type=float, default=1.0, help="cost of a miss")
    p.add_argument("--c-fa", type=float, default=1.0, help="cost of a false alarm")
    p.add_argument("scores", help="file of `enroll test score` lines")
    p.add_argument("trials", help="file of `enroll test target|nontarget` lines")
    return p


def main(args) -> None:
    trials = read_trials(args.trials, require_labels=True)
    scores = align_scores(trials, *read_scores(args.scores), what=args.scores)
    dcf, thr = min_dcf_at(operating_points(scores, trials.labels), args.p_target, args.c_miss, args.c_fa)
    print(f"compute_min_dcf: minDCF is {dcf:.4f} at threshold {thr:.4f} (p-target={args.p_target:g}, "
          f"c-miss={args.c_miss:g}, c-fa={args.c_fa:g})", file=sys.stderr)
    print(f"{dcf:.4f}")


if __name__ == "__main__":
    main_entry(main, build_parser)
