"""Apply quality-aware calibration to a score file; with labelled trials, report Cllr and actual DCF
before (raw scores, score-only calibration) and after (quality-aware)."""
from __future__ import annotations

import logging

from utter.bin.common import main_entry, make_parser
from utter.bin.train_quality_calibration import quality_inputs

log = logging.getLogger("utter")


def build_parser():
    p = make_parser(__doc__.splitlines()[0])
    p.add_argument("--scorer", default="", help="scorer model used for the cohort scores in training (default: cosine)")
    p.add_argument("--linear-model", default="", help="score-only calibration to compare with (npz)")
    p.add_argument("--trials", default="", help="labelled trials: write <scores-out>.json with the figures")
    p.add_argument("--results", default="", help="where the figures go (default <scores-out>.json)")
    p.add_argument("model", help="quality calibration model (npz)")
    p.add_argument("scores_in", help="`enroll test score` file")
    p.add_argument("emb_scp", help="embeddings of the trial utterances")
    p.add_argument("data_dir", help="data dir of the trial utterances (utt2dur or utt2num_frames)")
    p.add_argument("cohort_scp", help="the cohort embeddings used in training")
    p.add_argument("scores_out", help="calibrated scores (LLRs)")
    return p


def main(args) -> None:
    from utter.backend.calibration import LinearCalibration
    from utter.backend.io import align_scores, read_scores, read_trials, write_scores
    from utter.backend.quality import QualityCalibration
    from utter.metrics.results import write_results_json
    from utter.transfer.verification import calibration_report

    model = QualityCalibration.load(args.model)
    args.top_n = model.top_n
    enroll, test, scores = read_scores(args.scores_in)
    llr = model(scores, quality_inputs(args, enroll, test))
    write_scores(args.scores_out, enroll, test, llr)
    if not args.trials:
        return
    trials = read_trials(args.trials, require_labels=True)
    labels = trials.labels
    raw = align_scores(trials, enroll, test, scores, what=args.scores_in)
    figures = {"trials": args.trials, "num_trials": len(trials), "raw": calibration_report(raw, labels),
               "quality": calibration_report(align_scores(trials, enroll, test, llr, what=args.scores_out), labels)}
    if args.linear_model:
        figures["score_only"] = calibration_report(LinearCalibration.load(args.linear_model)(raw), labels)
    write_results_json(args.results or args.scores_out + ".json", figures)
    before = figures.get("score_only", figures["raw"])
    print(f"{args.trials}: Cllr {before['cllr']:.4f} -> {figures['quality']['cllr']:.4f}, "
          f"actDCF(0.01) {before['act_dcf_0.01']:.4f} -> {figures['quality']['act_dcf_0.01']:.4f}")


if __name__ == "__main__":
    main_entry(main, build_parser)
