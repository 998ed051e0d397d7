"""The whole-file quick paths of validate_data_dir.sh and copy_data_dir.sh agree with the line-by-line ones.

Random small data dirs, clean or with one defect each (unsorted, duplicate, blank, tab, CR, double or
trailing space, a last line without newline, bad numbers, spk2utt not matching, ids that prefix each
other or hold control bytes, ...): the quick validation either declines or returns exactly the notes
of the full checks (which then pass); the quick copy writes the same files, messages and errors as
the line-by-line copy. Clean dirs must take the quick paths (else this would test nothing).
"""
from __future__ import annotations

import os
import random
import shutil

import pytest

from utter.data import validate
from utter.data.datadir import DataDirError
from utter.data.dirtools import tables
from utter.data.dirtools.copy import copy_data_dir

_DEFECTS = ("unsorted", "dup", "blank", "tab", "cr", "double", "trailing", "noeol", "number", "spk2utt", "ctl",
            "tilde", "leading", "extra_line", "missing_line", "empty_field", "nul")
_NUMBERS = (b"0", b"-1", b"1e3", b"inf", b"nan", b"1.2.3", b".", b"0.0", b"abc", b"9" * 20, b"0." + b"0" * 30 + b"1",
            b"12.0", b"007", b"5.", b".5", b"1_0", b" 3", b"")


def _ids(rng: random.Random, n: int, prefix: bytes) -> list[bytes]:
    """Ids that often prefix each other (a-1, a-1-2) and sometimes hold odd bytes."""
    out: set[bytes] = set()
    while len(out) < n:
        x = prefix + rng.choice([b"a", b"b", b"a-", b"\xc3\xa9"]) + str(rng.randint(0, 30)).encode()
        if rng.random() < 0.3:
            x += rng.choice([b"-1", b"-", b"_", b"-10"])
        out.add(x)
    return sorted(out)


def _make(rng: random.Random, d: str) -> dict[str, list[bytes]]:
    """A clean data dir's tables (lines without newlines)."""
    while True:          # sorted by utterance and by speaker alike, as Kaldi wants
        spks = _ids(rng, rng.randint(1, 4), b"s")
        pairs = sorted((s + b"-" + u, s) for s in spks for u in _ids(rng, rng.randint(1, 5), b""))
        if all(pairs[i][1] <= pairs[i + 1][1] for i in range(len(pairs) - 1)):
            break
    t = {"utt2spk": [u + b" " + s for u, s in pairs],
         "spk2utt": [s + b" " + b" ".join(u for u, x in pairs if x == s) for s in spks]}
    utts = [u for u, _ in pairs]
    t["wav.scp"] = [u + b" ffmpeg -i /x/" + u + b".m4a -f wav - |" for u in utts]
    if rng.random() < 0.7:
        t["utt2dur"] = [u + b" " + rng.choice([b"1.5", b"3", b"0.25", b"12.00", b"7."]) for u in utts]
    if rng.random() < 0.3:
        t["utt2num_frames"] = [u + b" " + str(rng.randint(1, 999)).encode() for u in utts]
    if rng.random() < 0.3:
        t["feats.scp"] = [u + b" /f/x.ark:" + str(i).encode() for i, u in enumerate(utts)]
    if rng.random() < 0.2:
        t["utt2uniq"] = [u + b" " + u.split(b"-")[0] for u in utts]
    if rng.random() < 0.2:
        t["utt2emo"] = [u + b" neu" for u in utts]
    if rng.random() < 0.1:
        t["text"] = [u + b" hello" for u in utts]
    if rng.random() < 0.1:
        t["spk2gender"] = [s + b" m" for s in spks]
    return t


def _spoil(rng: random.Random, t: dict[str, list[bytes]]) -> bool:
    """One defect (or an odd but valid layout) in one table; False if it keeps the dir as it was."""
    name = rng.choice(sorted(t))
    lines = t[name]
    i = rng.randrange(len(lines))
    kind = rng.choice(_DEFECTS)
    if kind == "unsorted" and len(lines) > 1:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "dup":
        lines.insert(i, lines[i])
    elif kind == "blank":
        lines.insert(i, rng.choice([b"", b" "]))
    elif kind in ("tab", "cr", "double", "trailing", "leading", "ctl", "nul"):
        c = {"tab": b"\t", "cr": b"\r", "double": b"  ", "trailing": b" ", "leading": b" ", "ctl": b"\x01",
             "nul": b"\x00"}[kind]
        if kind == "trailing":
            lines[i] += c
        elif kind == "leading":
            lines[i] = c + lines[i]
        else:
            k = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:k] + c + lines[i][k:]
    elif kind == "number":
        lines[i] = lines[i].split(b" ")[0] + b" " + rng.choice(_NUMBERS)
    elif kind == "spk2utt" and len(t["spk2utt"]) > 0:
        s = t["spk2utt"]
        k = rng.randrange(len(s))
        f = s[k].split(b" ")
        rng.shuffle(f[1:]) if len(f) > 2 else f.append(f[-1])
        s[k] = b" ".join(f[:1] + sorted(f[1:], reverse=rng.random() < 0.5))
    elif kind == "tilde":
        lines[i] = lines[i].split(b" ")[0] + b" ~/x.wav"
    elif kind == "extra_line":
        lines.append(b"zzz-extra 1")
    elif kind == "missing_line" and len(lines) > 1:
        del lines[i]
    elif kind == "empty_field":
        lines[i] = lines[i].split(b" ")[0] + b" "
    elif kind == "noeol":
        t["\0noeol"] = [name.encode()]
    else:
        return False
    return True


def _write(d: str, t: dict[str, list[bytes]]) -> None:
    os.makedirs(d)
    noeol = t.pop("\0noeol", [b""])[0].decode()
    for name, lines in t.items():
        data = b"".join(x + b"\n" for x in lines)
        with open(os.path.join(d, name), "wb") as f:
            f.write(data[:-1] if name == noeol and data else data)


def _full(d: str, **kw):
    try:
        return validate.validate_data_dir(d, quick=False, **kw)
    except DataDirError as e:
        return f"error: {e}"
    except StopIteration:   # the full checks' sort-by-speaker message on some blank layouts (not the quick path's)
        return "error: StopIteration"


def _cases(tmp_path, n: int, seed: int):
    rng = random.Random(seed)
    for k in range(n):
        t = _make(rng, "")
        spoiled = rng.random() < 0.7 and _spoil(rng, t)
        d = str(tmp_path / f"d{k}")
        _write(d, t)
        yield rng, d, spoiled


@pytest.mark.parametrize("seed", range(3))
def test_quick_validation_agrees_with_the_full_checks(tmp_path, seed):
    taken = 0
    for rng, d, spoiled in _cases(tmp_path, 150, seed):
        opts = {"no_feats": True, "no_text": rng.random() < 0.9, "no_wav": rng.random() < 0.2}
        quick = validate._quick(d, opts["no_feats"], opts["no_wav"], opts["no_text"])
        full = _full(d, **opts)
        if quick is not None:
            taken += 1
            assert quick == full, d
        assert validate.validate_data_dir(d, **opts) == full if not isinstance(full, str) else True
        if not spoiled and not os.path.exists(os.path.join(d, "text")) \
                and not os.path.exists(os.path.join(d, "spk2gender")) and opts["no_text"]:
            assert quick is not None, d
    assert taken > 20


def _copy(src: str, dest: str, quick: bool, affixes: dict) -> tuple:
    said: list[str] = []
    try:
        written = copy_data_dir(src, dest, say=said.append, quick=quick, **affixes)
    except DataDirError as e:
        return f"error: {e}", said, None
    files = {}
    for root, _, names in os.walk(dest):
        for x in names:
            p = os.path.join(root, x)
            with open(p, "rb") as f:
                files[os.path.relpath(p, dest)] = f.read()
    return files, said, written


@pytest.mark.parametrize("seed", range(3))
def test_quick_copy_writes_the_same_bytes(tmp_path, seed):
    fast_taken = 0
    for rng, d, spoiled in _cases(tmp_path, 120, seed + 10):
        affixes = {k: rng.choice(["", "-rev", "x-", "1 "]) for k in ("utt_prefix", "utt_suffix", "spk_prefix",
                                                                      "spk_suffix")}
        a, b = d + "_quick", d + "_lines"
        stale = rng.random() < 0.2           # a stale table in the destination goes to .backup either way
        for dest in (a, b):
            if stale:
                os.makedirs(dest)
                with open(os.path.join(dest, "vad.scp"), "wb") as f:
                    f.write(b"old 1\n")
        got = _copy(d, a, True, affixes)
        want = _copy(d, b, False, affixes)
        assert got[0] == want[0] and [m.replace(a, b) for m in got[1]] == want[1], d
        if got[2] is not None:
            for name, t in got[2].items():       # the tables it hands to the validation are the files
                assert b"".join(x + b"\n" for x in t.lines) == got[0][name]
            if "wav.scp" not in got[2]:
                fast_taken += 1
        if not spoiled and got[2] is not None:
            assert "wav.scp" not in got[2], d    # a clean dir is renamed by blocks
        shutil.rmtree(a, ignore_errors=True)
        shutil.rmtree(b, ignore_errors=True)
    assert fast_taken > 20


def test_quick_blocks_split_lines_across_reads(tmp_path, monkeypatch):
    """Blocks of a few bytes: lines cross block ends; the answers stay the same."""
    monkeypatch.setattr(tables, "_BLOCK_LINES", 7)
    for _rng, d, _ in _cases(tmp_path, 60, 99):
        quick = validate._quick(d, True, False, True)
        if quick is not None:
            assert quick == _full(d, no_feats=True, no_text=True)
        got = _copy(d, d + "_q", True, {"utt_suffix": "-rev"})
        want = _copy(d, d + "_l", False, {"utt_suffix": "-rev"})
        assert got[0] == want[0]
