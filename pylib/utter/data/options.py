"""Option sets of the data stages: fbank and VAD (Kaldi's option names), and augmentation.

Plain dataclasses with their defaults and checks, and nothing heavy imported: the library
functions that compute features (:mod:`utter.data.features`) or augmented copies
(:mod:`utter.data.augment`) take them as arguments, and a stage program lists them in its
``--help`` without loading torch or scipy (``utter.bin.common.add_kaldi_options`` turns a
Kaldi option set into command-line options).

The toolkit's default configs, which the recipes carry as ``conf/fbank.conf`` and
``conf/vad.conf``, are :data:`DEFAULT_FBANK_CONF` and :data:`DEFAULT_VAD_CONF` below
(``FbankOptions()`` and ``VadOptions()`` are these values).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import TypeVar

from utter.config import config_items

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

T = TypeVar("T", bound="KaldiOptions")

_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def _to_bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ValueError(f"expected true or false, got '{value}'")


def convert_option(field: dataclasses.Field, value: object) -> object:
    """``value`` (a conf-file or command-line string, or already typed) as the type of option ``field``;
    booleans are Kaldi's ``true``/``false``. A ValueError names what was expected."""
    kind = field.type if isinstance(field.type, type) else _TYPES[field.type]
    return _to_bool(value) if kind is bool else kind(value)


def option(default: object, help: str) -> object:
    """A field of an option set with its ``--help`` text (kept in the field's metadata)."""
    return dataclasses.field(default=default, metadata={"help": help})


class KaldiOptions:
    """Kaldi-style option sets: ``--num-mel-bins`` in a conf file, ``num_mel_bins`` here."""

    @classmethod
    def from_dict(cls: type[T], values: dict) -> T:
        """Options from a dict keyed by field name or Kaldi option name; unknown keys are errors."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            name = key.lstrip("-").replace("-", "_")
            if name not in fields:
                raise ValueError(f"unknown {cls.__name__} option '{key}'")
            kwargs[name] = convert_option(fields[name], value)
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


@dataclass
class FbankOptions(KaldiOptions):
    """Kaldi's compute-fbank-feats options, with the toolkit's defaults (see the module doc)."""

    sample_frequency: float = option(16000.0, "sampling rate the features are computed at (Hz)")
    frame_length: float = option(25.0, "frame (window) length in ms")
    frame_shift: float = option(10.0, "frame shift in ms")
    dither: float = option(1.0, "Gaussian dither added to each sample, in sample units (0: none)")
    preemphasis_coefficient: float = option(0.97, "pre-emphasis coefficient (0: none)")
    remove_dc_offset: bool = option(True, "subtract each frame's mean before windowing")
    window_type: str = option("povey", "window: hamming, hanning, povey, rectangular or blackman")
    round_to_power_of_two: bool = option(True, "zero-pad each frame to a power-of-two FFT size")
    blackman_coeff: float = option(0.42, "constant of the generalised Blackman window")
    snip_edges: bool = option(False, "true: only frames that fit inside the audio; "
                                     "false: frames centred on k*shift")
    num_mel_bins: int = option(80, "number of triangular mel bins")
    low_freq: float = option(20.0, "low edge of the mel bins (Hz)")
    high_freq: float = option(7600.0, "high edge of the mel bins (Hz); <= 0 counts down from the Nyquist frequency")
    vtln_low: float = option(100.0, "lower inflection point of the VTLN warping (Hz)")
    vtln_high: float = option(-500.0, "upper inflection point of the VTLN warping (Hz); "
                                      "<= 0 counts down from the Nyquist frequency")
    vtln_warp: float = option(1.0, "VTLN warping factor (1: none)")
    use_energy: bool = option(False, "add the frame energy as an extra first coefficient")
    energy_floor: float = option(0.0, "floor on the energy coefficient (0: none)")
    raw_energy: bool = option(True, "energy of the frame before pre-emphasis and windowing")
    htk_compat: bool = option(False, "HTK order and scaling of the energy coefficient")
    use_log_fbank: bool = option(True, "log of the mel energies (false: the energies themselves)")
    use_power: bool = option(True, "mel bins from the power spectrum (false: from the magnitude)")

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
class VadOptions(KaldiOptions):
    """Kaldi's compute-vad options, with the VoxCeleb recipe's values as defaults."""

    vad_energy_threshold: float = option(5.5, "a frame is voiced when its log-energy exceeds this "
                                              "plus --vad-energy-mean-scale times the mean")
    vad_energy_mean_scale: float = option(0.5, "weight of the utterance's mean log-energy in the threshold")
    vad_proportion_threshold: float = option(0.12, "fraction of the frames around a frame that must pass the threshold")
    vad_frames_context: int = option(2, "frames of context on each side for that fraction")


@dataclass(frozen=True)
class AugmentConfig:
    """Kaldi v2 defaults: SNR choices (dB), background-noise counts, foreground gap (s); and the
    ranges (uniform) of the coloured noise's SNR (dB) and spectral exponent beta."""

    noise_snrs: tuple[float, ...] = (15.0, 10.0, 5.0, 0.0)
    noise_interval: float = 1.0
    music_snrs: tuple[float, ...] = (15.0, 10.0, 8.0, 5.0)
    music_num: tuple[int, ...] = (1,)
    babble_snrs: tuple[float, ...] = (20.0, 17.0, 15.0, 13.0)
    babble_num: tuple[int, ...] = (3, 4, 5, 6, 7)
    colour_snr: tuple[float, float] = (0.0, 20.0)
    colour_beta: tuple[float, float] = (-1.5, 0.3)

    def __post_init__(self):
        for name in ("colour_snr", "colour_beta"):
            value = tuple(getattr(self, name))
            if len(value) != 2 or not value[0] <= value[1]:
                raise ValueError(f"{name}: need a range low,high with low <= high, got {','.join(map(str, value))}")


__all__ = ["KaldiOptions", "FbankOptions", "VadOptions", "AugmentConfig", "convert_option",
           "DEFAULT_FBANK_CONF", "DEFAULT_VAD_CONF"]
