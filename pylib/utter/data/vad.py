"""Kaldi's energy VAD on per-frame log-energy, and the VAD job from a log-energy scp: numpy only.

Kept apart from :mod:`utter.data.features` (fbank through torch) so that a VAD job over the
log-energy arks make_fbank wrote starts without importing torch (seconds per job); the job that
recomputes the log-energy from audio is :func:`utter.data.features.compute_vad_job`.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping

import numpy as np
from tqdm import tqdm

from utter.data.datadir import DataDir
from utter.data.kaldi_io import ArkScpWriter, open_scp
from utter.data.options import VadOptions
from utter.progress import bar as progress_bar

log = logging.getLogger(__name__)


def compute_vad(log_energy: np.ndarray, opts: VadOptions = VadOptions()) -> np.ndarray:
    """Kaldi's compute-vad on per-frame log-energy: float32 vector of 0/1 (1 = speech).

    Threshold = vad_energy_threshold + vad_energy_mean_scale * mean(log_energy); a frame is
    speech when at least vad_proportion_threshold of the frames within +-vad_frames_context
    (clipped at the edges) are above the threshold.
    """
    e = np.asarray(log_energy, dtype=np.float32).reshape(-1)
    n = e.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    if opts.vad_frames_context < 0 or not 0.0 < opts.vad_proportion_threshold < 1.0:
        raise ValueError(f"bad VAD options {opts}")
    threshold = opts.vad_energy_threshold
    if opts.vad_energy_mean_scale != 0.0:
        threshold += opts.vad_energy_mean_scale * float(e.astype(np.float64).sum()) / n
    above = np.concatenate(([0], np.cumsum(e > np.float32(threshold))))
    t = np.arange(n)
    lo = np.maximum(t - opts.vad_frames_context, 0)
    hi = np.minimum(t + opts.vad_frames_context, n - 1) + 1
    num = above[hi] - above[lo]
    return (num >= (hi - lo) * opts.vad_proportion_threshold).astype(np.float32)


def write_vad(data_dir: str | os.PathLike, vad_ark: str | os.PathLike, opts: VadOptions,
              energies: Iterable[tuple[str, np.ndarray]], total: int, expected: Mapping[str, int]) -> int:
    """VAD of each ``(utt, log_energy)`` to a float-vector ark + scp; frame counts checked against
    ``expected`` (utt2num_frames) where it names the utterance. Returns the number written."""
    count = voiced = frames = 0
    with ArkScpWriter.open(vad_ark) as writer, progress_bar(total=total, desc="vad", unit="utt", tty=tqdm) as bar:
        for utt, energy in energies:
            if utt in expected and expected[utt] != energy.shape[0]:
                raise ValueError(f"{utt}: {energy.shape[0]} log-energy frames but utt2num_frames says "
                                 f"{expected[utt]}")
            if energy.shape[0] == 0:
                raise ValueError(f"{utt}: no frames")
            vad = compute_vad(energy, opts)
            writer.write(utt, vad)
            count += 1
            voiced += int(vad.sum())
            frames += vad.shape[0]
            bar.update()
    log.info("vad %s: %d utterances, %d of %d frames voiced (%.1f%%)", data_dir, count, voiced, frames,
             100.0 * voiced / max(frames, 1))
    return count


def compute_vad_job_from_scp(data_dir: str | os.PathLike, vad_ark: str | os.PathLike, opts: VadOptions,
                             log_energy_scp: str | os.PathLike) -> int:
    """Energy VAD for every utterance of a (split) data dir from the log-energy in ``log_energy_scp``
    (make_fbank's), to a float-vector ark + scp. Returns the number of utterances."""
    data = DataDir(data_dir)
    utts = data.utts
    expected = data.utt2num_frames if data.has("utt2num_frames") else {}
    table = open_scp(log_energy_scp)

    def energies():
        for utt in utts:
            if utt not in table:
                raise ValueError(f"{utt}: no log-energy in {log_energy_scp}")
            yield utt, np.asarray(table[utt], dtype=np.float32)

    return write_vad(data_dir, vad_ark, opts, energies(), len(utts), expected)


__all__ = ["compute_vad", "compute_vad_job_from_scp", "write_vad"]
