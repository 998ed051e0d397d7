"""Write a simulated "own corpus": a folder of audio in a layout of its own (utter.sim.corpora.plain).

  python -m utter.bin.make_plain_corpus --layout nested --num-speakers 11 --num-utts 232 --trials 3000 corpora/lab

Layouts: nested (<speaker>/<session>/<NNN>.<ext>), flat (<speaker>_<session>_<NNN>.<ext>) and
unlabelled (rec<NNNN>.<ext>). A folder already holding the marker of the same options is skipped.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

from utter.atomic import atomic_open
from utter.bin.common import main_entry, make_parser, str2bool
from utter.sim.corpora.plain import FORMATS, LAYOUTS, build_plain

log = logging.getLogger("utter")
MARKER = ".sim_complete"


def parse_range(value: str) -> tuple[float, float]:
    lo, sep, hi = value.partition(",")
    if not sep:
        raise ValueError(f"--durations must be LO,HI seconds, got '{value}'")
    lo_f, hi_f = float(lo), float(hi)
    if not 0 < lo_f <= hi_f:
        raise ValueError(f"--durations must be 0 < LO <= HI, got '{value}'")
    return lo_f, hi_f


def build_parser():
    p = make_parser(__doc__.splitlines()[0], threads=False)
    p.add_argument("--layout", default="nested", choices=LAYOUTS, help="folder layout")
    p.add_argument("--format", default="flac", choices=sorted(FORMATS), help="audio format")
    p.add_argument("--num-speakers", type=int, default=11, help="speakers")
    p.add_argument("--num-utts", type=int, default=232, help="utterances in all (shared out over the speakers)")
    p.add_argument("--sessions", type=int, default=3, help="sessions (channels) per speaker")
    p.add_argument("--durations", default="4,8", help="utterance durations, uniform in LO,HI seconds")
    p.add_argument("--sample-rate", type=int, default=16000, help="sample rate of the files")
    p.add_argument("--trials", type=int, default=0, help="trials of trials.txt (VoxCeleb format; 0: none)")
    p.add_argument("--trial-speakers", type=int, default=0, help="the trials use the last N speakers (0: all)")
    p.add_argument("--prefix", default="speaker", help="speaker names: <prefix>01, <prefix>02 ...")
    p.add_argument("--seed", type=int, default=777, help="build seed: the same seed gives the same bytes")
    p.add_argument("--nj", type=int, default=2, help="processes that render audio")
    p.add_argument("--overwrite", type=str2bool, default=False, help="rebuild even when complete")
    p.add_argument("outdir", type=Path, help="the corpus folder to write")
    return p


def main(args) -> None:
    opts = {k: getattr(args, k) for k in ("layout", "format", "num_speakers", "num_utts", "sessions", "durations",
                                          "sample_rate", "trials", "trial_speakers", "prefix", "seed")}
    marker = args.outdir / MARKER
    text = json.dumps(opts, sort_keys=True)
    if not args.overwrite and marker.is_file() and marker.read_text() == text:
        log.info("%s: complete (%s), skipping", args.outdir, marker)
        return
    if args.num_speakers < 1 or args.num_utts < args.num_speakers:
        raise ValueError(f"need at least one speaker and one utterance per speaker, got {args.num_speakers} "
                         f"speakers and {args.num_utts} utterances")
    if args.outdir.exists():
        shutil.rmtree(args.outdir)
    t0 = time.time()
    rows = build_plain(args.outdir, layout=args.layout, num_speakers=args.num_speakers, num_utts=args.num_utts,
                       sessions=args.sessions, durations=parse_range(args.durations), fmt=args.format,
                       sample_rate=args.sample_rate, trials=args.trials, trial_speakers=args.trial_speakers,
                       prefix=args.prefix, seed=args.seed, nj=args.nj)
    with atomic_open(marker) as f:
        f.write(text)
    log.info("%s: %d %s files (%s layout, %.0f s of audio) in %.1f s", args.outdir, len(rows), args.format,
             args.layout, sum(r["duration"] for r in rows), time.time() - t0)


if __name__ == "__main__":
    main_entry(main, build_parser)
