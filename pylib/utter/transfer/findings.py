"""Paper findings as declared tests: two systems' result files paired over pretraining seeds and folds.

A finding compares system A with system B on one figure (UA, accuracy, EER...) and says which
way the paper found it (``direction``: A 'greater' or 'less' than B). What is tested is declared
before any run, in the recipe's ``conf/results.conf`` (:class:`Declaration`, read by
:func:`utter.report.spec.parse_declaration`): a superiority or a
non-inferiority test (with its margin), the smallest effect of interest, and whether the row is
the finding's one primary row (Holm over the primary rows of a table) or exploratory.

The unit of replication is the pretraining: each of the P pretraining seeds gives its own pair
of pretrained models (A's and B's), every fold and fine-tuning seed is run on each, and:

- classification summaries (``results.json`` with a ``runs`` list of fold/seed/figures), one per
  pretraining seed and side: the runs are paired by (fold, seed), the seeds of a fold averaged into
  one difference d(p, k); the mean over the grid gets the interval of a crossed random-effects model
  (pretraining seed x fold, the same folds for every seed; :func:`utter.metrics.paired.crossed_interval`)
  or of folds nested in pretraining seeds (each seed its own draw of the folds;
  :func:`utter.metrics.paired.nested_interval`);
- verification score files of one trial list, one per pretraining seed and side: the EER
  difference with the pretraining variance plus a bootstrap over the speakers on both sides of the
  trials (:func:`utter.metrics.paired.pretrained_eer_interval`).

No verdict is given, and the row says why, with fewer than 2 pretraining seeds, fewer than 3
folds, zero spread, unpaired runs or a figure that is not a number; the interval is still shown
where it can be formed. Nothing here raises on such data: a row is marked, the table is written.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from utter.backend.io import align_scores, read_scores, read_trials
from utter.metrics.paired import (
    Interval,
    crossed_interval,
    holm,
    json_number,
    nested_interval,
    noninferiority_p,
    p_value,
    pretrained_eer_interval,
    smallest_detectable_difference,
    tost_p,
)
from utter.metrics.results import read_results_json

AGREES, DISAGREES = "direction agrees", "direction disagrees"
ALPHA = 0.05
MIN_PRETRAIN_SEEDS, MIN_FOLDS = 2, 3


@dataclass(frozen=True)
class Declaration:
    """What a row tests, declared in conf/results.conf before any run."""

    role: str = "exploratory"      # "primary" (one per finding, Holm-adjusted) or "exploratory"
    test: str = "superiority"      # or "noninferiority" (A not worse than B by more than ``margin``)
    margin: float = 0.0            # non-inferiority margin, in points of the figure
    delta: float = math.nan        # the smallest effect of interest (equivalence bound), in points
    folds: str = "crossed"         # "crossed": the same folds for every pretraining seed; "nested": a
                                   # fresh draw of the folds per pretraining seed

    def __post_init__(self) -> None:
        if self.role not in ("primary", "exploratory"):
            raise ValueError(f"role must be primary or exploratory, got '{self.role}'")
        if self.test not in ("superiority", "noninferiority"):
            raise ValueError(f"test must be superiority or noninferiority, got '{self.test}'")
        if self.folds not in ("crossed", "nested"):
            raise ValueError(f"folds must be crossed or nested, got '{self.folds}'")
        if self.test == "noninferiority" and not self.margin > 0:
            raise ValueError(f"a non-inferiority test needs a margin > 0, got {self.margin}")
        if not (math.isnan(self.delta) or self.delta > 0):
            raise ValueError(f"delta (the smallest effect of interest) must be > 0, got {self.delta}")

    def as_dict(self) -> dict:
        return {"role": self.role, "test": self.test, "margin": self.margin,
                "delta": None if math.isnan(self.delta) else self.delta, "folds": self.folds}


@dataclass(frozen=True)
class Finding:
    """One comparison of the Findings table."""

    name: str          # "F2"
    claim: str         # what the paper found, in words
    label_a: str
    label_b: str
    figure: str        # the figure compared, e.g. "UA"
    direction: str     # "greater": the paper has A > B; "less": A < B
    declaration: Declaration = field(default_factory=Declaration)


@dataclass(frozen=True)
class Design:
    """What the interval was formed over: P pretraining seeds x K folds x S fine-tuning seeds."""

    pretrain_seeds: int
    folds: int
    seeds: int
    runs: int          # (pretraining seed, fold, seed) runs both systems share

    def words(self) -> str:
        if self.folds == 0:
            return f"{self.pretrain_seeds} pretraining"
        return (f"{self.pretrain_seeds} pretraining x {self.folds} folds x {self.seeds} "
                f"seed{'s' if self.seeds != 1 else ''}")


@dataclass(frozen=True)
class FindingResult:
    finding: Finding
    interval: Interval | None
    design: Design | None
    verdict: str
    no_verdict: str = ""         # why no verdict (empty: one was given)
    p_raw: float = math.nan      # the declared test's p-value
    p_adjusted: float = math.nan  # Holm over the table's primary rows (primary rows only)
    estimand: str = ""

    def as_dict(self) -> dict:
        f = self.finding
        d = self.design
        return {"finding": f.name, "claim": f.claim, "a": f.label_a, "b": f.label_b, "figure": f.figure,
                "direction": f.direction, "declaration": f.declaration.as_dict(), "estimand": self.estimand,
                "design": None if d is None else {"pretrain_seeds": d.pretrain_seeds, "folds": d.folds,
                                                  "seeds": d.seeds, "runs": d.runs},
                "verdict": self.verdict, "no_verdict": self.no_verdict or None,
                "p_raw": json_number(self.p_raw), "p_adjusted": json_number(self.p_adjusted),
                "interval": self.interval.as_dict() if self.interval else None}


# ---------------------------------------------------------------- pairing
def run_figures(summary: Mapping, figure: str, name: str) -> dict[tuple[str, int], float]:
    """(fold, seed) -> figure of one summary results.json (NaN kept: the caller marks the row)."""
    if "runs" not in summary:
        raise ValueError(f"{name}: a summary results.json with a 'runs' list was expected")
    out = {}
    for r in summary["runs"]:
        value = r.get(figure)
        out[(str(r.get("fold")), int(r.get("seed", 0)))] = math.nan if value is None else float(value)
    return out


def pair_runs(a: Mapping[tuple[str, int], float], b: Mapping[tuple[str, int], float],
              what: str) -> tuple[list[tuple[str, int, float, float]], str]:
    """The (fold, seed, A, B) runs both hold, and a reason when either holds runs the other lacks."""
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    problem = ""
    if only_a or only_b:
        def runs(keys: list) -> str:
            return ", ".join(f"fold {f} seed {s}" for f, s in keys[:3]) + (" ..." if len(keys) > 3 else "")
        problem = (f"unpaired runs{what}: " + "; ".join(
            part for part in (f"only A has {len(only_a)} ({runs(only_a)})" if only_a else "",
                              f"only B has {len(only_b)} ({runs(only_b)})" if only_b else "") if part))
    return [(k[0], k[1], a[k], b[k]) for k in a if k in b], problem


def paired_run_figures(summary_a: Mapping, summary_b: Mapping, figure: str,
                       what: tuple[str, str] = ("A", "B")) -> list[tuple[str, int, float, float]]:
    """(fold, seed, A's figure, B's figure) for every (fold, seed) run both summaries hold."""
    pairs, _ = pair_runs(run_figures(summary_a, figure, what[0]), run_figures(summary_b, figure, what[1]), "")
    if not pairs:
        raise ValueError(f"{what[0]} and {what[1]} share no (fold, seed) run: they cannot be paired")
    return pairs


def fold_differences(pairs: Sequence[tuple[str, int, float, float]], scale: float = 100.0) -> dict[str, float]:
    """fold -> the mean over its seeds of ``scale * (A - B)``: one difference per fold, in fold order seen."""
    per_fold: dict[str, list[float]] = {}
    for fold, _, fa, fb in pairs:
        per_fold.setdefault(fold, []).append(scale * (fa - fb))
    return {fold: float(np.mean(d)) for fold, d in per_fold.items()}


# ---------------------------------------------------------------- the analysis
def compare_summaries(finding: Finding, paths_a: Sequence[str | os.PathLike] | str | os.PathLike,
                      paths_b: Sequence[str | os.PathLike] | str | os.PathLike, scale: float = 100.0) -> FindingResult:
    """The finding on classification summaries, one per pretraining seed and side (in seed order).

    Differences in points (``scale`` 100 for fractions). The seeds of a fold share its training
    and test data and are averaged into one difference per (pretraining seed, fold) cell; the
    cells go to the crossed or nested random-effects interval that the declaration names.
    """
    paths_a, paths_b = _as_list(paths_a), _as_list(paths_b)
    if len(paths_a) != len(paths_b):
        return _unanalysed(finding, f"unpaired pretraining: {len(paths_a)} result files for A, {len(paths_b)} for B")
    cells: list[dict[str, float]] = []
    problems: list[str] = []
    runs = 0
    seeds: set[int] = set()
    for p, (pa, pb) in enumerate(zip(paths_a, paths_b)):
        where = f" (pretraining seed #{p + 1})" if len(paths_a) > 1 else ""
        pairs, problem = pair_runs(run_figures(read_results_json(pa), finding.figure, str(pa)),
                                   run_figures(read_results_json(pb), finding.figure, str(pb)), where)
        if problem:
            problems.append(problem)
        bad = [(f, s) for f, s, fa, fb in pairs if not (np.isfinite(fa) and np.isfinite(fb))]
        if bad:
            problems.append(f"{finding.figure} is not a number in {len(bad)} run(s){where}, first fold {bad[0][0]} "
                            f"seed {bad[0][1]}")
            pairs = [r for r in pairs if (r[0], r[1]) not in set(bad)]
        runs += len(pairs)
        seeds.update(s for _, s, _, _ in pairs)
        cells.append(fold_differences(pairs, scale))
    folds = sorted({k for c in cells for k in c}, key=_fold_key)
    crossed = finding.declaration.folds == "crossed"
    if crossed and any(set(c) != set(folds) for c in cells):
        problems.append("unpaired folds: the pretraining seeds were not all run on the same folds")
    design = Design(len(cells), max((len(c) for c in cells), default=0), len(seeds), runs)
    if runs == 0:
        return _unanalysed(finding, "; ".join(problems) or "no paired runs", design)
    try:
        if crossed:
            common = [k for k in folds if all(k in c for c in cells)]
            iv = crossed_interval(np.array([[c[k] for k in common] for c in cells]))
        else:
            iv = nested_interval([list(c.values()) for c in cells if c])
    except ValueError as e:
        return _unanalysed(finding, "; ".join([*problems, str(e)]), design)
    estimand = (f"mean over pretraining seeds and folds of {finding.figure}(A) − {finding.figure}(B), "
                f"in points ({'the same folds for every seed' if crossed else 'a fresh draw of the folds per seed'})")
    return _decide(finding, iv, design, problems, estimand)


def compare_verification(finding: Finding, scores_a: Sequence[str | os.PathLike] | str | os.PathLike,
                         scores_b: Sequence[str | os.PathLike] | str | os.PathLike, trials_path: str | os.PathLike,
                         utt2spk: Mapping[str, str], *, num_resamples: int = 1000, seed: int = 0) -> FindingResult:
    """The finding on score files of one trial list, one per pretraining seed and side: EER(A) - EER(B) in %."""
    scores_a, scores_b = _as_list(scores_a), _as_list(scores_b)
    if len(scores_a) != len(scores_b):
        return _unanalysed(finding, f"unpaired pretraining: {len(scores_a)} score files for A, {len(scores_b)} for B")
    trials = read_trials(trials_path, require_labels=True)
    missing = sorted({u for u in (*trials.enroll, *trials.test) if u not in utt2spk})
    if missing:
        raise ValueError(f"{trials_path}: {len(missing)} trial utterances have no speaker (first: "
                         f"{', '.join(missing[:3])})")
    a = [align_scores(trials, *read_scores(p), what=str(p)) for p in scores_a]
    b = [align_scores(trials, *read_scores(p), what=str(p)) for p in scores_b]
    design = Design(len(a), 0, 0, len(a))
    if not all(np.isfinite(s).all() for s in (*a, *b)):
        return _unanalysed(finding, "a score is not a number", design)
    iv = pretrained_eer_interval(trials.labels, a, b, [utt2spk[u] for u in trials.enroll],
                                 [utt2spk[u] for u in trials.test], num_resamples=num_resamples, seed=seed)
    estimand = f"mean over pretraining seeds of EER(A) − EER(B) on {os.fspath(trials_path)}, in points"
    return _decide(finding, iv, design, [], estimand)


def _as_list(paths) -> list:
    return [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)


def _fold_key(fold: str) -> tuple:
    return (0, int(fold), "") if fold.isdigit() else (1, 0, fold)


def _unanalysed(finding: Finding, why: str, design: Design | None = None) -> FindingResult:
    return FindingResult(finding, None, design, f"no verdict: {why}", why)


def _decide(finding: Finding, iv: Interval, design: Design, problems: list[str], estimand: str) -> FindingResult:
    """The declared test's raw p-value and, when the design allows one, a provisional verdict
    (primary rows are decided again after Holm by :func:`adjust_and_decide`)."""
    why = list(problems)
    if design.pretrain_seeds < MIN_PRETRAIN_SEEDS:
        why.append(f"pretraining not replicated ({design.pretrain_seeds} pretraining seed; "
                   f"{MIN_PRETRAIN_SEEDS} or more needed)")
    if design.folds and design.folds < MIN_FOLDS:
        why.append(f"{design.folds} folds ({MIN_FOLDS} or more needed)")
    if not (np.isfinite(iv.se) and iv.se > 0):
        why.append("zero spread (every paired difference equal): no interval to decide on")
    p_raw = declared_p(iv, finding)
    if why:
        return FindingResult(finding, iv, design, "no verdict: " + "; ".join(why), "; ".join(why), p_raw,
                             estimand=estimand)
    return FindingResult(finding, iv, design, verdict_words(iv, finding, p_raw), "", p_raw, estimand=estimand)


def declared_p(iv: Interval, finding: Finding) -> float:
    """The p-value of the declared test: two-sided against 0 (superiority), or one-sided against the
    margin on the paper's side (non-inferiority)."""
    dec = finding.declaration
    if dec.test == "superiority":
        return p_value(iv)
    return noninferiority_p(iv, dec.margin, finding.direction)


def verdict_words(iv: Interval, finding: Finding, p: float) -> str:
    """The words of a decided row for the declared test at level ALPHA, given its (adjusted) p."""
    dec = finding.declaration
    sdd = smallest_detectable_difference(iv)
    undecided = f"not decided (smallest detectable difference: {sdd:.1f})"
    if dec.test == "noninferiority":
        if p < ALPHA:
            return f"non-inferior (margin {dec.margin:g})"
        worse = (p_value(iv, null=-dec.margin, alternative="less") if finding.direction == "greater"
                 else p_value(iv, null=dec.margin, alternative="greater"))
        return f"inferior beyond the margin {dec.margin:g}" if worse < ALPHA else undecided
    if p < ALPHA:
        on_claimed_side = iv.mean > 0 if finding.direction == "greater" else iv.mean < 0
        return AGREES if on_claimed_side else DISAGREES
    if np.isfinite(dec.delta) and tost_p(iv, dec.delta) < ALPHA:
        return f"equivalent within ±{dec.delta:g}"
    return undecided


def adjust_and_decide(results: Sequence[FindingResult]) -> list[FindingResult]:
    """Holm over the primary rows that have a p-value and a verdict; primary verdicts from the
    adjusted p, exploratory rows keep their raw p (and say they are exploratory)."""
    primary = [i for i, r in enumerate(results)
               if r.finding.declaration.role == "primary" and not r.no_verdict and np.isfinite(r.p_raw)]
    adjusted = dict(zip(primary, holm([results[i].p_raw for i in primary])))
    out = []
    for i, r in enumerate(results):
        if i in adjusted:
            out.append(FindingResult(r.finding, r.interval, r.design, verdict_words(r.interval, r.finding, adjusted[i]),
                                     "", r.p_raw, adjusted[i], r.estimand))
        elif r.finding.declaration.role == "exploratory" and not r.no_verdict and r.interval is not None:
            out.append(FindingResult(r.finding, r.interval, r.design, f"{r.verdict} (exploratory)", "", r.p_raw,
                                     math.nan, r.estimand))
        else:
            out.append(r)
    return out


# ---------------------------------------------------------------- the table
def _fmt(x: float, spec: str = "+.1f") -> str:
    return format(x, spec) if np.isfinite(x) else "–"


def _p(x: float) -> str:
    if not np.isfinite(x):
        return "–"
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def _components(iv: Interval | None) -> str:
    if iv is None or not iv.components:
        return "–"
    return ", ".join(f"{name} {math.sqrt(max(v, 0.0)):.1f}" for name, v in iv.components.items())


def findings_table(results: Sequence[FindingResult], simulated: bool = False) -> str:
    """The Markdown Findings table, with the declared test, variance components and raw/Holm p."""
    lines = []
    if simulated:
        lines += ["**Simulated corpora**: agreement with a paper here tests the simulator and the pipeline, "
                  "not the paper's claim on real speech.", ""]
    lines += ["| finding | row | systems compared (A vs B) | A − B [95% CI] | SD components | p (raw / Holm) "
              "| runs | verdict |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        f, iv, dec = r.finding, r.interval, r.finding.declaration
        diff = "–" if iv is None else f"{_fmt(iv.mean)} [{_fmt(iv.low)}, {_fmt(iv.high)}] {f.figure}"
        test = "non-inferiority" if dec.test == "noninferiority" else "superiority"
        extra = f", margin {dec.margin:g}" if dec.test == "noninferiority" else ""
        extra += f", δ {dec.delta:g}" if np.isfinite(dec.delta) else ""
        row = f"{dec.role} ({test}{extra})"
        runs = r.design.words() if r.design else "–"
        lines.append(f"| {f.name}: {f.claim} | {row} | {f.label_a} vs {f.label_b} | {diff} | {_components(iv)} "
                     f"| {_p(r.p_raw)} / {_p(r.p_adjusted)} | {runs} | {r.verdict} |")
    note = ("Differences in points of the figure named (A − B), each pretraining seed's own pair of models "
            "compared on the same runs. The unit of replication is the pretraining: the 95% CI comes from a "
            "random-effects model of the paired differences over pretraining seeds and folds (fine-tuning seeds "
            "of a fold averaged first): crossed (every seed on the same folds; Satterthwaite degrees of freedom) "
            "or nested (each pretraining seed its own draw of the folds), or for a trial list the pretraining "
            "variance plus a bootstrap over the speakers on both sides of the trials. SD components: the "
            "estimated standard deviation each source adds to one difference. The test of each row was "
            "declared in conf/results.conf before the runs: superiority (two-sided p against 0) or "
            "non-inferiority (one-sided p against the margin); Holm adjusts the p of the primary rows (one "
            "per finding) over this table; exploratory rows keep their raw p. Verdicts at 5%: "
            f"'{AGREES}' / '{DISAGREES}' with the paper; 'equivalent within ±δ': two one-sided tests at the "
            "smallest effect of interest δ; 'not decided': neither, with the smallest difference this design "
            "detects with 80% power. No verdict with fewer than "
            f"{MIN_PRETRAIN_SEEDS} pretraining seeds, fewer than {MIN_FOLDS} folds, zero spread or unpaired "
            "runs. runs: pretraining seeds x folds x fine-tuning seeds.")
    return "\n".join(lines) + "\n\n" + note + "\n"
