"""Utterance plans: the timed sequence of phones and pauses that the synthesiser renders.

A plan is built word by word (pseudo-words from a language's phonotactics, or spelled English
words for the ADReSS transcripts), with pauses, fillers and retracing drawn from a
:class:`~utter.sim.factors.Style`. Durations follow the phone type's mean, the speaker's and
style's rate, the speaker's phone habits, stress (x1.3), phrase-final lengthening (x1.4) and
a lognormal spread (sd 0.25).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from utter.sim import phones
from utter.sim.factors import Speaker, Style

PAUSE = -1
#: parts of a segment: a whole phone, a plosive's closure, a plosive's burst
WHOLE, CLOSURE, BURST = 0, 1, 2
BURST_DUR = 0.016


@dataclass
class Plan:
    """Segments (phone index or PAUSE, part, duration s, stressed, phrase-final) and word times."""

    phone: list[int] = field(default_factory=list)
    part: list[int] = field(default_factory=list)
    dur: list[float] = field(default_factory=list)
    stress: list[bool] = field(default_factory=list)
    final: list[bool] = field(default_factory=list)
    words: list[tuple[str, float, float]] = field(default_factory=list)  # (word, start, end)

    @property
    def duration(self) -> float:
        return float(sum(self.dur))

    def speech_fraction(self) -> float:
        total = self.duration
        sp = sum(d for p, d in zip(self.phone, self.dur) if p != PAUSE)
        return sp / total if total > 0 else 0.0


class PlanBuilder:
    """Appends words, pauses and fillers to a plan with durations drawn for one speaker and style."""

    def __init__(self, rng: np.random.Generator, speaker: Speaker, style: Style):
        self.rng, self.speaker, self.style = rng, speaker, style
        self.rate = speaker.rate * style.rate
        self.plan = Plan()

    def pause(self, seconds: float) -> None:
        if seconds <= 0:
            return
        p = self.plan
        if p.phone and p.phone[-1] == PAUSE:
            p.dur[-1] += seconds
            return
        p.phone.append(PAUSE)
        p.part.append(WHOLE)
        p.dur.append(seconds)
        p.stress.append(False)
        p.final.append(False)

    def _seg(self, idx: int, part: int, dur: float, stress: bool, final: bool) -> None:
        p = self.plan
        p.phone.append(idx)
        p.part.append(part)
        p.dur.append(dur)
        p.stress.append(stress)
        p.final.append(final)

    def word(self, seq: list[tuple[str, bool]], text: str = "", final: bool = False, stretch: float = 1.0) -> None:
        start = self.plan.duration
        last_v = max((i for i, (s, _) in enumerate(seq) if phones.TYPES[phones.INDEX[s]] == "V"), default=-1)
        for i, (sym, stressed) in enumerate(seq):
            idx = phones.INDEX[sym]
            typ = phones.TYPES[idx]
            d = phones.TYPE_DURATION[typ] / self.rate * float(np.exp(self.rng.normal(0, 0.25))) * stretch
            if idx in self.speaker.habits:
                d *= self.speaker.habits[idx][1]
            if stressed:
                d *= 1.3
            is_final = final and i >= last_v
            if is_final:
                d *= 1.4
            if typ in ("P", "B"):
                self._seg(idx, CLOSURE, d, False, is_final)
                self._seg(idx, BURST, BURST_DUR, False, is_final)
            else:
                self._seg(idx, WHOLE, d, stressed, is_final and i == last_v)
        if text:
            self.plan.words.append((text, start, self.plan.duration))

    def filler(self, rng_kind: float | None = None) -> str:
        """A hesitation (uh or um): a long schwa, possibly closed by m. Returns its CHAT form."""
        um = (self.rng.random() if rng_kind is None else rng_kind) < 0.4
        seq = [("@", True), ("m", False)] if um else [("@", True)]
        self.word(seq, stretch=2.8)
        return "&-um" if um else "&-uh"

    def between_words(self) -> bool:
        """Maybe a pause between two words; True if one was added."""
        st = self.style
        if self.rng.random() < st.pause_p:
            self.pause(float(np.exp(self.rng.normal(np.log(0.25), 0.5))) * st.pause_scale)
            return True
        return False

    def phrase_break(self) -> None:
        self.pause(float(np.exp(self.rng.normal(np.log(0.3), 0.45))) * self.style.pause_scale)


def babble_plan(rng: np.random.Generator, speaker: Speaker, style: Style, duration: float) -> Plan:
    """Pseudo-words in the speaker's language in phrases, until ``duration`` seconds are reached."""
    lang = phones.LANGUAGES[speaker.lang]
    b = PlanBuilder(rng, speaker, style)
    b.pause(float(rng.uniform(0.08, 0.3)))
    target = max(duration - 0.2, 0.5)
    while b.plan.duration < target:
        n = 1 + int(rng.poisson(max(style.phrase_words - 1, 0.5)))
        if rng.random() < style.filler_p:
            b.filler()
            b.between_words()
        for k in range(n):
            b.word(random_word_with_accent(rng, lang), final=(k == n - 1))
            if k < n - 1:
                b.between_words()
            if b.plan.duration >= target:
                break
        b.phrase_break()
    b.pause(float(rng.uniform(0.05, 0.2)))
    return b.plan


def random_word_with_accent(rng: np.random.Generator, lang: phones.Language) -> list[tuple[str, bool]]:
    """A pseudo-word whose stressed vowel carries a pitch accent with the language's accent rate."""
    seq = phones.random_word(rng, lang)
    if rng.random() >= lang.accent_rate:
        seq = [(s, False) for s, _ in seq]
    return seq
