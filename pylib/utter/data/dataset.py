"""Training and extraction data loading: batch plans drawn in the main process, read by workers.

An epoch's batches are a pure function of ``(seed, epoch)``: a
:class:`~utter.data.plans.PlanSampler` yields batch *specifications* (which utterance, copy,
kept-frame start and length each crop has), drawn from a numpy Generator seeded by ``(seed,
epoch, global batch index)`` (the plans: :mod:`utter.data.plans`); a :class:`BatchDataset` turns
a specification into tensors. So the batches do not depend on
``num_workers``, resuming at ``start_batch`` gives exactly the remaining batches, and rank
``r`` of ``world_size`` takes global batches ``r, r + world_size, ...`` (disjoint).

Features come from ``feats.scp`` (:class:`FeatureReader`: only the rows a crop needs are
read and decompressed, sliding CMN then VAD as Kaldi's ``apply-cmvn-sliding |
select-voiced-frames``) or from ``wav.scp`` (:class:`AudioFeatureReader`: on-the-fly
augmentation and fbank, for users who store no features).
"""
from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from utter.data.audio import AudioReader
from utter.data.chunks import AUG_TYPES, Crop, build_orig2copies, derive_seed
from utter.data.datadir import DataDir, DataDirError, sort_key
from utter.data.features import compute_fbank, compute_vad, resample, sliding_cmn
from utter.data.kaldi_io import ArkError, ArkReader, read_in_ark_order
from utter.data.options import FbankOptions, VadOptions
from utter.data.plans import BatchSpec, ChunkPlan, MultiCropPlan, Plan, PlanSampler, UttPlan

if TYPE_CHECKING:  # for annotations only: the loaders take an augmenter, they need not import scipy's
    from utter.data.augment import Augmenter

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- corpus tables

class Corpus:
    """The utterance tables of one or more data dirs merged (an error on a repeated utterance)."""

    def __init__(self, data_dirs: str | os.PathLike | Sequence[str | os.PathLike]):
        if isinstance(data_dirs, (str, os.PathLike)):
            data_dirs = [data_dirs]
        self.dirs = [DataDir(d) for d in data_dirs]
        if not self.dirs:
            raise ValueError("no data dir given")
        self.utt2dir: OrderedDict[str, int] = OrderedDict()
        self.utt2spk: dict[str, str] = {}
        for i, d in enumerate(self.dirs):
            for utt, spk in d.utt2spk.items():
                if utt in self.utt2dir:
                    raise DataDirError(f"utterance '{utt}' is in both {self.dirs[self.utt2dir[utt]].path} and {d.path}")
                self.utt2dir[utt] = i
                self.utt2spk[utt] = spk
        self.utts = sorted(self.utt2dir, key=sort_key)

    def table(self, name: str, *, required: bool = True) -> dict[str, str]:
        """``name`` merged over the dirs; with ``required`` every utterance must have an entry."""
        out: dict[str, str] = {}
        for d in self.dirs:
            if d.has(name):
                out.update(d.read(name))
            elif required:
                raise DataDirError(f"{d.file(name)}: no such file")
        if required:
            for utt in self.utts:
                if utt not in out:
                    d = self.dirs[self.utt2dir[utt]]
                    raise DataDirError(f"{utt}: no entry in {d.file(name)}")
        return out

    def has(self, name: str) -> bool:
        return any(d.has(name) for d in self.dirs)


def label_map(labels: Sequence[str]) -> dict[str, int]:
    """Label -> index in ``LC_ALL=C`` order of the distinct labels."""
    return {lab: i for i, lab in enumerate(sorted(set(labels), key=sort_key))}


# --------------------------------------------------------------------------- feature readers

class FeatureReader:
    """Crops of stored features: ``feats.scp`` rows, sliding CMN, then VAD (``vad.scp``).

    ``num_kept[utt]`` is the number of voiced frames (all frames without VAD). A crop
    ``(start, length)`` in kept-frame space reads only the frames it spans plus the CMN
    window on each side, so the result equals CMN over the whole utterance, then VAD, then
    slicing (checked in the tests).
    """

    def __init__(self, corpus: Corpus, *, apply_vad: bool = True, cmn_window: int = 300,
                 cmn: bool = True, norm_vars: bool = False, utts: Sequence[str] | None = None):
        self.feats = corpus.table("feats.scp")
        self.cmn, self.cmn_window, self.norm_vars = cmn, int(cmn_window), norm_vars
        self.ark = ArkReader()
        self.cols: int | None = None
        utts = corpus.utts if utts is None else list(utts)
        self.vad: dict[str, tuple[np.ndarray, int]] | None = None
        self.num_kept: dict[str, int] = {}
        if apply_vad:
            self.vad = _read_vad(corpus, utts)
            for utt in utts:
                packed, n = self.vad[utt]
                self.num_kept[utt] = int(np.unpackbits(packed, count=n).sum())
        else:
            frames = corpus.table("utt2num_frames", required=False)
            for utt in utts:
                if utt not in self.feats:
                    raise DataDirError(f"{utt}: no entry in feats.scp")
                try:
                    self.num_kept[utt] = int(frames[utt]) if utt in frames else self.ark.num_rows(self.feats[utt])
                except (ArkError, OSError) as e:
                    raise ArkError(f"{utt}: cannot read its features: {e}") from None

    def kept_frames(self, utt: str) -> np.ndarray | None:
        if self.vad is None:
            return None
        packed, n = self.vad[utt]
        return np.flatnonzero(np.unpackbits(packed, count=n))

    def _cmn(self, x: np.ndarray) -> np.ndarray:
        if not self.cmn:
            return x
        return np.asarray(sliding_cmn(x, window=self.cmn_window, center=True, norm_vars=self.norm_vars),
                          dtype=np.float32)

    def read_crop(self, crop: Crop) -> np.ndarray:
        """The crop's ``[length, F]`` features after CMN and VAD."""
        utt = crop.utt
        try:
            entry = self.feats[utt]
        except KeyError:
            raise DataDirError(f"{utt}: no entry in feats.scp") from None
        try:
            x = self._read_crop(utt, entry, crop)
        except (ArkError, OSError) as e:
            raise ArkError(f"{utt}: cannot read its features: {e}") from None
        if self.cols is None:
            self.cols = x.shape[1]
        elif x.shape[1] != self.cols:
            raise ValueError(f"{utt}: {x.shape[1]} feature columns in {entry}, the utterances read before have "
                             f"{self.cols}")
        if not np.isfinite(x).all():
            raise ValueError(f"{utt}: non-finite feature values (NaN or inf) in {entry}: recompute its features "
                             "(steps/make_fbank.sh --overwrite true) or leave it out")
        return x

    def _read_crop(self, utt: str, entry: str, crop: Crop) -> np.ndarray:
        header = self.ark.header(entry)
        total = header.rows if header is not None else None
        kept = self.kept_frames(utt)
        if kept is not None:
            if total is not None and self.vad[utt][1] != total:
                raise ValueError(f"{utt}: vad.scp has {self.vad[utt][1]} frames but feats.scp has {total}")
            if crop.start + crop.length > len(kept):
                raise ValueError(f"{utt}: crop [{crop.start}, {crop.start + crop.length}) beyond its "
                                 f"{len(kept)} voiced frames")
            idx = kept[crop.start:crop.start + crop.length]
            first, last = int(idx[0]), int(idx[-1]) + 1
        else:
            idx, first, last = None, crop.start, crop.start + crop.length
        if total is None:
            total = self.ark.num_rows(entry)
        ctx = self.cmn_window if self.cmn else 0
        a, b = max(0, first - ctx), min(total, last + ctx)
        x = self._cmn(self.ark.rows(entry, a, b, header))
        return x[idx - a] if idx is not None else x[first - a:last - a]

    def read_utt(self, utt: str) -> np.ndarray:
        """The whole utterance after CMN and VAD."""
        return self.read_crop(Crop(utt, 0, self.num_kept[utt]))


def _read_vad(corpus: Corpus, utts: Sequence[str]) -> dict[str, tuple[np.ndarray, int]]:
    """utt -> (packed VAD bits, number of frames), read sequentially from vad.scp."""
    if not corpus.has("vad.scp"):
        raise DataDirError(f"{corpus.dirs[0].file('vad.scp')}: no such file (run steps/compute_vad.sh, "
                           "or train without VAD)")
    vad_scp = corpus.table("vad.scp", required=False)
    for utt in utts:
        if utt not in vad_scp:
            d = corpus.dirs[corpus.utt2dir[utt]]
            raise DataDirError(f"{utt}: no entry in {d.file('vad.scp')}")
    out: dict[str, tuple[np.ndarray, int]] = {}
    for utt, v in read_in_ark_order(vad_scp, utts):
        v = v.reshape(-1)
        out[utt] = (np.packbits(v > 0.5), int(v.shape[0]))
    return out


class AudioFeatureReader:
    """Crops computed from ``wav.scp``: optional on-the-fly augmentation, fbank, CMN, VAD.

    VAD is computed on the clean audio's log-energy (Kaldi copies the clean VAD to augmented
    copies). The sampler plans crops over ``num_kept`` = the utterance's frame count (VAD
    is unknown before decoding); a crop's length is then capped at the voiced frames and its
    start scaled to the same relative position within them.
    """

    def __init__(self, corpus: Corpus, *, fbank_opts: FbankOptions | None = None, vad_opts: VadOptions | None = None,
                 apply_vad: bool = True, cmn_window: int = 300, cmn: bool = True, augmenter: Augmenter | None = None,
                 utts: Sequence[str] | None = None, allow_resample: bool = False):
        self.allow_resample = allow_resample
        self.fbank_opts = fbank_opts if fbank_opts is not None else FbankOptions()
        self.vad_opts = vad_opts if vad_opts is not None else VadOptions()
        self.apply_vad, self.cmn, self.cmn_window = apply_vad, cmn, int(cmn_window)
        self.augmenter = augmenter
        self.corpus = corpus
        self.readers = [AudioReader(d.path) for d in corpus.dirs]
        utts = corpus.utts if utts is None else list(utts)
        frames = corpus.table("utt2num_frames", required=False)
        durs = corpus.table("utt2dur", required=False)
        shift = float(getattr(self.fbank_opts, "frame_shift", 10.0)) / 1000.0
        length = float(getattr(self.fbank_opts, "frame_length", 25.0)) / 1000.0
        self.num_kept = {}
        for utt in utts:
            if utt in frames:
                self.num_kept[utt] = int(frames[utt])
            elif utt in durs:
                self.num_kept[utt] = max(0, int((float(durs[utt]) - length) / shift) + 1)
            else:
                d = corpus.dirs[corpus.utt2dir[utt]]
                raise DataDirError(f"{utt}: no entry in {d.file('utt2num_frames')} or {d.file('utt2dur')} "
                                   "(run utils/data/get_utt2dur.sh)")

    def _features(self, utt: str, aug: str | None, aug_seed: int) -> np.ndarray:
        samples, rate = self.readers[self.corpus.utt2dir[utt]].read(utt)
        target = int(self.fbank_opts.sample_frequency)
        if self.allow_resample and int(rate) != target:  # as make_fbank --allow-resample: before any augmentation
            samples, rate = resample(samples, int(rate), target), target
        feats, log_energy = compute_fbank(samples, rate, self.fbank_opts, utt)
        vad = compute_vad(log_energy, self.vad_opts) if self.apply_vad else None
        if aug not in (None, "clean"):
            if self.augmenter is None:
                raise ValueError(f"{utt}: augmentation '{aug}' requested but no augmenter was given")
            noisy = self.augmenter.apply(samples, rate, aug, np.random.default_rng(aug_seed))
            feats, _ = compute_fbank(noisy, rate, self.fbank_opts, utt)
        if self.cmn:
            feats = np.asarray(sliding_cmn(feats, window=self.cmn_window, center=True), dtype=np.float32)
        if vad is not None:
            feats = feats[np.asarray(vad) > 0.5]
        return feats

    def read_crop(self, crop: Crop) -> np.ndarray:
        feats = self._features(crop.utt, crop.aug, crop.aug_seed)
        kept = feats.shape[0]
        if kept == 0:
            raise ValueError(f"{crop.utt}: no voiced frames")
        planned = max(self.num_kept.get(crop.utt, kept), crop.length)
        length = min(crop.length, kept)
        slots = planned - crop.length + 1
        start = min(kept - length, int(crop.start * (kept - length + 1) // max(1, slots)))
        return feats[start:start + length]

    def read_utt(self, utt: str) -> np.ndarray:
        return self._features(utt, None, 0)


# --------------------------------------------------------------------------- batches

class BatchDataset(Dataset):
    """Reads a :class:`BatchSpec` into tensors: for each non-empty group ``name`` a zero-padded
    ``[n, T, F]`` float tensor and ``name + "_lengths"`` ``[n]``; ``labels`` ``[B]`` int64 when
    labelled; ``utts`` the source utterance ids; ``index`` the global batch index."""

    def __init__(self, reader: FeatureReader | AudioFeatureReader):
        self.reader = reader

    def __len__(self) -> int:  # map-style, indexed by specs from PlanSampler
        raise TypeError("BatchDataset is indexed by BatchSpec objects from a PlanSampler")

    def __getitem__(self, spec: BatchSpec) -> dict:
        out: dict = {"utts": spec.utts, "index": spec.index}
        for name, crops in spec.groups.items():
            if not crops:   # a group of no crops (multi-crop with num_local 0): no key, nothing to pad
                continue
            mats = [self.reader.read_crop(c) for c in crops]
            out[name], out[name + "_lengths"] = pad_batch(mats)
        if spec.labels is not None:
            out["labels"] = torch.tensor(spec.labels, dtype=torch.int64)
        return out


def pad_batch(mats: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``[T_i, F]`` matrices into a zero-padded ``[n, max T, F]`` tensor and lengths."""
    lengths = torch.tensor([m.shape[0] for m in mats], dtype=torch.int64)
    dim = mats[0].shape[1]
    out = torch.zeros(len(mats), int(lengths.max()), dim, dtype=torch.float32)
    for i, m in enumerate(mats):
        out[i, :m.shape[0]] = torch.from_numpy(np.ascontiguousarray(m, dtype=np.float32))
    return out, lengths


# --------------------------------------------------------------------------- loader factories

def _seed_worker(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    seed = info.seed % 2**32
    np.random.seed(seed)  # noqa: NPY002 - only for third-party code that uses the global state
    torch.set_num_threads(1)


@dataclass
class LoaderFactory:
    """``factory(epoch, rank, world_size, start_batch) -> DataLoader`` over one plan.

    ``factory.num_batches(epoch, world_size)`` is the number of batches each rank gets in
    an epoch. Batches do not depend on ``num_workers``; worker seeds derive from
    ``(seed, epoch)`` and the worker id.
    """

    plan: Plan
    reader: FeatureReader | AudioFeatureReader
    num_workers: int = 0
    seed: int = 0
    drop_last: bool = True
    pin_memory: bool = False
    prefetch_factor: int | None = None
    extra: dict = field(default_factory=dict)

    def num_batches(self, epoch: int = 0, world_size: int = 1) -> int:
        return self.plan.num_batches(epoch, world_size)

    def sampler(self, epoch: int = 0, rank: int = 0, world_size: int = 1, start_batch: int = 0) -> PlanSampler:
        return PlanSampler(self.plan, epoch, rank, world_size, start_batch, self.drop_last)

    def __call__(self, epoch: int = 0, rank: int = 0, world_size: int = 1, start_batch: int = 0) -> DataLoader:
        gen = torch.Generator()
        gen.manual_seed(derive_seed(self.seed, epoch, rank, "loader"))
        kwargs = {}
        if self.num_workers > 0:
            kwargs = dict(worker_init_fn=_seed_worker, prefetch_factor=self.prefetch_factor or 2)
        return DataLoader(BatchDataset(self.reader), sampler=self.sampler(epoch, rank, world_size, start_batch),
                          batch_size=None, collate_fn=_identity, num_workers=self.num_workers,
                          pin_memory=self.pin_memory, generator=gen, **kwargs)


def _identity(x):
    return x


def _make_reader(corpus: Corpus, *, audio: bool, apply_vad: bool, cmn_window: int, cmn: bool,
                 augmenter=None, fbank_opts=None, vad_opts=None, utts=None, allow_resample=False):
    if audio:
        return AudioFeatureReader(corpus, fbank_opts=fbank_opts, vad_opts=vad_opts, apply_vad=apply_vad,
                                  cmn_window=cmn_window, cmn=cmn, augmenter=augmenter, utts=utts,
                                  allow_resample=allow_resample)
    return FeatureReader(corpus, apply_vad=apply_vad, cmn_window=cmn_window, cmn=cmn, utts=utts)


def _sources(corpus: Corpus) -> dict[str, list[str]]:
    """Source -> views. The dirs after the first hold augmented copies: each must name its copies'
    sources in ``utt2orig`` (else every copy would be its own source, and no clean and augmented views
    would ever be paired); copies of utterances that are not in the first dir are left out and counted."""
    utt2orig = corpus.table("utt2orig", required=False) if corpus.has("utt2orig") else {}
    first = corpus.dirs[0]
    in_first = {u for u, i in corpus.utt2dir.items() if i == 0}
    dropped: set[str] = set()
    for i, d in enumerate(corpus.dirs[1:], 1):
        if not d.has("utt2orig"):
            raise DataDirError(f"{d.file('utt2orig')}: no such file: a data dir of augmented copies names each "
                               "copy's source utterance there (steps/augment_data_dir.sh writes it)")
        table = d.read("utt2orig")
        copies = [u for u in corpus.utts if corpus.utt2dir[u] == i]
        for u in copies:
            if u not in table:
                raise DataDirError(f"{u}: no entry in {d.file('utt2orig')} (which source is it a copy of?)")
        strays = [u for u in copies if table[u].split()[0] not in in_first]
        if len(strays) == len(copies):
            u = strays[0]
            raise DataDirError(f"{d.file('utt2orig')}: none of its {len(copies)} copies is of an utterance of "
                               f"{first.path} (e.g. {u} -> {table[u].split()[0]}): augmented from another data dir?")
        if strays:
            log.warning("%s: %d of %d copies are of utterances not in %s (e.g. %s -> %s): left out",
                        d.file("utt2orig"), len(strays), len(copies), first.path, strays[0],
                        table[strays[0]].split()[0])
            dropped.update(strays)
    utts = [u for u in corpus.utts if u not in dropped] if dropped else corpus.utts
    return build_orig2copies(utts, {u: o.split()[0] for u, o in utt2orig.items()})


def multi_crop_loader_factory(data_dirs: str | os.PathLike | Sequence[str | os.PathLike], *, batch_size: int,
                              seed: int = 0, num_workers: int = 0, global_frames: int = 400, num_global: int = 2,
                              local_frames: int = 200, num_local: int = 4, min_frames: int = 100,
                              apply_vad: bool = True, cmn_window: int = 300, cmn: bool = True, audio: bool = False,
                              augmenter: Augmenter | None = None, aug_types: Sequence[str] = AUG_TYPES,
                              fbank_opts: FbankOptions | None = None, vad_opts: VadOptions | None = None,
                              pin_memory: bool = False, allow_resample: bool = False) -> LoaderFactory:
    """Multi-crop loaders (DINO's student and teacher views). Batches: ``global`` ``[B*num_global, T_g, F]``, ``local``
    ``[B*num_local, T_l, F]`` (view-major), ``*_lengths``, ``utts`` (the B sources).

    From features (default): views are the source and its augmented copies (``utt2orig``).
    With ``audio=True``: ``wav.scp``, each view augmented on the fly by ``augmenter``
    (an :class:`utter.data.augment.Augmenter`) with a type drawn from clean + ``aug_types``; audio at
    another rate than ``fbank_opts`` is resampled with ``allow_resample``, else an error.
    """
    corpus = Corpus(data_dirs)
    reader = _make_reader(corpus, audio=audio, apply_vad=apply_vad, cmn_window=cmn_window, cmn=cmn,
                          augmenter=augmenter, fbank_opts=fbank_opts, vad_opts=vad_opts,
                          allow_resample=allow_resample)
    types = tuple(aug_types) if (audio and augmenter is not None) else ()
    plan = MultiCropPlan(_sources(corpus), reader.num_kept, batch_size=batch_size, seed=seed,
                    global_frames=global_frames, num_global=num_global, local_frames=local_frames,
                    num_local=num_local, min_frames=min_frames, aug_types=types)
    return LoaderFactory(plan, reader, num_workers, seed, pin_memory=pin_memory)


def _labels_for(corpus: Corpus, sources: Mapping[str, list[str]], label_table: str,
                labels: Sequence[str] | None) -> tuple[dict[str, int], dict[str, int]]:
    table = corpus.utt2spk if label_table == "utt2spk" else corpus.table(label_table, required=False)
    src_label: dict[str, str] = {}
    for src, views in sources.items():
        lab = table.get(src)
        if lab is None:
            lab = next((table[v] for v in views if v in table), None)
        if lab is None:
            raise DataDirError(f"{src}: no entry in {label_table}")
        src_label[src] = lab.split()[0]
    lmap = {lab: i for i, lab in enumerate(labels)} if labels is not None else label_map(list(src_label.values()))
    out = {}
    for src, lab in src_label.items():
        if lab not in lmap:
            raise ValueError(f"{src}: label '{lab}' in {label_table} is not one of {sorted(lmap)}")
        out[src] = lmap[lab]
    return out, lmap


def chunk_loader_factory(data_dirs: str | os.PathLike | Sequence[str | os.PathLike], *, batch_size: int,
                         chunk_frames: int | None = 400, seed: int = 0, num_workers: int = 0,
                         label_table: str = "utt2spk", labels: Sequence[str] | None = None,
                         balanced: bool = True, num_batches: int | None = None, min_frames: int = 100,
                         apply_vad: bool = True, cmn_window: int = 300, cmn: bool = True, audio: bool = False,
                         augmenter=None, aug_types: Sequence[str] = AUG_TYPES, fbank_opts=None,
                         vad_opts=None, pin_memory: bool = False, allow_resample: bool = False) -> LoaderFactory:
    """Labelled chunk loaders (speaker classification, emotion/label fine-tuning).

    Batches: ``feats`` ``[B, T, F]`` (zero-padded), ``feats_lengths``, ``labels`` ``[B]``,
    ``utts``. ``label_table`` names the utt->label table (``utt2spk``, ``utt2emo``,
    ``utt2label`` ...), the label map is ``labels`` in order or the sorted distinct labels
    (``factory.extra["label_map"]``). ``balanced``: draw a label uniformly, then an utterance;
    else a shuffled pass. ``chunk_frames=None`` reads whole utterances.
    """
    corpus = Corpus(data_dirs)
    reader = _make_reader(corpus, audio=audio, apply_vad=apply_vad, cmn_window=cmn_window, cmn=cmn,
                          augmenter=augmenter, fbank_opts=fbank_opts, vad_opts=vad_opts,
                          allow_resample=allow_resample)
    sources = _sources(corpus)
    src_labels, lmap = _labels_for(corpus, sources, label_table, labels)
    types = tuple(aug_types) if (audio and augmenter is not None) else ()
    plan = ChunkPlan(sources, reader.num_kept, src_labels, batch_size=batch_size, chunk_frames=chunk_frames,
                     seed=seed, balanced=balanced, min_frames=min_frames, num_batches=num_batches,
                     aug_types=types)
    return LoaderFactory(plan, reader, num_workers, seed, pin_memory=pin_memory, extra={"label_map": lmap})


def utterance_loader_factory(data_dirs: str | os.PathLike | Sequence[str | os.PathLike], *,
                             batch_size: int = 64, max_frames: int | None = None, num_workers: int = 0,
                             label_table: str | None = None, labels: Sequence[str] | None = None,
                             utts: Sequence[str] | None = None, apply_vad: bool = True,
                             cmn_window: int = 300, cmn: bool = True, audio: bool = False, fbank_opts=None,
                             vad_opts=None, allow_resample: bool = False) -> LoaderFactory:
    """Whole-utterance batches sorted by length, for extraction and evaluation; every utterance
    once (rank r of W takes batches r, r+W, ...). Batches: ``feats``, ``feats_lengths``,
    ``utts``, and ``labels`` with ``label_table``."""
    corpus = Corpus(data_dirs)
    reader = _make_reader(corpus, audio=audio, apply_vad=apply_vad, cmn_window=cmn_window, cmn=cmn,
                          fbank_opts=fbank_opts, vad_opts=vad_opts, utts=utts, allow_resample=allow_resample)
    chosen = list(reader.num_kept)
    empty = [u for u in chosen if reader.num_kept[u] == 0]
    if empty:
        raise ValueError(f"{empty[0]}: no voiced frames ({len(empty)} utterance(s) without voiced frames)")
    lab = lmap = None
    if label_table is not None:
        lab, lmap = _labels_for(corpus, {u: [u] for u in chosen}, label_table, labels)
    plan = UttPlan(chosen, reader.num_kept, batch_size=batch_size, max_frames=max_frames, labels=lab)
    return LoaderFactory(plan, reader, num_workers, 0, drop_last=False, extra={"label_map": lmap})


__all__ = [
    "Corpus", "FeatureReader", "AudioFeatureReader", "BatchDataset", "LoaderFactory", "multi_crop_loader_factory",
    "chunk_loader_factory", "utterance_loader_factory", "label_map", "pad_batch",
]
