"""Batch plans: a deterministic epoch of batch *specifications* for ``(seed, epoch)``, drawn in the main process.

A :class:`Plan` draws batch ``g`` of an epoch from a numpy Generator seeded by ``(seed, epoch, g)``:
which utterance, copy, kept-frame start and length each crop has (a :class:`BatchSpec`); a
:class:`PlanSampler` yields one rank's specs of an epoch (rank ``r`` of ``world_size`` takes global
batches ``r, r + world_size, ...``) from ``start_batch`` on. The readers and loaders that turn specs
into tensors are :mod:`utter.data.dataset`.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from torch.utils.data import Sampler

from utter.data.chunks import Crop, multi_crop, sample_chunk
from utter.data.datadir import sort_key

log = logging.getLogger(__name__)


@dataclass
class BatchSpec:
    """What one batch holds: named groups of crops (``global``/``local``, or ``feats``), labels."""

    groups: dict[str, list[Crop]]
    utts: list[str]
    labels: list[int] | None = None
    index: int = 0


class Plan:
    """A deterministic epoch of batch specs for ``(seed, epoch)``; subclasses draw one batch."""

    seed: int = 0

    def num_global_batches(self, epoch: int) -> int:
        raise NotImplementedError

    def prepare(self, epoch: int) -> object:
        """Per-epoch state (a permutation ...) shared by the epoch's batches."""
        return None

    def batch(self, epoch: int, state: object, g: int) -> BatchSpec:
        raise NotImplementedError

    def num_batches(self, epoch: int = 0, world_size: int = 1) -> int:
        """Batches each rank gets (the remainder that does not fill every rank is dropped)."""
        return self.num_global_batches(epoch) // world_size

    def rng(self, epoch: int, g: int) -> np.random.Generator:
        return np.random.default_rng([self.seed & (2**63 - 1), epoch, g, 1])


def report_short_utterances(total: int, kept: int, min_frames: int, crops: str) -> None:
    """Log how many utterances were too short; raise when none is left."""
    short = total - kept
    if not total:
        raise ValueError("empty training set: the data dir(s) hold no utterance to train on (check utt2spk, "
                         "feats.scp or wav.scp, and --aug-data)")
    if short:
        log.info("%d of %d utterances have fewer than %d voiced frames and are left out", short, total, min_frames)
    if not kept:
        raise ValueError(f"empty training set: {short} of {total} utterances have fewer than {min_frames} "
                         f"voiced frames (the minimum for {crops}; lower --min-frames or the crop length)")


class MultiCropPlan(Plan):
    """Multi-crop batches (DINO's, or any objective that compares views of one utterance):
    ``batch_size`` sources per rank per step, shuffled each epoch, each with ``num_global``
    long and ``num_local`` short crops (:func:`utter.data.chunks.multi_crop`)."""

    def __init__(self, sources: Mapping[str, list[str]], num_kept: Mapping[str, int], *, batch_size: int,
                 seed: int = 0, global_frames: int = 400, num_global: int = 2, local_frames: int = 200,
                 num_local: int = 4, min_frames: int = 100, aug_types: Sequence[str] = ()):
        self.num_kept, self.batch_size, self.seed = num_kept, int(batch_size), int(seed)
        self.crop = dict(global_frames=global_frames, num_global=num_global, local_frames=local_frames,
                         num_local=num_local, aug_types=tuple(aug_types))
        views: dict[str, list[str]] = {}
        for src, vs in sources.items():
            ok = [v for v in vs if num_kept[v] >= min_frames]
            if ok:
                views[src] = ok
        report_short_utterances(len(sources), len(views), min_frames, f"crops of {local_frames}/{global_frames} frames")
        self.sources = list(views)
        self.views = views
        shorter = sum(1 for vs in views.values() if min(num_kept[v] for v in vs) < global_frames)
        #: what the plan uses, for the log and the run's train_plan.json (the recipe reads no log wording)
        self.facts = {"utterances": len(sources), "used": len(views), "left_out": len(sources) - len(views),
                      "min_frames": int(min_frames), "shorter_than_global_crop": shorter,
                      "global_frames": int(global_frames), "local_frames": int(local_frames)}
        if shorter:
            log.info("%d of the %d utterances used have fewer voiced frames than the %d-frame global crop: "
                     "their crops are capped at the utterance (zero-padded in the batch)", shorter, len(views),
                     global_frames)

    def num_global_batches(self, epoch: int) -> int:
        return len(self.sources) // self.batch_size

    def prepare(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed & (2**63 - 1), epoch, 0]).permutation(len(self.sources))

    def batch(self, epoch: int, perm: np.ndarray, g: int) -> BatchSpec:
        rng = self.rng(epoch, g)
        srcs = [self.sources[i] for i in perm[g * self.batch_size:(g + 1) * self.batch_size]]
        glob: list[list[Crop]] = []
        loc: list[list[Crop]] = []
        for src in srcs:
            gc, lc = multi_crop(self.views[src], self.num_kept, rng, **self.crop)
            glob.append(gc)
            loc.append(lc)
        # view-major: row v * B + b is view v of source b (torch.chunk(n_views) splits views)
        return BatchSpec({"global": [c[v] for v in range(self.crop["num_global"]) for c in glob],
                          "local": [c[v] for v in range(self.crop["num_local"]) for c in loc]}, srcs, index=g)


class ChunkPlan(Plan):
    """Labelled chunk batches: class-balanced (draw a label uniformly, then one of its utterances,
    then one of that utterance's views) or a shuffled pass over the utterances."""

    def __init__(self, sources: Mapping[str, list[str]], num_kept: Mapping[str, int],
                 labels: Mapping[str, int], *, batch_size: int, chunk_frames: int | None, seed: int = 0,
                 balanced: bool = True, min_frames: int = 100, num_batches: int | None = None,
                 aug_types: Sequence[str] = ()):
        self.num_kept, self.labels, self.seed = num_kept, labels, int(seed)
        self.batch_size, self.chunk_frames, self.balanced = int(batch_size), chunk_frames, balanced
        self.aug_types = tuple(aug_types)
        views = {s: [v for v in vs if num_kept[v] >= min_frames] for s, vs in sources.items()}
        self.views = {s: vs for s, vs in views.items() if vs}
        report_short_utterances(len(sources), len(self.views), min_frames, f"crops of {chunk_frames} frames")
        kept = list(self.views)
        self.sources = kept
        by_label: dict[int, list[str]] = {}
        for s in kept:
            by_label.setdefault(labels[s], []).append(s)
        self.label_ids = sorted(by_label)
        self.by_label = [by_label[k] for k in self.label_ids]
        self._num = num_batches

    def num_global_batches(self, epoch: int) -> int:
        return self._num if self._num is not None else len(self.sources) // self.batch_size

    def prepare(self, epoch: int) -> np.ndarray | None:
        if self.balanced:
            return None
        return np.random.default_rng([self.seed & (2**63 - 1), epoch, 0]).permutation(len(self.sources))

    def batch(self, epoch: int, perm, g: int) -> BatchSpec:
        rng = self.rng(epoch, g)
        if self.balanced:
            srcs = []
            for k in rng.integers(0, len(self.by_label), self.batch_size):
                pool = self.by_label[int(k)]
                srcs.append(pool[int(rng.integers(len(pool)))])
        else:
            n = len(self.sources)
            srcs = [self.sources[perm[i % n]] for i in range(g * self.batch_size, (g + 1) * self.batch_size)]
        crops = []
        for s in srcs:
            views = self.views[s]
            v = views[int(rng.integers(len(views)))]
            frames = self.chunk_frames or self.num_kept[v]
            start, length = sample_chunk(self.num_kept[v], frames, rng)
            if self.aug_types:
                kinds = ("clean",) + self.aug_types
                crops.append(Crop(v, start, length, kinds[int(rng.integers(len(kinds)))],
                                  int(rng.integers(0, 2**63 - 1))))
            else:
                crops.append(Crop(v, start, length))
        return BatchSpec({"feats": crops}, srcs, [self.labels[s] for s in srcs], index=g)


class UttPlan(Plan):
    """Whole utterances sorted by length (longest first), packed into batches of at most
    ``batch_size`` utterances and ``max_frames`` padded frames; no randomness."""

    def __init__(self, utts: Sequence[str], num_kept: Mapping[str, int], *, batch_size: int = 64,
                 max_frames: int | None = None, labels: Mapping[str, int] | None = None):
        order = sorted(utts, key=lambda u: (-num_kept[u], sort_key(u)))
        self.batches: list[list[str]] = []
        cur: list[str] = []
        for u in order:
            longest = num_kept[cur[0]] if cur else num_kept[u]
            if cur and (len(cur) >= batch_size or (max_frames and longest * (len(cur) + 1) > max_frames)):
                self.batches.append(cur)
                cur = []
            cur.append(u)
        if cur:
            self.batches.append(cur)
        self.num_kept, self.labels = num_kept, labels

    def num_global_batches(self, epoch: int) -> int:
        return len(self.batches)

    def num_batches(self, epoch: int = 0, world_size: int = 1) -> int:
        return math.ceil(len(self.batches) / world_size)  # extraction keeps every utterance

    def batch(self, epoch: int, state, g: int) -> BatchSpec:
        utts = self.batches[g]
        labels = [self.labels[u] for u in utts] if self.labels is not None else None
        return BatchSpec({"feats": [Crop(u, 0, self.num_kept[u]) for u in utts]}, list(utts), labels, index=g)


class PlanSampler(Sampler):
    """Yields this rank's batch specs of one epoch from ``start_batch`` on (rank-local index)."""

    def __init__(self, plan: Plan, epoch: int = 0, rank: int = 0, world_size: int = 1, start_batch: int = 0,
                 drop_last: bool = True):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.plan, self.epoch, self.rank, self.world_size = plan, epoch, rank, world_size
        self.start_batch = int(start_batch)
        n = plan.num_batches(epoch, world_size)
        total = plan.num_global_batches(epoch)
        if not drop_last:
            n = len(range(rank, total, world_size))
        self.n = n
        if n == 0:
            raise ValueError(f"no batches: {total} global batches for {world_size} rank(s) "
                             "(fewer training utterances than one batch per rank)")
        if not 0 <= self.start_batch <= n:
            raise ValueError(f"start_batch {start_batch} outside the epoch's {n} batches")

    def __len__(self) -> int:
        return self.n - self.start_batch

    def __iter__(self):
        state = self.plan.prepare(self.epoch)
        for i in range(self.start_batch, self.n):
            yield self.plan.batch(self.epoch, state, i * self.world_size + self.rank)
