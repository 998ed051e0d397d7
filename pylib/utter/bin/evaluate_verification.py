"""Evaluate a score file: EER, minDCF/actDCF at several priors, Cllr; results JSON and DET PNG."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from utter.backend.io import align_scores, read_scores, read_trials
from utter.bin.common import main_entry, make_parser
from utter.metrics.results import write_results_json
from utter.metrics.verification import det_plot, verification_report

log = logging.getLogger("utter")


def build_parser():
    p = make_parser("Verification figures of a score file against labelled trials.", threads=False)
    p.add_argument("--p-targets", default="0.01,0.001,0.05", help="comma-separated target priors")
    p.add_argument("--c-miss", type=float, default=1.0, help="cost of a miss")
    p.add_argument("--c-fa", type=float, default=1.0, help="cost of a false alarm")
    p.add_argument("--name", default="", help="system name in the JSON and the DET legend (default: scores file)")
    p.add_argument("--results-json", default="", help="output JSON (default: <scores>.json)")
    p.add_argument("--det-png", default="", help="output DET plot (default: <scores>.det.png; 'none' to skip)")
    p.add_argument("scores", help="`enroll test score` file")
    p.add_argument("trials", help="`enroll test target|nontarget` trials")
    return p


def main(args) -> None:
    trials = read_trials(args.trials, require_labels=True)
    scores = align_scores(trials, *read_scores(args.scores), what=args.scores)
    p_targets = [float(p) for p in args.p_targets.split(",") if p]
    figures = verification_report(scores, trials.labels, p_targets, args.c_miss, args.c_fa)
    name = args.name or Path(args.scores).name
    out = {"system": name, "scores": str(args.scores), "trials": str(args.trials), **figures}
    json_path = args.results_json or f"{args.scores}.json"
    write_results_json(json_path, out)
    if args.det_png != "none":
        det_plot({name: (scores, trials.labels)}, args.det_png or f"{args.scores}.det.png", p_targets[0])
    log.info("%s: %s", name, json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))
    print(f"{name}: EER {figures['EER']:.2f}% " + " ".join(
        f"minDCF@{p:g} {figures[f'minDCF@{p:g}']:.4f}" for p in p_targets))


if __name__ == "__main__":
    main_entry(main, build_parser)
