"""Classifiers on frozen embeddings, per fold (``steps/train_classifier.sh``).

For each split (:mod:`~utter.transfer.folds`) a back-end classifier
(:mod:`utter.backend.classifiers`: logistic regression, SVM, cosine, PLDA, or ridge regression
for a numeric target) is fitted on the training utterances' embeddings, its regularisation
chosen on the dev list when a grid is given, and tested; each run and the summary are written
in the layout of :mod:`~utter.transfer.runs` (``out_dir/fold<k>/`` or ``out_dir/test/``).

A classifier that cannot be fitted on a fold's training set (PLDA on fewer embeddings than
dimensions: a singular covariance) is skipped, not failed: ``out_dir/skipped.json`` says which and
why (``{"skipped": true, "classifier", "fold", "reason"}``), one warning line says so, and no
results.json is written; the recipe marks the row skipped in RESULTS.md and runs the others.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from utter.atomic import atomic_open
from utter.backend.classifiers import EmbeddingClassifier, classifier_kind
from utter.data.datadir import sort_key
from utter.data.kaldi_io import read_embeddings
from utter.progress import bar as progress_bar
from utter.transfer.folds import read_targets, select_targets, splits_from_args
from utter.transfer.runs import (
    CLASS_FIGURES,
    REGRESSION_FIGURES,
    fold_dir_name,
    pool_run_dirs,
    run_figures,
    summarise_runs,
    write_run,
)

log = logging.getLogger(__name__)
SKIPPED = "skipped.json"


class CannotFit(ValueError):
    """The classifier cannot be fitted on this training set (the data, not a bug, rules it out)."""


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
        return classifier_kind(self.kind).regression

    @property
    def tuned(self) -> str:
        """The option a grid search tunes (C, alpha), ``""`` when the kind has none."""
        return classifier_kind(self.kind).tuned

    def build(self, value: float | None = None) -> EmbeddingClassifier:
        """The classifier, with ``value`` as its tuned option (C, alpha) instead of the configured one."""
        kind = classifier_kind(self.kind)
        opts = dict(self.extra)
        opts.update({name: getattr(self, name) for name in kind.options})
        if value is not None and kind.tuned:
            opts[kind.tuned] = value
        return kind.cls(**opts)


def _embeddings(scp: str) -> dict[str, np.ndarray]:
    ids, x = read_embeddings(scp)
    return dict(zip(ids, x))


def _matrix(emb: Mapping[str, np.ndarray], utts: Sequence[str], scp: str) -> np.ndarray:
    missing = [u for u in utts if u not in emb]
    if missing:
        raise ValueError(f"{scp}: no embedding for {len(missing)} utterances, e.g. {missing[:3]}")
    return np.stack([emb[u] for u in utts])


def _fit_one(opts: FrozenOptions, x, y, xd, yd, split: str):
    """Fit on train (:class:`CannotFit` when the training set rules the classifier out)."""
    try:
        return _fit_grid(opts, x, y, xd, yd, split)
    except (ValueError, np.linalg.LinAlgError, RuntimeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CannotFit(f"{opts.kind} cannot be fitted on fold {split} ({x.shape[0]} training embeddings of "
                        f"dimension {x.shape[1]}): {reason}") from e


def _fit_grid(opts: FrozenOptions, x, y, xd, yd, split: str):
    """Fit on train; with a grid and a dev list keep the value with the best dev UA (regression: RMSE)."""
    if not opts.grid or xd is None or not opts.tuned:
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
    out = Path(out_dir)
    reg = opts.regression
    targets = read_targets(data_dir, label_table, reg)
    test_targets = read_targets(test_data, label_table, reg) if test_data else None
    splits = splits_from_args(folds_dir, max_folds, targets, test_targets)
    emb = _embeddings(emb_scp)
    temb = _embeddings(test_emb) if test_emb else emb
    labels = None if reg else sorted(set(targets.values()), key=sort_key)
    runs, pooled, dirs = [], {}, []
    (out / SKIPPED).unlink(missing_ok=True)
    for sp in progress_bar(splits, desc="folds", unit="fold", tty=tqdm):
        run_dir = out / (fold_dir_name(sp.name) if folds_dir else "test")
        tt = test_targets if test_targets is not None and not folds_dir else targets
        tr = select_targets(sp.train, targets, f"fold {sp.name} train", reg)
        te = select_targets(sp.test, tt, f"fold {sp.name} test", reg)
        dv = select_targets(sp.dev, targets, f"fold {sp.name} dev", reg)
        x, y = _matrix(emb, tr, emb_scp), [targets[u] for u in tr]
        xd = _matrix(emb, dv, emb_scp) if dv else None
        try:
            model, chosen = _fit_one(opts, x, y, xd, [targets[u] for u in dv], sp.name)
        except CannotFit as e:
            return _skip(out, opts.kind, sp.name, str(e))
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


def _skip(out: Path, kind: str, fold: str, reason: str) -> dict:
    """Record a classifier that cannot be fitted (``out/skipped.json``) and say so in one line."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").unlink(missing_ok=True)
    info = {"skipped": True, "classifier": kind, "fold": fold, "reason": reason}
    with atomic_open(out / SKIPPED, "w") as f:
        f.write(json.dumps(info, indent=1) + "\n")
    log.warning("skipping the %s classifier: %s", kind, reason)
    return info


def _brief(figs: Mapping, regression: bool) -> str:
    keys = REGRESSION_FIGURES if regression else CLASS_FIGURES
    return " ".join(f"{k} {figs[k]:.4f}" for k in keys if figs.get(k) is not None)
