"""copy_data_dir.sh: a data dir copied, its utterances and speakers renamed (``P<id>S``).

The quick path: a data dir as Kaldi's tools write one (single-spaced, spk2utt made from a sorted
utt2spk) is renamed on whole blocks of bytes, without a Python object per field; the same bytes
as the general path, which any other table (or any doubt) goes through.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from itertools import islice, repeat
from operator import itemgetter

from utter.atomic import tmp_name
from utter.data.datadir import DataDirError
from utter.data.dirtools.speakers import expanded_spk2utt, spk2utt_build, spk2utt_groups_keys, utt2spk_pairs
from utter.data.dirtools.tables import (
    BLANKS,
    SPK_FILES,
    UTT_FILES,
    DirTables,
    Say,
    Table,
    copy_file,
    has_file,
    keys_are,
    line_blocks,
    say_stdout,
    show_id,
    show_line,
    write_lines,
)

# ----------------------------------------------------------------------------- whole blocks

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
                or any(c in block for c in BLANKS) or b" " in bytes(map(itemgetter(-1), lines))):
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


# ----------------------------------------------------------------------------- line by line

#: Tables copied as they are (recordings keep their ids).
_COPIED = ("reco2file_and_channel", "frame_shift", "stm", "glm", "ctm")
#: Tables that are moved out of the destination to DEST/.backup/ when the source lacks them.
_STALE = tuple(dict.fromkeys(("feats.scp", "cmvn.scp", "vad.scp", "utt2lang", "utt2uniq", "utt2dur", "utt2num_frames",
                              "text", "wav.scp", "reco2file_and_channel", "frame_shift", "stm", "glm", "ctm",
                              *UTT_FILES, *SPK_FILES, "segments", "reco2dur")))


def _renamed_lines(lines: list[bytes], p: bytes, s: bytes) -> list[bytes]:
    """``P<key>S rest`` of lines whose key ends at their first space."""
    if s:
        lines = list(map(bytes.replace, lines, repeat(b" "), repeat(s + b" "), repeat(1)))
    return [p + line for line in lines] if p else list(lines)


class _Copier:
    """One run of copy_data_dir.sh: the source's ids, read once, and the tables written."""

    def __init__(self, src: str, dest: str, d: DirTables, affixes: tuple[bytes, bytes, bytes, bytes]):
        self.src, self.dest, self.d = src, dest, d
        self.up, self.us, self.sp, self.ss = affixes
        self.written: dict[str, Table] = {}
        self.fast: tuple[list[bytes], list[bytes], list[bytes]] | None = None
        self.utts: set[bytes] | None = None      # made when a table needs the line-by-line path
        self.spks: set[bytes] = set()
        self.utt_sp: list[bytes] = []
        self.u2s: Table | None = None
        self.pairs: list[tuple[bytes, bytes]] = []

    def read_ids(self, quick: bool) -> None:
        """The utterances and speakers: from utt2spk and spk2utt's bytes when utt2spk is spk2utt
        expanded (the quick path), else from utt2spk's pairs (duplicate utterances an error)."""
        d = self.d
        if quick and d.has("spk2utt") and not any(c in x for x in (self.up, self.us, self.sp, self.ss)
                                                  for c in b"\n\x00"):
            with open(d.file("utt2spk"), "rb") as f, open(d.file("spk2utt"), "rb") as g:
                self.fast = expanded_spk2utt(f.read(), g.read())
        if self.fast is not None:
            spk_ids, _, self.utt_sp = self.fast
            self.spks = set(spk_ids)
            return
        u2s = self.u2s = d.get("utt2spk")
        pairs = self.pairs = utt2spk_pairs(u2s)
        self.utts = set(map(itemgetter(0), pairs))
        if len(self.utts) != len(pairs):
            raise DataDirError(f"{u2s.path}: duplicate utterance ids (utils/fix_data_dir.sh removes them)")
        if d.has("spk2utt"):
            self.spks = set(spk2utt_groups_keys(d.get("spk2utt")))
        else:
            self.spks = set(s for _, s in pairs)
        self.utt_sp = [u + b" " for u, _ in pairs]

    def put(self, name: str, lines: list[bytes], keys_from: Table | None = None) -> None:
        write_lines(os.path.join(self.dest, name), lines)
        t = Table(os.path.join(self.dest, name), lines, simple=keys_from.simple if keys_from else None, on_disk=True)
        if keys_from is not None and keys_from._single:
            t.single = True
        self.written[name] = t

    def apply_map(self, t: Table, by_utt: bool, p: bytes, s: bytes) -> list[bytes]:
        """apply_map.pl -f 1: field 1 mapped (an id not in the map is an error), fields single-spaced."""
        lines = t.lines
        if t.single and by_utt and keys_are(t, self.utt_sp):      # keys are utt2spk's: all mapped
            return _renamed_lines(lines, p, s)
        if by_utt and self.utts is None:
            self.utts = set(u[:-1] for u in self.utt_sp)
        ids = self.utts if by_utt else self.spks
        keys = t.keys
        if not all(map(ids.__contains__, keys)):
            i = next(i for i, k in enumerate(keys) if k not in ids)
            raise DataDirError(f"{t.path}:{i + 1}: undefined key '{show_id(keys[i])}' (not in "
                               f"{'utt2spk' if by_utt else 'spk2utt'})")
        if t.single and all(map(bytes.__contains__, lines, repeat(b" "))):
            return _renamed_lines(lines, p, s)
        out = []
        for line in lines:
            f = line.split()
            f[0] = p + f[0] + s
            out.append(b" ".join(f))
        return out

    def speaker_maps(self) -> tuple[list[bytes], list[bytes]]:
        """The line-by-line path's renamed utt2spk and spk2utt (a speaker not in spk2utt an error)."""
        up, us, sp, ss = self.up, self.us, self.sp, self.ss
        u2s, pairs = self.u2s, self.pairs
        spk_col = list(map(itemgetter(1), pairs))
        if not all(map(self.spks.__contains__, spk_col)):
            i = next(i for i, x in enumerate(spk_col) if x not in self.spks)
            raise DataDirError(f"{u2s.path}:{i + 1}: undefined key '{show_id(spk_col[i])}' (speaker not in spk2utt)")
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
        return new_u2s, new_s2u

    def write_utt2uniq(self, renamed: bool) -> None:
        """The source's utt2uniq renamed; else, with new utterance ids, ``P<utt>S <utt>``."""
        d, up, us = self.d, self.up, self.us
        if d.has("utt2uniq"):
            lines = []
            for i, line in enumerate(d.get("utt2uniq").lines, 1):
                f = line.split()
                if len(f) < 2:
                    raise DataDirError(f"{self.src}/utt2uniq:{i}: expected 'utt uniq-id', got '{show_line(line)}'")
                lines.append(up + f[0] + us + b" " + f[1])
            self.put("utt2uniq", lines)
        elif renamed and self.fast is not None:
            _write_bytes(os.path.join(self.dest, "utt2uniq"), _utt2uniq_blocks(self.fast[1], self.utt_sp, up, us))
        elif renamed:
            self.put("utt2uniq", [b"".join((up, u, us, b" ", u)) for u, _ in self.pairs])

    def write_tables(self) -> None:
        """The utterance tables renamed (whole blocks where they allow), the recording tables
        copied, the speaker tables renamed."""
        d = self.d
        has_segments = d.has("segments")
        names = [n for n in UTT_FILES if n != "utt2uniq"] + ["segments" if has_segments else "wav.scp"]
        if not has_segments:
            names.append("reco2dur")
        for name in names:
            if d.has(name):
                if self.fast is not None and _write_bytes(os.path.join(self.dest, name),
                                                          _renamed_blocks(d.file(name), self.utt_sp, self.up,
                                                                          self.us)):
                    continue
                self.put(name, self.apply_map(d.get(name), True, self.up, self.us), d.get(name))
                del d.tables[name]
        for name in _COPIED + (("wav.scp", "reco2dur") if has_segments else ()):
            if d.has(name):
                copy_file(d.file(name), os.path.join(self.dest, name))
        for name in ("spk2gender", "cmvn.scp", "spk2warp"):
            if d.has(name):
                self.put(name, self.apply_map(d.get(name), False, self.sp, self.ss), d.get(name))

    def write_fast_speaker_maps(self) -> None:
        """The quick path's renamed spk2utt and utt2spk, from spk2utt's lines."""
        up, us, sp, ss = self.up, self.us, self.sp, self.ss
        spk_ids, spk_rests, _ = self.fast
        mid = us + b" " + up
        _write_bytes(os.path.join(self.dest, "spk2utt"), (b"".join((sp, k, ss, b" ", up, r.replace(b" ", mid), us,
                                                                    b"\n"))
                                                          for k, r in zip(spk_ids, spk_rests)))
        _write_bytes(os.path.join(self.dest, "utt2spk"), _utt2spk_blocks(spk_ids, spk_rests, up, us, sp, ss))


def _move_stale(src: str, dest: str, renamed: bool, prog: str, say: Say) -> None:
    """A table the destination has and the source lacks goes to ``DEST/.backup/``."""
    for name in _STALE:
        if has_file(dest, name) and not has_file(src, name) and not (name == "utt2uniq" and renamed):
            say(f"{prog}: file {name} exists in dest {dest} but not in src {src}.  Moving it to\n"
                f" ... {dest}/.backup/{name}")
            os.makedirs(os.path.join(dest, ".backup"), exist_ok=True)
            os.replace(os.path.join(dest, name), os.path.join(dest, ".backup", name))


def copy_data_dir(src: str | os.PathLike, dest: str | os.PathLike, *, utt_prefix: str = "", utt_suffix: str = "",
                  spk_prefix: str = "", spk_suffix: str = "", prog: str = "copy_data_dir.sh",
                  say: Say = say_stdout, quick: bool = True) -> dict[str, Table]:
    """copy_data_dir.sh: copy, renaming utterances (``P<utt>S``) and speakers; recordings keep
    their ids. Renamed tables come out as apply_map.pl writes them (fields joined by one space);
    with a new utterance id utt2uniq maps it to the original; a table the source lacks is moved
    out of the destination to ``DEST/.backup/``. Returns the tables written that it holds as
    lines (name -> Table), so the copy can be validated without reading them again. ``quick``:
    rename whole blocks where the tables allow (False: line by line only; the same bytes)."""
    src, dest = os.fspath(src), os.fspath(dest)
    if not has_file(src, "utt2spk"):
        raise DataDirError(f"{prog}: no such file {src}/utt2spk")
    if os.path.abspath(src) == os.path.abspath(dest):
        raise DataDirError(f"{prog}: this script requires <srcdir> and <destdir> to be different.")
    affixes = tuple(x.encode("utf-8", "surrogateescape") for x in (utt_prefix, utt_suffix, spk_prefix, spk_suffix))
    c = _Copier(src, dest, DirTables(src), affixes)
    c.read_ids(quick)
    os.makedirs(dest, exist_ok=True)
    renamed = bool(c.up or c.us)
    if c.fast is None:
        new_u2s, new_s2u = c.speaker_maps()
    c.write_utt2uniq(renamed)
    c.write_tables()
    if c.fast is not None:
        c.write_fast_speaker_maps()
    else:
        c.put("spk2utt", new_s2u)
        c.put("utt2spk", new_u2s, c.u2s)
    say(f"{prog}: copied data from {src} to {dest}")
    _move_stale(src, dest, renamed, prog, say)
    return c.written
