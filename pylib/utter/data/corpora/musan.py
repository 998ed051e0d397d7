"""MUSAN: music, noise and speech data dirs for augmentation.

Layout read: ``<root>/{music,noise,speech}/<source>/*.wav`` with an ``ANNOTATIONS`` file in
each source folder. Music annotations are ``utt genres vocals(Y/N) artist...`` lines (as
Kaldi's ``make_musan.py`` reads them); speech annotations, where they carry them, give
gender and language after the id. Each file is its own "speaker", as in Kaldi.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from utter.data.corpora import (
    CorpusError,
    audio_durations,
    count_summary,
    format_seconds,
    log,
    require_dir,
    scp_path,
    write_data_dir,
)

CATEGORIES = ("music", "noise", "speech")


def read_annotations(path: Path, category: str) -> dict[str, list[str]]:
    """One ANNOTATIONS file: utterance id -> the remaining fields. Music lines need 4 fields."""
    need = 4 if category == "music" else 1
    out: dict[str, list[str]] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = line.split()
            if len(fields) < need:
                raise CorpusError(f"{path}:{lineno}: expected 'utt genres vocals(Y/N) artist ...', "
                                  f"got '{line.rstrip()}'")
            if category == "music" and fields[2] not in ("Y", "N"):
                raise CorpusError(f"{path}:{lineno}: vocals field '{fields[2]}' is not Y or N")
            if fields[0] in out:
                raise CorpusError(f"{path}:{lineno}: duplicate id '{fields[0]}'")
            out[fields[0]] = fields[1:]
    return out


def scan_category(cat_dir: Path) -> tuple[dict[str, Path], dict[str, list[str]]]:
    """All wav files under one category folder, and the merged annotations found beside them."""
    wavs: dict[str, Path] = {}
    notes: dict[str, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(cat_dir):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith("."):
                continue
            if name.endswith(".wav"):
                utt = name[:-4]
                if utt in wavs:
                    raise CorpusError(f"{path}: id '{utt}' also at {wavs[utt]}")
                wavs[utt] = path
            elif name == "ANNOTATIONS":
                notes.update(read_annotations(path, cat_dir.name))
    return wavs, notes


def prepare_musan(root: Path, data: Path, use_vocals: bool = True, durations: bool = True) -> dict[str, Path]:
    """Write ``data/musan_{music,noise,speech}``: wav.scp, utt2spk (= utt), spk2utt, utt2dur, reco2dur.

    Music gets ``utt2vocals`` (Y/N) and ``utt2genre`` from its annotations; with
    ``use_vocals`` false, music with vocals is left out (counted in the log). Speech gets
    ``utt2gender``/``utt2lang`` when its annotations carry them.
    """
    root, data = Path(root), Path(data)
    require_dir(root, "MUSAN root")
    written = {}
    for cat in CATEGORIES:
        wavs, notes = scan_category(require_dir(root / cat, f"MUSAN {cat}"))
        if not wavs:
            raise CorpusError(f"{root / cat}: no .wav files")
        unannotated = sorted(set(wavs) - set(notes))
        no_audio = sorted(set(notes) - set(wavs))
        if no_audio:
            log.warning("musan %s: %d annotated ids have no wav file (e.g. %s)", cat, len(no_audio), no_audio[0])
        if unannotated and notes:
            log.info("musan %s: %d files without an annotation line", cat, len(unannotated))
        tables: dict[str, dict] = {}
        if cat == "music":
            vocals = {u: notes[u][1] for u in wavs if u in notes}
            if not use_vocals:
                dropped = [u for u, v in vocals.items() if v == "Y"]
                for u in dropped:
                    del wavs[u]
                log.info("musan music: %d files with vocals left out (--use-vocals false)", len(dropped))
            tables["utt2vocals"] = {u: v for u, v in vocals.items() if u in wavs}
            tables["utt2genre"] = {u: notes[u][0] for u in wavs if u in notes}
            log.info("musan music: vocals %s", count_summary(Counter(tables["utt2vocals"].values())))
        elif cat == "speech" and notes:
            gender = {u: n[0].lower()[0] for u, n in notes.items()
                      if u in wavs and n and n[0].lower() in ("m", "f", "male", "female")}
            if gender:
                tables["utt2gender"] = gender
                tables["utt2lang"] = {u: notes[u][1] for u in gender if len(notes[u]) > 1}
        tables["wav.scp"] = {u: scp_path(p) for u, p in wavs.items()}
        tables["utt2spk"] = {u: u for u in wavs}
        if durations:
            durs = audio_durations(wavs, f"musan {cat} durations")
            tables["utt2dur"] = {u: format_seconds(d) for u, d in durs.items()}
            tables["reco2dur"] = tables["utt2dur"]
        tables = {k: v for k, v in tables.items() if v}
        out = data / f"musan_{cat}"
        write_data_dir(out, tables)
        log.info("musan_%s: %d files", cat, len(wavs))
        written[f"musan_{cat}"] = out
    return written
