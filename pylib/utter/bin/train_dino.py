"""Train a speaker embedding network with DINO self-distillation (no labels).

  python -m utter.bin.train_dino --config conf/dino.conf --exp-dir exp/dino data/train
  torchrun --standalone --nproc_per_node 4 -m utter.bin.train_dino --config conf/dino.conf ...

Defaults are the authors' recipe (Cho et al. 2022; hyperion dinossl.v1): LResNet34, 2 teacher
crops of 4 s and 4 student crops of 2 s, head 2048 -> 256 -> 65536, temperatures 0.1/0.04,
centre momentum 0.9, teacher momentum 0.996 -> 1, Adam (amsgrad, betas 0.9/0.95), weight
decay 1e-4, lr 0.005 x batch/256 with 10 warm-up epochs and cosine decay to 1e-6, 70 epochs.
Writes exp-dir/ckpt-*.pt, train_log.tsv, loss.png, config.json and final.pt (the teacher
network is what extraction uses).

Validation while it trains (off by default): --dev-data DIR --dev-trials FILE --dev-interval N
scores a labelled trial list (enroll test target|nontarget) every N steps and after the last
with the teacher's embeddings (eval mode; whole utterances, VAD and CMN as training reads them)
and cosine scoring after subtracting the mean of the dev embeddings, and writes dev_eer (%) and
dev_min_dcf (minDCF at p_target 0.01) to train_log.tsv, train.log, the progress line and
loss.png; training takes the same steps with it on or off. --keep-best-dev true makes final.pt
the teacher of the evaluation with the lowest dev EER (kept in best_dev.pt).
"""
from __future__ import annotations

import argparse
import logging
import os

from utter.bin.common import main_entry, make_parser, str2bool
from utter.bin.train_common import (
    add_data_arguments,
    add_network_arguments,
    add_run_arguments,
    build_network_from_args,
    multi_crop_factory,
    parse_optional_float,
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
    g = p.add_argument_group("DINO")
    g.add_argument("--global-frames", type=int, default=400, help="teacher (global) crop length, frames")
    g.add_argument("--num-global", type=int, default=2, help="global crops per utterance (the teacher's views)")
    g.add_argument("--local-frames", type=int, default=200, help="student-only (local) crop length, frames")
    g.add_argument("--num-local", type=int, default=4, help="local crops per utterance")
    g.add_argument("--min-frames", type=int, default=50,
                   help="leave out utterances with fewer voiced frames (default 50: 0.5 s of speech); a "
                        "shorter utterance than a crop gives a crop capped at its length, zero-padded in the "
                        "batch, so short-utterance corpora are used whole (0: the global crop length, "
                        "every crop full length)")
    g.add_argument("--out-dim", type=int, default=65536, help="DINO head outputs K")
    g.add_argument("--head-hidden", type=int, default=2048, help="DINO head MLP hidden size")
    g.add_argument("--head-bottleneck", type=int, default=256, help="DINO head bottleneck size")
    g.add_argument("--head-layers", type=int, default=3, help="DINO head MLP layers")
    g.add_argument("--head-bn", type=str2bool, default=False, help="batch norm in the head MLP")
    g.add_argument("--norm-last-layer", type=str2bool, default=True,
                   help="freeze the weight-normalised last layer's gain at 1")
    g.add_argument("--student-temp", type=float, default=0.1, help="student softmax temperature")
    g.add_argument("--teacher-temp", type=float, default=0.04, help="teacher temperature (at the start)")
    g.add_argument("--teacher-temp-final", type=parse_optional_float, default="",
                   help="teacher temperature after the warm-up (empty: constant --teacher-temp)")
    g.add_argument("--teacher-temp-warmup-epochs", type=float, default=0.0,
                   help="teacher temperature warm-up, epochs (when --teacher-temp-warmup-steps is 0)")
    g.add_argument("--teacher-temp-warmup-steps", type=int, default=0, help="teacher temperature warm-up, steps")
    g.add_argument("--center-momentum", type=float, default=0.9, help="momentum of the teacher centre EMA")
    g.add_argument("--teacher-momentum", type=float, default=0.996, help="teacher EMA momentum at the start")
    g.add_argument("--teacher-momentum-final", type=float, default=1.0,
                   help="teacher EMA momentum at the end (cosine, per step)")
    g.add_argument("--freeze-last-layer-epochs", type=float, default=1.0,
                   help="cancel the head's last-layer gradients for this many epochs")
    g.add_argument("--freeze-last-layer-steps", type=int, default=0,
                   help="... or steps (wins when not 0)")
    v = p.add_argument_group(
        "validation on a dev trial list (off unless --dev-interval > 0)",
        "The teacher (eval mode, no gradients) embeds the utterances the trials name, whole, as extraction does; "
        "trials are scored by cosine after subtracting the dev embeddings' mean; dev_eer (%) and dev_min_dcf "
        "(p_target 0.01) go to train_log.tsv, train.log, the progress line and loss.png. Training takes the "
        "same steps with it on or off. E.g. in egs/voxceleb: --dev-data data/voxceleb2_dev_heldout "
        "--dev-trials data/calibration/trials (or a few thousand of them) --dev-interval 1000.")
    v.add_argument("--dev-data", default="",
                   help="dev data dir: feats.scp and vad.scp, or wav.scp with --from-audio (read as training "
                        "reads it, without augmentation)")
    v.add_argument("--dev-trials", default="",
                   help="labelled trials 'enroll test target|nontarget' over utterances of --dev-data")
    v.add_argument("--dev-interval", type=int, default=0,
                   help="evaluate every this many steps and after the last (0: no validation)")
    v.add_argument("--keep-best-dev", type=str2bool, default=False,
                   help="final.pt is the teacher of the evaluation with the lowest dev EER (false: the average "
                        "of the last checkpoints, as without validation)")
    g.add_argument("data_dir", help="training data dir (feats.scp and vad.scp, or wav.scp with --from-audio)")
    p.set_defaults(epochs=70, lr=0.005, min_lr=1e-6, warmup_epochs=10.0, optimizer="adam", betas=(0.9, 0.95),
                   amsgrad=True, weight_decay=1e-4, grad_clip=3.0, batch_size=48, lr_reference_batch=256)
    return p


def dev_validation(args):
    """The :class:`~utter.train.validation.DevValidation` of the --dev-* options (None when off); bad
    options, unlabelled trials and utterances the dev dir lacks are errors here, before training."""
    if args.dev_interval < 0:
        raise ValueError(f"--dev-interval must be 0 (off) or a number of steps, got {args.dev_interval}")
    if args.dev_interval == 0:
        if args.keep_best_dev:
            raise ValueError("--keep-best-dev true needs a validation: give --dev-interval N > 0 with "
                             "--dev-data and --dev-trials")
        if args.dev_trials or args.dev_data:
            log.info("no validation (--dev-interval 0): --dev-data/--dev-trials unused")
        return None
    if not args.dev_trials:
        raise ValueError(f"--dev-interval {args.dev_interval} needs --dev-trials FILE (labelled trials) and "
                         "--dev-data DIR (the data dir of their utterances)")
    if not args.dev_data:
        raise ValueError("--dev-trials needs --dev-data DIR: the data dir of the trials' utterances")
    if not os.path.isdir(args.dev_data):
        raise OSError(f"--dev-data: data dir {args.dev_data} does not exist")
    from utter.backend.cosine import CosineScorer
    from utter.backend.io import read_trials
    from utter.backend.scoring import score_trials
    from utter.train.extract import ExtractOptions
    from utter.train.validation import DevValidation

    def cosine(trials, ids, x):
        """The back-end's cosine scoring, after subtracting the mean of the dev embeddings."""
        return score_trials(CosineScorer().fit(x, what="dev embeddings"), trials, ids, x, what=args.dev_trials)

    audio = None
    if args.from_audio:
        opts = reader_options(argparse.Namespace(**{**vars(args), "aug_types": "", "musan_prefix": "",
                                                    "rirs_data": ""}))
        audio = {k: opts[k] for k in ("fbank_opts", "vad_opts", "allow_resample") if k in opts}
    return DevValidation(args.dev_data, read_trials(args.dev_trials, require_labels=True), cosine,
                         interval=args.dev_interval, trials_path=args.dev_trials,
                         opts=ExtractOptions(use_vad=args.apply_vad, cmn_window=args.cmn_window), audio=audio,
                         keep_best=args.keep_best_dev, what="teacher")


def main(args) -> None:
    from utter.train.objectives.dino import DINOObjective
    from utter.train.trainer import Trainer, check_resume

    validation = dev_validation(args)
    factory = multi_crop_factory(args, global_frames=args.global_frames, num_global=args.num_global,
                                 local_frames=args.local_frames, num_local=args.num_local,
                                 min_frames=args.min_frames or args.global_frames)
    config = train_config(args)
    objective = DINOObjective(
        build_network_from_args(args), num_global=args.num_global, num_local=args.num_local,
        out_dim=args.out_dim, hidden=args.head_hidden, bottleneck=args.head_bottleneck,
        head_layers=args.head_layers, head_bn=args.head_bn, norm_last_layer=args.norm_last_layer,
        student_temp=args.student_temp, teacher_temp=args.teacher_temp,
        teacher_temp_final=args.teacher_temp_final, teacher_temp_warmup_steps=args.teacher_temp_warmup_steps,
        teacher_temp_warmup_epochs=args.teacher_temp_warmup_epochs, center_momentum=args.center_momentum,
        teacher_momentum=args.teacher_momentum, teacher_momentum_final=args.teacher_momentum_final,
        freeze_last_layer_steps=args.freeze_last_layer_steps,
        freeze_last_layer_epochs=args.freeze_last_layer_epochs, specaug=specaug_from_args(args))
    if args.resume:
        check_resume(objective, args.exp_dir)
    final = Trainer(objective, factory, config, args.exp_dir, run_config=run_config(args),
                    validation=validation).train(resume=args.resume)
    if final is not None:
        log.info("DINO training done: %s (teacher network for extraction)", final)


if __name__ == "__main__":
    main_entry(main, build_parser)
