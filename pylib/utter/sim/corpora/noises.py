"""Mini MUSAN and RIRS_NOISES in the real layouts.

``musan/{music,noise,speech}/<source>/<category>-<source>-NNNN.wav`` (16 kHz) with an
``ANNOTATIONS`` file per source (music: ``id genre vocals(Y/N) artist``; speech: ``id gender
language``; noise: ``id description``) and a top-level ``README``. Music is a few harmonic tones
on a beat, noise is coloured noise with bursts and hum, speech is the speech synthesiser in a
mild channel. ``RIRS_NOISES/simulated_rirs/{smallroom,mediumroom}/RoomNNN/RoomNNN-NNNNN.wav``
with a ``rir_list`` per room size (``--rir-id small-Room001-00001 --room-id small-Room001
RIRS_NOISES/simulated_rirs/smallroom/Room001/Room001-00001.wav``): exponentially decaying
noise responses, RT60 U(0.1, 0.4) s small rooms and U(0.3, 0.9) s medium rooms.
"""
from __future__ import annotations

import numpy as np

from utter.sim import factors, phones
from utter.sim.build_tools import BuildConfig, Job, item_rng, run_jobs, scaled, write_text, write_wav
from utter.sim.channel import make_rir, to_int16
from utter.sim.corpora import record, speak
from utter.sim.synth import FS

MUSIC_SOURCES = ("fma", "jamendo")
NOISE_SOURCES = ("free-sound", "sound-bible")
SPEECH_SOURCES = ("librivox", "us-gov")
GENRES = ("classical", "pop", "rock", "jazz", "electronic")


def render_music(seed: int, uid: str, path: str) -> tuple[str, str]:
    rng = item_rng(seed, "musan", uid)
    dur = float(rng.uniform(8, 15))
    t = np.arange(int(dur * FS)) / FS
    bpm = rng.uniform(70, 150)
    beat = 60.0 / bpm
    y = np.zeros_like(t)
    n_notes = int(dur / beat) + 1
    base = 110 * 2 ** (rng.integers(0, 12) / 12)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    for k in range(n_notes):
        f = base * 2 ** (scale[rng.integers(len(scale))] / 12) * 2 ** int(rng.integers(0, 3))
        s, e = int(k * beat * FS), int(min((k + 1) * beat, dur) * FS)
        tt = t[s:e] - t[s]
        env = np.exp(-tt * rng.uniform(1, 6))
        y[s:e] += env * sum(np.sin(2 * np.pi * f * h * tt) / h ** 1.5 for h in range(1, 5))
        y[s:min(e, s + 400)] += 0.5 * rng.standard_normal(min(e, s + 400) - s) * (k % 2 == 0)
    y = y / np.sqrt(np.mean(y ** 2)) * 32768 * 10 ** (-24 / 20)
    write_wav(path, to_int16(y), FS)
    return str(GENRES[int(rng.integers(len(GENRES)))]), "N"


def render_noise(seed: int, uid: str, path: str) -> None:
    rng = item_rng(seed, "musan", uid)
    n = int(rng.uniform(5, 12) * FS)
    spec = (rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1))
    f = np.maximum(np.fft.rfftfreq(n, 1 / FS), 30.0)
    spec *= (f / 1000) ** (rng.uniform(-2.0, 0.5) / 2)
    y = np.fft.irfft(spec, n)
    if rng.random() < 0.5:  # bursts
        env = np.repeat(rng.random(n // 1600 + 1) < 0.3, 1600)[:n] * rng.uniform(1, 4) + 1
        y *= env
    if rng.random() < 0.3:  # hum
        y += 3 * np.std(y) * np.sin(2 * np.pi * (50 if rng.random() < 0.5 else 60) * np.arange(n) / FS)
    y = y / np.sqrt(np.mean(y ** 2)) * 32768 * 10 ** (-26 / 20)
    write_wav(path, to_int16(y), FS)


def render_speech(seed: int, uid: str, path: str) -> tuple[str, str]:
    rng = item_rng(seed, "musan", uid)
    gender = "male" if rng.random() < 0.5 else "female"
    lang = list(phones.LANGUAGES)[int(rng.integers(len(phones.LANGUAGES)))]
    voice = factors.draw_speaker(rng, gender[0], lang)
    x, _ = speak(rng, voice, factors.Style(), float(rng.uniform(6, 12)))
    ch = factors.draw_channel(rng, reverb_p=0.0, snr=(25, 35))
    write_wav(path, record(x, ch, rng, 0), FS)
    return gender, {"en-us": "english", "en-gb": "english", "en-in": "english", "de": "german",
                    "es": "spanish", "fr": "french"}[lang]


def build_musan(cfg: BuildConfig, nj: int) -> None:
    root = cfg.outdir / "musan"
    n = scaled(4, cfg.scale, 2)
    jobs, rows = [], []
    for cat, sources, func in (("music", MUSIC_SOURCES, render_music), ("noise", NOISE_SOURCES, render_noise),
                               ("speech", SPEECH_SOURCES, render_speech)):
        for src in sources:
            for k in range(n):
                uid = f"{cat}-{src}-{k:04d}"
                jobs.append(Job(func, dict(seed=cfg.seed, uid=uid, path=str(root / cat / src / f"{uid}.wav"))))
                rows.append((cat, src, uid))
    results = run_jobs(jobs, nj, "musan")
    ann: dict[tuple[str, str], list[str]] = {}
    for (cat, src, uid), res in zip(rows, results):
        if cat == "music":
            line = f"{uid} {res[0]} {res[1]} Synthetic_Band_{uid[-2:]}"
        elif cat == "speech":
            line = f"{uid} {res[0]} {res[1]}"
        else:
            line = f"{uid} synthetic coloured noise"
        ann.setdefault((cat, src), []).append(line)
    for (cat, src), lines in ann.items():
        write_text(root / cat / src / "ANNOTATIONS", "\n".join(lines) + "\n")
    write_text(root / "README", "MUSAN-like corpus of music, speech and noise (synthetic miniature copy "
               "written by utter.sim; same layout as the real corpus).\n")


def render_rir(seed: int, rid: str, room: str, path: str) -> None:
    rng = item_rng(seed, "rirs", rid)
    rt60 = float(rng.uniform(0.1, 0.4) if room == "small" else rng.uniform(0.3, 0.9))
    h = make_rir(rng, rt60, float(rng.uniform(-3, 8)), FS)
    write_wav(path, to_int16(h / np.max(np.abs(h)) * 0.9 * 32767), FS)


def build_rirs(cfg: BuildConfig, nj: int) -> None:
    root = cfg.outdir / "RIRS_NOISES"
    n_rooms, per_room = scaled(5, cfg.scale, 2), 4
    jobs, lists = [], {}
    for room in ("small", "medium"):
        lines = []
        for r in range(1, n_rooms + 1):
            for k in range(1, per_room + 1):
                rel = f"RIRS_NOISES/simulated_rirs/{room}room/Room{r:03d}/Room{r:03d}-{k:05d}.wav"
                rid = f"{room}-Room{r:03d}-{k:05d}"
                jobs.append(Job(render_rir, dict(seed=cfg.seed, rid=rid, room=room, path=str(cfg.outdir / rel))))
                lines.append(f"--rir-id {rid} --room-id {room}-Room{r:03d} {rel}\n")
        lists[room] = lines
    run_jobs(jobs, nj, "rirs")
    for room, lines in lists.items():
        write_text(root / "simulated_rirs" / f"{room}room" / "rir_list", "".join(lines))
    write_text(root / "README", "Simulated room impulse responses (synthetic miniature copy written by "
               "utter.sim; same layout as the real RIRS_NOISES).\n")
