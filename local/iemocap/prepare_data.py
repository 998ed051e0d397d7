#!/usr/bin/env python3
"""IEMOCAP data dirs and session folds (logic in utter.data.corpora.iemocap)."""
from pathlib import Path

from utter.bin.common import main_entry, make_parser, str2bool
from utter.data.corpora.iemocap import prepare_iemocap


def build_parser():
    p = make_parser("Write DATA/iemocap (4 classes, hap+exc merged, folds/<k>/{train,dev,test}) and "
                    "DATA/iemocap_all (every labelled utterance, utt2emo_full) from IEMOCAP_full_release.",
                    threads=False)
    p.add_argument("--dev-fraction", type=float, default=0.2,
                   help="share of each training session's utterances held out (whole dialogs) as dev")
    p.add_argument("--durations", type=str2bool, default=True, help="write utt2dur")
    p.add_argument("iemocap_root", type=Path)
    p.add_argument("data", type=Path)
    return p


def main(args):
    if not 0 <= args.dev_fraction < 1:
        raise ValueError(f"--dev-fraction must be in [0, 1), got {args.dev_fraction}")
    for name, path in prepare_iemocap(args.iemocap_root, args.data, args.durations, args.dev_fraction).items():
        print(f"{name}\t{path}")


if __name__ == "__main__":
    main_entry(main, build_parser)
