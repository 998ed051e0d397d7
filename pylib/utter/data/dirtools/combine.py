"""combine_data.sh: data dirs combined into one (then fix_data_dir.sh)."""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence

from utter.atomic import tmp_name
from utter.data.datadir import DataDirError
from utter.data.dirtools.fix import fix_data_dir
from utter.data.dirtools.speakers import spk2utt_lines, utt2spk_pairs
from utter.data.dirtools.tables import (
    LABEL_FILES,
    DirTables,
    Durations,
    Say,
    Table,
    copy_file,
    has_file,
    say_stderr,
    say_stdout,
    show_line,
    write_lines,
)

#: The tables combine_data.sh combines when every source has them (then the extra files).
COMBINED = ("utt2spk", "utt2lang", "utt2dur", "utt2num_frames", "reco2dur", "feats.scp", "text", "cmvn.scp",
            "vad.scp", "reco2file_and_channel", "wav.scp", "spk2gender")


def _check_sources(dest: str, srcs: list[str], prog: str) -> tuple[str, bytes] | None:
    """Each source has utt2spk and is not ``dest``; returns (a source, its frame_shift) when some
    source has features (their frame shifts must agree), else None."""
    for s in srcs:
        if not has_file(s, "utt2spk"):
            raise DataDirError(f"{prog}: no such file {s}/utt2spk")
        if os.path.abspath(s) == os.path.abspath(dest):
            raise DataDirError(f"{prog}: <dest-data-dir> {dest} is also a source")
    shift = None
    for s in srcs:   # frame shifts must agree where there are features
        if has_file(s, "feats.scp") and has_file(s, "frame_shift"):
            with open(os.path.join(s, "frame_shift"), "rb") as f:
                fs = f.read()
            if shift is not None and fs != shift[1]:
                raise DataDirError(f"{prog}: different frame_shift in directories {s} and {shift[0]}. "
                                   f"Cannot combine features.")
            shift = (s, fs)
    return shift


class _Combined:
    """The combined tables, written into ``work`` as they are made (and held in ``st``)."""

    def __init__(self, work: str, srcs: list[str], prog: str, say: Say, err: Say):
        self.work, self.srcs, self.prog, self.say, self.err = work, srcs, prog, say, err
        self.st = DirTables(work)

    def put(self, name: str, lines: list[bytes]) -> None:
        lines.sort()     # sort -k1: the whole line is the key; sorted runs merge in linear time
        write_lines(os.path.join(self.work, name), lines)
        self.st.tables[name] = Table(os.path.join(self.work, name), lines, on_disk=True)

    def made_where_missing(self, name: str, make: Callable[[str], list[bytes]]) -> None:
        """``name`` where any source has it, ``make(source)`` giving the lines of a source without."""
        srcs, prog = self.srcs, self.prog
        if not any(has_file(s, name) for s in srcs):
            self.say(f"{prog} [info]: not combining {name} as it does not exist")
            return
        lines = []
        for s in srcs:
            lines += Table.read(os.path.join(s, name)).lines if has_file(s, name) else make(s)
        self.put(name, lines)
        self.say(f"{prog}: combined {name}")

    def utt2uniq(self) -> None:
        """utt2uniq where any source has one (``utt utt`` for a source without)."""
        self.made_where_missing("utt2uniq", lambda s: [k + b" " + k for k in
                                                       Table.read(os.path.join(s, "utt2spk")).keys])

    def segments(self, durations: Durations | None) -> None:
        """segments where any source has them (whole utterances for a source without)."""
        def whole(s: str) -> list[bytes]:
            self.err(f"{self.prog} [info]: will generate missing segments for {s}")
            return _whole_segments(s, durations)
        self.made_where_missing("segments", whole)

    def table(self, name: str, say_absent: bool) -> None:
        """A table every source has, concatenated (else said, and left out)."""
        srcs, prog = self.srcs, self.prog
        present = [has_file(s, name) for s in srcs]
        if all(present):
            self.put(name, [line for s in srcs for line in Table.read(os.path.join(s, name)).lines])
            self.say(f"{prog}: combined {name}")
        elif any(present):
            self.say(f"{prog} [info]: **not combining {name} as it does not exist everywhere**")
        elif say_absent:
            self.say(f"{prog} [info]: not combining {name} as it does not exist")

    def spk2utt(self) -> None:
        s2u = spk2utt_lines(utt2spk_pairs(self.st.get("utt2spk")))
        write_lines(os.path.join(self.work, "spk2utt"), s2u)
        self.st.tables["spk2utt"] = Table(os.path.join(self.work, "spk2utt"), s2u, True, on_disk=True)


def combine_data(dest: str | os.PathLike, srcs: Sequence[str | os.PathLike], *, extra_files: Sequence[str] = (),
                 skip_fix: bool = False, prog: str = "combine_data.sh", say: Say = say_stdout,
                 durations: Durations | None = None,
                 err: Say | None = None) -> None:
    """combine_data.sh: each table present in every source concatenated and sorted (``sort -k1``:
    whole lines in C order); utt2uniq and segments made where a source lacks them (``utt utt``;
    ``utt utt 0 <utt2dur>``); spk2utt rebuilt; then fix_data_dir.sh unless ``skip_fix``."""
    dest = os.fspath(dest)
    srcs = [os.fspath(s) for s in srcs]
    err = err or say_stderr
    shift = _check_sources(dest, srcs, prog)
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    work = tmp_name(os.path.abspath(dest))
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    try:
        c = _Combined(work, srcs, prog, say, err)
        c.utt2uniq()
        c.segments(durations)
        extra = [f for f in extra_files if f not in ("utt2uniq", "segments")]
        for name in dict.fromkeys(list(COMBINED) + extra):
            c.table(name, say_absent=True)
        for name in LABEL_FILES:   # this toolkit's label tables, combined where every source has them
            if name not in extra and name not in COMBINED:
                c.table(name, say_absent=False)
        c.spk2utt()
        if shift is not None:
            copy_file(os.path.join(shift[0], "frame_shift"), os.path.join(work, "frame_shift"))
        if os.path.lexists(dest):
            shutil.rmtree(dest) if os.path.isdir(dest) and not os.path.islink(dest) else os.unlink(dest)
        os.replace(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if not skip_fix:
        st = c.st
        st.path = dest
        for name, t in st.tables.items():
            if t is not None:
                t.path = os.path.join(dest, name)
        fix_data_dir(dest, prog="utils/fix_data_dir.sh", say=say, _state=st)


def _whole_segments(s: str, durations: Durations | None) -> list[bytes]:
    """get_segments_for_data.sh: ``utt utt 0 <duration>`` for each utterance of utt2dur (without
    utt2dur, ``durations(dir)`` gives utt -> seconds, read from the audio as get_utt2dur.sh does)."""
    if has_file(s, "utt2dur"):
        t = Table.read(os.path.join(s, "utt2dur"))
        out = []
        for i, line in enumerate(t.lines, 1):
            f = line.split()
            if len(f) != 2:
                raise DataDirError(f"{t.path}:{i}: expected 'utt duration', got '{show_line(line)}'")
            out.append(b"%s %s 0 %s" % (f[0], f[0], f[1]))
        return out
    if durations is None:
        raise DataDirError(f"{s}: no utt2dur to make its missing segments from")
    return [b"%s %s 0 %s" % (k.encode("utf-8", "surrogateescape"), k.encode("utf-8", "surrogateescape"),
                             repr(round(v, 3)).encode()) for k, v in durations(s).items()]
