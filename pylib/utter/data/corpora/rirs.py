"""RIRS_NOISES: simulated room impulse responses as data dirs for reverberation.

Layout read: ``<root>/simulated_rirs/{smallroom,mediumroom,largeroom}/rir_list`` with lines
``--rir-id small-Room001-00001 --room-id small-Room001 RIRS_NOISES/simulated_rirs/smallroom/Room001/Room001-00001.wav``;
paths are relative to the folder holding ``RIRS_NOISES`` (or to ``<root>`` itself).
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

from utter.data.corpora import (
    CorpusError,
    audio_durations,
    format_seconds,
    log,
    require_dir,
    require_file,
    scp_path,
    write_data_dir,
)

ROOMS = ("small", "medium", "large")


def read_rir_list(path: Path, root: Path) -> OrderedDict[str, tuple[str, Path]]:
    """A Kaldi ``rir_list``: rir id -> (room id, resolved wav path); errors name file:line."""
    out: OrderedDict[str, tuple[str, Path]] = OrderedDict()
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            tokens = line.split()
            opts, rest = {}, []
            i = 0
            while i < len(tokens):
                if tokens[i].startswith("--") and i + 1 < len(tokens):
                    opts[tokens[i]] = tokens[i + 1]
                    i += 2
                else:
                    rest.append(tokens[i])
                    i += 1
            if "--rir-id" not in opts or "--room-id" not in opts or len(rest) != 1:
                raise CorpusError(f"{path}:{lineno}: expected '--rir-id ID --room-id ROOM PATH', got '{line.rstrip()}'")
            rel = Path(rest[0])
            cands = [rel] if rel.is_absolute() else [root.parent / rel, root / rel]
            if not rel.is_absolute() and rel.parts and rel.parts[0] == root.name:
                cands.append(root / Path(*rel.parts[1:]))
            wav = next((c for c in cands if c.is_file()), None)
            if wav is None:
                raise CorpusError(f"{path}:{lineno}: {rest[0]} not found (looked at {', '.join(map(str, cands))})")
            rir = opts["--rir-id"]
            if rir in out:
                raise CorpusError(f"{path}:{lineno}: duplicate rir id '{rir}'")
            if not rir.startswith(opts["--room-id"]):
                raise CorpusError(f"{path}:{lineno}: rir id '{rir}' does not start with its room id "
                                  f"'{opts['--room-id']}' (Kaldi wants speaker-prefixed ids)")
            out[rir] = (opts["--room-id"], wav)
    if not out:
        raise CorpusError(f"{path}: empty rir_list")
    return out


def prepare_rirs(root: Path, data: Path, rooms: tuple[str, ...] = ("small", "medium"),
                 durations: bool = True) -> dict[str, Path]:
    """Write ``data/rirs_<room>`` per room size: wav.scp, utt2spk (rir -> room id), spk2utt,
    utt2dur, and ``rir_list`` (Kaldi's format, absolute paths) for Kaldi's reverberation tools."""
    root, data = Path(root), Path(data)
    sim = require_dir(root / "simulated_rirs", "RIRS_NOISES simulated room impulse responses")
    written = {}
    for room in rooms:
        if room not in ROOMS:
            raise ValueError(f"unknown room size '{room}' (known: {' '.join(ROOMS)})")
        rir_list = require_file(sim / f"{room}room" / "rir_list", f"list of {room}-room impulse responses")
        rirs = read_rir_list(rir_list, root)
        tables = {
            "wav.scp": {r: scp_path(p) for r, (_, p) in rirs.items()},
            "utt2spk": {r: room_id for r, (room_id, _) in rirs.items()},
            "rir_list": [("--rir-id", f"{r} --room-id {room_id} {scp_path(p)}") for r, (room_id, p) in rirs.items()],
        }
        if durations:
            durs = audio_durations({r: p for r, (_, p) in rirs.items()}, f"rirs {room} durations")
            tables["utt2dur"] = {r: format_seconds(d) for r, d in durs.items()}
        out = data / f"rirs_{room}"
        write_data_dir(out, tables)
        log.info("rirs_%s: %d impulse responses in %d rooms", room, len(rirs), len({v[0] for v in rirs.values()}))
        written[f"rirs_{room}"] = out
    return written
