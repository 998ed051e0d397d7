"""Print a training run's plan in words, one line per SYSTEM=train_plan.json (utter.train.train_plan).

  python -m utter.bin.describe_train_plan dino_small=exp/dino_small/train_plan.json

The sentence RESULTS.md gives (make_results_table --train-plan): the steps and epochs trained, the
utterances used and left out. A recipe says it after training without reading the training log.
"""
from __future__ import annotations

from utter.bin.common import main_entry, make_parser


def build_parser():
    p = make_parser(__doc__.splitlines()[0], threads=False)
    p.add_argument("plans", nargs="+", metavar="SYSTEM=JSON", help="a system's name and its train_plan.json")
    return p


def main(args) -> None:
    from utter.train.train_plan import describe_train_plan, read_train_plan

    for spec in args.plans:
        system, sep, path = spec.partition("=")
        if not sep or not system or not path:
            raise ValueError(f"bad plan '{spec}': expected SYSTEM=JSON (e.g. dino=exp/dino/train_plan.json)")
        print(describe_train_plan(system, read_train_plan(path)))


if __name__ == "__main__":
    main_entry(main, build_parser)
