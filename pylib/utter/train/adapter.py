"""Lux et al.'s step 2: a frozen network's embeddings and a small adapter (MLP with dropout) as classifier.

The network is frozen, so each fold's embeddings are extracted once (train, dev and test
utterances, written as a Kaldi ark beside the runs) and the adapter trains on them in
memory: a few seconds per (fold, seed) on a CPU, instead of a network forward pass per step.
That is also why this loop is not the one trainer's: there are no loaders, checkpoints or
schedules to share, only mini-batch Adam with early stopping on the dev set's UA (ties go to
the lower dev loss; the best epoch's weights are kept). Cross-entropy is class-weighted
(inverse frequency) with ``balanced``, as UA weights the classes equally.

Layout (as the fine-tuning stage: one directory per fold and seed, a summary on top)::

    exp/fold<k>/emb.{ark,scp}                  embeddings of the fold's train/dev/test utterances
    exp/fold<k>/seed<s>/adapter.pt             adapter weights and config
    exp/fold<k>/seed<s>/{classes,predictions,scores,results.json}   utter.backend.transfer.write_run
    exp/{predictions,scores,classes,results.json,confusion.png}     summarise_runs: mean ± std over
                                                                    folds × seeds, pooled figures, runs

``results.json`` files are those of the fine-tuning stage (``utter.backend.transfer``), so a
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
import torch.nn.functional as F

from utter.nnet.adapter import Adapter

log = logging.getLogger(__name__)


@dataclass
class AdapterOptions:
    """Adapter architecture and its training."""

    hidden: tuple[int, ...] = (256,)
    dropout: float = 0.5
    input_dropout: float = 0.5
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 32
    max_epochs: int = 100
    patience: int = 10
    balanced: bool = True
    standardize: bool = True

    def __post_init__(self):
        self.hidden = tuple(int(h) for h in self.hidden)
        if self.batch_size < 1 or self.max_epochs < 1 or self.patience < 1 or self.lr <= 0:
            raise ValueError("adapter batch size, epochs and patience must be at least 1 and lr positive")


def _ua(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def train_adapter(x_train: np.ndarray, y_train: np.ndarray, num_classes: int, opts: AdapterOptions, *,
                  x_dev: np.ndarray | None = None, y_dev: np.ndarray | None = None, seed: int = 0,
                  device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train an :class:`~utter.nnet.adapter.Adapter` on embeddings; returns it (eval mode, with
    ``mean``/``scale`` buffers of the input standardisation) and a summary of training."""
    device = torch.device(device)
    gen = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))
    xtr = torch.as_tensor(np.asarray(x_train, dtype=np.float32))
    ytr = torch.as_tensor(np.asarray(y_train, dtype=np.int64))
    if xtr.ndim != 2 or len(xtr) != len(ytr) or len(xtr) == 0:
        raise ValueError(f"adapter training needs [N, D] embeddings and N labels, got {tuple(xtr.shape)}, {len(ytr)}")
    mean = xtr.mean(0) if opts.standardize else torch.zeros(xtr.shape[1])
    scale = xtr.std(0).clamp(min=1e-6) if opts.standardize and len(xtr) > 1 else torch.ones(xtr.shape[1])
    model = Adapter(xtr.shape[1], num_classes, hidden=opts.hidden, dropout=opts.dropout,
                    input_dropout=opts.input_dropout)
    model.register_buffer("mean", mean.clone())
    model.register_buffer("scale", scale.clone())
    model.to(device)
    counts = torch.bincount(ytr, minlength=num_classes).float()
    weight = (counts.sum() / (num_classes * counts.clamp(min=1))).to(device) if opts.balanced else None
    optim = torch.optim.Adam(model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    xtr_n = ((xtr - mean) / scale).to(device)
    ytr = ytr.to(device)
    has_dev = x_dev is not None and len(x_dev) > 0
    if has_dev:
        xdv = ((torch.as_tensor(np.asarray(x_dev, dtype=np.float32)) - mean) / scale).to(device)
        ydv = np.asarray(y_dev, dtype=np.int64)
    best = (-1.0, float("inf"))
    best_state, best_epoch, waited = None, 0, 0
    history = []
    for epoch in range(1, opts.max_epochs + 1):
        model.train()
        perm = torch.randperm(len(xtr_n), generator=gen).to(device)
        total = 0.0
        for i in range(0, len(perm), opts.batch_size):
            idx = perm[i:i + opts.batch_size]
            loss = F.cross_entropy(model(xtr_n[idx]), ytr[idx], weight=weight)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            total += float(loss.detach()) * len(idx)
        row = {"epoch": epoch, "train_loss": total / len(perm)}
        if has_dev:
            model.eval()
            with torch.no_grad():
                logits = model(xdv)
                dev_loss = float(F.cross_entropy(logits, torch.as_tensor(ydv, device=device), weight=weight))
            dev_ua = _ua(logits.argmax(1).cpu().numpy(), ydv)
            row.update(dev_loss=dev_loss, dev_UA=dev_ua)
            if (dev_ua, -dev_loss) > (best[0], -best[1]):
                best, best_epoch, waited = (dev_ua, dev_loss), epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
        history.append(row)
        if has_dev and waited >= opts.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = len(history)
    model.eval()
    info = {"epochs": len(history), "best_epoch": best_epoch, "history": history}
    if has_dev:
        info.update(dev_UA=best[0], dev_loss=best[1])
    return model, info


@torch.no_grad()
def adapter_predict(model: torch.nn.Module, x: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
    """Class posteriors ``[N, C]`` of embeddings through a trained adapter (its standardisation applied)."""
    xt = torch.as_tensor(np.asarray(x, dtype=np.float32)).to(device)
    logits = model((xt - model.mean) / model.scale)
    return torch.softmax(logits, dim=1).cpu().numpy()


def _fold_model(models: str | os.PathLike, fold_name: str) -> Path:
    """A per-fold step-1 model ``models/fold<k>/final.pt``, else ``models`` itself (one model for all)."""
    from utter.train.contrastive import fold_dir_name

    models = Path(models)
    per_fold = models / fold_dir_name(fold_name) / "final.pt"
    if models.is_dir():
        if per_fold.is_file():
            return per_fold
        raise FileNotFoundError(f"{per_fold}: no step-1 model for fold {fold_name}")
    return models


def _fold_embeddings(net_path: Path, data_dir, utts: Sequence[str], out_dir: Path, data_opts,
                     device) -> dict[str, np.ndarray]:
    import kaldiio

    from utter.train.contrastive import embed_utterances, load_pretrained
    from utter.train.extract import write_vectors

    scp = out_dir / "emb.scp"
    if scp.is_file():
        emb = {k: np.asarray(v) for k, v in kaldiio.load_scp(str(scp)).items()}
        if all(u in emb for u in utts):
            return emb
    net = load_pretrained(net_path, ssl_layer=data_opts.ssl_layer, ssl_pooling=data_opts.ssl_pooling)
    emb = embed_utterances(net, data_dir, utts, apply_vad=data_opts.apply_vad, cmn_window=data_opts.cmn_window,
                           device=device)
    write_vectors(emb, out_dir / "emb.ark", scp)
    return emb


@dataclass
class AdapterDataOptions:
    """How embeddings are extracted for the adapter."""

    label_table: str = "utt2emo"
    apply_vad: bool = True
    cmn_window: int = 300
    ssl_layer: int = 0
    ssl_pooling: str = "mean_std"


def run_adapter_folds(models: str | os.PathLike, data_dir: str | os.PathLike, folds: Sequence,
                      exp_dir: str | os.PathLike, seeds: Sequence[int], opts: AdapterOptions,
                      data_opts: AdapterDataOptions, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Adapters per fold × seed on frozen embeddings (layout in the module docstring)."""
    from utter.backend.transfer import completed_run, pool_run_dirs, summarise_runs, write_run
    from utter.data.datadir import DataDir, read_table
    from utter.data.dataset import label_map
    from utter.train.contrastive import fold_dir_name, read_labels

    exp_dir = Path(exp_dir)
    table = DataDir(data_dir).read(data_opts.label_table)
    lmap = label_map([v.split()[0] for v in table.values()])
    names = list(lmap)
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

        (xtr, ytr), (xte, yte) = xy(fold.train), xy(fold.test)
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
            post = adapter_predict(model, xte, device)
            pred = [names[i] for i in post.argmax(1)]
            sdir.mkdir(parents=True, exist_ok=True)
            torch.save({"state_dict": model.state_dict(), "options": asdict(opts), "label_map": lmap,
                        "model": str(net_path)}, sdir / "adapter.pt")
            figures = write_run(sdir, list(fold.test), [names[i] for i in yte], pred, np.log(np.maximum(post, 1e-30)),
                                names, {"fold": fold.name, "seed": seed, "strategy": "adapter",
                                        "model": str(net_path), "num_train": len(fold.train),
                                        "num_dev": len(fold.dev),
                                        "train": {k: v for k, v in info.items() if k != "history"}})
            runs.append(figures)
            log.info("fold %s seed %d: UA %.4f WA %.4f macro-F1 %.4f (best epoch %d)", fold.name, seed,
                     figures["UA"], figures["WA"], figures["macro_f1"], info["best_epoch"])
    first = [exp_dir / fold_dir_name(f.name) / f"seed{seeds[0]}" for f in folds]
    pooled = {}
    for d in first:
        for u, p in read_table(d / "predictions").items():
            pooled[u] = (table[u].split()[0], p)
    pool_run_dirs(first, exp_dir, names)
    return summarise_runs(exp_dir, runs, pooled, names,
                          {"system": exp_dir.name, "pretrained": str(models), "strategy": "adapter",
                           "protocol": "cross-validation", "label_table": data_opts.label_table,
                           "adapter": asdict(opts)})


def format_summary(summary: Mapping[str, Any]) -> str:
    """One line: UA, WA, macro-F1 as mean ± std (percent) over the runs."""
    return str(summary["summary"])
