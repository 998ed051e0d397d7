"""Fine-tuning a pretrained embedding network for utterance classification, per fold and seed.

The :class:`~utter.train.objectives.classification.ClassificationObjective` runs in the one
trainer; a strategy is a sequence of stages of it, each naming the network parameters it trains:

* ``full``: every parameter at once (with ``equal_budget``, for as many steps as the two stages
  of ``affine-then-full`` together);
* ``affine-then-full`` (the paper's best): stage 1 trains only ``network.last_affine()`` and
  the head, stage 2 every parameter at a lower learning rate; with ``stage1_patience`` stage 1
  trains until dev UA stops improving (early stopping, at most its length) and stage 2 gets the
  steps stage 1 left, so the two stages together keep ``full``'s budget;
* ``head-only``: the network frozen (the head on fixed embeddings).

With a dev list the model is evaluated on it every ``eval_interval`` steps (and at the end)
and the weights with the best dev UA are kept. Runs are laid out as ``OUT/fold<k>/seed<s>/{stage1,stage2
or train}/`` (trainer checkpoints; ``selected.pt`` once a stage is done) and a run's
``results.json`` marks it finished (:mod:`~utter.transfer.runs`), so a killed job continues
where it stopped.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from utter.atomic import atomic_path
from utter.data.datadir import DataDir, read_table, sort_key
from utter.data.dataset import chunk_loader_factory, utterance_loader_factory
from utter.data.dirtools.subset import subset_data_dir
from utter.metrics.classification import classification_report
from utter.nnet.heads import ClassifierHead
from utter.train.checkpoint import load_embedder
from utter.train.config import TrainConfig
from utter.train.objectives.classification import ClassificationObjective, predict_utterances
from utter.train.rng import seed_everything
from utter.train.trainer import Trainer
from utter.transfer.folds import Split, read_targets, splits_from_args
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

STRATEGIES = ("full", "affine-then-full", "head-only")
#: What a decision is about: each test utterance (segment), or each speaker (its segments'
#: posteriors averaged: ADReSS, where a diagnosis is per participant).
SCORE_UNITS = ("utterance", "speaker")


# ---------------------------------------------------------------- options

@dataclass
class FinetuneOptions:
    """Strategy, data and head settings; ``train`` is stage 1 (or the only stage), ``stage2`` the
    full-network stage of ``affine-then-full`` (its learning rate is the lower one). With
    ``train.steps_per_epoch`` set, an epoch is that many class-balanced batches (else one pass).
    ``score_unit="speaker"``: dev selection and test figures are per speaker (utt2spk of the data),
    each speaker decided by the mean posterior of its segments. ``stage1_patience`` N > 0: stage 1
    of ``affine-then-full`` stops after N dev evaluations (every ``eval_interval`` steps) without a
    better UA, and stage 2 trains its own length plus the steps stage 1 did not use."""

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
    equal_budget: bool = True
    score_unit: str = "utterance"
    stage1_patience: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown fine-tuning strategy '{self.strategy}'; choose from {', '.join(STRATEGIES)}")
        if self.score_unit not in SCORE_UNITS:
            raise ValueError(f"unknown score unit '{self.score_unit}'; choose from {', '.join(SCORE_UNITS)}")
        if self.strategy == "affine-then-full" and self.stage2 is None:
            raise ValueError("affine-then-full needs the stage-2 training settings")
        if self.stage1_patience < 0:
            raise ValueError(f"stage-1 patience must not be negative, got {self.stage1_patience}")
        if self.stage1_patience and self.strategy == "affine-then-full":  # the other strategies have no stage 1
            if self.eval_interval <= 0:
                raise ValueError("stage-1 patience needs dev evaluations during stage 1: set eval_interval > 0")
            if self.equal_budget:
                self.stage_length(self.train)
                self.stage_length(self.stage2)

    def stages(self, network: nn.Module) -> list[tuple[str, list[str] | None, TrainConfig]]:
        """(name, network parameters to train or None for all, training config) per stage."""
        if self.strategy == "full":
            return [("train", None, self.full_budget())]
        if self.strategy == "head-only":
            return [("train", [], self.train)]
        affine = network.last_affine()
        if not affine:
            raise ValueError(f"network {network.config.get('arch')} names no last affine parameters")
        return [("stage1", affine, self.train), ("stage2", None, self.stage2)]


    def stage_length(self, cfg: TrainConfig) -> int:
        """A stage's length in steps (``total_steps``, else epochs x ``train.steps_per_epoch``)."""
        if cfg.total_steps:
            return cfg.total_steps
        if self.train.steps_per_epoch:
            return cfg.epochs * self.train.steps_per_epoch
        raise ValueError("stage-1 patience with equal budget counts steps: set total_steps or steps_per_epoch")

    def stage2_config(self, stage1_steps_run: int) -> TrainConfig:
        """Stage 2's training: with early-stopped stage 1 and ``equal_budget``, its own length plus
        the steps stage 1 left unused (the two stages then train as many steps as ``full``)."""
        if not (self.stage1_patience and self.equal_budget) or self.stage2 is None:
            return self.stage2
        unused = max(self.stage_length(self.train) - stage1_steps_run, 0)
        return dataclasses.replace(self.stage2, total_steps=self.stage_length(self.stage2) + unused)

    def full_budget(self) -> TrainConfig:
        """The training of ``full``: with ``equal_budget``, as many steps (or epochs) as the two stages
        of ``affine-then-full`` together, so that the strategies are compared at the same cost."""
        a, b = self.train, self.stage2
        if not self.equal_budget or b is None:
            return a
        if a.total_steps and b.total_steps:
            return dataclasses.replace(a, total_steps=a.total_steps + b.total_steps)
        if not a.total_steps and not b.total_steps:
            return dataclasses.replace(a, epochs=a.epochs + b.epochs)
        raise ValueError("equal budget: give both stages' length in steps (--total-steps, --stage2-total-steps) "
                         "or both in epochs")


# ---------------------------------------------------------------- per-fold data

def fold_train_dirs(data_dir: str | os.PathLike, aug_dirs: Sequence[str | os.PathLike], utts: Sequence[str],
                    dest: Path) -> list[str]:
    """Subsets of the data dir (and of the augmented copies whose source is in ``utts``) for one
    fold's training list, written once under ``dest`` (reused when complete)."""
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

    def decide(model, head_, loader, data, truth):
        """(keys, log-posteriors, true labels): per utterance, or per speaker (``score_unit``)."""
        utts, lp = predict_utterances(model, head_, loader)
        if opts.score_unit == "speaker":
            utt2spk = read_table(DataDir(data).file("utt2spk"))
            truth = speaker_targets(truth, utt2spk, utts)
            utts, lp = speaker_log_posteriors(utts, lp, utt2spk)
        return utts, lp, [truth[u] for u in utts]

    evaluator = None
    patience = opts.stage1_patience if split.dev else 0
    if opts.stage1_patience and opts.strategy == "affine-then-full" and not split.dev:
        log.warning("fold %s has no dev list, so stage 1 trains its full length (early stopping needs dev "
                    "evaluations)", split.name)
    if split.dev:
        dev_loader = utt_loader(dev_data, split.dev)

        def evaluator(obj: ClassificationObjective) -> float:
            _, lp, truth = decide(obj.model, obj.head, dev_loader, dev_data, targets)
            return classification_report(truth, [labels[i] for i in lp.argmax(1)], labels)["UA"]

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
        if name == "stage2":
            cfg = opts.stage2_config(stage_info[0]["steps_run"])
        cfg = dataclasses.replace(cfg, seed=seed, steps_per_epoch=opts.train.steps_per_epoch)
        objective = ClassificationObjective(net, label_map, head=head, train_params=params, specaug=opts.specaug,
                                            evaluator=evaluator, eval_interval=opts.eval_interval,
                                            patience=patience if name == "stage1" else 0)
        run_config = {"stage": name, "strategy": opts.strategy, "fold": split.name, "seed": seed,
                      "pretrained": str(pretrained), "chunk_frames": opts.chunk_frames, **dict(info or {})}
        state = _train_stage(objective, factory, cfg, run_dir / name, run_config)
        length = cfg.total_steps or (cfg.epochs * cfg.steps_per_epoch if cfg.steps_per_epoch else None)
        run_steps = state.get("steps_run") or length
        stage_info.append({"stage": name, "selected_step": state["step"], "dev_UA": state["dev_score"],
                           "lr": cfg.lr, "trained_params": "all" if params is None else len(params),
                           "steps": length, "steps_run": run_steps,
                           "stopped_early": bool(length and run_steps and run_steps < length),
                           "epochs": None if cfg.total_steps else cfg.epochs})
    net.load_state_dict(state["model"])
    head.load_state_dict(state["head"])
    net.to(device)
    head.to(device)
    utts, lp, truth = decide(net, head, utt_loader(test_data, split.test), test_data, test_targets)
    pred = [labels[i] for i in lp.argmax(1)]
    figures = write_run(run_dir, utts, truth, pred, lp, labels,
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
            "augmented": bool(aug_dirs), "score_unit": opts.score_unit}
    runs: list[dict] = []
    for sp in splits:
        fold_dir = out / (fold_dir_name(sp.name) if folds_dir else "test")
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
    first = [out / (fold_dir_name(sp.name) if folds_dir else "test") / f"seed{seeds[0]}" for sp in splits]
    truth = targets if folds_dir else test_targets
    if opts.score_unit == "speaker":
        truth = speaker_targets(truth, read_table(DataDir(test_data or data_dir).file("utt2spk")), list(truth))
    pooled = pooled_predictions(first, truth)
    pool_run_dirs(first, out, labels)
    info["stage_steps"] = stage_steps([r.get("stages", ()) for r in runs]) if runs else None
    return summarise_runs(out, runs, pooled, labels, {"system": out.name, **info,
                                                      "protocol": "cross-validation" if folds_dir else "train-test"})


def stage_steps(runs: Sequence[Sequence[Mapping]]) -> str | None:
    """The training budget of the runs (each a list of its stages) in words for RESULTS.md:
    ``30+20`` (stage 1 + stage 2 steps of affine-then-full, the same in every run), ``50`` (one
    stage), ``3 epochs`` when a stage counts epochs; with early-stopped stage 1 the steps each
    stage trained range over the runs, e.g. ``10-30 + 20-40 (50 in each run)``."""
    per_run = [[s.get("steps_run") or s.get("steps") for s in stages] for stages in runs if stages]
    if not per_run:
        return None
    if any(None in steps for steps in per_run) or len({len(steps) for steps in per_run}) > 1:
        first = runs[0]
        return "+".join(str(s["steps"]) if s.get("steps") else f"{s.get('epochs')} epochs" for s in first) or None
    if len({tuple(steps) for steps in per_run}) == 1:
        return "+".join(str(v) for v in per_run[0])
    spans = []
    for values in zip(*per_run):
        lo, hi = min(values), max(values)
        spans.append(str(lo) if lo == hi else f"{lo}-{hi}")
    totals = sorted({sum(steps) for steps in per_run})
    total = f"{totals[0]} in each run" if len(totals) == 1 else f"{totals[0]}-{totals[-1]} in all"
    return f"{' + '.join(spans)} ({total})"
