"""Equal error rate from `score target|nontarget` lines, with Kaldi's compute-eer interface.

Prints the EER in percent on stdout (4 significant digits, as compute-eer) and
`compute_eer: Equal error rate (METHOD) is X%, at threshold T` on stderr. --method rocch (default)
is the ROC-convex-hull EER of BOSARIS/hyperion (utter.metrics.verification.compute_eer); --method
kaldi is Kaldi's compute-eer algorithm itself (the same number compute-eer prints on these scores).
The two can differ on the same scores (the hull interpolates between operating points).
"""
from __future__ import annotations

import sys

import numpy as np

from utter.bin.common import main_entry, make_parser
from utter.metrics.verification import EER_METHODS, compute_eer


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
    p.add_argument("--method", choices=EER_METHODS, default="rocch",
                   help="rocch: ROC-convex-hull EER (BOSARIS); kaldi: Kaldi's compute-eer")
    p.add_argument("scores", nargs="?", default="-", help="file of `score target|nontarget` lines, or - for stdin")
    return p


def main(args) -> None:
    scores, labels = read_score_labels(args.scores)
    eer, thr = compute_eer(scores, labels, return_threshold=True, method=args.method)
    name = "ROCCH" if args.method == "rocch" else "Kaldi compute-eer"
    print(f"compute_eer: Equal error rate ({name}) is {100 * eer:.6g}%, at threshold {thr:.6g}", file=sys.stderr)
    print(f"{100 * eer:.4g}")


if __name__ == "__main__":
    main_entry(main, build_parser)
