"""Lux et al.'s step 2 per fold and seed: a frozen network's embeddings and an adapter as classifier.

Each fold's embeddings are extracted once (train, dev and test utterances, written as a Kaldi
ark beside the runs) from the fold's step-1 network (or one network for every fold), and
adapters (:func:`utter.train.adapter.train_adapter`) train on them per seed.

Layout (as the fine-tuning stage: one directory per fold and seed, a summary on top)::

    exp/fold<k>/emb.{ark,scp}                  embeddings of the fold's train/dev/test utterances
    exp/fold<k>/seed<s>/adapter.pt             adapter weights and config
    exp/fold<k>/seed<s>/{classes,predictions,scores,results.json}   utter.transfer.runs.write_run
    exp/{predictions,scores,classes,results.json,confusion.png}     summarise_runs: mean ± std over
                                                                    folds × seeds, pooled figures, runs

``results.json`` files are those of the fine-tuning stage (:mod:`utter.transfer.runs`), so a
recipe's table reads both alike; a run with a ``results.json`` is done and is not trained again.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from utter.data.datadir import DataDir, read_table
from utter.data.dataset import label_map
from utter.data.kaldi_io import open_scp, write_vectors
from utter.train.adapter import AdapterOptions, adapter_predict, train_adapter
from utter.transfer.folds import Split, read_labels, read_targets
from utter.transfer.pretrained import embed_utterances, load_pretrained
from utter.transfer.runs import (
    completed_run,
    fold_dir_name,
    pool_run_dirs,
    pooled_predictions,
    speaker_log_posteriors,
    speaker_targets,
    summarise_runs,
    write_run,
)

log = logging.getLogger(__name__)


@dataclass
class AdapterDataOptions:
    """How embeddings are extracted for the adapter."""

    label_table: str = "utt2emo"
    apply_vad: bool = True
    cmn_window: int = 300
    ssl_layer: int = 0
    ssl_pooling: str = "mean_std"
    score_unit: str = "utterance"   # or "speaker": test figures per speaker (mean posterior of its segments)


def _fold_model(models: str | os.PathLike, fold_name: str) -> Path:
    """A per-fold step-1 model ``models/fold<k>/final.pt``, else ``models`` itself (one model for all)."""
    models = Path(models)
    per_fold = models / fold_dir_name(fold_name) / "final.pt"
    if models.is_dir():
        if per_fold.is_file():
            return per_fold
        raise FileNotFoundError(f"{per_fold}: no step-1 model for fold {fold_name}")
    return models


def _fold_embeddings(net_path: Path, data_dir: str | os.PathLike, utts: Sequence[str], out_dir: Path,
                     data_opts: AdapterDataOptions, device: str | torch.device) -> dict[str, np.ndarray]:
    """The fold's embeddings (``out_dir/emb.scp``), extracted once with the fold's network."""
    scp = out_dir / "emb.scp"
    if scp.is_file():
        emb = {k: np.asarray(v) for k, v in open_scp(scp).items()}
        if all(u in emb for u in utts):
            return emb
    net = load_pretrained(net_path, ssl_layer=data_opts.ssl_layer, ssl_pooling=data_opts.ssl_pooling)
    emb = embed_utterances(net, data_dir, utts, apply_vad=data_opts.apply_vad, cmn_window=data_opts.cmn_window,
                           device=device)
    write_vectors(emb, out_dir / "emb.ark", scp)
    return emb


def run_adapter_folds(models: str | os.PathLike, data_dir: str | os.PathLike, folds: Sequence[Split],
                      exp_dir: str | os.PathLike, seeds: Sequence[int], opts: AdapterOptions,
                      data_opts: AdapterDataOptions, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Adapters per fold × seed on frozen embeddings (layout in the module docstring)."""
    exp_dir = Path(exp_dir)
    targets = read_targets(data_dir, data_opts.label_table)
    lmap = label_map(list(targets.values()))
    names = list(lmap)
    per_speaker = data_opts.score_unit == "speaker"
    utt2spk = read_table(DataDir(data_dir).file("utt2spk")) if per_speaker else {}
    truth = speaker_targets(targets, utt2spk, list(targets)) if per_speaker else targets
    runs: list[dict[str, Any]] = []
    for fold in folds:
        fdir = exp_dir / fold_dir_name(fold.name)
        fdir.mkdir(parents=True, exist_ok=True)
        net_path = _fold_model(models, fold.name)
        utts = list(dict.fromkeys([*fold.train, *fold.dev, *fold.test]))
        emb = _fold_embeddings(net_path, data_dir, utts, fdir, data_opts, device)

        def xy(us: Sequence[str], emb=emb) -> tuple[np.ndarray, np.ndarray]:
            labs = read_labels(data_dir, data_opts.label_table, us)
            return np.stack([emb[u] for u in us]), np.array([lmap[lab] for lab in labs], dtype=np.int64)

        (xtr, ytr), (xte, _) = xy(fold.train), xy(fold.test)
        xdv, ydv = xy(fold.dev) if fold.dev else (None, None)
        if not fold.dev:
            log.warning("fold %s has no dev list: adapters train %d epochs without early stopping",
                        fold.name, opts.max_epochs)
        for seed in seeds:
            sdir = fdir / f"seed{seed}"
            done = completed_run(sdir)
            if done is not None:
                runs.append(done)
                continue
            model, info = train_adapter(xtr, ytr, len(names), opts, x_dev=xdv, y_dev=ydv, seed=seed, device=device)
            keys, lp = list(fold.test), np.log(np.maximum(adapter_predict(model, xte, device), 1e-30))
            if per_speaker:
                keys, lp = speaker_log_posteriors(keys, lp, utt2spk)
            pred = [names[i] for i in lp.argmax(1)]
            sdir.mkdir(parents=True, exist_ok=True)
            torch.save({"state_dict": model.state_dict(), "options": asdict(opts), "label_map": lmap,
                        "model": str(net_path)}, sdir / "adapter.pt")
            figures = write_run(sdir, keys, [truth[k] for k in keys], pred, lp,
                                names, {"fold": fold.name, "seed": seed, "strategy": "adapter",
                                        "model": str(net_path), "num_train": len(fold.train),
                                        "num_dev": len(fold.dev), "score_unit": data_opts.score_unit,
                                        "train": {k: v for k, v in info.items() if k != "history"}})
            runs.append(figures)
            log.info("fold %s seed %d: UA %.4f WA %.4f macro-F1 %.4f (best epoch %d)", fold.name, seed,
                     figures["UA"], figures["WA"], figures["macro_f1"], info["best_epoch"])
    first = [exp_dir / fold_dir_name(f.name) / f"seed{seeds[0]}" for f in folds]
    pooled = pooled_predictions(first, truth)
    pool_run_dirs(first, exp_dir, names)
    return summarise_runs(exp_dir, runs, pooled, names,
                          {"system": exp_dir.name, "pretrained": str(models), "strategy": "adapter",
                           "protocol": "cross-validation", "label_table": data_opts.label_table,
                           "adapter": asdict(opts)})


def format_summary(summary: Mapping[str, Any]) -> str:
    """One line: UA, WA, macro-F1 as mean ± std (percent) over the runs."""
    return str(summary["summary"])
