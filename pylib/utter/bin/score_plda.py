"""PLDA log-likelihood-ratio scoring of a trial list (single- or multi-session enrolment)."""
from __future__ import annotations

import logging

from utter.backend.plda import PLDA
from utter.bin.common import main_entry, make_parser
from utter.transfer.verification import score_trial_file

log = logging.getLogger("utter")


def build_parser():
    p = make_parser("Score `enroll test` trials with a trained PLDA back-end.")
    p.add_argument("--enroll-scp", default="", help="enrolment embeddings (default: the test xvector.scp)")
    p.add_argument("--enrollment", default="", help="spk2utt-style file: model utt1 utt2 ... (multi-session)")
    p.add_argument("model", help="PLDA model from train_plda (npz)")
    p.add_argument("emb_scp", help="test xvector.scp")
    p.add_argument("trials", help="trial list `enroll test [target|nontarget]`")
    p.add_argument("scores", help="output `enroll test score` file")
    return p


def main(args) -> None:
    scores = score_trial_file(PLDA.load(args.model), args.emb_scp, args.trials, args.scores,
                              args.enroll_scp or None, args.enrollment or None)
    log.info("wrote %d PLDA scores to %s", len(scores), args.scores)


if __name__ == "__main__":
    main_entry(main, build_parser)
