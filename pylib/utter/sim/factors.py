"""The simulator's factors and the distributions they are drawn from.

Speaker (drawn once per speaker):
  - ``formant_scale`` (vocal-tract length): female N(1.17, 0.055), male N(1.0, 0.05); divides
    nothing, multiplies every formant and frication centre.
  - ``f0``: female lognormal around 205 Hz (sd 0.13 in log), male around 118 Hz (sd 0.14);
    ``f0_range`` (semitones of pitch accents) U(1.5, 5).
  - ``breath`` (aspiration noise relative to the pulse): U(0.02, 0.35); ``open_quotient`` 0.45 +
    0.5 * breath; ``jitter`` U(0.005, 0.02); ``shimmer`` U(0.03, 0.12).
  - ``tilt`` (extra spectral slope, dB per octave): N(0, 2.0).
  - ``rate`` (speaking rate): lognormal, sd 0.12.
  - ``habits``: 3 phones of the inventory with speaker-specific formant offsets (N(0, 0.1) per
    formant, relative) and duration factors (lognormal sd 0.2).
  - ``nasality``: U(0, 1), a low-pass colour on voiced phones.
Session / channel (drawn per video, IEMOCAP session or recording; varies within a speaker):
  - EQ: high-pass corner log-uniform 50-300 Hz, low-pass corner U(3.4, 7.8) kHz (order 2-4),
    three peaking bumps (centre log-uniform 150-6000 Hz, gain N(0, 5) dB, Q U(0.7, 2.5));
  - additive noise at SNR U(5, 30) dB with a colour of slope U(-1.5, 0.3) power/octave;
  - reverberation with probability 0.5: exponentially decaying noise RIR, RT60 U(0.15, 0.7) s,
    direct-to-reverberant ratio U(-2, 10) dB;
  - gain N(0, 4) dB (plus N(0, 1) dB per utterance).
  IEMOCAP and ADReSS sessions are studio recordings: EQ bumps N(0, 2) dB, gain N(0, 2) dB,
  reverberation probability 0.3, SNR U(15, 35) dB (ADReSS: probability 0.1, U(30, 40) dB, its
  audio was enhanced).
Emotion (IEMOCAP, per utterance): :data:`EMOTION_SHIFTS` gives each category's shift of f0 level
  (semitones), f0 variability (factor), energy (dB), rate (factor), breathiness and tilt. An
  utterance applies ``intensity * speaker expressivity`` of its shift, intensity ~ Beta(3, 2) * 1.5,
  expressivity lognormal sd 0.3, so classes and speakers overlap.
Cognitive decline (ADReSS, per speaker): severity ~ Beta(1.5, 7) for controls and Beta(3, 2.5)
  for AD; MMSE = clip(round(30 - 22 severity + N(0, 2)), 0, 30). Severity s slows the rate by
  (1 - 0.4 s), raises the pause probability between words to 0.05 + 0.6 s, lengthens pauses by
  (1 + 3 s) and the gaps between phrases by (1 + 6 s), adds fillers (probability per phrase
  0.1 + 0.6 s), shortens phrases (mean words 7 - 3.5 s), adds retracing (probability per phrase
  0.05 + 0.3 s), flattens f0 (variability x (1 - 0.4 s)), adds breathiness (+0.25 s) and
  spectral tilt (+3 s dB/octave) and lowers the voice (-4 s dB).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from utter.sim import phones


@dataclass(frozen=True)
class Speaker:
    gender: str  # "m" or "f"
    lang: str
    formant_scale: float
    f0: float
    f0_range: float
    breath: float
    open_quotient: float
    jitter: float
    shimmer: float
    tilt: float
    rate: float
    nasality: float
    habits: dict[int, tuple[np.ndarray, float]] = field(default_factory=dict)
    age: int = 40


@dataclass(frozen=True)
class Style:
    """Per-utterance modification of the voice: emotion, cognitive decline, or none."""

    f0_shift: float = 0.0  # semitones
    f0_var: float = 1.0  # factor on accent range and drift
    energy_db: float = 0.0
    rate: float = 1.0
    breath: float = 0.0  # added to breathiness
    tilt: float = 0.0  # added dB/octave
    pause_p: float = 0.04  # probability of a pause between words
    pause_scale: float = 1.0
    filler_p: float = 0.0
    phrase_words: float = 7.0
    retrace_p: float = 0.0


@dataclass(frozen=True)
class Channel:
    hp: float
    lp: float
    lp_order: int
    peaks: tuple[tuple[float, float, float], ...]  # (centre Hz, gain dB, Q)
    snr_db: float
    noise_slope: float
    rt60: float  # 0: no reverberation
    drr_db: float
    gain_db: float


def draw_speaker(rng: np.random.Generator, gender: str, lang: str, age: int = 40) -> Speaker:
    """A speaker's voice from the distributions in this module's docstring."""
    female = gender == "f"
    breath = float(rng.uniform(0.02, 0.35))
    inv = phones.LANGUAGES[lang]
    inventory = list(inv.vowels) + list(inv.consonants)
    picks = rng.choice(len(inventory), size=3, replace=False)
    habits = {phones.INDEX[inventory[i]]: (1.0 + rng.normal(0, 0.1, 5), float(np.exp(rng.normal(0, 0.2))))
              for i in picks}
    return Speaker(
        gender=gender, lang=lang,
        formant_scale=float(rng.normal(1.17, 0.055) if female else rng.normal(1.0, 0.05)),
        f0=float(np.exp(rng.normal(np.log(205.0), 0.13) if female else rng.normal(np.log(118.0), 0.14))),
        f0_range=float(rng.uniform(1.5, 5.0)),
        breath=breath, open_quotient=0.45 + 0.5 * breath,
        jitter=float(rng.uniform(0.005, 0.02)), shimmer=float(rng.uniform(0.03, 0.12)),
        tilt=float(rng.normal(0.0, 2.0)), rate=float(np.exp(rng.normal(0.0, 0.12))),
        nasality=float(rng.uniform(0.0, 1.0)), habits=habits, age=age,
    )


def draw_channel(rng: np.random.Generator, reverb_p: float = 0.5, snr: tuple[float, float] = (5.0, 30.0),
                 eq_db: float = 5.0, gain_db: float = 4.0) -> Channel:
    """A recording session's channel from the distributions in this module's docstring.

    ``eq_db`` and ``gain_db`` are the standard deviations of the EQ bumps and of the gain
    (studio corpora such as IEMOCAP and ADReSS use milder channels than VoxCeleb's videos).
    """
    peaks = tuple((float(np.exp(rng.uniform(np.log(150), np.log(6000)))), float(rng.normal(0, eq_db)),
                   float(rng.uniform(0.7, 2.5))) for _ in range(3))
    reverb = rng.random() < reverb_p
    return Channel(
        hp=float(np.exp(rng.uniform(np.log(50), np.log(300)))), lp=float(rng.uniform(3400, 7800)),
        lp_order=int(rng.integers(2, 5)), peaks=peaks, snr_db=float(rng.uniform(*snr)),
        noise_slope=float(rng.uniform(-1.5, 0.3)), rt60=float(rng.uniform(0.15, 0.7)) if reverb else 0.0,
        drr_db=float(rng.uniform(-2, 10)), gain_db=float(rng.normal(0, gain_db)),
    )


#: category: (f0 shift st, f0 variability factor, energy dB, rate factor, breath, tilt dB/oct)
EMOTION_SHIFTS: dict[str, tuple[float, float, float, float, float, float]] = {
    "neu": (0.0, 1.0, 0.0, 1.0, 0.0, 0.0),
    "hap": (3.0, 1.4, 4.0, 1.08, 0.05, -2.0),
    "exc": (4.0, 1.6, 6.0, 1.12, 0.0, -2.5),
    "ang": (2.0, 1.3, 8.0, 1.1, -0.1, -5.0),
    "sad": (-2.0, 0.55, -6.0, 0.78, 0.2, 4.0),
    "fru": (1.0, 1.1, 3.0, 1.0, -0.05, -2.5),
    "sur": (4.0, 1.7, 4.0, 1.05, 0.02, -1.5),
    "fea": (3.0, 1.3, -1.0, 1.15, 0.15, 1.0),
    "dis": (-0.5, 0.9, 1.5, 0.9, 0.05, -1.0),
    "oth": (0.5, 1.1, 0.5, 1.0, 0.0, 0.0),
}


def emotion_style(rng: np.random.Generator, emotion: str, expressivity: float) -> Style:
    """A per-utterance Style for an emotion category, scaled by a random intensity."""
    f0, var, energy, rate, breath, tilt = EMOTION_SHIFTS[emotion]
    k = float(rng.beta(3, 2) * 1.5 * expressivity)
    return Style(f0_shift=k * f0, f0_var=var ** k, energy_db=k * energy + float(rng.normal(0, 1.5)),
                 rate=rate ** k, breath=k * breath, tilt=k * tilt, pause_p=0.05)


def ad_severity(rng: np.random.Generator, group: str) -> float:
    """Severity in [0, 1]: controls Beta(1.5, 7), AD Beta(3, 2.5)."""
    return float(rng.beta(1.5, 7) if group == "cc" else rng.beta(3, 2.5))


def mmse_from_severity(rng: np.random.Generator, severity: float) -> int:
    return int(np.clip(round(30 - 22 * severity + rng.normal(0, 2)), 0, 30))


def decline_style(severity: float) -> Style:
    """The speaking style of a picture description at a given severity (see the docstring)."""
    s = severity
    return Style(rate=1.0 - 0.4 * s, pause_p=0.05 + 0.6 * s, pause_scale=1.0 + 3.0 * s,
                 filler_p=0.1 + 0.6 * s, phrase_words=7.0 - 3.5 * s, retrace_p=0.05 + 0.3 * s,
                 f0_var=1.0 - 0.4 * s, breath=0.25 * s, tilt=3.0 * s, energy_db=-4.0 * s)


def with_style(speaker: Speaker, style: Style) -> Speaker:
    """The speaker's voice after the style's voice-quality changes."""
    breath = float(np.clip(speaker.breath + style.breath, 0.0, 0.6))
    return replace(speaker, breath=breath, open_quotient=0.45 + 0.5 * breath, tilt=speaker.tilt + style.tilt)
