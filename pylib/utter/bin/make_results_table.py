"""Build a recipe's RESULTS.md from the per-evaluation results JSON files (and published figures).

Each evaluation is named on the command line as ``SYSTEM:BACKEND:TRIALS=PATH`` (PATH a results
JSON written by utter.metrics.results, with ``EER`` in % and ``minDCF@<p>``). One table per trial
list (``--heading TRIALS=TEXT``, in the order of the headings): a row per system, the back-ends' EER
and minDCFs side by side, as in the DINO paper's table. With ``--published TSV`` (the recipe's
conf/published.tsv) the published figures follow, with their sources and protocol notes; with
``--calibrated`` the calibrated scores' actual DCFs and Cllr.

With ``--task classification`` (egs/iemocap, egs/adress) each evaluation is ``GROUP:SYSTEM/METHOD:PROTOCOL=PATH``
(PATH a summary results JSON of train_classifier, finetune ..., figures as ``{mean, std, n}`` over
folds x seeds): one table per GROUP (``--heading GROUP=TEXT``), a row per system and method, columns
PROTOCOL x ``--metrics`` (e.g. ``UA,WA,macro_f1`` or ``WA=accuracy,macro_f1=F1,RMSE``) as mean ± std;
the published TSV is quoted as it is.

Rows name each system by ``--system-label SYSTEM=TEXT`` (in their order; ``{net}`` in TEXT is the
network), with the network as trained when ``--system-model SYSTEM=MODEL`` gives its model (the
``arch`` of the ``config.json`` beside the model, links resolved), else ``--system-net SYSTEM=NET``.
The program holds no recipe's wording: titles, headings and row labels come from the recipe
(egs/*/conf/results.conf, passed by utils/recipe_lib.sh's results_table); without them the tables
are headed by the names on the command line.
"""
from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from utter.atomic import atomic_open
from utter.backend.scorers import SCORERS, scorer_label
from utter.bin.common import main_entry, make_parser
from utter.metrics.results import format_table, read_results_json

#: the toolkit's networks (utter.nnet) as shown (the back-ends' labels are utter.backend.scorers')
NET_NAMES = {"lresnet34": "LResNet34", "resnet34": "ResNet34", "resnet": "ResNet", "tdnn": "TDNN",
             "ecapa": "ECAPA-TDNN"}
#: section headings when the recipe names none
DEFAULT_SECTIONS = {"findings": "Findings", "calibrated": "Calibrated scores", "pseudo": "Pseudo-label rounds",
                    "quality": "Quality-aware calibration", "published": "Published figures (for comparison)"}
_SPEC = re.compile(r"^([^:=\s]+):([^:=\s]+):([^:=\s]+)=(.+)$")
#: a shown minDCF from here up gets the note of :func:`high_min_dcf_note` under its table
HIGH_MIN_DCF = 0.95


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


def parse_pairs(specs: Sequence[str], option: str, what: str = "KEY=TEXT") -> dict[str, str]:
    """``KEY=TEXT`` items -> {KEY: TEXT} in their order (a later KEY wins); an error names the option."""
    out: dict[str, str] = {}
    for spec in specs:
        key, sep, text = spec.partition("=")
        if not sep or not key:
            raise ValueError(f"bad {option} '{spec}': expected {what}")
        out[key] = text
    return out


def system_labels(models: Sequence[str], kinds: Mapping[str, str] | None = None,
                  nets: Mapping[str, str] | None = None) -> dict[str, str]:
    """Row label of each system: ``kinds[SYSTEM]`` (``{net}`` the network) with the network of each
    ``SYSTEM=MODEL`` as trained (``arch`` in the config.json beside MODEL), else ``nets[SYSTEM]``;
    a system without a kind keeps its name, with the network appended when its model is given."""
    kinds, nets = dict(kinds or {}), dict(nets or {})
    labels = {s: kind.format(net=nets.get(s, "?")) for s, kind in kinds.items()}
    for spec in models:
        system, sep, model = spec.partition("=")
        if not sep or not system or not model:
            raise ValueError(f"bad --system-model '{spec}': expected SYSTEM=MODEL")
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
        name, _, paths = spec.partition("=")
        cluster_path, _, scores_path = paths.partition(",")
        if not name or not scores_path:
            raise ValueError(f"bad pseudo-label round '{spec}': expected ROUND=CLUSTER_JSON,SCORES_JSON")
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
        system, backend, trials, path = parse_spec(spec)
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such results file (for {system} {backend} {trials})")
        figs = read_results_json(path)
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
    labels = labels or {}
    out = [{"system": labels.get(r["system"], r["system"]), "backend": scorer_label(r["backend"]),
            **{k: (None if r.get(k, "-") in ("-", "") else r[k]) for k in ("trials", "EER", "minDCF@0.01",
                                                                           "minDCF@0.05", "source", "note")}}
           for r in rows]
    return format_table(out, ["system", "backend", "trials", "EER", "minDCF@0.01", "minDCF@0.05", "source", "note"],
                        ["system", "back-end", "list", "EER%", "minDCF(0.01)", "minDCF(0.05)", "source",
                         "protocol"])


#: figures that are fractions, shown in percent in classification tables
PERCENT_METRICS = ("UA", "WA", "macro_f1", "accuracy")
METRIC_NAMES = {"UA": "UA %", "WA": "WA %", "macro_f1": "macro-F1 %", "RMSE": "RMSE", "pearson_r": "Pearson r"}


def parse_metrics(spec: str) -> list[tuple[str, str]]:
    """``UA,WA=accuracy`` -> [(key, shown name)]; a name defaults to :data:`METRIC_NAMES`."""
    out = []
    for item in filter(None, (x.strip() for x in spec.split(","))):
        key, _, name = item.partition("=")
        out.append((key, name or METRIC_NAMES.get(key, key)))
    if not out:
        raise ValueError("--metrics names no figure")
    return out


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
        group, row, protocol, path = parse_spec(spec)
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


def _round(v, digits: int):
    return None if v is None else round(float(v), digits)


def _dcf(v) -> str | None:
    """A DCF (or Cllr) as shown: 3 decimals kept (0.9997 -> ``1.000``, 0.7 -> ``0.700``), never ``1``."""
    return None if v is None else f"{float(v):.3f}"


def join_sentences(parts: Sequence[str]) -> str:
    """One paragraph of ``parts`` (sentences, or runs of them): each stripped, empty ones dropped, and
    each ended with a period when it lacks one (``.``, ``!`` or ``?``), joined by a space."""
    out = []
    for part in parts:
        part = " ".join(part.split())
        if part:
            out.append(part if part.endswith((".", "!", "?")) else part + ".")
    return " ".join(out)


def build_parser():
    p = make_parser(__doc__.split("\n\n")[0], threads=False)
    p.add_argument("--title", default="Results", help="first heading of the file")
    p.add_argument("--intro", default="", help="a paragraph under the title (how the figures were made)")
    p.add_argument("--train-plan", action="append", default=[], metavar="SYSTEM=JSON",
                   help="a system's train_plan.json (written by the trainer): a sentence after the intro says "
                        "how long it trained and which utterances it used; repeatable")
    p.add_argument("--intro-sentence", action="append", default=[], metavar="TEXT",
                   help="a sentence appended to the --intro paragraph (a period added when it lacks one); "
                        "repeatable, in order")
    p.add_argument("--published", default="", help="tab-separated published figures to quote (conf/published.tsv)")
    p.add_argument("--det-plot", default="", help="a DET plot PNG to link (path relative to the output)")
    p.add_argument("--calibrated", action="append", default=[], metavar="SYSTEM:BACKEND:TRIALS=JSON",
                   help="results of calibrated scores (actDCF, Cllr), tabulated separately; repeatable")
    p.add_argument("--pseudo-round", action="append", default=[], metavar="ROUND=CLUSTER_JSON,SCORES_JSON",
                   help="a pseudo-label round (purity, NMI, EER) for the rounds table; repeatable, in order")
    p.add_argument("--quality-calibration", action="append", default=[], metavar="SYSTEM:BACKEND:TRIALS=JSON",
                   help="score-only vs quality-aware calibration figures; repeatable")
    p.add_argument("--task", choices=("verification", "classification"), default="verification",
                   help="verification: SYSTEM:BACKEND:TRIALS=JSON (EER/minDCF); classification: "
                        "GROUP:SYSTEM/METHOD:PROTOCOL=JSON (mean ± std of --metrics)")
    p.add_argument("--metrics", default="UA,WA,macro_f1",
                   help="classification: figures shown, KEY or KEY=NAME, comma-separated")
    p.add_argument("--heading", action="append", default=[], metavar="KEY=TEXT",
                   help="the heading of a table: verification, a trial list's (KEY the TRIALS of the evaluations; "
                        "tables in the order of the headings); classification, a group's; repeatable")
    p.add_argument("--findings", default="",
                   help="a Findings table (python -m utter.bin.make_findings --out) to put first, under its heading")
    for name, what in (("findings", "Findings table"), ("calibrated", "--calibrated table"),
                       ("pseudo", "--pseudo-round table"),
                       ("quality", "--quality-calibration table"), ("published", "published figures")):
        p.add_argument(f"--{name}-heading", default=DEFAULT_SECTIONS[name], help=f"the heading of the {what}")
    p.add_argument("--system-label", action="append", default=[], metavar="SYSTEM=TEXT",
                   help="a system's row label, {net} its network (rows in the order of the labels); repeatable")
    p.add_argument("--system-net", action="append", default=[], metavar="SYSTEM=NET",
                   help="the network of a system's label when no --system-model gives it; repeatable")
    p.add_argument("--system-model", action="append", default=[], metavar="SYSTEM=MODEL",
                   help="a system's model (final.pt), whose config.json names the network in the row labels; "
                        "repeatable")
    p.add_argument("--notes", default="", help="classification: a paragraph after the tables (protocol notes)")
    p.add_argument("out", help="the Markdown file to write (RESULTS.md)")
    p.add_argument("evaluations", nargs="+", help="SYSTEM:BACKEND:TRIALS=RESULTS_JSON, one per evaluation")
    return p


def labels_of(args, trained: bool = True) -> dict[str, str]:
    """The row label of each system, from --system-label and --system-net, and with ``trained`` the
    networks of --system-model (published figures keep the labels' own networks)."""
    return system_labels(args.system_model if trained else [],
                         parse_pairs(args.system_label, "--system-label", "SYSTEM=TEXT"),
                         parse_pairs(args.system_net, "--system-net", "SYSTEM=NET"))


def intro_paragraph(args) -> str:
    """--intro with the --intro-sentence and --train-plan sentences after it, each ended with a period."""
    extra = [*args.intro_sentence, *(plan_sentence(spec) for spec in args.train_plan)]
    return join_sentences([args.intro, *extra]) if extra else args.intro


def plan_sentence(spec: str) -> str:
    """``SYSTEM=train_plan.json`` in words: the steps and epochs trained, the utterances used and left out."""
    system, sep, path = spec.partition("=")
    if not sep or not system or not path:
        raise ValueError(f"bad --train-plan '{spec}': expected SYSTEM=JSON")
    try:
        plan = json.loads(Path(path).read_text(encoding="utf-8"))
        steps, epochs = int(plan["total_steps"]), float(plan["epochs"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"--train-plan {spec}: not a readable train_plan.json ({e})") from e
    text = f"{system}: {steps} training steps ({epochs:.1f} epochs)"
    data = plan.get("data") or {}
    if data:
        text += (f" on {data['used']} of {data['utterances']} utterances ({data['left_out']} with fewer than "
                 f"{data['min_frames']} voiced frames left out")
        if data.get("shorter_than_global_crop"):
            text += (f"; {data['shorter_than_global_crop']} shorter than the {data['global_frames']}-frame "
                     "global crop, cropped whole")
        text += ")"
    return text


def findings_section(args) -> list[str]:
    """The lines of the Findings section (first after the title and intro), none without --findings."""
    if not args.findings:
        return []
    return [f"## {args.findings_heading}", "", Path(args.findings).read_text(encoding="utf-8").rstrip(), ""]


def main_classification(args) -> None:
    """RESULTS.md of a classification recipe (--task classification)."""
    headings = parse_pairs(args.heading, "--heading")
    text = [f"# {args.title}", ""]
    intro = intro_paragraph(args)
    if intro:
        text += [intro, ""]
    text += findings_section(args)
    labels = labels_of(args)
    text += [classification_tables(args.evaluations, parse_metrics(args.metrics), headings, labels), ""]
    if args.notes:
        text += [args.notes, ""]
    if args.published:
        text += [f"## {args.published_heading}", "", read_tsv_table(args.published), ""]
    with atomic_open(args.out, "w") as f:
        f.write("\n".join(text))


def main(args) -> None:
    if args.task == "classification":
        main_classification(args)
        return
    evals = read_evaluations(args.evaluations)
    labels = labels_of(args)
    headings = parse_pairs(args.heading, "--heading")
    text = [f"# {args.title}", ""]
    intro = intro_paragraph(args)
    if intro:
        text += [intro, ""]
    text += findings_section(args)
    text += ["EER in %; minDCF normalised as Kaldi's compute_min_dcf.py (C_miss = C_fa = 1).", "",
             results_tables(evals, labels=labels, headings=headings), ""]
    if args.calibrated:
        text += [f"### {args.calibrated_heading}", "",
                 calibration_table(read_evaluations(args.calibrated), labels=labels, trial_order=list(headings)), ""]
    if args.pseudo_round:
        text += [f"### {args.pseudo_heading}", "", pseudo_label_table(args.pseudo_round), ""]
    if args.quality_calibration:
        text += [f"### {args.quality_heading}", "", quality_calibration_table(args.quality_calibration, labels), ""]
    if args.det_plot:
        text += [f"DET curves: [{args.det_plot}]({args.det_plot})", ""]
    if args.published:
        published = published_table(read_published(args.published), labels_of(args, trained=False))
        text += [f"## {args.published_heading}", "", published, ""]
    with atomic_open(args.out, "w") as f:
        f.write("\n".join(text))


if __name__ == "__main__":
    main_entry(main, build_parser)
