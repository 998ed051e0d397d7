"""Kaldi features: fbank (through torchaudio's Kaldi-compliant code), energy VAD, sliding CMN.

The toolkit's default configs, which the recipes carry as ``conf/fbank.conf`` and
``conf/vad.conf`` (``FbankOptions()`` and ``VadOptions()`` are these values)::

    # conf/fbank.conf
    --sample-frequency=16000
    --frame-length=25
    --frame-shift=10
    --num-mel-bins=80
    --low-freq=20
    --high-freq=7600
    --snip-edges=false
    --dither=1.0
    --energy-floor=0
    --window-type=povey
    --preemphasis-coefficient=0.97
    --remove-dc-offset=true
    --raw-energy=true
    --use-energy=false

    # conf/vad.conf
    --vad-energy-threshold=5.5
    --vad-energy-mean-scale=0.5
    --vad-proportion-threshold=0.12
    --vad-frames-context=2

Every fbank option is passed to torchaudio explicitly, since its defaults differ from Kaldi's.
Dither noise is drawn from a generator seeded by a stable hash of the utterance id, so reruns
give identical features, and no global random state changes.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:  # torch is imported where used, so VAD jobs start without it
    import torch

from utter.atomic import atomic_open, atomic_path
from utter.config import config_items
from utter.data.datadir import DataDir, write_table

log = logging.getLogger(__name__)

DEFAULT_FBANK_CONF = """\
--sample-frequency=16000
--frame-length=25
--frame-shift=10
--num-mel-bins=80
--low-freq=20
--high-freq=7600
--snip-edges=false
--dither=1.0
--energy-floor=0
--window-type=povey
--preemphasis-coefficient=0.97
--remove-dc-offset=true
--raw-energy=true
--use-energy=false
"""

DEFAULT_VAD_CONF = """\
--vad-energy-threshold=5.5
--vad-energy-mean-scale=0.5
--vad-proportion-threshold=0.12
--vad-frames-context=2
"""


class FeatureError(ValueError):
    """An utterance whose features cannot be computed (too short, wrong rate, non-finite)."""


T = TypeVar("T")


def _to_bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ValueError(f"expected true or false, got '{value}'")


def _convert(field: dataclasses.Field, value):
    kind = field.type if isinstance(field.type, type) else {"bool": bool, "int": int, "float": float,
                                                            "str": str}[field.type]
    return _to_bool(value) if kind is bool else kind(value)


class _Converter:
    """argparse ``type`` for one option field (named, so argparse's error names the type)."""

    def __init__(self, field: dataclasses.Field):
        self.field = field
        self.__name__ = str(field.type)

    def __call__(self, value: str):
        return _convert(self.field, value)


class _KaldiOptions:
    """Kaldi-style option sets: ``--num-mel-bins`` on the command line, ``num_mel_bins`` here."""

    @classmethod
    def from_dict(cls: type[T], values: dict) -> T:
        """Options from a dict keyed by field name or Kaldi option name; unknown keys are errors."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            name = key.lstrip("-").replace("-", "_")
            if name not in fields:
                raise ValueError(f"unknown {cls.__name__} option '{key}'")
            kwargs[name] = _convert(fields[name], value)
        return cls(**kwargs)

    @classmethod
    def from_conf(cls: type[T], path: str | os.PathLike | None = None, *, text: str | None = None) -> T:
        """Options from a Kaldi-style conf file (``--option=value`` lines, ``#`` comments)."""
        if text is None:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        where = str(path) if path is not None else "<conf>"
        values = {}
        for lineno, key, value in config_items(text, where):
            try:
                cls.from_dict({key: value})
            except (ValueError, TypeError) as e:
                raise ValueError(f"{where}:{lineno}: {e}") from None
            values[key] = value
        return cls.from_dict(values)

    def changed(self) -> dict:
        """The fields that differ from the defaults."""
        default = type(self)()
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(default, f.name)}

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add one ``--kaldi-name`` option per field, with the field's default."""
        group = parser.add_argument_group(f"{cls.__name__} (Kaldi option names)")
        for f in dataclasses.fields(cls):
            is_bool = f.type in (bool, "bool")
            group.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=_Converter(f),
                               default=f.default, metavar="true|false" if is_bool else str(f.type).upper())

    @classmethod
    def from_namespace(cls: type[T], args: argparse.Namespace) -> T:
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


@dataclass
class FbankOptions(_KaldiOptions):
    """Kaldi's compute-fbank-feats options, with the toolkit's defaults (see the module doc)."""

    sample_frequency: float = 16000.0
    frame_length: float = 25.0
    frame_shift: float = 10.0
    dither: float = 1.0
    preemphasis_coefficient: float = 0.97
    remove_dc_offset: bool = True
    window_type: str = "povey"
    round_to_power_of_two: bool = True
    blackman_coeff: float = 0.42
    snip_edges: bool = False
    num_mel_bins: int = 80
    low_freq: float = 20.0
    high_freq: float = 7600.0
    vtln_low: float = 100.0
    vtln_high: float = -500.0
    vtln_warp: float = 1.0
    use_energy: bool = False
    energy_floor: float = 0.0
    raw_energy: bool = True
    htk_compat: bool = False
    use_log_fbank: bool = True
    use_power: bool = True

    def __post_init__(self):
        if self.window_type not in ("hamming", "hanning", "povey", "rectangular", "blackman"):
            raise ValueError(f"unknown window type '{self.window_type}'")
        if self.num_mel_bins < 1 or self.frame_shift <= 0 or self.frame_length <= 0:
            raise ValueError(f"bad fbank options: num_mel_bins={self.num_mel_bins}, "
                             f"frame_length={self.frame_length}, frame_shift={self.frame_shift}")

    def window_samples(self) -> tuple[int, int]:
        """(frame length, frame shift) in samples, truncated as Kaldi does."""
        return (int(self.sample_frequency * self.frame_length * 0.001),
                int(self.sample_frequency * self.frame_shift * 0.001))

    def num_frames(self, num_samples: int) -> int:
        """Kaldi's frame count for ``num_samples`` samples."""
        length, shift = self.window_samples()
        if self.snip_edges:
            return 0 if num_samples < length else 1 + (num_samples - length) // shift
        return (num_samples + shift // 2) // shift


@dataclass
class VadOptions(_KaldiOptions):
    """Kaldi's compute-vad options, with the VoxCeleb recipe's values as defaults."""

    vad_energy_threshold: float = 5.5
    vad_energy_mean_scale: float = 0.5
    vad_proportion_threshold: float = 0.12
    vad_frames_context: int = 2


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
    import torch
    import torchaudio.compliance.kaldi as kaldi

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
    if is_torch:
        import torch
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


class ArkScpWriter:
    """Write matrices/vectors to a Kaldi binary ark and its scp, both atomically.

    The scp names the ark by its absolute final path; the ark is renamed into place before
    the scp, so an scp never points at a missing ark. ``compression_method`` (matrices only):
    None for float, else Kaldi's CompressionMethod (1 = automatic, Kaldi's default for
    ``--compress=true``, which is 2 = speech-feature for matrices of more than 8 rows).
    """

    def __init__(self, ark: IO[bytes], scp: IO[str], ark_name: str, compression_method: int | None):
        self._ark, self._scp, self._name, self._method = ark, scp, ark_name, compression_method

    def write(self, key: str, array: np.ndarray) -> None:
        from kaldiio.matio import write_array
        if not key or any(c.isspace() for c in key):
            raise ValueError(f"bad ark key '{key}'")
        self._ark.write((key + " ").encode("utf-8"))
        offset = self._ark.tell()
        method = self._method if array.ndim == 2 else None
        write_array(self._ark, np.ascontiguousarray(array, dtype=np.float32), compression_method=method)
        self._scp.write(f"{key} {self._name}:{offset}\n")

    @classmethod
    @contextlib.contextmanager
    def open(cls, ark_path: str | os.PathLike, compression_method: int | None = None,
             scp_path: str | os.PathLike | None = None) -> Iterator[ArkScpWriter]:
        """``with ArkScpWriter.open("x.ark") as w: w.write(key, array)``; scp defaults to x.scp."""
        ark_path = Path(ark_path).absolute()
        scp_path = Path(scp_path) if scp_path is not None else ark_path.with_suffix(".scp")
        with atomic_open(scp_path, "w") as scp, atomic_path(ark_path) as tmp_ark:
            with open(tmp_ark, "wb") as ark:
                yield cls(ark, scp, str(ark_path), compression_method)


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
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="utt", disable=not sys.stderr.isatty(), file=sys.stderr)


def make_fbank_job(data_dir: str | os.PathLike, feats_ark: str | os.PathLike, opts: FbankOptions, *,
                   compression_method: int | None = 1, log_energy_ark: str | os.PathLike | None = None,
                   utt2num_frames: str | os.PathLike | None = None, utt2dur: str | os.PathLike | None = None,
                   allow_resample: bool = False, channel: int = 0) -> FbankJobStats:
    """Fbank for every utterance of a (split) data dir: ark + scp, and optionally the raw
    log-energy (float vectors, for the VAD), utt2num_frames and utt2dur.

    Any bad utterance raises an error naming it and leaves none of this job's outputs behind.
    """
    import torchaudio.compliance.kaldi  # noqa: F401  (imported here, so start-up is not timed as fbank)

    from utter.data.audio import AudioReader

    reader = AudioReader(data_dir, sample_rate=int(opts.sample_frequency), allow_resample=allow_resample,
                         channel=channel)
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
            bar.update()
        if utt2num_frames:
            write_table(utt2num_frames, num_frames)
        if utt2dur:
            write_table(utt2dur, durations)
    log.info("fbank %s: %s", data_dir, stats.summary())
    return stats


def compute_vad_job(data_dir: str | os.PathLike, vad_ark: str | os.PathLike, opts: VadOptions, *,
                    log_energy_scp: str | os.PathLike | None = None, fbank_opts: FbankOptions | None = None,
                    allow_resample: bool = False, channel: int = 0) -> int:
    """Energy VAD for every utterance of a (split) data dir, to a float-vector ark + scp.

    The log-energy comes from ``log_energy_scp`` (written beside the features by
    :func:`make_fbank_job`); when there is none, it is recomputed from the audio with
    ``fbank_opts``, whose seeded dither reproduces the same frames. Frame counts are checked
    against ``utt2num_frames`` when the data dir has one. Returns the number of utterances.
    """
    data = DataDir(data_dir)
    utts = data.utts
    expected = data.utt2num_frames if data.has("utt2num_frames") else {}
    if log_energy_scp is not None:
        import kaldiio
        table = kaldiio.load_scp(str(log_energy_scp))

        def energies():
            for utt in utts:
                if utt not in table:
                    raise ValueError(f"{utt}: no log-energy in {log_energy_scp}")
                yield utt, np.asarray(table[utt], dtype=np.float32)
    else:
        if fbank_opts is None:
            raise ValueError(f"{data.path}: no log-energy scp and no fbank options to recompute it from audio")
        from utter.data.audio import AudioReader
        reader = AudioReader(data_dir, sample_rate=int(fbank_opts.sample_frequency),
                             allow_resample=allow_resample, channel=channel, utts=utts)

        def energies():
            for utt, samples, rate in reader:
                yield utt, compute_fbank(samples, rate, fbank_opts, utt)[1]

    count = voiced = frames = 0
    with ArkScpWriter.open(vad_ark) as writer, _progress(len(utts), "vad") as bar:
        for utt, energy in energies():
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


__all__ = ["ArkScpWriter", "FbankJobStats", "make_fbank_job", "compute_vad_job",
           "FbankOptions", "VadOptions", "FeatureError", "compute_fbank", "compute_vad", "sliding_cmn",
           "cmn_windows", "utterance_seed", "DEFAULT_FBANK_CONF", "DEFAULT_VAD_CONF"]
