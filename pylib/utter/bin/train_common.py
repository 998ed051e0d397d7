"""Options and run-up shared by the training stage programs (train_dino, train_xvector, ...).

Trainer options are one ``--option`` per :class:`~utter.train.config.TrainConfig` field
(:func:`add_train_arguments`, :func:`train_config_from_args`). Network options are Kaldi-style
(``--arch=lresnet34 --base-channels=8 --blocks=1,1,1,1``), one per option of any registered
architecture, typed by the chosen architecture's default; ``--arch-config`` (a JSON object) is
merged over them. Data options choose features
(``feats.scp`` + ``vad.scp``, an optional ``--aug-data`` dir with ``utt2orig``) or audio
(``--from-audio true``, on-the-fly augmentation from MUSAN/RIR data dirs).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
from typing import Any

from utter.bin.common import str2bool
from utter.nnet import ARCHS, build_network, network_options
from utter.train.config import TrainConfig
from utter.train.rng import seed_everything

log = logging.getLogger("utter")


#: Help of each trainer option (a TrainConfig field left out here has no command-line option).
_TRAIN_OPTION_HELP = {
    "epochs": "training epochs (ignored when --total-steps is set)",
    "total_steps": "optimiser steps in all (0: epochs x steps per epoch)",
    "min_steps": "with a length in epochs: at least this many steps (a tiny corpus still trains enough)",
    "steps_per_epoch": "optimiser steps per epoch (0: the loader's length)",
    "optimizer": "adam, adamw or sgd",
    "lr": "peak learning rate (after warm-up)",
    "min_lr": "learning rate at the last step (cosine decay)",
    "warmup_steps": "linear warm-up steps (0: use --warmup-epochs)",
    "warmup_epochs": "linear warm-up in epochs, when --warmup-steps is 0",
    "warmup_start_lr": "learning rate at the first warm-up step",
    "betas": "Adam betas, comma-separated",
    "eps": "Adam epsilon",
    "amsgrad": "AMSGrad variant of Adam (true|false)",
    "momentum": "SGD momentum",
    "nesterov": "Nesterov momentum for SGD (true|false)",
    "weight_decay": "weight decay (not on biases and 1-D parameters)",
    "weight_decay_end": "weight decay at the last step (cosine); empty: constant",
    "grad_clip": "clip the global gradient norm to this (0: off)",
    "amp": "mixed precision on CUDA: none, bf16 or fp16",
    "device": "torch device: cpu, cuda, cuda:1 ...",
    "num_threads": "torch threads (0: leave as is)",
    "checkpoint_interval": "also checkpoint every this many steps (0: each epoch only)",
    "keep_last": "checkpoints to keep",
    "average_last": "final.pt is the average of this many last checkpoints",
    "seed": "random seed (rank r uses seed + r)",
    "log_interval": "write a progress line to the log every this many steps",
}


def parse_betas(value: str) -> tuple[float, float]:
    """``0.9,0.999`` -> (0.9, 0.999): Adam's two betas, comma-separated."""
    parts = [float(v) for v in str(value).split(",")]
    if len(parts) != 2:
        raise ValueError(f"expected two comma-separated betas, got '{value}'")
    return parts[0], parts[1]


def parse_optional_float(value: str) -> float | None:
    """A float, or None for an empty value (``--teacher-temp-final=``: keep the start value)."""
    return None if value in ("", "none", "None") else float(value)


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one ``--option`` per :class:`TrainConfig` field (and ``--resume``) to an argparse parser.

    Options the parser already has (``--device``, ``--num-threads`` from the stage helpers)
    are reused, not added twice.
    """
    defaults = TrainConfig()
    group = parser.add_argument_group("training")
    have = set(getattr(parser, "_option_string_actions", {}))
    for f in dataclasses.fields(TrainConfig):
        if f.name not in _TRAIN_OPTION_HELP:
            continue
        flag = "--" + f.name.replace("_", "-")
        if flag in have:
            continue
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            kind, shown = str2bool, str(default).lower()
        elif f.name == "betas":
            kind, shown = parse_betas, ",".join(str(b) for b in default)
        elif f.name == "weight_decay_end":
            kind, shown = parse_optional_float, ""
        else:
            kind, shown = type(default), default
        group.add_argument(flag, type=kind, default=shown if kind is not type(default) else default,
                           help=_TRAIN_OPTION_HELP[f.name])
    if "--resume" not in have:
        group.add_argument("--resume", type=str2bool, default=False,
                           help="continue from the latest checkpoint in the experiment dir (true|false)")


def train_config_from_args(args: argparse.Namespace, **overrides: Any) -> TrainConfig:
    """The :class:`TrainConfig` of parsed arguments (from :func:`add_train_arguments`), plus overrides."""
    values = {}
    for f in dataclasses.fields(TrainConfig):
        if hasattr(args, f.name):
            v = getattr(args, f.name)
            if f.name == "betas" and isinstance(v, str):
                v = parse_betas(v)
            elif f.name == "weight_decay_end" and isinstance(v, str):
                v = parse_optional_float(v)
            elif isinstance(v, str) and isinstance(getattr(TrainConfig, f.name, None), bool):
                v = str2bool(v)
            values[f.name] = v
    values.update(overrides)
    return TrainConfig(**values)


def _union_options() -> dict[str, dict[str, Any]]:
    """Option name -> {arch: default} over every registered architecture."""
    out: dict[str, dict[str, Any]] = {}
    for arch in ARCHS:
        for name, default in network_options(arch).items():
            out.setdefault(name, {})[arch] = default
    return out


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return str(v)


def add_network_arguments(parser: argparse.ArgumentParser, default_arch: str = "lresnet34") -> None:
    """``--arch``, ``--arch-config`` and one ``--option`` per network option (default: the arch's)."""
    g = parser.add_argument_group("network (utter.nnet; unset options take the architecture's default)")
    g.add_argument("--arch", default=default_arch, choices=sorted(ARCHS), help="network architecture")
    g.add_argument("--arch-config", default="",
                   help="JSON object of network options merged over the --option values, e.g. "
                        "'{\"arch\": \"lresnet34\", \"base_channels\": 8}'")
    for name, defaults in sorted(_union_options().items()):
        shown = "; ".join(f"{a}: {_show(v)}" for a, v in defaults.items())
        g.add_argument("--" + name.replace("_", "-"), dest="net_" + name, default=None, metavar="VALUE",
                       help=f"network option {name} (lists comma-separated) [{shown}]")


def _convert(name: str, text: str, default: Any, arch: str) -> Any:
    try:
        if isinstance(default, bool):
            return str2bool(text)
        if isinstance(default, (list, tuple)):
            items = [t for t in str(text).replace(":", ",").split(",") if t]
            kind = type(default[0]) if default else int
            return [kind(t) for t in items]
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
        return text
    except (ValueError, argparse.ArgumentTypeError) as e:
        raise ValueError(f"--{name.replace('_', '-')}={text}: not a valid value for {arch} ({e})") from None


def network_config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The ``build_network`` config of parsed arguments (``--arch`` options, then ``--arch-config``)."""
    extra: dict[str, Any] = {}
    if args.arch_config:
        try:
            extra = json.loads(args.arch_config)
        except ValueError as e:
            raise ValueError(f"--arch-config is not valid JSON ({e}): {args.arch_config}") from None
        if not isinstance(extra, dict):
            raise ValueError(f"--arch-config must be a JSON object, got {args.arch_config}")
    arch = extra.get("arch", args.arch)
    opts = network_options(arch)
    config: dict[str, Any] = {"arch": arch}
    for key, value in vars(args).items():
        if not key.startswith("net_") or value is None:
            continue
        name = key[4:]
        if name not in opts:
            raise ValueError(f"--{name.replace('_', '-')} is not an option of network arch {arch} "
                             f"(its options: {', '.join(sorted(opts))})")
        config[name] = _convert(name, value, opts[name], arch)
    config.update(extra)
    return config


def build_network_from_args(args: argparse.Namespace):
    """The network of the parsed network options (full config, defaults filled in, in ``.config``),
    initialised from ``--seed`` so that same-seed runs start from the same weights."""
    config = network_config_from_args(args)
    seed_everything(args.seed)
    net = build_network(config)
    log.info("network %s: %.2fM parameters, embedding dim %d", config["arch"],
             sum(p.numel() for p in net.parameters()) / 1e6, net.embed_dim)
    return net


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Data dirs and loading: augmented copies, audio path, VAD/CMN, workers, SpecAugment."""
    g = parser.add_argument_group("data")
    g.add_argument("--aug-data", action="append", default=[], metavar="DIR",
                   help="data dir of augmented copies with utt2orig (copy -> source); views are drawn from "
                        "the source and its copies; repeatable")
    g.add_argument("--from-audio", type=str2bool, default=False,
                   help="read wav.scp and compute fbank on the fly (no feats.scp needed), augmenting on the fly "
                        "with the --aug-types whose signals are given (--musan-prefix, --rirs-data; colour needs none)")
    g.add_argument("--musan-prefix", default="",
                   help="with --from-audio: MUSAN data dirs <prefix>_noise, <prefix>_music, <prefix>_speech")
    g.add_argument("--rirs-data", default="", help="with --from-audio: RIR data dir(s), comma-separated")
    g.add_argument("--aug-types", default="reverb,noise,music,babble",
                   help="with --from-audio: on-the-fly augmentation types among reverb,noise,music,babble,colour "
                        "(each view draws clean or one of them)")
    g.add_argument("--fbank-config", default="", help="with --from-audio: fbank options file (default built-in)")
    g.add_argument("--vad-config", default="", help="with --from-audio: VAD options file (default built-in)")
    g.add_argument("--allow-resample", type=str2bool, default=False,
                   help="with --from-audio: resample audio at another rate than the fbank config's (as "
                        "make_fbank.sh --allow-resample), before augmentation; false: such a file is an error")
    g.add_argument("--apply-vad", type=str2bool, default=True, help="drop unvoiced frames (vad.scp)")
    g.add_argument("--cmn-window", type=int, default=300, help="sliding CMN window (frames)")
    g.add_argument("--num-workers", type=int, default=0, help="data-loader worker processes")
    g.add_argument("--batch-size", type=int, default=64,
                   help="utterances per step per process (the global batch is this x processes)")
    g.add_argument("--lr-reference-batch", type=int, default=0,
                   help="scale --lr by the global batch / this, as DINO (0: no scaling)")
    g.add_argument("--specaug-freq-masks", type=int, default=0, help="SpecAugment frequency masks per crop")
    g.add_argument("--specaug-freq-width", type=int, default=0, help="SpecAugment maximum frequency mask width")
    g.add_argument("--specaug-time-masks", type=int, default=0, help="SpecAugment time masks per crop")
    g.add_argument("--specaug-time-width", type=int, default=0, help="SpecAugment maximum time mask width")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The trainer's options (one per TrainConfig field), ``--max-steps`` and ``--exp-dir``."""
    parser.add_argument("--exp-dir", required=True, help="experiment dir: checkpoints, logs, final.pt")
    add_train_arguments(parser)
    parser.add_argument("--max-steps", type=int, default=0,
                        help="stop after this many optimiser steps in all (same as --total-steps; wins when set)")
    parser.set_defaults(resume=True)


def data_dirs(args: argparse.Namespace) -> list[str]:
    """The training data dir and its augmented copies, each checked to exist."""
    dirs = [args.data_dir, *args.aug_data]
    for d in dirs:
        if not os.path.isdir(d):
            raise OSError(f"data dir {d} does not exist")
    return dirs


def reader_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword options of the ``utter.data.dataset`` loader factories for the data arguments."""
    opts: dict[str, Any] = dict(apply_vad=args.apply_vad, cmn_window=args.cmn_window, audio=args.from_audio,
                                num_workers=args.num_workers)
    if args.from_audio:
        from utter.data.options import FbankOptions, VadOptions

        opts["allow_resample"] = args.allow_resample
        if args.fbank_config:
            opts["fbank_opts"] = FbankOptions.from_conf(args.fbank_config)
        if args.vad_config:
            opts["vad_opts"] = VadOptions.from_conf(args.vad_config)
        types = [t for t in args.aug_types.split(",") if t]
        if not args.musan_prefix:  # the types that need signal files are dropped without them
            from utter.data.chunks import MUSAN_AUG_TYPES

            types = [t for t in types if t not in MUSAN_AUG_TYPES]
        if not args.rirs_data:
            types = [t for t in types if t != "reverb"]
        if types:
            from utter.data.augment import Augmenter

            opts["augmenter"] = Augmenter.from_dirs(args.musan_prefix or None, args.rirs_data or None, types)
            opts["aug_types"] = types
    elif args.musan_prefix or args.rirs_data:
        raise ValueError("--musan-prefix/--rirs-data need --from-audio true (with features, give the "
                         "augmented copies as --aug-data)")
    return opts


def specaug_from_args(args: argparse.Namespace):
    """A SpecAugment module when any mask is asked for, else None."""
    from utter.nnet.specaug import SpecAugment

    n = (args.specaug_freq_masks, args.specaug_freq_width, args.specaug_time_masks, args.specaug_time_width)
    if not any(n):
        return None
    return SpecAugment(freq_masks=n[0], freq_width=n[1], time_masks=n[2], time_width=n[3])


def train_config(args: argparse.Namespace):
    """The trainer config: ``--max-steps`` as total steps, learning rates scaled by the global batch."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    overrides: dict[str, Any] = {}
    if args.max_steps:
        overrides["total_steps"] = args.max_steps
    if args.lr_reference_batch > 0:
        factor = args.batch_size * world / args.lr_reference_batch
        overrides.update(lr=args.lr * factor)
        log.info("learning rate %g x global batch %d / %d = %g", args.lr, args.batch_size * world,
                 args.lr_reference_batch, args.lr * factor)
    return train_config_from_args(args, **overrides)


def run_config(args: argparse.Namespace) -> dict[str, Any]:
    """Every parsed option (for config.json in the experiment dir)."""
    return {k: v for k, v in sorted(vars(args).items())}


def multi_crop_factory(args: argparse.Namespace, *, global_frames: int, num_global: int, local_frames: int,
                       num_local: int, min_frames: int):
    """The multi-crop loader factory of the data arguments (``utter.data.dataset.multi_crop_loader_factory``).

    A corpus with fewer usable utterances than ``--batch-size`` trains on batches of what there is
    (at least 2), rather than on none: ``args.batch_size`` is lowered to that, with a warning (the plan's
    facts in train_plan.json say what was used).
    """
    from utter.data.dataset import multi_crop_loader_factory

    dirs = data_dirs(args)

    def factory_of(batch_size: int):
        return multi_crop_loader_factory(
            dirs, batch_size=batch_size, seed=args.seed, global_frames=global_frames, num_global=num_global,
            local_frames=local_frames, num_local=num_local, min_frames=min_frames, **reader_options(args))

    factory = factory_of(args.batch_size)
    used = factory.plan.facts["used"]
    if used < args.batch_size:   # a tiny corpus: one batch of what there is, rather than none
        log.warning("only %d utterances to train on, fewer than --batch-size %d: batches of %d",
                    used, args.batch_size, max(used, 2))
        args.batch_size = max(used, 2)
        factory = factory_of(args.batch_size)
    return factory
