"""Trial lists in the formats corpora ship, converted to the Kaldi trials of a data dir.

Formats (``fmt``; ``auto`` tells them apart from the first line):

``voxceleb``  ``<1|0> <enroll> <test>``: label first, 1 for a target (VoxCeleb's veri_test.txt)
``kaldi``     ``<enroll> <test> [<label>]``: label last, ``target|nontarget`` (Kaldi), or ``1|0``,
              ``tgt|imp``, ``true|false``, ``y|n`` (CN-Celeb and others); no label: unlabelled
``nist``      a header line naming the columns, then one trial a line (tabs or spaces): the
              enrolment column ``modelid``/``model``/``enroll``/``enrollment``, the test column
              ``segmentid``/``segment``/``test``, the label column ``targettype``/``target``/
              ``label``/``key`` (any of the label words above); other columns are ignored
              (NIST SRE keys)

Each side names an utterance of the data dir: by its utterance id, or by the audio file its
``wav.scp`` entry reads, given as an absolute path or as any trailing part of it (``id1/v/1.wav``
matches ``/data/vox/wav/id1/v/1.wav``), with or without extension (``a.wav`` matches ``a.flac``).
A name that matches no utterance, or several, is an error naming the line. The result is Kaldi's
``<enroll> <test> target|nontarget`` (or ``<enroll> <test>`` for an unlabelled list).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from utter.data.corpora.plain import entry_path
from utter.data.datadir import DataDir, write_table

FORMATS = ("auto", "voxceleb", "kaldi", "nist")

_LABELS = {"target": "target", "nontarget": "nontarget", "1": "target", "0": "nontarget", "tgt": "target",
           "imp": "nontarget", "true": "target", "false": "nontarget", "y": "target", "n": "nontarget",
           "yes": "target", "no": "nontarget", "non-target": "nontarget", "impostor": "nontarget"}
_ENROLL_COLS = ("modelid", "model", "model_id", "enroll", "enrollment", "enrollment_id", "enroll_id", "enrollid")
_TEST_COLS = ("segmentid", "segment", "segment_id", "test", "test_id", "testid", "test_segment")
_LABEL_COLS = ("targettype", "target_type", "target", "label", "key", "is_target", "trial_type")


class TrialError(ValueError):
    """A malformed trial line, or a trial naming audio not in the corpus (the message names the line)."""


@dataclass(frozen=True)
class Trial:
    lineno: int
    enroll: str
    test: str
    label: str | None   # target, nontarget or None (unlabelled)


def _label(word: str, path: Path, lineno: int) -> str:
    lab = _LABELS.get(word.lower())
    if lab is None:
        raise TrialError(f"{path}:{lineno}: '{word}' is not a trial label (target/nontarget, 1/0, tgt/imp)")
    return lab


def detect_format(path: Path, first: Sequence[str]) -> str:
    """The format of a list whose first non-empty line has the fields ``first``."""
    low = [f.lower() for f in first]
    if low and low[0] in _ENROLL_COLS and any(f in _TEST_COLS for f in low[1:]):
        return "nist"
    if len(first) == 3 and first[0] in ("0", "1") and first[2].lower() not in _LABELS:
        return "voxceleb"
    if len(first) in (2, 3):
        return "kaldi"
    raise TrialError(f"{path}:1: cannot tell the trial list format from '{' '.join(first)}' (expected "
                     "'<1|0> <enroll> <test>', '<enroll> <test> [target|nontarget]' or a NIST header line)")


def read_trial_list(path: str | os.PathLike, fmt: str = "auto") -> tuple[list[Trial], str]:
    """The trials of a list in one of the :data:`FORMATS`, and the format read."""
    path = Path(path)
    if fmt not in FORMATS:
        raise TrialError(f"trial format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        raise TrialError(f"{path}: no such trial list") from None
    lines = [(i, ln.split()) for i, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    if not lines:
        raise TrialError(f"{path}: empty trial list")
    if fmt == "auto":
        fmt = detect_format(path, lines[0][1])
    trials: list[Trial] = []
    if fmt == "nist":
        head_no, head = lines[0]
        low = [h.lower() for h in head]
        cols = []
        for names, what in ((_ENROLL_COLS, "enrolment"), (_TEST_COLS, "test"), (_LABEL_COLS, "label")):
            i = next((k for k, h in enumerate(low) if h in names), None)
            if i is None and what != "label":
                raise TrialError(f"{path}:{head_no}: no {what} column in the header ({', '.join(names)})")
            cols.append(i)
        e, t, lab = cols
        for lineno, fields in lines[1:]:
            if len(fields) != len(head):
                raise TrialError(f"{path}:{lineno}: {len(fields)} fields, the header has {len(head)}")
            trials.append(Trial(lineno, fields[e], fields[t],
                                None if lab is None else _label(fields[lab], path, lineno)))
    else:
        for lineno, fields in lines:
            if fmt == "voxceleb":
                if len(fields) != 3 or fields[0] not in ("0", "1"):
                    raise TrialError(f"{path}:{lineno}: expected '<1|0> <enroll> <test>' (VoxCeleb format), "
                                     f"got '{' '.join(fields)}'")
                trials.append(Trial(lineno, fields[1], fields[2], _label(fields[0], path, lineno)))
            else:
                if len(fields) not in (2, 3):
                    raise TrialError(f"{path}:{lineno}: expected '<enroll> <test> [target|nontarget]' (Kaldi "
                                     f"format), got '{' '.join(fields)}'")
                lab = _label(fields[2], path, lineno) if len(fields) == 3 else None
                trials.append(Trial(lineno, fields[0], fields[1], lab))
    if not trials:
        raise TrialError(f"{path}: no trials after the header")
    labelled = [t.label is not None for t in trials]
    if any(labelled) and not all(labelled):
        bad = trials[labelled.index(False)]
        raise TrialError(f"{path}:{bad.lineno}: trial without a label in a labelled list")
    return trials, fmt


def _strip_ext(name: str) -> str:
    head, sep, last = name.rpartition("/")
    if "." in last:
        last = last.rsplit(".", 1)[0]
    return head + sep + last


class UttIndex:
    """Names -> utterance ids of a data dir: ids, and the trailing parts of their audio paths."""

    def __init__(self, data_dir: str | os.PathLike):
        self.data = DataDir(data_dir)
        utts = list(self.data.utt2spk)
        self.utts = set(utts)
        segments = self.data.segments
        wav = self.data.wav_scp
        reco_utts: dict[str, list[str]] = {}
        if segments is None:
            for u in utts:
                reco_utts[u] = [u]
        else:
            for u, (reco, _, _) in segments.items():
                reco_utts.setdefault(reco, []).append(u)
        self.names: dict[str, set[str]] = {}
        self.multi: dict[str, str] = {}   # name -> the recording it names, when that has several segments
        for reco, us in reco_utts.items():
            path = entry_path(wav.get(reco, "")) if reco in wav else None
            if not path:
                continue
            parts = os.path.normpath(os.path.abspath(path)).split(os.sep)[1:]
            keys = set()
            for k in range(len(parts)):
                tail = "/".join(parts[k:])
                keys.update((tail, _strip_ext(tail)))
            for key in keys:
                if len(us) == 1:
                    self.names.setdefault(key, set()).add(us[0])
                else:
                    self.multi[key] = reco

    def lookup(self, name: str) -> str | None | set[str]:
        """The utterance ``name`` names; None when none; the set of candidates when several."""
        if name in self.utts:
            return name
        key = _name_key(name)
        for k in (key, _strip_ext(key)):
            hit = self.names.get(k)
            if hit:
                return next(iter(hit)) if len(hit) == 1 else hit
        return None


def _name_key(name: str) -> str:
    """A trial's file name as the index keys it: '/'-separated, no leading './' or '/'."""
    return os.path.normpath(name).replace(os.sep, "/").lstrip("/")


def convert_trials(trial_list: str | os.PathLike, data_dir: str | os.PathLike, out: str | os.PathLike,
                   fmt: str = "auto") -> dict[str, int]:
    """Write ``out``: the Kaldi trials of ``trial_list`` over the utterances of ``data_dir``.

    Returns counts: ``trials``, ``target``, ``nontarget``, ``duplicates`` (repeated pairs, kept).
    """
    trial_list = Path(trial_list)
    trials, fmt = read_trial_list(trial_list, fmt)
    index = UttIndex(data_dir)
    rows = []
    seen: set[tuple[str, str]] = set()
    counts = {"trials": 0, "target": 0, "nontarget": 0, "duplicates": 0}
    for t in trials:
        pair = []
        for side, name in (("enrolment", t.enroll), ("test", t.test)):
            hit = index.lookup(name)
            if hit is None:
                key = _strip_ext(_name_key(name))
                extra = ""
                for k in (_name_key(name), key):
                    if k in index.multi:
                        extra = (f" (it is recording '{index.multi[k]}', which has several segments: "
                                 "name the segment's utterance id)")
                raise TrialError(f"{trial_list}:{t.lineno}: {side} '{name}' is not in the corpus of {data_dir}: "
                                 f"no utterance id, and no file of {index.data.file('wav.scp')} ends in '{name}' "
                                 f"or '{key}.*'{extra}")
            if isinstance(hit, set):
                some = ", ".join(sorted(hit)[:3])
                raise TrialError(f"{trial_list}:{t.lineno}: {side} '{name}' matches several utterances of "
                                 f"{data_dir} ({some} ...): give a longer part of its path")
            pair.append(hit)
        key = (pair[0], pair[1])
        if key in seen:
            counts["duplicates"] += 1
        seen.add(key)
        rows.append((f"{pair[0]} {pair[1]}", t.label or ""))
        counts["trials"] += 1
        if t.label:
            counts[t.label] += 1
    if counts["target"] and not counts["nontarget"] or counts["nontarget"] and not counts["target"]:
        only = "target" if counts["target"] else "nontarget"
        raise TrialError(f"{trial_list}: every trial is a {only} trial: EER and minDCF need both kinds")
    write_table(out, rows)   # an unlabelled trial is written as "<enroll> <test>"
    return counts


__all__ = ["FORMATS", "Trial", "TrialError", "UttIndex", "convert_trials", "detect_format", "read_trial_list"]
