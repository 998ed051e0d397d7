#!/usr/bin/env python3
"""ADReSS data dirs and cross-validation folds (logic in utter.data.corpora.adress)."""
from pathlib import Path

from utter.bin.common import main_entry, make_parser, str2bool
from utter.data.corpora.adress import prepare_adress


def build_parser():
    p = make_parser("Write DATA/adress_train (with folds/<k>/{train,test}) and DATA/adress_test from "
                    "ADReSS-IS2020-data: labels, MMSE, age, gender, cleaned CHAT text.", threads=False)
    p.add_argument("--segments", type=str2bool, default=False,
                   help="one utterance per participant turn (CHAT timing bullets) instead of per recording")
    p.add_argument("--cv-folds", type=int, default=0,
                   help="0: leave one speaker out; K: K speaker groups stratified by label")
    p.add_argument("--test-labels", type=Path, default=None,
                   help="test labels file (default: test/meta_data_test.txt or another known name under the root)")
    p.add_argument("--partition-seeds", default="",
                   help="more draws of the speaker groups, one folds_p<S> each (seeds >= 0, space- or "
                        "comma-separated; the draw of folds/ is seed 0)")
    p.add_argument("adress_root", type=Path)
    p.add_argument("data", type=Path)
    return p


def main(args):
    if args.cv_folds < 0:
        raise ValueError(f"--cv-folds must be >= 0, got {args.cv_folds}")
    seeds = [int(s) for s in args.partition_seeds.replace(",", " ").split()]
    if any(s < 0 for s in seeds):
        raise ValueError(f"--partition-seeds must be non-negative integers, got '{args.partition_seeds}'")
    for name, path in prepare_adress(args.adress_root, args.data, args.segments, args.cv_folds,
                                     args.test_labels, seeds).items():
        print(f"{name}\t{path}")


if __name__ == "__main__":
    main_entry(main, build_parser)
