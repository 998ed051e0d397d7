"""Downstream evaluation over folds: output files shared by every transfer stage, and the
frozen-embedding classifier stage (``steps/train_classifier.sh``).

Every run (one fold, or one fold x seed) writes into its own directory::

    classes        class labels, one a line, in score-column order (classification only)
    predictions    ``utt label`` (regression: ``utt value``)
    scores         ``utt  [ s1 s2 ... ]``, a Kaldi text-vector archive (kaldiio/copy-vector read it),
                   one column per line of ``classes``: log-posteriors (logreg, fine-tuning),
                   decision values (svm), cosines (cosine) or LLRs (plda)
    results.json   the run's figures from :mod:`utter.metrics.classification`

and a summary directory holds ``results.json`` (mean ± std over runs of UA, WA, macro-F1,
or RMSE and Pearson r; plus the figures of all runs' predictions pooled), ``confusion.png``
(summed over runs), and the pooled ``predictions``/``scores`` (out-of-fold for CV).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utter.atomic import atomic_open
from utter.backend.crossval import Fold, format_mean_std, mean_std, read_folds
from utter.data.datadir import DataDir, read_table, sort_key
from utter.metrics.classification import classification_report, plot_confusion, regression_report
from utter.metrics.results import read_results_json, write_results_json

log = logging.getLogger(__name__)

CLASS_FIGURES = ("UA", "WA", "macro_f1")
REGRESSION_FIGURES = ("RMSE", "pearson_r")


# ---------------------------------------------------------------- files

def write_classes(path: str | os.PathLike, labels: Sequence[str]) -> None:
    with atomic_open(path, "w") as f:
        f.writelines(f"{lab}\n" for lab in labels)


def read_classes(path: str | os.PathLike) -> list[str]:
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


def read_targets(data_dir: str | os.PathLike, table: str, regression: bool = False) -> dict:
    """utt -> label (first field) or float target of a data dir's label table."""
    path = DataDir(data_dir).file(table)
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such label table")
    out = {}
    for utt, value in read_table(path).items():
        v = value.split()[0]
        if regression:
            try:
                out[utt] = float(v)
            except ValueError:
                raise ValueError(f"{path}: target '{v}' of {utt} is not a number") from None
        else:
            out[utt] = v
    return out


# ---------------------------------------------------------------- figures and summaries

def run_figures(y_true: Sequence, y_pred: Sequence, labels: Sequence[str] | None) -> dict:
    """classification_report (``labels`` given) or regression_report (``labels`` None)."""
    if labels is None:
        return regression_report(np.asarray(y_true, float), np.asarray(y_pred, float))
    return classification_report(list(y_true), list(y_pred), labels=list(labels))


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
        plot_confusion(cm, labels, out / "confusion.png",
                       title=f"{info.get('system', 'confusion') if info else 'confusion'} ({len(runs)} runs)")
        line = ", ".join(f"{k} {format_mean_std(summary[k])}" for k in keys)
    else:
        line = ", ".join(f"{k} {format_mean_std(summary[k], scale=1.0, digits=3)}" for k in keys)
    result["summary"] = f"{line} (mean ± std over {len(runs)} runs)"
    write_results_json(out / "results.json", result)
    log.info("%s: %s", out / "results.json", result["summary"])
    return result


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


# ---------------------------------------------------------------- splits

@dataclass
class Split:
    """One evaluation: train/dev utterances of the training set, test utterances of the test set."""

    name: str
    train: list[str]
    test: list[str]
    dev: list[str] = field(default_factory=list)


def splits_from_args(folds_dir: str | None, max_folds: int, train_targets: Mapping, test_targets: Mapping | None,
                     only: Sequence[str] = ()) -> list[Split]:
    """Cross-validation folds (``folds_dir``) or one train -> test split named ``test``."""
    if folds_dir:
        folds: list[Fold] = read_folds(folds_dir, max_folds or None)
        chosen = [f for f in folds if not only or f.name in only]
        return [Split(f.name, f.train, f.test, f.dev) for f in chosen]
    if test_targets is None:
        raise ValueError("give either a folds dir (cross-validation) or test data (train -> test)")
    return [Split("test", sorted(train_targets, key=sort_key), sorted(test_targets, key=sort_key))]


def _select(utts: Sequence[str], targets: Mapping, what: str, regression: bool) -> list[str]:
    """Utterances with a target; a missing label is an error, a missing regression target is logged."""
    missing = [u for u in utts if u not in targets]
    if missing and not regression:
        raise ValueError(f"{what}: {len(missing)} utterances have no label, e.g. {missing[:3]}")
    if missing:
        log.info("%s: %d utterances without a target are left out (e.g. %s)", what, len(missing), missing[0])
    return [u for u in utts if u in targets]


# ---------------------------------------------------------------- frozen-embedding classifiers

@dataclass
class FrozenOptions:
    """The classifier and its regularisation; ``grid`` values are tried on the dev list when present."""

    kind: str = "logreg"
    c: float = 1.0
    balanced: bool = True
    alpha: float = 1.0
    grid: tuple[float, ...] = ()
    lda_dim: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def regression(self) -> bool:
        return self.kind == "ridge"

    def build(self, value: float | None = None):
        from utter.backend.classifiers import build_classifier

        opts = dict(self.extra)
        if self.kind in ("logreg", "svm"):
            opts.update(c=self.c if value is None else value, balanced=self.balanced)
        elif self.kind == "ridge":
            opts.update(alpha=self.alpha if value is None else value)
        elif self.kind == "plda":
            opts.update(lda_dim=self.lda_dim)
        return build_classifier(self.kind, **opts)


def _embeddings(scp: str) -> dict[str, np.ndarray]:
    from utter.backend.io import read_embeddings

    ids, x = read_embeddings(scp)
    return dict(zip(ids, x))


def _matrix(emb: Mapping[str, np.ndarray], utts: Sequence[str], scp: str) -> np.ndarray:
    missing = [u for u in utts if u not in emb]
    if missing:
        raise ValueError(f"{scp}: no embedding for {len(missing)} utterances, e.g. {missing[:3]}")
    return np.stack([emb[u] for u in utts])


def _fit_one(opts: FrozenOptions, x, y, xd, yd, split: str):
    """Fit on train; with a grid and a dev list keep the value with the best dev UA (regression: RMSE)."""
    if not opts.grid or xd is None or opts.kind not in ("logreg", "svm", "ridge"):
        return opts.build().fit(x, y), None
    best = None
    for value in opts.grid:
        model = opts.build(value).fit(x, y)
        pred = model.predict(xd)
        figs = run_figures(yd, pred, None if opts.regression else model.labels)
        key = -figs["RMSE"] if opts.regression else figs["UA"]
        log.info("fold %s: %s=%g dev %s %.4f", split, "alpha" if opts.regression else "C", value,
                 "RMSE" if opts.regression else "UA", abs(key))
        if best is None or key > best[0]:
            best = (key, value, model)
    return best[2], best[1]


def run_frozen_classifier(emb_scp: str, data_dir: str, out_dir: str, opts: FrozenOptions, *,
                          label_table: str = "utt2emo", folds_dir: str | None = None, max_folds: int = 0,
                          test_emb: str | None = None, test_data: str | None = None) -> dict:
    """Train and test a classifier (or ridge regressor) on frozen embeddings per fold; write the
    per-fold outputs under ``out_dir/fold<k>/`` (CV) or ``out_dir/test/`` (train -> test), the
    pooled predictions/scores and the summary in ``out_dir``."""
    import sys

    from tqdm import tqdm

    out = Path(out_dir)
    reg = opts.regression
    targets = read_targets(data_dir, label_table, reg)
    test_targets = read_targets(test_data, label_table, reg) if test_data else None
    splits = splits_from_args(folds_dir, max_folds, targets, test_targets)
    emb = _embeddings(emb_scp)
    temb = _embeddings(test_emb) if test_emb else emb
    labels = None if reg else sorted(set(targets.values()), key=sort_key)
    runs, pooled, dirs = [], {}, []
    for sp in tqdm(splits, desc="folds", file=sys.stderr, disable=not sys.stderr.isatty()):
        run_dir = out / (f"fold{sp.name}" if folds_dir else "test")
        tt = test_targets if test_targets is not None and not folds_dir else targets
        tr = _select(sp.train, targets, f"fold {sp.name} train", reg)
        te = _select(sp.test, tt, f"fold {sp.name} test", reg)
        dv = _select(sp.dev, targets, f"fold {sp.name} dev", reg)
        x, y = _matrix(emb, tr, emb_scp), [targets[u] for u in tr]
        xd = _matrix(emb, dv, emb_scp) if dv else None
        model, chosen = _fit_one(opts, x, y, xd, [targets[u] for u in dv], sp.name)
        xt = _matrix(temb, te, test_emb or emb_scp)
        if reg:
            pred, scores = [float(v) for v in model.predict(xt)], None
        else:
            if set(model.labels) != set(labels):
                log.warning("fold %s: training set has classes %s of %s", sp.name, model.labels, labels)
            s = model.scores(xt)
            scores = np.full((len(te), len(labels)), -np.inf)
            scores[:, [labels.index(c) for c in model.labels]] = s
            pred = [labels[i] for i in scores.argmax(1)]
        run_dir.mkdir(parents=True, exist_ok=True)
        model.save(run_dir / "model.npz")
        info = {"fold": sp.name, "seed": 0, "classifier": opts.kind, "num_train": len(tr), "num_dev": len(dv)}
        if chosen is not None:
            info["alpha" if reg else "C"] = chosen
        figs = write_run(run_dir, te, [tt[u] for u in te], pred, scores, labels, info)
        runs.append(figs)
        dirs.append(run_dir)
        pooled.update({u: (tt[u], p) for u, p in zip(te, pred)})
        log.info("fold %s: %s", sp.name, _brief(figs, reg))
    pool_run_dirs(dirs, out, labels)
    info = {"system": out.name, "classifier": opts.kind, "protocol": "cross-validation" if folds_dir else "train-test",
            "embeddings": emb_scp, "data": data_dir, "label_table": label_table}
    return summarise_runs(out, runs, pooled, labels, info)


def _brief(figs: Mapping, regression: bool) -> str:
    keys = REGRESSION_FIGURES if regression else CLASS_FIGURES
    return " ".join(f"{k} {figs[k]:.4f}" for k in keys if figs.get(k) is not None)


def completed_run(run_dir: Path) -> dict | None:
    """A finished run's results (its ``results.json``), or None."""
    path = Path(run_dir) / "results.json"
    return read_results_json(path) if path.is_file() else None
