"""The one training loop: every objective (DINO, AAM-softmax, fine-tuning, triplet + Barlow Twins) runs here.

An :class:`~utter.train.objectives.base.Objective` says what is trained and how the loss is
computed; the :class:`Trainer` does the rest the same way for all of them: optimiser and
per-step schedules, AMP on CUDA, gradient clipping, data parallelism under ``torchrun``,
progress, logs, checkpoints with exact resume, the loss curve and ``final.pt`` (the average
of the last checkpoints), and an optional dev evaluation every N steps
(:class:`~utter.train.validation.DevValidation`: its EER and minDCF in the log, the progress
line and the loss curve; ``final.pt`` may be its best).

Data parallelism: the trainer all-reduces (averages) gradients itself after ``backward``
instead of wrapping modules in ``DistributedDataParallel``, so an objective may call its
networks any number of times per step, run a no-grad teacher, or leave parameters unused,
and ``loss(batch)`` keeps working unchanged under ``torchrun``. Buffers (batch-norm
statistics) are broadcast from rank 0 before each step, as DDP does
(:mod:`utter.train.distributed`).

Beside it: :mod:`utter.train.config` (:class:`~utter.train.config.TrainConfig`),
:mod:`utter.train.rng` (seeding, preserved RNG states), :mod:`utter.train.batches` (batches to the
device, non-finite inputs named) and :mod:`utter.train.steplog` (train_log.tsv, the log window, the
progress bar).
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from utter.atomic import atomic_open
from utter.metrics.plots import plot_loss_curve
from utter.progress import hms
from utter.stage import DirLock
from utter.train.batches import move_to, nonfinite_utterances
from utter.train.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    average_checkpoints,
    capture_rng_state,
    checkpoint_name,
    checkpoint_problem,
    describe_arch,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from utter.train.config import TrainConfig
from utter.train.distributed import allreduce_grads, broadcast_states, init_distributed
from utter.train.objectives.base import Objective
from utter.train.rng import preserved_rng, seed_everything
from utter.train.schedules import cosine_schedule, schedule_steps
from utter.train.steplog import StepLog, progress, window_summary
from utter.train.validation import DevValidation

log = logging.getLogger(__name__)

#: ``train_loader_factory(epoch, rank, world_size, start_batch) -> iterable of batches``.
LoaderFactory = Callable[[int, int, int, int], Iterable[Any]]


def check_resume(objective: Objective, exp_dir: str | os.PathLike) -> None:
    """Before resuming in ``exp_dir``: its latest checkpoint must hold this objective's architecture,
    modules (shapes) and state, else a :class:`CheckpointError` naming the difference.

    A stage program calls this before building its :class:`Trainer`, so a wrong experiment dir
    fails at once with a reason rather than after the data are loaded, or as a shape error.
    """
    path = latest_checkpoint(exp_dir)
    if path is None:
        return
    state = load_checkpoint(path, expected_arch=objective.arch_config())
    saved = state["extra"].get("modules", {})
    mods = objective.modules()
    if set(saved) != set(mods):
        raise CheckpointError(f"checkpoint {path} holds modules {sorted(saved)}, this run has {sorted(mods)}: "
                              "it is from another kind of training")
    for name, m in mods.items():
        sd = state["model"] if saved[name] is None else saved[name]
        for key, t in m.state_dict().items():
            if key not in sd or tuple(sd[key].shape) != tuple(t.shape):
                found = tuple(sd[key].shape) if key in sd else "absent"
                raise CheckpointError(f"checkpoint {path}: {name}.{key} is {found}, this run needs "
                                      f"{tuple(t.shape)} ({describe_arch(objective.arch_config())})")
    objective.load_state_dict(state["extra"].get("objective", {}))


class Trainer:
    """Runs an :class:`Objective` over batches from ``train_loader_factory`` into ``exp_dir``.

    ``train_loader_factory(epoch, rank, world_size, start_batch)`` returns the batches of one
    epoch for one rank, skipping the first ``start_batch`` (to resume mid-epoch). It must be a
    pure function of its arguments and the run's seed (give a torch DataLoader an explicitly
    seeded ``generator``), so a resumed run sees exactly the batches an uninterrupted one sees.

    ``validation``: evaluate :meth:`Objective.model_for_export` on a dev trial list when it is due
    (rank 0, eval mode, the RNG states preserved, so the training steps are the same without
    it); every row of train_log.tsv has its columns (NaN between evaluations). With its
    ``keep_best``, the network of the best evaluation is kept in ``best_dev.pt`` and becomes
    ``final.pt``.
    """

    def __init__(self, objective: Objective, train_loader_factory: LoaderFactory, config: TrainConfig,
                 exp_dir: str | os.PathLike, run_config: dict[str, Any] | None = None,
                 validation: DevValidation | None = None) -> None:
        self.objective = objective
        self.validation = validation
        self.factory = train_loader_factory
        self.config = config
        self.exp_dir = Path(exp_dir)
        self.run_config = dict(run_config or {})
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.steplog = StepLog(self.exp_dir / "train_log.tsv")

    # -- setup

    def _setup(self) -> None:
        cfg = self.config
        if cfg.num_threads > 0:
            torch.set_num_threads(cfg.num_threads)
        self.dist = init_distributed(cfg.device)
        device = torch.device(cfg.device)
        if device.type == "cuda" and (device.index is None or self.dist.active):
            if device.index not in (None, self.dist.local_rank):
                log.warning("device %s ignored under torchrun: rank %d uses cuda:%d (its LOCAL_RANK)",
                            device, self.dist.rank, self.dist.local_rank)
            device = torch.device("cuda", self.dist.local_rank)
        self.device = device
        self.is_main = self.dist.rank == 0
        self.amp_dtype = None
        if cfg.amp != "none":
            if device.type == "cuda":
                self.amp_dtype = torch.bfloat16 if cfg.amp == "bf16" else torch.float16
            else:
                log.info("amp=%s ignored on %s: mixed precision is used on CUDA only", cfg.amp, device)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None

        mods = self.objective.modules()
        unknown = [n for n in self.objective.trainable() if n not in mods]
        if unknown:
            raise ValueError(f"{type(self.objective).__name__}.trainable() names unknown modules {unknown}")
        self.objective.to(device)
        self.optimizer = self._build_optimizer()
        self.params = [p for g in self.optimizer.param_groups for p in g["params"]]

        self.steps_per_epoch = cfg.steps_per_epoch or self._loader_length()
        if cfg.total_steps:
            self.total_steps = cfg.total_steps
            self.num_epochs = math.ceil(cfg.total_steps / self.steps_per_epoch)
        else:
            self.total_steps = max(cfg.epochs * self.steps_per_epoch, cfg.min_steps)
            self.num_epochs = math.ceil(self.total_steps / self.steps_per_epoch)
        warmup = schedule_steps(cfg.warmup_steps, cfg.warmup_epochs, self.steps_per_epoch, self.total_steps)
        self.lr_values = cosine_schedule(cfg.lr, cfg.min_lr, self.total_steps, warmup, cfg.warmup_start_lr)
        wd_end = cfg.weight_decay if cfg.weight_decay_end is None else cfg.weight_decay_end
        self.wd_values = cosine_schedule(cfg.weight_decay, wd_end, self.total_steps)

    def _loader_length(self) -> int:
        with preserved_rng():
            loader = self.factory(0, self.dist.rank, self.dist.world_size, 0)
        try:
            n = len(loader)
        except TypeError:
            raise ValueError("the training loader has no len(): set steps_per_epoch (or total_steps and "
                             "steps_per_epoch) in the training config") from None
        if n == 0:
            raise RuntimeError(self._empty_message(0))
        return n

    def _empty_message(self, epoch: int) -> str:
        return (f"the training loader yielded no batches for epoch {epoch} (rank {self.dist.rank} of "
                f"{self.dist.world_size}): the training set is empty, or every utterance is shorter than "
                "the crop, or there are fewer utterances than one batch")

    def _build_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        groups = []
        for g in self.objective.param_groups():
            g = dict(g)
            g["params"] = list(g["params"])
            g.setdefault("lr_scale", 1.0)
            g.setdefault("wd_scale", 1.0)
            groups.append(g)
        if not any(g["params"] for g in groups):
            raise ValueError(f"{type(self.objective).__name__} has no parameters to train")
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
        cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        # fused: one kernel over every parameter instead of a loop per tensor, the same update to
        # rounding (2.8x faster for Adam on CPU over a DINO ResNet34 + head, bench/dino_step.py)
        params = [p for g in groups for p in g["params"]]
        fused = len({p.device for p in params}) == 1 and params[0].device.type in ("cpu", "cuda") and \
            all(p.is_floating_point() for p in params)
        return cls(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, amsgrad=cfg.amsgrad, fused=fused or None)

    # -- checkpoints

    def _module_states(self) -> tuple[dict, dict, str | None]:
        export = self.objective.model_for_export()
        modules: dict[str, Any] = {}
        export_name = None
        for name, m in self.objective.modules().items():
            if m is export and export_name is None:
                export_name = name
                modules[name] = None  # stored once, as 'model'
            else:
                modules[name] = m.state_dict()
        return export.state_dict(), modules, export_name

    def save(self, epoch: int, batch_in_epoch: int) -> Path | None:
        """Checkpoint the state after ``self.step`` steps (every rank calls this; rank 0 writes).

        A resumed run continues in ``epoch`` (0-based) after its first ``batch_in_epoch`` batches.
        """
        # per-rank states: every rank's RNGs and objective state (e.g. its own generator) come back
        mine = (capture_rng_state(), self.objective.state_dict())
        if self.dist.active:
            gathered: list[Any] = [None] * self.dist.world_size
            dist.all_gather_object(gathered, mine)
        else:
            gathered = [mine]
        if not self.is_main:
            return None
        state = self._state(epoch, batch_in_epoch, gathered)
        # the log rows first: a checkpoint never exists without the train_log.tsv rows up to its step
        # (a kill right after the checkpoint's rename would otherwise lose them for the resumed run)
        self.steplog.flush()
        path = save_checkpoint(self.exp_dir / checkpoint_name(self.step), state)
        for old in list_checkpoints(self.exp_dir)[:-self.config.keep_last]:
            old.unlink()
        self._plot()
        log.info("wrote checkpoint %s (step %d; resumes at epoch %d batch %d)", path, self.step, epoch + 1,
                 batch_in_epoch + 1)
        return path

    def _state(self, epoch: int, batch_in_epoch: int, gathered: list[Any]) -> dict[str, Any]:
        """The checkpoint dict after ``self.step`` steps; ``gathered``: every rank's (RNG states, objective state)."""
        rng_all = [g[0] for g in gathered]
        model, modules, export_name = self._module_states()
        state = {
            "format_version": FORMAT_VERSION,
            "arch_config": self.objective.arch_config(),
            "model": model,
            "extra": {"modules": modules, "export_module": export_name,
                      "objective": gathered[0][1], "objective_per_rank": [g[1] for g in gathered],
                      "scaler": self.scaler.state_dict() if self.scaler is not None else None},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": {"type": "warmup_cosine", "step": self.step, "total_steps": self.total_steps},
            "step": self.step,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "rng": rng_all,
            "world_size": self.dist.world_size,
            "train_config": self.config.to_dict(),
        }
        if self.validation is not None:  # the best dev evaluation so far (for a resumed run)
            state["validation"] = self.validation.state_dict()
        return state

    @property
    def best_dev_path(self) -> Path:
        return self.exp_dir / "best_dev.pt"

    def _validate(self, epoch: int, batch_in_epoch: int) -> dict[str, float]:
        """The dev columns of this step's row: an evaluation when due (rank 0), else NaN."""
        v = self.validation
        if v is None:
            return {}
        if not (self.is_main and v.due(self.step, self.total_steps)):
            return v.empty_metrics()
        with preserved_rng():
            result = v.evaluate(self.objective.model_for_export(), self.step, self.device)
        self.objective.train_mode()  # extraction left the network in eval mode
        if result.best and v.keep_best:
            state = self._state(epoch, batch_in_epoch, [(capture_rng_state(), self.objective.state_dict())])
            state.update(optimizer=None, scheduler=None,
                         best_dev={"step": self.step, "eer": result.eer, "min_dcf": result.min_dcf})
            save_checkpoint(self.best_dev_path, state)
        return result.metrics()

    def _resume(self, path: Path) -> None:
        state = load_checkpoint(path, expected_arch=self.objective.arch_config(), map_location=self.device)
        mods = self.objective.modules()
        saved = state["extra"]["modules"]
        if set(saved) != set(mods):
            raise CheckpointError(f"checkpoint {path} holds modules {sorted(saved)}, "
                                  f"but {type(self.objective).__name__} has {sorted(mods)}")
        for name, m in mods.items():  # None: the exported module, stored once as 'model'
            m.load_state_dict(state["model"] if saved[name] is None else saved[name])
        per_rank = state["extra"].get("objective_per_rank") or [state["extra"]["objective"]]
        self.objective.load_state_dict(per_rank[min(self.dist.rank, len(per_rank) - 1)])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state["extra"].get("scaler"):
            self.scaler.load_state_dict(state["extra"]["scaler"])
        if state["scheduler"]["total_steps"] != self.total_steps:
            log.warning("checkpoint %s was made for %d steps, this run has %d: the schedule changes",
                        path, state["scheduler"]["total_steps"], self.total_steps)
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        rngs = state["rng"]
        if len(rngs) != self.dist.world_size:
            log.warning("checkpoint %s was written by %d processes, this run has %d: random streams differ",
                        path, len(rngs), self.dist.world_size)
        restore_rng_state(rngs[min(self.dist.rank, len(rngs) - 1)])
        if self.validation is not None:
            self.validation.load_state_dict(state.get("validation"))
        log.info("resumed from %s after step %d (at epoch %d batch %d)", path, self.step, self.epoch + 1,
                 self.batch_in_epoch + 1)

    # -- logs

    @property
    def tsv_path(self) -> Path:
        return self.steplog.path

    def _plot(self) -> None:
        if self.is_main and self.tsv_path.exists():
            try:
                plot_loss_curve(self.tsv_path, self.exp_dir / "loss.png")
            except (ValueError, OSError) as e:  # a plot is a convenience: never stop training for it
                log.warning("could not plot the loss curve: %s", e)

    def _write_plan(self) -> None:
        """State the training length (and what the data plan uses) before training, in the log and
        in train_plan.json, the fact a recipe reads instead of a log line's wording."""
        if not self.is_main:
            return
        epochs = self.total_steps / max(self.steps_per_epoch, 1)
        data = dict(getattr(getattr(self.factory, "plan", None), "facts", None) or {})
        log.info("training plan: %d steps = %.1f epochs of %d steps%s", self.total_steps, epochs,
                 self.steps_per_epoch, "" if not data else
                 f"; {data.get('used')} of {data.get('utterances')} utterances used "
                 f"({data.get('left_out')} with fewer than {data.get('min_frames')} voiced frames left out)")
        with atomic_open(self.exp_dir / "train_plan.json", "w") as f:
            json.dump({"total_steps": self.total_steps, "steps_per_epoch": self.steps_per_epoch,
                       "epochs": round(epochs, 3), "data": data}, f, indent=1)
            f.write("\n")

    def _write_config(self) -> None:
        if not self.is_main:
            return
        config = {"train": self.config.to_dict(), "arch": self.objective.arch_config(),
                  "objective": type(self.objective).__name__, "run": self.run_config,
                  "world_size": self.dist.world_size}
        path = self.exp_dir / "config.json"
        if path.exists():
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                old = {}
            changed = sorted(k for k in config["train"] if old.get("train", {}).get(k) != config["train"][k])
            if changed and old:
                log.warning("training config differs from the earlier run's %s in: %s", path, ", ".join(changed))
        with atomic_open(path) as f:
            json.dump(config, f, indent=2, sort_keys=True, default=str)
            f.write("\n")

    # -- the loop

    def train(self, resume: bool = False) -> Path | None:
        """Train to the end; return the path of ``final.pt`` (None on ranks other than 0).

        With ``resume`` continue from the latest checkpoint in ``exp_dir`` (or start afresh
        when there is none); without it, refuse to overwrite an earlier run's checkpoints.
        """
        self.exp_dir.mkdir(parents=True, exist_ok=True)
        self._setup()
        # one training per exp dir: a second (a rerun while the first still runs) fails at once, naming
        # the first's pid, instead of writing the same checkpoints beside it
        lock = DirLock(self.exp_dir, "training").acquire() if self.is_main else None
        try:
            return self._train(resume)
        finally:
            if lock is not None:
                lock.release()

    def _train(self, resume: bool) -> Path | None:
        self.objective.begin_training(self.total_steps, self.steps_per_epoch)
        latest = latest_checkpoint(self.exp_dir)
        if resume and latest is None and list_checkpoints(self.exp_dir):
            # every checkpoint damaged: never start over silently, writing over days of progress
            tried = ", ".join(f"{p.name} ({checkpoint_problem(p)})" for p in list_checkpoints(self.exp_dir))
            raise RuntimeError(f"{self.exp_dir}: no usable checkpoint to resume from (tried {tried}); to train "
                               "again from step 1, rerun the training step with --restart true (steps/train_dino.sh, "
                               "train_xvector.sh, train_nnet.sh: it removes them, said in the log), or remove them")
        if resume and latest is not None:
            self._resume(latest)
        elif latest is not None:
            raise RuntimeError(f"{self.exp_dir} already holds checkpoints (latest {latest.name}): "
                               "resume with --resume true, or remove them to start again")
        else:
            seed_everything(self.config.seed + self.dist.rank)
        if self.dist.active:
            broadcast_states(self.objective.modules().values(), params=True)
        self._write_config()
        self._write_plan()
        if self.is_main:
            self.steplog.open(self.step)
        try:
            self._loop()
        finally:
            self.steplog.close()
        final = self._finish()
        if self.dist.initialised_here:
            dist.barrier()
            dist.destroy_process_group()
        return final

    def _loop(self) -> None:
        cfg = self.config
        objective = self.objective
        objective.train_mode()
        bar = progress(self.total_steps, self.step, disable=not self.is_main)
        window: list[float] = []
        window_metrics: dict[str, list[float]] = {}
        t_last, steps_last = time.perf_counter(), self.step
        t_start, steps_start = t_last, self.step  # this run's mean rate gives the ETA
        try:
            for epoch in range(self.epoch, self.num_epochs):
                if self.step >= self.total_steps or objective.should_stop():
                    break
                start = self.batch_in_epoch if epoch == self.epoch else 0
                objective.before_epoch(epoch)
                with preserved_rng():
                    batches = iter(self.factory(epoch, self.dist.rank, self.dist.world_size, start))
                n = start
                stopped = False
                for batch in batches:
                    if n >= self.steps_per_epoch or self.step >= self.total_steps:
                        break
                    loss, metrics = self._train_step(batch)
                    self.step += 1
                    n += 1
                    metrics.update(self._validate(epoch, n))
                    row = {"step": self.step, "epoch": epoch + 1, "loss": loss,
                           "lr": float(self.lr_values[self.step - 1]), **metrics}
                    self.steplog.write(row)
                    window.append(loss)
                    for k, v in metrics.items():
                        window_metrics.setdefault(k, []).append(v)
                    bar.update(1)
                    dev = self.validation.last if self.validation is not None else None
                    bar.set_postfix(loss=f"{loss:.4f}", lr=f"{row['lr']:.3g}", refresh=False,
                                    **({"dev_eer": f"{dev.eer:.2f}%"} if dev is not None else {}))
                    if self.step % cfg.log_interval == 0 or self.step == self.total_steps:
                        now = time.perf_counter()
                        rate = (self.step - steps_last) / max(now - t_last, 1e-9)
                        mean_rate = (self.step - steps_start) / max(now - t_start, 1e-9)
                        if self.is_main:
                            extra = window_summary(window_metrics)
                            log.info("epoch %d step %d/%d loss %.4f lr %.3g %s%.2f steps/s, eta %s", epoch + 1,
                                     self.step, self.total_steps, float(np.mean(window)), row["lr"],
                                     extra + " " if extra else "", rate,
                                     hms((self.total_steps - self.step) / max(mean_rate, 1e-9)))
                        window, window_metrics = [], {}
                        t_last, steps_last = now, self.step
                        self.steplog.flush()
                    stopped = objective.should_stop()
                    if stopped and self.is_main:
                        log.info("stopping early at step %d of %d (the objective's criterion)", self.step,
                                 self.total_steps)
                    at_end = n >= self.steps_per_epoch or self.step >= self.total_steps or stopped
                    if cfg.checkpoint_interval and self.step % cfg.checkpoint_interval == 0 and not at_end:
                        self.save(epoch, n)
                    if stopped:
                        break
                if n == 0:
                    raise RuntimeError(self._empty_message(epoch))
                ended = self.step >= self.total_steps or stopped
                if n < self.steps_per_epoch and not ended:
                    log.warning("epoch %d ended after %d batches, fewer than steps_per_epoch %d",
                                epoch + 1, n, self.steps_per_epoch)
                if n < self.steps_per_epoch and ended:
                    # stopped by total_steps (or early) mid-epoch: a later run with more steps goes on from here
                    self.save(epoch, n)
                    self.epoch, self.batch_in_epoch = epoch, n
                else:
                    # with a checkpoint interval, an epoch's end checkpoints only when the interval is due
                    # (or at the last step): a small corpus's short epochs then cost no more checkpoints
                    # and loss plots per step than a large one's (a checkpoint every 7 steps, not every 50)
                    if not cfg.checkpoint_interval or self.step % cfg.checkpoint_interval == 0 or ended:
                        self.save(epoch + 1, 0)
                    self.epoch, self.batch_in_epoch = epoch + 1, 0
                if stopped:
                    break
        finally:
            bar.close()

    def _train_step(self, batch: Any) -> tuple[float, dict[str, float]]:
        cfg = self.config
        i = self.step
        lr, wd = float(self.lr_values[i]), float(self.wd_values[i])
        for g in self.optimizer.param_groups:
            g["lr"] = lr * g["lr_scale"]
            g["weight_decay"] = wd * g["wd_scale"]
        batch = move_to(batch, self.device)
        if self.dist.active:
            broadcast_states(self.objective.modules().values(), params=False)
        self.objective.before_step(i)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            loss, metrics = self.objective.loss(batch)
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value) and self.scaler is None:
            bad = nonfinite_utterances(batch)
            utts = batch.get("utts", []) if isinstance(batch, dict) else []
            what = (f"non-finite input features in {', '.join(bad[:5])}" if bad else
                    "the inputs are finite: lower the learning rate" +
                    (f" (batch: {', '.join(map(str, utts[:5]))}{' ...' if len(utts) > 5 else ''})" if utts else ""))
            raise RuntimeError(f"loss is {loss_value} at step {i + 1}: {what}")
        self.optimizer.zero_grad(set_to_none=True)
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        if self.dist.active:
            allreduce_grads(self.params, self.dist.world_size, self.device)
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        out = {k: float(v) for k, v in metrics.items()}
        if cfg.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_([p for p in self.params if p.grad is not None], cfg.grad_clip)
            out["grad_norm"] = float(norm)
        self.objective.after_backward(i)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.objective.after_step(i)
        return loss_value, out

    def _finish(self) -> Path | None:
        if not self.is_main:
            return None
        final = self.exp_dir / "final.pt"
        v = self.validation
        if v is not None and v.keep_best and not self.best_dev_path.exists():
            log.warning("no %s (no dev evaluation in this exp dir yet): final.pt is the average of the last "
                        "checkpoints", self.best_dev_path)
        elif v is not None and v.keep_best:
            state = load_checkpoint(self.best_dev_path)
            best = state.get("best_dev") or {}
            if best.get("step") == v.best_step:
                save_checkpoint(final, state)
                self._plot()
                log.info("wrote %s (the network of step %d, the lowest dev EER %.2f%%, minDCF(0.01) %.3f; "
                         "--keep-best-dev)", final, best["step"], best["eer"], best["min_dcf"])
                return final
            log.warning("%s is of step %s, but the best dev evaluation of this run is step %d: final.pt is the "
                        "average of the last checkpoints instead", self.best_dev_path, best.get("step"),
                        v.best_step)
        ckpts = list_checkpoints(self.exp_dir)
        last = ckpts[-self.config.average_last:]
        state = average_checkpoints(last)
        save_checkpoint(final, state)
        self._plot()
        log.info("wrote %s (average of %s)", final, ", ".join(p.name for p in last))
        return final
