"""Apply a trained calibration to a score file: `enroll test score` in, `enroll test llr` out."""
from __future__ import annotations

from utter.backend.calibration import LinearCalibration
from utter.backend.io import read_scores, write_scores
from utter.bin.common import main_entry, make_parser
from utter.transfer.verification import trial_quality


def build_parser():
    p = make_parser("Map scores to calibrated log-likelihood ratios.")
    p.add_argument("--utt2dur", default="", help="utt2dur, when the model was trained with durations")
    p.add_argument("--enrollment", default="", help="spk2utt-style enrolment file (durations of models)")
    p.add_argument("model", help="calibration model from train_calibration (npz)")
    p.add_argument("scores_in", help="`enroll test score` file")
    p.add_argument("scores_out", help="calibrated scores")
    return p


def main(args) -> None:
    cal = LinearCalibration.load(args.model)
    enroll, test, scores = read_scores(args.scores_in)
    quality = trial_quality(enroll, test, args.utt2dur, args.enrollment or None) if args.utt2dur else None
    if cal.num_quality and quality is None:
        raise ValueError(f"{args.model} was trained with duration quality measures: give --utt2dur")
    write_scores(args.scores_out, enroll, test, cal(scores, quality))


if __name__ == "__main__":
    main_entry(main, build_parser)
