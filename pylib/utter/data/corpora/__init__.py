"""Data preparation for the real corpora: VoxCeleb, IEMOCAP, ADReSS, MUSAN, RIRS_NOISES.

Each module reads one corpus in its published on-disk layout and writes Kaldi data dirs.
The layout is checked as it is read: a missing file or a malformed line stops the run with
an error naming the file (and line). The simulator's miniature corpora share these layouts,
so the same code runs on both. This module holds what the corpus readers share.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import soundfile
from tqdm import tqdm

from utter.data.datadir import RECO_TABLES, SPK_TABLES, UTT_TABLES, utt2spk_to_spk2utt, write_table

log = logging.getLogger("utter.corpora")


class CorpusError(ValueError):
    """A corpus file is missing or malformed; the message names the file (and line)."""


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a directory, else a :class:`CorpusError` naming it and what it should hold."""
    if not path.is_dir():
        raise CorpusError(f"{path}: missing directory ({what})")
    return path


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else a :class:`CorpusError` naming it and what it should hold."""
    if not path.is_file():
        raise CorpusError(f"{path}: missing file ({what})")
    return path


def find_child(parent: Path, name: str) -> Path | None:
    """The entry of ``parent`` called ``name``, matched case-insensitively (copies differ in case)."""
    exact = parent / name
    if exact.exists():
        return exact
    if parent.is_dir():
        for child in sorted(parent.iterdir()):
            if child.name.lower() == name.lower():
                return child
    return None


def visible_files(directory: Path, suffix: str) -> list[Path]:
    """Files of ``directory`` ending in ``suffix``, sorted, skipping hidden and AppleDouble ``._`` files."""
    return sorted(p for p in directory.iterdir()
                  if p.is_file() and p.name.endswith(suffix) and not p.name.startswith("."))


def scp_path(path: Path) -> str:
    """Absolute path for a scp entry; Kaldi tables cannot hold whitespace in a path."""
    text = os.path.abspath(path)
    if any(c.isspace() for c in text):
        raise CorpusError(f"{text}: path contains whitespace, which Kaldi scp files cannot hold")
    return text


def stable_hash(text: str) -> str:
    """A hash of ``text`` that is the same on every machine and run (for deterministic splits)."""
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def audio_durations(utt2path: Mapping[str, Path], desc: str) -> dict[str, float]:
    """Duration in seconds of each audio file, read from its header (no decoding)."""
    out = {}
    for utt, path in tqdm(utt2path.items(), desc=desc, unit="file", disable=not sys.stderr.isatty()):
        try:
            info = soundfile.info(str(path))
        except (RuntimeError, soundfile.LibsndfileError) as e:
            raise CorpusError(f"{path}: cannot read audio header for '{utt}': {e}") from None
        out[utt] = info.frames / info.samplerate
    return out


def format_seconds(value: float) -> str:
    return f"{value:.3f}"


#: Tables a prep script may write; a rerun removes those it no longer writes, so none go stale.
_KNOWN_TABLES = set(UTT_TABLES) | set(RECO_TABLES) | set(SPK_TABLES) | {
    "utt2nationality", "utt2vocals", "utt2genre", "rir_list", "utt2dialog",
}


def write_data_dir(path: Path, tables: Mapping[str, Mapping[str, object] | Iterable[tuple[str, object]]]) -> None:
    """Write a data dir: the given tables (sorted, atomic) plus spk2utt from utt2spk.

    Known tables left from an earlier run and not written now are removed, and so is an old
    ``folds/`` dir, so that the directory never mixes two preparations.
    """
    if "utt2spk" not in tables:
        raise ValueError(f"{path}: a data dir needs utt2spk")
    path.mkdir(parents=True, exist_ok=True)
    names = set(tables) | {"spk2utt"}
    for old in sorted(_KNOWN_TABLES - names):
        if (path / old).is_file():
            log.info("%s: removing %s left from an earlier preparation", path, old)
            (path / old).unlink()
    if (path / "folds").is_dir():
        shutil.rmtree(path / "folds")
    for name, table in tables.items():
        write_table(path / name, table)
    write_table(path / "spk2utt", utt2spk_to_spk2utt(dict(tables["utt2spk"])))


def write_folds(path: Path, folds: Mapping[str, Mapping[str, list[str]]], name: str = "folds") -> None:
    """Write ``path/<name>/<k>/<part>`` utterance lists (one id a line, C-sorted)."""
    for fold, parts in folds.items():
        for part, utts in parts.items():
            write_table(path / name / fold / part, [(u, "") for u in utts])


def warn_banner(message: str) -> None:
    """A warning nobody scrolling a log can miss."""
    bar = "!" * 78
    log.warning("\n%s\n%s\n%s", bar, message, bar)


def count_summary(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k}: {counts[k]}" for k in sorted(counts)) or "none"
