"""Fine-tuning a pretrained embedding network for utterance classification, per fold and seed.

:class:`ClassificationObjective` (network -> :class:`~utter.nnet.heads.ClassifierHead`,
cross-entropy) runs in the one :class:`~utter.train.trainer.Trainer`; which network
parameters it trains is a list of names, so the strategies are stages of it:

* ``full``: every parameter at once;
* ``affine-then-full`` (the paper's best): stage 1 trains only ``network.last_affine()`` and
  the head, stage 2 every parameter at a lower learning rate;
* ``head-only``: the network frozen (the head on fixed embeddings; an adapter is this with
  :class:`~utter.nnet.adapter.Adapter` as the head).

Frozen layers are also kept in eval mode, so their batch-norm statistics stay as pretrained.
With a dev list the model is evaluated on it every ``eval_interval`` steps (and at the end)
and the weights with the best dev UA are kept; they are part of the objective's checkpoint
state, so a resumed run keeps them. Runs are laid out as ``OUT/fold<k>/seed<s>/{stage1,stage2
or train}/`` (trainer checkpoints; ``selected.pt`` once a stage is done) and a run's
``results.json`` marks it finished, so a killed job continues where it stopped.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from utter.atomic import atomic_path
from utter.backend.transfer import (
    Split,
    completed_run,
    pool_run_dirs,
    read_targets,
    splits_from_args,
    summarise_runs,
    write_run,
)
from utter.data.datadir import DataDir, read_table, sort_key
from utter.metrics.classification import classification_report
from utter.nnet.heads import ClassifierHead
from utter.train.checkpoint import CheckpointError
from utter.train.trainer import Objective, TrainConfig, Trainer, preserved_rng, seed_everything

log = logging.getLogger(__name__)

STRATEGIES = ("full", "affine-then-full", "head-only")


# ---------------------------------------------------------------- objective

def predict_utterances(model: nn.Module, head: nn.Module, loader_factory) -> tuple[list[str], np.ndarray]:
    """(utterance ids, log-posteriors [N, C]) of whole utterances from an ``utterance_loader_factory``."""
    device = next(head.parameters()).device
    modes = [(m, m.training) for m in (model, head)]
    model.eval()
    head.eval()
    utts: list[str] = []
    out: list[np.ndarray] = []
    try:
        with torch.no_grad(), preserved_rng():
            for batch in loader_factory(0, 0, 1, 0):
                emb = model(batch["feats"].to(device), batch["feats_lengths"].to(device))
                out.append(F.log_softmax(head(emb).float(), dim=1).cpu().numpy().astype(np.float64))
                utts += list(batch["utts"])
    finally:
        for m, was in modes:
            m.train(was)
    return utts, np.concatenate(out)


class ClassificationObjective(Objective):
    """Cross-entropy over ``head(network(feats))``; trains the network parameters named in
    ``train_params`` (None: all; ``[]``: none) and the whole head.

    Batches from ``utter.data.dataset.chunk_loader_factory`` (``feats``, ``feats_lengths``,
    ``labels``). ``evaluator(objective) -> float`` (higher is better) is called every
    ``eval_interval`` steps and after the last step; the best weights are kept in
    :attr:`best` and in the checkpoint state.
    """

    def __init__(self, network: nn.Module, label_map: Mapping[str, int], *, head: nn.Module | None = None,
                 train_params: Sequence[str] | None = None, specaug: nn.Module | None = None,
                 evaluator: Callable[[ClassificationObjective], float] | None = None,
                 eval_interval: int = 0) -> None:
        if sorted(label_map.values()) != list(range(len(label_map))) or len(label_map) < 2:
            raise ValueError("label map must give at least two labels the indices 0 .. number of labels - 1")
        self.model = network
        self.label_map = dict(label_map)
        self.head = head if head is not None else ClassifierHead(network.embed_dim, len(label_map))
        names = dict(network.named_parameters())
        if train_params is not None:
            unknown = sorted(set(train_params) - set(names))
            if unknown:
                raise ValueError(f"parameters to train not in the network: {unknown[:5]}")
        self.train_params = None if train_params is None else set(train_params)
        for n, p in names.items():
            p.requires_grad_(self.train_params is None or n in self.train_params)
        self.specaug = specaug
        self.evaluator, self.eval_interval = evaluator, int(eval_interval)
        self.total_steps = 0
        self.best: dict[str, Any] = {}

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model, "head": self.head}

    def param_groups(self) -> list[dict[str, Any]]:
        decay, no_decay = [], []
        for m in (self.model, self.head):
            for n, p in m.named_parameters():
                if p.requires_grad:
                    (no_decay if n.endswith(".bias") or p.ndim <= 1 else decay).append(p)
        groups = [{"params": decay, "wd_scale": 1.0, "name": "decay"},
                  {"params": no_decay, "wd_scale": 0.0, "name": "no_decay"}]
        return [g for g in groups if g["params"]]

    def train_mode(self) -> None:
        """Training mode, except frozen layers (all own parameters frozen; buffer-only layers too
        when anything is frozen) stay in eval mode."""
        self.model.train()
        self.head.train()
        if self.train_params is None:
            return
        for m in self.model.modules():
            own = list(m.parameters(recurse=False))
            if (own and not any(p.requires_grad for p in own)) or (not own and list(m.buffers(recurse=False))):
                m.eval()

    def begin_training(self, total_steps: int, steps_per_epoch: int) -> None:
        self.total_steps = total_steps

    def loss(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        feats, lengths, labels = batch["feats"], batch["feats_lengths"], batch["labels"]
        if self.specaug is not None:
            feats = self.specaug(feats, lengths)
        with torch.set_grad_enabled(self.train_params is None or bool(self.train_params)):
            emb = self.model(feats, lengths)
        logits = self.head(emb)
        loss = F.cross_entropy(logits.float(), labels)
        acc = float((logits.detach().argmax(1) == labels).float().mean())
        return loss, {"acc": acc}

    def after_step(self, step: int) -> None:
        done = step + 1
        if self.evaluator is None:
            return
        if not (done == self.total_steps or (self.eval_interval and done % self.eval_interval == 0)):
            return
        score = float(self.evaluator(self))
        log.info("step %d: dev score %.4f (best %s)", done, score,
                 f"{self.best['score']:.4f} at step {self.best['step']}" if self.best else "none yet")
        if not self.best or score > self.best["score"]:
            self.best = {"score": score, "step": done,
                         "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
                         "head": {k: v.detach().cpu().clone() for k, v in self.head.state_dict().items()}}
        self.train_mode()

    def state_dict(self) -> dict[str, Any]:
        return {"label_map": dict(self.label_map), "best": self.best}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("label_map") != self.label_map:
            raise CheckpointError("checkpoint label map differs from this training set's: "
                                  "train into a new experiment dir")
        self.best = state.get("best") or {}

    def selected_state(self) -> dict[str, Any]:
        """Weights to keep after training: the best on dev when evaluated, else the current ones."""
        if self.best:
            return {"model": self.best["model"], "head": self.best["head"], "step": self.best["step"],
                    "dev_score": self.best["score"]}
        return {"model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
                "head": {k: v.detach().cpu().clone() for k, v in self.head.state_dict().items()},
                "step": self.total_steps, "dev_score": None}


# ---------------------------------------------------------------- options

@dataclass
class FinetuneOptions:
    """Strategy, data and head settings; ``train`` is stage 1 (or the only stage), ``stage2`` the
    full-network stage of ``affine-then-full`` (its learning rate is the lower one). With
    ``train.steps_per_epoch`` set, an epoch is that many class-balanced batches (else one pass)."""

    strategy: str = "affine-then-full"
    train: TrainConfig = field(default_factory=TrainConfig)
    stage2: TrainConfig | None = None
    label_table: str = "utt2emo"
    chunk_frames: int = 400
    min_frames: int = 50
    batch_size: int = 32
    balanced: bool = True
    head_hidden: tuple[int, ...] = ()
    head_dropout: float = 0.0
    eval_interval: int = 0
    eval_batch_size: int = 16
    eval_max_frames: int = 0
    apply_vad: bool = True
    cmn_window: int = 300
    num_workers: int = 0
    specaug: nn.Module | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown fine-tuning strategy '{self.strategy}'; choose from {', '.join(STRATEGIES)}")
        if self.strategy == "affine-then-full" and self.stage2 is None:
            raise ValueError("affine-then-full needs the stage-2 training settings")

    def stages(self, network: nn.Module) -> list[tuple[str, list[str] | None, TrainConfig]]:
        """(name, network parameters to train or None for all, training config) per stage."""
        if self.strategy == "full":
            return [("train", None, self.train)]
        if self.strategy == "head-only":
            return [("train", [], self.train)]
        affine = network.last_affine()
        if not affine:
            raise ValueError(f"network {network.config.get('arch')} names no last affine parameters")
        return [("stage1", affine, self.train), ("stage2", None, self.stage2)]


# ---------------------------------------------------------------- per-fold data

def fold_train_dirs(data_dir: str | os.PathLike, aug_dirs: Sequence[str | os.PathLike], utts: Sequence[str],
                    dest: Path) -> list[str]:
    """Subsets of the data dir (and of the augmented copies whose source is in ``utts``) for one
    fold's training list, written once under ``dest`` (reused when complete)."""
    from utter.data.dirtools import subset_data_dir

    out = []
    keep = set(utts)
    for i, src in enumerate([data_dir, *aug_dirs]):
        d = dest / ("train" if i == 0 else f"train_aug{i}")
        if i == 0:
            wanted = sorted(keep, key=sort_key)
        else:
            table = DataDir(src).file("utt2orig")
            if not Path(table).is_file():
                raise ValueError(f"{table}: augmented data dir without utt2orig")
            wanted = sorted((c for c, o in read_table(table).items() if o.split()[0] in keep), key=sort_key)
            if not wanted:
                raise ValueError(f"{src}: no augmented copy of this fold's training utterances")
        if not (d / ".done").is_file():
            with atomic_path(d.parent / f"{d.name}.list") as tmp:
                Path(tmp).write_text("".join(f"{u}\n" for u in wanted))
            subset_data_dir(src, d, mode="utt-list", id_list=d.parent / f"{d.name}.list")
            (d / ".done").write_text("")
        out.append(str(d))
    return out


# ---------------------------------------------------------------- one run

def _train_stage(objective: ClassificationObjective, factory, cfg: TrainConfig, stage_dir: Path,
                 run_config: dict) -> dict[str, Any]:
    selected = stage_dir / "selected.pt"
    if selected.is_file():
        state = torch.load(selected, map_location="cpu", weights_only=True)
        log.info("%s: stage already done (selected weights from step %s)", stage_dir, state["step"])
        return state
    Trainer(objective, factory, cfg, stage_dir, run_config).train(resume=True)
    state = objective.selected_state()
    with atomic_path(selected) as tmp:
        torch.save(state, tmp)
    return state


def finetune_run(pretrained: str | os.PathLike, train_dirs: Sequence[str], labels: Sequence[str],
                 split: Split, test_data: str | os.PathLike, dev_data: str | os.PathLike, run_dir: Path,
                 opts: FinetuneOptions, seed: int, targets: Mapping[str, str], test_targets: Mapping[str, str],
                 info: Mapping | None = None) -> dict:
    """Fine-tune for one (fold, seed) in ``run_dir`` and evaluate on the fold's test list."""
    from utter.data.dataset import chunk_loader_factory, utterance_loader_factory
    from utter.train.checkpoint import load_embedder

    done = completed_run(run_dir)
    if done is not None:
        log.info("%s: done already (%s)", run_dir, ", ".join(f"{k} {done[k]:.4f}" for k in ("UA", "WA")))
        return done
    device = opts.train.device
    seed_everything(seed)
    net = load_embedder(pretrained, device="cpu").train()
    head = ClassifierHead(net.embed_dim, len(labels), hidden=opts.head_hidden, dropout=opts.head_dropout)
    label_map = {lab: i for i, lab in enumerate(labels)}
    reader_opts = dict(apply_vad=opts.apply_vad, cmn_window=opts.cmn_window)

    def utt_loader(data, utts):
        return utterance_loader_factory(data, utts=utts, batch_size=opts.eval_batch_size,
                                        max_frames=opts.eval_max_frames or None, **reader_opts)

    evaluator = None
    if split.dev:
        dev_loader = utt_loader(dev_data, split.dev)

        def evaluator(obj: ClassificationObjective) -> float:
            utts, lp = predict_utterances(obj.model, obj.head, dev_loader)
            return classification_report([targets[u] for u in utts], [labels[i] for i in lp.argmax(1)],
                                         labels)["UA"]

    factory = chunk_loader_factory(train_dirs, batch_size=opts.batch_size, chunk_frames=opts.chunk_frames or None,
                                   seed=seed, label_table=opts.label_table, labels=labels, balanced=opts.balanced,
                                   min_frames=opts.min_frames, num_workers=opts.num_workers,
                                   num_batches=opts.train.steps_per_epoch or None, **reader_opts)
    state = None
    stage_info = []
    for name, params, cfg in opts.stages(net):
        if state is not None:
            net.load_state_dict(state["model"])
            head.load_state_dict(state["head"])
        cfg = dataclasses.replace(cfg, seed=seed, steps_per_epoch=opts.train.steps_per_epoch)
        objective = ClassificationObjective(net, label_map, head=head, train_params=params, specaug=opts.specaug,
                                            evaluator=evaluator, eval_interval=opts.eval_interval)
        run_config = {"stage": name, "strategy": opts.strategy, "fold": split.name, "seed": seed,
                      "pretrained": str(pretrained), "chunk_frames": opts.chunk_frames, **dict(info or {})}
        state = _train_stage(objective, factory, cfg, run_dir / name, run_config)
        stage_info.append({"stage": name, "selected_step": state["step"], "dev_UA": state["dev_score"],
                           "lr": cfg.lr, "trained_params": "all" if params is None else len(params)})
    net.load_state_dict(state["model"])
    head.load_state_dict(state["head"])
    net.to(device)
    head.to(device)
    utts, lp = predict_utterances(net, head, utt_loader(test_data, split.test))
    pred = [labels[i] for i in lp.argmax(1)]
    figures = write_run(run_dir, utts, [test_targets[u] for u in utts], pred, lp, labels,
                        {"fold": split.name, "seed": seed, "strategy": opts.strategy, "stages": stage_info,
                         "num_train": len(split.train), "num_dev": len(split.dev), **dict(info or {})})
    log.info("fold %s seed %d: UA %.4f WA %.4f macro-F1 %.4f", split.name, seed, figures["UA"], figures["WA"],
             figures["macro_f1"])
    return figures


# ---------------------------------------------------------------- folds x seeds

def run_finetune(pretrained: str | os.PathLike, data_dir: str | os.PathLike, out_dir: str | os.PathLike,
                 opts: FinetuneOptions, *, seeds: Sequence[int] = (0,), folds_dir: str | None = None,
                 max_folds: int = 0, only_folds: Sequence[str] = (), test_data: str | None = None,
                 aug_dirs: Sequence[str] = (), summarise: bool = True, train: bool = True) -> dict | None:
    """Fine-tune and test every (fold, seed) not done yet under ``out_dir``; then, unless some are
    still missing (or ``summarise`` is false), write the summary ``results.json``."""
    out = Path(out_dir)
    targets = read_targets(data_dir, opts.label_table)
    test_targets = read_targets(test_data, opts.label_table) if test_data else None
    labels = sorted(set(targets.values()), key=sort_key)
    splits = splits_from_args(folds_dir, max_folds, targets, test_targets, only_folds)
    if only_folds and len(splits) != len(set(only_folds)):
        raise ValueError(f"folds {list(only_folds)} not all in {folds_dir}")
    info = {"pretrained": str(pretrained), "strategy": opts.strategy, "chunk_frames": opts.chunk_frames,
            "augmented": bool(aug_dirs)}
    runs: list[dict] = []
    for sp in splits:
        fold_dir = out / (f"fold{sp.name}" if folds_dir else "test")
        for u in sp.train + sp.dev:
            if u not in targets:
                raise ValueError(f"fold {sp.name}: {u} has no entry in {opts.label_table}")
        tt = targets if folds_dir else test_targets
        for seed in seeds:
            run_dir = fold_dir / f"seed{seed}"
            if not train:
                res = completed_run(run_dir)
                if res is None:
                    raise ValueError(f"{run_dir}: not finished (no results.json); run the training jobs first")
                runs.append(res)
                continue
            dirs = fold_train_dirs(data_dir, aug_dirs, sp.train, fold_dir / "data")
            runs.append(finetune_run(pretrained, dirs, labels, sp, test_data or data_dir, data_dir, run_dir, opts,
                                     seed, targets, tt, info))
    if not summarise:
        return None
    first = [out / (f"fold{sp.name}" if folds_dir else "test") / f"seed{seeds[0]}" for sp in splits]
    pooled = {}
    for d in first:
        for u, p in read_table(d / "predictions").items():
            pooled[u] = ((targets if folds_dir else test_targets)[u], p)
    pool_run_dirs(first, out, labels)
    return summarise_runs(out, runs, pooled, labels, {"system": out.name, **info,
                                                      "protocol": "cross-validation" if folds_dir else "train-test"})

