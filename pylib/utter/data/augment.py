"""Kaldi-v2-style data augmentation rendered in-process: reverberation, MUSAN noise/music/babble.

Follows Kaldi's ``wav-reverberate`` as driven by ``steps/data/reverberate_data_dir.py`` and
``steps/data/augment_data_dir.py`` in ``egs/voxceleb/v2``:

* reverb: convolve with a unit-energy RIR, keep the input's length starting at the RIR's
  peak (``--shift-output``), rescale to the input's power (``--normalize-output``);
* noise: foreground MUSAN noises one after another with 1 s gaps until the utterance is
  covered, each at an SNR drawn from 15/10/5/0 dB;
* music: one background music track repeated/trimmed to the utterance, SNR 15/10/8/5 dB;
* babble: 3-7 background MUSAN speech tracks summed, each SNR 20/17/15/13 dB;
* colour (not in Kaldi; needs no files): stationary Gaussian noise over the whole utterance with
  a power spectrum proportional to f^beta (beta uniform in a range: 0 white, -1 pink, -2 brown)
  at an SNR uniform in a range. A session's steady noise floor is a strong channel cue that the
  speech-shaped MUSAN types rarely mask; self-supervised training learns it unless the views
  differ in it (on the mini VoxCeleb the DINO EER drops by about a quarter, see
  egs/voxceleb/conf/mini/augment.conf).

SNRs are energy ratios: a noise is scaled so that its mean power (over its own samples, after
repeating to the utterance for background noises) is the utterance's mean power times
10^(-SNR/10). Every draw comes from a Generator seeded per copy, e.g. by
``derive_seed(seed, utt, type)``: the same seed gives the same samples. The settings
(:class:`~utter.data.options.AugmentConfig`) live in :mod:`utter.data.options`.
"""
from __future__ import annotations

import contextlib
import math
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np
import soundfile as sf
from scipy.signal import fftconvolve
from tqdm import tqdm

from utter.atomic import atomic_path
from utter.data.audio import AudioReader, read_audio
from utter.data.chunks import ALL_AUG_TYPES, SYNTHETIC_AUG_TYPES, derive_seed
from utter.data.datadir import DataDir
from utter.data.features import compute_fbank, resample
from utter.data.kaldi_io import ArkScpWriter
from utter.data.options import AugmentConfig, FbankOptions
from utter.progress import bar as progress_bar


def power(x: np.ndarray) -> float:
    """Mean energy per sample (float64)."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.dot(x, x) / x.size) if x.size else 0.0


def reverberate(samples: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Kaldi ``wav-reverberate --shift-output=true --normalize-output=true`` with one RIR."""
    x = np.asarray(samples, dtype=np.float64)
    h = np.asarray(rir, dtype=np.float64)
    energy = float(np.dot(h, h))
    if h.size == 0 or energy == 0.0:
        raise ValueError("empty or all-zero room impulse response")
    h = h / math.sqrt(energy)
    peak = int(np.argmax(h))
    y = fftconvolve(x, h)[peak:peak + x.size]
    p_in, p_out = power(x), power(y)
    if p_out > 0:
        y *= math.sqrt(p_in / p_out)
    return y.astype(np.float32)


def extend(noise: np.ndarray, length: int) -> np.ndarray:
    """Repeat or trim ``noise`` to ``length`` samples (``wav-reverberate --duration``)."""
    if noise.size == 0:
        raise ValueError("empty noise signal")
    reps = -(-length // noise.size)
    return np.tile(noise, reps)[:length]


def add_noise(signal: np.ndarray, noise: np.ndarray, snr_db: float, offset: int, signal_power: float) -> None:
    """Kaldi's AddNoise: scale ``noise`` to ``signal_power / 10^(snr/10)`` and add it at ``offset``
    (in place; the part beyond the signal's end is dropped)."""
    p_noise = power(noise)
    if p_noise == 0.0 or offset >= signal.size:
        return
    scale = math.sqrt(10.0 ** (-snr_db / 10.0) * signal_power / p_noise)
    end = min(signal.size, offset + noise.size)
    signal[offset:end] += scale * np.asarray(noise[:end - offset], dtype=np.float64)


def coloured_noise(n: int, rate: int, beta: float, rng: np.random.Generator,
                   f_floor: float = 50.0) -> np.ndarray:
    """``n`` samples of stationary Gaussian noise whose power spectral density is proportional to
    max(f, f_floor)^beta (f in Hz; the floor keeps red noise finite at DC); float64, unit power."""
    if n <= 0:
        return np.zeros(0)
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    amp = (np.maximum(freqs, f_floor) / 1000.0) ** (beta / 2.0)
    spec = (rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size)) * amp
    y = np.fft.irfft(spec, n)
    p = power(y)
    return y / math.sqrt(p) if p > 0 else y


class SignalBank:
    """Named ``wav.scp`` entries decoded on demand (a small per-process cache), brought to the
    speech's sample rate (band-limited resampling when a corpus differs, e.g. 16 kHz MUSAN on
    8 kHz telephone speech; Kaldi's wav-reverberate would refuse instead).

    Several sets (e.g. small-room and medium-room RIRs) are drawn with equal probability,
    then a signal uniformly within the set, as Kaldi's ``--rir-set-parameters "0.5, ..."``.
    """

    def __init__(self, entries: Mapping[str, str] | Sequence[Mapping[str, str]], what: str, cache_size: int = 64):
        sets = [entries] if isinstance(entries, Mapping) else list(entries)
        if not sets or not all(sets):
            raise ValueError(f"no {what} signals given")
        self.sets = [sorted(s) for s in sets]
        self.entries = {k: v for s in sets for k, v in s.items()}
        self.what = what
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()

    def __getstate__(self):
        return {**self.__dict__, "_cache": OrderedDict()}

    def choose(self, rng: np.random.Generator) -> str:
        ids = self.sets[int(rng.integers(len(self.sets)))] if len(self.sets) > 1 else self.sets[0]
        return ids[int(rng.integers(len(ids)))]

    def get(self, key: str, rate: int) -> np.ndarray:
        """Signal ``key`` at ``rate`` Hz (resampled when its file has another rate), cached."""
        if (key, rate) in self._cache:
            self._cache.move_to_end((key, rate))
            return self._cache[(key, rate)]
        x, r = read_audio(self.entries[key], name=f"{self.what} {key}")
        x = np.asarray(x, dtype=np.float32)
        if r != rate:
            x = resample(x, r, rate)
        self._cache[(key, rate)] = x
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return x


class Augmenter:
    """Renders one augmented copy: ``apply(samples, rate, kind, rng)`` for kind in
    reverb/noise/music/babble (from signal files) or colour (synthetic). ``noise``, ``music``,
    ``speech``: id -> wav.scp entry; ``rirs``: one such mapping or several sets drawn with equal
    probability."""

    def __init__(self, *, noise: Mapping[str, str] | None = None, music: Mapping[str, str] | None = None,
                 speech: Mapping[str, str] | None = None,
                 rirs: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
                 config: AugmentConfig = AugmentConfig()):
        self.banks = {name: SignalBank(entries, name) for name, entries in
                      (("noise", noise), ("music", music), ("babble", speech), ("reverb", rirs)) if entries}
        self.config = config

    @property
    def types(self) -> tuple[str, ...]:
        """The types this augmenter can render: those with signals, and the synthetic ones."""
        return tuple(t for t in ALL_AUG_TYPES if t in self.banks or t in SYNTHETIC_AUG_TYPES)

    @classmethod
    def from_dirs(cls, musan_prefix: str | os.PathLike | None, rirs_dir: str | os.PathLike | Sequence | None,
                  types: Sequence[str] = ALL_AUG_TYPES, config: AugmentConfig = AugmentConfig()) -> Augmenter:
        """From Kaldi data dirs ``{prefix}_noise``, ``{prefix}_music``, ``{prefix}_speech``
        (as ``steps/data/make_musan.sh`` names them) and RIR data dirs (their wav.scp): one dir,
        a comma-separated list or a sequence of dirs, each an equally likely set (Kaldi v2 uses
        ``data/rirs_small,data/rirs_medium``)."""
        unknown = [t for t in types if t not in ALL_AUG_TYPES]
        if unknown:
            raise ValueError(f"unknown augmentation type '{unknown[0]}' (choose from {','.join(ALL_AUG_TYPES)})")
        kwargs = {}
        for kind, key, suffix in (("noise", "noise", "_noise"), ("music", "music", "_music"),
                                  ("babble", "speech", "_speech")):
            if kind in types:
                if musan_prefix is None:
                    raise ValueError(f"augmentation '{kind}' needs the MUSAN data dirs")
                kwargs[key] = DataDir(f"{musan_prefix}{suffix}").wav_scp
        if "reverb" in types:
            if rirs_dir is None:
                raise ValueError("augmentation 'reverb' needs the RIR data dir")
            dirs = rirs_dir.split(",") if isinstance(rirs_dir, str) else (
                [rirs_dir] if isinstance(rirs_dir, os.PathLike) else list(rirs_dir))
            kwargs["rirs"] = [DataDir(d).wav_scp for d in dirs if str(d)]
        return cls(config=config, **kwargs)

    def apply(self, samples: np.ndarray, rate: int, kind: str, rng: np.random.Generator,
              trace: list | None = None) -> np.ndarray:
        """The augmented copy (float32, same length, int16 scale like the input).

        ``trace``, when given, receives one ``(signal id, snr_db or None, offset)`` per signal used.
        """
        x = np.asarray(samples, dtype=np.float32)
        if kind in (None, "clean"):
            return x.copy()
        if kind == "colour":
            cfg = self.config
            beta, snr = float(rng.uniform(*cfg.colour_beta)), float(rng.uniform(*cfg.colour_snr))
            out = x.astype(np.float64)
            add_noise(out, coloured_noise(x.size, rate, beta, rng), snr, 0, power(x))
            if trace is not None:
                trace.append((f"colour beta={beta:.3f}", snr, 0))
            return out.astype(np.float32)
        if kind not in self.banks:
            raise ValueError(f"augmentation '{kind}' has no signals (have: {', '.join(self.types) or 'none'})")
        bank, cfg = self.banks[kind], self.config
        if kind == "reverb":
            rir = bank.choose(rng)
            if trace is not None:
                trace.append((rir, None, 0))
            return reverberate(x, bank.get(rir, rate))
        out = x.astype(np.float64)
        p_sig = power(x)
        if kind == "noise":  # foreground: one noise after another, each with its own SNR
            t = 0
            gap = int(round(cfg.noise_interval * rate))
            while t < x.size:
                key = bank.choose(rng)
                noise = bank.get(key, rate)
                snr = float(cfg.noise_snrs[int(rng.integers(len(cfg.noise_snrs)))])
                add_noise(out, noise, snr, t, p_sig)
                if trace is not None:
                    trace.append((key, snr, t))
                t += noise.size + gap
        else:  # background: music, or the sum of several babble speakers
            nums = cfg.music_num if kind == "music" else cfg.babble_num
            snrs = cfg.music_snrs if kind == "music" else cfg.babble_snrs
            for _ in range(int(nums[int(rng.integers(len(nums)))])):
                key = bank.choose(rng)
                noise = extend(bank.get(key, rate), x.size)
                snr = float(snrs[int(rng.integers(len(snrs)))])
                add_noise(out, noise, snr, 0, p_sig)
                if trace is not None:
                    trace.append((key, snr, 0))
        return out.astype(np.float32)


#: Tables of a source data dir that the copies inherit, keyed by the copy's id.
CARRIED_TABLES = ("utt2spk", "utt2dur", "utt2num_frames", "vad.scp", "text", "utt2lang", "utt2emo", "utt2emo_full",
                  "utt2session", "utt2label", "utt2mmse", "utt2age", "utt2gender")


def copy_names(types: Sequence[str]) -> list[str]:
    """Copy-id suffixes for a list of types: a type listed n times gives ``type``, ``type2`` ... ``typen``
    (e.g. two coloured-noise copies per utterance: ``colour,colour``)."""
    seen: dict[str, int] = {}
    names = []
    for kind in types:
        seen[kind] = seen.get(kind, 0) + 1
        names.append(kind if seen[kind] == 1 else f"{kind}{seen[kind]}")
    return names


def augment_data_dir_job(src_dir: str | os.PathLike, out_dir: str | os.PathLike, augmenter: Augmenter, *,
                         types: Sequence[str], seed: int, wav_dir: str | os.PathLike | None = None,
                         feats_ark: str | os.PathLike | None = None, fbank_opts: FbankOptions | None = None,
                         compression_method: int | None = 1) -> int:
    """Augmented copies ``<utt>-<type>`` of every utterance of ``src_dir`` into data dir ``out_dir``
    (a type listed twice gives ``<utt>-<type>`` and ``<utt>-<type>2``, see :func:`copy_names`).

    Audio goes to ``wav_dir/<type>/<copy>.wav`` (16-bit, ``wav.scp``) or, with ``feats_ark``,
    straight to fbank features (``feats.scp``, ``utt2num_frames``). Copies keep the source's
    speaker, labels, durations and VAD (Kaldi reuses the clean VAD), and ``utt2orig`` maps
    each copy to its source. Copy ``<utt>-<name>`` is drawn from ``derive_seed(seed, utt, name)``,
    so splitting into jobs changes nothing. Returns the number of copies.
    """
    if (wav_dir is None) == (feats_ark is None):
        raise ValueError("give exactly one of wav_dir (write audio) or feats_ark (write features)")
    missing = [t for t in types if t not in augmenter.types]
    if missing:
        raise ValueError(f"augmentation '{missing[0]}' has no signals")
    src, out = DataDir(src_dir), DataDir(out_dir)
    fbank_opts = fbank_opts if fbank_opts is not None else FbankOptions()
    # features are computed at the fbank rate: other rates (8 kHz telephone audio) are resampled first,
    # as make_fbank --allow-resample does for the clean copies
    reader = (AudioReader(src.path, sample_rate=int(fbank_opts.sample_frequency), resampler=resample)
              if feats_ark is not None else AudioReader(src.path))
    src_orig = src.read("utt2orig") if src.has("utt2orig") else {}
    carried = {name: src.read(name) for name in CARRIED_TABLES if src.has(name)}
    tables: dict[str, dict[str, str]] = {name: {} for name in carried}
    tables["utt2orig"] = {}
    wav_scp: dict[str, str] = {}
    num_frames: dict[str, int] = {}
    count = 0
    with contextlib.ExitStack() as stack:
        feats_w = (stack.enter_context(ArkScpWriter.open(feats_ark, compression_method, out.file("feats.scp")))
                   if feats_ark is not None else None)
        bar = stack.enter_context(progress_bar(total=len(reader) * len(types), desc="augment", unit="copy",
                                               tty=tqdm))
        names = copy_names(types)
        for utt, samples, rate in reader:
            for kind, name in zip(types, names):
                copy = f"{utt}-{name}"
                y = augmenter.apply(samples, rate, kind, np.random.default_rng(derive_seed(seed, utt, name)))
                if feats_w is not None:
                    feats, _ = compute_fbank(y, rate, fbank_opts, copy)
                    feats_w.write(copy, feats)
                    num_frames[copy] = feats.shape[0]
                else:
                    path = os.path.abspath(os.path.join(wav_dir, kind, copy + ".wav"))
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    pcm = np.clip(np.rint(y), -32768, 32767).astype(np.int16)
                    with atomic_path(path) as tmp:
                        sf.write(str(tmp), pcm, rate, subtype="PCM_16", format="WAV")
                    wav_scp[copy] = path
                for name, table in carried.items():
                    if utt in table:
                        tables[name][copy] = table[utt]
                tables["utt2orig"][copy] = src_orig.get(utt, utt)
                count += 1
                bar.update()
    if feats_ark is not None:
        tables["utt2num_frames"] = num_frames
    else:
        out.write("wav.scp", wav_scp)
    for name, table in tables.items():
        if table:
            out.write(name, table)
    return count
