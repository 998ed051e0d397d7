"""Write the miniature corpora (VoxCeleb1/2, IEMOCAP, ADReSS, MUSAN, RIRS_NOISES) in their real layouts."""
from __future__ import annotations

from pathlib import Path

from utter.bin.common import main_entry, make_parser, str2bool
from utter.sim.build import CORPORA, build, log
from utter.sim.build_tools import BuildConfig, parse_scale


def build_parser():
    p = make_parser("Write synthetic miniature copies of the corpora in their real on-disk layouts.")
    p.add_argument("--seed", type=int, default=777, help="build seed: the same seed gives the same bytes")
    p.add_argument("--scale", default="1", help="count multiplier (a number, or 'small' for tests, 'mini' = 1)")
    p.add_argument("--only", default=",".join(CORPORA), help="comma-separated corpora to build")
    p.add_argument("--format", default="wav", choices=("wav", "m4a"), help="VoxCeleb2 audio format (m4a needs ffmpeg)")
    p.add_argument("--nj", type=int, default=2, help="processes that render audio")
    p.add_argument("--overwrite", type=str2bool, default=False, help="rebuild corpora already complete")
    p.add_argument("outdir", help="where voxceleb1/, voxceleb2/, IEMOCAP_full_release/ ... are written")
    return p


def main(args) -> None:
    only = [c.strip() for c in args.only.split(",") if c.strip()]
    cfg = BuildConfig(outdir=Path(args.outdir), seed=args.seed, scale=parse_scale(args.scale), fmt=args.format)
    times = build(cfg, only, nj=args.nj, overwrite=args.overwrite)
    log.info("built %s under %s in %.1f s", ", ".join(only), args.outdir, sum(times.values()))


if __name__ == "__main__":
    main_entry(main, build_parser)
