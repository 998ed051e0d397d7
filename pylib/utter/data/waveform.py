"""Raw-audio crops for networks that read waveforms (wav2vec 2.0 / HuBERT), on the loaders' plans.

:class:`WaveformReader` has the reader interface of ``utter.data.dataset`` (``num_kept``,
``read_crop``, ``read_utt``), so the same plans, samplers and ``BatchDataset`` batch it:
crops are planned in 10 ms frames (so ``chunk_frames`` means the same duration as for
fbank) and read as ``[samples, 1]`` float32 in [-1, 1) (int16 scale / 32768); the padded
batch is ``[B, S, 1]`` with lengths in samples. Audio comes from ``utter.data.audio.AudioReader``
(pipes, segments); no VAD (the networks see what wav2vec 2.0 saw in pre-training).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from utter.data.audio import AudioReader
from utter.data.chunks import Crop
from utter.data.datadir import DataDirError


class WaveformReader:
    """Crops of ``wav.scp`` audio at ``sample_rate`` (other rates are an error naming the utterance)."""

    def __init__(self, corpus, *, sample_rate: int = 16000, frame_shift_ms: float = 10.0,
                 utts: Sequence[str] | None = None):
        self.corpus = corpus
        self.sample_rate = int(sample_rate)
        self.hop = int(round(self.sample_rate * frame_shift_ms / 1000.0))
        self.readers = [AudioReader(d.path, sample_rate=self.sample_rate) for d in corpus.dirs]
        utts = corpus.utts if utts is None else list(utts)
        durs = corpus.table("utt2dur", required=False) if corpus.has("utt2dur") else {}
        self.num_kept: dict[str, int] = {}
        for utt in utts:
            if utt not in corpus.utt2dir:
                raise DataDirError(f"{utt}: not in {corpus.dirs[0].path}/utt2spk")
            if utt in durs:
                self.num_kept[utt] = int(float(durs[utt]) * self.sample_rate) // self.hop
            else:
                self.num_kept[utt] = len(self._samples(utt)) // self.hop

    def _samples(self, utt: str) -> np.ndarray:
        samples, _ = self.readers[self.corpus.utt2dir[utt]].read(utt)
        return samples

    def read_crop(self, crop: Crop) -> np.ndarray:
        """``[n, 1]`` float32 samples of frames ``[start, start + length)`` (the utterance's end caps it)."""
        x = self._samples(crop.utt)
        if crop.aug not in (None, "clean"):
            raise ValueError(f"{crop.utt}: on-the-fly augmentation is not supported for waveform input")
        a = crop.start * self.hop
        b = min(len(x), (crop.start + crop.length) * self.hop)
        if b <= a:
            raise ValueError(f"{crop.utt}: crop of frames [{crop.start}, {crop.start + crop.length}) lies beyond "
                             f"its {len(x)} samples")
        return (np.asarray(x[a:b], dtype=np.float32) / 32768.0).reshape(-1, 1)

    def read_utt(self, utt: str) -> np.ndarray:
        return (np.asarray(self._samples(utt), dtype=np.float32) / 32768.0).reshape(-1, 1)
