"""Build the miniature corpora: seeding, job fan-out over processes, wav writing, skip markers.

Every audio file is a job whose random generator is seeded from (seed, corpus, item keys), so
the bytes do not depend on the number of processes or their order. Metadata files are written
by the parent from the jobs' returned values, in job order.
"""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import shutil
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from utter.atomic import atomic_open, atomic_path

log = logging.getLogger("utter.sim")

CORPORA = ("voxceleb", "iemocap", "adress", "musan", "rirs")
#: corpus name -> the directory it writes under OUTDIR
CORPUS_DIRS = {"voxceleb": ("voxceleb1", "voxceleb2"), "iemocap": ("IEMOCAP_full_release",),
               "adress": ("ADReSS-IS2020-data",), "musan": ("musan",), "rirs": ("RIRS_NOISES",)}
SCALE_NAMES = {"small": 0.3, "mini": 1.0}
MARKER = ".sim_complete"


@dataclass(frozen=True)
class BuildConfig:
    outdir: Path
    seed: int = 777
    scale: float = 1.0
    fmt: str = "wav"  # VoxCeleb2 audio: wav, or m4a through ffmpeg


def parse_scale(value: str | float) -> float:
    """``--scale``: a positive number, or ``small`` (tests) / ``mini`` (= 1)."""
    if isinstance(value, str) and value in SCALE_NAMES:
        return SCALE_NAMES[value]
    try:
        k = float(value)
    except ValueError:
        raise ValueError(f"--scale must be a positive number or one of {', '.join(SCALE_NAMES)}, got '{value}'") \
            from None
    if not k > 0:
        raise ValueError(f"--scale must be positive, got {value}")
    return k


def scaled(base: int, scale: float, minimum: int) -> int:
    return max(minimum, int(round(base * scale)))


def item_rng(seed: int, *keys: object) -> np.random.Generator:
    """A generator seeded from the build seed and the item's identity (stable across processes)."""
    return np.random.default_rng([int(seed)] + [zlib.crc32(str(k).encode()) for k in keys])


def write_wav(path: Path, samples: np.ndarray, fs: int) -> None:
    """Write 16-bit PCM through a temporary name."""
    with atomic_path(path) as tmp:
        sf.write(str(tmp), samples, fs, subtype="PCM_16", format="WAV")


def write_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    with atomic_open(path, "w", encoding=encoding) as f:
        f.write(text)


@dataclass(frozen=True)
class Job:
    """One audio file to render: ``func(**kwargs)`` returns metadata for the parent."""

    func: Callable
    kwargs: dict


def _call(job: Job):
    return job.func(**job.kwargs)


def run_jobs(jobs: Sequence[Job], nj: int, desc: str) -> list:
    """Run jobs in ``nj`` processes (fork), results in job order."""
    bar = dict(desc=desc, total=len(jobs), disable=not sys.stderr.isatty(), unit="file")
    if nj <= 1 or len(jobs) < 4:
        return [_call(j) for j in tqdm(jobs, **bar)]
    ctx = mp.get_context("fork")
    with ctx.Pool(nj) as pool:
        return list(tqdm(pool.imap(_call, jobs, chunksize=4), **bar))


def _marker_text(cfg: BuildConfig, corpus: str) -> str:
    return json.dumps({"corpus": corpus, "seed": cfg.seed, "scale": cfg.scale, "format": cfg.fmt,
                       "version": 1}, sort_keys=True)


def build(cfg: BuildConfig, only: Sequence[str] = CORPORA, nj: int = 2, overwrite: bool = False) -> dict[str, float]:
    """Build the named corpora under ``cfg.outdir``; returns seconds spent per corpus.

    A corpus whose marker file records the same seed, scale and format is skipped unless
    ``overwrite``; otherwise its directories are removed and rebuilt.
    """
    from utter.sim.corpora import adress, iemocap, noises, voxceleb

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
        for d in dirs:
            if d.exists():
                shutil.rmtree(d)
        t0 = time.time()
        builders[corpus](cfg, nj)
        write_text(marker, _marker_text(cfg, corpus))
        times[corpus] = time.time() - t0
        log.info("%s: built in %.1f s under %s", corpus, times[corpus], ", ".join(map(str, dirs)))
    return times
