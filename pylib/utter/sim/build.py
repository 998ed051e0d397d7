"""Build the miniature corpora: which builder writes which directories, and the skip markers.

The builders share :mod:`utter.sim.build_tools`; metadata files are written by the parent from
the jobs' returned values, in job order. A corpus whose marker matches its config is skipped.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence

from utter.sim.build_tools import BuildConfig, write_text
from utter.sim.corpora import adress, iemocap, noises, voxceleb

log = logging.getLogger("utter.sim")

CORPORA = ("voxceleb", "iemocap", "adress", "musan", "rirs")
#: corpus name -> the directory it writes under OUTDIR
CORPUS_DIRS = {"voxceleb": ("voxceleb1", "voxceleb2"), "iemocap": ("IEMOCAP_full_release",),
               "adress": ("ADReSS-IS2020-data",), "musan": ("musan",), "rirs": ("RIRS_NOISES",)}
MARKER = ".sim_complete"


def _marker_text(cfg: BuildConfig, corpus: str) -> str:
    return json.dumps({"corpus": corpus, "seed": cfg.seed, "scale": cfg.scale, "format": cfg.fmt,
                       "version": 1}, sort_keys=True)


def build(cfg: BuildConfig, only: Sequence[str] = CORPORA, nj: int = 2, overwrite: bool = False) -> dict[str, float]:
    """Build the named corpora under ``cfg.outdir``; returns seconds spent per corpus.

    A corpus whose marker file records the same seed, scale and format is skipped unless
    ``overwrite``; otherwise it is built in a staging directory of this process, its markers
    written there, and only then moved over the old directories: a corpus directory with a
    marker is always a complete one, whatever else runs or fails meanwhile.
    """
    builders = {"voxceleb": voxceleb.build, "iemocap": iemocap.build, "adress": adress.build,
                "musan": noises.build_musan, "rirs": noises.build_rirs}
    unknown = [c for c in only if c not in builders]
    if unknown:
        raise ValueError(f"unknown corpus '{unknown[0]}' (known: {', '.join(CORPORA)})")
    if cfg.fmt not in ("wav", "m4a"):
        raise ValueError(f"--format must be wav or m4a, got '{cfg.fmt}'")
    if cfg.fmt == "m4a" and shutil.which("ffmpeg") is None:
        raise RuntimeError("--format m4a needs ffmpeg on PATH to encode VoxCeleb2 audio")
    cfg.outdir.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    for corpus in only:
        dirs = [cfg.outdir / d for d in CORPUS_DIRS[corpus]]
        marker = dirs[0] / MARKER
        if not overwrite and marker.is_file() and marker.read_text() == _marker_text(cfg, corpus):
            log.info("%s: complete (%s), skipping", corpus, marker)
            times[corpus] = 0.0
            continue
        t0 = time.time()
        staging = cfg.outdir / f".building-{corpus}-{os.getpid()}"
        if staging.exists():
            shutil.rmtree(staging)
        try:
            builders[corpus](dataclasses.replace(cfg, outdir=staging), nj)
            for d in dirs:   # in each of its directories, so that what is made from any of them can tell
                write_text(staging / d.name / MARKER, _marker_text(cfg, corpus))
            for d in dirs:
                if d.exists():
                    shutil.rmtree(d)
                os.replace(staging / d.name, d)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        times[corpus] = time.time() - t0
        log.info("%s: built in %.1f s under %s", corpus, times[corpus], ", ".join(map(str, dirs)))
    return times

