"""Recording channel: reverberation, additive coloured noise, EQ and gain, in one FFT pass.

The speech (unit active RMS) is convolved with a synthetic room impulse response, noise of the
session's colour is added at the session's SNR, the session's EQ curve (high-pass, low-pass,
peaking bumps) shapes both, and the result is scaled to -26 dBFS active level plus the gains.
"""
from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from utter.sim.factors import Channel

REF_DBFS = -26.0


def make_rir(rng: np.random.Generator, rt60: float, drr_db: float, fs: int) -> np.ndarray:
    """An exponentially decaying Gaussian-noise impulse response with a direct path; unit energy."""
    n = max(int(min(1.2 * rt60, 1.0) * fs), 16)
    t = np.arange(n) / fs
    onset = int(rng.uniform(0.002, 0.01) * fs)
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    tail[: onset + 1] = 0.0
    tail /= np.sqrt(np.sum(tail ** 2))
    h = tail * 10 ** (-drr_db / 20)
    h[0] = 1.0
    return h / np.sqrt(np.sum(h ** 2))


def eq_curve(ch: Channel, freqs: np.ndarray) -> np.ndarray:
    """Magnitude of the session's EQ at ``freqs`` (Hz)."""
    f = np.maximum(freqs, 1.0)
    g = 1.0 / np.sqrt(1 + (ch.hp / f) ** 4) / np.sqrt(1 + (f / ch.lp) ** (2 * ch.lp_order))
    db = np.zeros_like(f)
    for fc, gain, q in ch.peaks:
        db += gain * np.exp(-0.5 * (np.log2(f / fc) * q * 1.5) ** 2)
    return g * 10 ** (db / 20)


def apply_channel(x: np.ndarray, ch: Channel, rng: np.random.Generator, fs: int, rir_seed: int,
                  level_db: float = 0.0) -> np.ndarray:
    """Speech ``x`` (unit active RMS) through the channel; float samples at int16 scale.

    ``rir_seed`` fixes the session's room (the same impulse response for all its utterances);
    ``level_db`` is the utterance's own level offset (emotion energy, per-utterance gain).
    """
    n = len(x)
    h = make_rir(np.random.default_rng(rir_seed), ch.rt60, ch.drr_db, fs) if ch.rt60 > 0 else None
    nfft = sfft.next_fast_len(n + (len(h) - 1 if h is not None else 0), real=True)
    spec = sfft.rfft(x, nfft)
    if h is not None:
        spec *= sfft.rfft(h, nfft)
    spec *= 10 ** (level_db / 20)
    freqs = np.fft.rfftfreq(nfft, 1.0 / fs)
    colour = np.maximum(freqs, 50.0) / 1000.0
    colour = colour ** (ch.noise_slope / 2)
    noise = (rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))) * colour
    noise_power = (2 * np.sum(np.abs(noise) ** 2) - abs(noise[0]) ** 2) / nfft ** 2
    noise *= np.sqrt(10 ** (-ch.snr_db / 10) / noise_power)
    spec = (spec + noise) * eq_curve(ch, freqs)
    y = sfft.irfft(spec, nfft)[:n]
    return y * (32768.0 * 10 ** ((REF_DBFS + ch.gain_db) / 20))


def to_int16(y: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(y), -32768, 32767).astype(np.int16)
