"""Kaldi features: fbank (through torchaudio's Kaldi-compliant code), energy VAD, sliding CMN,
and band-limited resampling to the features' rate (:func:`resample`).

The options (:class:`~utter.data.options.FbankOptions`, :class:`~utter.data.options.VadOptions`)
and the toolkit's default configs live in :mod:`utter.data.options`, which imports nothing heavy.
Every fbank option is passed to torchaudio explicitly, since its defaults differ from Kaldi's.
Dither noise is drawn from a generator seeded by a stable hash of the utterance id, so reruns
give identical features, and no global random state changes.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from utter.data.audio import AudioReader
from utter.data.datadir import DataDir, write_table
from utter.data.kaldi_io import ArkScpWriter
from utter.data.options import FbankOptions, VadOptions
from utter.data.vad import compute_vad, compute_vad_job_from_scp, write_vad
from utter.progress import bar as progress_bar

log = logging.getLogger(__name__)


class FeatureError(ValueError):
    """An utterance whose features cannot be computed (too short, wrong rate, non-finite)."""


def resample(samples: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling (torchaudio's sinc interpolation); an ``AudioReader`` resampler."""
    import torchaudio.functional as F  # optional and slow to import: only when a rate differs

    return F.resample(torch.from_numpy(samples), orig_rate, new_rate).numpy()


def utterance_seed(utt_id: str) -> int:
    """A stable 63-bit seed for an utterance id (the same in every process and Python version)."""
    return int.from_bytes(hashlib.sha256(utt_id.encode("utf-8")).digest()[:8], "little") & (2**63 - 1)


def compute_fbank(samples: np.ndarray | torch.Tensor, sample_rate: int, opts: FbankOptions,
                  utt_id: str) -> tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor]:
    """Kaldi fbank of one utterance, and the frame log-energy Kaldi would put in C0.

    ``samples``: 1-D, at int16 scale. Returns (feats [T, num_mel_bins (+1 with use_energy)],
    log_energy [T]) as float32, numpy or torch like the input. The log-energy is computed on the
    same dithered frames as the fbank (raw: after dither and DC removal, before preemphasis and
    window, when ``raw_energy``), so it serves the energy VAD.
    """
    import torchaudio.compliance.kaldi as kaldi  # optional and slow to import: only where fbank is computed

    as_numpy = isinstance(samples, np.ndarray)
    wave = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)) if as_numpy else samples.float()
    if wave.dim() != 1:
        raise FeatureError(f"{utt_id}: expected 1-D samples, got shape {tuple(wave.shape)}")
    if int(sample_rate) != int(opts.sample_frequency):
        raise FeatureError(f"{utt_id}: sample rate {sample_rate} Hz, but the fbank config expects "
                           f"{opts.sample_frequency:g} Hz")
    length, _ = opts.window_samples()
    if wave.numel() < length:
        raise FeatureError(f"{utt_id}: {wave.numel()} samples, shorter than one {opts.frame_length:g} ms frame "
                           f"({length} samples)")
    device = wave.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        if device.type == "cuda":
            with torch.cuda.device(device):
                torch.cuda.manual_seed(utterance_seed(utt_id))
        else:
            torch.default_generator.manual_seed(utterance_seed(utt_id))
        out = kaldi.fbank(
            wave.unsqueeze(0),
            blackman_coeff=opts.blackman_coeff, channel=-1, dither=opts.dither,
            energy_floor=opts.energy_floor, frame_length=opts.frame_length, frame_shift=opts.frame_shift,
            high_freq=opts.high_freq, htk_compat=False, low_freq=opts.low_freq, min_duration=0.0,
            num_mel_bins=opts.num_mel_bins, preemphasis_coefficient=opts.preemphasis_coefficient,
            raw_energy=opts.raw_energy, remove_dc_offset=opts.remove_dc_offset,
            round_to_power_of_two=opts.round_to_power_of_two, sample_frequency=opts.sample_frequency,
            snip_edges=opts.snip_edges, subtract_mean=False, use_energy=True,
            use_log_fbank=opts.use_log_fbank, use_power=opts.use_power, vtln_high=opts.vtln_high,
            vtln_low=opts.vtln_low, vtln_warp=opts.vtln_warp, window_type=opts.window_type,
        )
    # use_energy=True above puts the log-energy first; keep it where the options want it.
    log_energy = out[:, 0].contiguous()
    if not opts.use_energy:
        feats = out[:, 1:]
    elif opts.htk_compat:
        feats = torch.cat((out[:, 1:], out[:, :1]), dim=1)
    else:
        feats = out
    feats = feats.contiguous()
    if not bool(torch.isfinite(feats).all()) or not bool(torch.isfinite(log_energy).all()):
        raise FeatureError(f"{utt_id}: non-finite values in the fbank features")
    if as_numpy:
        return feats.numpy(), log_energy.numpy()
    return feats, log_energy


def cmn_windows(num_frames: int, window: int, center: bool, min_window: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Kaldi apply-cmvn-sliding's window [start, end) for every frame.

    The window is shifted (not shrunk) to stay inside the utterance, and shrinks only when the
    utterance is shorter than it; without ``center``, the first frames use at least
    ``min_window`` frames (or the whole utterance if shorter).
    """
    t = np.arange(num_frames)
    if center:
        start = t - window // 2
        end = start + window
    else:
        start = t - window
        end = t + 1
    shift = np.minimum(start, 0)
    end = end - shift
    start = start - shift
    if not center:
        end = np.where(end > t, np.maximum(t + 1, min_window), end)
    over = np.maximum(end - num_frames, 0)
    start = np.maximum(start - over, 0)
    end = end - over
    return start, end


def sliding_cmn(feats: np.ndarray | torch.Tensor, window: int = 150, center: bool = True,
                norm_vars: bool = False, min_window: int = 100) -> np.ndarray | torch.Tensor:
    """Sliding-window mean (and optionally variance) normalisation, as Kaldi's apply-cmvn-sliding.

    ``feats`` [T, F], numpy or torch (any device); returns the same type, dtype and device.
    """
    is_torch = not isinstance(feats, np.ndarray)
    num_frames = feats.shape[0]
    if num_frames == 0:
        return feats.clone() if is_torch else feats.copy()
    start, end = cmn_windows(num_frames, window, center, min_window)
    count = end - start
    if is_torch:
        x = feats.double()
        zero = torch.zeros(1, x.shape[1], dtype=x.dtype, device=x.device)
        csum = torch.cat((zero, torch.cumsum(x, 0)))
        s, e = torch.from_numpy(start).to(x.device), torch.from_numpy(end).to(x.device)
        n = torch.from_numpy(count).to(x.device, x.dtype).unsqueeze(1)
    else:
        x = np.asarray(feats, dtype=np.float64)
        csum = np.concatenate((np.zeros((1, x.shape[1])), np.cumsum(x, 0)))
        s, e, n = start, end, count[:, None].astype(np.float64)
    total = csum[e] - csum[s]
    out = x - total / n
    if norm_vars:
        csq = (torch.cat((zero, torch.cumsum(x * x, 0))) if is_torch
               else np.concatenate((np.zeros((1, x.shape[1])), np.cumsum(x * x, 0))))
        var = (csq[e] - csq[s]) / n - (total / n) ** 2
        var = var.clamp(min=1e-10) if is_torch else np.maximum(var, 1e-10)
        out = out / var ** 0.5
        one = n[:, 0] == 1
        out[one] = 0.0
    return out.to(feats.dtype) if is_torch else out.astype(feats.dtype, copy=False)


@dataclass
class FbankJobStats:
    """What one fbank job did, and where its time went (seconds)."""

    utterances: int = 0
    audio_seconds: float = 0.0
    frames: int = 0
    read_s: float = 0.0
    fbank_s: float = 0.0
    write_s: float = 0.0

    def summary(self) -> str:
        return (f"{self.utterances} utterances, {self.audio_seconds:.1f} s of audio, {self.frames} frames; "
                f"time: read {self.read_s:.2f} s, fbank {self.fbank_s:.2f} s, compress+write {self.write_s:.2f} s")


def _progress(total: int, desc: str):
    """A tqdm bar on a terminal, progress lines in a job log (utter.progress)."""
    return progress_bar(total=total, desc=desc, unit="utt", tty=tqdm)


def make_fbank_job(data_dir: str | os.PathLike, feats_ark: str | os.PathLike, opts: FbankOptions, *,
                   compression_method: int | None = 1, log_energy_ark: str | os.PathLike | None = None,
                   utt2num_frames: str | os.PathLike | None = None, utt2dur: str | os.PathLike | None = None,
                   allow_resample: bool = False, channel: int = 0) -> FbankJobStats:
    """Fbank for every utterance of a (split) data dir: ark + scp, and optionally the raw
    log-energy (float vectors, for the VAD), utt2num_frames and utt2dur.

    Any bad utterance raises an error naming it and leaves none of this job's outputs behind.
    """
    import torchaudio.compliance.kaldi  # noqa: F401  (imported here, so start-up is not timed as fbank)

    reader = AudioReader(data_dir, sample_rate=int(opts.sample_frequency),
                         resampler=resample if allow_resample else None, channel=channel)
    stats = FbankJobStats()
    num_frames: dict[str, int] = {}
    durations: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        feats_w = stack.enter_context(ArkScpWriter.open(feats_ark, compression_method))
        energy_w = (stack.enter_context(ArkScpWriter.open(log_energy_ark)) if log_energy_ark else None)
        bar = stack.enter_context(_progress(len(reader), "fbank"))
        items = iter(reader)
        while True:
            t0 = time.perf_counter()
            try:
                utt, samples, rate = next(items)
            except StopIteration:
                break
            t1 = time.perf_counter()
            feats, log_energy = compute_fbank(samples, rate, opts, utt)
            t2 = time.perf_counter()
            feats_w.write(utt, feats)
            if energy_w is not None:
                energy_w.write(utt, log_energy)
            t3 = time.perf_counter()
            stats.read_s += t1 - t0
            stats.fbank_s += t2 - t1
            stats.write_s += t3 - t2
            stats.utterances += 1
            stats.audio_seconds += len(samples) / rate
            stats.frames += feats.shape[0]
            num_frames[utt] = feats.shape[0]
            durations[utt] = round(len(samples) / rate, 4)
            if utt in reader.clipped:  # utt2dur as Kaldi's get_utt2dur.sh: the segment's span
                _, start, end = reader.segments[utt]
                durations[utt] = round(end - start, 4)
            bar.update()
        if utt2num_frames:
            write_table(utt2num_frames, num_frames)
        if utt2dur:
            write_table(utt2dur, durations)
    if reader.clipped:
        worst = max(reader.clipped, key=reader.clipped.get)
        log.warning("fbank %s: %d segment(s) end past their recording, within the %.1f s tolerance, and were "
                    "clipped to it (Kaldi's extract-segments --max-overshoot; utt2dur keeps the segment's span): "
                    "%s%s (%.3f s past the end)", data_dir, len(reader.clipped), reader.max_overshoot,
                    worst, " and others" if len(reader.clipped) > 1 else "", reader.clipped[worst])
    log.info("fbank %s: %s", data_dir, stats.summary())
    return stats


def compute_vad_job(data_dir: str | os.PathLike, vad_ark: str | os.PathLike, opts: VadOptions, *,
                    log_energy_scp: str | os.PathLike | None = None, fbank_opts: FbankOptions | None = None,
                    allow_resample: bool = False, channel: int = 0) -> int:
    """Energy VAD for every utterance of a (split) data dir, to a float-vector ark + scp.

    The log-energy comes from ``log_energy_scp`` (written beside the features by
    :func:`make_fbank_job`; this path is :func:`utter.data.vad.compute_vad_job_from_scp`, which
    needs no torch); when there is none, it is recomputed from the audio with
    ``fbank_opts``, whose seeded dither reproduces the same frames. Frame counts are checked
    against ``utt2num_frames`` when the data dir has one. Returns the number of utterances.
    """
    if log_energy_scp is not None:
        return compute_vad_job_from_scp(data_dir, vad_ark, opts, log_energy_scp)
    data = DataDir(data_dir)
    utts = data.utts
    expected = data.utt2num_frames if data.has("utt2num_frames") else {}
    if fbank_opts is None:
        raise ValueError(f"{data.path}: no log-energy scp and no fbank options to recompute it from audio")
    reader = AudioReader(data_dir, sample_rate=int(fbank_opts.sample_frequency),
                         resampler=resample if allow_resample else None, channel=channel, utts=utts)

    def energies():
        for utt, samples, rate in reader:
            yield utt, compute_fbank(samples, rate, fbank_opts, utt)[1]

    return write_vad(data_dir, vad_ark, opts, energies(), len(utts), expected)


__all__ = ["FbankJobStats", "make_fbank_job", "compute_vad_job", "FeatureError", "compute_fbank", "compute_vad",
           "sliding_cmn", "cmn_windows", "resample", "utterance_seed"]
