"""Trial lists in the formats corpora ship, converted to the Kaldi trials of a data dir.

The lines are read by :func:`utter.trials.read_trial_list` (the one trial parser, base floor; its
formats: ``voxceleb``, ``kaldi``, ``nist``, ``auto``). Each side names an utterance of the data dir:
by its utterance id, or by the audio file its ``wav.scp`` entry reads, given as an absolute path or
as any trailing part of it (``id1/v/1.wav`` matches ``/data/vox/wav/id1/v/1.wav``), with or without
extension (``a.wav`` matches ``a.flac``).
A name that matches no utterance, or several, is an error naming the line. The result is Kaldi's
``<enroll> <test> target|nontarget`` (or ``<enroll> <test>`` for an unlabelled list).
"""
from __future__ import annotations

import os
from pathlib import Path

from utter.data.corpora.plain import entry_path
from utter.data.datadir import DataDir, write_table
from utter.trials import FORMATS, TrialError, read_trial_list


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


#: FORMATS, TrialError and read_trial_list are utter.trials' (the parser), named here for convert_trials' callers.
__all__ = ["FORMATS", "TrialError", "UttIndex", "convert_trials", "read_trial_list"]
