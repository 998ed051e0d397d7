"""ADReSS text branch: subword (sentencepiece unigram) TF-IDF + logistic regression per fold, MMSE ridge, late fusion.

Per fold of ``--folds-dir`` (and train -> test with ``--test-data``) the subword model is trained on
the training transcripts (the data dir's ``text``) only. ``--mmse-table utt2mmse`` adds ridge
regression of MMSE from the same features. ``--audio-scores`` (out-of-fold acoustic scores of the
training set: OUT/scores of a cross-validation run of train_classifier or finetune, with its
``classes`` file beside it) adds late fusion, the text weight chosen on out-of-fold scores;
``--audio-test-scores`` fuses on the test set too. Writes OUT_DIR/{cv,test,fusion_cv,fusion_test,
mmse_cv,mmse_test}/ and OUT_DIR/results.json.

  python -m utter.bin.train_text_classifier --folds-dir data/adress_train/folds --test-data data/adress_test \\
      --mmse-table utt2mmse data/adress_train exp/text
"""
from __future__ import annotations

from utter.bin.common import main_entry, make_parser, str2bool
from utter.transfer.text import run_text_classifier


def build_parser():
    p = make_parser(__doc__.splitlines()[0])
    p.add_argument("--folds-dir", required=True, help="cross-validation folds of the training data dir")
    p.add_argument("--max-folds", type=int, default=0, help="first N folds only (0: all)")
    p.add_argument("--label-table", default="utt2label", help="utterance -> class table")
    p.add_argument("--test-data", default="", help="also train on all training data and test on this data dir")
    p.add_argument("--vocab-size", type=int, default=500, help="sentencepiece vocabulary size (a soft limit)")
    p.add_argument("--c", type=float, default=1.0, help="inverse L2 strength of the logistic regression")
    p.add_argument("--balanced", type=str2bool, default=True, metavar="true|false", help="class-balanced weights")
    p.add_argument("--mmse-table", default="", help="MMSE table (utt2mmse) for ridge regression; empty: none")
    p.add_argument("--alpha", type=float, default=1.0, help="L2 strength of the MMSE ridge regression")
    p.add_argument("--audio-scores", default="", help="out-of-fold acoustic class scores of the training set")
    p.add_argument("--audio-test-scores", default="", help="acoustic class scores of the test set")
    p.add_argument("data_dir", help="training data dir with text and the label table")
    p.add_argument("out_dir")
    return p


def main(args) -> None:
    if args.audio_test_scores and not (args.audio_scores and args.test_data):
        raise ValueError("--audio-test-scores needs --audio-scores (to choose the weight) and --test-data")
    run_text_classifier(args.data_dir, args.out_dir, folds_dir=args.folds_dir, max_folds=args.max_folds,
                        label_table=args.label_table, test_data=args.test_data or None, vocab_size=args.vocab_size,
                        c=args.c, balanced=args.balanced, mmse_table=args.mmse_table or None, alpha=args.alpha,
                        audio_scores=args.audio_scores or None, audio_test_scores=args.audio_test_scores or None)


if __name__ == "__main__":
    main_entry(main, build_parser)
