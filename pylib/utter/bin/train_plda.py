"""Train the PLDA back-end: centring, LDA, whitening, length-norm, then PLDA by EM (one npz)."""
from __future__ import annotations

import logging

from utter.atomic import atomic_open
from utter.backend.io import index_ids
from utter.backend.plda import MODEL_TYPES, fit_plda, make_preprocessing
from utter.bin.common import main_entry, make_parser, str2bool
from utter.data.datadir import read_table
from utter.data.kaldi_io import read_embeddings

log = logging.getLogger("utter")


def build_parser():
    p = make_parser("Train LDA + PLDA on training-set embeddings with speaker labels.")
    p.add_argument("--lda-dim", type=int, default=200, help="LDA output dimension (0: no LDA)")
    p.add_argument("--whiten", type=str2bool, default=True, help="whiten after LDA (true|false)")
    p.add_argument("--length-norm", type=str2bool, default=True, help="length-normalise (true|false)")
    p.add_argument("--plda-type", default="two-cov", choices=MODEL_TYPES, help="PLDA model")
    p.add_argument("--rank", type=int, default=100, help="speaker subspace rank (simplified PLDA)")
    p.add_argument("--num-iters", type=int, default=10, help="EM iterations")
    p.add_argument("--skipped", default="",
                   help="when the training set cannot support the model (too few speakers or utterances, a "
                        "singular covariance), write 'PLDA skipped: REASON' to this file and succeed without a "
                        "model, rather than fail (a recipe's back-end it can do without); empty: fail")
    p.add_argument("emb_scp", help="training-set xvector.scp")
    p.add_argument("utt2spk", help="training-set utt2spk (utterances to train on)")
    p.add_argument("model", help="output model (npz)")
    return p


def main(args) -> None:
    ids, x = read_embeddings(args.emb_scp)
    utt2spk = read_table(args.utt2spk)
    rows = index_ids(ids, list(utt2spk), what=f"{args.utt2spk} (embeddings {args.emb_scp})")
    if len(rows) < len(ids):
        log.info("training on the %d of %d embeddings listed in %s", len(rows), len(ids), args.utt2spk)
    pre = make_preprocessing(args.lda_dim, args.whiten, args.length_norm)
    try:
        plda = fit_plda(x[rows], list(utt2spk.values()), args.plda_type, args.rank, args.num_iters, pre,
                        what=f"PLDA training set {args.utt2spk}")
    except ValueError as e:   # what the data cannot support (the inputs were read above)
        if not args.skipped:
            raise
        with atomic_open(args.skipped) as f:
            f.write(f"PLDA skipped: {e}\n")
        log.warning("PLDA skipped (%s): %s", args.skipped, e)
        return
    plda.save(args.model)
    log.info("wrote %s (%s PLDA, %d dims after preprocessing)", args.model, args.plda_type, len(plda.mean))


if __name__ == "__main__":
    main_entry(main, build_parser)
