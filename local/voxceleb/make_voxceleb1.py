#!/usr/bin/env python3
"""VoxCeleb1 data dirs and trial lists (logic in utter.data.corpora.voxceleb)."""
from pathlib import Path

from utter.bin.common import main_entry, make_parser, str2bool
from utter.data.corpora.voxceleb import prepare_voxceleb1


def build_parser():
    p = make_parser("Write DATA/voxceleb1{,_dev,_test} and DATA/voxceleb1_trials/{O,E,H}[_orig] "
                    "from a VoxCeleb1 copy (wav/idNNNNN/<video>/NNNNN.wav, vox1_meta.csv, trial lists).",
                    threads=False)
    p.add_argument("--durations", type=str2bool, default=True, help="write utt2dur (reads every wav header)")
    p.add_argument("vox1_root", type=Path)
    p.add_argument("data", type=Path)
    return p


def main(args):
    for name, path in prepare_voxceleb1(args.vox1_root, args.data, durations=args.durations).items():
        print(f"{name}\t{path}")


if __name__ == "__main__":
    main_entry(main, build_parser)
