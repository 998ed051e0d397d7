#!/usr/bin/env python3
"""A Kaldi data dir from a folder tree of audio in any layout (logic in utter.data.corpora.plain)."""
from pathlib import Path

from utter.bin.common import main_entry, make_parser, str2bool
from utter.data.corpora.plain import FFMPEG_EXTENSIONS, SOUNDFILE_EXTENSIONS, prepare_plain


def build_parser():
    p = make_parser(
        "Write the data dir DATA (wav.scp, utt2spk, spk2utt, utt2dur, segments) of every audio file under "
        "AUDIO_DIR (one or more folders). Speaker rules (--speaker): none (no labels: each recording is its "
        "own speaker), dir:N (the N-th directory below the root; -1 the file's own folder), regex:EXPR "
        "(group 'spk' or group 1 of EXPR searched in the path below the root), table:FILE ('<file> "
        "<speaker>' lines). Ids: the path below the root without extension, '/' -> '-', prefixed by the "
        "speaker.", threads=False)
    p.add_argument("--speaker", default="none", help="speaker rule: none, dir:N, regex:EXPR or table:FILE")
    p.add_argument("--segments", type=Path, default=None,
                   help="Kaldi segments file '<segment> <file> <start> <end>', <file> the path below the root "
                        "(with or without extension) or the recording id")
    p.add_argument("--extensions", default=",".join(SOUNDFILE_EXTENSIONS),
                   help="audio read by soundfile, by extension (comma-separated)")
    p.add_argument("--ffmpeg-extensions", default=",".join(FFMPEG_EXTENSIONS),
                   help="audio decoded through an ffmpeg pipe in wav.scp (needs ffmpeg on PATH); '' for none")
    p.add_argument("--sample-rate", type=int, default=16000,
                   help="sample rate the ffmpeg pipes decode to; files at other rates are counted in the log")
    p.add_argument("--durations", type=str2bool, default=True,
                   help="write utt2dur (reads every file's header; checks that each is readable audio)")
    p.add_argument("audio_dir", type=Path, nargs="+", help="folder(s) of audio")
    p.add_argument("data", type=Path, help="the data dir to write")
    return p


def main(args):
    out = prepare_plain(args.audio_dir, args.data, speaker=args.speaker, segments=args.segments,
                        extensions=args.extensions, ffmpeg_extensions=args.ffmpeg_extensions,
                        sample_rate=args.sample_rate, durations=args.durations)
    print(f"{out.name}\t{out}")


if __name__ == "__main__":
    main_entry(main, build_parser)
