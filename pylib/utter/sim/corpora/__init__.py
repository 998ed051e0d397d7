"""Writers of the miniature corpora in the real layouts, and what they share."""
from __future__ import annotations

import string

import numpy as np

from utter.sim import channel as chan
from utter.sim import factors, plan, synth

_ALNUM = string.ascii_letters + string.digits
_VIDEO_CHARS = _ALNUM + "_-"
_SYL = ["ka", "ri", "mo", "le", "na", "to", "sa", "vi", "da", "ne", "lo", "ma", "ju", "be", "ro", "el", "an",
        "is", "ta", "ga", "li", "po", "de", "mi", "ra", "co", "ste", "fan", "bri", "lor"]


def video_id(rng: np.random.Generator) -> str:
    """An 11-character YouTube-like id."""
    first = _ALNUM[int(rng.integers(len(_ALNUM)))]
    return first + "".join(_VIDEO_CHARS[i] for i in rng.integers(len(_VIDEO_CHARS), size=10))


def person_name(rng: np.random.Generator) -> str:
    """A made-up ``First_Last`` name (the VGGFace1 ID column of vox1_meta.csv)."""
    def word(n: int) -> str:
        return "".join(_SYL[i] for i in rng.integers(len(_SYL), size=n)).capitalize()
    return f"{word(int(rng.integers(1, 3)))}_{word(int(rng.integers(2, 4)))}"


def utterance_style(rng: np.random.Generator) -> factors.Style:
    """Small per-utterance variation of a neutral speaker (f0 +-0.7 st, rate +-5%)."""
    return factors.Style(f0_shift=float(rng.normal(0, 0.7)), rate=float(np.exp(rng.normal(0, 0.05))),
                         f0_var=float(np.exp(rng.normal(0, 0.15))))


def speak(rng: np.random.Generator, speaker: factors.Speaker, style: factors.Style, duration: float):
    """Babble of about ``duration`` seconds in the speaker's language: (16 kHz samples, plan)."""
    voice = factors.with_style(speaker, style)
    p = plan.babble_plan(rng, voice, style, duration)
    return synth.synthesize(p, voice, style, rng), p


def record(x: np.ndarray, ch: factors.Channel, rng: np.random.Generator, rir_seed: int,
           level_db: float = 0.0) -> np.ndarray:
    """Through the session's channel to int16."""
    return chan.to_int16(chan.apply_channel(x, ch, rng, synth.FS, rir_seed, level_db))
