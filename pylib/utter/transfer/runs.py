"""The files every downstream run leaves, and the summaries over runs.

Every run (one fold, or one fold x seed) writes into its own directory::

    classes        class labels, one a line, in score-column order (classification only)
    predictions    ``utt label`` (regression: ``utt value``)
    scores         ``utt  [ s1 s2 ... ]``, a Kaldi text-vector archive (kaldiio/copy-vector read it),
                   one column per line of ``classes``: log-posteriors (logreg, fine-tuning),
                   decision values (svm), cosines (cosine) or LLRs (plda)
    results.json   the run's figures from :mod:`utter.metrics.classification`

and a summary directory holds ``results.json`` (mean ± std over runs of UA, WA, macro-F1,
or RMSE and Pearson r; plus the figures of all runs' predictions pooled), ``confusion.png``
(summed over runs), and the pooled ``predictions``/``scores`` (out-of-fold for CV). Results
are reported as mean ± standard deviation over every (fold, seed) run, because the
differences between fine-tuning strategies can be smaller than seed noise.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from utter.atomic import atomic_open
from utter.data.datadir import read_table, sort_key
from utter.metrics.classification import classification_report, plot_confusion, regression_report
from utter.metrics.results import read_results_json, write_results_json

log = logging.getLogger(__name__)

CLASS_FIGURES = ("UA", "WA", "macro_f1")
REGRESSION_FIGURES = ("RMSE", "pearson_r")


def fold_dir_name(fold_name: str) -> str:
    """Sub-directory of an experiment for one fold."""
    return f"fold{fold_name}"


# ---------------------------------------------------------------- files

def write_classes(path: str | os.PathLike, labels: Sequence[str]) -> None:
    """The score-column labels, one a line."""
    with atomic_open(path, "w") as f:
        f.writelines(f"{lab}\n" for lab in labels)


def read_classes(path: str | os.PathLike) -> list[str]:
    """The labels of a ``classes`` file (at least two, all distinct)."""
    labels = [ln.strip() for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ValueError(f"{path}: expected at least two distinct class labels, one a line")
    return labels


def write_predictions(path: str | os.PathLike, utts: Sequence[str], values: Sequence) -> None:
    """``utt value`` lines in C order of the utterance ids (floats with 4 decimals)."""
    if len(utts) != len(values):
        raise ValueError(f"{path}: {len(utts)} utterances but {len(values)} predictions")
    rows = sorted(zip(utts, values), key=lambda r: sort_key(r[0]))
    with atomic_open(path, "w") as f:
        for u, v in rows:
            f.write(f"{u} {v:.4f}\n" if isinstance(v, (float, np.floating)) else f"{u} {v}\n")


def write_class_scores(path: str | os.PathLike, utts: Sequence[str], scores: np.ndarray) -> None:
    """Kaldi text vectors ``utt  [ s1 s2 ... ]`` in C order of the utterance ids."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or len(scores) != len(utts):
        raise ValueError(f"{path}: {len(utts)} utterances but scores of shape {scores.shape}")
    order = sorted(range(len(utts)), key=lambda i: sort_key(utts[i]))
    with atomic_open(path, "w") as f:
        for i in order:
            f.write(f"{utts[i]}  [ " + " ".join(f"{s:.6g}" for s in scores[i]) + " ]\n")


def read_class_scores(path: str | os.PathLike, classes: Sequence[str] | None = None
                      ) -> tuple[list[str], np.ndarray, list[str]]:
    """(utterance ids, scores [N, C], class labels) of a ``scores`` file; the labels come from
    ``classes`` or the ``classes`` file beside it."""
    path = Path(path)
    if classes is None:
        if not (path.parent / "classes").is_file():
            raise ValueError(f"{path}: no 'classes' file beside it naming the score columns")
        classes = read_classes(path.parent / "classes")
    utts, rows = [], []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        head, _, rest = line.partition("[")
        fields = rest.replace("]", " ").split()
        if not head.split() or "]" not in rest or len(fields) != len(classes):
            raise ValueError(f"{path}:{lineno}: expected 'utt  [ {len(classes)} scores ]', got '{line.strip()}'")
        try:
            rows.append([float(v) for v in fields])
        except ValueError:
            raise ValueError(f"{path}:{lineno}: scores are not numbers: '{line.strip()}'") from None
        utts.append(head.split()[0])
    if not utts:
        raise ValueError(f"{path}: no scores")
    return utts, np.array(rows), list(classes)


# ---------------------------------------------------------------- per-speaker decisions

def speaker_targets(targets: Mapping[str, str], utt2spk: Mapping[str, str], utts: Sequence[str]) -> dict[str, str]:
    """speaker -> label of the speakers of ``utts``; ValueError naming the speaker whose segments
    carry different labels (a speaker-level task needs one label per speaker)."""
    out: dict[str, str] = {}
    for u in utts:
        if u not in utt2spk:
            raise ValueError(f"{u}: not in utt2spk (needed for per-speaker scoring)")
        spk, label = utt2spk[u], targets[u]
        if out.setdefault(spk, label) != label:
            raise ValueError(f"speaker {spk}: segments labelled both {out[spk]} and {label} "
                             f"(per-speaker scoring needs one label per speaker; {u})")
    return out


def speaker_log_posteriors(utts: Sequence[str], log_probs: np.ndarray, utt2spk: Mapping[str, str]
                           ) -> tuple[list[str], np.ndarray]:
    """Each speaker's decision from its segments: the log of the mean of their posteriors (the
    segments vote with their confidence, as the frozen classifiers' speaker-mean embeddings do
    for the embeddings). Speakers in :func:`~utter.data.datadir.sort_key` order."""
    rows: dict[str, list[int]] = {}
    for i, u in enumerate(utts):
        rows.setdefault(utt2spk[u], []).append(i)
    spks = sorted(rows, key=sort_key)
    lp = np.asarray(log_probs, dtype=np.float64)
    mean = np.stack([np.exp(lp[rows[s]]).mean(axis=0) for s in spks])
    return spks, np.log(np.maximum(mean, np.finfo(np.float64).tiny))


# ---------------------------------------------------------------- figures and summaries

def run_figures(y_true: Sequence, y_pred: Sequence, labels: Sequence[str] | None) -> dict:
    """classification_report (``labels`` given) or regression_report (``labels`` None)."""
    if labels is None:
        return regression_report(np.asarray(y_true, float), np.asarray(y_pred, float))
    return classification_report(list(y_true), list(y_pred), labels=list(labels))


def mean_std(runs: list[dict[str, float]], keys: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Mean, sample standard deviation (ddof=1; 0 for one run) and count of each figure over runs."""
    if not runs:
        raise ValueError("no runs to summarise")
    keys = keys or [k for k, v in runs[0].items() if isinstance(v, (int, float))]
    out = {}
    for k in keys:
        values = np.array([r[k] for r in runs], dtype=float)
        out[k] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                  "n": len(values)}
    return out


def format_mean_std(summary: dict[str, float], scale: float = 100.0, digits: int = 1) -> str:
    """``62.3 ± 1.4`` from a :func:`mean_std` entry (percent by default)."""
    return f"{summary['mean'] * scale:.{digits}f} ± {summary['std'] * scale:.{digits}f}"


def write_run(out_dir: str | os.PathLike, utts: Sequence[str], y_true: Sequence, y_pred: Sequence,
              scores: np.ndarray | None, labels: Sequence[str] | None, info: Mapping | None = None) -> dict:
    """Write one run's classes/predictions/scores/results.json; return its results dict."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if labels is not None:
        write_classes(out / "classes", labels)
    if scores is not None:
        write_class_scores(out / "scores", utts, scores)
    write_predictions(out / "predictions", utts, list(y_pred))
    figures = {**dict(info or {}), **run_figures(y_true, y_pred, labels), "num_test": len(utts)}
    write_results_json(out / "results.json", figures)   # written last: marks the run complete
    return figures


def completed_run(run_dir: Path) -> dict | None:
    """A finished run's results (its ``results.json``), or None: no results.json, or a damaged one (half
    written, not a JSON object), which never counts as finished: said in the log, and the run is done again."""
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        return None
    try:
        return read_results_json(path)
    except ValueError as e:
        log.warning("%s: the run does not count as finished and is done again", e)
        return None


def summarise_runs(out_dir: str | os.PathLike, runs: Sequence[Mapping], pooled: Mapping[str, tuple],
                   labels: Sequence[str] | None, info: Mapping | None = None) -> dict:
    """Summary ``results.json`` (+ ``confusion.png``) over runs.

    ``runs``: each run's results dict (with ``fold``/``seed``). ``pooled``: utt -> (true,
    predicted) over all runs' test utterances (the first seed when several); their figures
    are reported beside the mean ± std (for leave-one-speaker-out folds of one utterance
    only the pooled figures are meaningful).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys = list(CLASS_FIGURES if labels is not None else REGRESSION_FIGURES)
    summary = mean_std([dict(r) for r in runs], keys)
    utts = sorted(pooled, key=sort_key)
    pooled_figs = run_figures([pooled[u][0] for u in utts], [pooled[u][1] for u in utts], labels)
    result = {**dict(info or {}), "num_runs": len(runs),
              "folds": sorted({str(r.get("fold")) for r in runs}, key=sort_key),
              "seeds": sorted({int(r.get("seed", 0)) for r in runs}),
              **{k: summary[k] for k in keys}, "pooled": pooled_figs,
              "runs": [{k: r.get(k) for k in ("fold", "seed", *keys)} for r in runs]}
    if labels is not None:
        cm = np.sum([np.asarray(r["confusion"]) for r in runs], axis=0)
        result["confusion_sum"] = cm.tolist()
        result["labels"] = list(labels)
        plot_confusion(cm, labels, out / "confusion.png", title=confusion_title(out, info or {}, len(runs)))
        line = ", ".join(f"{k} {format_mean_std(summary[k])}" for k in keys)
    else:
        line = ", ".join(f"{k} {format_mean_std(summary[k], scale=1.0, digits=3)}" for k in keys)
    result["summary"] = f"{line} (mean ± std over {len(runs)} runs)"
    write_results_json(out / "results.json", result)
    log.info("%s: %s", out / "results.json", result["summary"])
    return result


def confusion_title(out_dir: str | os.PathLike, info: Mapping, num_runs: int) -> str:
    """The title of a confusion plot: the system (its path under exp/: model / method / classifier),
    the data (the data dir, else the recipe) and the runs pooled, e.g.
    ``dino / classifier / logreg on iemocap (utt2emo)`` over ``confusion summed over 5 runs (cross-validation)``."""
    parts = Path(os.path.abspath(out_dir)).parts
    cut = len(parts) - 1 - parts[::-1].index("exp") if "exp" in parts else None
    system = " / ".join(parts[cut + 1:]) if cut is not None and cut + 1 < len(parts) else \
        str(info.get("system") or Path(out_dir).name)
    data = Path(str(info["data"])).name if info.get("data") else (parts[cut - 1] if cut else "")
    table = f" ({info['label_table']})" if info.get("label_table") else ""
    protocol = f" ({info['protocol']})" if info.get("protocol") else ""
    head = f"{system} on {data}{table}" if data else system
    return f"{head}\nconfusion summed over {num_runs} run{'s' if num_runs != 1 else ''}{protocol}"


def pool_run_dirs(run_dirs: Sequence[Path], out_dir: Path, labels: Sequence[str] | None) -> None:
    """Concatenate the runs' ``predictions`` (and ``scores``) into ``out_dir`` (out-of-fold files)."""
    preds: dict[str, str] = {}
    for d in run_dirs:
        preds.update(read_table(d / "predictions"))
    with atomic_open(out_dir / "predictions", "w") as f:
        f.writelines(f"{u} {preds[u]}\n" for u in sorted(preds, key=sort_key))
    if labels is not None and all((d / "scores").is_file() for d in run_dirs):
        utts, mats = [], []
        for d in run_dirs:
            u, s, _ = read_class_scores(d / "scores", labels)
            utts += u
            mats.append(s)
        write_classes(out_dir / "classes", labels)
        write_class_scores(out_dir / "scores", utts, np.concatenate(mats))


def pooled_predictions(run_dirs: Sequence[Path], truth: Mapping[str, object]) -> dict[str, tuple]:
    """utt -> (true, predicted) over the runs' ``predictions`` files (the pooled input of
    :func:`summarise_runs`)."""
    pooled = {}
    for d in run_dirs:
        for u, p in read_table(Path(d) / "predictions").items():
            pooled[u] = (truth[u], p)
    return pooled
