"""split_data.sh (and split_scp.pl): a data dir split into parts, speaker-disjoint or by utterance."""
from __future__ import annotations

import os
from collections.abc import Sequence

from utter.data.datadir import DataDirError
from utter.data.dirtools.speakers import spk2utt_lines, utt2spk_pairs
from utter.data.dirtools.tables import (
    SPK_FILES,
    UTT_FILES,
    DirTables,
    Say,
    Table,
    has_file,
    recordings_of,
    say_stdout,
    utt_tables,
    write_lines,
)

# ----------------------------------------------------------------------------- split_scp.pl

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
        return [list(lines[a:b]) for a, b in piece_bounds(len(lines), num, path)]
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


def piece_bounds(n: int, num: int, path: str = "") -> list[tuple[int, int]]:
    """split_scp.pl without --utt2spk: the (start, end) line ranges of ``num`` consecutive pieces of ``n``
    lines (a job list's pieces; frame chunks of an utterance are :func:`utter.train.extract.frame_chunks`)."""
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



# ------------------------------------------------------------------------ split_data.sh

#: Every table split_data.sh splits, in the order it looks for them.
SPLIT_TABLES = tuple(dict.fromkeys(("utt2spk", "spk2utt", "segments", "wav.scp", "reco2file_and_channel", "reco2dur")
                                   + UTT_FILES + SPK_FILES))


def split_tables(d: str) -> list[str]:
    """The tables of ``d`` that split_data.sh splits (and whose times decide whether to split again)."""
    return [n for n in SPLIT_TABLES if has_file(d, n)]


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


def speaker_rows(pairs: Sequence[tuple[bytes, bytes]], num: int, path: str = "") -> list[list[int]]:
    """utt2spk's line indices in each of ``num`` speaker-disjoint parts (split_scp.pl --utt2spk)."""
    spk_rows: dict[bytes, list[int]] = {}
    for i, (_, s) in enumerate(pairs):
        r = spk_rows.get(s)
        if r is None:
            spk_rows[s] = [i]
        else:
            r.append(i)
    groups = list(spk_rows.values())
    parts = assign_speakers([len(g) for g in groups], num, path)
    return [[i for j in p for i in groups[j]] for p in parts]


def contiguous_bounds(rows: Sequence[Sequence[int]]) -> list[tuple[int, int]] | None:
    """(start, end) of each part when the parts are consecutive runs of lines, one after another
    (a speaker-sorted utt2spk), so every table keyed alike is cut by slicing; else None."""
    bounds = []
    for r in rows:
        if r[-1] - r[0] + 1 != len(r) or any(b - a != 1 for a, b in zip(r, r[1:])):
            return None
        bounds.append((r[0], r[-1] + 1))
    if any(a != (bounds[i - 1][1] if i else 0) for i, (a, _) in enumerate(bounds)):
        return None
    return bounds


class _Parts:
    """The parts of one split: utt2spk's lines, (utt, spk) pairs and spk2utt of each, and any
    other table cut along them."""

    def __init__(self, u2s: Table, pairs: list[tuple[bytes, bytes]], num: int, per_utt: bool, prog: str,
                 say: Say):
        self.num, self.prog, self.say = num, prog, say
        if per_utt:
            rows = None
            self.bounds = piece_bounds(len(pairs), num, u2s.path)
        else:
            rows = speaker_rows(pairs, num, u2s.path)
            self.bounds = contiguous_bounds(rows)
        self.utt_keys = [u for u, _ in pairs]
        if self.bounds is not None:
            self.lines = [u2s.lines[a:b] for a, b in self.bounds]
            self.pairs = [pairs[a:b] for a, b in self.bounds]
        else:
            self.lines = [[u2s.lines[i] for i in r] for r in rows]
            self.pairs = [[pairs[i] for i in r] for r in rows]
        self.spk2utt = [spk2utt_lines(pp) for pp in self.pairs]
        self._part_of: dict[bytes, int] | None = None

    def of_utts(self, t: Table) -> list[list[bytes]]:
        """The lines of an utterance table in each part (a line of no utterance of utt2spk: in none, said)."""
        if self.bounds is not None and t.keys == self.utt_keys:
            return [t.lines[a:b] for a, b in self.bounds]
        if self._part_of is None:
            self._part_of = {u: j for j, pp in enumerate(self.pairs) for u, _ in pp}
        part_of = self._part_of
        outs: list[list[bytes]] = [[] for _ in range(self.num)]
        missing = 0
        for line, k in zip(t.lines, t.keys):
            j = part_of.get(k)
            if j is None:
                missing += 1
            else:
                outs[j].append(line)
        if missing:
            self.say(f"{self.prog}: warning: {missing} lines of {t.path} name no utterance of utt2spk; "
                     f"not in any split")
        return outs

    @staticmethod
    def by_sets(t: Table, sets: list[set]) -> list[list[bytes]]:
        """The lines of ``t`` whose key is in each set."""
        return [[line for line, k in zip(t.lines, t.keys) if k in s] for s in sets]


def _check_split(data: str, num: int) -> None:
    if num < 1:
        raise DataDirError(f"invalid number of splits {num} (must be a positive integer)")
    if not os.path.isdir(data):
        raise DataDirError(f"{data}: no such directory")
    if not has_file(data, "utt2spk"):
        raise DataDirError(f"{data}/utt2spk: no such file")


def _warn_line_counts(d: DirTables, n: int, say: Say) -> None:
    for name in ("feats.scp", "text"):
        if d.has(name):
            m = len(d.get(name))
            if m != n:
                say(f"** split_data.sh: warning, #lines is (utt2spk,{name}) is ({n},{m}); you can\n"
                    f"**  use utils/fix_data_dir.sh {d.path} to fix this.")


def _write_parts(dirs: list[str], name: str, parts: list[list[bytes]]) -> None:
    for x, lines in zip(dirs, parts):
        write_lines(os.path.join(x, name), lines)


def _write_split_tables(d: DirTables, parts: _Parts, dirs: list[str]) -> set[str]:
    """Every table of ``d`` but utt2spk and spk2utt, cut into ``dirs``; returns the names written
    (utt2spk and spk2utt included)."""
    written: set[str] = {"utt2spk", "spk2utt"}
    has_segments = d.has("segments")
    for name in utt_tables(d, has_segments):
        _write_parts(dirs, name, parts.of_utts(d.get(name)))
        written.add(name)
        del d.tables[name]          # free it
    spk_sets = None
    for name in SPK_FILES:
        if d.has(name):
            if spk_sets is None:
                spk_sets = [{line.partition(b" ")[0] for line in s} for s in parts.spk2utt]
            _write_parts(dirs, name, parts.by_sets(d.get(name), spk_sets))
            written.add(name)
    if has_segments:
        seg_parts = parts.of_utts(d.get("segments"))
        reco_sets = [set(recordings_of(Table("", s, True))) for s in seg_parts]
        _write_parts(dirs, "segments", seg_parts)
        written.add("segments")
        for name in ("wav.scp", "reco2file_and_channel", "reco2dur"):
            if d.has(name):
                _write_parts(dirs, name, parts.by_sets(d.get(name), reco_sets))
                written.add(name)
    elif d.has("reco2file_and_channel"):
        _write_parts(dirs, "reco2file_and_channel", parts.of_utts(d.get("reco2file_and_channel")))
        written.add("reco2file_and_channel")
    return written


def split_data(data: str | os.PathLike, num: int, per_utt: bool = False, *, prog: str = "split_data.sh",
               say: Say = say_stdout) -> str:
    """split_data.sh: ``DATA/splitN/1..N`` (speaker-disjoint) or ``DATA/splitNutt/1..N``.

    Every per-utterance and per-speaker table is split along (recordings follow segments);
    nothing is rewritten when every split is already newer than its sources."""
    data = os.fspath(data)
    _check_split(data, num)
    out = os.path.join(data, f"split{num}{'utt' if per_utt else ''}")
    if os.path.getsize(os.path.join(data, "utt2spk")) == 0:
        raise DataDirError(f"{data}: no utterances (utt2spk is empty), nothing to split")
    if split_is_current(data, out, num):
        return out
    d = DirTables(data)
    u2s = d.get("utt2spk")
    pairs = utt2spk_pairs(u2s)
    _warn_line_counts(d, len(pairs), say)
    parts = _Parts(u2s, pairs, num, per_utt, prog, say)
    dirs = [os.path.join(out, str(j)) for j in range(1, num + 1)]
    for x in dirs:
        os.makedirs(x, exist_ok=True)
    written = _write_split_tables(d, parts, dirs)
    for x, s2u, lines in zip(dirs, parts.spk2utt, parts.lines):
        for stale in set(SPLIT_TABLES) - written:     # a table the source no longer has must not linger in a split
            try:
                os.unlink(os.path.join(x, stale))
            except FileNotFoundError:
                pass
        write_lines(os.path.join(x, "spk2utt"), s2u)
        write_lines(os.path.join(x, "utt2spk"), lines)
    return out
