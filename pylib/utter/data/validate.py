"""Check a Kaldi data dir as validate_data_dir.sh does, naming the first offending file:line.

Checks: each table sorted under ``LC_ALL=C`` with unique keys and no blank lines; utt2spk of
``utt spk`` lines, sorted also by speaker (speaker ids prefix utterance ids) and agreeing with
spk2utt; segments inside their recordings (and within reco2dur when present); wav.scp, feats.scp,
vad.scp, utt2num_frames, utt2dur and text covering exactly the utterances; speaker tables
covering exactly the speakers; numbers where numbers belong; label tables only naming known
utterances.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from utter.data.datadir import DataDirError, sort_key
from utter.data.dirtools import SPK_FILES, UTT_FILES, read_lines, sort_from_field2, utt2spk_to_spk2utt

#: Tables that must cover exactly the utterances of utt2spk when present.
EXACT_UTT = ("feats.scp", "vad.scp", "utt2num_frames", "utt2dur", "text", "utt2uniq")
#: Segment end times may pass the recording's duration by this much (frame rounding).
DUR_TOLERANCE = 0.02


def check_table(path: Path, *, min_fields: int = 2) -> list[str]:
    """Keys of a table after checking blank lines, field count, C-sorted order and uniqueness."""
    keys: list[str] = []
    prev: bytes | None = None
    for i, line in enumerate(read_lines(path), 1):
        if "\r" in line:
            raise DataDirError(f"{path}:{i}: carriage return in line (DOS line endings?)")
        fields = line.split()
        if not fields:
            raise DataDirError(f"{path}:{i}: empty line")
        if line != line.strip():
            raise DataDirError(f"{path}:{i}: leading or trailing whitespace in '{line}'")
        if len(fields) < min_fields:
            raise DataDirError(f"{path}:{i}: expected at least {min_fields} fields, got '{line}'")
        k = sort_key(fields[0])
        if prev is not None and k == prev:
            raise DataDirError(f"{path}:{i}: duplicate key '{fields[0]}'")
        if prev is not None and k < prev:
            raise DataDirError(f"{path}:{i}: not sorted: '{fields[0]}' after '{keys[-1]}' "
                               f"(LC_ALL=C sort; utils/fix_data_dir.sh fixes this)")
        prev = k
        keys.append(fields[0])
    return keys


def _same_keys(path: Path, keys: Sequence[str], expected: Sequence[str], what: str) -> None:
    """Raise naming the first key of ``path`` not in ``expected``, or the first missing one."""
    exp = set(expected)
    for i, k in enumerate(keys, 1):
        if k not in exp:
            raise DataDirError(f"{path}:{i}: '{k}' is not in {what}")
    have = set(keys)
    missing = [k for k in expected if k not in have]
    if missing:
        raise DataDirError(f"{path}: {len(missing)} of the {len(expected)} entries of {what} are missing, "
                           f"first '{missing[0]}' (utils/fix_data_dir.sh keeps the common ones)")


def _numbers(path: Path, kind: type, positive: bool = True) -> dict[str, float]:
    out = {}
    for i, line in enumerate(read_lines(path), 1):
        f = line.split()
        try:
            v = kind(f[1])
        except (ValueError, IndexError):
            raise DataDirError(f"{path}:{i}: expected 'key number', got '{line}'") from None
        if positive and not v > 0:
            raise DataDirError(f"{path}:{i}: '{f[1]}' for '{f[0]}' is not positive")
        out[f[0]] = v
    return out


def validate_data_dir(data: str | os.PathLike, *, no_feats: bool = False, no_wav: bool = False,
                      no_text: bool = False) -> list[str]:
    """Raise :class:`DataDirError` at the first problem; return informational notes otherwise."""
    d = Path(data)
    notes: list[str] = []
    if not d.is_dir():
        raise DataDirError(f"{d}: no such directory")
    if not (d / "utt2spk").is_file():
        raise DataDirError(f"{d}/utt2spk: no such file")
    utts = check_table(d / "utt2spk")
    utt2spk_lines = read_lines(d / "utt2spk")
    for i, line in enumerate(utt2spk_lines, 1):
        if len(line.split()) != 2:
            raise DataDirError(f"{d}/utt2spk:{i}: expected 'utt spk', got '{line}'")
    by_spk = sort_from_field2(utt2spk_lines)
    if by_spk != utt2spk_lines:
        i = next(i for i, (a, b) in enumerate(zip(by_spk, utt2spk_lines), 1) if a != b)
        raise DataDirError(f"{d}/utt2spk:{i}: not in sorted order when sorted on speaker id "
                           f"('{utt2spk_lines[i - 1]}'); make speaker ids prefixes of utterance ids")
    spk2utt = utt2spk_to_spk2utt(utt2spk_lines)
    speakers = [s.split()[0] for s in spk2utt]
    if not (d / "spk2utt").is_file():
        raise DataDirError(f"{d}/spk2utt: no such file (utils/utt2spk_to_spk2utt.py makes it)")
    check_table(d / "spk2utt")
    for i, (have, want) in enumerate(zip(read_lines(d / "spk2utt"), spk2utt), 1):
        if have.split() != want.split():
            raise DataDirError(f"{d}/spk2utt:{i}: '{have}' does not match utt2spk (expected '{want}')")
    if len(read_lines(d / "spk2utt")) != len(spk2utt):
        raise DataDirError(f"{d}/spk2utt: {len(read_lines(d / 'spk2utt'))} speakers, utt2spk has {len(spk2utt)}")

    segments = d / "segments"
    if segments.is_file():
        seg_keys = check_table(segments, min_fields=4)
        _same_keys(segments, seg_keys, utts, "utt2spk")
        recos_used: dict[str, int] = {}
        spans = []
        for i, line in enumerate(read_lines(segments), 1):
            f = line.split()
            try:
                start, end = float(f[2]), float(f[3])
            except ValueError:
                raise DataDirError(f"{segments}:{i}: bad times in '{line}'") from None
            if len(f) != 4 or start < 0 or (end != -1 and end <= start):
                raise DataDirError(f"{segments}:{i}: expected 'utt reco start end' with 0 <= start < end, "
                                   f"got '{line}'")
            recos_used.setdefault(f[1], i)
            spans.append((i, f[1], end))
        if not no_wav:
            if not (d / "wav.scp").is_file():
                raise DataDirError(f"{d}/wav.scp: no such file (segments needs it)")
            wav_keys = set(check_table(d / "wav.scp"))
            for reco, i in recos_used.items():
                if reco not in wav_keys:
                    raise DataDirError(f"{segments}:{i}: recording '{reco}' is not in wav.scp")
        if (d / "reco2dur").is_file():
            check_table(d / "reco2dur")
            durs = _numbers(d / "reco2dur", float)
            for i, reco, end in spans:
                if reco not in durs:
                    raise DataDirError(f"{segments}:{i}: recording '{reco}' is not in reco2dur")
                if end > durs[reco] + DUR_TOLERANCE:
                    raise DataDirError(f"{segments}:{i}: segment ends at {end} s, after the end of "
                                       f"recording '{reco}' ({durs[reco]} s in reco2dur)")
    elif not no_wav and (d / "wav.scp").is_file():
        _same_keys(d / "wav.scp", check_table(d / "wav.scp"), utts, "utt2spk")
        if (d / "reco2dur").is_file():
            _same_keys(d / "reco2dur", check_table(d / "reco2dur"), utts, "utt2spk")
            _numbers(d / "reco2dur", float)

    if not no_feats and not (d / "feats.scp").is_file():
        raise DataDirError(f"{d}/feats.scp: no such file (if this is by design, specify --no-feats)")
    if not no_text and not (d / "text").is_file():
        raise DataDirError(f"{d}/text: no such file (if this is by design, specify --no-text)")
    for name in EXACT_UTT:
        if name == "feats.scp" and no_feats or name == "text" and no_text:
            continue
        path = d / name
        if path.is_file():
            _same_keys(path, check_table(path, min_fields=1 if name == "text" else 2), utts, "utt2spk")
    if (d / "utt2num_frames").is_file():
        _numbers(d / "utt2num_frames", int)
    if (d / "utt2dur").is_file():
        durs = _numbers(d / "utt2dur", float)
        if segments.is_file():
            for i, line in enumerate(read_lines(segments), 1):
                f = line.split()
                if float(f[3]) != -1 and abs(float(f[3]) - float(f[2]) - durs[f[0]]) > DUR_TOLERANCE:
                    raise DataDirError(f"{d}/utt2dur: '{f[0]}' lasts {durs[f[0]]} s but {segments}:{i} "
                                       f"spans {float(f[3]) - float(f[2]):.3f} s")
    for name in UTT_FILES:
        path = d / name
        if name in EXACT_UTT or not path.is_file():
            continue
        keys = check_table(path)
        known = set(utts)
        for i, k in enumerate(keys, 1):
            if k not in known:
                raise DataDirError(f"{path}:{i}: '{k}' is not in utt2spk")
        if len(keys) < len(utts):
            notes.append(f"{path}: covers {len(keys)} of {len(utts)} utterances")
    for name in SPK_FILES:
        path = d / name
        if path.is_file():
            _same_keys(path, check_table(path), speakers, "the speakers of utt2spk")
    return notes


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m utter.data.validate [--no-feats] [--no-wav] [--no-text] DIR`` (validate_data_dir.sh)."""
    import argparse
    p = argparse.ArgumentParser(prog="python -m utter.data.validate", description=__doc__.split("\n\n")[0])
    p.add_argument("--prog", default="validate_data_dir.sh")
    for o in ("--no-feats", "--no-wav", "--no-text"):
        p.add_argument(o, action="store_true")
    p.add_argument("data")
    a = p.parse_args(argv)
    try:
        notes = validate_data_dir(a.data, no_feats=a.no_feats, no_wav=a.no_wav, no_text=a.no_text)
    except (DataDirError, OSError) as e:
        print(f"{a.prog}: error: {e}", file=sys.stderr)
        return 1
    for n in notes:
        print(f"{a.prog}: note: {n}")
    print(f"{a.prog}: Successfully validated data-directory {a.data}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
