"""Speaker-verification pipelines over files: trial lists, embedding archives and data-dir tables
in, scores and figures out.

The back-end models (:mod:`utter.backend`) work on matrices; this module reads what they are
given: embeddings (``xvector.scp``), ``spk2utt``-style enrolment files (model -> utterances) and
``utt2dur``/``utt2num_frames`` durations for quality measures (a saved scorer of any back-end is
loaded by :func:`utter.backend.scorers.load_scorer`). It also reports calibrated scores' figures
(:mod:`utter.metrics.verification`).
"""
from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from utter.backend.calibration import duration_quality
from utter.backend.io import Trials, read_trials, write_scores
from utter.backend.scoring import Scorer, TrialIndex, index_trials
from utter.data.datadir import DataDir, read_list_table, read_table
from utter.data.kaldi_io import read_embeddings
from utter.metrics.verification import compute_act_dcf, compute_cllr, compute_eer, compute_min_cllr, compute_min_dcf


def read_enrollment(path: str | os.PathLike) -> OrderedDict[str, list[str]]:
    """Read a ``spk2utt``-style enrolment file: model id -> its enrolment utterances."""
    return read_list_table(path)


@dataclass
class TrialInputs:
    """Everything read from disk to score a trial list: trials, embeddings, prepared sides."""

    trials: Trials
    index: TrialIndex
    models: object
    tests: object


def prepare_trial_inputs(scorer: Scorer, emb_scp: str, trials_path: str, enroll_scp: str | None = None,
                         enrollment_path: str | None = None) -> TrialInputs:
    """Read trials and embeddings (test from ``emb_scp``, enrolment from ``enroll_scp`` or the same),
    resolve the trials and prepare both sides once."""
    trials = read_trials(trials_path)
    test_ids, test_x = read_embeddings(emb_scp)
    enroll_ids, enroll_x = read_embeddings(enroll_scp) if enroll_scp else (test_ids, test_x)
    enrollment = read_enrollment(enrollment_path) if enrollment_path else None
    idx = index_trials(trials, enroll_ids, test_ids, enrollment, what=str(trials_path))
    return TrialInputs(trials, idx, scorer.model_side(enroll_x, idx.groups), scorer.test_side(test_x[idx.test_rows]))


def score_trial_file(scorer: Scorer, emb_scp: str, trials_path: str, scores_path: str,
                     enroll_scp: str | None = None, enrollment_path: str | None = None) -> np.ndarray:
    """Score a trial list file and write ``enroll test score`` lines; returns the scores."""
    inp = prepare_trial_inputs(scorer, emb_scp, trials_path, enroll_scp, enrollment_path)
    scores = scorer.score(inp.models, inp.tests, inp.index.mi, inp.index.ti)
    write_scores(scores_path, inp.trials.enroll, inp.trials.test, scores)
    return scores


def trial_quality(enroll: list[str], test: list[str], utt2dur_path: str,
                  enrollment_path: str | None = None) -> np.ndarray:
    """Duration quality measures per trial from a ``utt2dur`` file (a model's duration sums its utterances)."""
    dur: dict[str, float] = {}
    for utt, value in read_table(utt2dur_path).items():
        try:
            dur[utt] = float(value)
        except ValueError:
            raise ValueError(f"{utt2dur_path}: duration of '{utt}' is not a number: '{value}'") from None
    if enrollment_path:
        for model, utts in read_enrollment(enrollment_path).items():
            if all(u in dur for u in utts):
                dur.setdefault(model, sum(dur[u] for u in utts))
    missing = sorted({u for u in enroll + test if u not in dur})
    if missing:
        raise ValueError(f"{utt2dur_path}: {len(missing)} trial utterances or models have no duration "
                         f"(first: {', '.join(missing[:5])})")
    return duration_quality(np.array([dur[u] for u in enroll]), np.array([dur[u] for u in test]))


def read_durations(data_dir: str | os.PathLike) -> dict[str, float]:
    """Utterance durations in seconds: ``utt2dur``, else ``utt2num_frames`` x 10 ms."""
    d = DataDir(data_dir)
    if d.has("utt2dur"):
        return {u: float(v) for u, v in d.numeric("utt2dur", float).items()}
    if d.has("utt2num_frames"):
        return {u: 0.01 * float(v) for u, v in d.numeric("utt2num_frames", int).items()}
    raise ValueError(f"{data_dir}: neither utt2dur nor utt2num_frames: cannot give durations")


def calibration_report(scores: np.ndarray, labels: np.ndarray, p_targets: Sequence[float] = (0.5, 0.05, 0.01)) -> dict:
    """Cllr, minCllr, EER and actual/minimum DCF of LLR scores."""
    out = {"cllr": compute_cllr(scores, labels), "min_cllr": compute_min_cllr(scores, labels),
           "eer": 100 * compute_eer(scores, labels)}
    for p in p_targets:
        out[f"act_dcf_{p:g}"] = compute_act_dcf(scores, labels, p)
        out[f"min_dcf_{p:g}"] = compute_min_dcf(scores, labels, p)
    return out
