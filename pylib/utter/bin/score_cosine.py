"""Cosine scoring of a trial list, optionally after mean subtraction / whitening from a training set."""
from __future__ import annotations

import logging

from utter.backend.cosine import CosineScorer
from utter.bin.common import main_entry, make_parser, str2bool
from utter.data.kaldi_io import read_embeddings
from utter.transfer.verification import score_trial_file

log = logging.getLogger("utter")


def build_parser():
    p = make_parser("Score `enroll test` trials by cosine similarity of embeddings.")
    p.add_argument("--train-scp", default="", help="training-set xvector.scp for the mean (and whitening)")
    p.add_argument("--subtract-mean", type=str2bool, default=True, help="subtract the training mean (true|false)")
    p.add_argument("--whiten", type=str2bool, default=False, help="whiten with the training covariance (true|false)")
    p.add_argument("--enroll-scp", default="", help="enrolment embeddings (default: the test xvector.scp)")
    p.add_argument("--enrollment", default="", help="spk2utt-style file: model utt1 utt2 ... (multi-session)")
    p.add_argument("--model-out", default="", help="save the cosine back-end (npz) for score normalisation")
    p.add_argument("emb_scp", help="test xvector.scp")
    p.add_argument("trials", help="trial list `enroll test [target|nontarget]`")
    p.add_argument("scores", help="output `enroll test score` file")
    return p


def main(args) -> None:
    train = read_embeddings(args.train_scp)[1] if args.train_scp else None
    if train is None and args.whiten:
        raise ValueError("--whiten true needs --train-scp")
    scorer = CosineScorer().fit(train, args.subtract_mean, args.whiten, what=args.train_scp or "none")
    if args.model_out:
        scorer.save(args.model_out)
    scores = score_trial_file(scorer, args.emb_scp, args.trials, args.scores, args.enroll_scp or None,
                              args.enrollment or None)
    log.info("wrote %d cosine scores to %s", len(scores), args.scores)


if __name__ == "__main__":
    main_entry(main, build_parser)
