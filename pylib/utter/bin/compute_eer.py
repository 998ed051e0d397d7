"""Equal error rate from `score target|nontarget` lines, as Kaldi's compute-eer.

Prints the EER in percent on stdout and `Equal error rate is X%, at threshold T` on stderr.
The EER is the ROC-convex-hull EER (see utter.metrics.verification.compute_eer); Kaldi's
compute-eer uses a discrete sweep, so the two can differ slightly on small lists.
"""
from __future__ import annotations

import sys

import numpy as np

from utter.bin.common import main_entry, make_parser
from utter.metrics.verification import compute_eer


def read_score_labels(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Read `score target|nontarget` lines from a file or '-' (stdin)."""
    f = sys.stdin if path == "-" else open(path, encoding="utf-8")
    name = "stdin" if path == "-" else path
    scores, labels = [], []
    with f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in ("target", "nontarget"):
                raise ValueError(f"{name}:{lineno}: expected '<score> target|nontarget', got '{line.strip()}'")
            try:
                scores.append(float(parts[0]))
            except ValueError:
                raise ValueError(f"{name}:{lineno}: score '{parts[0]}' is not a number") from None
            labels.append(parts[1] == "target")
    if not scores:
        raise ValueError(f"{name}: no scores")
    return np.array(scores), np.array(labels)


def build_parser():
    p = make_parser("Compute the equal error rate (%) of `score target|nontarget` lines.", threads=False)
    p.add_argument("scores", nargs="?", default="-", help="file of `score target|nontarget` lines, or - for stdin")
    return p


def main(args) -> None:
    scores, labels = read_score_labels(args.scores)
    eer, thr = compute_eer(scores, labels, return_threshold=True)
    print(f"compute_eer: Equal error rate is {100 * eer:.4f}%, at threshold {thr:.4f}", file=sys.stderr)
    print(f"{100 * eer:.4g}")


if __name__ == "__main__":
    main_entry(main, build_parser)
