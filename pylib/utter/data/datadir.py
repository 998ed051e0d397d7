"""Kaldi data directories: read and write their ``key value...`` tables.

A data dir is a folder of plain text tables keyed by utterance (``utt2spk``, ``feats.scp``,
``utt2emo`` ...), by recording (``wav.scp``, ``reco2dur``) or by speaker (``spk2utt``,
``spk2gender``). Reading keeps file order and reports malformed lines by file and line
number; writing is atomic and sorted as ``LC_ALL=C sort`` sorts (byte order of the line).
"""
from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path

from utter.atomic import atomic_open

#: Tables keyed by utterance id that follow the utterances through fix/subset/copy/combine.
UTT_TABLES = (
    "utt2spk", "segments", "feats.scp", "vad.scp", "utt2num_frames", "utt2dur", "text",
    "utt2lang", "utt2emo", "utt2emo_full", "utt2vad_dims", "utt2session", "utt2label", "utt2mmse",
    "utt2age", "utt2gender", "utt2orig", "utt2pseudo", "utt2warp", "utt2uniq", "text_raw",
    "log_energy.scp",
)
#: Tables keyed by recording id (wav.scp is keyed by utterance when there is no segments file).
RECO_TABLES = ("wav.scp", "reco2file_and_channel", "reco2dur")
#: Tables keyed by speaker id.
SPK_TABLES = ("spk2utt", "spk2gender", "cmvn.scp")


class DataDirError(ValueError):
    """A data dir or one of its tables is missing, malformed or inconsistent."""


def sort_key(line: str) -> bytes:
    """The byte-order key under which ``LC_ALL=C sort`` orders lines."""
    return line.encode("utf-8", "surrogateescape")


def read_table(path: str | os.PathLike, *, allow_empty_value: bool = False) -> OrderedDict[str, str]:
    """Read a ``key value...`` table into an ordered dict of key -> rest of the line.

    Raises :class:`DataDirError` naming the file and line for a duplicate key, or for a
    line without a value unless ``allow_empty_value`` (as for ``text`` lines).
    """
    path = Path(path)
    table: OrderedDict[str, str] = OrderedDict()
    try:
        f = open(path, encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        raise DataDirError(f"{path}: no such file") from None
    with f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n").rstrip("\r")
            if not line.strip():
                raise DataDirError(f"{path}:{lineno}: empty line")
            parts = line.strip().split(maxsplit=1)
            key = parts[0]
            value = parts[1].strip() if len(parts) > 1 else ""
            if not value and not allow_empty_value:
                raise DataDirError(f"{path}:{lineno}: key '{key}' has no value")
            if key in table:
                raise DataDirError(f"{path}:{lineno}: duplicate key '{key}'")
            table[key] = value
    return table


def read_list_table(path: str | os.PathLike) -> OrderedDict[str, list[str]]:
    """Read a table whose values are whitespace-separated lists (``spk2utt``, ``segments``)."""
    return OrderedDict((k, v.split()) for k, v in read_table(path).items())


def read_id_list(path: str | os.PathLike) -> list[str]:
    """Read the first field of each non-empty line (utterance or speaker lists)."""
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return [line.split()[0] for line in f if line.strip()]


def format_table(table: Mapping[str, object] | Iterable[tuple[str, object]]) -> list[str]:
    """Lines ``key value`` for a table (list values joined by spaces), sorted in C order."""
    items = table.items() if isinstance(table, Mapping) else table
    lines = []
    for key, value in items:
        if isinstance(value, (list, tuple)):
            value = " ".join(str(v) for v in value)
        lines.append(f"{key} {value}".rstrip() if value != "" else f"{key}")
    lines.sort(key=sort_key)
    return lines


def write_table(path: str | os.PathLike, table: Mapping[str, object] | Iterable[tuple[str, object]]) -> None:
    """Write a table atomically, one ``key value`` line each, in ``LC_ALL=C`` sort order."""
    lines = format_table(table)
    with atomic_open(path, "w") as f:
        f.write("".join(line + "\n" for line in lines))


def utt2spk_to_spk2utt(utt2spk: Mapping[str, str] | Iterable[tuple[str, str]], *,
                       sort: bool = True) -> OrderedDict[str, list[str]]:
    """Invert utt2spk (a mapping, or ``(utt, spk)`` pairs in file order): each speaker's utterances in
    utt2spk's order; speakers in C order, or with ``sort=False`` in order of first appearance
    (Kaldi's utt2spk_to_spk2utt.pl)."""
    items = utt2spk.items() if isinstance(utt2spk, Mapping) else utt2spk
    spk2utt: dict[str, list[str]] = {}
    for utt, spk in items:
        spk2utt.setdefault(spk, []).append(utt)
    order = sorted(spk2utt, key=sort_key) if sort else spk2utt
    return OrderedDict((s, spk2utt[s]) for s in order)


def spk2utt_to_utt2spk(spk2utt: Mapping[str, list[str]] | Iterable[tuple[str, list[str]]], *,
                       sort: bool = True) -> OrderedDict[str, str] | list[tuple[str, str]]:
    """Expand spk2utt (a mapping, or ``(spk, utts)`` pairs in file order) into utt2spk: sorted by
    utterance in C order, or with ``sort=False`` the ``(utt, spk)`` pairs in spk2utt's order, as
    Kaldi's spk2utt_to_utt2spk.pl writes them (a repeated utterance repeated)."""
    items = spk2utt.items() if isinstance(spk2utt, Mapping) else spk2utt
    if not sort:
        return [(u, s) for s, utts in items for u in utts]
    utt2spk = {u: s for s, utts in items for u in utts}
    return OrderedDict((u, utt2spk[u]) for u in sorted(utt2spk, key=sort_key))


class DataDir:
    """One Kaldi data directory; every accessor reads its table from disk when called."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"DataDir({str(self.path)!r})"

    def file(self, name: str) -> Path:
        return self.path / name

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    def read(self, name: str, **kwargs) -> OrderedDict[str, str]:
        if not self.path.is_dir():
            raise DataDirError(f"{self.path}: no such data directory")
        return read_table(self.path / name, **kwargs)

    def write(self, name: str, table) -> None:
        write_table(self.path / name, table)

    # Common tables, typed.
    @property
    def utt2spk(self) -> OrderedDict[str, str]:
        return self.read("utt2spk")

    @property
    def spk2utt(self) -> OrderedDict[str, list[str]]:
        if self.has("spk2utt"):
            return read_list_table(self.file("spk2utt"))
        return utt2spk_to_spk2utt(self.utt2spk)

    @property
    def utts(self) -> list[str]:
        return list(self.utt2spk)

    @property
    def wav_scp(self) -> OrderedDict[str, str]:
        return self.read("wav.scp")

    @property
    def segments(self) -> OrderedDict[str, tuple[str, float, float]] | None:
        """utt -> (recording, start, end) in seconds (end -1 means the end), or None."""
        if not self.has("segments"):
            return None
        out: OrderedDict[str, tuple[str, float, float]] = OrderedDict()
        for lineno, (utt, rest) in enumerate(self.read("segments").items(), 1):
            fields = rest.split()
            try:
                if len(fields) != 3:
                    raise ValueError
                out[utt] = (fields[0], float(fields[1]), float(fields[2]))
            except ValueError:
                raise DataDirError(
                    f"{self.file('segments')}:{lineno}: expected 'utt reco start end', got '{utt} {rest}'"
                ) from None
        return out

    @property
    def feats_scp(self) -> OrderedDict[str, str]:
        return self.read("feats.scp")

    @property
    def vad_scp(self) -> OrderedDict[str, str]:
        return self.read("vad.scp")

    def numeric(self, name: str, kind: type = float) -> OrderedDict[str, float]:
        """A table of one number per key (utt2num_frames, utt2dur, utt2mmse ...)."""
        out = OrderedDict()
        for lineno, (key, value) in enumerate(self.read(name).items(), 1):
            try:
                out[key] = kind(value)
            except ValueError:
                raise DataDirError(f"{self.file(name)}:{lineno}: '{value}' for '{key}' is not a number") from None
        return out

    @property
    def utt2num_frames(self) -> OrderedDict[str, int]:
        return self.numeric("utt2num_frames", int)

    @property
    def utt2dur(self) -> OrderedDict[str, float]:
        return self.numeric("utt2dur", float)
