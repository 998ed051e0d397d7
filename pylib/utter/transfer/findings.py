"""Paper findings as verdicts: two systems' result files paired run by run, a difference with its CI.

A finding compares system A with system B on one figure (UA, accuracy, EER...) and says which
way the paper found it (``claim``: A 'greater' or 'less' than B). The inputs are files the
stages already wrote, nothing is re-run:

- classification summaries (``results.json`` with a ``runs`` list of fold/seed/figures): the
  runs are paired by (fold, seed), averaged over the seeds of each fold, and the per-fold
  differences get a t interval (:func:`utter.metrics.paired.t_interval`), which counts fold
  variation (see :func:`compare_summaries`);
- verification score files on one trial list: the EER difference gets a bootstrap over speakers
  (:func:`utter.metrics.paired.speaker_bootstrap_eer`), as there is one run.

Fewer than two pairs give no interval, and the verdict says so.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from utter.backend.io import align_scores, read_scores, read_trials
from utter.metrics.paired import REPRODUCED, REVERSED, UNDECIDED, Interval, speaker_bootstrap_eer, t_interval, verdict
from utter.metrics.results import read_results_json

NO_INTERVAL = "not decided: one run, no interval"


@dataclass(frozen=True)
class Finding:
    """One comparison of the Findings table."""

    name: str          # "F2"
    claim: str         # what the paper found, in words
    label_a: str
    label_b: str
    figure: str        # the figure compared, e.g. "UA"
    direction: str     # "greater": the paper has A > B; "less": A < B


@dataclass(frozen=True)
class FindingResult:
    finding: Finding
    interval: Interval | None
    runs: int
    verdict: str
    per_run_interval: Interval | None = None   # every (fold, seed) pair taken as independent (for reference)

    def as_dict(self) -> dict:
        f = self.finding
        return {"finding": f.name, "claim": f.claim, "a": f.label_a, "b": f.label_b, "figure": f.figure,
                "direction": f.direction, "runs": self.runs, "verdict": self.verdict,
                "interval": self.interval.as_dict() if self.interval else None,
                "per_run_interval": self.per_run_interval.as_dict() if self.per_run_interval else None}


def paired_run_figures(summary_a: Mapping, summary_b: Mapping, figure: str,
                       what: tuple[str, str] = ("A", "B")) -> list[tuple[str, int, float, float]]:
    """(fold, seed, A's figure, B's figure) for every (fold, seed) run both summaries hold."""
    def runs(summary: Mapping, name: str) -> dict[tuple[str, int], float]:
        if "runs" not in summary:
            raise ValueError(f"{name}: a summary results.json with a 'runs' list was expected")
        out = {}
        for r in summary["runs"]:
            if r.get(figure) is None:
                raise ValueError(f"{name}: run fold {r.get('fold')} seed {r.get('seed')} has no figure {figure!r}")
            out[(str(r.get("fold")), int(r.get("seed", 0)))] = float(r[figure])
        return out

    a, b = runs(summary_a, what[0]), runs(summary_b, what[1])
    common = [k for k in a if k in b]
    if not common:
        raise ValueError(f"{what[0]} and {what[1]} share no (fold, seed) run: they cannot be paired")
    return [(fold, seed, a[(fold, seed)], b[(fold, seed)]) for fold, seed in common]


def fold_differences(pairs: Sequence[tuple[str, int, float, float]], scale: float = 100.0) -> dict[str, float]:
    """fold -> the mean over its seeds of ``scale * (A - B)``: one difference per fold, in fold order seen."""
    per_fold: dict[str, list[float]] = {}
    for fold, _, fa, fb in pairs:
        per_fold.setdefault(fold, []).append(scale * (fa - fb))
    return {fold: float(np.mean(d)) for fold, d in per_fold.items()}


def compare_summaries(finding: Finding, path_a: str | os.PathLike, path_b: str | os.PathLike,
                      scale: float = 100.0) -> FindingResult:
    """The finding on two classification summaries; differences in points (``scale`` 100 for fractions).

    The seeds of one fold share its training and test data, so their paired differences are not
    independent: they are averaged into one difference per fold, and the t interval is over the
    folds (over the seeds when there is one fold). Treating every (fold, seed) pair as independent
    would give a narrower, over-confident interval; it is kept in the JSON as ``per_run_interval``.
    """
    pairs = paired_run_figures(read_results_json(path_a), read_results_json(path_b), finding.figure,
                               (str(path_a), str(path_b)))
    per_fold = fold_differences(pairs, scale)
    if len(per_fold) >= 2:
        iv = t_interval(list(per_fold.values()))
        iv = Interval(iv.mean, iv.low, iv.high, f"t interval over {len(per_fold)} folds "
                      f"(each the mean of its seeds' paired differences; {len(pairs)} runs)", len(per_fold))
    elif len(pairs) >= 2:
        iv = t_interval([scale * (fa - fb) for _, _, fa, fb in pairs])
        iv = Interval(iv.mean, iv.low, iv.high, f"t interval over the {len(pairs)} seeds of one fold", len(pairs))
    else:
        only = scale * (pairs[0][2] - pairs[0][3])
        return FindingResult(finding, Interval(float(only), float("nan"), float("nan"), "one run", 1), 1, NO_INTERVAL)
    per_run = t_interval([scale * (fa - fb) for _, _, fa, fb in pairs]) if len(pairs) >= 2 else None
    return FindingResult(finding, iv, len(pairs), verdict(iv, finding.direction), per_run)


def compare_verification(finding: Finding, scores_a: str | os.PathLike, scores_b: str | os.PathLike,
                         trials_path: str | os.PathLike, utt2spk: Mapping[str, str], *,
                         num_resamples: int = 1000, seed: int = 0) -> FindingResult:
    """The finding on two score files of one trial list: EER(A) - EER(B) in %, bootstrap over speakers."""
    trials = read_trials(trials_path, require_labels=True)
    a = align_scores(trials, *read_scores(scores_a), what=str(scores_a))
    b = align_scores(trials, *read_scores(scores_b), what=str(scores_b))
    missing = sorted({u for u in trials.enroll if u not in utt2spk})
    if missing:
        raise ValueError(f"{trials_path}: {len(missing)} enrolment utterances have no speaker (first: "
                         f"{', '.join(missing[:3])})")
    speakers = [utt2spk[u] for u in trials.enroll]
    iv = speaker_bootstrap_eer(trials.labels, a, b, speakers, num_resamples=num_resamples, seed=seed)
    return FindingResult(finding, iv, 1, verdict(iv, finding.direction))


def _fmt(x: float) -> str:
    return f"{x:+.1f}" if np.isfinite(x) else "–"


def findings_table(results: Sequence[FindingResult]) -> str:
    """The Markdown Findings table: finding | systems compared | difference [95% CI] | runs | verdict."""
    lines = ["| finding | systems compared (A vs B) | A − B [95% CI] | runs | verdict |",
             "|---|---|---|---|---|"]
    for r in results:
        f, iv = r.finding, r.interval
        diff = "–" if iv is None else f"{_fmt(iv.mean)} [{_fmt(iv.low)}, {_fmt(iv.high)}] {f.figure}"
        lines.append(f"| {f.name}: {f.claim} | {f.label_a} vs {f.label_b} | {diff} | {r.runs} | {r.verdict} |")
    note = ("Differences in points of the figure named (A − B); runs: the (fold, seed) runs both systems share. "
            "The 95% CI is a t interval over the folds, each fold the mean of its seeds' paired differences "
            "(seeds of a fold share its data, so they are not independent draws), or for a single trial list "
            "a bootstrap over speakers. "
            f"'{REPRODUCED}': the interval lies on the paper's side of 0; '{REVERSED}': on the other side; "
            f"'{UNDECIDED}': it contains 0.")
    return "\n".join(lines) + "\n\n" + note + "\n"
