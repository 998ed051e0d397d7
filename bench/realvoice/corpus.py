"""Plan, trial lists and counts of the real-voice dev corpus (bench/realvoice/make_corpus.sh).

Real voices: the Debian festival voices (diphone, cluster-unit and HTS voices built from recordings
of real speakers) and flite's CMU ARCTIC voices. Several voices of one speaker (kal in festival and
flite, slt in HTS and flite, nsk in Hindi, Marathi and Telugu) share a speaker label: their pairs
are target trials across synthesis engines or languages. Standard library only (runs on the system
python3 before the toolkit's venv exists).

  corpus.py plan OUT      texts per voice (OUT/plan/<voice>.tsv), festival scripts, flite job list
  corpus.py trials OUT    OUT/{dev,eval}/trials.txt ("enroll test target|nontarget", paths below the half)
  corpus.py stats OUT     counts: voices, speakers, utterances, files, durations, trials
"""
from __future__ import annotations

import argparse
import collections
import math
import random
import re
import sys
import wave
from pathlib import Path

# voice, engine, speaker, script of its text, half. The halves split the speakers (never a speaker in
# both), balanced by language and sex as far as 16 speakers allow: dev 8 speakers (11 voices, 2 female),
# eval 8 speakers (9 voices, 3 female).
VOICES = [
    ("kal_diphone", "festival", "kal", "latin", "dev"),          # US English, male
    ("kal16", "flite", "kal", "latin", "dev"),
    ("rms", "flite", "rms", "latin", "dev"),                     # US English, male (CMU ARCTIC)
    ("awb", "flite", "awb", "latin", "dev"),                     # Scottish English, male (CMU ARCTIC)
    ("czech_dita", "festival", "dita", "latin", "dev"),          # Czech, female
    ("czech_machac", "festival", "machac", "latin", "dev"),      # Czech, male
    ("suo_fi_lj_diphone", "festival", "lj", "latin", "dev"),     # Finnish, female
    ("hindi_NSK_diphone", "festival", "nsk", "deva", "dev"),     # Hindi, male
    ("marathi_NSK_diphone", "festival", "nsk", "deva", "dev"),   # Marathi, the same speaker
    ("telugu_NSK_diphone", "festival", "nsk", "telu", "dev"),    # Telugu, the same speaker
    ("pc_diphone", "festival", "pc", "latin", "dev"),            # Italian, male
    ("ked_diphone", "festival", "ked", "latin", "eval"),         # US English, male
    ("cmu_us_slt_arctic_hts", "festival", "slt", "latin", "eval"),  # US English, female (HTS)
    ("slt", "flite", "slt", "latin", "eval"),
    ("upc_ca_ona_hts", "festival", "ona", "latin", "eval"),      # Catalan, female (HTS)
    ("czech_krb", "festival", "krb", "latin", "eval"),           # Czech, boy
    ("czech_ph", "festival", "ph", "latin", "eval"),             # Czech, male
    ("hy_fi_mv_diphone", "festival", "mv", "latin", "eval"),     # Finnish, male
    ("lp_diphone", "festival", "lp", "latin", "eval"),           # Italian, female
    ("msu_ru_nsh_clunits", "festival", "nsh", "cyrl", "eval"),   # Russian, male
]
# codec name -> the rate its decoded 16-bit WAV has (make_corpus.sh writes them)
CODECS = {"wb16": 16000, "pcm8": 8000, "gsm": 8000, "alaw": 8000, "ulaw": 8000, "g722": 16000}
LICENSES = Path("/usr/share/common-licenses")

ONES = "zero one two three four five six seven eight nine".split()
TEMPLATES = [
    "please call me back on {d}", "my number is {d}", "the code is {d} and the room is {n}",
    "the meeting is on {day} at {n} o'clock", "i will be there on {day}", "yes", "no thank you",
    "hello, this is {name} speaking", "can you hear me", "hold on a second please",
    "{name} said the delivery comes on {day}", "sorry, could you repeat that", "okay, see you on {day}",
    "the account ends in {d}", "press {n} for more options", "good morning {name}", "all right then",
]
DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
NAMES = "anna peter maria john eva paul laura martin sofia thomas clara david".split()


def license_words() -> list[str]:
    words: list[str] = []
    for f in sorted(LICENSES.iterdir()):
        if f.is_file():
            words += re.findall(r"[a-z]+", f.read_text(errors="replace").lower())
    return words


def make_texts(n: int, seed: int) -> list[str]:
    """n texts: two thirds chunks of the Debian license texts, one third telephone-style templates.

    Chunk lengths are log-uniform in 2..30 words, so about half the utterances are shorter than 3 s.
    """
    rng = random.Random(seed)
    words = license_words()
    texts = []
    for i in range(n):
        if i % 3 == 2:
            digits = " ".join(rng.choice(ONES) for _ in range(rng.randint(3, 8)))
            t = rng.choice(TEMPLATES).format(d=digits, n=rng.choice(ONES[1:]), day=rng.choice(DAYS),
                                             name=rng.choice(NAMES))
        else:
            k = int(round(math.exp(rng.uniform(math.log(2), math.log(30)))))
            s = rng.randrange(len(words) - k)
            t = " ".join(words[s:s + k])
        texts.append(t.replace("'", "") + ".")
    return texts


# Latin -> Cyrillic and Brahmic (Devanagari; Telugu is the same table 0x300 higher) letter maps, for
# the Russian and Indic voices, which read their own script only (the Indic ones crash on Latin text).
CYRL = {"sh": "ш", "ch": "ч", "zh": "ж", "ya": "я", "yu": "ю", "a": "а", "b": "б", "c": "к", "d": "д",
        "e": "е", "f": "ф", "g": "г", "h": "х", "i": "и", "j": "дж", "k": "к", "l": "л", "m": "м", "n": "н",
        "o": "о", "p": "п", "q": "к", "r": "р", "s": "с", "t": "т", "u": "у", "v": "в", "w": "в", "x": "кс",
        "y": "ы", "z": "з"}
DEVA_CONS = {"sh": 0x936, "ch": 0x91A, "th": 0x925, "ph": 0x92B, "bh": 0x92D, "kh": 0x916, "gh": 0x918,
             "b": 0x92C, "c": 0x915, "d": 0x926, "f": 0x92B, "g": 0x917, "h": 0x939, "j": 0x91C, "k": 0x915,
             "l": 0x932, "m": 0x92E, "n": 0x928, "p": 0x92A, "q": 0x915, "r": 0x930, "s": 0x938, "t": 0x924,
             "v": 0x935, "w": 0x935, "x": 0x915, "y": 0x92F, "z": 0x91C}
DEVA_VOW = {"aa": (0x906, 0x93E), "ee": (0x908, 0x940), "oo": (0x90A, 0x942), "ai": (0x910, 0x948),
            "au": (0x914, 0x94C), "a": (0x905, None), "e": (0x90F, 0x947), "i": (0x907, 0x93F),
            "o": (0x913, 0x94B), "u": (0x909, 0x941)}


def _tokens(word: str, table) -> list[str]:
    out, i = [], 0
    while i < len(word):
        two = word[i:i + 2]
        if two in table:
            out.append(two)
            i += 2
        elif word[i] in table:
            out.append(word[i])
            i += 1
        else:
            i += 1
    return out


def to_cyrillic(text: str) -> str:
    return " ".join("".join(CYRL[t] for t in _tokens(w, CYRL)) for w in re.findall(r"[a-z]+", text)) + "."


def to_brahmic(text: str, offset: int) -> str:
    """Letters to syllables: a consonant takes the following vowel's sign (none: its inherent a)."""
    table = {**DEVA_CONS, **DEVA_VOW}
    words = []
    for w in re.findall(r"[a-z]+", text):
        s, prev_cons = "", False
        for t in _tokens(w, table):
            if t in DEVA_VOW:
                indep, sign = DEVA_VOW[t]
                if prev_cons:
                    s += chr(sign + offset) if sign else ""
                else:
                    s += chr(indep + offset)
                prev_cons = False
            else:
                s += chr(DEVA_CONS[t] + offset)
                prev_cons = True
        words.append(s)
    return " ".join(words) + "."


def script_text(text: str, script: str) -> str:
    if script == "cyrl":
        return to_cyrillic(text)
    if script == "deva":
        return to_brahmic(text, 0)
    if script == "telu":
        return to_brahmic(text, 0x300)
    return text


def plan(out: Path, num_texts: int, pool: int, seed: int) -> None:
    """Each voice reads num_texts texts of the pool (its own seeded draw) at a seeded speaking rate."""
    texts = make_texts(pool, seed)
    pdir = out / "plan"
    pdir.mkdir(parents=True, exist_ok=True)
    (pdir / "texts.txt").write_text("".join(f"t{i:04d} {t}\n" for i, t in enumerate(texts)))
    flite_jobs = []
    for voice, engine, spk, script, half in VOICES:
        rng = random.Random(f"{seed}-{voice}")
        raw = out / "raw" / voice
        raw.mkdir(parents=True, exist_ok=True)
        rows, scm = [], [f"(voice_{voice})"]
        for i in sorted(rng.sample(range(pool), num_texts)):
            stretch = round(rng.uniform(0.85, 1.2), 3)   # speaking rate: within-speaker variation
            utt = f"{voice}-t{i:04d}"
            text = script_text(texts[i], script)
            rows.append(f"{utt}\t{spk}\t{half}\t{stretch}\t{text}\n")
            wav = raw / f"{utt}.wav"
            if engine == "festival":
                # unwind-protect: a text the voice's letter-to-sound rules reject loses that utterance only
                scm.append(f"(unwind-protect (begin (Parameter.set 'Duration_Stretch {stretch}) "
                           f'(set! u (Utterance Text "{text}")) (utt.synth u) '
                           f"(utt.save.wave u \"{wav}\" 'riff)) nil)")
            else:
                tf = raw / f"{utt}.txt"
                tf.write_text(text + "\n")
                flite_jobs.append(f"flite -voice {voice} --setf duration_stretch={stretch} -f {tf} -o {wav}\n")
        (pdir / f"{voice}.tsv").write_text("".join(rows))
        if engine == "festival":
            (pdir / f"{voice}.scm").write_text("\n".join(scm) + "\n")
    (pdir / "flite_jobs.txt").write_text("".join(flite_jobs))
    (pdir / "voices.txt").write_text("".join(f"{v} {e} {s} {h}\n" for v, e, s, _, h in VOICES))


def half_files(out: Path, half: str) -> list[tuple[str, str, str, str, str]]:
    """(path below the half, speaker, codec, voice, text id) of every file of a half."""
    files = []
    for f in sorted((out / half).glob("*/*/*.wav")):
        spk, codec = f.parts[-3], f.parts[-2]
        voice, tid = f.stem.rsplit("-", 1)
        files.append((f"{spk}/{codec}/{f.name}", spk, codec, voice, tid))
    return files


def trials(out: Path, num_target: int, num_nontarget: int, seed: int) -> None:
    """Targets and nontargets alike pair two different codecs and two different texts (so neither the
    codec nor the words tell a target); unique unordered pairs, drawn with a fixed seed."""
    for half in ("dev", "eval"):
        rng = random.Random(f"{seed}-{half}")
        files = half_files(out, half)
        by_spk = collections.defaultdict(list)
        for f in files:
            by_spk[f[1]].append(f)
        seen: set[tuple[str, str]] = set()
        lines = []
        for want, target in ((num_target, True), (num_nontarget, False)):
            n = tries = 0
            while n < want:
                tries += 1
                if tries > 100 * want:
                    sys.exit(f"corpus.py: could not draw {want} {'target' if target else 'nontarget'} trials")
                a = rng.choice(files)
                b = rng.choice(by_spk[a[1]]) if target else rng.choice(files)
                if (a[1] == b[1]) != target or a[2] == b[2] or a[4] == b[4]:
                    continue
                key = (min(a[0], b[0]), max(a[0], b[0]))
                if key in seen:
                    continue
                seen.add(key)
                lines.append(f"{a[0]} {b[0]} {'target' if target else 'nontarget'}\n")
                n += 1
        rng.shuffle(lines)
        (out / half / "trials.txt").write_text("".join(lines))


def quantiles(xs: list[float], qs=(0.1, 0.25, 0.5, 0.75, 0.9)) -> str:
    xs = sorted(xs)
    return " ".join(f"q{int(q * 100)}={xs[min(len(xs) - 1, int(q * len(xs)))]:.2f}" for q in qs)


def stats(out: Path) -> None:
    for half in ("dev", "eval"):
        files = half_files(out, half)
        durs = []
        for rel, *_ in files:
            if rel.split("/")[1] == "wb16":
                with wave.open(str(out / half / rel)) as w:
                    durs.append(w.getnframes() / w.getframerate())
        voices = {f[3] for f in files}
        spks = {f[1] for f in files}
        lab = collections.Counter(line.split()[2] for line in (out / half / "trials.txt").read_text().splitlines())
        print(f"{half}: {len(spks)} speakers ({' '.join(sorted(spks))}), {len(voices)} voices, {len(durs)} "
              f"utterances x {len(CODECS)} codecs ({' '.join(CODECS)}) = {len(files)} files, "
              f"{sum(durs) / 3600:.2f} h per codec")
        print(f"{half}: duration s: min={min(durs):.2f} {quantiles(durs)} max={max(durs):.2f}; "
              f"shorter than 3 s: {sum(d < 3 for d in durs)} ({100 * sum(d < 3 for d in durs) / len(durs):.0f} %)")
        print(f"{half}: trials {half}/trials.txt: {lab['target']} target, {lab['nontarget']} nontarget")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("plan", "trials", "stats"))
    p.add_argument("out", type=Path)
    p.add_argument("--num-texts", type=int, default=60, help="texts each voice reads")
    p.add_argument("--pool", type=int, default=600, help="texts drawn from")
    p.add_argument("--num-target", type=int, default=4000, help="target trials per half")
    p.add_argument("--num-nontarget", type=int, default=40000, help="nontarget trials per half")
    p.add_argument("--seed", type=int, default=24)
    a = p.parse_args()
    if a.what == "plan":
        plan(a.out, a.num_texts, a.pool, a.seed)
    elif a.what == "trials":
        trials(a.out, a.num_target, a.num_nontarget, a.seed)
    else:
        stats(a.out)


if __name__ == "__main__":
    main()
