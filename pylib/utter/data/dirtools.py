"""Kaldi's data-dir tools on the line level: filter, split, subset, fix, combine and copy.

These work on raw lines (not parsed tables) because they must give the same bytes as
Kaldi's ``filter_scp.pl``, ``split_scp.pl``, ``subset_scp.pl``, ``fix_data_dir.sh``,
``subset_data_dir.sh``, ``combine_data.sh`` and ``copy_data_dir.sh`` on the files those
handle: same line order, same utterances chosen, same ``.backup/`` and message counts.
Beyond Kaldi, this toolkit's per-utterance label files (:data:`UTT_TABLES`) follow along.
"""
from __future__ import annotations

import os
import random
import re
import shutil
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from utter.data.datadir import UTT_TABLES, DataDirError, sort_key

#: Per-utterance tables we handle: Kaldi's, then this toolkit's labels (cmvn.scp is per speaker).
UTT_FILES = tuple(dict.fromkeys(
    ["feats.scp", "text", "vad.scp", "utt2lang", "utt2dur", "utt2num_frames", "utt2uniq", "utt2warp"]
    + [t for t in UTT_TABLES if t not in ("utt2spk", "segments", "cmvn.scp")]))
#: Per-speaker tables.
SPK_FILES = ("spk2gender", "spk2warp", "cmvn.scp")

Lines = list[str]


def _say(msg: str) -> None:
    print(msg, flush=True)


# ----------------------------------------------------------------------------- line tools

def read_lines(path: str | os.PathLike) -> Lines:
    """The file's lines without their newlines (bytes kept through surrogateescape)."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="\n") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        raise DataDirError(f"{path}: no such file") from None


def write_lines(path: str | os.PathLike, lines: Iterable[str]) -> None:
    with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as f:
        f.writelines(line + "\n" for line in lines)


def field(line: str, n: int = 1, path: str | os.PathLike = "", lineno: int = 0) -> str:
    """Field ``n`` (1-based) of a whitespace-split line; DataDirError naming file:line if absent."""
    parts = line.split()
    if len(parts) < n or n < 1:
        raise DataDirError(f"{path}:{lineno}: expected at least {max(n, 1)} fields, got '{line}'")
    return parts[n - 1]


def keys(lines: Sequence[str], path: str | os.PathLike = "") -> list[str]:
    return [field(line, 1, path, i) for i, line in enumerate(lines, 1)]


def filter_lines(lines: Sequence[str], ids: Iterable[str], *, exclude: bool = False, n: int = 1,
                 path: str | os.PathLike = "") -> Lines:
    """filter_scp.pl: the lines whose field ``n`` is (or with ``exclude`` is not) in ``ids``."""
    ids = set(ids)
    return [line for i, line in enumerate(lines, 1) if (field(line, n, path, i) in ids) != exclude]


def sort_lines(lines: Iterable[str]) -> Lines:
    """``LC_ALL=C sort``: byte order of whole lines."""
    return sorted(lines, key=sort_key)


def sort_unique_first_field(lines: Iterable[str]) -> Lines:
    """``LC_ALL=C sort -k1,1 -u``: by first field, the first line of each key in input order kept."""
    seen: set[str] = set()
    out = []
    for line in sorted(lines, key=lambda s: sort_key(s.split()[0] if s.split() else "")):
        k = line.split()[0] if line.split() else ""
        if k not in seen:
            seen.add(k)
            out.append(line)
    return out


def sort_from_field2(lines: Iterable[str]) -> Lines:
    """``LC_ALL=C sort -k2``: by the text from the blank before field 2 on, ties by whole line."""
    def key(s: str) -> tuple[bytes, bytes]:
        m = re.match(r"\s*\S+", s)
        return sort_key(s[m.end():] if m else ""), sort_key(s)
    return sorted(lines, key=key)


def utt2spk_to_spk2utt(lines: Sequence[str], path: str | os.PathLike = "utt2spk") -> Lines:
    """utt2spk_to_spk2utt.pl: speakers in order of first appearance, utterances in file order."""
    spk2utt: dict[str, list[str]] = {}
    for i, line in enumerate(lines, 1):
        parts = line.split()
        if len(parts) != 2:
            raise DataDirError(f"{path}:{i}: invalid utt2spk line '{line}' (expected 'utt spk')")
        spk2utt.setdefault(parts[1], []).append(parts[0])
    return [f"{s} {' '.join(u)}" for s, u in spk2utt.items()]


def spk2utt_to_utt2spk(lines: Sequence[str], path: str | os.PathLike = "spk2utt") -> Lines:
    """spk2utt_to_utt2spk.pl: one ``utt spk`` line per utterance, in spk2utt's order."""
    out = []
    for i, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            raise DataDirError(f"{path}:{i}: empty line")
        out.extend(f"{u} {parts[0]}" for u in parts[1:])
    return out


# ----------------------------------------------------------------------------- split / subset

def split_scp(lines: Sequence[str], num: int, utt2spk: dict[str, str] | None = None,
              path: str | os.PathLike = "") -> list[Lines]:
    """split_scp.pl: ``num`` parts; with ``utt2spk`` speaker-disjoint, balanced as Kaldi balances.

    Without ``utt2spk``: consecutive chunks, the first ``len % num`` one line longer. With it:
    speakers (in order of appearance) go to part ``int(i*num/nspk)``, then boundary speakers
    move to a neighbour while that makes the two parts' utterance counts closer.
    """
    if num < 1:
        raise ValueError(f"invalid number of splits {num}")
    if utt2spk is None:
        if not lines:
            raise DataDirError(f"{path}: empty input, cannot split")
        per, rem = divmod(len(lines), num)
        if per < 1:
            raise DataDirError(f"{path}: splitting {len(lines)} lines into too many pieces ({num}); "
                               f"reduce the number of jobs")
        out, pos = [], 0
        for i in range(num):
            size = per + (1 if i < rem else 0)
            out.append(list(lines[pos:pos + size]))
            pos += size
        return out
    spk_lines: dict[str, list[str]] = {}
    for i, line in enumerate(lines, 1):
        utt = field(line, 1, path, i)
        if utt not in utt2spk:
            raise DataDirError(f"{path}:{i}: utterance {utt} not in utt2spk")
        spk_lines.setdefault(utt2spk[utt], []).append(line)
    spks = list(spk_lines)
    if len(spks) < num:
        raise DataDirError(f"{path}: refusing to split {len(spks)} speakers into {num} parts "
                           f"(fewer speakers than jobs; use --per-utt or fewer jobs)")
    parts: list[list[str]] = [[] for _ in range(num)]
    counts = [0] * num
    for i, spk in enumerate(spks):
        j = (i * num) // len(spks)
        parts[j].append(spk)
        counts[j] += len(spk_lines[spk])
    changed = True
    while changed:
        changed = False
        for j in range(num):
            if j < num - 1 and parts[j]:
                c = len(spk_lines[parts[j][-1]])
                if abs((counts[j + 1] + c) - (counts[j] - c)) < abs(counts[j + 1] - counts[j]):
                    counts[j + 1] += c
                    counts[j] -= c
                    parts[j + 1].insert(0, parts[j].pop())
                    changed = True
            if j > 0 and parts[j]:
                c = len(spk_lines[parts[j][0]])
                if abs((counts[j] - c) - (counts[j - 1] + c)) < abs(counts[j] - counts[j - 1]):
                    counts[j - 1] += c
                    counts[j] -= c
                    parts[j - 1].append(parts[j].pop(0))
                    changed = True
    for j, p in enumerate(parts):
        if not p:
            raise DataDirError(f"{path}: split {j + 1} of {num} would be empty (too few speakers)")
    return [[line for spk in p for line in spk_lines[spk]] for p in parts]


def subset_scp(lines: Sequence[str], num: int, *, first: bool = False, last: bool = False) -> Lines:
    """subset_scp.pl: ``num`` lines evenly spread by recursive halving (or the first/last ``num``)."""
    if num > len(lines):
        raise DataDirError(f"requested {num} lines but only {len(lines)} available")
    if num <= 0:
        raise ValueError(f"number of lines to select must be positive, got {num}")
    if first:
        return list(lines[:num])
    if last:
        return list(lines[len(lines) - num:])
    out: Lines = []

    def select(start: int, end: int, needed: int) -> None:
        diff = end - start
        if diff == 1:
            if needed > 0:
                out.append(lines[start])
            return
        half, half_needed = diff // 2, needed // 2
        select(start, start + half, half_needed)
        select(start + half, end, needed - half_needed)

    select(0, len(lines), num)
    return out


# ----------------------------------------------------------------------------- data dirs

def _exists(d: Path, name: str) -> bool:
    return (d / name).is_file()


def _recordings(segments: Sequence[str], path: Path) -> list[str]:
    return sort_lines(set(field(s, 2, path, i) for i, s in enumerate(segments, 1)))


def filter_dir_into(src: Path, dest: Path, utt2spk: Lines, spk2utt: Lines) -> None:
    """Write every per-utterance, per-speaker and recording table of ``src`` filtered to the
    utterances of ``utt2spk`` (already in ``dest``); recordings follow ``segments``."""
    utts = set(keys(utt2spk))
    spks = set(keys(spk2utt))
    has_segments = _exists(src, "segments")
    for name in UTT_FILES + (() if has_segments else ("wav.scp",)):
        if _exists(src, name):
            write_lines(dest / name, filter_lines(read_lines(src / name), utts, path=src / name))
    for name in SPK_FILES:
        if _exists(src, name):
            write_lines(dest / name, filter_lines(read_lines(src / name), spks, path=src / name))
    if has_segments:
        segs = filter_lines(read_lines(src / "segments"), utts, path=src / "segments")
        write_lines(dest / "segments", segs)
        recos = set(_recordings(segs, dest / "segments"))
        for name in ("wav.scp", "reco2file_and_channel", "reco2dur"):
            if _exists(src, name):
                write_lines(dest / name, filter_lines(read_lines(src / name), recos, path=src / name))
    else:
        for name in ("reco2file_and_channel",):
            if _exists(src, name) and _exists(dest, "wav.scp"):
                recos = set(keys(read_lines(dest / "wav.scp")))
                write_lines(dest / name, filter_lines(read_lines(src / name), recos, path=src / name))
        if _exists(src, "reco2dur"):  # keyed by utterance when there are no segments
            write_lines(dest / "reco2dur", filter_lines(read_lines(src / "reco2dur"), utts))


def _newest_input(d: Path) -> float:
    names = ("utt2spk", "segments", "wav.scp", "reco2file_and_channel", "reco2dur") + UTT_FILES + SPK_FILES
    return max((d / n).stat().st_mtime for n in names if _exists(d, n))


def split_data(data: str | os.PathLike, num: int, per_utt: bool = False) -> Path:
    """split_data.sh: ``DIR/splitN/1..N`` (speaker-disjoint) or ``DIR/splitNutt/``; reused if newer."""
    data = Path(data)
    if num < 1:
        raise ValueError(f"invalid number of splits {num}")
    if not _exists(data, "utt2spk"):
        raise DataDirError(f"{data}/utt2spk: no such file")
    out = data / f"split{num}{'utt' if per_utt else ''}"
    newest = _newest_input(data)
    if all(_exists(out / str(j), "utt2spk") and (out / str(j) / "utt2spk").stat().st_mtime >= newest
           and all(_exists(out / str(j), n) for n in _tables_present(data)) for j in range(1, num + 1)):
        return out
    utt2spk_lines = read_lines(data / "utt2spk")
    for name in ("feats.scp", "text"):
        if _exists(data, name):
            n = len(read_lines(data / name))
            if n != len(utt2spk_lines):
                _say(f"** split_data.sh: warning, #lines is (utt2spk,{name}) is ({len(utt2spk_lines)},{n}); "
                     f"you can\n**  use utils/fix_data_dir.sh {data} to fix this.")
    mapping = None if per_utt else dict(line.split()[:2] for line in utt2spk_lines if line.split())
    parts = split_scp(utt2spk_lines, num, mapping, data / "utt2spk")
    for j, part in enumerate(parts, 1):
        d = out / str(j)
        d.mkdir(parents=True, exist_ok=True)
        spk2utt = utt2spk_to_spk2utt(part)
        filter_dir_into(data, d, part, spk2utt)
        write_lines(d / "spk2utt", spk2utt)
        write_lines(d / "utt2spk", part)  # written last: its time stamp marks the split complete
    return out


def _tables_present(d: Path) -> list[str]:
    names = ("utt2spk", "segments", "wav.scp", "reco2file_and_channel") + UTT_FILES + SPK_FILES
    return [n for n in names if _exists(d, n)]


def subset_data_dir(src: str | os.PathLike, dest: str | os.PathLike, *, num: int | None = None,
                    mode: str = "even", id_list: str | os.PathLike | None = None, prog: str = "subset_data_dir.sh",
                    seed: int = 0) -> None:
    """subset_data_dir.sh. ``mode``: even (subset_scp.pl), first, last, shortest, per-spk, speakers
    (random whole speakers until ``num`` utterances, seeded), utt-list, spk-list."""
    src, dest = Path(src), Path(dest)
    if not _exists(src, "utt2spk"):
        raise DataDirError(f"{src}/utt2spk: no such file")
    utt2spk = read_lines(src / "utt2spk")
    spk2utt_src = read_lines(src / "spk2utt") if _exists(src, "spk2utt") else utt2spk_to_spk2utt(utt2spk)
    if mode in ("even", "first", "last", "shortest") and num is not None and num > len(utt2spk):
        raise DataDirError(f"cannot subset {src} to {num} utterances: it has only {len(utt2spk)}")
    dest.mkdir(parents=True, exist_ok=True)
    if mode == "spk-list":
        spk2utt = filter_lines(spk2utt_src, read_ids(id_list), path=src / "spk2utt")
        new_utt2spk = spk2utt_to_utt2spk(spk2utt)
    elif mode == "utt-list":
        new_utt2spk = filter_lines(utt2spk, read_ids(id_list), path=src / "utt2spk")
        spk2utt = utt2spk_to_spk2utt(new_utt2spk)
    elif mode == "speakers":
        shuffled = list(spk2utt_src)
        random.Random(seed).shuffle(shuffled)
        chosen, tot = [], 0
        for line in shuffled:
            if tot < num:
                chosen.append(line)
            tot += len(line.split()) - 1
        spk2utt = sort_lines(chosen)
        new_utt2spk = spk2utt_to_utt2spk(spk2utt)
    elif mode == "per-spk":
        spk2utt = []
        for line in spk2utt_src:
            f = line.split()
            nf = len(f)
            skip = 1
            while num * (skip + 1) <= nf - 1:
                skip += 1
            picked = [f[x - 1] for x in range(2, nf + 1, skip) if x <= num * skip]
            spk2utt.append(" ".join([f[0]] + picked) + " ")
        new_utt2spk = spk2utt_to_utt2spk(spk2utt)
    elif mode == "shortest":
        lengths = utterance_lengths(src)
        order = sorted(lengths.items(), key=lambda kv: (kv[1], sort_key(f"{kv[0]} {kv[1]}")))
        new_utt2spk = filter_lines(utt2spk, [u for u, _ in order[:num]], path=src / "utt2spk")
        spk2utt = utt2spk_to_spk2utt(new_utt2spk)
    elif mode in ("even", "first", "last"):
        new_utt2spk = subset_scp(utt2spk, num, first=mode == "first", last=mode == "last")
        spk2utt = utt2spk_to_spk2utt(new_utt2spk)
    else:
        raise ValueError(f"unknown subset mode {mode}")
    write_lines(dest / "utt2spk", new_utt2spk)
    write_lines(dest / "spk2utt", spk2utt)
    filter_dir_into(src, dest, new_utt2spk, spk2utt)
    _say(f"{prog}: reducing #utt from {len(utt2spk)} to {len(new_utt2spk)}")


def read_ids(path: str | os.PathLike | None) -> list[str]:
    if path is None:
        raise ValueError("an id list file is needed")
    lines = read_lines(path)
    return [line.split()[0] for line in lines if line.split()]


def utterance_lengths(d: Path) -> dict[str, float]:
    """Length of each utterance: utt2num_frames, else feats.scp's matrices, else utt2dur."""
    if _exists(d, "utt2num_frames"):
        return {k: float(v.split()[1]) for k, v in zip(keys(read_lines(d / "utt2num_frames")),
                                                       read_lines(d / "utt2num_frames"))}
    if _exists(d, "feats.scp"):
        import kaldiio
        return {u: float(m.shape[0]) for u, m in kaldiio.load_scp_sequential(str(d / "feats.scp"))}
    if _exists(d, "utt2dur"):
        return {line.split()[0]: float(line.split()[1]) for line in read_lines(d / "utt2dur")}
    raise DataDirError(f"{d}: --shortest needs utt2num_frames, feats.scp or utt2dur")


def fix_data_dir(data: str | os.PathLike, *, utt_extra_files: Sequence[str] = (),
                 spk_extra_files: Sequence[str] = (), prog: str = "fix_data_dir.sh",
                 say: Callable[[str], None] = _say) -> None:
    """fix_data_dir.sh: sort, keep utterances present everywhere they must be, backup to .backup/."""
    data = Path(data)
    if not data.is_dir():
        raise DataDirError(f"{data}: no such directory")
    if not _exists(data, "utt2spk"):
        raise DataDirError(f"{data}/utt2spk: no such file")
    backup = data / ".backup"
    backup.mkdir(exist_ok=True)
    utt_extra = [f for f in dict.fromkeys(list(UTT_FILES) + list(utt_extra_files))]
    spk_extra = [f for f in spk_extra_files if f not in ("cmvn.scp", "spk2gender")]

    for x in dict.fromkeys(["utt2spk", "spk2utt", "feats.scp", "text", "segments", "wav.scp", "cmvn.scp",
                            "vad.scp", "reco2file_and_channel", "spk2gender", "utt2lang", "utt2uniq",
                            "utt2dur", "reco2dur", "utt2num_frames"] + utt_extra + spk_extra):
        if _exists(data, x):
            shutil.copyfile(data / x, backup / x)
            lines = read_lines(data / x)
            fixed = sort_unique_first_field(lines)
            if fixed != lines:
                say(f"{prog}: file {data / x} is not in sorted order or not unique, sorting it")
                write_lines(data / x, fixed)

    def filter_file(filter_name: str, ids: Iterable[str], target: Path) -> Lines:
        before = read_lines(target)
        after = filter_lines(before, ids, path=target)
        write_lines(target, after)
        if len(after) != len(before):
            say(f"{prog}: filtered {target} from {len(before)} to {len(after)} lines based on filter {filter_name}.")
        return after

    def filter_recordings() -> None:
        if not _exists(data, "segments"):
            return
        if not _exists(data, "wav.scp"):
            raise DataDirError(f"{data}/segments exists but not {data}/wav.scp")
        segs = read_lines(data / "segments")
        recos = _recordings(segs, data / "segments")
        if not recos:
            raise DataDirError(f"empty list of recordings (bad file {data}/segments)?")
        recos = [r for r in recos if r in set(keys(read_lines(data / "wav.scp")))]
        kept = filter_lines(segs, recos, n=2, path=data / "segments")
        write_lines(data / "segments", kept)
        if len(kept) != len(segs):
            say(f"{prog}: filtered {data / 'segments'} from {len(segs)} to {len(kept)} lines "
                f"based on filter recordings.")
        filter_file("recordings", recos, data / "wav.scp")
        for name in ("reco2file_and_channel", "reco2dur"):
            if _exists(data, name):
                filter_file("recordings", recos, data / name)

    def filter_speakers() -> None:
        spk2utt = utt2spk_to_spk2utt(read_lines(data / "utt2spk"), data / "utt2spk")
        write_lines(data / "spk2utt", spk2utt)
        speakers = keys(spk2utt)
        for s in ("cmvn.scp", "spk2gender"):
            if _exists(data, s):
                ids = set(keys(read_lines(data / s)))
                kept = [sp for sp in speakers if sp in ids]
                if len(kept) != len(speakers):
                    say(f"{prog}: filtered speakers from {len(speakers)} to {len(kept)} lines "
                        f"based on filter {data / s}.")
                speakers = kept
        spk2utt = filter_file("speakers", speakers, data / "spk2utt")
        write_lines(data / "utt2spk", spk2utt_to_utt2spk(spk2utt))
        for s in ("cmvn.scp", "spk2gender", *spk_extra):
            if _exists(data, s):
                filter_file("speakers", speakers, data / s)

    def filter_utts() -> None:
        utt2spk = read_lines(data / "utt2spk")
        if sort_lines(utt2spk) != utt2spk:
            raise DataDirError(f"{data}/utt2spk is not in sorted order (fix this yourself)")
        if sort_from_field2(utt2spk) != utt2spk:
            raise DataDirError(f"{data}/utt2spk is not in sorted order when sorted first on speaker-id "
                               "(fix this by making speaker-ids prefixes of utt-ids)")
        spk2utt = read_lines(data / "spk2utt")
        if sort_lines(spk2utt) != spk2utt:
            raise DataDirError(f"{data}/spk2utt is not in sorted order (fix this yourself)")
        if _exists(data, "utt2uniq"):
            u = read_lines(data / "utt2uniq")
            if sort_lines(u) != u:
                raise DataDirError(f"{data}/utt2uniq is not in sorted order (fix this yourself)")
        utts = keys(utt2spk)
        maybe_wav = [] if _exists(data, "segments") else ["wav.scp"]
        for x in ["feats.scp", "text", "segments", "utt2lang"] + maybe_wav:
            if _exists(data, x):
                present = set(keys(read_lines(data / x), data / x))
                utts = [u for u in utts if u in present]
        if not utts:
            raise DataDirError(f"{prog}: no utterances remained: not proceeding further.")
        if len(utts) != len(utt2spk):
            say(f"fix_data_dir.sh: kept {len(utts)} utterances out of {len(utt2spk)}")
        else:
            say(f"fix_data_dir.sh: kept all {len(utt2spk)} utterances.")
        maybe_reco2dur = [] if _exists(data, "segments") else ["reco2dur"]
        for x in dict.fromkeys(["utt2spk", "utt2uniq", "feats.scp", "vad.scp", "text", "segments", "utt2lang",
                                "utt2dur", "utt2num_frames"] + maybe_wav + maybe_reco2dur + utt_extra):
            if _exists(data, x):
                shutil.copyfile(data / x, backup / x)
                lines = read_lines(data / x)
                kept = filter_lines(lines, utts, path=data / x)
                if kept != lines:
                    write_lines(data / x, kept)

    filter_recordings()
    filter_speakers()
    filter_utts()
    filter_speakers()
    filter_recordings()
    write_lines(data / "spk2utt", utt2spk_to_spk2utt(read_lines(data / "utt2spk")))
    say(f"fix_data_dir.sh: old files are kept in {data}/.backup")


def combine_data(dest: str | os.PathLike, srcs: Sequence[str | os.PathLike], *, extra_files: Sequence[str] = (),
                 skip_fix: bool = False, prog: str = "combine_data.sh") -> None:
    """combine_data.sh: concatenate and sort each table present in every source, then fix."""
    dest = Path(dest)
    srcs = [Path(s) for s in srcs]
    for s in srcs:
        if not _exists(s, "utt2spk"):
            raise DataDirError(f"{s}/utt2spk: no such file")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if any(_exists(s, "utt2uniq") for s in srcs):
        lines = []
        for s in srcs:
            lines += (read_lines(s / "utt2uniq") if _exists(s, "utt2uniq")
                      else [f"{u} {u}" for u in keys(read_lines(s / "utt2spk"))])
        write_lines(dest / "utt2uniq", sort_lines(lines))
        _say(f"{prog}: combined utt2uniq")
    else:
        _say(f"{prog} [info]: not combining utt2uniq as it does not exist")
    if any(_exists(s, "segments") for s in srcs):
        lines = []
        for s in srcs:
            if _exists(s, "segments"):
                lines += read_lines(s / "segments")
            else:  # whole recordings: one segment per utterance, to the end of its file (-1 works)
                print(f"{prog} [info]: will generate missing segments for {s}", file=sys.stderr)
                lines += [f"{u} {u} 0 -1" for u in keys(read_lines(s / "wav.scp"))]
        write_lines(dest / "segments", sort_lines(lines))
        _say(f"{prog}: combined segments")
    else:
        _say(f"{prog} [info]: not combining segments as it does not exist")
    extra = [f for f in extra_files if f not in ("utt2uniq", "segments")]
    names = ["utt2spk", "utt2lang", "utt2dur", "utt2num_frames", "reco2dur", "feats.scp", "text", "cmvn.scp",
             "vad.scp", "reco2file_and_channel", "wav.scp", "spk2gender"]
    names += [t for t in UTT_FILES if t not in names and t != "utt2uniq"] + extra
    for name in dict.fromkeys(names):
        present = [_exists(s, name) for s in srcs]
        if all(present):
            lines = [line for s in srcs for line in read_lines(s / name)]
            write_lines(dest / name, sort_lines(lines))
            _say(f"{prog}: combined {name}")
        elif any(present) or name in extra:
            _say(f"{prog} [info]: **not combining {name} as it does not exist everywhere**"
                 if any(present) else f"{prog} [info]: not combining {name} as it does not exist")
    write_lines(dest / "spk2utt", utt2spk_to_spk2utt(read_lines(dest / "utt2spk")))
    if not skip_fix:
        fix_data_dir(dest)


def copy_data_dir(src: str | os.PathLike, dest: str | os.PathLike, *, utt_prefix: str = "", utt_suffix: str = "",
                  spk_prefix: str = "", spk_suffix: str = "", prog: str = "copy_data_dir.sh") -> None:
    """copy_data_dir.sh: copy, renaming utterances and speakers; recordings keep their ids."""
    src, dest = Path(src), Path(dest)
    if not _exists(src, "utt2spk"):
        raise DataDirError(f"{src}/utt2spk: no such file")
    if src.resolve() == dest.resolve():
        raise ValueError(f"{prog}: this script requires <srcdir> and <destdir> to be different.")
    dest.mkdir(parents=True, exist_ok=True)
    utt2spk = read_lines(src / "utt2spk")
    spk2utt = read_lines(src / "spk2utt") if _exists(src, "spk2utt") else utt2spk_to_spk2utt(utt2spk)
    umap = {u: f"{utt_prefix}{u}{utt_suffix}" for u in keys(utt2spk)}
    smap = {s: f"{spk_prefix}{s}{spk_suffix}" for s in keys(spk2utt)}

    def apply(lines: Lines, mapping: dict, path: Path, n: int = 1) -> Lines:
        out = []
        for i, line in enumerate(lines, 1):
            f = line.split()
            if len(f) < n or f[n - 1] not in mapping:
                raise DataDirError(f"{path}:{i}: '{f[n - 1] if len(f) >= n else line}' not found in the map")
            f[n - 1] = mapping[f[n - 1]]
            out.append(" ".join(f))
        return out

    if _exists(src, "utt2uniq"):
        write_lines(dest / "utt2uniq", [f"{utt_prefix}{f[0]}{utt_suffix} {f[1]}"
                                        for f in (line.split() for line in read_lines(src / "utt2uniq"))])
    elif utt_prefix or utt_suffix:
        write_lines(dest / "utt2uniq", [f"{utt_prefix}{u}{utt_suffix} {u}" for u in keys(utt2spk)])
    new_utt2spk = apply(apply(utt2spk, umap, src / "utt2spk"), smap, src / "utt2spk", 2)
    write_lines(dest / "utt2spk", new_utt2spk)
    write_lines(dest / "spk2utt", utt2spk_to_spk2utt(new_utt2spk))
    has_segments = _exists(src, "segments")
    for name in [n for n in UTT_FILES if n != "utt2uniq"] + (["segments"] if has_segments else ["wav.scp"]):
        if _exists(src, name):
            write_lines(dest / name, apply(read_lines(src / name), umap, src / name))
    if has_segments:
        shutil.copyfile(src / "wav.scp", dest / "wav.scp")
    for name in ("reco2file_and_channel", "reco2dur", "stm", "glm", "ctm"):
        if _exists(src, name):
            if name == "reco2dur" and not has_segments:
                write_lines(dest / name, apply(read_lines(src / name), umap, src / name))
            else:
                shutil.copyfile(src / name, dest / name)
    for name in SPK_FILES:
        if _exists(src, name):
            write_lines(dest / name, apply(read_lines(src / name), smap, src / name))
    _say(f"{prog}: copied data from {src} to {dest}")
    stale = ["feats.scp", "cmvn.scp", "vad.scp", "utt2lang", "utt2uniq", "utt2dur", "utt2num_frames", "text",
             "wav.scp", "reco2file_and_channel", "stm", "glm", "ctm"] + list(UTT_FILES)
    for name in dict.fromkeys(stale):
        if _exists(dest, name) and not _exists(src, name) and not (name == "utt2uniq" and (utt_prefix or utt_suffix)):
            _say(f"{prog}: file {name} exists in dest {dest} but not in src {src}.  Moving it to\n"
                 f" ... {dest}/.backup/{name}")
            (dest / ".backup").mkdir(exist_ok=True)
            os.replace(dest / name, dest / ".backup" / name)


# ----------------------------------------------------------------------------- command line

def main(argv: Sequence[str] | None = None) -> int:
    """``python -m utter.data.dirtools TOOL ...``: the engine behind the utils/*.sh data-dir scripts."""
    import argparse
    p = argparse.ArgumentParser(prog="python -m utter.data.dirtools")
    p.add_argument("--prog", default=None, help="name to print in messages (the calling script)")
    sub = p.add_subparsers(dest="tool", required=True)
    s = sub.add_parser("split")
    s.add_argument("--per-utt", action="store_true")
    s.add_argument("data")
    s.add_argument("num", type=int)
    s = sub.add_parser("subset")
    s.add_argument("--mode", default="even",
                   choices=["even", "first", "last", "shortest", "per-spk", "speakers", "utt-list", "spk-list"])
    s.add_argument("--num", type=int)
    s.add_argument("--id-list")
    s.add_argument("src")
    s.add_argument("dest")
    s = sub.add_parser("fix")
    s.add_argument("--utt-extra-files", default="")
    s.add_argument("--spk-extra-files", default="")
    s.add_argument("data")
    s = sub.add_parser("combine")
    s.add_argument("--extra-files", default="")
    s.add_argument("--skip-fix", action="store_true")
    s.add_argument("dest")
    s.add_argument("srcs", nargs="+")
    s = sub.add_parser("copy")
    for o in ("utt-prefix", "utt-suffix", "spk-prefix", "spk-suffix"):
        s.add_argument(f"--{o}", default="")
    s.add_argument("src")
    s.add_argument("dest")
    a = p.parse_args(argv)
    prog = a.prog or f"{a.tool}"
    try:
        if a.tool == "split":
            split_data(a.data, a.num, a.per_utt)
        elif a.tool == "subset":
            subset_data_dir(a.src, a.dest, num=a.num, mode=a.mode, id_list=a.id_list, prog=prog)
        elif a.tool == "fix":
            fix_data_dir(a.data, utt_extra_files=a.utt_extra_files.split(),
                         spk_extra_files=a.spk_extra_files.split(), prog=prog)
        elif a.tool == "combine":
            combine_data(a.dest, a.srcs, extra_files=a.extra_files.split(), skip_fix=a.skip_fix, prog=prog)
        elif a.tool == "copy":
            copy_data_dir(a.src, a.dest, utt_prefix=a.utt_prefix, utt_suffix=a.utt_suffix,
                          spk_prefix=a.spk_prefix, spk_suffix=a.spk_suffix, prog=prog)
    except (ValueError, OSError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
