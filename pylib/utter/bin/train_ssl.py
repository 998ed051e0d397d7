"""Train a speaker embedding network with any registered self-supervised objective (--objective NAME).

  python -m utter.bin.train_ssl --objective ntxent --config conf/ntxent.conf --exp-dir exp/ntxent data/train
  python -m utter.bin.train_ssl --objective ntxent --help     # the objective's own options too

The objectives are those of ``utter.train.objectives.registry`` (a module of utter.train.objectives
that registers itself, or a module NAME on PYTHONPATH that does): a new objective needs no new stage
program. Its batches are multi-crop views of unlabelled utterances (the clean data dir and its
augmented copies, --aug-data), as DINO's; the objective says which crops. Writes exp-dir/ckpt-*.pt,
train_log.tsv, loss.png, config.json, train_plan.json and final.pt (the network extraction uses).
In a recipe: an entry ssl:NAME of the systems list, conf/NAME.conf holding --objective=... .
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from utter.bin.common import main_entry, make_parser
from utter.bin.train_common import (
    add_data_arguments,
    add_network_arguments,
    add_run_arguments,
    build_network_from_args,
    multi_crop_factory,
    run_config,
    specaug_from_args,
    train_config,
)

log = logging.getLogger("utter")


def objective_of_argv(argv: Sequence[str]) -> str:
    """The ``--objective`` of a command line, the command line winning over its ``--config`` files
    (read in order, as the program reads them); empty when none names one."""
    from utter.config import config_argv

    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--config", action="append", default=[])
    pre.add_argument("--objective", default="")
    known, _ = pre.parse_known_args(list(argv))
    name = ""
    for path in known.config:
        try:
            name = pre.parse_known_args(config_argv(path))[0].objective or name
        except (OSError, ValueError):   # the program's own parse names the bad file
            pass
    return known.objective or name


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The options of the program and of the objective its command line (or config) names."""
    from utter.train.objectives.registry import objective_names, objective_spec

    name = objective_of_argv(sys.argv[1:] if argv is None else argv)
    p = make_parser(__doc__.splitlines()[0], device=True)
    p.add_argument("--objective", required=True, metavar="NAME",
                   help=f"the objective to train: {', '.join(objective_names())} (its options are listed "
                        "with --objective NAME --help)")
    add_run_arguments(p)
    add_network_arguments(p, "lresnet34")
    add_data_arguments(p)
    if name:
        spec = objective_spec(name)
        spec.add_arguments(p.add_argument_group(f"objective {name}: {spec.summary}"))
    p.add_argument("data_dir", help="training data dir (feats.scp and vad.scp, or wav.scp with --from-audio)")
    p.set_defaults(optimizer="adam", grad_clip=3.0)
    return p


def main(args: argparse.Namespace) -> None:
    from utter.train.objectives.registry import objective_spec
    from utter.train.trainer import Trainer, check_resume

    spec = objective_spec(args.objective)
    views = spec.views(args)
    factory = multi_crop_factory(args, global_frames=views.global_frames, num_global=views.num_global,
                                 local_frames=views.local_frames or views.global_frames,
                                 num_local=views.num_local, min_frames=views.min_frames or views.global_frames)
    config = train_config(args)
    objective = spec.build(build_network_from_args(args), args, specaug_from_args(args))
    if args.resume:
        check_resume(objective, args.exp_dir)
    final = Trainer(objective, factory, config, args.exp_dir, run_config=run_config(args)).train(resume=args.resume)
    if final is not None:
        log.info("%s training done: %s", args.objective, final)


if __name__ == "__main__":
    main_entry(main, build_parser)
