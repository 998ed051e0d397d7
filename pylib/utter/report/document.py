"""RESULTS.md as a page: the title, the intro paragraph, the Findings, then the tables of the task.

:class:`Page` holds what the recipe says about the page (the options of ``make_results_table``,
from the recipe's conf/results.conf by utils/recipe_lib.sh's results_table); :func:`write_results_page`
renders the evaluations under it: the verification tables (:mod:`utter.report.verification`) or
the classification tables (:mod:`utter.report.classification`).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from utter.atomic import atomic_open
from utter.report.classification import METRIC_NAMES, classification_tables, read_tsv_table
from utter.report.spec import parse_metrics, parse_pair, parse_pairs
from utter.report.verification import (
    calibration_table,
    pseudo_label_table,
    published_table,
    quality_calibration_table,
    read_evaluations,
    read_published,
    results_tables,
    system_labels,
)
from utter.train.train_plan import describe_train_plan, read_train_plan

#: section headings when the recipe names none
DEFAULT_SECTIONS = {"findings": "Findings", "calibrated": "Calibrated scores", "pseudo": "Pseudo-label rounds",
                    "quality": "Quality-aware calibration", "published": "Published figures (for comparison)"}


@dataclass
class Page:
    """What the recipe says about RESULTS.md (one field per option of ``make_results_table``)."""

    title: str = "Results"
    intro: str = ""
    intro_sentence: list[str] = field(default_factory=list)
    train_plan: list[str] = field(default_factory=list)   # SYSTEM=train_plan.json
    task: str = "verification"                            # or "classification"
    metrics: str = "UA,WA,macro_f1"                       # classification: KEY[=NAME],...
    heading: list[str] = field(default_factory=list)      # KEY=TEXT: a table's heading, tables in order
    system_label: list[str] = field(default_factory=list)  # SYSTEM=TEXT ({net}: its network)
    system_net: list[str] = field(default_factory=list)    # SYSTEM=NET
    system_model: list[str] = field(default_factory=list)  # SYSTEM=MODEL (config.json beside it)
    findings: str = ""                                    # a Findings table (Markdown) to put first
    calibrated: list[str] = field(default_factory=list)   # SYSTEM:BACKEND:TRIALS=JSON
    pseudo_round: list[str] = field(default_factory=list)  # ROUND=CLUSTER_JSON,SCORES_JSON
    quality_calibration: list[str] = field(default_factory=list)  # SYSTEM:BACKEND:TRIALS=JSON
    det_plot: str = ""
    published: str = ""                                   # conf/published.tsv
    notes: str = ""                                       # classification: after the tables
    findings_heading: str = DEFAULT_SECTIONS["findings"]
    calibrated_heading: str = DEFAULT_SECTIONS["calibrated"]
    pseudo_heading: str = DEFAULT_SECTIONS["pseudo"]
    quality_heading: str = DEFAULT_SECTIONS["quality"]
    published_heading: str = DEFAULT_SECTIONS["published"]


def join_sentences(parts: Sequence[str]) -> str:
    """One paragraph of ``parts`` (sentences, or runs of them): each stripped, empty ones dropped, and
    each ended with a period when it lacks one (``.``, ``!`` or ``?``), joined by a space."""
    out = []
    for part in parts:
        part = " ".join(part.split())
        if part:
            out.append(part if part.endswith((".", "!", "?")) else part + ".")
    return " ".join(out)


def labels_of(page: Page, trained: bool = True) -> dict[str, str]:
    """The row label of each system, from --system-label and --system-net, and with ``trained`` the
    networks of --system-model (published figures keep the labels' own networks)."""
    return system_labels(page.system_model if trained else [],
                         parse_pairs(page.system_label, "--system-label", "SYSTEM=TEXT"),
                         parse_pairs(page.system_net, "--system-net", "SYSTEM=NET"))


def intro_paragraph(page: Page) -> str:
    """--intro with the --intro-sentence and --train-plan sentences after it, each ended with a period."""
    extra = [*page.intro_sentence, *(plan_sentence(spec) for spec in page.train_plan)]
    return join_sentences([page.intro, *extra]) if extra else page.intro


def plan_sentence(spec: str) -> str:
    """``SYSTEM=train_plan.json`` in words (utter.train.train_plan: the words the recipe says too)."""
    system, path = parse_pair(spec, "--train-plan", "SYSTEM=JSON", value_required=True)
    try:
        plan = read_train_plan(path)
    except ValueError as e:
        raise ValueError(f"--train-plan {spec}: {e}") from e
    return describe_train_plan(system, plan)


def findings_section(page: Page) -> list[str]:
    """The lines of the Findings section (first after the title and intro), none without --findings."""
    if not page.findings:
        return []
    return [f"## {page.findings_heading}", "", Path(page.findings).read_text(encoding="utf-8").rstrip(), ""]


def _head(page: Page) -> list[str]:
    """The title, the intro paragraph and the Findings section: what every page starts with."""
    text = [f"# {page.title}", ""]
    intro = intro_paragraph(page)
    if intro:
        text += [intro, ""]
    return text + findings_section(page)


def classification_page(page: Page, evaluations: Sequence[str]) -> list[str]:
    """The lines of RESULTS.md of a classification recipe (``task`` classification)."""
    text = _head(page)
    tables = classification_tables(evaluations, parse_metrics(page.metrics, METRIC_NAMES),
                                   parse_pairs(page.heading, "--heading"), labels_of(page))
    text += [tables, ""]
    if page.notes:
        text += [page.notes, ""]
    if page.published:
        text += [f"## {page.published_heading}", "", read_tsv_table(page.published), ""]
    return text


def verification_page(page: Page, evaluations: Sequence[str]) -> list[str]:
    """The lines of RESULTS.md of a verification recipe: a table per trial list, then the sections."""
    evals = read_evaluations(evaluations)
    labels = labels_of(page)
    headings = parse_pairs(page.heading, "--heading")
    text = _head(page)
    text += ["EER in %; minDCF normalised as Kaldi's compute_min_dcf.py (C_miss = C_fa = 1).", "",
             results_tables(evals, labels=labels, headings=headings), ""]
    if page.calibrated:
        text += [f"### {page.calibrated_heading}", "",
                 calibration_table(read_evaluations(page.calibrated), labels=labels, trial_order=list(headings)), ""]
    if page.pseudo_round:
        text += [f"### {page.pseudo_heading}", "", pseudo_label_table(page.pseudo_round), ""]
    if page.quality_calibration:
        text += [f"### {page.quality_heading}", "", quality_calibration_table(page.quality_calibration, labels), ""]
    if page.det_plot:
        text += [f"DET curves: [{page.det_plot}]({page.det_plot})", ""]
    if page.published:
        published = published_table(read_published(page.published), labels_of(page, trained=False))
        text += [f"## {page.published_heading}", "", published, ""]
    return text


def write_results_page(page: Page, evaluations: Sequence[str], out: str | Path) -> None:
    """Render the evaluations under ``page`` (its ``task``'s tables) and write RESULTS.md atomically."""
    render = classification_page if page.task == "classification" else verification_page
    text = render(page, evaluations)
    with atomic_open(out, "w") as f:
        f.write("\n".join(text))
