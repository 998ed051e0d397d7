"""IEMOCAP: emotion data dirs with 4-class and full labels, dimensions, and session folds.

Layout read: ``<root>/SessionN/dialog/EmoEvaluation/<dialog>.txt`` (only these top-level
files: not the ``Categorical/``, ``Attribute/``, ``Self-evaluation/`` subfolders, not
AppleDouble ``._`` files; read as latin-1) and ``<root>/SessionN/sentences/wav/<dialog>/<utt>.wav``.
A label line is ``[START - END]<TAB>UTT<TAB>LABEL<TAB>[V, A, D]``; annotator lines follow.

The speaker of ``Ses01F_impro01_M000`` is the male actor of session 1, ``Ses01M`` (the
letter of the last field; the one after ``Ses01`` names who wore the markers), and the
utterance id is ``Ses01M-Ses01F_impro01_M000``.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from utter.data.corpora import (
    CorpusError,
    audio_durations,
    count_summary,
    format_seconds,
    log,
    require_dir,
    scp_path,
    stable_hash,
    visible_files,
    warn_banner,
    write_data_dir,
    write_folds,
)

#: Labels of the corpus's categorical evaluation summary lines.
LABELS = ("neu", "hap", "exc", "ang", "sad", "fru", "sur", "fea", "dis", "oth", "xxx")
#: The standard 4-class task: happy and excited merged.
FOUR_CLASS = {"neu": "neu", "hap": "hap", "exc": "hap", "ang": "ang", "sad": "sad"}
#: The 4-class count of the complete corpus (neu 1708, hap+exc 1636, ang 1103, sad 1084).
FULL_CORPUS_4CLASS = 5531

LINE_RE = re.compile(
    r"^\[\s*(\d+(?:\.\d*)?)\s*-\s*(\d+(?:\.\d*)?)\s*\]\s+(\S+)\s+(\S+)\s+"
    r"\[\s*([-+\d.]+)\s*,\s*([-+\d.]+)\s*,\s*([-+\d.]+)\s*\]\s*$"
)
UTT_RE = re.compile(r"^Ses(\d\d)[FM]_.+_([FM])\d+$")


@dataclass(frozen=True)
class EmoRecord:
    """One utterance's summary line in an EmoEvaluation file."""
    utt: str  # the corpus name, e.g. Ses01F_impro01_M000
    start: float
    end: float
    label: str
    vad: tuple[float, float, float]  # valence, activation (arousal), dominance
    path: Path
    lineno: int

    @property
    def session(self) -> str:
        return self.utt[:5]

    @property
    def gender(self) -> str:
        return self.utt.rsplit("_", 1)[1][0].lower()

    @property
    def speaker(self) -> str:
        return self.session + self.utt.rsplit("_", 1)[1][0]

    @property
    def dialog(self) -> str:
        return self.utt.rsplit("_", 1)[0]

    @property
    def utt_id(self) -> str:
        return f"{self.speaker}-{self.utt}"


def parse_emo_evaluation(path: Path) -> list[EmoRecord]:
    """Read the summary lines of one EmoEvaluation file (latin-1); annotator lines are skipped."""
    records = []
    with open(path, encoding="latin-1") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.startswith("["):
                continue  # header (%), blank, and annotator lines (C-E2:, A-E3: ...)
            m = LINE_RE.match(line)
            if not m:
                raise CorpusError(f"{path}:{lineno}: expected '[START - END]<TAB>UTT<TAB>LABEL<TAB>[V, A, D]', "
                                  f"got '{line}'")
            start, end, utt, label, v, a, d = m.groups()
            if not UTT_RE.match(utt):
                raise CorpusError(f"{path}:{lineno}: utterance name '{utt}' is not of the form "
                                  f"SesNN[FM]_<dialog>_[FM]NNN")
            if label not in LABELS:
                raise CorpusError(f"{path}:{lineno}: unknown label '{label}' (known: {' '.join(LABELS)})")
            try:
                vad = (float(v), float(a), float(d))
            except ValueError:
                raise CorpusError(f"{path}:{lineno}: dimensions '[{v}, {a}, {d}]' are not numbers") from None
            records.append(EmoRecord(utt, float(start), float(end), label, vad, path, lineno))
    return records


def label_files(session_dir: Path) -> list[Path]:
    """The top-level ``dialog/EmoEvaluation/*.txt`` files of one session."""
    emo_dir = require_dir(session_dir / "dialog" / "EmoEvaluation", "IEMOCAP label files")
    files = visible_files(emo_dir, ".txt")
    if not files:
        raise CorpusError(f"{emo_dir}: no <dialog>.txt label files")
    return files


def read_corpus(root: Path) -> tuple[list[EmoRecord], dict[str, Path], list[str]]:
    """All labelled utterances, their wav paths (by corpus name), and the session dirs' names."""
    root = require_dir(Path(root), "IEMOCAP root (IEMOCAP_full_release)")
    sessions = sorted(p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"Session\d+", p.name))
    if not sessions:
        raise CorpusError(f"{root}: no SessionN directories (is this IEMOCAP_full_release?)")
    records: list[EmoRecord] = []
    wavs: dict[str, Path] = {}
    seen: dict[str, EmoRecord] = {}
    for sdir in sessions:
        wav_dir = require_dir(sdir / "sentences" / "wav", "IEMOCAP utterance audio")
        number = int(sdir.name[len("Session"):])
        for path in label_files(sdir):
            for r in parse_emo_evaluation(path):
                if int(r.utt[3:5]) != number:
                    raise CorpusError(f"{path}:{r.lineno}: utterance '{r.utt}' does not belong to {sdir.name}")
                if r.utt in seen:
                    o = seen[r.utt]
                    raise CorpusError(f"{path}:{r.lineno}: utterance '{r.utt}' already labelled at {o.path}:{o.lineno}")
                wav = wav_dir / r.dialog / f"{r.utt}.wav"
                if not wav.is_file():
                    raise CorpusError(f"{path}:{r.lineno}: utterance '{r.utt}' has no audio: {wav} is missing")
                seen[r.utt] = r
                records.append(r)
                wavs[r.utt] = wav
    return records, wavs, [s.name for s in sessions]


def _dev_dialogs(utt2dialog: dict[str, str], utts: list[str], fraction: float) -> set[str]:
    """Dialogs of one session held out for early stopping: about ``fraction`` of its utterances.

    Dialogs are taken in the order of a fixed hash of their names, each added when that brings
    the held-out count closer to the target, so the choice is the same on every run and fold.
    """
    sizes = Counter(utt2dialog[u] for u in utts)
    target = fraction * len(utts)
    chosen, count = set(), 0
    for dialog in sorted(sizes, key=stable_hash):
        if abs(count + sizes[dialog] - target) < abs(count - target) and len(chosen) + 1 < len(sizes):
            chosen.add(dialog)
            count += sizes[dialog]
    return chosen


def session_folds(utt2session: dict[str, str], utt2dialog: dict[str, str],
                  dev_fraction: float = 0.2) -> dict[str, dict[str, list[str]]]:
    """Leave-one-session-out folds ``{k: {train, dev, test}}``; fold k tests the k-th session.

    The dev part holds out whole dialogs (about ``dev_fraction`` of each training session's
    utterances), so no dialog is split between train and dev. A session where no dialog fits
    (a single dialog, or only ones far larger than the target) holds out ``dev_fraction`` of
    its utterances by a fixed hash of their ids instead.
    """
    by_session: dict[str, list[str]] = {}
    for u, s in utt2session.items():
        by_session.setdefault(s, []).append(u)
    dev: set[str] = set()
    for utts in by_session.values():
        held = _dev_dialogs(utt2dialog, utts, dev_fraction) if len({utt2dialog[u] for u in utts}) > 1 else set()
        if held:
            dev.update(u for u in utts if utt2dialog[u] in held)
        else:
            ranked = sorted(utts, key=stable_hash)
            dev.update(ranked[: round(dev_fraction * len(utts))])
    folds = {}
    for k, test_session in enumerate(sorted(by_session), 1):
        test = sorted(by_session[test_session])
        rest = sorted(u for s, us in by_session.items() if s != test_session for u in us)
        folds[str(k)] = {"train": [u for u in rest if u not in dev], "dev": [u for u in rest if u in dev],
                         "test": test}
    return folds


def prepare_iemocap(root: Path, data: Path, durations: bool = True, dev_fraction: float = 0.2) -> dict[str, Path]:
    """Write ``data/iemocap_all`` (every labelled utterance, ``utt2emo_full``) and ``data/iemocap``.

    ``data/iemocap`` keeps the 4-class utterances (neu, hap+exc as ``hap``, ang, sad) with
    ``utt2emo`` and their original label in ``utt2emo_full``, and ``folds/<k>/{train,dev,test}``.
    Both have ``wav.scp``, ``utt2spk``, ``spk2utt``, ``utt2session``, ``utt2gender``,
    ``spk2gender``, ``utt2vad_dims`` (valence arousal dominance) and ``utt2dur``.
    """
    root, data = Path(root), Path(data)
    records, wavs, sessions = read_corpus(root)
    if not records:
        raise CorpusError(f"{root}: no labelled utterances")
    durs = audio_durations({r.utt: wavs[r.utt] for r in records}, "iemocap durations") if durations else None
    full_counts = Counter(r.label for r in records)
    log.info("IEMOCAP: %d labelled utterances in %d sessions; labels %s", len(records), len(sessions),
             count_summary(full_counts))

    def tables(recs: list[EmoRecord]) -> dict:
        t = {
            "wav.scp": {r.utt_id: scp_path(wavs[r.utt]) for r in recs},
            "utt2spk": {r.utt_id: r.speaker for r in recs},
            "utt2session": {r.utt_id: r.session for r in recs},
            "utt2gender": {r.utt_id: r.gender for r in recs},
            "spk2gender": {r.speaker: r.gender for r in recs},
            "utt2emo_full": {r.utt_id: r.label for r in recs},
            "utt2vad_dims": {r.utt_id: " ".join(f"{x:.4f}" for x in r.vad) for r in recs},
        }
        if durs is not None:
            t["utt2dur"] = {r.utt_id: format_seconds(durs[r.utt]) for r in recs}
        return t

    write_data_dir(data / "iemocap_all", tables(records))
    kept = [r for r in records if r.label in FOUR_CLASS]
    if not kept:
        raise CorpusError(f"{root}: no utterance has a 4-class label (neu, hap, exc, ang, sad)")
    dropped = Counter(r.label for r in records if r.label not in FOUR_CLASS)
    four = tables(kept)
    four["utt2emo"] = {r.utt_id: FOUR_CLASS[r.label] for r in kept}
    counts4 = Counter(four["utt2emo"].values())
    log.info("4-class set: %d utterances (%s); dropped %d (%s)", len(kept), count_summary(counts4),
             sum(dropped.values()), count_summary(dropped))
    if len(sessions) == 5 and len(records) > 10000 and len(kept) != FULL_CORPUS_4CLASS:
        warn_banner(f"IEMOCAP looks complete ({len(sessions)} sessions, {len(records)} utterances) but the "
                    f"4-class set has {len(kept)} utterances, not the standard {FULL_CORPUS_4CLASS}.\n"
                    f"Check the copy under {root}: results will not be comparable with published figures.")
    write_data_dir(data / "iemocap", four)
    folds = session_folds(four["utt2session"], {r.utt_id: r.dialog for r in kept}, dev_fraction)
    write_folds(data / "iemocap", folds)
    for k, parts in folds.items():
        log.info("fold %s: train %d, dev %d, test %d", k, *(len(parts[p]) for p in ("train", "dev", "test")))
    return {"iemocap_all": data / "iemocap_all", "iemocap": data / "iemocap"}
