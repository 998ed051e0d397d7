"""Train a supervised speaker embedding network (x-vector) with AAM-softmax speaker classification.

  python -m utter.bin.train_xvector --config conf/xvector.conf --exp-dir exp/xvector data/train

Defaults follow the authors' supervised baseline (hyperion LResNet34, AAM-softmax s=30, m=0.3
with a 20-epoch margin warm-up, 4 s chunks, class-balanced batches, Adam amsgrad betas
0.9/0.95, lr 0.05, weight decay 1e-5, 70 epochs); hyperion's exponential lr decay is replaced
by the trainer's warm-up + cosine schedule. The label map (speaker -> class) is stored in
the checkpoints; final.pt holds the network extraction uses.
"""
from __future__ import annotations

import logging
import os

from utter.bin.common import main_entry, make_parser, str2bool
from utter.bin.train_common import (
    add_data_arguments,
    add_network_arguments,
    add_run_arguments,
    build_network_from_args,
    data_dirs,
    reader_options,
    run_config,
    specaug_from_args,
    train_config,
)

log = logging.getLogger("utter")


def build_parser():
    p = make_parser(__doc__.splitlines()[0], device=True)
    add_run_arguments(p)
    add_network_arguments(p, "lresnet34")
    add_data_arguments(p)
    g = p.add_argument_group("speaker classification")
    g.add_argument("--chunk-frames", type=int, default=400, help="training chunk length, frames")
    g.add_argument("--min-frames", type=int, default=0,
                   help="leave out utterances with fewer voiced frames (0: the chunk length)")
    g.add_argument("--label-table", default="utt2spk", help="utterance -> class table of the data dir")
    g.add_argument("--balanced", type=str2bool, default=True,
                   help="class-balanced batches (draw a class, then an utterance); else shuffled passes")
    g.add_argument("--aam-scale", type=float, default=30.0, help="AAM-softmax scale s")
    g.add_argument("--aam-margin", type=float, default=0.3, help="AAM-softmax margin m (radians)")
    g.add_argument("--margin-start", type=float, default=0.0, help="margin at the first step of the warm-up")
    g.add_argument("--margin-warmup-epochs", type=float, default=20.0,
                   help="linear margin warm-up, epochs (when --margin-warmup-steps is 0)")
    g.add_argument("--margin-warmup-steps", type=int, default=0, help="linear margin warm-up, steps")
    g.add_argument("--easy-margin", type=str2bool, default=False, help="apply the margin only where cos > 0")
    g.add_argument("--init-model", default="",
                   help="start from this checkpoint's network (e.g. a DINO teacher, exp/dino/final.pt; the "
                        "network options are then taken from it) and, when trained on the same labels, its head")
    g.add_argument("--trainable", default="all", choices=["all", "affine"],
                   help="train all parameters, or only the network's last affine layers and the head "
                        "(the first step of affine-then-full fine-tuning)")
    g.add_argument("data_dir", help="training data dir (feats.scp, vad.scp, utt2spk; or wav.scp with --from-audio)")
    p.set_defaults(epochs=70, lr=0.05, min_lr=1e-5, warmup_steps=1000, optimizer="adam", betas=(0.9, 0.95),
                   amsgrad=True, weight_decay=1e-5, batch_size=128)
    return p


def main(args) -> None:
    from utter.data.dataset import chunk_loader_factory
    from utter.train.objectives.speaker import SpeakerClassificationObjective
    from utter.train.rng import seed_everything
    from utter.train.trainer import Trainer, check_resume
    from utter.train.warmstart import init_from_checkpoint, network_from_checkpoint, saved_label_map, train_only

    dirs = data_dirs(args)
    config = train_config(args)
    factory = chunk_loader_factory(
        dirs, batch_size=args.batch_size, chunk_frames=args.chunk_frames, seed=args.seed,
        label_table=args.label_table, balanced=args.balanced, min_frames=args.min_frames or args.chunk_frames,
        **reader_options(args))
    label_map = factory.extra["label_map"]
    log.info("%d classes from %s", len(label_map), args.label_table)
    if len(label_map) < 2:
        raise ValueError(f"{os.path.join(args.data_dir, args.label_table)}: {len(label_map)} class "
                         f"({', '.join(label_map)}) among the training utterances; speaker classification needs "
                         "at least 2 (with one, the loss is 0 from the first step and the network learns nothing)")
    network = build_network_from_args(args) if not args.init_model else None
    if args.init_model:
        seed_everything(args.seed)
        network = network_from_checkpoint(args.init_model)
        log.info("network %s initialised from %s", network.config["arch"], args.init_model)
    objective = SpeakerClassificationObjective(
        network, label_map, scale=args.aam_scale, margin=args.aam_margin,
        margin_start=args.margin_start, margin_warmup_steps=args.margin_warmup_steps,
        margin_warmup_epochs=args.margin_warmup_epochs, easy_margin=args.easy_margin,
        specaug=specaug_from_args(args))
    if args.init_model:
        loaded = init_from_checkpoint(objective, args.init_model,
                                      same_labels=saved_label_map(args.init_model) == objective.label_map)
        log.info("from %s also loaded: %s", args.init_model, ", ".join(loaded) or "nothing (new head)")
    if args.trainable == "affine":
        on, off = train_only(network, network.last_affine())
        log.info("training only the last affine layers and the head: %d network parameters trained, %d frozen",
                 on, off)
    if args.resume:
        check_resume(objective, args.exp_dir)
    final = Trainer(objective, factory, config, args.exp_dir, run_config=run_config(args)).train(resume=args.resume)
    if final is not None:
        log.info("x-vector training done: %s", final)


if __name__ == "__main__":
    main_entry(main, build_parser)
