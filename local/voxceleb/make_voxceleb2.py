#!/usr/bin/env python3
"""A VoxCeleb2 data dir (logic in utter.data.corpora.voxceleb)."""
from pathlib import Path

from utter.bin.common import main_entry, make_parser, str2bool
from utter.data.corpora.voxceleb import prepare_voxceleb2


def build_parser():
    p = make_parser("Write a data dir for one VoxCeleb2 part (e.g. VOX2_ROOT/dev): aac/idN/<video>/NNNNN.m4a "
                    "as ffmpeg pipes, or a wav copy as paths.", threads=False)
    p.add_argument("--format", choices=("m4a", "wav"), default="m4a", help="audio format of the copy")
    p.add_argument("--durations", type=str2bool, default=True, help="write utt2dur (wav only)")
    p.add_argument("vox2_part", type=Path)
    p.add_argument("out_dir", type=Path)
    return p


def main(args):
    print(f"voxceleb2\t{prepare_voxceleb2(args.vox2_part, args.out_dir, args.format, args.durations)}")


if __name__ == "__main__":
    main_entry(main, build_parser)
