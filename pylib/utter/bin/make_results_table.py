"""Build a recipe's RESULTS.md from the per-evaluation results JSON files (and published figures).

Each evaluation is named on the command line as ``SYSTEM:BACKEND:TRIALS=PATH`` (PATH a results
JSON written by utter.metrics.results, with ``EER`` in % and ``minDCF@<p>``). One table per trial
list: a row per system, the back-ends' EER and minDCFs side by side, as in the DINO paper's table.
With ``--published TSV`` (the recipe's conf/published.tsv) the published figures follow, with their
sources and protocol notes; with ``--calibrated`` the calibrated scores' actual DCFs and Cllr.
"""
from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from utter.atomic import atomic_open
from utter.bin.common import main_entry, make_parser
from utter.metrics.results import format_table, read_results_json

BACKEND_NAMES = {"cosine": "cosine", "plda": "PLDA", "asnorm": "AS-norm"}
SYSTEM_NAMES = {"xvector": "supervised (LResNet34, AAM-softmax)", "dino": "DINO (LResNet34)",
                "dino_ecapa": "ECAPA-DINO (ECAPA-TDNN)"}
_SPEC = re.compile(r"^([^:=\s]+):([^:=\s]+):([^:=\s]+)=(.+)$")


@dataclass(frozen=True)
class Evaluation:
    system: str
    backend: str
    trials: str
    figures: dict


def parse_spec(spec: str) -> tuple[str, str, str, str]:
    """``SYSTEM:BACKEND:TRIALS=PATH`` -> its four parts (an error names the bad argument)."""
    m = _SPEC.match(spec)
    if not m:
        raise ValueError(f"bad evaluation '{spec}': expected SYSTEM:BACKEND:TRIALS=PATH")
    return m.group(1), m.group(2), m.group(3), m.group(4)


def read_evaluations(specs: Sequence[str]) -> list[Evaluation]:
    """Read each named results file; an error names a missing file or a file without an EER."""
    out = []
    for spec in specs:
        system, backend, trials, path = parse_spec(spec)
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such results file (for {system} {backend} {trials})")
        figures = read_results_json(path)
        if "EER" not in figures:
            raise ValueError(f"{path}: no EER in the results file")
        out.append(Evaluation(system, backend, trials, figures))
    return out


def _ordered(values: Sequence[str], preferred: Sequence[str]) -> list[str]:
    seen = list(dict.fromkeys(values))
    return [v for v in preferred if v in seen] + [v for v in seen if v not in preferred]


def results_tables(evals: Sequence[Evaluation], p_targets: Sequence[float] = (0.01, 0.05),
                   labels: Mapping[str, str] = SYSTEM_NAMES) -> str:
    """One Markdown table per trial list: rows systems, columns back-end x (EER, minDCFs)."""
    parts = []
    systems = _ordered([e.system for e in evals], list(labels))
    backends = _ordered([e.backend for e in evals], list(BACKEND_NAMES))
    for trials in _ordered([e.trials for e in evals], ["O", "E", "H"]):
        cell = {(e.system, e.backend): e.figures for e in evals if e.trials == trials}
        cols, heads = ["system"], ["system"]
        for b in backends:
            if not any((s, b) in cell for s in systems):
                continue
            cols += [f"{b}|EER"] + [f"{b}|minDCF@{p:g}" for p in p_targets]
            heads += [f"{BACKEND_NAMES.get(b, b)} EER%"] + [f"{BACKEND_NAMES.get(b, b)} minDCF({p:g})"
                                                          for p in p_targets]
        rows = []
        for s in systems:
            if not any(k[0] == s for k in cell):
                continue
            row: dict = {"system": labels.get(s, s)}
            for b in backends:
                fig = cell.get((s, b), {})
                row[f"{b}|EER"] = _round(fig.get("EER"), 2)
                for p in p_targets:
                    row[f"{b}|minDCF@{p:g}"] = _round(fig.get(f"minDCF@{p:g}"), 3)
            rows.append(row)
        n = next(iter(cell.values()))
        count = f" ({n.get('n_target', '?')} target / {n.get('n_nontarget', '?')} non-target trials)" \
            if "n_target" in n else ""
        parts.append(f"### VoxCeleb1-{trials}{count}\n\n" + format_table(rows, cols, heads))
    return "\n\n".join(parts)


def calibration_table(evals: Sequence[Evaluation], p_targets: Sequence[float] = (0.01, 0.05),
                      labels: Mapping[str, str] = SYSTEM_NAMES) -> str:
    """Calibrated scores: actual DCFs beside the minimum ones, and Cllr beside minCllr."""
    cols, heads = ["system", "backend", "trials"], ["system", "back-end", "list"]
    for p in p_targets:
        cols += [f"minDCF@{p:g}", f"actDCF@{p:g}"]
        heads += [f"minDCF({p:g})", f"actDCF({p:g})"]
    cols += ["Cllr", "minCllr"]
    heads += ["Cllr", "minCllr"]
    rows = []
    for e in sorted(evals, key=lambda e: (_rank(e.trials, ["O", "E", "H"]), _rank(e.system, list(labels)),
                                          _rank(e.backend, list(BACKEND_NAMES)))):
        row = {"system": labels.get(e.system, e.system), "backend": BACKEND_NAMES.get(e.backend, e.backend),
               "trials": e.trials}
        row.update({c: _round(e.figures.get(c), 3) for c in cols[3:]})
        rows.append(row)
    return format_table(rows, cols, heads)


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


def published_table(rows: Sequence[Mapping], labels: Mapping[str, str] = SYSTEM_NAMES) -> str:
    out = [{"system": labels.get(r["system"], r["system"]), "backend": BACKEND_NAMES.get(r["backend"], r["backend"]),
            **{k: (None if r.get(k, "-") in ("-", "") else r[k]) for k in ("trials", "EER", "minDCF@0.01",
                                                                           "minDCF@0.05", "source", "note")}}
           for r in rows]
    return format_table(out, ["system", "backend", "trials", "EER", "minDCF@0.01", "minDCF@0.05", "source", "note"],
                        ["system", "back-end", "list", "EER%", "minDCF(0.01)", "minDCF(0.05)", "source",
                         "protocol"])


def _round(v, digits: int):
    return None if v is None else round(float(v), digits)


def build_parser():
    p = make_parser(__doc__.split("\n\n")[0], threads=False)
    p.add_argument("--title", default="Results", help="first heading of the file")
    p.add_argument("--intro", default="", help="a paragraph under the title (how the figures were made)")
    p.add_argument("--published", default="", help="tab-separated published figures to quote (conf/published.tsv)")
    p.add_argument("--det-plot", default="", help="a DET plot PNG to link (path relative to the output)")
    p.add_argument("--calibrated", action="append", default=[], metavar="SYSTEM:BACKEND:TRIALS=JSON",
                   help="results of calibrated scores (actDCF, Cllr), tabulated separately; repeatable")
    p.add_argument("out", help="the Markdown file to write (RESULTS.md)")
    p.add_argument("evaluations", nargs="+", help="SYSTEM:BACKEND:TRIALS=RESULTS_JSON, one per evaluation")
    return p


def main(args) -> None:
    evals = read_evaluations(args.evaluations)
    text = [f"# {args.title}", ""]
    if args.intro:
        text += [args.intro, ""]
    text += ["EER in %; minDCF normalised as Kaldi's compute_min_dcf.py (C_miss = C_fa = 1).", "",
             results_tables(evals), ""]
    if args.calibrated:
        text += ["### Calibrated scores (logistic regression trained on held-out VoxCeleb2-dev speakers' trials)",
                 "", calibration_table(read_evaluations(args.calibrated)), ""]
    if args.det_plot:
        text += [f"DET curves: [{args.det_plot}]({args.det_plot})", ""]
    if args.published:
        published = published_table(read_published(args.published))
        text += ["## Published figures (VoxCeleb1, for comparison)", "", published, ""]
    with atomic_open(args.out, "w") as f:
        f.write("\n".join(text))


if __name__ == "__main__":
    main_entry(main, build_parser)
