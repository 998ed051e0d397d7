"""Simulator factors have their intended effect on simple acoustic measures computed in the test.

f0 is measured by autocorrelation of voiced frames (independent of the synthesiser's pulse
generator), pauses by an energy threshold, spectral balance from an FFT.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from utter.sim import factors, synth
from utter.sim.build_tools import item_rng
from utter.sim.channel import apply_channel, make_rir
from utter.sim.factors import Style
from utter.sim.plan import PAUSE, babble_plan

FS = synth.FS


def _speaker(seed: int, gender: str = "m", **over) -> factors.Speaker:
    s = factors.draw_speaker(np.random.default_rng(seed), gender, "en-us")
    return replace(s, **over) if over else s


def _render(spk: factors.Speaker, style: Style, seed: int, dur: float = 4.0) -> tuple[np.ndarray, object]:
    rng = np.random.default_rng(seed)
    voice = factors.with_style(spk, style)
    p = babble_plan(rng, voice, style, dur)
    return synth.synthesize(p, voice, style, rng), p


def _median_f0(x: np.ndarray) -> float:
    """Median autocorrelation pitch (60-400 Hz) over the loudest 30% of 40 ms frames."""
    n = 640
    frames = x[: len(x) // n * n].reshape(-1, n)
    energy = (frames ** 2).mean(1)
    voiced = frames[energy > np.quantile(energy, 0.7)]
    f0s = []
    for f in voiced:
        f = f - f.mean()
        ac = np.correlate(f, f, "full")[n - 1:]
        lo, hi = FS // 400, FS // 60
        lag = lo + int(np.argmax(ac[lo:hi]))
        f0s.append(FS / lag)
    return float(np.median(f0s))


def test_f0_follows_speaker_and_emotion():
    base = _speaker(1, f0=120.0, jitter=0.005)
    f_neu = np.median([_median_f0(_render(base, Style(), s)[0]) for s in range(3)])
    assert 100 < f_neu < 150
    f_high = np.median([_median_f0(_render(base, Style(f0_shift=6.0), s)[0]) for s in range(3)])
    assert 1.25 < f_high / f_neu < 1.55  # 6 semitones = x1.41
    # emotion categories: angry/happy above sad, averaged over intensities
    rng = np.random.default_rng(0)
    f = {e: np.mean([_median_f0(_render(base, factors.emotion_style(rng, e, 1.0), s)[0]) for s in range(4)])
         for e in ("sad", "neu", "hap")}
    assert f["sad"] < f["neu"] < f["hap"]


def test_vocal_tract_length_scales_the_spectrum():
    def centroid(x):
        spec = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(len(x), 1 / FS)
        band = freqs < 4000
        return float((spec[band] * freqs[band]).sum() / spec[band].sum())
    short = _speaker(2, formant_scale=1.2, tilt=0.0)
    long = _speaker(2, formant_scale=0.9, tilt=0.0)
    c_short = np.mean([centroid(_render(short, Style(), s)[0]) for s in range(3)])
    c_long = np.mean([centroid(_render(long, Style(), s)[0]) for s in range(3)])
    assert c_short > 1.15 * c_long


def test_decline_adds_pauses_and_slows_speech():
    spk = _speaker(3)
    ratios, rates = {}, {}
    for sev in (0.05, 0.9):
        style = factors.decline_style(sev)
        pause, vowels, speech = 0.0, 0, 0.0
        for s in range(6):
            x, p = _render(spk, style, 100 + s, 8.0)
            frames = x[: len(x) // 160 * 160].reshape(-1, 160)
            e = 10 * np.log10((frames ** 2).mean(1) + 1e-12)
            pause += float((e < e.max() - 45).mean())
            vowels += sum(1 for ph, part in zip(p.phone, p.part) if ph != PAUSE and synth.phones.IS_VOWEL[ph])
            speech += sum(d for ph, d in zip(p.phone, p.dur) if ph != PAUSE)
        ratios[sev], rates[sev] = pause / 6, vowels / speech
    assert ratios[0.9] > ratios[0.05] + 0.1
    assert rates[0.9] < 0.8 * rates[0.05]
    # MMSE decreases with severity
    rng = np.random.default_rng(0)
    sev = np.array([factors.ad_severity(rng, g) for g in ("cc", "cd") * 200])
    mmse = np.array([factors.mmse_from_severity(rng, s) for s in sev])
    assert np.corrcoef(sev, mmse)[0, 1] < -0.8
    assert sev[0::2].mean() < sev[1::2].mean() and sev[0::2].max() > np.median(sev[1::2])  # groups overlap


def test_channel_snr_and_session_similarity():
    x, _ = _render(_speaker(4), Style(), 0)
    ch = replace(factors.draw_channel(np.random.default_rng(1), reverb_p=0.0), snr_db=10.0,
                         peaks=(), hp=1.0, lp=1e6, gain_db=0.0)
    silent = np.zeros_like(x)
    noisy = apply_channel(x, ch, np.random.default_rng(2), FS, 0)
    noise = apply_channel(silent, ch, np.random.default_rng(2), FS, 0)
    speech = noisy - noise
    active = np.abs(x) > 0
    snr = 10 * np.log10(np.mean(speech[active] ** 2) / np.mean(noise ** 2))
    assert abs(snr - 10.0 - 10 * np.log10(np.mean(x[active] ** 2))) < 1.0
    # the same session's channel makes two utterances' long-term spectra closer than another session's
    def ltas(y):
        frames = y[: len(y) // 512 * 512].reshape(-1, 512)
        return np.log(np.mean(np.abs(np.fft.rfft(frames, axis=1)) ** 2, 0) + 1e-9)
    spk = _speaker(5)
    a, b = _render(spk, Style(), 1)[0], _render(spk, Style(), 2)[0]
    s1, s2 = (factors.draw_channel(item_rng(9, "sess", k)) for k in (1, 2))
    ya = apply_channel(a, s1, np.random.default_rng(3), FS, 11)
    yb_same = apply_channel(b, s1, np.random.default_rng(4), FS, 11)
    yb_other = apply_channel(b, s2, np.random.default_rng(4), FS, 12)
    assert np.linalg.norm(ltas(ya) - ltas(yb_same)) < np.linalg.norm(ltas(ya) - ltas(yb_other))


def test_rir_decays_with_rt60():
    h = make_rir(np.random.default_rng(0), 0.5, 0.0, FS)
    assert abs(np.sum(h ** 2) - 1) < 1e-9 and np.argmax(np.abs(h)) == 0
    # energy decay of the tail: -60 dB per RT60, checked on a line fit of the Schroeder curve
    tail = h[int(0.02 * FS):]
    edc = 10 * np.log10(np.cumsum(tail[::-1] ** 2)[::-1] / np.sum(tail ** 2))
    t = np.arange(len(edc)) / FS
    sel = (edc < -5) & (edc > -25)
    slope = np.polyfit(t[sel], edc[sel], 1)[0]
    assert abs(-60 / slope - 0.5) < 0.08
