"""Source-filter synthesis of a plan, vectorised over frames (STFT domain, 32 ms / 16 ms).

Source: a Rosenberg glottal pulse train (open quotient from breathiness) with per-period jitter
and shimmer, differentiated (lip radiation), plus pulse-modulated aspiration noise. Filter:
five cascade formant resonators (magnitude responses with unity DC gain) whose frequencies
move between the phones' targets (frame tracks smoothed over 48 ms), evaluated per frame and
applied to the source's STFT; frication and plosive bursts are noise spectra shaped by a
log-frequency bump at the phone's centre frequency. One inverse STFT gives the waveform.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import uniform_filter1d

from utter.sim import phones
from utter.sim.factors import Speaker, Style
from utter.sim.plan import BURST, CLOSURE, PAUSE, Plan

FS = 16000
WIN = 512
HOP = 256
_FREQS = np.fft.rfftfreq(WIN, 1.0 / FS)
_OMEGA = 2 * np.pi * _FREQS / FS
_COS = np.cos(_OMEGA).astype(np.float32)[None, :]
_SIN = np.sin(_OMEGA).astype(np.float32)[None, :]
_WINDOW = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN))  # sqrt-Hann: w^2 sums to 1
_BANDWIDTH = np.array([80.0, 100.0, 140.0, 220.0, 300.0])
FRIC_GAIN = 0.35


def _frame_tracks(plan: Plan, speaker: Speaker, n_frames: int):
    """Per-frame phone index, part and the segment boundaries in frames."""
    ends = np.rint(np.cumsum(plan.dur) * FS / HOP).astype(np.int64)
    ends[-1] = n_frames
    starts = np.concatenate([[0], ends[:-1]])
    counts = np.maximum(ends - starts, 0)
    seg = np.repeat(np.arange(len(plan.dur)), counts)
    return seg, starts, ends


def _formant_targets(plan: Plan, speaker: Speaker) -> np.ndarray:
    lang = phones.LANGUAGES[speaker.lang]
    idx = np.array([p if p != PAUSE else phones.INDEX["@"] for p in plan.phone])
    f = phones.FORMANTS[idx].copy()
    vowel = phones.IS_VOWEL[idx]
    f[vowel, 0] *= lang.formant_shift[0]
    f[vowel, 1] *= lang.formant_shift[1]
    for i, p in enumerate(plan.phone):
        if p in speaker.habits:
            f[i] *= speaker.habits[p][0]
    return f * speaker.formant_scale


def _f0_track(plan: Plan, speaker: Speaker, style: Style, rng: np.random.Generator, seg: np.ndarray,
              starts: np.ndarray, ends: np.ndarray, n_frames: int) -> np.ndarray:
    """Semitone contour: declination per phrase, accents on stressed vowels, final fall/rise, drift."""
    t = np.arange(n_frames) * HOP / FS
    st = np.zeros(n_frames)
    is_pause = np.array([p == PAUSE for p in plan.phone])
    # declination restarting after each pause
    phrase_start = np.zeros(len(plan.phone))
    cur = 0.0
    for i, p in enumerate(is_pause):
        if p:
            cur = (ends[i]) * HOP / FS
        phrase_start[i] = cur
    st -= rng.uniform(1.0, 3.0) * (t - phrase_start[seg])
    rng_st = speaker.f0_range * style.f0_var
    centres, heights = [], []
    for i in range(len(plan.phone)):
        if plan.stress[i] or plan.final[i]:
            c = 0.5 * (starts[i] + ends[i]) * HOP / FS
            if plan.final[i]:
                h = rng_st * (0.8 if rng.random() < 0.2 else -0.6)
            else:
                h = rng_st * rng.uniform(0.3, 1.0)
            centres.append(c)
            heights.append(h)
    if centres:
        c = np.array(centres)[None, :]
        st += (np.array(heights)[None, :] * np.exp(-0.5 * ((t[:, None] - c) / 0.07) ** 2)).sum(1)
    drift = uniform_filter1d(rng.normal(0, 1, n_frames), 12, mode="nearest")
    st += drift * 1.5 * style.f0_var
    return speaker.f0 * 2.0 ** ((st + style.f0_shift) / 12.0)


def _glottal_source(f0: np.ndarray, speaker: Speaker, rng: np.random.Generator, n: int) -> np.ndarray:
    """Differentiated Rosenberg pulses with jitter and shimmer, plus pulse-modulated aspiration."""
    centres = np.arange(len(f0)) * HOP
    f0s = np.interp(np.arange(n), centres, f0)
    phi0 = np.cumsum(f0s / FS)
    n_per = int(phi0[-1]) + 2
    jit = 1.0 + speaker.jitter * rng.standard_normal(n_per)
    phi = np.cumsum(f0s * jit[phi0.astype(np.int64)] / FS)
    k = phi.astype(np.int64)
    frac = phi - k
    oq = speaker.open_quotient
    tp, tn = 0.6 * oq, 0.4 * oq
    flow = np.where(frac < tp, 0.5 - 0.5 * np.cos(np.pi * frac / tp),
                    np.where(frac < tp + tn, np.cos(0.5 * np.pi * np.minimum(frac - tp, tn) / tn), 0.0))
    flow *= 1.0 + speaker.shimmer * rng.standard_normal(int(k[-1]) + 1)[k]
    dg = np.diff(flow, prepend=0.0) * (FS / f0s)
    asp = rng.standard_normal(n) * (0.2 + flow) * (speaker.breath * 2.5)
    return dg + asp


def _stft(x: np.ndarray, n_frames: int) -> np.ndarray:
    xp = np.concatenate([np.zeros(HOP), x, np.zeros(WIN)])
    frames = np.lib.stride_tricks.sliding_window_view(xp, WIN)[::HOP][:n_frames]
    return np.fft.rfft(frames * _WINDOW, axis=1)


def _istft(spec: np.ndarray, n: int) -> np.ndarray:
    frames = np.fft.irfft(spec, n=WIN, axis=1) * _WINDOW
    t = frames.shape[0]
    out = np.zeros((t + 1) * HOP)
    out[: t * HOP] += frames[:, :HOP].reshape(-1)
    out[HOP:] += frames[:, HOP:].reshape(-1)
    return out[HOP: HOP + n]


def _formant_envelope(fr: np.ndarray, bw: np.ndarray) -> np.ndarray:
    """|H| of a cascade of resonators (unity DC gain), frames x bins; fr, bw: frames x 5 (Hz)."""
    r = np.exp(-np.pi * bw / FS).astype(np.float32)
    theta = (2 * np.pi * fr / FS).astype(np.float32)
    num = np.ones(fr.shape[0], np.float32)
    den = np.ones((fr.shape[0], _COS.shape[1]), np.float32)
    for k in range(fr.shape[1]):
        rk, ck, sk = r[:, k:k + 1], np.cos(theta[:, k:k + 1]), np.sin(theta[:, k:k + 1])
        a = 1 + rk * rk
        b = 2 * rk
        p = _COS * ck
        q = _SIN * sk
        den *= (a - b * (p + q)) * (a - b * (p - q))
        num *= (a - b * ck)[:, 0] ** 2
    return num[:, None] / np.sqrt(den)


def _fric_shapes(scale: float) -> np.ndarray:
    """Per-phone noise spectra: a Gaussian bump on log2 frequency at the (scaled) centre."""
    f = np.maximum(_FREQS, 50.0)[None, :]
    centre = np.maximum(phones.FRIC_CENTRE * scale, 100.0)[:, None]
    width_oct = np.log2(1 + phones.FRIC_WIDTH / np.maximum(phones.FRIC_CENTRE, 1.0))[:, None]
    return (np.exp(-0.5 * (np.log2(f / centre) / np.maximum(width_oct, 0.3)) ** 2) + 0.03).astype(np.float32)


def synthesize(plan: Plan, speaker: Speaker, style: Style, rng: np.random.Generator) -> np.ndarray:
    """Render a plan at 16 kHz; the speech (non-pause) part has unit RMS."""
    n_frames = int(np.ceil(plan.duration * FS / HOP)) + 1
    n = (n_frames - 1) * HOP
    seg, starts, ends = _frame_tracks(plan, speaker, n_frames)
    ph = np.array(plan.phone)
    part = np.array(plan.part)
    idx = np.where(ph == PAUSE, phones.INDEX["@"], ph)
    pause = ph == PAUSE
    av = np.where(pause, 0.0, phones.VOICING[idx])
    an = np.where(pause, 0.0, phones.FRICATION[idx])
    plosive = part != 0
    av = np.where(part == CLOSURE, np.where(phones.TYPES[idx] == "B", av, 0.0), av)
    av = np.where(part == BURST, 0.0, av)
    an = np.where(part == CLOSURE, 0.0, np.where(part == BURST, an * 2.0, np.where(plosive, 0.0, an)))
    nasal = phones.TYPES[idx] == "N"
    tgt = _formant_targets(plan, speaker)
    fr = uniform_filter1d(tgt[seg], 3, axis=0, mode="nearest")
    bw = np.broadcast_to(_BANDWIDTH * (1 + 0.6 * speaker.breath), fr.shape).copy()
    bw[:, 0] *= np.where(nasal[seg], 2.0, 1.0)
    av_f = np.convolve(av[seg], [0.25, 0.5, 0.25], mode="same")
    an_f = an[seg]
    f0 = _f0_track(plan, speaker, style, rng, seg, starts, ends, n_frames)
    src = _glottal_source(f0, speaker, rng, n)
    g = _stft(src, n_frames)
    f = np.maximum(_FREQS, 60.0)
    static = 10 ** (-speaker.tilt * np.log2(f / 500.0) / 20) / np.sqrt(1 + (f / 1800.0) ** 2) ** speaker.nasality
    hv = _formant_envelope(fr, bw) * (av_f[:, None] * static[None, :]).astype(np.float32)
    voiced = g * hv
    ref = np.sqrt(np.mean(np.abs(voiced[av_f > 0.5]) ** 2)) if np.any(av_f > 0.5) else 1.0
    fric = _fric_shapes(speaker.formant_scale)[idx[seg]] * (an_f * ref * FRIC_GAIN)[:, None]
    noise = (rng.standard_normal(fric.shape, np.float32) + 1j * rng.standard_normal(fric.shape, np.float32))
    y = _istft(voiced + noise * fric, n)
    active = ~pause[seg]
    act_samples = np.repeat(active, HOP)[:n]
    rms = np.sqrt(np.mean(y[act_samples] ** 2)) if act_samples.any() else 1.0
    return y / max(rms, 1e-9)
