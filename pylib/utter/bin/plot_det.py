"""DET curves of several systems' scores on one labelled trial list, in one PNG (probit axes)."""
from __future__ import annotations

from utter.backend.io import align_scores, read_scores, read_trials
from utter.bin.common import main_entry, make_parser
from utter.metrics.verification import det_plot


def build_parser():
    p = make_parser("DET curves of several score files on one labelled trial list, in one PNG.", threads=False)
    p.add_argument("--p-target", type=float, default=0.01, help="prior of the minDCF point marked on each curve")
    p.add_argument("--title", default="", help="plot title (default: the trial list)")
    p.add_argument("trials", help="`enroll test target|nontarget` trials")
    p.add_argument("out_png", help="the PNG to write")
    p.add_argument("systems", nargs="+", help="NAME=SCORES, one per system (`enroll test score` files)")
    return p


def main(args) -> None:
    trials = read_trials(args.trials, require_labels=True)
    systems = {}
    for spec in args.systems:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"bad system '{spec}': expected NAME=SCORES")
        systems[name] = (align_scores(trials, *read_scores(path), what=path), trials.labels)
    det_plot(systems, args.out_png, args.p_target, args.title or f"DET: {args.trials}")


if __name__ == "__main__":
    main_entry(main, build_parser)
