"""S-norm / adaptive S-norm of trial scores against a cohort of speaker-mean embeddings."""
from __future__ import annotations

import logging

from utter.backend.cosine import CosineScorer
from utter.backend.io import align_scores, read_scores, write_scores
from utter.backend.norm import METHODS, cohort_embeddings, normalize_scores
from utter.backend.scorers import load_scorer
from utter.bin.common import main_entry, make_parser
from utter.data.datadir import read_table
from utter.data.kaldi_io import read_embeddings
from utter.transfer.verification import prepare_trial_inputs

log = logging.getLogger("utter")


def build_parser():
    p = make_parser("Normalise scores (S-norm or AS-norm) with a cohort of speaker means.")
    p.add_argument("--method", default="asnorm", choices=METHODS, help="normalisation")
    p.add_argument("--top-n", type=int, default=300, help="AS-norm cohort size per side (clamped to the cohort)")
    p.add_argument("--backend-model", default="",
                   help="the scorer that made the scores (cosine or PLDA npz); default plain cosine")
    p.add_argument("--enroll-scp", default="", help="enrolment embeddings (default: the test xvector.scp)")
    p.add_argument("--enrollment", default="", help="spk2utt-style file: model utt1 utt2 ... (multi-session)")
    p.add_argument("cohort_scp", help="cohort-set xvector.scp")
    p.add_argument("cohort_utt2spk", help="cohort-set utt2spk (speaker means form the cohort)")
    p.add_argument("emb_scp", help="test xvector.scp")
    p.add_argument("trials", help="trial list")
    p.add_argument("scores_in", help="raw `enroll test score` file")
    p.add_argument("scores_out", help="normalised scores")
    return p


def main(args) -> None:
    scorer = load_scorer(args.backend_model) if args.backend_model else CosineScorer()
    inp = prepare_trial_inputs(scorer, args.emb_scp, args.trials, args.enroll_scp or None, args.enrollment or None)
    raw = align_scores(inp.trials, *read_scores(args.scores_in), what=args.scores_in)
    c_ids, c_x = read_embeddings(args.cohort_scp)
    spk, cohort = cohort_embeddings(c_ids, c_x, read_table(args.cohort_utt2spk), what=args.cohort_utt2spk)
    log.info("%s with a cohort of %d speaker means from %s", args.method, len(spk), args.cohort_utt2spk)
    out = normalize_scores(scorer, inp.models, inp.tests, len(inp.index.groups), len(inp.index.test_rows),
                           cohort, raw, inp.index.mi, inp.index.ti, args.method, args.top_n)
    write_scores(args.scores_out, inp.trials.enroll, inp.trials.test, out)
    log.info("wrote %d normalised scores to %s", len(out), args.scores_out)


if __name__ == "__main__":
    main_entry(main, build_parser)
