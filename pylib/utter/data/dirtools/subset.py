"""subset_data_dir.sh (and subset_scp.pl, shuffle_list.pl): a data dir cut to some utterances or speakers."""
from __future__ import annotations

import os
from collections.abc import Sequence

from utter.data.datadir import DataDirError
from utter.data.dirtools.filter_scp import read_ids
from utter.data.dirtools.speakers import spk2utt_groups, spk2utt_lines, utt2spk_from_spk2utt, utt2spk_pairs
from utter.data.dirtools.tables import (
    SPK_FILES,
    DirTables,
    FeatLengths,
    Say,
    Table,
    filter_table,
    has_file,
    recordings_of,
    say_stdout,
    show_line,
    utt_tables,
    write_lines,
)

# ----------------------------------------------------------------------------- subset_scp.pl, shuffle_list.pl

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


# --------------------------------------------------------------------- subset_data_dir.sh

SUBSET_MODES = ("even", "first", "last", "shortest", "per-spk", "speakers", "utt-list", "spk-list")


def utterance_lengths(d: DirTables, feat_lengths: FeatLengths | None = None) -> tuple[list[bytes], list[float]]:
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
            raise DataDirError(f"{t.path}:{i}: expected 'utt number', got '{show_line(line)}'") from None
        keys.append(f[0])
    return keys, lens


def _check_subset(src: str, dest: str, num: int | None, mode: str, id_list, prog: str) -> None:
    if mode not in SUBSET_MODES:
        raise DataDirError(f"unknown subset mode {mode!r} (one of {', '.join(SUBSET_MODES)})")
    if not has_file(src, "utt2spk"):
        raise DataDirError(f"{src}/utt2spk: no such file")
    if mode in ("utt-list", "spk-list"):
        if id_list is None:
            raise DataDirError(f"--{mode} needs a list file")
    elif num is None or num <= 0:
        raise DataDirError(f"<num-utt> must be a positive integer, got {num}")
    if os.path.abspath(src) == os.path.abspath(dest):
        raise DataDirError(f"{prog}: <srcdir> and <destdir> must differ ({src})")


def _src_spk2utt(d: DirTables, u2s: Table) -> tuple[list[bytes], list[list[bytes]]]:
    """spk2utt's lines and [spk, utt...] lists (made from utt2spk when the dir has no spk2utt)."""
    if d.has("spk2utt"):
        t = d.get("spk2utt")
        return t.lines, spk2utt_groups(t)
    lines = spk2utt_lines(utt2spk_pairs(u2s))
    return lines, [x.split(b" ") for x in lines]


def per_speaker_subset(groups: Sequence[Sequence[bytes]], num: int) -> tuple[list[bytes], list[list[bytes]]]:
    """--per-spk's awk: skip = largest with num*skip <= #utts; utterances x = 2, 2+skip ... <= num*skip+1
    of each speaker; returns spk2utt's lines and [spk, utt...] lists."""
    s2u, groups_out = [], []
    for g in groups:
        nf = len(g)
        skip = 1
        while num * (skip + 1) <= nf - 1:
            skip += 1
        picked = [g[x - 1] for x in range(2, min(nf, num * skip + 1) + 1, skip)]
        s2u.append(b" ".join([g[0], *picked]) + b" ")   # Kaldi's awk leaves a trailing space
        groups_out.append([g[0], *picked])
    return s2u, groups_out


def shuffled_speakers(raw: Sequence[bytes], groups: Sequence[Sequence[bytes]], num: int, seed: int) -> list[int]:
    """--speakers: ``shuffle_list.pl | awk '{ if (tot < n) print; tot += NF-1 }' | sort``, as indices."""
    idx, tot = [], 0
    for i in shuffle_list(range(len(groups)), seed):
        if tot < num:
            idx.append(i)
        tot += len(groups[i]) - 1
    idx.sort(key=raw.__getitem__)
    return idx


def _speaker_subset(d: DirTables, u2s: Table, mode: str, num: int | None, id_list,
                    seed: int) -> tuple[list[bytes], list[bytes]]:
    """spk-list, speakers, per-spk: (utt2spk's lines, spk2utt's lines) of the subset."""
    raw, groups = _src_spk2utt(d, u2s)
    if mode == "per-spk":
        s2u, groups = per_speaker_subset(groups, num)
    else:
        if mode == "spk-list":     # filter_scp.pl LIST spk2utt
            keep = set(read_ids(id_list))
            idx = [i for i, g in enumerate(groups) if g[0] in keep]
        else:
            idx = shuffled_speakers(raw, groups, num, seed)
        s2u = [raw[i] for i in idx]
        groups = [groups[i] for i in idx]
    return utt2spk_from_spk2utt(groups), s2u


def _utterance_subset(d: DirTables, u2s: Table, mode: str, num: int | None, id_list,
                      feat_lengths: FeatLengths | None) -> tuple[list[bytes], list[bytes]]:
    """utt-list, shortest, even, first, last: (utt2spk's lines, spk2utt's lines) of the subset."""
    if mode == "utt-list":
        utt_lines = filter_table(u2s, set(read_ids(id_list)))[0]
    elif mode == "shortest":
        keys, lens = utterance_lengths(d, feat_lengths)
        # sort -n -k2 | head -n: by the number, ties by the whole line (utt then number)
        order = sorted(range(len(keys)), key=lambda i: (lens[i], keys[i]))
        utt_lines = filter_table(u2s, {keys[i] for i in order[:num]})[0]
    else:
        utt_lines = subset_scp(u2s.lines, num, first=mode == "first", last=mode == "last")
    return utt_lines, spk2utt_lines(utt2spk_pairs(Table(u2s.path, utt_lines, u2s.simple)))


def subset_data_dir(src: str | os.PathLike, dest: str | os.PathLike, *, num: int | None = None,
                    mode: str = "even", id_list: str | os.PathLike | None = None,
                    prog: str = "subset_data_dir.sh", seed: int = 0, say: Say = say_stdout,
                    feat_lengths: FeatLengths | None = None) -> None:
    """subset_data_dir.sh: ``mode`` even (subset_scp.pl), first, last, shortest, per-spk, speakers
    (shuffle_list.pl's perl-seeded order, whole speakers until ``num`` utterances), utt-list,
    spk-list (``id_list`` is the list file)."""
    src, dest = os.fspath(src), os.fspath(dest)
    _check_subset(src, dest, num, mode, id_list, prog)
    d = DirTables(src)
    u2s = d.get("utt2spk")
    if num is not None and mode in ("even", "first", "last", "shortest") and num > len(u2s):
        raise DataDirError(f"cannot subset {src} to {num} utterances: it has only {len(u2s)} "
                           f"(cannot subset to more utterances than you originally had)")
    if mode in ("spk-list", "speakers", "per-spk"):
        utt_lines, s2u = _speaker_subset(d, u2s, mode, num, id_list, seed)
    else:
        utt_lines, s2u = _utterance_subset(d, u2s, mode, num, id_list, feat_lengths)
    os.makedirs(dest, exist_ok=True)
    utts = set(Table("", utt_lines, u2s.simple).keys)
    _write_subset(d, dest, utt_lines, utts, s2u)
    say(f"{prog}: reducing #utt from {len(u2s)} to {len(utt_lines)}")


def _write_subset(src: DirTables, dest: str, utt_lines: list[bytes], utts: set, spk2utt: list[bytes],
                  extra: Sequence[str] = ()) -> None:
    """Write every table of ``src`` filtered to ``utts`` into ``dest`` (subset_data_dir.sh's
    do_filtering, and this toolkit's label tables); utt2spk and spk2utt last."""
    has_segments = src.has("segments")
    for name in utt_tables(src, has_segments, extra):
        write_lines(os.path.join(dest, name), filter_table(src.get(name), utts)[0])
    spks = {(line.split(None, 1) or [b""])[0] for line in spk2utt}
    for name in SPK_FILES:
        if src.has(name):
            write_lines(os.path.join(dest, name), filter_table(src.get(name), spks)[0])
    if has_segments:
        segs = filter_table(src.get("segments"), utts)[0]
        write_lines(os.path.join(dest, "segments"), segs)
        recos = set(recordings_of(Table("", segs, True)))
        for name in ("wav.scp", "reco2file_and_channel", "reco2dur"):
            if src.has(name):
                write_lines(os.path.join(dest, name), filter_table(src.get(name), recos)[0])
        if src.has("stm"):   # sclite's reference: its comment lines, then those of the recordings
            stm = src.get("stm")
            write_lines(os.path.join(dest, "stm"), [line for line in stm.lines if line.startswith(b";;")]
                        + [line for line, k in zip(stm.lines, stm.keys) if k in recos])
    elif src.has("reco2file_and_channel"):
        write_lines(os.path.join(dest, "reco2file_and_channel"),
                    filter_table(src.get("reco2file_and_channel"), utts)[0])
    write_lines(os.path.join(dest, "spk2utt"), spk2utt)
    write_lines(os.path.join(dest, "utt2spk"), utt_lines)
