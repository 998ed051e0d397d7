"""Verification on a dev trial list while a network trains: EER and minDCF(0.01) every N steps.

Self-supervised training (DINO) logs its loss and the teacher's entropies, none of which says
whether the network learns speakers; :class:`DevValidation` says it during training. Every
``interval`` steps (and after the last) the trainer hands it the exported network (the DINO
teacher), which embeds the utterances the trials name with the package's extraction
(:func:`utter.train.extract.embed_data_dir`: eval mode, no gradients, the recipes' extraction
options), and the trials are scored by a function the caller gives: the back-end's cosine
scorer in ``utter.bin.train_dino`` (``train/`` may not import ``backend/``, DESIGN.md's floors,
so the scorer and the trial reader come from the floor above rather than a second copy here).
EER and minDCF come from :mod:`utter.metrics.verification`.

The trainer runs it under ``preserved_rng()`` and on rank 0 only, so training takes the same
steps with validation on or off; the best evaluation (lowest EER) is remembered in checkpoints.
"""
from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from utter.data.datadir import DataDir, sort_key
from utter.metrics.verification import compute_eer, compute_min_dcf
from utter.train.extract import ExtractOptions, embed_data_dir, plan_items

log = logging.getLogger(__name__)

#: The train_log.tsv columns of a validation (NaN at steps without one).
DEV_COLUMNS = ("dev_eer", "dev_min_dcf")
#: The minDCF operating point (VoxCeleb's).
P_TARGET = 0.01


class TrialList(Protocol):
    """A labelled trial list (``utter.backend.io.Trials``): enrolment ids, test ids, boolean labels."""

    enroll: list[str]
    test: list[str]
    labels: np.ndarray | None


#: ``score(trials, ids, embeddings [N, D]) -> scores [n_trials]``, in trial order.
ScoreFn = Callable[[Any, Sequence[str], np.ndarray], np.ndarray]


@dataclass
class DevResult:
    """One evaluation: step, EER (%), minDCF(0.01), trials, and whether it is the best so far."""

    step: int
    eer: float
    min_dcf: float
    trials: int
    best: bool

    def metrics(self) -> dict[str, float]:
        return {"dev_eer": self.eer, "dev_min_dcf": self.min_dcf}


class DevValidation:
    """A dev trial list scored with a training network's embeddings every ``interval`` steps.

    Checks at construction (before any training) that the trials are labelled, hold both
    classes, and name only utterances of ``data_dir`` with features (or audio): a missing one
    is an error naming it and the trial file. ``keep_best`` asks the trainer to make
    ``final.pt`` the network of the evaluation with the lowest EER.
    """

    def __init__(self, data_dir: str | os.PathLike, trials: TrialList, score: ScoreFn, *, interval: int,
                 trials_path: str | os.PathLike = "trials", opts: ExtractOptions | None = None,
                 audio: Mapping[str, Any] | None = None, keep_best: bool = False, what: str = "network") -> None:
        if interval < 1:
            raise ValueError(f"dev interval must be at least 1 step, got {interval}")
        if trials.labels is None:
            raise ValueError(f"{trials_path}: trials have no target/nontarget labels")
        labels = np.asarray(trials.labels, dtype=bool)
        if labels.all() or not labels.any():
            raise ValueError(f"{trials_path}: need target and nontarget trials, got {int(labels.sum())} and "
                             f"{int((~labels).sum())}")
        self.data_dir, self.trials, self.labels, self.score = str(data_dir), trials, labels, score
        self.trials_path, self.interval, self.keep_best, self.what = str(trials_path), interval, keep_best, what
        self.opts = opts if opts is not None else ExtractOptions()
        self.audio = dict(audio) if audio is not None else None
        known = DataDir(data_dir).utt2spk
        named = list(dict.fromkeys(u for pair in zip(trials.enroll, trials.test) for u in pair))
        missing = [u for u in named if u not in known]
        if missing:
            line = next(i for i, pair in enumerate(zip(trials.enroll, trials.test), 1) if missing[0] in pair)
            raise ValueError(f"{self.trials_path}:{line}: utterance '{missing[0]}' is not in {data_dir} (utt2spk); "
                             f"{len(missing)} of the {len(named)} utterances the trials name are missing")
        self.utts = sorted(named, key=sort_key)
        plan_items(data_dir, self.opts, self.utts, self.audio)  # features (or audio) and VAD of each, now
        self.best_eer, self.best_step = math.inf, 0
        self.last: DevResult | None = None
        self.seconds = 0.0  # wall-clock of this run's evaluations (what validation costs the training)

    def due(self, step: int, total_steps: int) -> bool:
        """Evaluate after step ``step`` (1-based): every ``interval`` steps and after the last."""
        return step % self.interval == 0 or step == total_steps

    @staticmethod
    def empty_metrics() -> dict[str, float]:
        """The dev columns of a step without an evaluation."""
        return dict.fromkeys(DEV_COLUMNS, math.nan)

    def embed(self, net: nn.Module, device: str | torch.device = "cpu") -> tuple[list[str], np.ndarray]:
        """(utterance ids, embeddings [N, D]) of the trials' utterances; ``net`` is left in eval mode."""
        ids, vecs = [], []
        with torch.no_grad():
            for utt, vec in embed_data_dir(net, self.data_dir, self.opts, device=device, utts=self.utts,
                                           progress=False, audio=self.audio):
                ids.append(utt)
                vecs.append(vec)
        return ids, np.stack(vecs)

    def evaluate(self, net: nn.Module, step: int, device: str | torch.device = "cpu") -> DevResult:
        """Embed, score and measure after step ``step``; log one line (with what it cost) and remember the best."""
        start = time.perf_counter()
        ids, x = self.embed(net, device)
        scores = np.asarray(self.score(self.trials, ids, x), dtype=np.float64)
        eer = 100.0 * float(compute_eer(scores, self.labels))
        min_dcf = float(compute_min_dcf(scores, self.labels, P_TARGET))
        best = eer < self.best_eer
        if best:
            self.best_eer, self.best_step = eer, step
        self.last = DevResult(step, eer, min_dcf, len(self.labels), best)
        self.seconds += time.perf_counter() - start
        log.info("step %d: dev EER %.2f%% minDCF(%g) %.3f on %d trials (%s, cosine), best %.2f%% at step %d "
                 "(%.1f s, %d utterances; %.1f s in all evaluations)", step, eer, P_TARGET, min_dcf, len(self.labels),
                 self.what, self.best_eer, self.best_step, time.perf_counter() - start, len(ids), self.seconds)
        return self.last

    def state_dict(self) -> dict[str, Any]:
        return {"best_eer": self.best_eer, "best_step": self.best_step, "trials": self.trials_path}

    def load_state_dict(self, state: Mapping[str, Any] | None) -> None:
        """Restore the best evaluation of a resumed run (none when the checkpoint had no validation)."""
        if not state:
            return
        if state.get("trials") != self.trials_path:
            log.warning("the checkpoint's dev evaluations used %s, this run uses %s: the best dev EER starts afresh",
                        state.get("trials"), self.trials_path)
            return
        self.best_eer, self.best_step = float(state["best_eer"]), int(state["best_step"])
