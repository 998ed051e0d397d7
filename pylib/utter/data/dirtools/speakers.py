"""utt2spk and spk2utt: utt2spk_to_spk2utt.pl, spk2utt_to_utt2spk.pl and the checks between them."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import groupby, islice, repeat
from operator import itemgetter

from utter.data.datadir import DataDirError
from utter.data.dirtools.tables import Table, is_sorted_unique, no_control, show_line


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
            raise DataDirError(f"{t.path}:{i}: expected 'utt spk', got '{show_line(line)}'")
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


def spk2utt_groups_keys(t: Table) -> list[bytes]:
    """The speakers of spk2utt (its non-blank lines' first fields)."""
    return [k for k in t.keys if k]
