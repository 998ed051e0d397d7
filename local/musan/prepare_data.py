#!/usr/bin/env python3
"""MUSAN data dirs (logic in utter.data.corpora.musan)."""
from pathlib import Path

from utter.bin.common import main_entry, make_parser, str2bool
from utter.data.corpora.musan import prepare_musan


def build_parser():
    p = make_parser("Write DATA/musan_{music,noise,speech} from a MUSAN copy.", threads=False)
    p.add_argument("--use-vocals", type=str2bool, default=True, help="keep music with vocals")
    p.add_argument("--durations", type=str2bool, default=True, help="write utt2dur and reco2dur")
    p.add_argument("musan_root", type=Path)
    p.add_argument("data", type=Path)
    return p


def main(args):
    for name, path in prepare_musan(args.musan_root, args.data, args.use_vocals, args.durations).items():
        print(f"{name}\t{path}")


if __name__ == "__main__":
    main_entry(main, build_parser)
