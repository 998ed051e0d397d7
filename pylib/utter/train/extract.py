"""Embedding extraction over a data dir, and speaker (or enrolment) means of the embeddings.

Features are prepared exactly as in training (``utter.data.dataset.FeatureReader``: sliding
CMN over the whole utterance, then VAD). Whole utterances are batched by length (the
loader's :class:`~utter.data.plans.UttPlan`; padding goes to the network through
``lengths``). With ``chunk_len`` an utterance's voiced frames are cut into consecutive,
non-overlapping chunks of ``chunk_len`` frames (see :func:`frame_chunks`), and its
embedding is the mean of the chunk embeddings, so memory stays bounded on long recordings.

An utterance whose VAD keeps fewer than ``min_voiced_frames`` frames is embedded whole,
without VAD; such utterances are counted and named in the log, never dropped.

With ``audio`` options the features are computed from ``wav.scp`` as the training loaders'
``--from-audio`` path computes them (``utter.data.dataset.AudioFeatureReader``: fbank, CMN,
VAD; no augmentation); whole utterances only, since VAD is known only once an utterance is read.
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from utter.data.chunks import Crop
from utter.data.datadir import DataDirError, read_list_table, sort_key, write_table
from utter.data.dataset import AudioFeatureReader, Corpus, FeatureReader, LoaderFactory
from utter.data.kaldi_io import open_scp, write_vectors
from utter.data.plans import UttPlan
from utter.progress import bar as progress_bar
from utter.train.checkpoint import load_embedder

log = logging.getLogger(__name__)


@dataclass
class ExtractOptions:
    """How utterances are read and batched for extraction (defaults as the training loaders)."""

    batch_size: int = 64            # utterances (or chunks) per batch
    max_frames: int | None = 32000  # padded frames per batch (None: no cap); a longer item gets its own batch
    chunk_len: int | None = None    # None/0: whole utterances; else chunk length in (voiced) frames
    min_chunk_len: int | None = None  # shortest last chunk kept on its own (None: chunk_len // 2)
    use_vad: bool = True
    cmn: bool = True
    cmn_window: int = 300           # as utter.data.dataset's loaders
    min_voiced_frames: int = 50     # below this, embed the whole utterance without VAD
    num_workers: int = 0

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")
        if self.chunk_len is not None and self.chunk_len < 0:
            raise ValueError(f"chunk length must be positive (or 0 for whole utterances), got {self.chunk_len}")
        if self.chunk_len and self.min_chunk_len is not None and not 1 <= self.min_chunk_len <= self.chunk_len:
            raise ValueError(f"min chunk length {self.min_chunk_len} must lie in [1, {self.chunk_len}]")
        if self.min_voiced_frames < 1:
            raise ValueError(f"min voiced frames must be at least 1, got {self.min_voiced_frames}")


@dataclass
class ExtractStats:
    """What one extraction did (for the log)."""

    utterances: int = 0
    chunks: int = 0
    frames: int = 0
    seconds: float = 0.0
    no_vad: list[str] = field(default_factory=list)  # utterances embedded without VAD (too few voiced frames)

    def summary(self) -> str:
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        s = (f"{self.utterances} utterances, {self.chunks} forward items, {self.frames} frames "
             f"in {self.seconds:.1f} s ({rate:.0f} frames/s)")
        if self.no_vad:
            s += (f"; {len(self.no_vad)} utterance(s) had too few voiced frames and were embedded whole "
                  f"without VAD: {' '.join(self.no_vad[:10])}{' ...' if len(self.no_vad) > 10 else ''}")
        return s


def frame_chunks(num_frames: int, chunk_len: int, min_len: int) -> list[tuple[int, int]]:
    """``(start, length)`` of the chunks of an utterance of ``num_frames`` frames.

    Consecutive, non-overlapping chunks of ``chunk_len`` frames from frame 0; the remainder
    becomes a last chunk of its own when it has at least ``min_len`` frames, else it is merged
    into the previous chunk. An utterance of at most ``chunk_len`` frames is one chunk.
    """
    if num_frames < 1:
        raise ValueError(f"cannot chunk an utterance of {num_frames} frames")
    full, rest = divmod(num_frames, chunk_len)
    if full == 0:
        return [(0, num_frames)]
    bounds = [(i * chunk_len, chunk_len) for i in range(full)]
    if rest >= min_len:
        bounds.append((full * chunk_len, rest))
    elif rest:
        start, length = bounds[-1]
        bounds[-1] = (start, length + rest)
    return bounds


class SegmentReader:
    """Reads forward items ``"<utt> <k>"`` (chunk k of utt) for the loader's BatchDataset.

    Each item maps to a kept-frame range of its utterance in one of two FeatureReaders: with
    VAD, or (for utterances with too few voiced frames) without it.
    """

    def __init__(self, readers: Sequence[FeatureReader | AudioFeatureReader],
                 items: Mapping[str, tuple[int, str, int, int]]):
        self.readers = list(readers)
        self.items = dict(items)  # item -> (reader index, utt, start, length)
        self.num_kept = {k: v[3] for k, v in self.items.items()}

    def read_crop(self, crop: Crop) -> np.ndarray:
        ri, utt, start, _ = self.items[crop.utt]
        return self.readers[ri].read_crop(Crop(utt, start + crop.start, crop.length))


def item_id(utt: str, k: int) -> str:
    """The forward-item name of chunk ``k`` of ``utt`` (a space cannot occur in an utterance id)."""
    return f"{utt} {k:06d}"


def plan_items(data_dir: str | os.PathLike, opts: ExtractOptions, utts: Sequence[str] | None = None,
               audio: Mapping[str, Any] | None = None) -> tuple[SegmentReader, dict[str, int], ExtractStats]:
    """Readers and forward items of a data dir: returns the reader, utt -> number of items, stats.

    ``audio``: keyword options of ``AudioFeatureReader`` (``fbank_opts``, ``vad_opts``) to read
    ``wav.scp`` instead of ``feats.scp``; whole utterances only (no ``chunk_len``).
    """
    corpus = Corpus(data_dir)
    utts = corpus.utts if utts is None else sorted(utts, key=sort_key)
    if audio is not None:
        if opts.chunk_len:
            raise ValueError("chunked extraction needs stored features (feats.scp): use chunk_len 0 with audio")
        areader = AudioFeatureReader(corpus, apply_vad=opts.use_vad, cmn_window=opts.cmn_window, cmn=opts.cmn,
                                     utts=utts, **audio)
        items = {item_id(u, 0): (0, u, 0, areader.num_kept[u]) for u in utts}
        return SegmentReader([areader], items), {u: 1 for u in utts}, ExtractStats(chunks=len(items))
    feats = corpus.table("feats.scp", required=False)
    for utt in utts:
        if utt not in feats:
            raise DataDirError(f"{utt}: no entry in {corpus.dirs[0].file('feats.scp')}")
    reader = FeatureReader(corpus, apply_vad=opts.use_vad, cmn_window=opts.cmn_window, cmn=opts.cmn, utts=utts)
    readers = [reader]
    stats = ExtractStats()
    lengths = {u: (0, reader.num_kept[u]) for u in utts}
    if opts.use_vad:
        stats.no_vad = [u for u in utts if reader.num_kept[u] < opts.min_voiced_frames]
        if stats.no_vad:
            whole = FeatureReader(corpus, apply_vad=False, cmn_window=opts.cmn_window, cmn=opts.cmn,
                                  utts=stats.no_vad)
            readers.append(whole)
            for u in stats.no_vad:
                log.info("%s: %d voiced frames (< %d): embedding all %d frames without VAD", u,
                         reader.num_kept[u], opts.min_voiced_frames, whole.num_kept[u])
                lengths[u] = (1, whole.num_kept[u])
    items: dict[str, tuple[int, str, int, int]] = {}
    per_utt: dict[str, int] = {}
    min_len = opts.min_chunk_len if opts.min_chunk_len is not None else max(1, (opts.chunk_len or 0) // 2)
    for u in utts:
        ri, n = lengths[u]
        if n < 1:
            raise ValueError(f"{u}: no frames in {corpus.dirs[0].file('feats.scp')}")
        bounds = frame_chunks(n, opts.chunk_len, min_len) if opts.chunk_len else [(0, n)]
        for k, (start, length) in enumerate(bounds):
            items[item_id(u, k)] = (ri, u, start, length)
        per_utt[u] = len(bounds)
    stats.chunks = len(items)
    return SegmentReader(readers, items), per_utt, stats


def embed_data_dir(net: torch.nn.Module, data_dir: str | os.PathLike, opts: ExtractOptions | None = None, *,
                   device: str | torch.device = "cpu", utts: Sequence[str] | None = None,
                   stats: ExtractStats | None = None, progress: bool = True,
                   audio: Mapping[str, Any] | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(utt, embedding float32 [D])`` for every utterance of ``data_dir`` (as each completes).

    ``net`` maps ``(feats [B, T, F], lengths [B])`` to ``[B, D]`` and is used in eval mode;
    with chunks, an utterance's embedding is the mean of its chunk embeddings. ``audio``: read
    ``wav.scp`` with these ``AudioFeatureReader`` options (:func:`plan_items`).
    """
    opts = opts if opts is not None else ExtractOptions()
    device = torch.device(device)
    reader, per_utt, st = plan_items(data_dir, opts, utts, audio)
    if stats is not None:
        stats.__dict__.update(st.__dict__)
        st = stats
    st.utterances = len(per_utt)
    if not per_utt:
        return
    plan = UttPlan(list(reader.items), reader.num_kept, batch_size=opts.batch_size, max_frames=opts.max_frames)
    loader = LoaderFactory(plan, reader, num_workers=opts.num_workers, drop_last=False)()
    net = net.to(device).eval()
    sums: dict[str, np.ndarray] = {}
    left = dict(per_utt)
    t0 = time.perf_counter()
    bar = progress_bar(total=len(per_utt), desc="extract", unit="utt", tty=tqdm, disable=not progress)
    with torch.inference_mode(), bar:
        for batch in loader:
            names = batch["utts"]
            x = batch["feats"].to(device, non_blocking=True)
            lengths = batch["feats_lengths"]
            try:
                emb = net(x, lengths.to(device))
            except Exception as e:  # name the utterances of the failing batch
                who = sorted({reader.items[n][1] for n in names}, key=sort_key)
                raise RuntimeError(f"network failed on utterance(s) {' '.join(who[:5])}"
                                   f"{' ...' if len(who) > 5 else ''} ({int(lengths.min())}-{int(lengths.max())} "
                                   f"frames): {str(e).splitlines()[0] if str(e) else type(e).__name__}") from e
            emb = emb.detach().float().cpu().numpy()
            if emb.ndim != 2 or emb.shape[0] != len(names):
                raise RuntimeError(f"network output has shape {emb.shape}, expected [{len(names)}, D]")
            st.frames += int(lengths.sum())
            for name, vec in zip(names, emb):
                utt = reader.items[name][1]
                if not np.all(np.isfinite(vec)):
                    raise ValueError(f"{utt}: non-finite embedding (check its features)")
                acc = sums.get(utt)
                sums[utt] = vec.astype(np.float64) if acc is None else acc + vec
                left[utt] -= 1
                if left[utt] == 0:
                    bar.update()
                    yield utt, (sums.pop(utt) / per_utt[utt]).astype(np.float32)
    st.seconds = time.perf_counter() - t0
    if sums:  # cannot happen unless the plan lost items
        raise RuntimeError(f"extraction incomplete for {len(sums)} utterance(s), e.g. {next(iter(sums))}")


def extract_embeddings(model: str | os.PathLike, data_dir: str | os.PathLike, ark_path: str | os.PathLike,
                       opts: ExtractOptions | None = None, *, device: str | torch.device = "cpu",
                       progress: bool = True) -> ExtractStats:
    """Embeddings of every utterance of ``data_dir`` from checkpoint ``model`` to ``ark_path`` (+ .scp)."""
    net = load_embedder(model, device=device)
    stats = ExtractStats()
    n = write_vectors(embed_data_dir(net, data_dir, opts, device=device, stats=stats, progress=progress), ark_path)
    log.info("%s: wrote %d embeddings to %s: %s", data_dir, n, ark_path, stats.summary())
    return stats


# ----------------------------------------------------------------------------- speaker means

def speaker_means(spk2utt: Mapping[str, Sequence[str]], embeddings: Mapping[str, np.ndarray], *,
                  allow_missing: bool = False, source: str = "embeddings"
                  ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Mean embedding of each speaker (or enrolment model) over its utterances, and their counts.

    Raw embeddings are averaged, as Kaldi's ``ivector-mean`` does (length normalisation is
    left to the scoring back-ends). A missing utterance is an error naming it, unless
    ``allow_missing``: then it is skipped (and a speaker with none left is left out), logged.
    """
    means: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    missing: list[str] = []
    empty: list[str] = []
    for spk, utts in spk2utt.items():
        acc, n = None, 0
        for utt in utts:
            if utt not in embeddings:
                if not allow_missing:
                    raise KeyError(f"{utt} (of speaker {spk}): no embedding in {source}")
                missing.append(utt)
                continue
            vec = np.asarray(embeddings[utt], dtype=np.float64).reshape(-1)
            if acc is not None and vec.shape != acc.shape:
                raise ValueError(f"{utt}: embedding of dimension {vec.size}, others of {spk} have {acc.size}")
            acc = vec.copy() if acc is None else acc + vec
            n += 1
        if n == 0:
            if not allow_missing:
                raise ValueError(f"speaker {spk} has no utterances")
            empty.append(spk)
            continue
        means[spk] = (acc / n).astype(np.float32)
        counts[spk] = n
    if missing:
        log.warning("%d utterance(s) without an embedding in %s were skipped, e.g. %s", len(missing), source,
                    " ".join(missing[:5]))
    if empty:
        log.warning("%d speaker(s) with no embedded utterance were left out, e.g. %s", len(empty),
                    " ".join(empty[:5]))
    return means, counts


def write_speaker_means(spk2utt_path: str | os.PathLike, xvector_scp: str | os.PathLike,
                        out_dir: str | os.PathLike, *, name: str = "spk_xvector",
                        allow_missing: bool = False) -> tuple[Path, Path]:
    """``out_dir/<name>.ark/.scp`` (speaker means) and ``out_dir/num_utts.ark`` (text ``spk N``)."""
    spk2utt = read_list_table(spk2utt_path)
    emb = open_scp(xvector_scp)
    means, counts = speaker_means(spk2utt, emb, allow_missing=allow_missing, source=str(xvector_scp))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_vectors(means, out_dir / f"{name}.ark")
    num_utts = out_dir / "num_utts.ark"
    write_table(num_utts, {spk: str(n) for spk, n in counts.items()})
    log.info("wrote %d speaker means (%d utterances) to %s", len(means), sum(counts.values()),
             out_dir / f"{name}.scp")
    return out_dir / f"{name}.scp", num_utts
