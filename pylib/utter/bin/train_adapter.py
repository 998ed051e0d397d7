"""Lux et al.'s step 2 per fold and seed: freeze the network, train an adapter (MLP with dropout) on its embeddings.

  python -m utter.bin.train_adapter --config conf/triplet_barlow.conf --seeds 0,1,2 \
      exp/dino/lux/triplet_barlow data/iemocap exp/dino/lux/adapter

<model> is a step-1 experiment dir (its fold<k>/final.pt is used for fold k), or one network for
every fold (an utter checkpoint, a torchaudio wav2vec2 .pt, or a HF checkpoint dir: the adapter
on the pretrained network without step 1). Embeddings of each fold's train/dev/test utterances
are extracted once (<exp-dir>/fold<k>/emb.scp); adapters train on them with early stopping on
the dev list's UA. Writes <exp-dir>/fold<k>/seed<s>/{adapter.pt,predictions,results.json} and
<exp-dir>/results.json (UA, WA, macro-F1 as mean ± std over folds × seeds).
"""
from __future__ import annotations

import logging

from utter.bin.common import main_entry, make_parser, str2bool
from utter.bin.train_triplet_barlow import add_fold_arguments, add_pretrained_arguments

log = logging.getLogger("utter")


def _ints(text: str) -> list[int]:
    return [int(t) for t in str(text).replace(" ", ",").split(",") if t]


def build_parser():
    p = make_parser(__doc__.splitlines()[0], device=True)
    add_pretrained_arguments(p)
    add_fold_arguments(p)
    g = p.add_argument_group("adapter")
    g.add_argument("--seeds", default="0", help="adapter seeds, comma-separated (one run per fold and seed)")
    g.add_argument("--adapter-hidden", default="256", help="hidden layer sizes, comma-separated (empty: linear)")
    g.add_argument("--adapter-dropout", type=float, default=0.5, help="dropout after each hidden layer")
    g.add_argument("--adapter-input-dropout", type=float, default=0.5, help="dropout on the embedding")
    g.add_argument("--adapter-lr", type=float, default=1e-3, help="Adam learning rate")
    g.add_argument("--adapter-weight-decay", type=float, default=0.0, help="Adam weight decay")
    g.add_argument("--adapter-batch-size", type=int, default=32, help="embeddings per step")
    g.add_argument("--adapter-epochs", type=int, default=100, help="most epochs")
    g.add_argument("--adapter-patience", type=int, default=10,
                   help="stop after this many epochs without a better dev UA")
    g.add_argument("--adapter-balanced", type=str2bool, default=True, help="class-weighted cross-entropy")
    g.add_argument("--adapter-standardize", type=str2bool, default=True,
                   help="standardise embeddings with the training set's mean and deviation")
    g.add_argument("--adapter-score-unit", default="utterance", choices=("utterance", "speaker"),
                   help="what a test decision is about: each utterance, or each speaker (utt2spk; the mean "
                        "posterior of its segments)")
    p.add_argument("model", help="step-1 experiment dir (fold<k>/final.pt), or one pretrained network")
    p.add_argument("data_dir", help="data dir with the label table and folds/")
    p.add_argument("exp_dir", help="output dir")
    return p


def main(args) -> None:
    from pathlib import Path

    from utter.train.adapter import AdapterOptions
    from utter.transfer.adapter import AdapterDataOptions, format_summary, run_adapter_folds
    from utter.transfer.folds import read_folds

    folds = read_folds(args.folds_dir or Path(args.data_dir) / "folds", args.max_folds or None)
    seeds = _ints(args.seeds)
    if not seeds:
        raise ValueError("--seeds names no seed")
    opts = AdapterOptions(hidden=tuple(_ints(args.adapter_hidden)), dropout=args.adapter_dropout,
                          input_dropout=args.adapter_input_dropout, lr=args.adapter_lr,
                          weight_decay=args.adapter_weight_decay, batch_size=args.adapter_batch_size,
                          max_epochs=args.adapter_epochs, patience=args.adapter_patience,
                          balanced=args.adapter_balanced, standardize=args.adapter_standardize)
    data_opts = AdapterDataOptions(label_table=args.label_table, apply_vad=args.apply_vad,
                                   cmn_window=args.cmn_window, ssl_layer=args.ssl_layer, ssl_pooling=args.ssl_pooling,
                                   score_unit=args.adapter_score_unit)
    summary = run_adapter_folds(args.model, args.data_dir, folds, args.exp_dir, seeds, opts, data_opts,
                                device=args.device)
    log.info("adapter: %s", format_summary(summary))
    print(f"{format_summary(summary)}; wrote {Path(args.exp_dir) / 'results.json'}")


if __name__ == "__main__":
    main_entry(main, build_parser)
