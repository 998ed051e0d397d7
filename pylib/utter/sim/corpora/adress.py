"""Mini ADReSS (Interspeech 2020) in the real layout (``ADReSS-IS2020-data``).

``train/Full_wave_enhanced_audio/{cc,cd}/SNNN.wav`` and ``test/Full_wave_enhanced_audio/SNNN.wav``
(44.1 kHz: rendered at 16 kHz and resampled), ``train/Transcription/{cc,cd}/SNNN.cha`` and
``test/Transcription/SNNN.cha`` (CHAT: ``@Begin``, ``@Languages``, ``@Participants``, ``@ID`` lines
``eng|Pitt|PAR|57;|male|Control||Participant|30||`` (group ``ProbableAD`` for AD; empty group and
MMSE in the test part), ``*INV:``/``*PAR:`` tiers ending in timing bullets ``\\x15start_end\\x15`` (ms),
fillers ``&-uh``/``&-um``, pauses ``(.)`` ``(..)`` ``(...)``, retracing ``[//]`` and repetition
``[/]``, ``@End``), ``train/{cc,cd}_meta_data.txt`` (``ID   ; age; gender ;mmse`` then rows
``S079 ; 59; male ; 11``, one AD speaker's MMSE ``NA``), ``test/meta_data.txt`` (``ID   ; age;
gender`` with gender 0 = male, 1 = female) and the test labels ``test/meta_data_test.txt``
(``ID   ; age; gender; Label; mmse``, Label 0 = cc, 1 = cd).

20 + 20 training and 8 + 8 test speakers at scale 1, half of each group female, ages U(52, 80).
Each recording is a Cookie Theft description of 18-32 s: an investigator prompt, then the
participant's phrases in the style of their severity (see :mod:`utter.sim.factors`), with
occasional investigator back-channels, all in one channel (SNR 30-40 dB).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.signal import resample_poly

from utter.sim import factors, phones
from utter.sim.build_tools import BuildConfig, Job, item_rng, run_jobs, scaled, write_text, write_wav
from utter.sim.channel import apply_channel, to_int16
from utter.sim.plan import PlanBuilder
from utter.sim.synth import FS, synthesize

OUT_FS = 44100
PHRASES = (
    "the boy is taking cookies out of the jar", "the stool is tipping over", "the mother is washing dishes",
    "the water is running over the sink", "the girl is reaching for a cookie", "she is drying a plate",
    "there is a window with curtains", "the boy is going to fall", "the sink is overflowing",
    "the little girl has her finger to her mouth", "the cookie jar is on the shelf", "she does not see it",
    "there are cups and a plate on the counter", "the water is on the floor", "the boy is on the stool",
    "outside there is a garden", "the mother is standing in the water", "he is handing her a cookie",
)
PROMPT = "just tell me what you see happening in that picture"
BACKCHANNELS = ("mhm", "anything else", "okay", "what else do you see")
GROUP_NAMES = {"cc": "Control", "cd": "ProbableAD"}


def _pause_code(seconds: float) -> str:
    return "(.)" if seconds < 0.5 else "(..)" if seconds < 1.0 else "(...)"


def _say(rng: np.random.Generator, voice: factors.Speaker, style: factors.Style, words: list[str],
         hesitant: bool) -> tuple[np.ndarray, str]:
    """One phrase: (16 kHz samples of unit active RMS, CHAT tokens)."""
    b = PlanBuilder(rng, voice, style)
    b.pause(0.05)
    tokens: list[str] = []
    if hesitant and rng.random() < style.filler_p:
        tokens.append(b.filler())
        if b.between_words():
            tokens.append(_pause_code(b.plan.dur[-1]))
    retrace_at = int(rng.integers(len(words))) if hesitant and rng.random() < style.retrace_p else -1
    for k, w in enumerate(words):
        if k == retrace_at:
            b.word(phones.spell_to_phones(w), text=w)
            tokens += [w, "[//]" if rng.random() < 0.5 else "[/]"]
            b.pause(0.15)
        b.word(phones.spell_to_phones(w), text=w, final=k == len(words) - 1)
        tokens.append(w)
        if k < len(words) - 1 and hesitant:
            if rng.random() < style.filler_p * 0.3:
                tokens.append(b.filler())
            if b.between_words():
                tokens.append(_pause_code(b.plan.dur[-1]))
    b.pause(0.05)
    return synthesize(b.plan, voice, style, rng), " ".join(tokens)


def render_recording(seed: int, sid: str, gender: str, age: int, severity: float, inv: factors.Speaker,
                     path: str) -> list[tuple[str, str, int, int]]:
    """One Cookie Theft recording at 44.1 kHz; returns its tiers (code, text, start ms, end ms)."""
    rng = item_rng(seed, "adress", sid)
    voice = factors.draw_speaker(rng, gender, "en-us", age)
    voice = replace(voice, jitter=voice.jitter + 0.0003 * (age - 50), shimmer=voice.shimmer + 0.001 * (age - 50))
    voice = factors.with_style(voice, factors.decline_style(severity))
    style = factors.decline_style(severity)
    target = float(rng.uniform(18, 32))
    pieces: list[tuple[np.ndarray, float]] = []
    tiers = []
    t = float(rng.uniform(0.3, 1.0))

    def place(x: np.ndarray, code: str, text: str, end_mark: str, gain: float = 1.0) -> None:
        nonlocal t
        pieces.append((x * gain, t))
        tiers.append((code, f"{text} {end_mark}", int(round(t * 1000)), int(round((t + len(x) / FS) * 1000))))
        t += len(x) / FS

    x, text = _say(rng, inv, factors.Style(), PROMPT.split(), False)
    place(x, "INV", text, ".", 0.7)
    t += float(rng.uniform(0.3, 1.0))
    while t < target:
        n_words = max(2, int(rng.poisson(style.phrase_words)))
        words = PHRASES[int(rng.integers(len(PHRASES)))].split()
        start = int(rng.integers(0, max(1, len(words) - n_words + 1)))
        x, text = _say(rng, voice, style, words[start:start + n_words], True)
        place(x, "PAR", text, ".", 10 ** (style.energy_db / 20))
        t += float(np.exp(rng.normal(np.log(0.5), 0.4))) * (1 + 6 * severity)
        if rng.random() < 0.15:
            bc = BACKCHANNELS[int(rng.integers(len(BACKCHANNELS)))]
            x, text = _say(rng, inv, factors.Style(), bc.split(), False)
            place(x, "INV", text, "?" if len(bc.split()) > 1 else ".", 0.7)
            t += float(rng.uniform(0.3, 0.8))
    n = int((t + 0.5) * FS)
    buf = np.zeros(n)
    for x, start in pieces:
        s = int(round(start * FS))
        buf[s:s + len(x)] += x[: n - s]
    active = sum(len(x) for x, _ in pieces) / n
    buf /= np.sqrt(max(np.mean(buf ** 2) / max(active, 1e-3), 1e-12))
    ch_rng = item_rng(seed, "adress", sid, "channel")
    ch = factors.draw_channel(ch_rng, reverb_p=0.1, snr=(30, 40), eq_db=2.0, gain_db=2.0)
    y = apply_channel(buf, ch, rng, FS, int(ch_rng.integers(2 ** 31)))
    write_wav(path, to_int16(resample_poly(y, OUT_FS // 100, FS // 100)), OUT_FS)
    return tiers


def _chat(sid: str, age: int, gender: str, group: str | None, mmse: int | None, tiers) -> str:
    sex = "male" if gender == "m" else "female"
    grp = GROUP_NAMES[group] if group else ""
    mm = "" if mmse is None or group is None else str(mmse)
    lines = ["@UTF8", f"@PID:\t11312/t-{int(sid[1:]):08d}-1", "@Begin", "@Languages:\teng",
             "@Participants:\tPAR Participant, INV Investigator",
             f"@ID:\teng|Pitt|PAR|{age};|{sex}|{grp}||Participant|{mm}||",
             "@ID:\teng|Pitt|INV|||||Investigator|||", f"@Media:\t{sid}, audio"]
    for code, text, start, end in tiers:
        lines.append(f"*{code}:\t{text} \x15{start}_{end}\x15")
    lines.append("@End")
    return "\n".join(lines) + "\n"


def build(cfg: BuildConfig, nj: int) -> None:
    root = cfg.outdir / "ADReSS-IS2020-data"
    n_train, n_test = scaled(20, cfg.scale, 4), scaled(8, cfg.scale, 2)
    rng = item_rng(cfg.seed, "adress", "speakers")
    train_nums = sorted(rng.choice(np.arange(1, max(157, 3 * n_train)), 2 * n_train, replace=False))
    test_nums = sorted(rng.choice(np.arange(160, 160 + max(60, 3 * n_test)), 2 * n_test, replace=False))
    invs = [factors.draw_speaker(item_rng(cfg.seed, "adress", "INV", k), "f" if k % 2 else "m", "en-us", 45)
            for k in range(3)]
    speakers = []  # (part, sid, group, gender, age, severity, mmse)
    for part, nums in (("train", train_nums), ("test", test_nums)):
        groups = ["cc", "cd"] * (len(nums) // 2)
        order = rng.permutation(len(nums))
        for j, i in enumerate(order):
            group = groups[j]
            gender = "f" if (j // 2) % 2 else "m"
            sid = f"S{nums[i]:03d}"
            r = item_rng(cfg.seed, "adress", sid, "meta")
            sev = factors.ad_severity(r, group)
            speakers.append((part, sid, group, gender, int(r.integers(52, 81)), sev,
                             factors.mmse_from_severity(r, sev)))
    speakers.sort(key=lambda s: (s[0], s[1]))
    jobs = []
    for part, sid, group, gender, age, sev, _ in speakers:
        sub = f"{group}/" if part == "train" else ""
        jobs.append(Job(render_recording, dict(
            seed=cfg.seed, sid=sid, gender=gender, age=age, severity=sev, inv=invs[int(sid[1:]) % 3],
            path=str(root / part / "Full_wave_enhanced_audio" / f"{sub}{sid}.wav"))))
    results = run_jobs(jobs, nj, "adress")
    na_sid = next(s[1] for s in speakers if s[0] == "train" and s[2] == "cd")
    meta = {"cc": [], "cd": []}
    test_meta, test_labels = [], []
    for (part, sid, group, gender, age, _, mmse), tiers in zip(speakers, results):
        sex = "male" if gender == "m" else "female"
        if part == "train":
            write_text(root / "train" / "Transcription" / group / f"{sid}.cha",
                       _chat(sid, age, gender, group, None if sid == na_sid else mmse, tiers))
            meta[group].append(f"{sid} ; {age}; {sex} ; {'NA' if sid == na_sid else mmse}\n")
        else:
            write_text(root / "test" / "Transcription" / f"{sid}.cha", _chat(sid, age, gender, None, None, tiers))
            code = 0 if gender == "m" else 1
            test_meta.append(f"{sid} ; {age}; {code}\n")
            test_labels.append(f"{sid} ; {age}; {code}; {int(group == 'cd')}; {mmse}\n")
    for group, rows in meta.items():
        write_text(root / "train" / f"{group}_meta_data.txt", "ID   ; age; gender ;mmse\n" + "".join(rows))
    write_text(root / "test" / "meta_data.txt", "ID   ; age; gender\n" + "".join(test_meta))
    write_text(root / "test" / "meta_data_test.txt", "ID   ; age; gender; Label; mmse\n" + "".join(test_labels))
