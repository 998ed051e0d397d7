"""What every corpus builder shares: its config, seeding, scaling, wav/text writing, job fan-out.

Every audio file is a job whose random generator is seeded from (seed, corpus, item keys), so
the bytes do not depend on the number of processes or their order.
"""
from __future__ import annotations

import multiprocessing as mp
import sys
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from utter.atomic import atomic_open, atomic_path

SCALE_NAMES = {"small": 0.3, "mini": 1.0}


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
