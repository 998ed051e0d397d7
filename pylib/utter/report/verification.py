"""The verification tables of RESULTS.md: EER and minDCFs per trial list, calibrated scores,
pseudo-label rounds, quality-aware calibration and the published figures.

Each evaluation is ``SYSTEM:BACKEND:TRIALS=PATH`` (:func:`utter.report.spec.parse_evaluation`; PATH a
results JSON written by utter.metrics.results, with ``EER`` in % and ``minDCF@<p>``). One table per
trial list, a row per system, the back-ends' EER and minDCFs side by side (columns in the order of
:data:`utter.backend.scorers.SCORERS`, by their labels), as in the DINO paper's table. Row labels
name the network as trained (the ``arch`` of the ``config.json`` beside a system's model). Nothing
here holds a recipe's wording: titles, headings and labels come from its conf/results.conf.
"""
from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from utter.backend.scorers import SCORERS, scorer_label
from utter.metrics.results import format_table, read_results_json
from utter.report.spec import parse_evaluation, parse_pair

#: the toolkit's networks (utter.nnet) as shown (the back-ends' labels are utter.backend.scorers')
NET_NAMES = {"lresnet34": "LResNet34", "resnet34": "ResNet34", "resnet": "ResNet", "tdnn": "TDNN",
             "ecapa": "ECAPA-TDNN"}
#: a shown minDCF from here up gets the note of :func:`high_min_dcf_note` under its table
HIGH_MIN_DCF = 0.95


@dataclass(frozen=True)
class Evaluation:
    """One evaluation: a system's back-end on a trial list, and its figures (EER, minDCFs ...)."""

    system: str
    backend: str
    trials: str
    figures: dict


def _read_spec(spec: str) -> tuple[str, str, str, str, dict]:
    """``SYSTEM:BACKEND:TRIALS=JSON`` and the figures of that file; a missing file is named."""
    system, backend, trials, path = parse_evaluation(spec)
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such results file (for {system} {backend} {trials})")
    return system, backend, trials, path, read_results_json(path)


def read_evaluations(specs: Sequence[str]) -> list[Evaluation]:
    """Read each named results file; an error names a missing file or a file without an EER."""
    out = []
    for spec in specs:
        system, backend, trials, path, figures = _read_spec(spec)
        if "EER" not in figures:
            raise ValueError(f"{path}: no EER in the results file")
        out.append(Evaluation(system, backend, trials, figures))
    return out


def system_labels(models: Sequence[str], kinds: Mapping[str, str] | None = None,
                  nets: Mapping[str, str] | None = None) -> dict[str, str]:
    """Row label of each system: ``kinds[SYSTEM]`` (``{net}`` the network) with the network of each
    ``SYSTEM=MODEL`` as trained (``arch`` in the config.json beside MODEL), else ``nets[SYSTEM]``;
    a system without a kind keeps its name, with the network appended when its model is given."""
    kinds, nets = dict(kinds or {}), dict(nets or {})
    labels = {s: kind.format(net=nets.get(s, "?")) for s, kind in kinds.items()}
    for spec in models:
        system, model = parse_pair(spec, "--system-model", "SYSTEM=MODEL", value_required=True)
        replica = re.fullmatch(r"(.+)_p(\d+)", system)   # another pretraining seed of a labelled system
        if replica and system not in kinds and replica[1] in kinds:
            kinds[system] = kinds[replica[1]] + f" [pretraining seed {replica[2]}]"
            nets.setdefault(system, nets.get(replica[1], "?"))
        config = Path(model).resolve().parent / "config.json"
        try:
            arch = json.loads(config.read_text())["arch"]["arch"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{config}: no network architecture for {system} ({e})") from e
        net = NET_NAMES.get(arch, arch)
        labels[system] = kinds[system].format(net=net) if system in kinds else f"{system} ({net})"
    return labels


def _ordered(values: Sequence[str], preferred: Sequence[str]) -> list[str]:
    seen = list(dict.fromkeys(values))
    return [v for v in preferred if v in seen] + [v for v in seen if v not in preferred]


def results_tables(evals: Sequence[Evaluation], p_targets: Sequence[float] = (0.01, 0.05),
                   labels: Mapping[str, str] | None = None, headings: Mapping[str, str] | None = None) -> str:
    """One Markdown table per trial list (``headings``: its heading, in their order; else its name):
    rows systems (in the order of ``labels``), columns back-end x (EER, minDCFs)."""
    labels, headings = labels or {}, headings or {}
    parts = []
    systems = _ordered([e.system for e in evals], list(labels))
    backends = _ordered([e.backend for e in evals], list(SCORERS))
    for trials in _ordered([e.trials for e in evals], list(headings)):
        cell = {(e.system, e.backend): e.figures for e in evals if e.trials == trials}
        cols, heads = ["system"], ["system"]
        for b in backends:
            if not any((s, b) in cell for s in systems):
                continue
            cols += [f"{b}|EER"] + [f"{b}|minDCF@{p:g}" for p in p_targets]
            heads += [f"{scorer_label(b)} EER%"] + [f"{scorer_label(b)} minDCF({p:g})"
                                                          for p in p_targets]
        rows, high = [], []
        for s in systems:
            if not any(k[0] == s for k in cell):
                continue
            row: dict = {"system": labels.get(s, s)}
            for b in backends:
                fig = cell.get((s, b), {})
                row[f"{b}|EER"] = _round(fig.get("EER"), 2)
                for p in p_targets:
                    shown = row[f"{b}|minDCF@{p:g}"] = _dcf(fig.get(f"minDCF@{p:g}"))
                    if _is_high(shown):
                        high.append(f"{row['system']} {scorer_label(b)} minDCF({p:g}) {shown}")
            rows.append(row)
        n = next(iter(cell.values()))
        count = f" ({n.get('n_target', '?')} target / {n.get('n_nontarget', '?')} non-target trials)" \
            if "n_target" in n else ""
        parts.append(f"### {headings.get(trials, trials)}{count}\n\n" + format_table(rows, cols, heads)
                     + _note(high))
    return "\n\n".join(parts)


def high_min_dcf_note(high: Sequence[str]) -> str:
    """The note under a table whose shown minDCFs (``high``, each named) reach :data:`HIGH_MIN_DCF`."""
    if not high:
        return ""
    named = "; ".join(high[:3]) + (f"; and {len(high) - 3} more cells" if len(high) > 3 else "")
    return (f"minDCF >= {HIGH_MIN_DCF:g} ({named}): a normalised minDCF of 1 is the cost of the "
            "trivial system that ignores the scores and rejects every trial (at a target prior above 0.5, accepts "
            "every trial); at that prior no threshold on these scores does much better, so no operating point "
            "there is of use.")


def _note(high: Sequence[str]) -> str:
    note = high_min_dcf_note(high)
    return f"\n\n{note}" if note else ""


def _is_high(shown: str | None) -> bool:
    return shown is not None and float(shown) >= HIGH_MIN_DCF


def calibration_table(evals: Sequence[Evaluation], p_targets: Sequence[float] = (0.01, 0.05),
                      labels: Mapping[str, str] | None = None, trial_order: Sequence[str] = ()) -> str:
    """Calibrated scores: actual DCFs beside the minimum ones, and Cllr beside minCllr."""
    labels = labels or {}
    cols, heads = ["system", "backend", "trials"], ["system", "back-end", "list"]
    for p in p_targets:
        cols += [f"minDCF@{p:g}", f"actDCF@{p:g}"]
        heads += [f"minDCF({p:g})", f"actDCF({p:g})"]
    cols += ["Cllr", "minCllr"]
    heads += ["Cllr", "minCllr"]
    rows, high = [], []
    for e in sorted(evals, key=lambda e: (_rank(e.trials, list(trial_order)), _rank(e.system, list(labels)),
                                          _rank(e.backend, list(SCORERS)))):
        row = {"system": labels.get(e.system, e.system), "backend": scorer_label(e.backend),
               "trials": e.trials}
        row.update({c: _dcf(e.figures.get(c)) for c in cols[3:]})
        rows.append(row)
        high += [f"{row['system']} {row['backend']} {e.trials} minDCF({p:g}) {row[f'minDCF@{p:g}']}"
                 for p in p_targets if _is_high(row[f"minDCF@{p:g}"])]
    return format_table(rows, cols, heads) + _note(high)


def pseudo_label_table(specs: Sequence[str]) -> str:
    """Pseudo-label rounds: clustering figures (cluster.json of steps/cluster_embeddings.sh) beside the
    EER/minDCF of the round's model. Each spec is ``ROUND=CLUSTER_JSON,SCORES_JSON`` (``-`` for no clustering)."""
    rows, high = [], []
    for spec in specs:
        what = "ROUND=CLUSTER_JSON,SCORES_JSON"
        name, paths = parse_pair(spec, "pseudo-label round", what, value_required=True)
        cluster_path, _, scores_path = paths.partition(",")
        if not scores_path:
            raise ValueError(f"bad pseudo-label round '{spec}': expected {what}")
        c = read_results_json(cluster_path) if cluster_path not in ("", "-") else {}
        f = read_evaluations([f"{name}:x:x={scores_path}"])[0].figures
        rows.append({"round": name, "clusters": c.get("num_clusters_kept"), "dropped": c.get("utterances_dropped"),
                     "purity": _round(c.get("purity"), 3), "nmi": _round(c.get("nmi"), 3),
                     "EER": _round(f.get("EER"), 2), "minDCF@0.01": _dcf(f.get("minDCF@0.01"))})
        if _is_high(rows[-1]["minDCF@0.01"]):
            high.append(f"{name} minDCF(0.01) {rows[-1]['minDCF@0.01']}")
    return format_table(rows, ["round", "clusters", "dropped", "purity", "nmi", "EER", "minDCF@0.01"],
                        ["model", "clusters kept", "utterances dropped", "purity", "NMI", "EER%", "minDCF(0.01)"]) \
        + _note(high)


def quality_calibration_table(specs: Sequence[str], labels: Mapping[str, str] | None = None) -> str:
    """Score-only vs quality-aware calibration (JSON of apply_quality_calibration), ``SYSTEM:BACKEND:TRIALS=JSON``."""
    labels = labels or {}
    rows = []
    for spec in specs:
        system, backend, trials, path, figs = _read_spec(spec)
        for name, key in (("score only", "score_only"), ("quality-aware", "quality")):
            if key not in figs:
                continue
            f = figs[key]
            rows.append({"system": labels.get(system, system), "backend": scorer_label(backend),
                         "trials": trials, "calibration": name, "Cllr": _round(f.get("cllr"), 3),
                         "minCllr": _round(f.get("min_cllr"), 3), "act01": _round(f.get("act_dcf_0.01"), 3),
                         "act05": _round(f.get("act_dcf_0.05"), 3), "EER": _round(f.get("eer"), 2)})
    return format_table(rows, ["system", "backend", "trials", "calibration", "Cllr", "minCllr", "act01", "act05",
                               "EER"],
                        ["system", "back-end", "list", "calibration", "Cllr", "minCllr", "actDCF(0.01)",
                         "actDCF(0.05)", "EER%"])


def _rank(value: str, preferred: Sequence[str]) -> tuple[int, str]:
    return (preferred.index(value), "") if value in preferred else (len(preferred), value)


def read_published(path: str | Path) -> list[dict]:
    """The published-figures table (tab-separated, '#' comments, a header line)."""
    with open(path, encoding="utf-8") as f:
        lines = [line for line in f if line.strip() and not line.startswith("#")]
    rows = list(csv.DictReader(lines, delimiter="\t"))
    need = {"system", "backend", "trials", "EER", "source", "note"}
    if rows and not need <= set(rows[0]):
        raise ValueError(f"{path}: the header must name {', '.join(sorted(need))}")
    for i, r in enumerate(rows, 2):
        if None in r or any(v is None for v in r.values()):
            raise ValueError(f"{path}: data line {i}: expected {len(rows[0])} tab-separated fields")
    return rows


def published_table(rows: Sequence[Mapping], labels: Mapping[str, str] | None = None) -> str:
    """The published figures (:func:`read_published`) as a Markdown table, systems by ``labels``."""
    labels = labels or {}
    out = [{"system": labels.get(r["system"], r["system"]), "backend": scorer_label(r["backend"]),
            **{k: (None if r.get(k, "-") in ("-", "") else r[k]) for k in ("trials", "EER", "minDCF@0.01",
                                                                           "minDCF@0.05", "source", "note")}}
           for r in rows]
    return format_table(out, ["system", "backend", "trials", "EER", "minDCF@0.01", "minDCF@0.05", "source", "note"],
                        ["system", "back-end", "list", "EER%", "minDCF(0.01)", "minDCF(0.05)", "source",
                         "protocol"])


def _round(v, digits: int):
    return None if v is None else round(float(v), digits)


def _dcf(v) -> str | None:
    """A DCF (or Cllr) as shown: 3 decimals kept (0.9997 -> ``1.000``, 0.7 -> ``0.700``), never ``1``."""
    return None if v is None else f"{float(v):.3f}"
