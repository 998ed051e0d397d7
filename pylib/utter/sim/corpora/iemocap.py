"""Mini IEMOCAP in the real layout (``IEMOCAP_full_release``).

Five sessions, each with a female and a male actor (10 speakers). Per session 2 improvised
dialogs (``Ses01F_impro01``, ``Ses01M_impro02``: the letter is the actor wearing markers) and
2 scripted ones (``Ses01F_script01_1``, ``Ses01M_script02_1``) at scale 1, of 24 turns each
alternating between the two actors; utterances ``<dialog>_F000``, ``<dialog>_M000`` ...
Files: ``SessionN/sentences/wav/<dialog>/<utt>.wav`` (16 kHz),
``SessionN/dialog/EmoEvaluation/<dialog>.txt`` (header ``% [START_TIME - END_TIME] TURN_NAME
EMOTION [V, A, D]``, then per utterance a summary line ``[START - END]<TAB>UTT<TAB>LABEL<TAB>[V, A,
D]``, categorical annotator lines ``C-E2:<TAB>Neutral state;<TAB>()`` and attribute lines
``A-E3:<TAB>val 3; act 2; dom  2;<TAB>()``, blocks separated by blank lines), decoy
``EmoEvaluation/{Categorical,Attribute,Self-evaluation}/`` files and an AppleDouble
``._<dialog>.txt`` that a parser must skip, and ``SessionN/dialog/transcriptions/<dialog>.txt``.

Labels: each utterance's true category is drawn from the dialog's theme (half the time) or
the corpus-wide distribution :data:`EMOTION_P` (like the real one); its audio carries the
category's shifts (see :mod:`utter.sim.factors`). About 20% of summary labels are ``xxx``
(annotators did not agree); the audio still carries the true category.
"""
from __future__ import annotations

import numpy as np

from utter.sim import factors, phones
from utter.sim.build_tools import BuildConfig, Job, item_rng, run_jobs, scaled, write_text, write_wav
from utter.sim.corpora import record, speak
from utter.sim.synth import FS

EMOTION_P = {"neu": 0.21, "fru": 0.17, "exc": 0.11, "hap": 0.08, "ang": 0.14, "sad": 0.14, "sur": 0.06,
             "fea": 0.04, "dis": 0.02, "oth": 0.03}
THEMES = (("fru", "ang"), ("sad",), ("hap", "exc"), ("neu",), ("ang",), ("exc",))
NAMES = {"neu": "Neutral state", "hap": "Happiness", "exc": "Excited", "ang": "Anger", "sad": "Sadness",
         "fru": "Frustration", "sur": "Surprise", "fea": "Fear", "dis": "Disgust", "oth": "Other"}
#: category: mean (valence, activation, dominance) on the 1-5 scales
VAD = {"neu": (3.0, 2.5, 2.8), "hap": (4.0, 3.0, 3.0), "exc": (4.0, 3.8, 3.4), "ang": (1.8, 3.8, 3.9),
       "sad": (2.0, 2.2, 2.3), "fru": (2.0, 3.2, 3.2), "sur": (3.3, 3.6, 2.9), "fea": (2.0, 3.4, 2.2),
       "dis": (1.8, 3.0, 3.3), "oth": (3.0, 2.8, 2.8)}
XXX_P = 0.2
HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"


def render_utt(seed: int, sid: str, utt: str, voice: factors.Speaker, expressivity: float, emotion: str,
               path: str) -> tuple[float, list[str]]:
    """One utterance of an actor in an emotion; returns (duration s, its pseudo-words)."""
    ch_rng = item_rng(seed, "iemocap", sid, "channel")
    ch = factors.draw_channel(ch_rng, reverb_p=0.3, snr=(15, 35), eq_db=2.0, gain_db=2.0)
    rir_seed = int(ch_rng.integers(2 ** 31))
    rng = item_rng(seed, "iemocap", utt)
    style = factors.emotion_style(rng, emotion, expressivity)
    dur = float(np.clip(np.exp(rng.normal(np.log(2.8), 0.5)), 1.0, 11.0))
    x, plan = speak(rng, voice, style, dur)
    y = record(x, ch, rng, rir_seed, level_db=style.energy_db + float(rng.normal(0, 1)))
    write_wav(path, y, FS)
    n_words = max(1, sum(1 for p in plan.phone if p >= 0 and phones.IS_VOWEL[p]) // 2)
    words = ["".join(rng.choice(list("aeioulmnrstkdp"), size=int(rng.integers(2, 7)))) for _ in range(n_words)]
    return len(y) / FS, words


def _annotator_lines(rng: np.random.Generator, emotion: str, summary: str, actor: str) -> tuple[list[str], tuple]:
    cats = list(NAMES)
    lines = []
    evaluators = sorted(rng.choice([1, 2, 3, 4], size=3, replace=False))
    if summary == "xxx":
        picks = [cats[i] for i in rng.choice(len(cats), size=3, replace=False)]
    else:
        picks = [summary, summary, summary if rng.random() < 0.6 else cats[int(rng.integers(len(cats)))]]
        rng.shuffle(picks)
    for e, c in zip(evaluators, picks):
        extra = f" {NAMES[cats[int(rng.integers(len(cats)))]]};" if rng.random() < 0.15 else ""
        lines.append(f"C-E{e}:\t{NAMES[c]};{extra}\t()")
    lines.append(f"C-{actor}1:\t{NAMES[emotion]};\t()")
    vals = []
    for e in evaluators[:2]:
        v = np.clip(np.rint(np.array(VAD[emotion]) + rng.normal(0, 0.7, 3)), 1, 5).astype(int)
        vals.append(v)
        note = "(mildly aggravated but staying polite, attitude)" if rng.random() < 0.05 else "()"
        lines.append(f"A-E{e}:\tval {v[0]}; act {v[1]}; dom  {v[2]};\t{note}")
    v = np.clip(np.rint(np.array(VAD[emotion]) + rng.normal(0, 0.7, 3)), 1, 5).astype(int)
    lines.append(f"A-{actor}1:\tval {v[0]}; act {v[1]}; dom  {v[2]};\t()")
    return lines, tuple(np.mean(vals, axis=0))


def build(cfg: BuildConfig, nj: int) -> None:
    root = cfg.outdir / "IEMOCAP_full_release"
    n_impro, n_script = scaled(2, cfg.scale, 1), scaled(2, cfg.scale, 1)
    turns = scaled(24, cfg.scale, 8)
    jobs, rows = [], []
    actors = {}
    for s in range(1, 6):
        for g in "FM":
            sid = f"Ses{s:02d}{g}"
            rng = item_rng(cfg.seed, "iemocap", sid)
            voice = factors.draw_speaker(rng, g.lower(), "en-us")
            actors[sid] = (voice, float(np.exp(rng.normal(0, 0.3))))
        dialogs = [f"Ses{s:02d}{'FM'[k % 2]}_impro{k + 1:02d}" for k in range(n_impro)]
        dialogs += [f"Ses{s:02d}{'FM'[k % 2]}_script{k + 1:02d}_1" for k in range(n_script)]
        for dialog in dialogs:
            rng = item_rng(cfg.seed, "iemocap", dialog)
            theme = THEMES[int(rng.integers(len(THEMES)))]
            counts = {"F": 0, "M": 0}
            first = "FM"[int(rng.integers(2))]
            for t in range(turns):
                g = first if t % 2 == 0 else ("M" if first == "F" else "F")
                utt = f"{dialog}_{g}{counts[g]:03d}"
                counts[g] += 1
                if rng.random() < 0.5:
                    emo = theme[int(rng.integers(len(theme)))]
                else:
                    emo = list(EMOTION_P)[int(rng.choice(len(EMOTION_P), p=np.array(list(EMOTION_P.values()))))]
                sid = f"Ses{s:02d}{g}"
                voice, expr = actors[sid]
                path = root / f"Session{s}" / "sentences" / "wav" / dialog / f"{utt}.wav"
                jobs.append(Job(render_utt, dict(seed=cfg.seed, sid=sid, utt=utt, voice=voice, expressivity=expr,
                                                 emotion=emo, path=str(path))))
                rows.append((s, dialog, utt, g, emo))
    results = run_jobs(jobs, nj, "iemocap")
    by_dialog: dict[tuple[int, str], list] = {}
    for row, res in zip(rows, results):
        by_dialog.setdefault(row[:2], []).append((row, res))
    for (s, dialog), items in by_dialog.items():
        rng = item_rng(cfg.seed, "iemocap", dialog, "labels")
        clock = float(rng.uniform(2, 8))
        blocks, cat_lines, atr_lines, trans = [], [], [], []
        for (_, _, utt, g, emo), (dur, words) in items:
            start, end = clock, clock + dur
            clock = end + float(rng.uniform(-0.3, 2.0))
            summary = "xxx" if rng.random() < XXX_P else emo
            lines, vad = _annotator_lines(rng, emo, summary, g)
            blocks.append(f"[{start:.4f} - {end:.4f}]\t{utt}\t{summary}\t[{vad[0]:.4f}, {vad[1]:.4f}, {vad[2]:.4f}]\n"
                          + "\n".join(lines) + "\n")
            cat_lines.append(f"{utt} :{lines[0].split(chr(9))[1]} ()")
            atr_lines.append(f"{utt} :act {int(round(vad[1]))}; val {int(round(vad[0]))}; dom {int(round(vad[2]))}; ()")
            trans.append(f"{utt} [{start:08.4f}-{end:08.4f}]: {' '.join(words).capitalize()}.")
        emo_dir = root / f"Session{s}" / "dialog" / "EmoEvaluation"
        write_text(emo_dir / f"{dialog}.txt", HEADER + "\n".join(blocks) + "\n", encoding="latin-1")
        write_text(emo_dir / "Categorical" / f"{dialog}_e2_cat.txt", "\n".join(cat_lines) + "\n")
        write_text(emo_dir / "Attribute" / f"{dialog}_e3_atr.txt", "\n".join(atr_lines) + "\n")
        write_text(emo_dir / "Self-evaluation" / f"{dialog}.anvil",
                   f'<?xml version="1.0" encoding="ISO-8859-1"?>\n<annotation>\n<head><video src="{dialog}.avi"/>'
                   f"</head>\n</annotation>\n")
        write_text(root / f"Session{s}" / "dialog" / "transcriptions" / f"{dialog}.txt", "\n".join(trans) + "\n")
    for s in range(1, 6):  # macOS resource-fork debris, as in copies of the real release
        first = sorted(d for (ss, d) in by_dialog if ss == s)[0]
        with open(root / f"Session{s}" / "dialog" / "EmoEvaluation" / f"._{first}.txt", "wb") as f:
            f.write(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        \x00\x02\x00\x00\x00\t\x00\x00\x002")
