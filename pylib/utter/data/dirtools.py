"""Kaldi's data-dir tools on raw lines: filter, split, subset, fix, combine and copy.

Each function gives the files, line order and bytes that Kaldi's script of the same name gives
on the same input (``filter_scp.pl``, ``split_scp.pl``/``split_data.sh``, ``subset_scp.pl``/
``subset_data_dir.sh``, ``shuffle_list.pl``, ``fix_data_dir.sh``, ``combine_data.sh``,
``copy_data_dir.sh``), with the same ``.backup/`` contents and the same messages' meaning;
beyond Kaldi, this toolkit's per-utterance label tables (:data:`LABEL_FILES`) follow along.

Lines are handled as ``bytes`` (any encoding passes through untouched) and every table is read
once and written once, through a temporary name renamed into place, so a tool stopped midway
leaves every file either old or new, never half-written. The command lines are in
:mod:`utter.bin.datadir_tools`; this module only holds the functions.
"""
from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from itertools import compress, groupby, islice, repeat
from operator import itemgetter, lt

from utter.atomic import atomic_path, tmp_name
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


def _say(msg: str) -> None:
    print(msg, flush=True)


def _say_err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- tables

_BLANKS = (b"\t", b"\r", b"\x0b", b"\x0c")
_BLOCK = 1 << 25          # read tables 32 MiB at a time
_WRITE_LINES = 1 << 17    # write them 128k lines at a time


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
                    if simple and any(c in block for c in _BLANKS):    # one-byte scans are fast
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
    return not any(c in data for c in _BLANKS)


def read_table(path: str | os.PathLike) -> Table:
    return Table.read(path)


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


def read_ids(path: str | os.PathLike) -> list[bytes]:
    """First field of each non-blank line (an utterance or speaker list, as filter_scp.pl reads one)."""
    t = Table.read(path)
    return [k for k in t.keys if k]


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


def filter_lines(lines: Sequence[bytes], ids, *, exclude: bool = False, n: int = 1, path: str = "") -> list[bytes]:
    """filter_scp.pl: the lines whose field ``n`` is (``exclude``: is not) in ``ids``, in file order.

    A line without field ``n`` is an error naming ``path`` and the line."""
    ids = ids if isinstance(ids, (set, frozenset, dict)) else set(ids)
    out = []
    for i, line in enumerate(lines, 1):
        f = line.split()
        if len(f) < n:
            raise DataDirError(f"{path}:{i}: no field {n} in line '{_show(line)}'")
        if (f[n - 1] in ids) != exclude:
            out.append(line)
    return out


def _filter_table(t: Table, ids) -> tuple[list[bytes], list[bytes]]:
    """Lines (and keys) of ``t`` whose first field is in ``ids``, in file order."""
    mask = list(map(ids.__contains__, t.keys))
    return list(compress(t.lines, mask)), list(compress(t.keys, mask))


def _show(line: bytes) -> str:
    return line.decode("utf-8", "replace")


def _name(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


# ----------------------------------------------------------------------------- sorting

_CONTROL = bytes(range(0x20))


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
            if len(joined.translate(None, _CONTROL)) == len(joined):
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


# ----------------------------------------------------------------------------- speakers

def utt2spk_pairs(t: Table) -> list[tuple[bytes, bytes]]:
    """(utt, spk) of each line; a line without exactly two fields is an error naming it."""
    lines = t.lines
    if t.simple and lines and sum(map(bytes.count, lines, repeat(b" "))) == len(lines):
        if t._keys is None:
            parts = list(map(bytes.partition, lines, repeat(b" ")))
            keys = list(map(itemgetter(0), parts))
            spks = list(map(itemgetter(2), parts))
            del parts
        else:
            keys, spks = t._keys, [line.partition(b" ")[2] for line in lines]
        if all(spks):
            t._keys = keys
            t.single = True                            # one space on every line: exactly two fields
            return list(zip(keys, spks))
    out = []
    for i, line in enumerate(lines, 1):
        f = line.split()
        if len(f) != 2:
            raise DataDirError(f"{t.path}:{i}: expected 'utt spk', got '{_show(line)}'")
        out.append((f[0], f[1]))
    return out


def spk2utt_build(pairs: Sequence[tuple[bytes, bytes]]) -> tuple[list[bytes], list[list[bytes]]]:
    """spk2utt lines (utt2spk_to_spk2utt.pl's order) and the same as [spk, utt...] lists."""
    spk2utt: dict[bytes, list[bytes]] = {}
    for s, grp in groupby(pairs, key=itemgetter(1)):
        x = spk2utt.get(s)
        if x is None:
            x = spk2utt[s] = [s]
        x.extend(map(itemgetter(0), grp))
    groups = list(spk2utt.values())
    return [b" ".join(x) for x in groups], groups


def grouped_by_speaker(pairs: Sequence[tuple[bytes, bytes]]) -> bool:
    """Each speaker's utterances are consecutive (so spk2utt -> utt2spk keeps the order)."""
    runs = sum(1 for _ in groupby(map(itemgetter(1), pairs)))
    return runs == len(set(map(itemgetter(1), pairs)))


def spk2utt_lines(pairs: Iterable[tuple[bytes, bytes]]) -> list[bytes]:
    """utt2spk_to_spk2utt.pl: speakers in order of first appearance, their utterances in order."""
    return spk2utt_build(pairs)[0]


def spk2utt_groups(t: Table) -> list[list[bytes]]:
    """spk2utt lines as [spk, utt...] (a blank line is an error naming it)."""
    out = []
    for i, line in enumerate(t.lines, 1):
        f = line.split()
        if not f:
            raise DataDirError(f"{t.path}:{i}: empty line")
        out.append(f)
    return out


def utt2spk_from_spk2utt(groups: Iterable[Sequence[bytes]]) -> list[bytes]:
    """spk2utt_to_utt2spk.pl: one ``utt spk`` line per utterance, in spk2utt's order."""
    return [u + b" " + g[0] for g in groups for u in islice(g, 1, None)]


# ----------------------------------------------------------------------------- split / subset

def split_scp(lines: Sequence, num: int, utt2spk: dict | None = None, path: str = "") -> list[list]:
    """split_scp.pl: ``num`` parts; with ``utt2spk`` speaker-disjoint, balanced as Kaldi balances.

    Without ``utt2spk``: consecutive chunks, the first ``len % num`` one line longer. With it:
    speakers (in order of appearance) go to part ``int(i*num/nspk)``, then boundary speakers
    move to a neighbour while that makes the two parts' utterance counts closer. Lines may be
    ``str`` or ``bytes``; their first field is looked up in ``utt2spk``.
    """
    if num < 1:
        raise DataDirError(f"invalid number of splits {num}")
    if utt2spk is None:
        return [list(lines[a:b]) for a, b in chunk_bounds(len(lines), num, path)]
    spk_lines: dict = {}
    for i, line in enumerate(lines, 1):
        f = line.split(None, 1)
        if not f:
            raise DataDirError(f"{path}:{i}: empty line")
        spk = utt2spk.get(f[0])
        if spk is None:
            raise DataDirError(f"{path}:{i}: utterance {f[0]!r} not in utt2spk")
        spk_lines.setdefault(spk, []).append(line)
    parts = assign_speakers([len(v) for v in spk_lines.values()], num, path)
    spks = list(spk_lines)
    return [[line for j in p for line in spk_lines[spks[j]]] for p in parts]


def chunk_bounds(n: int, num: int, path: str = "") -> list[tuple[int, int]]:
    """split_scp.pl without --utt2spk: ``num`` consecutive chunks of ``n`` lines."""
    if n == 0:
        raise DataDirError(f"{path}: no utterances, nothing to split")
    per, rem = divmod(n, num)
    if per < 1:
        raise DataDirError(f"{path}: splitting {n} lines into too many pieces ({num}); reduce the number of jobs")
    out, pos = [], 0
    for i in range(num):
        size = per + (1 if i < rem else 0)
        out.append((pos, pos + size))
        pos += size
    return out


def assign_speakers(counts: Sequence[int], num: int, path: str = "") -> list[list[int]]:
    """split_scp.pl --utt2spk: speaker indices (in order of appearance) for each of ``num`` parts."""
    nspk = len(counts)
    if nspk < num:
        raise DataDirError(f"{path}: refusing to split {nspk} speakers into {num} parts "
                           f"(fewer speakers than jobs; use --per-utt or fewer jobs)")
    parts: list[list[int]] = [[] for _ in range(num)]
    sizes = [0] * num
    for i, c in enumerate(counts):
        j = (i * num) // nspk
        parts[j].append(i)
        sizes[j] += c
    changed = True
    while changed:
        changed = False
        for j in range(num):
            if j < num - 1 and parts[j]:
                c = counts[parts[j][-1]]
                if abs((sizes[j + 1] + c) - (sizes[j] - c)) < abs(sizes[j + 1] - sizes[j]):
                    sizes[j + 1] += c
                    sizes[j] -= c
                    parts[j + 1].insert(0, parts[j].pop())
                    changed = True
            if j > 0 and parts[j]:
                c = counts[parts[j][0]]
                if abs((sizes[j] - c) - (sizes[j - 1] + c)) < abs(sizes[j] - sizes[j - 1]):
                    sizes[j - 1] += c
                    sizes[j] -= c
                    parts[j - 1].append(parts[j].pop(0))
                    changed = True
    for j, p in enumerate(parts):
        if not p:
            raise DataDirError(f"{path}: split {j + 1} of {num} would be empty (too many splits and too few "
                               f"speakers)")
    return parts


def subset_scp(lines: Sequence, num: int, *, first: bool = False, last: bool = False) -> list:
    """subset_scp.pl: ``num`` lines evenly spread by recursive halving (or the first/last ``num``)."""
    if num > len(lines):
        raise DataDirError(f"requested {num} lines but only {len(lines)} available")
    if num <= 0:
        raise DataDirError(f"number of lines to select must be positive, got {num}")
    if first:
        return list(lines[:num])
    if last:
        return list(lines[len(lines) - num:])
    out: list = []
    stack = [(0, len(lines), num)]
    while stack:   # select_n(start, end, needed), depth first, the first half first
        start, end, needed = stack.pop()
        diff = end - start
        if needed == 0:
            continue
        if needed == diff:          # every line of the range is chosen
            out.extend(lines[start:end])
            continue
        half, half_needed = diff // 2, needed // 2
        stack.append((start + half, end, needed - half_needed))
        stack.append((start, start + half, half_needed))
    return out


def drand48_sequence(seed: int):
    """Perl's ``srand(seed); rand()`` values (perl's own drand48 since 5.20): x' = (a x + c) mod 2^48."""
    x = ((seed & 0xFFFFFFFF) << 16) + 0x330E
    while True:
        x = (0x5DEECE66D * x + 0xB) & 0xFFFFFFFFFFFF
        yield x / 281474976710656.0


def shuffle_list(lines: Sequence, seed: int = 0) -> list:
    """shuffle_list.pl [--srand seed]: each line gets perl's next ``rand()``; lines sorted by its
    string form (``%.15g``, compared as strings, as the script's ``cmp`` does), ties in input order."""
    r = drand48_sequence(seed)
    keyed = [(b"%.15g" % next(r), i) for i in range(len(lines))]
    keyed.sort()
    return [lines[i] for _, i in keyed]


# ----------------------------------------------------------------------------- data dirs

def _isfile(d: str, name: str) -> bool:
    return os.path.isfile(os.path.join(d, name))


class _Dir:
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
            return _isfile(self.path, name)
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


def _utt_tables(d: _Dir, has_segments: bool, extra: Sequence[str] = ()) -> list[str]:
    names = list(dict.fromkeys(list(UTT_FILES) + list(extra)))
    if not has_segments:
        names += ["wav.scp", "reco2dur"]       # keyed by utterance when there are no segments
    return [n for n in names if d.has(n)]


def _recordings_of(segments: Table) -> list[bytes]:
    recos = set()
    for i, line in enumerate(segments.lines, 1):
        f = line.split()
        if len(f) < 4:
            raise DataDirError(f"{segments.path}:{i}: expected 'utt reco start end', got '{_show(line)}'")
        recos.add(f[1])
    return sorted(recos)


def _write_subset(src: _Dir, dest: str, utt_lines: list[bytes], utts: set, spk2utt: list[bytes],
                  extra: Sequence[str] = ()) -> None:
    """Write every table of ``src`` filtered to ``utts`` into ``dest`` (subset_data_dir.sh's
    do_filtering, and this toolkit's label tables); utt2spk and spk2utt last."""
    has_segments = src.has("segments")
    for name in _utt_tables(src, has_segments, extra):
        write_lines(os.path.join(dest, name), _filter_table(src.get(name), utts)[0])
    spks = {(line.split(None, 1) or [b""])[0] for line in spk2utt}
    for name in SPK_FILES:
        if src.has(name):
            write_lines(os.path.join(dest, name), _filter_table(src.get(name), spks)[0])
    if has_segments:
        segs = _filter_table(src.get("segments"), utts)[0]
        write_lines(os.path.join(dest, "segments"), segs)
        recos = set(_recordings_of(Table("", segs, True)))
        for name in ("wav.scp", "reco2file_and_channel", "reco2dur"):
            if src.has(name):
                write_lines(os.path.join(dest, name), _filter_table(src.get(name), recos)[0])
        if src.has("stm"):   # sclite's reference: its comment lines, then those of the recordings
            stm = src.get("stm")
            write_lines(os.path.join(dest, "stm"), [line for line in stm.lines if line.startswith(b";;")]
                        + [line for line, k in zip(stm.lines, stm.keys) if k in recos])
    elif src.has("reco2file_and_channel"):
        write_lines(os.path.join(dest, "reco2file_and_channel"),
                    _filter_table(src.get("reco2file_and_channel"), utts)[0])
    write_lines(os.path.join(dest, "spk2utt"), spk2utt)
    write_lines(os.path.join(dest, "utt2spk"), utt_lines)


# ------------------------------------------------------------------------ split_data.sh

def split_tables(d: str) -> list[str]:
    """The tables of ``d`` that split_data.sh splits (and whose times decide whether to split again)."""
    names = ["utt2spk", "spk2utt", "segments", "wav.scp", "reco2file_and_channel", "reco2dur"]
    names += list(UTT_FILES) + list(SPK_FILES)
    return [n for n in dict.fromkeys(names) if _isfile(d, n)]


def split_is_current(data: str, out: str, num: int) -> bool:
    """Every split 1..num holds every table of ``data``, none older than its source (as Kaldi's
    split_data.sh decides, but over every split and table, so an interrupted split is redone)."""
    for name in split_tables(data):
        src = os.stat(os.path.join(data, name)).st_mtime_ns
        for j in range(1, num + 1):
            try:
                if os.stat(os.path.join(out, str(j), name)).st_mtime_ns < src:
                    return False
            except FileNotFoundError:
                return False
    return True


def split_data(data: str | os.PathLike, num: int, per_utt: bool = False, *, prog: str = "split_data.sh",
               say: Say = _say) -> str:
    """split_data.sh: ``DATA/splitN/1..N`` (speaker-disjoint) or ``DATA/splitNutt/1..N``.

    Every per-utterance and per-speaker table is split along (recordings follow segments);
    nothing is rewritten when every split is already newer than its sources."""
    data = os.fspath(data)
    if num < 1:
        raise DataDirError(f"invalid number of splits {num} (must be a positive integer)")
    if not os.path.isdir(data):
        raise DataDirError(f"{data}: no such directory")
    if not _isfile(data, "utt2spk"):
        raise DataDirError(f"{data}/utt2spk: no such file")
    out = os.path.join(data, f"split{num}{'utt' if per_utt else ''}")
    if os.path.getsize(os.path.join(data, "utt2spk")) == 0:
        raise DataDirError(f"{data}: no utterances (utt2spk is empty), nothing to split")
    if split_is_current(data, out, num):
        return out
    d = _Dir(data)
    u2s = d.get("utt2spk")
    pairs = utt2spk_pairs(u2s)
    n = len(pairs)
    for name in ("feats.scp", "text"):
        if d.has(name):
            m = len(d.get(name))
            if m != n:
                say(f"** split_data.sh: warning, #lines is (utt2spk,{name}) is ({n},{m}); you can\n"
                    f"**  use utils/fix_data_dir.sh {data} to fix this.")
    # part index of each utt2spk line
    if per_utt:
        bounds = chunk_bounds(n, num, u2s.path)
    else:
        spk_rows: dict[bytes, list[int]] = {}
        for i, (_, s) in enumerate(pairs):
            r = spk_rows.get(s)
            if r is None:
                spk_rows[s] = [i]
            else:
                r.append(i)
        groups = list(spk_rows.values())
        parts = assign_speakers([len(g) for g in groups], num, u2s.path)
        rows = [[i for j in p for i in groups[j]] for p in parts]
        bounds = []
        for r in rows:   # contiguous runs (a speaker-sorted utt2spk) allow slicing every table alike
            if r[-1] - r[0] + 1 != len(r) or any(b - a != 1 for a, b in zip(r, r[1:])):
                bounds = None
                break
            bounds.append((r[0], r[-1] + 1))
        if bounds is not None and any(a != (bounds[i - 1][1] if i else 0) for i, (a, _) in enumerate(bounds)):
            bounds = None
    utt_keys = [u for u, _ in pairs]
    if bounds is not None:
        part_lines = [u2s.lines[a:b] for a, b in bounds]
        part_pairs = [pairs[a:b] for a, b in bounds]
    else:
        part_lines = [[u2s.lines[i] for i in r] for r in rows]
        part_pairs = [[pairs[i] for i in r] for r in rows]
    part_of: dict[bytes, int] | None = None

    def utt_parts(t: Table) -> list[list[bytes]]:
        nonlocal part_of
        if bounds is not None and t.keys == utt_keys:
            return [t.lines[a:b] for a, b in bounds]
        if part_of is None:
            part_of = {}
            for j, pp in enumerate(part_pairs):
                for u, _ in pp:
                    part_of[u] = j
        outs: list[list[bytes]] = [[] for _ in range(num)]
        missing = 0
        for line, k in zip(t.lines, t.keys):
            j = part_of.get(k)
            if j is None:
                missing += 1
            else:
                outs[j].append(line)
        if missing:
            say(f"{prog}: warning: {missing} lines of {t.path} name no utterance of utt2spk; not in any split")
        return outs

    def by_sets(t: Table, sets: list[set]) -> list[list[bytes]]:
        return [[line for line, k in zip(t.lines, t.keys) if k in s] for s in sets]

    spk2utt = [spk2utt_lines(pp) for pp in part_pairs]
    has_segments = d.has("segments")
    dirs = [os.path.join(out, str(j)) for j in range(1, num + 1)]
    for x in dirs:
        os.makedirs(x, exist_ok=True)
    written: set[str] = {"utt2spk", "spk2utt"}
    for name in _utt_tables(d, has_segments):
        for x, lines in zip(dirs, utt_parts(d.get(name))):
            write_lines(os.path.join(x, name), lines)
        written.add(name)
        del d.tables[name]          # free it
    spk_sets = None
    for name in SPK_FILES:
        if d.has(name):
            if spk_sets is None:
                spk_sets = [{line.partition(b" ")[0] for line in s} for s in spk2utt]
            for x, lines in zip(dirs, by_sets(d.get(name), spk_sets)):
                write_lines(os.path.join(x, name), lines)
            written.add(name)
    if has_segments:
        seg_parts = utt_parts(d.get("segments"))
        reco_sets = [set(_recordings_of(Table("", s, True))) for s in seg_parts]
        for x, lines in zip(dirs, seg_parts):
            write_lines(os.path.join(x, "segments"), lines)
        written.add("segments")
        for name in ("wav.scp", "reco2file_and_channel", "reco2dur"):
            if d.has(name):
                for x, lines in zip(dirs, by_sets(d.get(name), reco_sets)):
                    write_lines(os.path.join(x, name), lines)
                written.add(name)
    elif d.has("reco2file_and_channel"):
        for x, lines in zip(dirs, utt_parts(d.get("reco2file_and_channel"))):
            write_lines(os.path.join(x, "reco2file_and_channel"), lines)
        written.add("reco2file_and_channel")
    known = set(split_tables(data)) | {"utt2spk", "spk2utt", "segments", "wav.scp", "reco2file_and_channel",
                                       "reco2dur", *UTT_FILES, *SPK_FILES}
    for x, s2u, lines in zip(dirs, spk2utt, part_lines):
        for stale in known - written:     # a table the source no longer has must not linger in a split
            try:
                os.unlink(os.path.join(x, stale))
            except FileNotFoundError:
                pass
        write_lines(os.path.join(x, "spk2utt"), s2u)
        write_lines(os.path.join(x, "utt2spk"), lines)
    return out


# --------------------------------------------------------------------- subset_data_dir.sh

SUBSET_MODES = ("even", "first", "last", "shortest", "per-spk", "speakers", "utt-list", "spk-list")


def utterance_lengths(d: _Dir, feat_lengths: FeatLengths | None = None) -> tuple[list[bytes], list[float]]:
    """For --shortest: utt2num_frames if present (as Kaldi), else the frame counts of feats.scp
    (as feat-to-len; ``feat_lengths(scp_path)`` gives them as (utt, frames) pairs), else utt2dur
    (this toolkit's addition for feature-less dirs)."""
    if d.has("utt2num_frames"):
        t = d.get("utt2num_frames")
    elif d.has("feats.scp"):
        if feat_lengths is None:
            raise DataDirError(f"{d.path}: --shortest without utt2num_frames needs the frame counts of feats.scp "
                               f"(python -m utter.bin.datadir_tools reads them)")
        keys, lens = [], []
        for utt, n in feat_lengths(d.file("feats.scp")):
            keys.append(utt.encode("utf-8", "surrogateescape"))
            lens.append(float(n))
        return keys, lens
    elif d.has("utt2dur"):
        t = d.get("utt2dur")
    else:
        raise DataDirError(f"{d.path}: --shortest needs utt2num_frames, feats.scp or utt2dur")
    keys, lens = [], []
    for i, line in enumerate(t.lines, 1):
        f = line.split()
        try:
            lens.append(float(f[1]))
        except (IndexError, ValueError):
            raise DataDirError(f"{t.path}:{i}: expected 'utt number', got '{_show(line)}'") from None
        keys.append(f[0])
    return keys, lens


def subset_data_dir(src: str | os.PathLike, dest: str | os.PathLike, *, num: int | None = None,
                    mode: str = "even", id_list: str | os.PathLike | None = None,
                    prog: str = "subset_data_dir.sh", seed: int = 0, say: Say = _say,
                    feat_lengths: FeatLengths | None = None) -> None:
    """subset_data_dir.sh: ``mode`` even (subset_scp.pl), first, last, shortest, per-spk, speakers
    (shuffle_list.pl's perl-seeded order, whole speakers until ``num`` utterances), utt-list,
    spk-list (``id_list`` is the list file)."""
    src, dest = os.fspath(src), os.fspath(dest)
    if mode not in SUBSET_MODES:
        raise DataDirError(f"unknown subset mode {mode!r} (one of {', '.join(SUBSET_MODES)})")
    if not _isfile(src, "utt2spk"):
        raise DataDirError(f"{src}/utt2spk: no such file")
    if mode in ("utt-list", "spk-list"):
        if id_list is None:
            raise DataDirError(f"--{mode} needs a list file")
    elif num is None or num <= 0:
        raise DataDirError(f"<num-utt> must be a positive integer, got {num}")
    if os.path.abspath(src) == os.path.abspath(dest):
        raise DataDirError(f"{prog}: <srcdir> and <destdir> must differ ({src})")
    d = _Dir(src)
    u2s = d.get("utt2spk")
    if num is not None and mode in ("even", "first", "last", "shortest") and num > len(u2s):
        raise DataDirError(f"cannot subset {src} to {num} utterances: it has only {len(u2s)} "
                           f"(cannot subset to more utterances than you originally had)")

    def src_spk2utt() -> tuple[list[bytes], list[list[bytes]]]:
        if d.has("spk2utt"):
            t = d.get("spk2utt")
            return t.lines, spk2utt_groups(t)
        lines = spk2utt_lines(utt2spk_pairs(u2s))
        return lines, [x.split(b" ") for x in lines]

    if mode in ("spk-list", "speakers", "per-spk"):
        raw, groups = src_spk2utt()
        if mode == "spk-list":     # filter_scp.pl LIST spk2utt
            keep = set(read_ids(id_list))
            idx = [i for i, g in enumerate(groups) if g[0] in keep]
        elif mode == "speakers":   # shuffle_list.pl | awk '{ if (tot < n) print; tot += NF-1 }' | sort
            idx, tot = [], 0
            for i in shuffle_list(range(len(groups)), seed):
                if tot < num:
                    idx.append(i)
                tot += len(groups[i]) - 1
            idx.sort(key=raw.__getitem__)
        if mode == "per-spk":      # awk: skip = largest with num*skip <= #utts; x = 2, 2+skip ... <= num*skip+1
            s2u, groups_out = [], []
            for g in groups:
                nf = len(g)
                skip = 1
                while num * (skip + 1) <= nf - 1:
                    skip += 1
                picked = [g[x - 1] for x in range(2, min(nf, num * skip + 1) + 1, skip)]
                s2u.append(b" ".join([g[0], *picked]) + b" ")   # Kaldi's awk leaves a trailing space
                groups_out.append([g[0], *picked])
            groups = groups_out
        else:
            s2u = [raw[i] for i in idx]
            groups = [groups[i] for i in idx]
        utt_lines = utt2spk_from_spk2utt(groups)
    else:
        if mode == "utt-list":
            utt_lines = _filter_table(u2s, set(read_ids(id_list)))[0]
        elif mode == "shortest":
            keys, lens = utterance_lengths(d, feat_lengths)
            # sort -n -k2 | head -n: by the number, ties by the whole line (utt then number)
            order = sorted(range(len(keys)), key=lambda i: (lens[i], keys[i]))
            utt_lines = _filter_table(u2s, {keys[i] for i in order[:num]})[0]
        else:
            utt_lines = subset_scp(u2s.lines, num, first=mode == "first", last=mode == "last")
        s2u = spk2utt_lines(utt2spk_pairs(Table(u2s.path, utt_lines, u2s.simple)))
    os.makedirs(dest, exist_ok=True)
    utts = set(Table("", utt_lines, u2s.simple).keys)
    _write_subset(d, dest, utt_lines, utts, s2u)
    say(f"{prog}: reducing #utt from {len(u2s)} to {len(utt_lines)}")


# ------------------------------------------------------------------------ fix_data_dir.sh

#: The tables fix_data_dir.sh sorts (sort -k1,1 -u) and backs up first.
FIX_SORTED = ("utt2spk", "spk2utt", "feats.scp", "text", "segments", "wav.scp", "cmvn.scp", "vad.scp",
              "reco2file_and_channel", "spk2gender", "utt2lang", "utt2uniq", "utt2dur", "reco2dur",
              "utt2num_frames")


def _positive_keys(t: Table) -> set[bytes] | None:
    """Keys of the lines of two fields whose second is a number > 0 (awk's ``NF == 2 && $2 > 0``);
    None when that is every line."""
    if t.simple:
        vals = [line.partition(b" ")[2] for line in t.lines]
        try:
            nums = list(map(float, vals))        # fails on a third field (or a non-number)
        except ValueError:
            pass
        else:
            if nums and min(nums) > 0:
                return None
            return {k for k, v in zip(t.keys, nums) if v > 0}
    out = set()
    for line in t.lines:
        f = line.split()
        if len(f) == 2:
            try:
                if float(f[1]) > 0:
                    out.add(f[0])
            except ValueError:
                pass
    return out


def fix_data_dir(data: str | os.PathLike, *, utt_extra_files: Sequence[str] = (),
                 spk_extra_files: Sequence[str] = (), prog: str = "fix_data_dir.sh", say: Say = _say,
                 _state: _Dir | None = None) -> None:
    """fix_data_dir.sh: sort every table (first line of a repeated key kept), keep the utterances
    present in every per-utterance table Kaldi knows (feats.scp, vad.scp, text, segments,
    utt2lang, utt2uniq, wav.scp and reco2dur without segments; utt2dur and utt2num_frames with
    a positive value), the speakers in cmvn.scp/spk2gender and the recordings of the kept
    segments; filter every table (and this toolkit's label tables) to them. Originals go to
    ``DATA/.backup/``."""
    data = os.fspath(data)
    if not os.path.isdir(data):
        raise DataDirError(f"{data}: no such directory")
    if not _isfile(data, "utt2spk"):
        raise DataDirError(f"{data}/utt2spk: no such file")
    d = _state or _Dir(data)
    backup = os.path.join(data, ".backup")
    os.makedirs(backup, exist_ok=True)
    utt_extra = [f for f in dict.fromkeys(list(UTT_FILES) + list(utt_extra_files)) if f not in ("utt2spk",)]
    spk_extra = [f for f in spk_extra_files if f not in ("cmvn.scp", "spk2gender")]

    backed_up: dict[str, int] = {}
    utt_keyed = set(UTT_FILES) | set(utt_extra) | ({"wav.scp", "reco2dur"} if not d.has("segments") else set())

    def save_backup(name: str) -> None:
        t = d.get(name)
        v = d.version.get(name, 0)
        if backed_up.get(name) == v:
            return          # the backup already holds exactly this
        if t.on_disk:
            copy_file(d.file(name), os.path.join(backup, name))
        else:
            write_lines(os.path.join(backup, name), t.lines)
        backed_up[name] = v

    utt_sp: list[bytes] | None = None
    for x in dict.fromkeys(list(FIX_SORTED) + utt_extra + spk_extra):
        if d.has(x):
            save_backup(x)
            t = d.get(x)
            if utt_sp is not None and t.simple and x in utt_keyed and keys_are(t, utt_sp):
                t._keys = d.get("utt2spk").keys        # the same (sorted, unique) keys as utt2spk
                continue
            if sort_unique_by_key(t):
                say(f"{prog}: file {d.file(x)} is not in sorted order or not unique, sorting it")
                d.changed(x)
            if x == "utt2spk" and t.simple:
                utt_sp = [k + b" " for k in t.keys]

    def filter_to(name: str, ids, what: str) -> Table:
        t = d.get(name)
        n1 = len(t)
        lines, keys = _filter_table(t, ids)
        if len(lines) != n1:
            d.set(name, lines, keys)
            say(f"{prog}: filtered {d.file(name)} from {n1} to {len(lines)} lines based on filter {what}.")
        return t

    def filter_recordings() -> None:
        if not d.has("segments"):
            return
        if not d.has("wav.scp"):
            raise DataDirError(f"{prog}: {data}/segments exists but not {data}/wav.scp")
        segs = d.get("segments")
        recos = _recordings_of(segs)
        if not recos:
            raise DataDirError(f"{prog}: empty list of recordings (bad file {data}/segments)?")
        wav = set(d.get("wav.scp").keys)
        recos = {r for r in recos if r in wav}
        # Kaldi swaps fields 1 and 2 with awk (twice): segments come back as single-spaced 4 fields
        norm, kept, keys = [], [], []
        for line in segs.lines:
            f = line.split()
            nl = b" ".join(f[:4])
            norm.append(nl)
            if f[1] in recos:
                kept.append(nl)
                keys.append(f[0])
        if norm != segs.lines:
            d.set("segments", norm)
        if len(kept) != len(norm):
            d.set("segments", kept, keys)
            say(f"{prog}: filtered {d.file('segments')} from {len(norm)} to {len(kept)} lines based on filter "
                f"recordings.")
        filter_to("wav.scp", recos, "recordings")
        for name in ("reco2file_and_channel", "reco2dur"):
            if d.has(name):
                filter_to(name, recos, "recordings")

    pairs_cache: dict[int, list[tuple[bytes, bytes]]] = {}

    def pairs_now() -> list[tuple[bytes, bytes]]:
        v = d.version.get("utt2spk", 0)
        p = pairs_cache.get(v)
        if p is None:
            pairs_cache.clear()
            p = pairs_cache[v] = utt2spk_pairs(d.get("utt2spk"))
        return p

    def set_utt2spk(pairs: list[tuple[bytes, bytes]], lines: list[bytes] | None = None) -> None:
        t = d.set("utt2spk", lines if lines is not None else [u + b" " + s for u, s in pairs],
                  [u for u, _ in pairs], simple=True)
        t.single = True
        pairs_cache.clear()
        pairs_cache[d.version["utt2spk"]] = pairs

    built: dict[int, tuple[list[bytes], list[list[bytes]]]] = {}

    def spk2utt_now() -> tuple[list[bytes], list[list[bytes]]]:
        v = d.version.get("utt2spk", 0)
        if v not in built:
            built.clear()
            built[v] = spk2utt_build(pairs_now())
        return built[v]

    def filter_speakers() -> None:
        # utt2spk is primary, spk2utt derived
        pairs = pairs_now()
        s2u, groups = spk2utt_now()
        t = d.set("spk2utt", s2u, [g[0] for g in groups], simple=True)
        speakers = list(t.keys)
        for s in ("cmvn.scp", "spk2gender"):
            if d.has(s):
                have = set(d.get(s).keys)
                kept = [x for x in speakers if x in have]
                if len(kept) != len(speakers):
                    say(f"{prog}: filtered speakers from {len(speakers)} to {len(kept)} lines based on filter "
                        f"{d.file(s)}.")
                speakers = kept
        keep = set(speakers)
        if len(keep) != len(groups):
            n1 = len(groups)
            groups = [g for g in groups if g[0] in keep]
            d.set("spk2utt", [b" ".join(g) for g in groups], [g[0] for g in groups], simple=True)
            say(f"{prog}: filtered {d.file('spk2utt')} from {n1} to {len(groups)} lines based on filter speakers.")
            set_utt2spk([(u, g[0]) for g in groups for u in islice(g, 1, None)])
        elif not grouped_by_speaker(pairs):
            set_utt2spk([(u, g[0]) for g in groups for u in islice(g, 1, None)])
        else:
            u2s = d.get("utt2spk")
            if not u2s.single:
                set_utt2spk(pairs)                     # spk2utt_to_utt2spk.pl writes 'utt spk'
        for s in ("cmvn.scp", "spk2gender", *spk_extra):
            if d.has(s):
                filter_to(s, keep, "speakers")

    def filter_utts() -> None:
        u2s = d.get("utt2spk")
        pairs = pairs_now()
        lines = u2s.lines
        if not is_sorted(lines):
            raise DataDirError(f"{prog}: {data}/utt2spk is not in sorted order (fix this yourself)")
        if not sorted_by_speaker(lines, pairs if u2s.single else None):
            raise DataDirError(f"{prog}: {data}/utt2spk is not in sorted order when sorted first on speaker-id "
                               "(fix this by making speaker-ids prefixes of utt-ids)")
        if not is_sorted(d.get("spk2utt").lines):
            raise DataDirError(f"{prog}: {data}/spk2utt is not in sorted order (fix this yourself)")
        if d.has("utt2uniq") and not is_sorted(d.get("utt2uniq").lines):
            raise DataDirError(f"{prog}: {data}/utt2uniq is not in sorted order (fix this yourself)")
        has_segments = d.has("segments")
        filters = ["feats.scp", "vad.scp", "text", "segments", "utt2lang", "utt2uniq"]
        if not has_segments:
            filters.append("wav.scp")
            if d.has("reco2dur") and len(d.get("reco2dur")):
                filters.append("reco2dur")
        utts = u2s.keys
        keep = None
        for x in filters + ["utt2dur", "utt2num_frames"]:
            if d.has(x):
                t = d.get(x)
                ks = _positive_keys(t) if x in ("utt2dur", "utt2num_frames") else None
                if ks is None:
                    if t.keys == utts:
                        continue          # exactly utt2spk's utterances: nothing to drop
                    ks = set(t.keys)
                keep = ks if keep is None else keep & ks
        if keep is not None:
            utts = [u for u in utts if u in keep]
        if not utts:
            raise DataDirError("fix_data_dir.sh: no utterances remained: not proceeding further.")
        if len(utts) != len(lines):
            say(f"fix_data_dir.sh: kept {len(utts)} utterances out of {len(lines)}")
        else:
            say(f"fix_data_dir.sh: kept all {len(lines)} utterances.")
        all_kept = len(utts) == len(lines)
        uset = None
        names = ["utt2spk", "utt2uniq", "feats.scp", "vad.scp", "text", "segments", "utt2lang", "utt2dur",
                 "utt2num_frames"]
        if not has_segments:
            names += ["wav.scp"]
            if d.has("reco2dur") and len(d.get("reco2dur")):
                names += ["reco2dur"]
        for x in dict.fromkeys(names + utt_extra):
            if d.has(x):
                save_backup(x)
                t = d.get(x)
                if all_kept and t.keys == utts:
                    continue
                if uset is None:
                    uset = set(utts)
                if x == "utt2spk":
                    kept_pairs = [p for p in pairs if p[0] in uset]
                    set_utt2spk(kept_pairs, [line for line, p in zip(t.lines, pairs) if p[0] in uset])
                    continue
                kept, keys = _filter_table(t, uset)
                if len(kept) != len(t):
                    d.set(x, kept, keys)

    utt_sp = None     # free it
    filter_recordings()
    filter_speakers()
    filter_utts()
    filter_speakers()
    filter_recordings()
    s2u, groups = spk2utt_now()
    if s2u != d.get("spk2utt").lines:
        d.set("spk2utt", s2u, [g[0] for g in groups], simple=True)
    d.flush(order=[n for n in d.dirty if n not in ("utt2spk", "spk2utt")] + ["spk2utt", "utt2spk"])
    say(f"fix_data_dir.sh: old files are kept in {data}/.backup")


# ------------------------------------------------------------------------ combine_data.sh

#: The tables combine_data.sh combines when every source has them (then the extra files).
COMBINED = ("utt2spk", "utt2lang", "utt2dur", "utt2num_frames", "reco2dur", "feats.scp", "text", "cmvn.scp",
            "vad.scp", "reco2file_and_channel", "wav.scp", "spk2gender")


def combine_data(dest: str | os.PathLike, srcs: Sequence[str | os.PathLike], *, extra_files: Sequence[str] = (),
                 skip_fix: bool = False, prog: str = "combine_data.sh", say: Say = _say,
                 durations: Durations | None = None,
                 err: Say | None = None) -> None:
    """combine_data.sh: each table present in every source concatenated and sorted (``sort -k1``:
    whole lines in C order); utt2uniq and segments made where a source lacks them (``utt utt``;
    ``utt utt 0 <utt2dur>``); spk2utt rebuilt; then fix_data_dir.sh unless ``skip_fix``."""
    dest = os.fspath(dest)
    srcs = [os.fspath(s) for s in srcs]
    err = err or _say_err
    for s in srcs:
        if not _isfile(s, "utt2spk"):
            raise DataDirError(f"{prog}: no such file {s}/utt2spk")
        if os.path.abspath(s) == os.path.abspath(dest):
            raise DataDirError(f"{prog}: <dest-data-dir> {dest} is also a source")
    shift = None
    for s in srcs:   # frame shifts must agree where there are features
        if _isfile(s, "feats.scp") and _isfile(s, "frame_shift"):
            with open(os.path.join(s, "frame_shift"), "rb") as f:
                fs = f.read()
            if shift is not None and fs != shift[1]:
                raise DataDirError(f"{prog}: different frame_shift in directories {s} and {shift[0]}. "
                                   f"Cannot combine features.")
            shift = (s, fs)
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    work = tmp_name(os.path.abspath(dest))
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    try:
        st = _Dir(work)

        def put(name: str, lines: list[bytes]) -> None:
            lines.sort()     # sort -k1: the whole line is the key; sorted runs merge in linear time
            write_lines(os.path.join(work, name), lines)
            st.tables[name] = Table(os.path.join(work, name), lines, on_disk=True)

        if any(_isfile(s, "utt2uniq") for s in srcs):
            lines = []
            for s in srcs:
                if _isfile(s, "utt2uniq"):
                    lines += Table.read(os.path.join(s, "utt2uniq")).lines
                else:
                    lines += [k + b" " + k for k in Table.read(os.path.join(s, "utt2spk")).keys]
            put("utt2uniq", lines)
            say(f"{prog}: combined utt2uniq")
        else:
            say(f"{prog} [info]: not combining utt2uniq as it does not exist")
        if any(_isfile(s, "segments") for s in srcs):
            lines = []
            for s in srcs:
                if _isfile(s, "segments"):
                    lines += Table.read(os.path.join(s, "segments")).lines
                else:
                    err(f"{prog} [info]: will generate missing segments for {s}")
                    lines += _whole_segments(s, durations)
            put("segments", lines)
            say(f"{prog}: combined segments")
        else:
            say(f"{prog} [info]: not combining segments as it does not exist")
        extra = [f for f in extra_files if f not in ("utt2uniq", "segments")]

        def combine(name: str, say_absent: bool) -> None:
            present = [_isfile(s, name) for s in srcs]
            if all(present):
                put(name, [line for s in srcs for line in Table.read(os.path.join(s, name)).lines])
                say(f"{prog}: combined {name}")
            elif any(present):
                say(f"{prog} [info]: **not combining {name} as it does not exist everywhere**")
            elif say_absent:
                say(f"{prog} [info]: not combining {name} as it does not exist")
        for name in dict.fromkeys(list(COMBINED) + extra):
            combine(name, say_absent=True)
        for name in LABEL_FILES:   # this toolkit's label tables, combined where every source has them
            if name not in extra and name not in COMBINED:
                combine(name, say_absent=False)
        s2u = spk2utt_lines(utt2spk_pairs(st.get("utt2spk")))
        write_lines(os.path.join(work, "spk2utt"), s2u)
        st.tables["spk2utt"] = Table(os.path.join(work, "spk2utt"), s2u, True, on_disk=True)
        if shift is not None:
            copy_file(os.path.join(shift[0], "frame_shift"), os.path.join(work, "frame_shift"))
        if os.path.lexists(dest):
            shutil.rmtree(dest) if os.path.isdir(dest) and not os.path.islink(dest) else os.unlink(dest)
        os.replace(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if not skip_fix:
        st.path = dest
        for name, t in st.tables.items():
            if t is not None:
                t.path = os.path.join(dest, name)
        fix_data_dir(dest, prog="utils/fix_data_dir.sh", say=say, _state=st)


def _whole_segments(s: str, durations: Durations | None) -> list[bytes]:
    """get_segments_for_data.sh: ``utt utt 0 <duration>`` for each utterance of utt2dur (without
    utt2dur, ``durations(dir)`` gives utt -> seconds, read from the audio as get_utt2dur.sh does)."""
    if _isfile(s, "utt2dur"):
        t = Table.read(os.path.join(s, "utt2dur"))
        out = []
        for i, line in enumerate(t.lines, 1):
            f = line.split()
            if len(f) != 2:
                raise DataDirError(f"{t.path}:{i}: expected 'utt duration', got '{_show(line)}'")
            out.append(b"%s %s 0 %s" % (f[0], f[0], f[1]))
        return out
    if durations is None:
        raise DataDirError(f"{s}: no utt2dur to make its missing segments from")
    return [b"%s %s 0 %s" % (k.encode("utf-8", "surrogateescape"), k.encode("utf-8", "surrogateescape"),
                             repr(round(v, 3)).encode()) for k, v in durations(s).items()]


# ------------------------------------------------------------------------ copy_data_dir.sh
# The quick path: a data dir as Kaldi's tools write one (single-spaced, spk2utt made from a sorted
# utt2spk) is renamed on whole blocks of bytes, without a Python object per field; the same bytes
# as the general path below, which any other table (or any doubt) goes through.

_LOW = bytes(range(0x20))
_BLOCK_LINES = 1 << 17     # bytes read at a time by line_blocks (small: memory reused, few page faults)
_NOT_SIMPLE = (b"\t", b"\r", b"\x0b", b"\x0c")


def no_control(data: bytes) -> bool:
    """No byte below the blank but newlines (no tab, CR, ...)."""
    return len(data.translate(None, _LOW)) == len(data) - data.count(b"\n")


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


def expanded_spk2utt(u2s: bytes, s2u: bytes) -> tuple[list[bytes], list[bytes], list[bytes]] | None:
    """The contents of utt2spk and spk2utt when utt2spk is exactly spk2utt expanded
    (spk2utt_to_utt2spk.pl), the ids single-spaced without control bytes, the speakers and the
    utterances strictly C-sorted: (speakers, spk2utt's lines after their speaker, each utterance
    with a space after it); else None."""
    if not s2u.endswith(b"\n") or not no_control(s2u):
        return None
    spks, rests, utts_sp = [], [], []
    at = start = 0
    while start < len(s2u):                  # line by line, with no copy of the whole
        end = s2u.index(b"\n", start)
        blank = s2u.find(b" ", start, end)
        if blank < 0:
            return None
        spk, rest = s2u[start:blank], s2u[blank + 1:end]
        start = end + 1
        tail = b" " + spk + b"\n"
        part = rest.replace(b" ", tail) + tail          # this speaker's lines of utt2spk
        if not u2s.startswith(part, at):
            return None
        at += len(part)
        spks.append(spk)
        rests.append(rest)
        utts_sp += (rest.replace(b" ", b" \n") + b" ").split(b"\n")   # an empty id gives b" "
    # with no byte below the blank in the ids, "u " < "v " exactly when u < v; an empty id (b"" or
    # b" ") would sort first
    if (at != len(u2s) or not spks[0] or utts_sp[0] == b" " or not is_sorted_unique(spks)
            or not is_sorted_unique(utts_sp)):
        return None
    return spks, rests, utts_sp


def _write_bytes(path: str, blocks: Iterable[bytes]) -> bool:
    """Write ``blocks`` through a temporary name renamed onto ``path``; a None block abandons the
    file (the temporary name is removed, ``path`` untouched) and returns False."""
    tmp = tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            for block in blocks:
                if block is None:
                    break
                f.write(block)
            else:
                block = b""
        if block is None:
            os.unlink(tmp)
            return False
        os.replace(tmp, path)
        return True
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _renamed_blocks(path: str, utts_sp: list[bytes], p: bytes, s: bytes) -> Iterable[bytes | None]:
    """apply_map.pl -f 1 of an utterance table whose keys are exactly ``utts_sp`` and whose fields
    are joined by single spaces, block by block; None (then stops) at a line that is not so."""
    i = 0
    for block in line_blocks(path):
        lines = block.split(b"\n")
        if (lines.pop() != b"" or not all(map(bytes.startswith, lines, utts_sp[i:i + len(lines)]))
                or any(c in block for c in _NOT_SIMPLE) or b" " in bytes(map(itemgetter(-1), lines))):
            yield None
            return
        i += len(lines)
        one = lines[0].count(b" ") == 1 and block.count(b" ") == len(lines)    # one space a line: after the key
        if i > len(utts_sp) or (not one and b"  " in block):
            yield None
            return
        if s:
            if one:
                del lines
                block = block.replace(b" ", s + b" ")
            else:
                block = b"\n".join(map(bytes.replace, lines, repeat(b" "), repeat(s + b" "), repeat(1))) + b"\n"
                del lines
        if p:
            block = p + block[:-1].replace(b"\n", b"\n" + p) + b"\n"
        yield block
    if i != len(utts_sp):
        yield None


def _utt2spk_blocks(spks: list[bytes], rests: list[bytes], up: bytes, us: bytes, sp: bytes,
                    ss: bytes) -> Iterable[bytes]:
    """The renamed utt2spk, speaker by speaker, from spk2utt's lines (``rests``) that it expands."""
    for spk, rest in zip(spks, rests):
        tail = us + b" " + sp + spk + ss + b"\n"
        yield up + rest.replace(b" ", tail + up) + tail


def _utt2uniq_blocks(rests: list[bytes], utts_sp: list[bytes], up: bytes, us: bytes) -> Iterable[bytes]:
    """``P<utt>S <utt>`` lines, speaker by speaker: "<utt> " and "<utt>\\n" pieces interleaved, then
    each line's one space renamed (no NUL in the ids)."""
    i = 0
    for rest in rests:
        ends = (rest.replace(b" ", b"\n\x00") + b"\n").split(b"\x00")
        pieces = [b""] * (2 * len(ends))
        pieces[0::2] = utts_sp[i:i + len(ends)]
        pieces[1::2] = ends
        i += len(ends)
        block = b"".join(pieces).replace(b" ", us + b" ")
        yield up + block[:-1].replace(b"\n", b"\n" + up) + b"\n" if up else block


def copy_data_dir(src: str | os.PathLike, dest: str | os.PathLike, *, utt_prefix: str = "", utt_suffix: str = "",
                  spk_prefix: str = "", spk_suffix: str = "", prog: str = "copy_data_dir.sh",
                  say: Say = _say, quick: bool = True) -> dict[str, Table]:
    """copy_data_dir.sh: copy, renaming utterances (``P<utt>S``) and speakers; recordings keep
    their ids. Renamed tables come out as apply_map.pl writes them (fields joined by one space);
    with a new utterance id utt2uniq maps it to the original; a table the source lacks is moved
    out of the destination to ``DEST/.backup/``. Returns the tables written that it holds as
    lines (name -> Table), so the copy can be validated without reading them again. ``quick``:
    rename whole blocks where the tables allow (False: line by line only; the same bytes)."""
    src, dest = os.fspath(src), os.fspath(dest)
    if not _isfile(src, "utt2spk"):
        raise DataDirError(f"{prog}: no such file {src}/utt2spk")
    if os.path.abspath(src) == os.path.abspath(dest):
        raise DataDirError(f"{prog}: this script requires <srcdir> and <destdir> to be different.")
    up, us, sp, ss = (x.encode("utf-8", "surrogateescape") for x in (utt_prefix, utt_suffix, spk_prefix, spk_suffix))
    d = _Dir(src)
    fast = None
    if quick and d.has("spk2utt") and not any(c in x for x in (up, us, sp, ss) for c in b"\n\x00"):
        with open(d.file("utt2spk"), "rb") as f, open(d.file("spk2utt"), "rb") as g:
            fast = expanded_spk2utt(f.read(), g.read())
    if fast is not None:
        spk_ids, spk_rests, utt_sp = fast
        spks = set(spk_ids)
        utts: set[bytes] | None = None           # made when a table needs the line-by-line path
    else:
        u2s = d.get("utt2spk")
        pairs = utt2spk_pairs(u2s)
        utts = set(map(itemgetter(0), pairs))
        if len(utts) != len(pairs):
            raise DataDirError(f"{u2s.path}: duplicate utterance ids (utils/fix_data_dir.sh removes them)")
        if d.has("spk2utt"):
            spks = set(spk2utt_groups_keys(d.get("spk2utt")))
        else:
            spks = set(s for _, s in pairs)
        utt_sp = [u + b" " for u, _ in pairs]
    written: dict[str, Table] = {}

    def put(name: str, lines: list[bytes], keys_from: Table | None = None) -> None:
        write_lines(os.path.join(dest, name), lines)
        t = Table(os.path.join(dest, name), lines, simple=keys_from.simple if keys_from else None, on_disk=True)
        if keys_from is not None and keys_from._single:
            t.single = True
        written[name] = t

    def apply_map(t: Table, by_utt: bool, p: bytes, s: bytes) -> list[bytes]:
        """apply_map.pl -f 1: field 1 mapped (an id not in the map is an error), fields single-spaced."""
        nonlocal utts
        lines = t.lines
        if t.single and by_utt and keys_are(t, utt_sp):      # keys are utt2spk's: all mapped
            if s:
                lines = list(map(bytes.replace, lines, repeat(b" "), repeat(s + b" "), repeat(1)))
            return [p + line for line in lines] if p else list(lines)
        if by_utt and utts is None:
            utts = set(u[:-1] for u in utt_sp)
        ids = utts if by_utt else spks
        keys = t.keys
        if not all(map(ids.__contains__, keys)):
            i = next(i for i, k in enumerate(keys) if k not in ids)
            raise DataDirError(f"{t.path}:{i + 1}: undefined key '{_name(keys[i])}' (not in "
                               f"{'utt2spk' if by_utt else 'spk2utt'})")
        if t.single and all(map(bytes.__contains__, lines, repeat(b" "))):
            if s:
                lines = list(map(bytes.replace, lines, repeat(b" "), repeat(s + b" "), repeat(1)))
            return [p + line for line in lines] if p else list(lines)
        out = []
        for line in lines:
            f = line.split()
            f[0] = p + f[0] + s
            out.append(b" ".join(f))
        return out

    os.makedirs(dest, exist_ok=True)
    renamed = bool(up or us)
    if fast is None:
        spk_col = list(map(itemgetter(1), pairs))
        if not all(map(spks.__contains__, spk_col)):
            i = next(i for i, x in enumerate(spk_col) if x not in spks)
            raise DataDirError(f"{u2s.path}:{i + 1}: undefined key '{_name(spk_col[i])}' (speaker not in spk2utt)")
        del spk_col
        if u2s.single:
            new_u2s = list(map(bytes.replace, u2s.lines, repeat(b" "), repeat(us + b" " + sp), repeat(1)))
            if up or ss:
                new_u2s = [up + x + ss for x in new_u2s]
        else:
            new_u2s = [b"".join((up, u, us, b" ", sp, x, ss)) for u, x in pairs]
        _, groups = spk2utt_build(pairs)
        mid = us + b" " + up
        new_s2u = [b"".join((sp, g[0], ss, b" ", up, mid.join(islice(g, 1, None)), us)) for g in groups]
        del groups
    if d.has("utt2uniq"):
        lines = []
        for i, line in enumerate(d.get("utt2uniq").lines, 1):
            f = line.split()
            if len(f) < 2:
                raise DataDirError(f"{src}/utt2uniq:{i}: expected 'utt uniq-id', got '{_show(line)}'")
            lines.append(up + f[0] + us + b" " + f[1])
        put("utt2uniq", lines)
    elif renamed and fast is not None:
        _write_bytes(os.path.join(dest, "utt2uniq"), _utt2uniq_blocks(spk_rests, utt_sp, up, us))
    elif renamed:
        put("utt2uniq", [b"".join((up, u, us, b" ", u)) for u, _ in pairs])
    has_segments = d.has("segments")
    names = [n for n in UTT_FILES if n != "utt2uniq"] + ["segments" if has_segments else "wav.scp"]
    if not has_segments:
        names.append("reco2dur")
    for name in names:
        if d.has(name):
            if fast is not None and _write_bytes(os.path.join(dest, name),
                                                 _renamed_blocks(d.file(name), utt_sp, up, us)):
                continue
            put(name, apply_map(d.get(name), True, up, us), d.get(name))
            del d.tables[name]
    copied = ["reco2file_and_channel", "frame_shift", "stm", "glm", "ctm"]
    if has_segments:
        copied += ["wav.scp", "reco2dur"]
    for name in copied:
        if d.has(name):
            copy_file(d.file(name), os.path.join(dest, name))
    for name in ("spk2gender", "cmvn.scp", "spk2warp"):
        if d.has(name):
            put(name, apply_map(d.get(name), False, sp, ss), d.get(name))
    if fast is not None:
        mid = us + b" " + up
        _write_bytes(os.path.join(dest, "spk2utt"), (b"".join((sp, k, ss, b" ", up, r.replace(b" ", mid), us, b"\n"))
                                                     for k, r in zip(spk_ids, spk_rests)))
        _write_bytes(os.path.join(dest, "utt2spk"), _utt2spk_blocks(spk_ids, spk_rests, up, us, sp, ss))
    else:
        put("spk2utt", new_s2u)
        put("utt2spk", new_u2s, u2s)
    say(f"{prog}: copied data from {src} to {dest}")
    stale = ["feats.scp", "cmvn.scp", "vad.scp", "utt2lang", "utt2uniq", "utt2dur", "utt2num_frames", "text",
             "wav.scp", "reco2file_and_channel", "frame_shift", "stm", "glm", "ctm", *UTT_FILES, *SPK_FILES,
             "segments", "reco2dur"]
    for name in dict.fromkeys(stale):
        if _isfile(dest, name) and not _isfile(src, name) and not (name == "utt2uniq" and renamed):
            say(f"{prog}: file {name} exists in dest {dest} but not in src {src}.  Moving it to\n"
                f" ... {dest}/.backup/{name}")
            os.makedirs(os.path.join(dest, ".backup"), exist_ok=True)
            os.replace(os.path.join(dest, name), os.path.join(dest, ".backup", name))
    return written


def spk2utt_groups_keys(t: Table) -> list[bytes]:
    return [k for k in t.keys if k]
