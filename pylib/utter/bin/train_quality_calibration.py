"""Train quality-aware calibration: logistic regression on [score, log durations, cohort top-N stats].

  python -m utter.bin.train_quality_calibration --results cal/train.json scores trials \\
      exp/x/emb/heldout/xvector.scp data/heldout exp/x/emb/train/spk_xvector.scp cal/quality_calibration.npz

Trained on held-out trials (VoxCeleb2-dev speakers kept out of training; never the evaluation
lists). Also fits the score-only calibration (--linear-out) as the baseline it is compared with.
"""
from __future__ import annotations

import logging

from utter.bin.common import main_entry, make_parser

log = logging.getLogger("utter")


def build_parser():
    p = make_parser(__doc__.splitlines()[0])
    add_quality_arguments(p)
    p.add_argument("--prior", type=float, default=0.5, help="effective target prior of the objective")
    p.add_argument("--linear-out", default="", help="also write the score-only calibration here (npz)")
    p.add_argument("--results", default="", help="JSON of Cllr/actDCF on the training trials: raw, score-only, quality")
    p.add_argument("scores", help="`enroll test score` file of the calibration trials")
    p.add_argument("trials", help="calibration trials `enroll test target|nontarget`")
    p.add_argument("emb_scp", help="embeddings of the trial utterances (xvector.scp)")
    p.add_argument("data_dir", help="data dir of the trial utterances (utt2dur or utt2num_frames)")
    p.add_argument("cohort_scp", help="cohort embeddings (e.g. training speaker means, spk_xvector.scp)")
    p.add_argument("model", help="output quality calibration model (npz)")
    return p


def add_quality_arguments(p) -> None:
    p.add_argument("--top-n", type=int, default=300, help="cohort scores of each side kept for mean/std")
    p.add_argument("--scorer", default="",
                   help="scorer model (cosine/PLDA npz) for the cohort scores (default: cosine)")


def quality_inputs(args, enroll, test):
    """Quality vectors of the trials from the arguments' embeddings, durations, cohort and scorer."""
    from utter.backend.cosine import CosineScorer
    from utter.backend.quality import trial_quality_vectors
    from utter.backend.scorers import load_scorer
    from utter.data.kaldi_io import read_embeddings
    from utter.transfer.verification import read_durations

    ids, x = read_embeddings(args.emb_scp)
    _, cohort = read_embeddings(args.cohort_scp)
    scorer = load_scorer(args.scorer) if args.scorer else CosineScorer()
    return trial_quality_vectors(enroll, test, dict(zip(ids, x)), read_durations(args.data_dir), cohort, scorer,
                                 args.top_n)


def main(args) -> None:
    from utter.backend.calibration import LinearCalibration
    from utter.backend.io import align_scores, read_scores, read_trials
    from utter.backend.quality import QualityCalibration
    from utter.metrics.results import write_results_json
    from utter.transfer.verification import calibration_report

    trials = read_trials(args.trials, require_labels=True)
    scores = align_scores(trials, *read_scores(args.scores), what=args.scores)
    quality = quality_inputs(args, trials.enroll, trials.test)
    linear = LinearCalibration().fit(scores, trials.labels, prior=args.prior)
    model = QualityCalibration(top_n=args.top_n).fit(scores, trials.labels, quality, args.prior)
    model.save(args.model)
    if args.linear_out:
        linear.save(args.linear_out)
    log.info("quality calibration weights: %s, bias %.4f",
             ", ".join(f"{k} {v:.4f}" for k, v in model.weights().items()), model.linear.bias)
    figures = {"trials": args.trials, "num_trials": len(trials), "top_n": args.top_n,
               "raw": calibration_report(scores, trials.labels),
               "score_only": calibration_report(linear(scores), trials.labels),
               "quality": calibration_report(model(scores, quality), trials.labels),
               "weights": model.weights()}
    if args.results:
        write_results_json(args.results, figures)
    print(f"training trials: Cllr raw {figures['raw']['cllr']:.4f}, score-only {figures['score_only']['cllr']:.4f}, "
          f"quality-aware {figures['quality']['cllr']:.4f}")


if __name__ == "__main__":
    main_entry(main, build_parser)
