"""What the data-dir tools share: tables as lines of bytes, read and written whole; keys, sorting
and filtering as Kaldi's ``sort``/``filter_scp.pl`` see them; the tables of one data dir.

Lines are handled as ``bytes`` (any encoding passes through untouched) and every table is read
once and written once, through a temporary name renamed into place, so a tool stopped midway
leaves every file either old or new, never half-written.
"""
from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from itertools import compress, islice, repeat
from operator import itemgetter, lt

from utter.atomic import atomic_path
from utter.data.datadir import UTT_TABLES, DataDirError

#: Per-utterance tables Kaldi's data-dir scripts know.
KALDI_UTT_FILES = ("feats.scp", "text", "vad.scp", "utt2lang", "utt2dur", "utt2num_frames", "utt2uniq",
                   "utt2warp")
#: This toolkit's per-utterance label tables: filtered, split and renamed along, never a filter themselves.
LABEL_FILES = tuple(t for t in UTT_TABLES if t not in KALDI_UTT_FILES + ("utt2spk", "segments", "cmvn.scp"))
#: Every per-utterance table (besides utt2spk and segments).
UTT_FILES = KALDI_UTT_FILES + LABEL_FILES
#: Per-speaker tables.
SPK_FILES = ("spk2gender", "spk2warp", "cmvn.scp")

Say = Callable[[str], None]
#: feats.scp path -> (utt, number of frames) pairs (feat-to-len); given by the caller that reads features.
FeatLengths = Callable[[str], Iterable[tuple[str, int]]]
#: data dir -> {utt: seconds} read from its audio (get_utt2dur.sh); given by the caller that reads audio.
Durations = Callable[[str], dict]


def say_stdout(msg: str) -> None:
    print(msg, flush=True)


def say_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- tables

BLANKS = (b"\t", b"\r", b"\x0b", b"\x0c")
CONTROL = bytes(range(0x20))
_BLOCK = 1 << 25          # read tables 32 MiB at a time
_WRITE_LINES = 1 << 17    # write them 128k lines at a time
_BLOCK_LINES = 1 << 17    # bytes read at a time by line_blocks (small: memory reused, few page faults)


class Table:
    """One table's lines (``bytes`` without their newlines) and, computed on demand, first fields.

    ``simple`` means every line is non-empty, starts with a non-blank and uses only spaces as
    blanks, so a line's first field is the text before its first space (the fast path).
    ``on_disk`` means ``path`` holds exactly these lines (so it can be copied, not rewritten).
    """

    __slots__ = ("path", "lines", "simple", "_single", "on_disk", "unterminated", "_keys")

    def __init__(self, path: str, lines: list[bytes], simple: bool | None = None, on_disk: bool = False):
        self.path = path
        self.lines = lines
        self.simple = simple if simple is not None else _lines_simple(lines)
        self.on_disk = on_disk
        self.unterminated = False       # the file's last line had no newline
        self._single: bool | None = None  # simple, and fields joined by exactly one space (None: not yet known)
        self._keys: list[bytes] | None = None

    @classmethod
    def read(cls, path: str | os.PathLike) -> Table:
        path = os.fspath(path)
        lines: list[bytes] = []
        simple, rest = True, b""
        try:
            with open(path, "rb") as f:
                while True:        # in blocks: the file's bytes and its lines are never both held whole
                    block = f.read(_BLOCK)
                    if not block:
                        break
                    if simple and any(c in block for c in BLANKS):    # one-byte scans are fast
                        simple = False
                    part = (rest + block).split(b"\n") if rest else block.split(b"\n")
                    rest = part.pop()
                    lines += part
        except FileNotFoundError:
            raise DataDirError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise DataDirError(f"{path}: is a directory, expected a table") from None
        if rest:
            lines.append(rest)
        if simple:   # no empty line, none starting with a space
            simple = bool(lines) and all(lines) and b" " not in bytes(map(itemgetter(0), lines))
        t = cls(path, lines, simple, on_disk=True)
        t.unterminated = bool(rest)
        return t

    @property
    def single(self) -> bool:
        """Simple, and every field separated by exactly one space (no double or trailing space)."""
        if self._single is None:
            lines = self.lines
            self._single = bool(self.simple and b" " not in bytes(map(itemgetter(-1), lines))
                                and b"  " not in b"\n".join(lines))
        return self._single

    @single.setter
    def single(self, value: bool) -> None:
        self._single = value

    @property
    def keys(self) -> list[bytes]:
        """First whitespace-separated field of each line (``b''`` for a blank line)."""
        if self._keys is None:
            if self.simple:
                self._keys = [line.partition(b" ")[0] for line in self.lines]
            else:
                self._keys = [(line.split(None, 1) or [b""])[0] for line in self.lines]
        return self._keys

    def replace(self, lines: list[bytes], keys: list[bytes] | None = None) -> None:
        """New contents (a subset or reordering of the lines keeps ``simple`` and ``single``)."""
        self.lines = lines
        self._keys = keys
        self.on_disk = False
        self.unterminated = False
        if self._single is False:
            self._single = None

    def __len__(self) -> int:
        return len(self.lines)


def _lines_simple(lines: Sequence[bytes]) -> bool:
    if not lines:
        return True
    if not all(lines) or b" " in bytes(map(itemgetter(0), lines)):
        return False
    data = b"\n".join(lines)
    return not any(c in data for c in BLANKS)


def write_lines(path: str | os.PathLike, lines: Iterable[bytes]) -> None:
    """Write ``lines`` (bytes, newline added to each) through a temporary name renamed onto ``path``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        if not isinstance(lines, list):
            lines = list(lines)
        for i in range(0, len(lines), _WRITE_LINES):    # in chunks: no second copy of a big table
            f.write(b"\n".join(lines[i:i + _WRITE_LINES]))
            f.write(b"\n")


def copy_file(src: str, dest: str) -> None:
    """Copy through a temporary name renamed onto ``dest``."""
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)


def keys_are(t: Table, keys_sp: Sequence[bytes]) -> bool:
    """Whether the first fields of ``t`` are exactly ``keys_sp`` (each key with its space after it),
    in order: one C-level ``startswith`` per line, no field splitting."""
    return len(t.lines) == len(keys_sp) and all(map(bytes.startswith, t.lines, keys_sp))


def is_sorted_unique(keys: Sequence[bytes]) -> bool:
    """Strictly increasing in C order (``sort | uniq`` would not change them)."""
    return all(map(lt, keys, islice(keys, 1, None)))


def is_sorted(items: Sequence) -> bool:
    return not any(map(lt, islice(items, 1, None), items))


def first_unsorted(keys: Sequence[bytes]) -> int:
    """0-based index of the first key not strictly after its predecessor (-1 if none)."""
    for i in range(1, len(keys)):
        if not keys[i - 1] < keys[i]:
            return i
    return -1



def filter_table(t: Table, ids) -> tuple[list[bytes], list[bytes]]:
    """Lines (and keys) of ``t`` whose first field is in ``ids``, in file order."""
    mask = list(map(ids.__contains__, t.keys))
    return list(compress(t.lines, mask)), list(compress(t.keys, mask))


def show_line(line: bytes) -> str:
    return line.decode("utf-8", "replace")


def show_id(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


# ----------------------------------------------------------------------------- sorting

def sort_unique_by_key(t: Table) -> bool:
    """``LC_ALL=C sort -k1,1 -u`` in place: by first field, the first line of each key kept.

    Returns True when the lines changed."""
    lines = t.lines
    if t.simple and t._keys is None:
        # Whole-line byte order is first-field order when the keys are unique and hold no byte below
        # the blank (a key that prefixes another then sorts first either way).
        new = lines if is_sorted(lines) else sorted(lines)
        keys = [line.partition(b" ")[0] for line in new]
        if is_sorted_unique(keys):
            joined = b"".join(keys)
            if len(joined.translate(None, CONTROL)) == len(joined):
                if new is lines:
                    t._keys = keys
                    return False
                t.replace(new, keys)
                return True
        t._keys = None
    keys = t.keys
    if is_sorted_unique(keys):
        return False
    order = sorted(range(len(lines)), key=keys.__getitem__)   # stable: the first of equal keys first
    new_lines, new_keys, prev = [], [], None
    for i in order:
        k = keys[i]
        if k != prev:
            new_lines.append(lines[i])
            new_keys.append(k)
            prev = k
    changed = new_lines != lines
    t.replace(new_lines, new_keys)
    return changed


def sorted_by_speaker(lines: Sequence[bytes], pairs: Sequence[tuple[bytes, bytes]] | None = None) -> bool:
    """``sort -k2 | cmp`` of utt2spk lines that are already C-sorted: the speakers never decrease.

    ``pairs`` (the lines' (utt, spk)) may be given when every line is exactly ``utt spk``."""
    if pairs is None and sum(map(bytes.count, lines, repeat(b" "))) == len(lines) \
            and not any(map(bytes.__contains__, lines, repeat(b"\t"))):
        pairs = [line.partition(b" ")[::2] for line in lines]
    if pairs is not None:
        return is_sorted(list(map(itemgetter(1), pairs)))
    return is_sorted([sort_from_field2_key(x) for x in lines])


def sort_from_field2_key(line: bytes) -> tuple[bytes, bytes]:
    """The order of ``LC_ALL=C sort -k2``: from the blank before field 2 to the end, ties by the line."""
    s = line.lstrip(b" \t")
    i = 0
    while i < len(s) and s[i] not in b" \t":
        i += 1
    return s[i:], line


# ----------------------------------------------------------------------------- whole blocks of lines
# The quick paths (copy_data_dir, validate_data_dir) read a table as blocks of whole lines, without a
# Python object per line or field.

def no_control(data: bytes) -> bool:
    """No byte below the blank but newlines (no tab, CR, ...)."""
    return len(data.translate(None, CONTROL)) == len(data) - data.count(b"\n")


def line_blocks(path: str) -> Iterable[bytes]:
    """A file's bytes in blocks of whole lines (a last line without its newline comes alone, last):
    small blocks keep the memory, and the page faults of fresh memory, small."""
    rest = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(_BLOCK_LINES)
            if not block:
                break
            end = block.rfind(b"\n") + 1
            if end:
                yield rest + block[:end] if rest else block[:end]
                rest = block[end:]
            else:
                rest += block
    if rest:
        yield rest


# ----------------------------------------------------------------------------- data dirs

def has_file(d: str, name: str) -> bool:
    return os.path.isfile(os.path.join(d, name))


class DirTables:
    """The tables of one data dir, read once; changed ones are written back by :meth:`flush`."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self.tables: dict[str, Table | None] = {}
        self.dirty: set[str] = set()
        self.version: dict[str, int] = {}     # bumped on every change (backups remember theirs)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def has(self, name: str) -> bool:
        t = self.tables.get(name, False)
        if t is False:
            return has_file(self.path, name)
        return t is not None

    def get(self, name: str) -> Table:
        t = self.tables.get(name)
        if t is None:
            t = Table.read(self.file(name))
            self.tables[name] = t
        return t

    def set(self, name: str, lines: list[bytes], keys: list[bytes] | None = None, simple: bool | None = None) -> Table:
        t = self.tables.get(name)
        if t is None or t is False:
            t = Table(self.file(name), lines, simple)
            t._keys = keys
            self.tables[name] = t
        else:
            if simple is not None:
                t.simple = simple
            t.replace(lines, keys)
        self.dirty.add(name)
        self.version[name] = self.version.get(name, 0) + 1
        return t

    def changed(self, name: str) -> None:
        self.dirty.add(name)
        self.tables[name].on_disk = False
        self.version[name] = self.version.get(name, 0) + 1

    def flush(self, order: Sequence[str] = ()) -> None:
        names = [n for n in order if n in self.dirty] + sorted(self.dirty.difference(order))
        for name in names:
            t = self.tables[name]
            write_lines(self.file(name), t.lines)
            t.on_disk = True
        self.dirty.clear()


def utt_tables(d: DirTables, has_segments: bool, extra: Sequence[str] = ()) -> list[str]:
    names = list(dict.fromkeys(list(UTT_FILES) + list(extra)))
    if not has_segments:
        names += ["wav.scp", "reco2dur"]       # keyed by utterance when there are no segments
    return [n for n in names if d.has(n)]


def recordings_of(segments: Table) -> list[bytes]:
    recos = set()
    for i, line in enumerate(segments.lines, 1):
        f = line.split()
        if len(f) < 4:
            raise DataDirError(f"{segments.path}:{i}: expected 'utt reco start end', got '{show_line(line)}'")
        recos.add(f[1])
    return sorted(recos)
