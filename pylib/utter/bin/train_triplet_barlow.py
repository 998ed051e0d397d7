"""Lux et al.'s step 1 per fold: triplet (cosine, margin) + lambda * Barlow Twins training of a pretrained network.

  python -m utter.bin.train_triplet_barlow --config conf/triplet_barlow.conf --init-model exp/pretrained/dino/final.pt \
      --exp-dir exp/dino/lux/triplet_barlow data/iemocap

For every fold of ``<data-dir>/folds`` (``--max-folds``) the network starts from
``--init-model`` (an utter checkpoint, a torchaudio-format wav2vec 2.0 / HuBERT ``.pt``, or a
Hugging Face checkpoint directory) and trains on the fold's training list only. Writes
``<exp-dir>/fold<k>/final.pt`` (with the trainer's logs), ``<exp-dir>/fold<k>/space.json`` and
``<exp-dir>/results.json``: embedding-space figures (within/between cosine-distance ratio,
Davies-Bouldin, nearest-class-mean accuracy) of the fold's train and test embeddings before
and after training, per fold and as mean ± std.
"""
from __future__ import annotations

import logging

from utter.bin.common import main_entry, make_parser, str2bool
from utter.bin.train_common import add_run_arguments, run_config

log = logging.getLogger("utter")


def add_pretrained_arguments(p) -> None:
    """``--init-model`` and the SSL pooling options (shared with train_adapter)."""
    g = p.add_argument_group("pretrained network")
    g.add_argument("--ssl-layer", type=int, default=0,
                   help="wav2vec 2.0 / HuBERT: 0 pools the CNN encoder's features, k the transformer layer k "
                        "(-1 the last)")
    g.add_argument("--ssl-pooling", default="mean_std", choices=["mean", "mean_std"],
                   help="wav2vec 2.0 / HuBERT: pooling of the chosen layer's frames")


def add_fold_arguments(p) -> None:
    g = p.add_argument_group("folds and labels")
    g.add_argument("--folds-dir", default="", help="folds/<k>/{train,dev,test} lists (default <data-dir>/folds)")
    g.add_argument("--max-folds", type=int, default=0, help="use the first N folds only (0: all)")
    g.add_argument("--label-table", default="utt2emo", help="utterance -> class table of the data dir")
    g.add_argument("--apply-vad", type=str2bool, default=True, help="drop unvoiced frames (vad.scp; fbank networks)")
    g.add_argument("--cmn-window", type=int, default=300, help="sliding CMN window, frames (fbank networks)")


def build_parser():
    p = make_parser(__doc__.splitlines()[0], device=True)
    add_run_arguments(p)
    p.add_argument("--init-model", required=True,
                   help="pretrained network: utter checkpoint (.pt), torchaudio wav2vec2 .pt, or HF checkpoint dir")
    add_pretrained_arguments(p)
    add_fold_arguments(p)
    g = p.add_argument_group("triplets and losses")
    g.add_argument("--batch-size", type=int, default=32, help="triplets per step")
    g.add_argument("--chunk-frames", type=int, default=200,
                   help="crop length in 10 ms frames (0: whole utterances)")
    g.add_argument("--min-frames", type=int, default=1, help="leave out utterances with fewer (voiced) frames")
    g.add_argument("--num-workers", type=int, default=0, help="data-loader worker processes")
    g.add_argument("--aug-data", action="append", default=[], metavar="DIR",
                   help="data dir of augmented copies with utt2orig (views of the training utterances); repeatable")
    g.add_argument("--lambda-bt", type=float, default=0.01, help="weight lambda of the Barlow Twins loss")
    g.add_argument("--margin", type=float, default=1.0, help="triplet margin (cosine distance)")
    g.add_argument("--proj-dim", type=int, default=64, help="projector width")
    g.add_argument("--proj-layers", type=int, default=3, help="projector layers")
    g.add_argument("--offdiag-weight", type=float, default=0.0051, help="Barlow Twins off-diagonal weight")
    g.add_argument("--triplet-on", default="projector", choices=["projector", "embedding"],
                   help="where the triplet loss is taken (Lux et al.'s code: the projector outputs)")
    g.add_argument("--time-mask-prob", type=float, default=0.2, help="span time masking p of the inputs")
    g.add_argument("--time-mask-len", type=int, default=0,
                   help="mask span, frames (0: 2 wav2vec2 frames, or 4 fbank frames = 40 ms)")
    p.add_argument("data_dir", help="data dir with the label table, folds/, and feats.scp (+ vad.scp) or wav.scp")
    p.set_defaults(lr=1e-4, optimizer="adam", epochs=10, log_interval=10)
    return p


def main(args) -> None:
    from pathlib import Path

    from utter.bin.train_common import train_config_from_args
    from utter.transfer.folds import read_folds
    from utter.transfer.pretrained import PretrainedSpec
    from utter.transfer.triplet_barlow_folds import DataOptions, run_triplet_barlow_folds

    folds = read_folds(args.folds_dir or Path(args.data_dir) / "folds", args.max_folds or None)
    config = train_config_from_args(args, **({"total_steps": args.max_steps} if args.max_steps else {}))
    opts = DataOptions(label_table=args.label_table, apply_vad=args.apply_vad, cmn_window=args.cmn_window,
                       chunk_frames=args.chunk_frames, min_frames=args.min_frames, batch_size=args.batch_size,
                       num_workers=args.num_workers, aug_data=list(args.aug_data))
    objective_opts = dict(lambda_bt=args.lambda_bt, margin=args.margin, proj_dim=args.proj_dim,
                          proj_layers=args.proj_layers, offdiag_weight=args.offdiag_weight,
                          triplet_on=args.triplet_on, time_mask_prob=args.time_mask_prob,
                          time_mask_len=args.time_mask_len)
    pretrained = PretrainedSpec(args.init_model, ssl_layer=args.ssl_layer, ssl_pooling=args.ssl_pooling)
    results = run_triplet_barlow_folds(pretrained, args.data_dir, folds, args.exp_dir, opts, config, objective_opts,
                                    resume=args.resume, run_config=run_config(args))
    for when in ("before", "after"):
        figs = results[when]
        log.info("%s step 1 (mean over %d folds): %s", when, len(folds),
                 ", ".join(f"{k} {v['mean']:.4f} ± {v['std']:.4f}" for k, v in figs.items()))
    print(f"wrote {Path(args.exp_dir) / 'results.json'}")


if __name__ == "__main__":
    main_entry(main, build_parser)
