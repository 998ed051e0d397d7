"""A small "bring your own corpus" speech collection: a folder of audio in a layout of its own.

Not a copy of any published corpus: what a lab's recordings look like, to test and time the
plain-corpus path (``local/plain/``, ``egs/custom``). Layouts:

``nested``      ``<root>/<speaker>/<session>/<NNN>.<ext>``: the speaker is a path component
``flat``        ``<root>/<speaker>_<session>_<NNN>.<ext>``: the speaker is a file-name prefix
``unlabelled``  ``<root>/rec<NNNN>.<ext>``: no speaker information at all

``num_utts`` utterances are shared out over ``num_speakers`` speakers; each has ``sessions``
sessions (each its own channel, as the VoxCeleb videos) of utterances whose durations are drawn
uniformly from ``durations`` seconds. ``trials`` writes a VoxCeleb-format trial list
(``1 a.flac b.flac``, paths relative to the root), half targets, over the utterances of the
``trial_speakers`` last speakers. Deterministic from ``seed``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from utter.sim import factors, phones
from utter.sim.build_tools import Job, item_rng, run_jobs, write_text
from utter.sim.corpora import record, speak, utterance_style
from utter.sim.corpora.voxceleb import _pairs, _trial_text
from utter.sim.synth import FS

LAYOUTS = ("nested", "flat", "unlabelled")
FORMATS = {"flac": "FLAC", "wav": "WAV", "ogg": "OGG"}


def _render(seed: int, spk: str, session: str, num: int, voice: factors.Speaker, dur: float, path: str,
            fmt: str, rate: int) -> float:
    ch_rng = item_rng(seed, "plain", spk, session, "channel")
    ch = factors.draw_channel(ch_rng)
    rir_seed = int(ch_rng.integers(2 ** 31))
    rng = item_rng(seed, "plain", spk, session, num)
    x, _ = speak(rng, voice, utterance_style(rng), dur)
    y = record(x, ch, rng, rir_seed, level_db=float(rng.normal(0, 1)))
    if rate != FS:
        g = np.gcd(rate, FS)
        y = np.clip(resample_poly(y.astype(np.float64), rate // g, FS // g), -32768, 32767).astype(np.int16)
    subtype = "PCM_16" if fmt in ("flac", "wav") else None
    sf.write(path, y, rate, format=FORMATS[fmt], subtype=subtype)
    return len(y) / rate


def build_plain(outdir, *, layout: str = "nested", num_speakers: int = 11, num_utts: int = 232,
                sessions: int = 3, durations: tuple[float, float] = (4.0, 8.0), fmt: str = "flac",
                sample_rate: int = FS, trials: int = 0, trial_speakers: int = 0, prefix: str = "speaker",
                seed: int = 777, nj: int = 1) -> list[dict]:
    """Write the corpus under ``outdir``; returns one dict per file (``path`` relative to the
    root, ``speaker``, ``session``, ``duration``) in file order. ``trials`` > 0 also writes
    ``<outdir>/trials.txt`` (over the last ``trial_speakers`` speakers, 0: all). Speakers are
    ``<prefix>01``, ``<prefix>02`` ...; voices differ with ``seed`` and ``prefix``."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got '{layout}'")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    root = Path(outdir)
    root.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    jobs: list[Job] = []
    count = 0
    for s in range(num_speakers):
        spk = f"{prefix}{s + 1:02d}"
        rng = item_rng(seed, "plain", spk)  # the voice: from seed and name
        gender = "m" if rng.random() < 0.5 else "f"
        nats = list(phones.NATIONALITY_WEIGHTS)
        w = np.array(list(phones.NATIONALITY_WEIGHTS.values()))
        nat = nats[int(rng.choice(len(nats), p=w / w.sum()))]
        voice = factors.draw_speaker(rng, gender, phones.NATIONALITY_LANGUAGE[nat])
        for k in range(num_utts // num_speakers + (s < num_utts % num_speakers)):
            session = f"session{k % sessions + 1}"
            dur = float(rng.uniform(*durations))
            count += 1
            if layout == "nested":
                rel = f"{spk}/{session}/{k + 1:03d}.{fmt}"
            elif layout == "flat":
                rel = f"{spk}_{session}_{k + 1:03d}.{fmt}"
            else:
                rel = f"rec{count:04d}.{fmt}"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            jobs.append(Job(_render, dict(seed=seed, spk=spk, session=session, num=k, voice=voice, dur=dur,
                                          path=str(root / rel), fmt=fmt, rate=sample_rate)))
            rows.append({"path": rel, "speaker": spk, "session": session})
    for row, d in zip(rows, run_jobs(jobs, nj, f"plain corpus ({layout})")):
        row["duration"] = d
    if trials > 0:
        keep = {f"{prefix}{s + 1:02d}" for s in range(num_speakers - (trial_speakers or num_speakers), num_speakers)}
        spk_of = {r["path"]: r["speaker"] for r in rows}
        utts = [r["path"] for r in rows if r["speaker"] in keep]
        pairs = _pairs(item_rng(seed, "plain", "trials"), utts, spk_of.__getitem__, trials)
        write_text(root / "trials.txt", _trial_text(pairs))
    return rows
