"""Train linear calibration (scores [+ log durations] -> LLR) on a separate labelled trial list."""
from __future__ import annotations

from utter.backend.calibration import LinearCalibration
from utter.backend.io import align_scores, read_scores, read_trials
from utter.bin.common import main_entry, make_parser
from utter.transfer.verification import trial_quality


def build_parser():
    p = make_parser("Fit prior-weighted logistic-regression calibration of scores to LLRs.")
    p.add_argument("--prior", type=float, default=0.5, help="effective target prior of the objective")
    p.add_argument("--utt2dur", default="", help="utt2dur: add min/max log durations as quality measures")
    p.add_argument("--enrollment", default="", help="spk2utt-style enrolment file (durations of models)")
    p.add_argument("--model", default="", metavar="MODEL.pt",
                   help="the embedding model whose scores these are: its path and SHA-256 are recorded, and "
                        "utter verify refuses the calibration with another model")
    p.add_argument("--scorer", default="", metavar="NAME",
                   help="what made the scores (cosine, plda, asnorm ...): recorded, and utter verify (cosine) "
                        "refuses a calibration of other scores")
    p.add_argument("scores", help="`enroll test score` file of the calibration trials")
    p.add_argument("trials", help="calibration trials `enroll test target|nontarget`")
    p.add_argument("output", metavar="model", help="output calibration model (npz)")
    return p


def main(args) -> None:
    trials = read_trials(args.trials, require_labels=True)
    scores = align_scores(trials, *read_scores(args.scores), what=args.scores)
    quality = trial_quality(trials.enroll, trials.test, args.utt2dur, args.enrollment or None) if args.utt2dur else None
    trained_for = {"scorer": args.scorer} if args.scorer else {}
    if args.model:
        from utter.stage import file_digest

        trained_for.update(model=args.model, model_sha256=file_digest(args.model))
    cal = LinearCalibration(trained_for=trained_for).fit(scores, trials.labels, quality, args.prior)
    cal.save(args.output)


if __name__ == "__main__":
    main_entry(main, build_parser)
