"""Fine-tune a pretrained embedding network (DINO teacher or x-vector) with a classification head, per fold and seed.

Strategies (``--strategy``): ``full``, ``affine-then-full`` (stage 1: the network's last affine
layers and the head at ``--lr``, to convergence on dev with ``--stage1-patience``; stage 2: every
parameter at ``--stage2-lr``), ``head-only``.
Cross-validation with ``--folds-dir`` (each fold's dev list, when present, selects the best weights
by dev UA, evaluated every ``--eval-interval`` steps and at the end of each stage), or train -> test
with ``--test-data``. Training crops of ``--chunk-len`` voiced frames (0: whole utterances), testing
on whole utterances. Writes OUT_DIR/fold<k>/seed<s>/ (stage checkpoints, classes, predictions, scores,
results.json; a finished run is skipped, a half-done one resumes) and OUT_DIR/results.json (mean ±
std over folds x seeds of UA, WA, macro-F1), confusion.png, and the first seed's pooled
predictions/scores. ``--fold-index K`` trains one fold only (parallel jobs); ``--train false``
only summarises finished runs.

  python -m utter.bin.finetune --config conf/finetune.conf --folds-dir data/iemocap/folds --seeds 1,2,3 \\
      exp/pretrained/dino/final.pt data/iemocap exp/dino/finetune/affine-then-full
"""
from __future__ import annotations

import dataclasses

from utter.bin.common import main_entry, make_parser, str2bool
from utter.bin.train_common import add_train_arguments, train_config_from_args
from utter.transfer.finetune import SCORE_UNITS, STRATEGIES, FinetuneOptions, run_finetune
from utter.transfer.folds import read_folds


def _ints(text: str, what: str) -> list[int]:
    try:
        return [int(v) for v in str(text).replace(" ", ",").split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{what}: expected comma-separated integers, got '{text}'") from None


def build_parser():
    p = make_parser(__doc__.splitlines()[0], device=True)
    p.add_argument("--strategy", default="affine-then-full", choices=STRATEGIES, help="what is trained, in stages")
    p.add_argument("--label-table", default="utt2emo", help="utterance -> class table (utt2emo, utt2label)")
    p.add_argument("--folds-dir", default="", help="cross-validation folds (folds/<k>/{train,dev,test})")
    p.add_argument("--max-folds", type=int, default=0, help="first N folds only (0: all)")
    p.add_argument("--fold-index", type=int, default=0,
                   help="train only the K-th fold (1-based, of the first --max-folds) and skip the summary")
    p.add_argument("--test-data", default="", help="train -> test: the test data dir (instead of --folds-dir)")
    p.add_argument("--seeds", default="0", help="comma-separated seeds; each (fold, seed) is one run")
    p.add_argument("--aug-data", action="append", default=[], metavar="DIR",
                   help="augmented copies (data dir with utt2orig) drawn as extra views of the training "
                        "utterances; repeatable; none: no augmentation")
    p.add_argument("--chunk-len", type=int, default=400,
                   help="training crop in voiced frames (100 per second); 0: whole utterances")
    p.add_argument("--min-frames", type=int, default=50, help="training utterances shorter than this are left out")
    p.add_argument("--batch-size", type=int, default=32, help="utterances per step")
    p.add_argument("--balanced", type=str2bool, default=True, metavar="true|false",
                   help="class-balanced batches (draw a class, then an utterance) instead of shuffled passes")
    p.add_argument("--head-hidden", default="", help="hidden layer sizes of the head, comma-separated (empty: linear)")
    p.add_argument("--head-dropout", type=float, default=0.0, help="dropout after each hidden layer of the head")
    p.add_argument("--eval-interval", type=int, default=0,
                   help="evaluate on the dev list every N steps (and after each stage's last step; 0: last only)")
    p.add_argument("--eval-batch-size", type=int, default=16, help="utterances per evaluation batch")
    p.add_argument("--eval-max-frames", type=int, default=0, help="padded frames per evaluation batch (0: no limit)")
    p.add_argument("--apply-vad", type=str2bool, default=True, metavar="true|false", help="drop unvoiced frames")
    p.add_argument("--cmn-window", type=int, default=300, help="sliding CMN window (frames)")
    p.add_argument("--num-workers", type=int, default=0, help="data-loader worker processes")
    p.add_argument("--specaug-time-masks", type=int, default=0, help="SpecAugment time masks per crop")
    p.add_argument("--specaug-time-width", type=int, default=0, help="SpecAugment maximum time mask width")
    p.add_argument("--specaug-freq-masks", type=int, default=0, help="SpecAugment frequency masks per crop")
    p.add_argument("--specaug-freq-width", type=int, default=0, help="SpecAugment maximum frequency mask width")
    add_train_arguments(p)
    g = p.add_argument_group("stage 2 of affine-then-full (unset: as stage 1)")
    g.add_argument("--stage2-lr", type=float, default=1e-4, help="peak learning rate of stage 2 (the lower one)")
    g.add_argument("--stage2-epochs", type=int, default=0, help="epochs of stage 2 (0: as --epochs)")
    g.add_argument("--stage2-total-steps", type=int, default=0, help="steps of stage 2 (0: as --total-steps)")
    g.add_argument("--stage2-warmup-steps", type=int, default=-1, help="warm-up steps of stage 2 (-1: as stage 1)")
    g.add_argument("--stage1-patience", type=int, default=0,
                   help="train stage 1 to convergence on dev: stop it after N evaluations (every --eval-interval "
                        "steps) without a better dev UA, and give stage 2 the steps stage 1 left, so that with "
                        "--equal-budget both strategies train as many steps; 0: stage 1 trains its full length")
    p.add_argument("--score-unit", default="utterance", choices=SCORE_UNITS,
                   help="what a decision is about: each test utterance, or each speaker (utt2spk; the mean "
                        "posterior of its segments, for dev selection and test figures)")
    p.add_argument("--equal-budget", type=str2bool, default=True, metavar="true|false",
                   help="full trains as many steps (or epochs) as affine-then-full's two stages together, so "
                        "the strategies compare at equal cost; false: full trains stage 1's length")
    p.add_argument("--train", type=str2bool, default=True, metavar="true|false",
                   help="false: only summarise finished runs into OUT_DIR/results.json")
    p.add_argument("pretrained", help="pretrained checkpoint (final.pt of train_dino / train_xvector)")
    p.add_argument("data_dir", help="data dir with feats.scp, vad.scp and the label table")
    p.add_argument("out_dir")
    return p


def main(args) -> None:
    if bool(args.folds_dir) == bool(args.test_data):
        raise ValueError("give exactly one of --folds-dir (cross-validation) and --test-data (train -> test)")
    cfg = train_config_from_args(args)
    stage2 = dataclasses.replace(
        cfg, lr=args.stage2_lr, epochs=args.stage2_epochs or cfg.epochs,
        total_steps=args.stage2_total_steps or cfg.total_steps,
        warmup_steps=cfg.warmup_steps if args.stage2_warmup_steps < 0 else args.stage2_warmup_steps)
    specaug = None
    masks = (args.specaug_freq_masks, args.specaug_freq_width, args.specaug_time_masks, args.specaug_time_width)
    if any(masks):
        from utter.nnet.specaug import SpecAugment

        specaug = SpecAugment(freq_masks=masks[0], freq_width=masks[1], time_masks=masks[2], time_width=masks[3])
    opts = FinetuneOptions(
        strategy=args.strategy, train=cfg, stage2=stage2, label_table=args.label_table, chunk_frames=args.chunk_len,
        min_frames=args.min_frames, batch_size=args.batch_size, balanced=args.balanced,
        head_hidden=tuple(_ints(args.head_hidden, "--head-hidden")), head_dropout=args.head_dropout,
        eval_interval=args.eval_interval, eval_batch_size=args.eval_batch_size, eval_max_frames=args.eval_max_frames,
        apply_vad=args.apply_vad, cmn_window=args.cmn_window, num_workers=args.num_workers, specaug=specaug,
        equal_budget=args.equal_budget, score_unit=args.score_unit, stage1_patience=args.stage1_patience)
    only: list[str] = []
    if args.fold_index:
        if not args.folds_dir:
            raise ValueError("--fold-index needs --folds-dir")
        folds = read_folds(args.folds_dir, args.max_folds or None)
        if not 1 <= args.fold_index <= len(folds):
            raise ValueError(f"--fold-index {args.fold_index} outside the {len(folds)} folds of {args.folds_dir}")
        only = [folds[args.fold_index - 1].name]
    seeds = _ints(args.seeds, "--seeds")
    if not seeds:
        raise ValueError("--seeds: give at least one seed")
    run_finetune(args.pretrained, args.data_dir, args.out_dir, opts, seeds=seeds, folds_dir=args.folds_dir or None,
                 max_folds=args.max_folds, only_folds=only, test_data=args.test_data or None,
                 aug_dirs=args.aug_data, summarise=not only, train=args.train)


if __name__ == "__main__":
    main_entry(main, build_parser)
