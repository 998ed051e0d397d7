"""Train and test a classifier (or MMSE ridge regressor) on frozen utterance embeddings, per fold.

Cross-validation with ``--folds-dir DATA/folds`` (IEMOCAP leave-one-session-out, ADReSS
leave-one-speaker-out; ``folds/<k>/{train,dev,test}``), or train -> test with ``--test-emb`` and
``--test-data``. With ``--grid`` the regularisation (C for logreg/svm, alpha for ridge) is chosen
per fold on its dev list (best dev UA, or lowest dev RMSE) when the fold has one; else ``--c`` /
``--alpha``. Writes OUT_DIR/fold<k>/ (or OUT_DIR/test/) with model.npz, classes, predictions,
scores (``utt  [ s1 s2 ... ]``) and results.json, and in OUT_DIR the pooled predictions/scores,
results.json (mean ± std over folds of UA, WA, macro-F1; RMSE and Pearson r for regression) and
confusion.png (summed over folds).

  python -m utter.bin.train_classifier --folds-dir data/iemocap/folds --classifier logreg \\
      exp/dino/emb/iemocap/xvector.scp data/iemocap exp/dino/classifier/logreg
"""
from __future__ import annotations

from utter.backend.classifiers import CLASSIFIER_KINDS
from utter.bin.common import main_entry, make_parser, str2bool
from utter.transfer.frozen import FrozenOptions, run_frozen_classifier


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--grid: expected comma-separated numbers, got '{text}'") from None


def build_parser():
    p = make_parser(__doc__.splitlines()[0])
    p.add_argument("--classifier", default="logreg", choices=list(CLASSIFIER_KINDS),
                   help=", ".join(f"{name}: {k.description}" + (" (--task regression)" if k.regression else "")
                                  for name, k in CLASSIFIER_KINDS.items()))
    p.add_argument("--task", default="classification", choices=["classification", "regression"],
                   help="regression: continuous targets (utt2mmse) with ridge regression")
    p.add_argument("--label-table", default="utt2emo",
                   help="utterance -> label (or target) table of the data dirs: utt2emo, utt2label, utt2mmse")
    p.add_argument("--c", type=float, default=1.0, help="inverse L2 strength of logreg/svm")
    p.add_argument("--alpha", type=float, default=1.0, help="L2 strength of ridge regression")
    p.add_argument("--balanced", type=str2bool, default=True, metavar="true|false",
                   help="class-balanced sample weights (logreg/svm)")
    p.add_argument("--grid", default="",
                   help="comma-separated C (or alpha) values tried on each fold's dev list; empty: no search")
    p.add_argument("--lda-dim", type=int, default=0, help="plda: LDA dimension before PLDA (0: none)")
    p.add_argument("--folds-dir", default="", help="cross-validation folds dir (folds/<k>/{train,dev,test})")
    p.add_argument("--max-folds", type=int, default=0, help="use the first N folds only (0: all)")
    p.add_argument("--test-emb", default="", help="train -> test: embeddings of the test set (xvector.scp)")
    p.add_argument("--test-data", default="", help="train -> test: the test data dir (with the label table)")
    p.add_argument("emb_scp", help="embeddings of the training data dir (xvector.scp)")
    p.add_argument("data_dir", help="data dir with the label table (and folds)")
    p.add_argument("out_dir")
    return p


def main(args) -> None:
    regression = args.task == "regression"
    if regression != CLASSIFIER_KINDS[args.classifier].regression:
        regressors = " or ".join(n for n, k in CLASSIFIER_KINDS.items() if k.regression)
        raise ValueError(f"--task regression goes with --classifier {regressors} (and classification with the others)")
    if bool(args.folds_dir) == bool(args.test_data):
        raise ValueError("give exactly one of --folds-dir (cross-validation) and --test-data (train -> test)")
    if bool(args.test_data) != bool(args.test_emb):
        raise ValueError("--test-data and --test-emb go together")
    opts = FrozenOptions(kind=args.classifier, c=args.c, balanced=args.balanced, alpha=args.alpha,
                         grid=_floats(args.grid), lda_dim=args.lda_dim)
    run_frozen_classifier(args.emb_scp, args.data_dir, args.out_dir, opts, label_table=args.label_table,
                          folds_dir=args.folds_dir or None, max_folds=args.max_folds,
                          test_emb=args.test_emb or None, test_data=args.test_data or None)


if __name__ == "__main__":
    main_entry(main, build_parser)
