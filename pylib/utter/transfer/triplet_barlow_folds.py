"""Lux et al.'s step 1 per cross-validation fold, with the embedding space measured before and after.

:func:`run_triplet_barlow_folds` trains one model per fold with the
:class:`~utter.train.objectives.triplet_barlow.TripletBarlowObjective` (triplet + lambda * Barlow
Twins) on the fold's training list only, and reports the embedding-space figures
(:mod:`utter.metrics.embedding_space`) of the fold's train/test embeddings before and after.
Step 2 (an adapter on the frozen step-1 networks) is :mod:`utter.transfer.adapter`.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from utter.data.triplets import triplet_loader_factory
from utter.metrics.embedding_space import embedding_space_report
from utter.metrics.results import read_results_json, write_results_json
from utter.nnet.ssl_frontends import input_kind
from utter.train.checkpoint import load_embedder
from utter.train.config import TrainConfig
from utter.train.objectives.triplet_barlow import TripletBarlowObjective
from utter.train.rng import seed_everything
from utter.train.trainer import Trainer
from utter.transfer.folds import Split, read_labels
from utter.transfer.pretrained import PretrainedSpec, embed_utterances
from utter.transfer.runs import fold_dir_name, mean_std

log = logging.getLogger(__name__)


@dataclass
class DataOptions:
    """How a fold's utterances are read (as in training)."""

    label_table: str = "utt2emo"
    apply_vad: bool = True
    cmn_window: int = 300
    chunk_frames: int = 200
    min_frames: int = 1
    batch_size: int = 32
    num_workers: int = 0
    aug_data: list[str] = field(default_factory=list)


def space_figures(net: nn.Module, data_dir: str | os.PathLike, fold: Split, opts: DataOptions,
                  device: str | torch.device = "cpu") -> dict[str, float]:
    """Embedding-space figures of a fold: train set (leave-one-out NCM) and test set (vs train means)."""
    emb = embed_utterances(net, data_dir, list(fold.train) + list(fold.test), apply_vad=opts.apply_vad,
                           cmn_window=opts.cmn_window, device=device)
    xtr = np.stack([emb[u] for u in fold.train])
    xte = np.stack([emb[u] for u in fold.test])
    return embedding_space_report(xtr, read_labels(data_dir, opts.label_table, fold.train),
                                  xte, read_labels(data_dir, opts.label_table, fold.test))


def train_fold(pretrained: PretrainedSpec, data_dir: str | os.PathLike, fold: Split, out_dir: str | os.PathLike,
               opts: DataOptions, config: TrainConfig, objective_opts: Mapping[str, Any], *,
               resume: bool = True, run_config: Mapping[str, Any] | None = None) -> Path:
    """Step 1 on one fold's training list; returns ``out_dir/final.pt`` (kept when it exists)."""
    out_dir = Path(out_dir)
    final = out_dir / "final.pt"
    if final.is_file():
        log.info("%s exists: fold %s already trained", final, fold.name)
        return final
    seed_everything(config.seed)  # the projector's initial weights follow the run's seed
    net = pretrained.load()
    factory = triplet_loader_factory([data_dir, *opts.aug_data], batch_size=opts.batch_size,
                                     label_table=opts.label_table, utts=fold.train,
                                     chunk_frames=opts.chunk_frames or None, seed=config.seed,
                                     num_workers=opts.num_workers, min_frames=opts.min_frames,
                                     waveform=input_kind(net) == "waveform", apply_vad=opts.apply_vad,
                                     cmn_window=opts.cmn_window)
    objective = TripletBarlowObjective(net, **objective_opts)
    result = Trainer(objective, factory, config, out_dir, run_config=dict(run_config or {})).train(resume=resume)
    return result if result is not None else final


def run_triplet_barlow_folds(pretrained: PretrainedSpec, data_dir: str | os.PathLike, folds: Sequence[Split],
                          exp_dir: str | os.PathLike, opts: DataOptions, config: TrainConfig,
                          objective_opts: Mapping[str, Any], *, resume: bool = True,
                          run_config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Step 1 per fold, with embedding-space figures before and after; writes ``exp_dir/results.json``.

    Layout: ``exp_dir/fold<k>/final.pt`` (the trainer's outputs beside it), ``exp_dir/fold<k>/space.json``
    (that fold's figures) and ``exp_dir/results.json`` (per fold, and mean ± std over folds).
    """
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    per_fold: dict[str, dict[str, Any]] = {}
    for fold in folds:
        fdir = exp_dir / fold_dir_name(fold.name)
        space = fdir / "space.json"
        if space.is_file() and (fdir / "final.pt").is_file():
            try:
                per_fold[fold.name] = read_results_json(space)
                continue
            except ValueError as e:   # half written: the fold's figures are computed again
                log.warning("%s: fold %s is evaluated again (its final.pt is kept)", e, fold.name)
        fdir.mkdir(parents=True, exist_ok=True)
        before = space_figures(pretrained.load(), data_dir, fold, opts, config.device)
        log.info("fold %s before step 1: %s", fold.name, _fmt(before))
        final = train_fold(pretrained, data_dir, fold, fdir, opts, config, objective_opts, resume=resume,
                           run_config=run_config)
        after = space_figures(load_embedder(final), data_dir, fold, opts, config.device)
        log.info("fold %s after step 1: %s", fold.name, _fmt(after))
        figures = {"fold": fold.name, "model": str(final), "before": before, "after": after,
                   "n_train": len(fold.train), "n_test": len(fold.test)}
        write_results_json(space, figures)
        per_fold[fold.name] = figures
    runs = list(per_fold.values())
    results = {"stage": "triplet_barlow", "pretrained": pretrained.path, "label_table": opts.label_table,
               "folds": per_fold,
               "before": mean_std([r["before"] for r in runs]), "after": mean_std([r["after"] for r in runs])}
    write_results_json(exp_dir / "results.json", results)
    return results


def _fmt(figures: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in figures.items())
