"""Trial lists: the one parser of trial lines, which the data room and the back-end both call.

Formats (``fmt``; ``auto`` tells them apart from the first non-empty line):

``voxceleb``  ``<1|0> <enroll> <test>``: label first, 1 for a target (VoxCeleb's veri_test.txt)
``kaldi``     ``<enroll> <test> [<label>]``: label last, ``target|nontarget`` (Kaldi), or ``1|0``,
              ``tgt|imp``, ``true|false``, ``y|n`` (CN-Celeb and others); no label: unlabelled
``nist``      a header line naming the columns, then one trial a line (tabs or spaces): the
              enrolment column ``modelid``/``model``/``enroll``/``enrollment``, the test column
              ``segmentid``/``segment``/``test``, the label column ``targettype``/``target``/
              ``label``/``key`` (any of the label words above); other columns are ignored
              (NIST SRE keys)

``strict=True`` reads the Kaldi trials of a data dir as the scoring programs do
(:func:`utter.backend.io.read_trials`): Kaldi format only, no empty lines, the labels
``target|nontarget`` exactly, and every line with as many fields as the first.

Every malformed line is a :class:`TrialError` naming file and line. Base floor: stdlib only.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

FORMATS = ("auto", "voxceleb", "kaldi", "nist")

#: Label words -> ``target``/``nontarget`` (lower case; the lenient reading).
LABELS = {"target": "target", "nontarget": "nontarget", "1": "target", "0": "nontarget", "tgt": "target",
          "imp": "nontarget", "true": "target", "false": "nontarget", "y": "target", "n": "nontarget",
          "yes": "target", "no": "nontarget", "non-target": "nontarget", "impostor": "nontarget"}
#: Kaldi's label words, the only ones ``strict`` reading accepts.
KALDI_LABELS = ("target", "nontarget")
ENROLL_COLS = ("modelid", "model", "model_id", "enroll", "enrollment", "enrollment_id", "enroll_id", "enrollid")
TEST_COLS = ("segmentid", "segment", "segment_id", "test", "test_id", "testid", "test_segment")
LABEL_COLS = ("targettype", "target_type", "target", "label", "key", "is_target", "trial_type")


class TrialError(ValueError):
    """A malformed trial line, or a trial naming audio not in the corpus (the message names the line)."""


class Trial(NamedTuple):
    lineno: int
    enroll: str
    test: str
    label: str | None   # target, nontarget or None (unlabelled)


def _label(word: str, path: str | os.PathLike, lineno: int) -> str:
    lab = LABELS.get(word.lower())
    if lab is None:
        raise TrialError(f"{path}:{lineno}: '{word}' is not a trial label (target/nontarget, 1/0, tgt/imp)")
    return lab


def detect_format(path: str | os.PathLike, first: Sequence[str]) -> str:
    """The format of a list whose first non-empty line has the fields ``first``."""
    low = [f.lower() for f in first]
    if low and low[0] in ENROLL_COLS and any(f in TEST_COLS for f in low[1:]):
        return "nist"
    if len(first) == 3 and first[0] in ("0", "1") and first[2].lower() not in LABELS:
        return "voxceleb"
    if len(first) in (2, 3):
        return "kaldi"
    raise TrialError(f"{path}:1: cannot tell the trial list format from '{' '.join(first)}' (expected "
                     "'<1|0> <enroll> <test>', '<enroll> <test> [target|nontarget]' or a NIST header line)")


def _kaldi_line(fields: list[str], path: str | os.PathLike, lineno: int) -> None:
    if len(fields) not in (2, 3):
        raise TrialError(f"{path}:{lineno}: expected '<enroll> <test> [target|nontarget]' (Kaldi "
                         f"format), got '{' '.join(fields)}'")


@dataclass
class TrialColumns:
    """The trials of a list, column by column (a million trials make no million objects)."""

    fmt: str
    lineno: list[int] = field(default_factory=list)
    enroll: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)
    label: list[str | None] = field(default_factory=list)   # target, nontarget or None (unlabelled)

    def __len__(self) -> int:
        return len(self.enroll)

    def add(self, lineno: int, enroll: str, test: str, label: str | None) -> None:
        self.lineno.append(lineno)
        self.enroll.append(enroll)
        self.test.append(test)
        self.label.append(label)

    def trials(self) -> list[Trial]:
        return [Trial(*row) for row in zip(self.lineno, self.enroll, self.test, self.label)]


def _strict(lines: Iterable[str], path: str | os.PathLike) -> TrialColumns:
    out = TrialColumns("kaldi")
    lineno_, enroll, test, label = out.lineno, out.enroll, out.test, out.label
    n_fields = None
    for lineno, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            raise TrialError(f"{path}:{lineno}: empty line")
        n = len(fields)
        if n != n_fields:
            _kaldi_line(fields, path, lineno)
            if n_fields is not None:
                raise TrialError(f"{path}:{lineno}: {n} fields but the first line had {n_fields}")
            n_fields = n
        if n == 3:
            lab = fields[2]
            if lab not in KALDI_LABELS:
                raise TrialError(f"{path}:{lineno}: label must be 'target' or 'nontarget', got '{lab}'")
        else:
            lab = None
        lineno_.append(lineno)
        enroll.append(fields[0])
        test.append(fields[1])
        label.append(lab)
    if not enroll:
        raise TrialError(f"{path}: empty trial list")
    return out


def parse_trials(lines: Iterable[str], path: str | os.PathLike, fmt: str = "auto",
                 strict: bool = False) -> TrialColumns:
    """The trials of the text ``lines`` of the list ``path`` (named in errors), with the format read.

    ``strict``: Kaldi's trials as the scoring programs read them (the module's docstring).
    """
    if fmt not in FORMATS:
        raise TrialError(f"trial format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    if strict:
        if fmt not in ("auto", "kaldi"):
            raise TrialError(f"strict trial reading is of the Kaldi format, got '{fmt}'")
        return _strict(lines, path)
    rows = [(i, ln.split()) for i, ln in enumerate(lines, 1) if ln.strip()]
    if not rows:
        raise TrialError(f"{path}: empty trial list")
    if fmt == "auto":
        fmt = detect_format(path, rows[0][1])
    out = TrialColumns(fmt)
    if fmt == "nist":
        head_no, head = rows[0]
        low = [h.lower() for h in head]
        cols = []
        for names, what in ((ENROLL_COLS, "enrolment"), (TEST_COLS, "test"), (LABEL_COLS, "label")):
            i = next((k for k, h in enumerate(low) if h in names), None)
            if i is None and what != "label":
                raise TrialError(f"{path}:{head_no}: no {what} column in the header ({', '.join(names)})")
            cols.append(i)
        e, t, lab = cols
        for lineno, fields in rows[1:]:
            if len(fields) != len(head):
                raise TrialError(f"{path}:{lineno}: {len(fields)} fields, the header has {len(head)}")
            out.add(lineno, fields[e], fields[t], None if lab is None else _label(fields[lab], path, lineno))
    elif fmt == "voxceleb":
        for lineno, fields in rows:
            if len(fields) != 3 or fields[0] not in ("0", "1"):
                raise TrialError(f"{path}:{lineno}: expected '<1|0> <enroll> <test>' (VoxCeleb format), "
                                 f"got '{' '.join(fields)}'")
            out.add(lineno, fields[1], fields[2], _label(fields[0], path, lineno))
    else:
        for lineno, fields in rows:
            _kaldi_line(fields, path, lineno)
            out.add(lineno, fields[0], fields[1], _label(fields[2], path, lineno) if len(fields) == 3 else None)
    if not out.enroll:
        raise TrialError(f"{path}: no trials after the header")
    unlabelled = [lab is None for lab in out.label]
    if any(unlabelled) and not all(unlabelled):
        raise TrialError(f"{path}:{out.lineno[unlabelled.index(True)]}: trial without a label in a labelled list")
    return out


def read_trial_list(path: str | os.PathLike, fmt: str = "auto") -> tuple[list[Trial], str]:
    """The trials of a list file in one of the :data:`FORMATS` (lenient: blank lines skipped, any
    label word of :data:`LABELS`), and the format read."""
    path = Path(path)
    if fmt not in FORMATS:
        raise TrialError(f"trial format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        raise TrialError(f"{path}: no such trial list") from None
    got = parse_trials(text.splitlines(), path, fmt)
    return got.trials(), got.fmt


__all__ = ["FORMATS", "KALDI_LABELS", "LABELS", "Trial", "TrialColumns", "TrialError", "detect_format", "parse_trials",
           "read_trial_list"]
