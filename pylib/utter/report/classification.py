"""The classification tables of RESULTS.md (egs/iemocap, egs/adress): mean ± std over folds x seeds.

Each evaluation is ``GROUP:SYSTEM/METHOD:PROTOCOL=PATH`` (:func:`utter.report.spec.parse_evaluation`;
PATH a summary results JSON of train_classifier, finetune ..., figures as ``{mean, std, n}``): one
table per GROUP, a row per system and method, columns PROTOCOL x the figures shown. A published
TSV is quoted as it is.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from utter.metrics.results import format_table, read_results_json
from utter.report.spec import parse_evaluation

#: figures that are fractions, shown in percent in classification tables
PERCENT_METRICS = ("UA", "WA", "macro_f1", "accuracy")
METRIC_NAMES = {"UA": "UA %", "WA": "WA %", "macro_f1": "macro-F1 %", "RMSE": "RMSE", "pearson_r": "Pearson r"}


def format_figure(value, percent: bool) -> str | None:
    """``{mean, std, n}`` -> ``62.3 ± 1.4`` (one run: the value alone); a number as it is."""
    if value is None:
        return None
    scale, digits = (100.0, 1) if percent else (1.0, 2)
    if isinstance(value, Mapping):
        if value.get("mean") is None:
            return None
        mean = float(value["mean"]) * scale
        if int(value.get("n", 1)) <= 1:
            return f"{mean:.{digits}f}"
        return f"{mean:.{digits}f} ± {float(value.get('std') or 0.0) * scale:.{digits}f}"
    return f"{float(value) * scale:.{digits}f}"


def classification_tables(specs: Sequence[str], metrics: Sequence[tuple[str, str]],
                          headings: Mapping[str, str], labels: Mapping[str, str] | None = None) -> str:
    """One Markdown table per group: rows system x method, columns protocol x metric (mean ± std)."""
    labels = labels or {}
    cells: dict[str, dict[tuple[str, str], dict[str, dict]]] = {}
    for spec in specs:
        group, row, protocol, path = parse_evaluation(spec)
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such results file (for {group} {row} {protocol})")
        figures = read_results_json(path)
        if not figures.get("skipped") and not any(k in figures for k, _ in metrics):
            raise ValueError(f"{path}: none of the figures {', '.join(k for k, _ in metrics)} in the results file")
        system, _, method = row.partition("/")
        cells.setdefault(group, {}).setdefault((system, method), {})[protocol] = figures
    parts = []
    for group, rows in cells.items():
        protocols = list(dict.fromkeys(p for figs in rows.values() for p in figs))
        cols, heads = ["system", "method"], ["system", "method"]
        for proto in protocols:
            for key, name in metrics:
                if any(key in figs.get(proto, {}) for figs in rows.values()):
                    cols.append(f"{proto}|{key}")
                    heads.append(name if len(protocols) == 1 else f"{proto} {name}")
        if any(figs.get(p, {}).get("stage_steps") for figs in rows.values() for p in protocols):
            cols.append("steps")
            heads.append("training steps")
        cols.append("runs")
        heads.append("runs")
        table, skipped = [], []
        for (system, method), figs in rows.items():
            out = {"system": labels.get(system, system), "method": method or "-"}
            runs = []
            for proto in protocols:
                if figs.get(proto, {}).get("skipped"):
                    for key, _ in metrics:
                        out[f"{proto}|{key}"] = "skipped*"
                    skipped.append(f"{out['system']} {out['method']}" + (f" ({proto})" if len(protocols) > 1 else "")
                                   + f": {figs[proto].get('reason', 'could not be fitted')}")
                    continue
                for key, _ in metrics:
                    v = figs.get(proto, {}).get(key)
                    out[f"{proto}|{key}"] = format_figure(v, key in PERCENT_METRICS)
                    if isinstance(v, Mapping) and "n" in v:
                        runs.append(f"{int(v['n'])}" if len(protocols) == 1 else f"{proto} {int(v['n'])}")
            out["runs"] = ", ".join(dict.fromkeys(runs)) or None
            out["steps"] = ", ".join(dict.fromkeys(str(figs[p]["stage_steps"]) for p in protocols
                                                   if figs.get(p, {}).get("stage_steps"))) or None
            table.append(out)
        note = "".join(f"\n\n\\* skipped, {s}" for s in skipped)
        if any("+" in str(r.get("steps") or "") for r in table):
            note += ("\n\ntraining steps: stage 1 + stage 2 of a two-stage strategy (a range over the runs when "
                     "stage 1 stopped early on dev, stage 2 then training the steps it left), the total after "
                     "it in brackets; a one-stage strategy's single figure is its whole budget.")
        parts.append(f"### {headings.get(group, group)}\n\n" + format_table(table, cols, heads) + note)
    return "\n\n".join(parts)


def read_tsv_table(path: str | Path) -> str:
    """Any tab-separated table with a header line ('#' comments skipped) as Markdown, as it is."""
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#")]
    if not lines:
        raise ValueError(f"{path}: no header line")
    rows = [line.split("\t") for line in lines]
    for i, r in enumerate(rows[1:], 2):
        if len(r) != len(rows[0]):
            raise ValueError(f"{path}: data line {i}: expected {len(rows[0])} tab-separated fields, got {len(r)}")
    head = rows[0]
    return format_table([dict(zip(head, r)) for r in rows[1:]], head)
