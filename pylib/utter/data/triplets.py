"""Class-aware triplet batches for Lux et al.'s step 1: (anchor, positive, negative) crops.

Each epoch visits every source utterance once as an anchor (a seeded permutation). Its
positive is another utterance of the same class spoken by ANOTHER SPEAKER when the data
have one (so the space learns the class rather than the voice), else another utterance of
the same class and speaker, else another crop of the anchor itself; its negative is an
utterance of a different class (the class drawn uniformly among the others, then the
utterance), never of the anchor's class. Everything is drawn from a numpy Generator seeded
by ``(seed, epoch, batch)`` as the other plans of ``utter.data.plans``, so batches do not
depend on workers and a resumed run sees the same ones.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from utter.data.chunks import Crop, build_orig2copies, sample_chunk
from utter.data.dataset import Corpus, FeatureReader, LoaderFactory, label_map
from utter.data.plans import BatchSpec, Plan, UttPlan, report_short_utterances
from utter.data.waveform import WaveformReader

GROUPS = ("anchor", "positive", "negative")


class TripletPlan(Plan):
    """Triplet batch specs: groups ``anchor``/``positive``/``negative`` of ``batch_size`` crops each."""

    def __init__(self, sources: Mapping[str, list[str]], num_kept: Mapping[str, int], labels: Mapping[str, int],
                 speakers: Mapping[str, str], *, batch_size: int, chunk_frames: int | None = 200, seed: int = 0,
                 min_frames: int = 1, num_batches: int | None = None):
        self.num_kept, self.seed, self.batch_size = num_kept, int(seed), int(batch_size)
        self.chunk_frames = chunk_frames
        views = {s: [v for v in vs if num_kept[v] >= min_frames] for s, vs in sources.items()}
        self.views = {s: vs for s, vs in views.items() if vs}
        report_short_utterances(len(sources), len(self.views), min_frames, f"crops of {chunk_frames} frames")
        self.sources = list(self.views)
        self.labels = {s: int(labels[s]) for s in self.sources}
        self.speakers = {s: speakers[s] for s in self.sources}
        self.by_class: dict[int, list[str]] = {}
        for s in self.sources:
            self.by_class.setdefault(self.labels[s], []).append(s)
        self.classes = sorted(self.by_class)
        if len(self.classes) < 2:
            raise ValueError(f"triplets need at least two classes in the training set, found {len(self.classes)}")
        self._pos_pools: dict[tuple[int, str], list[str]] = {}
        self._num = num_batches
        if self.num_global_batches(0) < 1:
            raise ValueError(f"{len(self.sources)} training utterances: fewer than one batch of {batch_size}")

    def num_global_batches(self, epoch: int) -> int:
        return self._num if self._num is not None else len(self.sources) // self.batch_size

    def prepare(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed & (2**63 - 1), epoch, 0]).permutation(len(self.sources))

    def positive_pool(self, src: str) -> list[str]:
        """Candidates for the positive of anchor ``src``: same class, other speakers; else same
        class and speaker but another utterance; else the anchor itself."""
        key = (self.labels[src], self.speakers[src])
        pool = self._pos_pools.get(key)
        if pool is None:
            same = self.by_class[key[0]]
            pool = [s for s in same if self.speakers[s] != key[1]]
            self._pos_pools[key] = pool
        if pool:
            return pool
        others = [s for s in self.by_class[key[0]] if s != src]
        return others or [src]

    def _crop(self, src: str, rng: np.random.Generator) -> Crop:
        views = self.views[src]
        v = views[int(rng.integers(len(views)))]
        start, length = sample_chunk(self.num_kept[v], self.chunk_frames or self.num_kept[v], rng)
        return Crop(v, start, length)

    def batch(self, epoch: int, perm: np.ndarray, g: int) -> BatchSpec:
        rng = self.rng(epoch, g)
        n = len(self.sources)
        anchors = [self.sources[perm[i % n]] for i in range(g * self.batch_size, (g + 1) * self.batch_size)]
        groups: dict[str, list[Crop]] = {k: [] for k in GROUPS}
        for a in anchors:
            pool = self.positive_pool(a)
            p = pool[int(rng.integers(len(pool)))]
            others = [c for c in self.classes if c != self.labels[a]]
            neg_pool = self.by_class[others[int(rng.integers(len(others)))]]
            neg = neg_pool[int(rng.integers(len(neg_pool)))]
            for name, src in zip(GROUPS, (a, p, neg)):
                groups[name].append(self._crop(src, rng))
        return BatchSpec(groups, anchors, [self.labels[a] for a in anchors], index=g)


def fold_corpus(data_dirs: str | os.PathLike | Sequence[str | os.PathLike], utts: Sequence[str] | None,
                label_table: str, labels: Sequence[str] | None = None
                ) -> tuple[Corpus, dict[str, list[str]], dict[str, int], dict[str, int]]:
    """(corpus, source -> views restricted to ``utts`` and their augmented copies, source -> class,
    label map). The label map is over the whole corpus (all folds share it) unless ``labels``."""
    corpus = Corpus(data_dirs)
    utt2orig = corpus.table("utt2orig", required=False) if corpus.has("utt2orig") else {}
    if utts is not None:
        wanted = set(utts)
        missing = sorted(wanted - set(corpus.utt2dir))
        if missing:
            raise ValueError(f"{missing[0]}: in the fold list but not in {corpus.dirs[0].path} "
                             f"({len(missing)} missing)")
        chosen = [u for u in corpus.utts if utt2orig.get(u, u) in wanted]
    else:
        chosen = list(corpus.utts)
    sources = build_orig2copies(chosen, utt2orig)
    table = corpus.table(label_table, required=False)
    src_label: dict[str, str] = {}
    for src, views in sources.items():
        lab = table.get(src) or next((table[v] for v in views if v in table), None)
        if lab is None:
            raise ValueError(f"{src}: no entry in {corpus.dirs[0].file(label_table)}")
        src_label[src] = lab.split()[0]
    if labels is not None:
        lmap = {lab: i for i, lab in enumerate(labels)}
    else:
        lmap = label_map([table[u].split()[0] for u in corpus.utts if u in table])
    bad = [s for s, lab in src_label.items() if lab not in lmap]
    if bad:
        raise ValueError(f"{bad[0]}: label '{src_label[bad[0]]}' is not one of {sorted(lmap)}")
    return corpus, sources, {s: lmap[lab] for s, lab in src_label.items()}, lmap


def make_reader(corpus: Corpus, utts: Sequence[str], *, waveform: bool, apply_vad: bool = True,
                cmn_window: int = 300, sample_rate: int = 16000):
    """A reader of the given utterances: waveform crops, or stored features with CMN + VAD."""
    if waveform:
        return WaveformReader(corpus, sample_rate=sample_rate, utts=utts)
    return FeatureReader(corpus, apply_vad=apply_vad, cmn_window=cmn_window, utts=utts)


def triplet_loader_factory(data_dirs: str | os.PathLike | Sequence[str | os.PathLike], *, batch_size: int,
                           label_table: str, utts: Sequence[str] | None = None, labels: Sequence[str] | None = None,
                           chunk_frames: int | None = 200, seed: int = 0, num_workers: int = 0,
                           min_frames: int = 1, num_batches: int | None = None, waveform: bool = False,
                           apply_vad: bool = True, cmn_window: int = 300) -> LoaderFactory:
    """Triplet loaders over the utterances ``utts`` (a fold's training list) and their copies.

    Batches: ``anchor``/``positive``/``negative`` ``[B, T, F]`` (``[B, S, 1]`` with ``waveform``)
    with ``*_lengths``, ``labels`` (anchors' classes), ``utts`` (anchor sources).
    ``factory.extra['label_map']`` is the label -> class map.
    """
    corpus, sources, src_labels, lmap = fold_corpus(data_dirs, utts, label_table, labels)
    views = [v for vs in sources.values() for v in vs]
    reader = make_reader(corpus, views, waveform=waveform, apply_vad=apply_vad, cmn_window=cmn_window)
    plan = TripletPlan(sources, reader.num_kept, src_labels, {s: corpus.utt2spk[s] for s in sources},
                       batch_size=batch_size, chunk_frames=chunk_frames, seed=seed, min_frames=min_frames,
                       num_batches=num_batches)
    return LoaderFactory(plan, reader, num_workers, seed, extra={"label_map": lmap})


def utterance_loader(reader, utts: Sequence[str], *, batch_size: int = 32, max_frames: int | None = None
                     ) -> LoaderFactory:
    """Whole-utterance batches (sorted by length) of ``utts`` through any reader."""
    empty = [u for u in utts if reader.num_kept[u] == 0]
    if empty:
        raise ValueError(f"{empty[0]}: no frames to embed ({len(empty)} utterance(s))")
    plan = UttPlan(list(utts), reader.num_kept, batch_size=batch_size, max_frames=max_frames)
    return LoaderFactory(plan, reader, 0, 0, drop_last=False)
