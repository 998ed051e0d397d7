#!/usr/bin/env python3
"""RIRS_NOISES data dirs (logic in utter.data.corpora.rirs)."""
from pathlib import Path

from utter.bin.common import main_entry, make_parser, str2bool
from utter.data.corpora.rirs import prepare_rirs


def build_parser():
    p = make_parser("Write DATA/rirs_<room> (wav.scp, utt2spk rir->room, rir_list, utt2dur) from "
                    "RIRS_NOISES/simulated_rirs.", threads=False)
    p.add_argument("--rooms", default="small medium", help="room sizes to prepare: small, medium, large")
    p.add_argument("--durations", type=str2bool, default=True, help="write utt2dur")
    p.add_argument("rirs_root", type=Path)
    p.add_argument("data", type=Path)
    return p


def main(args):
    for name, path in prepare_rirs(args.rirs_root, args.data, tuple(args.rooms.split()), args.durations).items():
        print(f"{name}\t{path}")


if __name__ == "__main__":
    main_entry(main, build_parser)
