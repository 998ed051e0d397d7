"""Lux et al.'s step 1: improve a pretrained network's embedding space with L = L_triplet + lambda * L_BT.

:class:`ContrastiveObjective` runs in the one trainer over class-aware triplet batches
(``utter.data.triplets``): time masking on the inputs, the network embeds anchor, positive
and negative crops (in one forward pass), and ``utter.ssl.contrastive``'s
``ContrastiveNonContrastiveLoss`` gives the triplet loss (cosine distance, margin 1.0) plus
lambda times Barlow Twins on the 3-layer projector over anchor/positive pairs.
:func:`run_contrastive_folds` trains one model per cross-validation fold on the fold's
training list only, and reports the embedding-space figures (``utter.metrics.embedding_space``)
of the fold's train/test embeddings before and after.

Pretrained networks are utter checkpoints (DINO teacher, x-vector; any ``final.pt``) or
wav2vec 2.0 / HuBERT checkpoints (torchaudio ``.pt`` or a Hugging Face directory).
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

from utter.nnet.specaug import SpecAugment
from utter.nnet.ssl_frontends import input_kind, load_ssl_frontend
from utter.ssl.contrastive import ContrastiveNonContrastiveLoss
from utter.train.checkpoint import load_embedder
from utter.train.trainer import Objective, TrainConfig, Trainer, seed_everything

log = logging.getLogger(__name__)

GROUPS = ("anchor", "positive", "negative")


# ---------------------------------------------------------------- networks

@dataclass
class PretrainedSpec:
    """Where the pretrained network comes from, and how an SSL checkpoint is pooled."""

    path: str
    ssl_layer: int = 0
    ssl_pooling: str = "mean_std"
    ssl_arch: str | None = None

    def load(self) -> nn.Module:
        return load_pretrained(self.path, ssl_layer=self.ssl_layer, ssl_pooling=self.ssl_pooling,
                               ssl_arch=self.ssl_arch)


def load_pretrained(path: str | os.PathLike, *, ssl_layer: int = 0, ssl_pooling: str = "mean_std",
                    ssl_arch: str | None = None) -> nn.Module:
    """An utter checkpoint's network, or an SSL frontend from a HF dir / torchaudio ``.pt``."""
    path = Path(path)
    if path.is_dir():
        return load_ssl_frontend(path, arch=ssl_arch, layer=ssl_layer, pooling=ssl_pooling)
    if not path.is_file():
        raise OSError(f"{path}: no such pretrained model")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "format_version" in state:
        return load_embedder(path)
    return load_ssl_frontend(path, arch=ssl_arch, layer=ssl_layer, pooling=ssl_pooling)


# ---------------------------------------------------------------- objective

class ContrastiveObjective(Objective):
    """Triplet (cosine, margin) + lambda * Barlow Twins (projector) over triplet batches.

    ``time_mask_prob``/``time_mask_len``: wav2vec 2.0 span masking of the inputs in training
    (fbank frames through SpecAugment; for waveform networks on their 20 ms encoder frames).
    ``time_mask_len`` 0 picks 2 encoder frames for waveform networks (Lux et al.'s setting)
    and 4 fbank frames (the same 40 ms) otherwise.
    """

    def __init__(self, network: nn.Module, *, lambda_bt: float = 0.01, margin: float = 1.0, proj_dim: int = 64,
                 proj_layers: int = 3, offdiag_weight: float = 0.0051, triplet_on: str = "projector",
                 time_mask_prob: float = 0.2, time_mask_len: int = 0):
        self.model = network
        self.criterion = ContrastiveNonContrastiveLoss(network.embed_dim, lambda_bt=lambda_bt, margin=margin,
                                                       proj_dim=proj_dim, proj_layers=proj_layers,
                                                       offdiag_weight=offdiag_weight, triplet_on=triplet_on)
        self.waveform = input_kind(network) == "waveform"
        span = time_mask_len or (2 if self.waveform else 4)
        self.specaug = None
        if time_mask_prob > 0:
            if self.waveform:
                network.set_time_masking(time_mask_prob, span)
            else:
                self.specaug = SpecAugment(time_mask_prob=time_mask_prob, time_mask_len=span)

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "criterion": self.criterion}

    def embed_groups(self, batch: Mapping[str, Any]) -> list[torch.Tensor]:
        """Embeddings of the anchor, positive and negative crops (one padded forward pass)."""
        xs = [batch[g] for g in GROUPS]
        lens = [batch[g + "_lengths"] for g in GROUPS]
        T = max(x.shape[1] for x in xs)
        x = torch.cat([torch.nn.functional.pad(x, (0, 0, 0, T - x.shape[1])) for x in xs])
        lengths = torch.cat(lens)
        if self.specaug is not None and self.model.training:
            x = self.specaug(x, lengths)
        return list(self.model(x, lengths).chunk(3))

    def loss(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        a, p, n = self.embed_groups(batch)
        loss, parts = self.criterion(a, p, n)
        with torch.no_grad():
            cos = torch.nn.functional.cosine_similarity
            gap = float((cos(a, p) - cos(a, n)).mean())
        return loss, {"triplet": float(parts["triplet"]), "barlow_twins": float(parts["barlow_twins"]),
                      "cos_gap": gap}


# ---------------------------------------------------------------- embeddings

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


def embed_utterances(net: nn.Module, data_dir: str | os.PathLike, utts: Sequence[str], *,
                     apply_vad: bool = True, cmn_window: int = 300, device: str | torch.device = "cpu",
                     batch_size: int = 16) -> dict[str, np.ndarray]:
    """utt -> embedding of whole utterances: ``utter.train.extract`` for fbank networks, waveform
    batches (sorted by length) for SSL frontends."""
    device = torch.device(device)
    if input_kind(net) != "waveform":
        from utter.train.extract import ExtractOptions, embed_data_dir

        opts = ExtractOptions(batch_size=batch_size, use_vad=apply_vad, cmn_window=cmn_window)
        return dict(embed_data_dir(net, data_dir, opts, device=device, utts=utts, progress=False))
    from utter.data.dataset import Corpus
    from utter.data.triplets import make_reader, utterance_loader

    reader = make_reader(Corpus(data_dir), utts, waveform=True)
    out: dict[str, np.ndarray] = {}
    net = net.to(device).eval()
    with torch.inference_mode():
        for batch in utterance_loader(reader, utts, batch_size=batch_size)():
            emb = net(batch["feats"].to(device), batch["feats_lengths"].to(device)).float().cpu().numpy()
            for utt, vec in zip(batch["utts"], emb):
                if not np.all(np.isfinite(vec)):
                    raise ValueError(f"{utt}: non-finite embedding")
                out[utt] = vec
    return out


def read_labels(data_dir: str | os.PathLike, label_table: str, utts: Sequence[str]) -> list[str]:
    """The first field of ``label_table`` for each utterance (an error names a missing one)."""
    from utter.data.datadir import DataDir

    d = DataDir(data_dir)
    table = d.read(label_table)
    missing = [u for u in utts if u not in table]
    if missing:
        raise ValueError(f"{missing[0]}: no entry in {d.file(label_table)}")
    return [table[u].split()[0] for u in utts]


def space_figures(net: nn.Module, data_dir: str | os.PathLike, fold, opts: DataOptions,
                  device: str | torch.device = "cpu") -> dict[str, float]:
    """Embedding-space figures of a fold: train set (leave-one-out NCM) and test set (vs train means)."""
    from utter.metrics.embedding_space import embedding_space_report

    emb = embed_utterances(net, data_dir, list(fold.train) + list(fold.test), apply_vad=opts.apply_vad,
                           cmn_window=opts.cmn_window, device=device)
    xtr = np.stack([emb[u] for u in fold.train])
    xte = np.stack([emb[u] for u in fold.test])
    return embedding_space_report(xtr, read_labels(data_dir, opts.label_table, fold.train),
                                  xte, read_labels(data_dir, opts.label_table, fold.test))


# ---------------------------------------------------------------- per-fold runs

def fold_dir_name(fold_name: str) -> str:
    """Sub-directory of an experiment for one fold."""
    return f"fold{fold_name}"


def train_fold(pretrained: PretrainedSpec, data_dir: str | os.PathLike, fold, out_dir: str | os.PathLike,
               opts: DataOptions, config: TrainConfig, objective_opts: Mapping[str, Any], *,
               resume: bool = True, run_config: Mapping[str, Any] | None = None) -> Path:
    """Step 1 on one fold's training list; returns ``out_dir/final.pt`` (kept when it exists)."""
    from utter.data.triplets import triplet_loader_factory

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
    objective = ContrastiveObjective(net, **objective_opts)
    result = Trainer(objective, factory, config, out_dir, run_config=dict(run_config or {})).train(resume=resume)
    return result if result is not None else final


def run_contrastive_folds(pretrained: PretrainedSpec, data_dir: str | os.PathLike, folds: Sequence,
                          exp_dir: str | os.PathLike, opts: DataOptions, config: TrainConfig,
                          objective_opts: Mapping[str, Any], *, resume: bool = True,
                          run_config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Step 1 per fold, with embedding-space figures before and after; writes ``exp_dir/results.json``.

    Layout: ``exp_dir/fold<k>/final.pt`` (the trainer's outputs beside it), ``exp_dir/fold<k>/space.json``
    (that fold's figures) and ``exp_dir/results.json`` (per fold, and mean ± std over folds).
    """
    from utter.backend.crossval import mean_std
    from utter.metrics.results import read_results_json, write_results_json

    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    per_fold: dict[str, dict[str, Any]] = {}
    for fold in folds:
        fdir = exp_dir / fold_dir_name(fold.name)
        space = fdir / "space.json"
        if space.is_file() and (fdir / "final.pt").is_file():
            per_fold[fold.name] = read_results_json(space)
            continue
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
    results = {"stage": "contrastive", "pretrained": pretrained.path, "label_table": opts.label_table,
               "folds": per_fold,
               "before": mean_std([r["before"] for r in runs]), "after": mean_std([r["after"] for r in runs])}
    write_results_json(exp_dir / "results.json", results)
    return results


def _fmt(figures: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in figures.items())
