"""Phones, languages and phonotactics of the simulated speech (text-independent, phone-like).

Each phone has a type and acoustic targets for a reference adult male vocal tract (formants
F1-F5 in Hz; frication or burst centre and width). Types: ``V`` vowel, ``N`` nasal, ``L``
approximant, ``F`` voiceless fricative, ``Z`` voiced fricative, ``P`` voiceless plosive, ``B``
voiced plosive. A plosive is synthesised as a closure followed by a one-frame burst.

A language is an inventory (a subset of the phones with draw weights), a syllable structure
(probabilities of 0-2 onset and 0-2 coda consonants), a vowel-formant shift (its accent), and
a pitch-accent rate. Six languages cover the nationalities written to ``vox1_meta.csv``
(:data:`NATIONALITY_LANGUAGE`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: symbol: (type, F1, F2, F3, frication/burst centre Hz, width Hz, voicing amp, frication amp)
_PHONES: dict[str, tuple] = {
    # vowels (Peterson & Barney-like male targets)
    "i": ("V", 270, 2290, 3010, 0, 0, 1.0, 0.0),
    "I": ("V", 390, 1990, 2550, 0, 0, 1.0, 0.0),
    "e": ("V", 480, 1900, 2500, 0, 0, 1.0, 0.0),
    "E": ("V", 580, 1800, 2480, 0, 0, 1.0, 0.0),
    "ae": ("V", 660, 1720, 2410, 0, 0, 1.0, 0.0),
    "a": ("V", 730, 1240, 2440, 0, 0, 1.0, 0.0),
    "A": ("V", 700, 1090, 2440, 0, 0, 1.0, 0.0),
    "O": ("V", 570, 840, 2410, 0, 0, 1.0, 0.0),
    "o": ("V", 450, 800, 2400, 0, 0, 1.0, 0.0),
    "U": ("V", 440, 1020, 2240, 0, 0, 1.0, 0.0),
    "u": ("V", 300, 870, 2240, 0, 0, 1.0, 0.0),
    "@": ("V", 500, 1500, 2500, 0, 0, 0.9, 0.0),
    "3": ("V", 490, 1350, 1690, 0, 0, 1.0, 0.0),
    "y": ("V", 280, 1800, 2150, 0, 0, 1.0, 0.0),
    "2": ("V", 400, 1500, 2250, 0, 0, 1.0, 0.0),
    "a~": ("V", 650, 1100, 2400, 0, 0, 0.8, 0.0),
    # nasals and approximants
    "m": ("N", 260, 1000, 2200, 0, 0, 0.35, 0.0),
    "n": ("N", 260, 1500, 2500, 0, 0, 0.35, 0.0),
    "N": ("N", 260, 2000, 2600, 0, 0, 0.3, 0.0),
    "l": ("L", 360, 1100, 2700, 0, 0, 0.6, 0.0),
    "r": ("L", 420, 1250, 1600, 0, 0, 0.6, 0.0),
    "w": ("L", 300, 700, 2200, 0, 0, 0.55, 0.0),
    "j": ("L", 280, 2200, 2900, 0, 0, 0.55, 0.0),
    "R": ("Z", 450, 1200, 2300, 1200, 800, 0.4, 0.25),
    # fricatives
    "s": ("F", 400, 1600, 2600, 5500, 2500, 0.0, 0.5),
    "S": ("F", 400, 1800, 2400, 3200, 1800, 0.0, 0.55),
    "f": ("F", 400, 1400, 2500, 5000, 6000, 0.0, 0.2),
    "T": ("F", 400, 1500, 2500, 5000, 5000, 0.0, 0.18),
    "x": ("F", 400, 1200, 2300, 1700, 900, 0.0, 0.35),
    "h": ("F", 500, 1500, 2500, 1500, 3000, 0.0, 0.25),
    "z": ("Z", 300, 1600, 2600, 5500, 2500, 0.35, 0.3),
    "v": ("Z", 300, 1400, 2500, 5000, 6000, 0.4, 0.12),
    "Z": ("Z", 300, 1800, 2400, 3200, 1800, 0.35, 0.3),
    # plosives (burst centre/width)
    "p": ("P", 400, 1000, 2400, 900, 1800, 0.0, 0.6),
    "t": ("P", 400, 1700, 2600, 4200, 3000, 0.0, 0.7),
    "k": ("P", 400, 1900, 2400, 2100, 1200, 0.0, 0.7),
    "tr": ("P", 400, 1600, 1900, 3000, 2000, 0.0, 0.7),
    "b": ("B", 300, 900, 2300, 900, 1800, 0.12, 0.4),
    "d": ("B", 300, 1600, 2600, 4000, 3000, 0.12, 0.45),
    "g": ("B", 300, 1800, 2400, 2000, 1200, 0.12, 0.45),
}

SYMBOLS: tuple[str, ...] = tuple(_PHONES)
INDEX: dict[str, int] = {s: i for i, s in enumerate(SYMBOLS)}
TYPES = np.array([_PHONES[s][0] for s in SYMBOLS])
#: [n_phones, 5] formant targets (F4, F5 fixed at 3500 and 4500 Hz for the reference tract)
FORMANTS = np.array([[*_PHONES[s][1:4], 3500.0, 4500.0] for s in SYMBOLS], dtype=np.float64)
FRIC_CENTRE = np.array([_PHONES[s][4] for s in SYMBOLS], dtype=np.float64)
FRIC_WIDTH = np.array([_PHONES[s][5] for s in SYMBOLS], dtype=np.float64)
VOICING = np.array([_PHONES[s][6] for s in SYMBOLS], dtype=np.float64)
FRICATION = np.array([_PHONES[s][7] for s in SYMBOLS], dtype=np.float64)
#: mean duration (s) of each phone type at rate 1; a plosive's is its closure (the burst adds 16 ms)
TYPE_DURATION = {"V": 0.095, "N": 0.06, "L": 0.055, "F": 0.09, "Z": 0.07, "P": 0.055, "B": 0.05}
IS_VOWEL = TYPES == "V"


@dataclass(frozen=True)
class Language:
    """A phone inventory with draw weights, syllable structure and accent."""

    code: str
    vowels: dict[str, float]
    consonants: dict[str, float]
    onset_p: tuple[float, float, float]  # P(0, 1, 2 onset consonants)
    coda_p: tuple[float, float, float]  # P(0, 1, 2 coda consonants)
    formant_shift: tuple[float, float]  # multiplicative shift of vowel F1, F2
    accent_rate: float  # pitch accents per word
    syllables_per_word: tuple[float, float, float]  # P(1, 2, 3 syllables)


_EN_C = {"t": 7, "n": 7, "s": 6, "r": 6, "d": 5, "l": 5, "k": 4, "m": 4, "w": 3, "z": 3, "p": 3,
         "b": 3, "f": 2, "v": 2, "g": 2, "h": 2, "T": 2, "S": 1, "N": 1, "j": 1}
LANGUAGES: dict[str, Language] = {
    "en-us": Language("en-us", {"I": 6, "@": 8, "i": 4, "E": 3, "ae": 3, "A": 2, "u": 2, "3": 2, "e": 2, "o": 2},
                      _EN_C, (0.25, 0.55, 0.2), (0.35, 0.5, 0.15), (1.0, 1.0), 0.6, (0.6, 0.3, 0.1)),
    "en-gb": Language("en-gb", {"I": 6, "@": 8, "i": 4, "E": 3, "a": 3, "O": 3, "u": 2, "U": 2, "e": 2},
                      _EN_C, (0.25, 0.55, 0.2), (0.4, 0.5, 0.1), (1.04, 0.96), 0.5, (0.6, 0.3, 0.1)),
    "en-in": Language("en-in", {"I": 5, "a": 7, "i": 4, "e": 4, "o": 3, "u": 3, "@": 3},
                      {"tr": 5, "n": 7, "s": 5, "r": 6, "d": 5, "l": 5, "k": 5, "m": 4, "v": 3, "p": 3,
                       "b": 3, "g": 2, "h": 3, "S": 2, "j": 2}, (0.2, 0.7, 0.1), (0.5, 0.45, 0.05),
                      (1.08, 1.03), 0.8, (0.4, 0.45, 0.15)),
    "de": Language("de", {"I": 4, "@": 7, "i": 3, "E": 4, "a": 5, "O": 2, "u": 2, "U": 2, "y": 2, "2": 1, "e": 2},
                   {"t": 6, "n": 8, "s": 4, "R": 6, "d": 4, "l": 4, "k": 3, "m": 4, "v": 3, "z": 3, "x": 3,
                    "f": 3, "g": 3, "h": 2, "S": 2, "b": 2, "p": 2, "N": 1}, (0.2, 0.5, 0.3), (0.3, 0.45, 0.25),
                   (0.97, 1.02), 0.5, (0.45, 0.4, 0.15)),
    "es": Language("es", {"a": 8, "e": 8, "i": 4, "o": 6, "u": 2},
                   {"s": 8, "n": 6, "d": 5, "l": 6, "r": 6, "t": 4, "k": 4, "m": 4, "p": 3, "b": 3, "g": 2,
                    "x": 2, "T": 1, "j": 1, "f": 1}, (0.15, 0.75, 0.1), (0.7, 0.3, 0.0), (1.05, 1.0), 0.7,
                   (0.3, 0.45, 0.25)),
    "fr": Language("fr", {"a": 6, "e": 5, "E": 4, "i": 4, "@": 4, "o": 3, "u": 3, "y": 3, "2": 2, "a~": 3},
                   {"R": 8, "l": 6, "s": 6, "t": 5, "d": 5, "k": 4, "m": 4, "n": 4, "p": 4, "v": 3, "z": 2,
                    "S": 2, "Z": 2, "b": 2, "f": 2, "g": 1}, (0.2, 0.65, 0.15), (0.65, 0.3, 0.05), (1.0, 1.06),
                   0.35, (0.4, 0.4, 0.2)),
}

#: Nationality (as written in vox1_meta.csv) -> language code, and draw weights of nationalities.
NATIONALITY_LANGUAGE = {"USA": "en-us", "Canada": "en-us", "UK": "en-gb", "Ireland": "en-gb",
                        "Australia": "en-gb", "India": "en-in", "Germany": "de", "Spain": "es",
                        "Mexico": "es", "France": "fr"}
NATIONALITY_WEIGHTS = {"USA": 0.42, "UK": 0.16, "India": 0.1, "Canada": 0.06, "Australia": 0.05,
                       "Ireland": 0.04, "Germany": 0.06, "Spain": 0.04, "Mexico": 0.03, "France": 0.04}


def _choice(rng: np.random.Generator, table: dict[str, float]) -> str:
    keys = list(table)
    w = np.fromiter(table.values(), float)
    return keys[int(rng.choice(len(keys), p=w / w.sum()))]


def random_word(rng: np.random.Generator, lang: Language) -> list[tuple[str, bool]]:
    """One pseudo-word as (phone, stressed) pairs following the language's phonotactics."""
    n_syl = 1 + int(rng.choice(3, p=lang.syllables_per_word))
    stress = int(rng.integers(n_syl))
    out: list[tuple[str, bool]] = []
    for k in range(n_syl):
        for _ in range(int(rng.choice(3, p=lang.onset_p))):
            out.append((_choice(rng, lang.consonants), False))
        out.append((_choice(rng, lang.vowels), k == stress))
        for _ in range(int(rng.choice(3, p=lang.coda_p))):
            out.append((_choice(rng, lang.consonants), False))
    return out


#: English spelling -> phones, longest match first (for the ADReSS transcripts' words).
_G2P = [("tch", ["t", "S"]), ("ee", ["i"]), ("ea", ["i"]), ("oo", ["u"]), ("ou", ["a", "U"]),
        ("ow", ["a", "U"]), ("oi", ["O", "I"]), ("ai", ["e", "I"]), ("ay", ["e", "I"]), ("sh", ["S"]),
        ("ch", ["t", "S"]), ("th", ["T"]), ("ng", ["N"]), ("ck", ["k"]), ("ph", ["f"]), ("wh", ["w"]),
        ("qu", ["k", "w"]), ("er", ["3"]), ("a", ["ae"]), ("e", ["E"]), ("i", ["I"]), ("o", ["A"]),
        ("u", ["@"]), ("y", ["i"]), ("b", ["b"]), ("c", ["k"]), ("d", ["d"]), ("f", ["f"]), ("g", ["g"]),
        ("h", ["h"]), ("j", ["d", "Z"]), ("k", ["k"]), ("l", ["l"]), ("m", ["m"]), ("n", ["n"]), ("p", ["p"]),
        ("r", ["r"]), ("s", ["s"]), ("t", ["t"]), ("v", ["v"]), ("w", ["w"]), ("x", ["k", "s"]), ("z", ["z"])]


def spell_to_phones(word: str) -> list[tuple[str, bool]]:
    """Rough English letter-to-phone rules; the first vowel carries the stress."""
    w = "".join(c for c in word.lower() if c.isalpha())
    out: list[tuple[str, bool]] = []
    i = 0
    stressed = False
    while i < len(w):
        for g, ph in _G2P:
            if w.startswith(g, i):
                for p in ph:
                    is_v = _PHONES[p][0] == "V"
                    out.append((p, is_v and not stressed))
                    stressed = stressed or is_v
                i += len(g)
                break
        else:  # pragma: no cover - every letter has a rule
            i += 1
    if out and out[-1][0] == "E" and len(out) > 2:  # silent final e
        out.pop()
    if not any(_PHONES[p][0] == "V" for p, _ in out):
        out.append(("@", True))
    return out
