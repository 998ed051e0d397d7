"""Check a Kaldi data dir as validate_data_dir.sh does, naming the first offending file:line.

Kaldi's checks, in Kaldi's order: utt2spk and spk2utt present, non-empty, two fields per utt2spk
line, agreeing with each other, sorted (``LC_ALL=C``) with unique keys and every file's last
line ended; utt2spk also sorted by speaker (unless ``no_spk_sort``); text (required unless
``no_text``) valid as validate_text.pl wants (no CR, no Unicode blanks but space and tab), free
of non-printable characters (unless ``non_print``) and of ``<s> </s> #0``; wav.scp (required
unless ``no_wav``) without ``~`` paths; segments of four fields ending after they start (this
toolkit also takes an end of -1, "to the end of the recording"), their recordings exactly
wav.scp's and reco2file_and_channel's (channels A or B); feats.scp (required unless
``no_feats``), vad.scp, utt2lang, utt2uniq, utt2dur (positive), utt2num_frames (positive
integers) and utt2warp covering exactly the utterances; cmvn.scp, spk2gender (``m`` or ``f``)
and spk2warp exactly the speakers; reco2dur (positive) exactly the recordings.
Beyond Kaldi: segments inside their recordings' reco2dur, utt2dur agreeing with segments, and
this toolkit's label tables naming only known utterances. The command line is
:mod:`utter.bin.validate_data_dir`.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from itertools import chain, islice, repeat
from operator import itemgetter

from utter.data.datadir import DataDirError
from utter.data.dirtools.speakers import expanded_spk2utt, spk2utt_groups, utt2spk_from_spk2utt, utt2spk_pairs
from utter.data.dirtools.tables import (
    LABEL_FILES,
    Table,
    first_unsorted,
    is_sorted_unique,
    keys_are,
    line_blocks,
    no_control,
    show_id,
    show_line,
    sort_from_field2_key,
    sorted_by_speaker,
)

#: Segment end times may pass the recording's duration by this much (frame rounding).
DUR_TOLERANCE = 0.02
_CTRL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CTRL_U = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# validate_text.pl: no Unicode whitespace other than tab, newline and space (CR reported apart)
_UBLANK = re.compile("[\x0b\x0c\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
_ILLEGAL = (b"<s>", b"</s>", b"#0")


def check_sorted_and_uniq(t: Table) -> list[bytes]:
    """validate_data_dir.sh's check_sorted_and_uniq: last line ended, first fields C-sorted and
    unique; returns them. Errors name the file and line."""
    if t.unterminated:
        raise DataDirError(f"{t.path}:{len(t)}: the last line has no newline (invalid newline)")
    keys = t.keys
    if not is_sorted_unique(keys):
        i = first_unsorted(keys)
        if not keys[i]:
            raise DataDirError(f"{t.path}:{i + 1}: empty line")
        what = "duplicate key" if keys[i] == keys[i - 1] else "not sorted:"
        # an id with a space in it sorts and repeats by its first word: say so when the lines differ in
        # their number of fields
        n, m = len(t.lines[i].split()), len(t.lines[i - 1].split())
        hint = (f"; or an id with a space in it: a key ends at the first space, and lines {i} and {i + 1} have "
                f"{m} and {n} fields" if n != m else "")
        raise DataDirError(f"{t.path}:{i + 1}: {what} '{show_id(keys[i])}' after '{show_id(keys[i - 1])}' "
                           f"(LC_ALL=C sort; utils/fix_data_dir.sh fixes this{hint})")
    if keys and not keys[0]:
        raise DataDirError(f"{t.path}:1: empty line")
    return keys


def _same_keys(t: Table, expected: Sequence[bytes], what: str) -> None:
    """Keys of ``t`` must be exactly ``expected`` (both sorted): name the first stray or missing one."""
    keys = t.keys
    if keys == expected:
        return
    exp = set(expected)
    for i, k in enumerate(keys, 1):
        if k not in exp:
            raise DataDirError(f"{t.path}:{i}: '{show_id(k)}' is not in {what}")
    have = set(keys)
    missing = [k for k in expected if k not in have]
    raise DataDirError(f"{t.path}: {len(missing)} of the {len(expected)} entries of {what} are missing, "
                       f"first '{show_id(missing[0])}' (utils/fix_data_dir.sh keeps the common ones)")


def _values(t: Table, kind: type, what: str, check, need: bool = True) -> dict[bytes, float] | None:
    """``key value`` lines: each value converted by ``kind`` and passing ``check`` (else an error
    naming the line); returns key -> value (if ``need``)."""
    if t.simple and kind is float:
        vals = [line.partition(b" ")[2] for line in t.lines]
        try:
            nums = list(map(float, vals))     # a third field or a non-number fails: the slow path names it
        except ValueError:
            pass
        else:
            if nums and min(nums) > 0 and (check is not _positive_int or all(map(float.is_integer, nums))):
                return dict(zip(t.keys, nums)) if need else None
    out = {}
    for i, line in enumerate(t.lines, 1):
        f = line.split()
        try:
            if len(f) != 2:
                raise ValueError
            v = kind(f[1])
        except ValueError:
            raise DataDirError(f"{t.path}:{i}: expected 'key {what}', got '{show_line(line)}'") from None
        if not check(v):
            raise DataDirError(f"{t.path}:{i}: bad {what} '{show_id(f[1])}' for '{show_id(f[0])}'")
        out[f[0]] = v
    return out


def _positive(v: float) -> bool:
    return v > 0


def _positive_int(v: float) -> bool:
    return v > 0 and v.is_integer()


def check_text(t: Table, non_print: bool) -> None:
    """validate_text.pl and the text checks of validate_data_dir.sh."""
    if not t.lines:
        raise DataDirError(f"{t.path}: empty file")
    data = b"\n".join(t.lines)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None   # validate_text.pl lets other encodings pass as bytes
    if text is not None:
        for pat, what in ((re.compile("\r"), "contains CR (0x0D) character"),
                          (_UBLANK, "contains disallowed Unicode whitespaces")):
            m = pat.search(text)
            if m:
                i = text.count("\n", 0, m.start()) + 1
                raise DataDirError(f"{t.path}:{i}: the line for utterance '{show_id(t.keys[i - 1])}' {what}")
    if not non_print:
        m = _CTRL.search(data) if text is None or text.isascii() else _CTRL_U.search(text)
        if m:
            src = data if text is None or text.isascii() else text
            nl = b"\n" if isinstance(src, bytes) else "\n"
            i = src.count(nl, 0, m.start()) + 1
            raise DataDirError(f"{t.path}:{i}: non-printable character {m.group()!r} in the text of "
                               f"'{show_id(t.keys[i - 1])}' (--non-print allows them)")
    for sym in _ILLEGAL:
        if sym in data:
            for i, line in enumerate(t.lines, 1):
                if sym in line.split()[1:]:
                    raise DataDirError(f"{t.path}:{i}: text contains illegal symbol {sym.decode()}")


def _check_r2fc(t: Table, expected: Sequence[bytes], what: str, notes: list[str]) -> None:
    check_sorted_and_uniq(t)
    warn = False
    for i, line in enumerate(t.lines, 1):
        f = line.split()
        if len(f) != 3 or f[2] not in (b"A", b"B"):
            if len(f) == 3 and f[2] == b"1":
                warn = True
            else:
                raise DataDirError(f"{t.path}:{i}: expected 'reco file channel' with channel A or B, got "
                                   f"'{show_line(line)}'")
    if warn:
        notes.append(f"{t.path}: the channel should be marked as A or B, not 1")
    _same_keys(t, expected, what)


# ----------------------------------------------------------------------------- the quick path
# A data dir as Kaldi's tools write one (single-spaced, sorted, spk2utt made from utt2spk) is checked
# on whole file contents at C speed, with no per-line Python work; anything else, or any doubt, is
# left to the full checks below, which alone name problems (so their messages and order stay theirs).

#: Tables the quick path checks as "keyed by exactly utt2spk's utterances" (any other values).
_QUICK_KEYED = ("wav.scp", "feats.scp", "vad.scp", "utt2lang", "utt2uniq") + LABEL_FILES
#: Tables it checks as "utt2spk's utterances, each with one positive number".
_QUICK_NUMBERS = ("utt2dur", "utt2num_frames")
#: Tables only the full checks handle (text's character checks, segments, per-speaker and per-recording tables).
_FULL_ONLY = ("text", "segments", "reco2file_and_channel", "cmvn.scp", "spk2gender", "spk2warp", "utt2warp",
              "reco2dur")
_DECIMAL = b"0123456789.\n"
_TWO_DOTS = re.compile(rb"\.[0-9]*\.")
_ZERO = re.compile(rb"^[0.]*$", re.M)     # a value without a non-zero digit (or empty)


def _keyed(path: str, utts_sp: list[bytes], tilde: bool = False) -> bool:
    """Each line ended and starting with the next utterance of utt2spk and a space (``tilde``: and
    no ``~`` anywhere, where wav.scp's full check would look for a ``~`` path)."""
    i = 0
    for block in line_blocks(path):
        if tilde and b"~" in block:
            return False
        lines = block.split(b"\n")
        if lines.pop() != b"" or not all(map(bytes.startswith, lines, utts_sp[i:i + len(lines)])):
            return False
        i += len(lines)
        if i > len(utts_sp):
            return False
    return i == len(utts_sp)


def _positive_numbers(path: str, utts_sp: list[bytes], integer: bool) -> bool:
    """``utt value`` lines keyed by exactly the utterances, every value a positive number
    (a positive integer if ``integer``), as :func:`_values` reads them."""
    i = 0
    for block in line_blocks(path):
        m = block.count(b"\n")
        if block.count(b" ") != m:
            return False
        tokens = block.replace(b" ", b" \n").split(b"\n")    # utt-and-space, value, utt-and-space, ..., b""
        # m spaces, each right after a key: one per line, lines "utt value"
        if tokens.pop() != b"" or tokens[0::2] != utts_sp[i:i + m]:
            return False
        i += m
        vals = tokens[1::2]
        if max(map(len, vals)) > 15:   # a long one may overflow or underflow: the full checks tell
            return False
        joined = b"\n".join(vals)
        if (joined.translate(None, _DECIMAL) or (integer and b"." in joined) or _TWO_DOTS.search(joined)
                or _ZERO.search(joined)):
            # not all plain decimals, each with a digit and a non-zero one: as float() reads them
            if not no_control(joined):
                return False
            try:
                nums = list(map(float, vals))
            except ValueError:
                return False
            if not (min(nums) > 0 and (not integer or all(map(float.is_integer, nums)))):
                return False
    return i == len(utts_sp)


def _quick(d: str, no_feats: bool, no_wav: bool, no_text: bool) -> list[str] | None:
    """The notes of a data dir that passes every check, found on whole file contents; None when
    the dir needs the full checks (a problem, or a table or layout the quick path leaves to them)."""
    try:
        return _quick_notes(d, set(os.listdir(d)), no_feats, no_wav, no_text)
    except OSError:           # an unreadable table: the full checks say where, in their order
        return None


def _quick_notes(d: str, names: set[str], no_feats: bool, no_wav: bool, no_text: bool) -> list[str] | None:
    """:func:`_quick` on the dir's file ``names``."""
    def has(name: str) -> bool:
        return name in names and os.path.isfile(os.path.join(d, name))

    if (not has("utt2spk") or not has("spk2utt") or any(map(has, _FULL_ONLY))
            or (not no_wav and not has("wav.scp")) or (not no_feats and not has("feats.scp"))
            or (not no_text and not has("text"))):
        return None
    with open(os.path.join(d, "utt2spk"), "rb") as f, open(os.path.join(d, "spk2utt"), "rb") as g:
        got = expanded_spk2utt(f.read(), g.read())
    if got is None:
        return None
    utts_sp, n_spks = got[2], len(got[0])
    for name in _QUICK_KEYED:
        if has(name) and not _keyed(os.path.join(d, name), utts_sp, tilde=name == "wav.scp"):
            return None
    for name in _QUICK_NUMBERS:
        if has(name) and not _positive_numbers(os.path.join(d, name), utts_sp, name == "utt2num_frames"):
            return None
    return [_ONE_SPEAKER] if n_spks == 1 else []


_ONE_SPEAKER = ("WARNING: you have only one speaker. This probably a bad idea. Search for the word 'bold' "
                "in http://kaldi-asr.org/doc/data_prep.html for more information.")


# ----------------------------------------------------------------------------- the full checks

def validate_data_dir(data: str | os.PathLike, *, no_feats: bool = False, no_wav: bool = False,
                      no_text: bool = False, no_spk_sort: bool = False, non_print: bool = False,
                      tables: dict[str, Table] | None = None, quick: bool = True) -> list[str]:
    """Raise :class:`DataDirError` at the first problem; return notes (warnings) otherwise.

    ``tables`` (name -> Table) are tables just written to ``data`` (by a copy), used instead of
    reading those files again. ``quick``: first try the whole-file path (False: the full checks
    only; the two agree, which the tests check)."""
    d = os.fspath(data)
    if not os.path.isdir(d):
        raise DataDirError(f"{d}: no such directory")
    if quick:
        quick_notes = _quick(d, no_feats, no_wav, no_text)
        if quick_notes is not None:
            return quick_notes
    v = _Checks(d, tables)
    v.check_speaker_maps(no_spk_sort)
    v.check_text(no_text, non_print)
    v.check_recordings(no_wav)
    v.check_feats(no_feats)
    v.check_speaker_tables()
    v.check_utterance_tables()
    v.check_reco2dur()
    v.check_durations()
    v.check_labels()
    return v.notes


class _Checks:
    """The full checks of one data dir, file by file in Kaldi's order; what a check learns (the
    utterances, speakers, recordings, segments) is kept for the checks after it."""

    def __init__(self, d: str, tables: dict[str, Table] | None):
        self.d = d
        self.tables = tables or {}
        self.notes: list[str] = []
        self.utts: list[bytes] = []
        self.utts_sp: list[bytes] = []
        self.speakers: list[bytes] = []
        self.recordings: list[bytes] | None = None    # those of segments
        self.wav_keys: list[bytes] | None = None
        self.segments_path = ""
        self.spans: list[tuple[int, bytes, bytes, float, float]] = []   # (line, utt, reco, start, end) of segments
        self.durs: dict[bytes, float] | None = None                       # utt2dur's, where segments need them

    def path(self, name: str) -> str:
        return os.path.join(self.d, name)

    def has(self, name: str) -> bool:
        return os.path.isfile(self.path(name))

    def read(self, name: str) -> Table:
        t = self.tables.get(name)
        return t if t is not None else Table.read(self.path(name))

    def utt_keyed(self, t: Table) -> None:
        """Sorted, unique, exactly the utterances of utt2spk (fast when the keys are utt2spk's)."""
        if t.unterminated or not keys_are(t, self.utts_sp):
            check_sorted_and_uniq(t)
            _same_keys(t, self.utts, "utt2spk")

    # ------------------------------------------------------------------------- utt2spk, spk2utt

    def check_speaker_maps(self, no_spk_sort: bool) -> None:
        """utt2spk and spk2utt: present, non-empty, sorted, unique, agreeing; utt2spk sorted by speaker."""
        d = self.d
        for name in ("utt2spk", "spk2utt"):
            if not self.has(name):
                raise DataDirError(f"{d}/{name}: no such file" + (" (utils/utt2spk_to_spk2utt.py makes it)"
                                                                  if name == "spk2utt" else ""))
        u2s = self.read("utt2spk")
        if not u2s.lines:
            raise DataDirError(f"{d}: no utterances (utt2spk is empty)")
        s2u = self.read("spk2utt")
        if not s2u.lines:
            raise DataDirError(f"{d}/spk2utt: empty file (utt2spk is not)")
        pairs = utt2spk_pairs(u2s)
        if len(s2u) == 1:
            self.notes.append(_ONE_SPEAKER)
        self.utts = check_sorted_and_uniq(u2s)
        self.utts_sp = [u + b" " for u in self.utts]
        if not no_spk_sort:
            _check_speaker_order(u2s, pairs)
        self.speakers = check_sorted_and_uniq(s2u)
        _check_spk2utt_matches(s2u, spk2utt_groups(s2u), pairs, self.utts)

    # ------------------------------------------------------------------------- text

    def check_text(self, no_text: bool, non_print: bool) -> None:
        if not self.has("text") and not no_text:
            raise DataDirError(f"{self.d}/text: no such file (if this is by design, specify --no-text)")
        if self.has("text"):
            t = self.read("text")
            check_text(t, non_print)
            self.utt_keyed(t)

    # ------------------------------------------------------------------------- recordings

    def check_recordings(self, no_wav: bool) -> None:
        """wav.scp (no ``~`` paths), segments and reco2file_and_channel."""
        d = self.d
        if self.has("segments") and not self.has("wav.scp"):
            raise DataDirError(f"{d}: segments file exists but no wav.scp")
        if not self.has("wav.scp") and not no_wav:
            raise DataDirError(f"{d}/wav.scp: no such file (if this is by design, specify --no-wav)")
        if not self.has("wav.scp"):
            return
        wav = self.read("wav.scp")
        if self.has("segments"):
            self.wav_keys = check_sorted_and_uniq(wav)
        else:
            self.utt_keyed(wav)
            self.wav_keys = self.utts
        _check_no_tilde(wav)
        if self.has("segments"):
            self.check_segments(wav)
        elif self.has("reco2file_and_channel"):
            _check_r2fc(self.read("reco2file_and_channel"), self.utts, "utt2spk", self.notes)

    def check_segments(self, wav: Table) -> None:
        """segments: sorted, four fields, ending after they start, exactly the utterances; their
        recordings exactly wav.scp's (and reco2file_and_channel's)."""
        segments = self.read("segments")
        self.segments_path = segments.path
        check_sorted_and_uniq(segments)
        self.spans = segment_spans(segments)
        _same_keys(segments, self.utts, "utt2spk")
        self.recordings = sorted({reco for _, _, reco, _, _ in self.spans})
        _same_keys(wav, self.recordings, "the recordings of segments")
        if self.has("reco2file_and_channel"):
            _check_r2fc(self.read("reco2file_and_channel"), self.recordings, "the recordings of segments",
                        self.notes)

    # ------------------------------------------------------------------------- features, speakers, utterances

    def check_feats(self, no_feats: bool) -> None:
        if not self.has("feats.scp") and not no_feats:
            raise DataDirError(f"{self.d}/feats.scp: no such file (if this is by design, specify --no-feats)")
        if self.has("feats.scp"):
            self.utt_keyed(self.read("feats.scp"))

    def check_speaker_tables(self) -> None:
        """cmvn.scp, spk2gender (m or f) and spk2warp: exactly the speakers."""
        for name, check, what in (("cmvn.scp", None, None),
                                  ("spk2gender", lambda v: v in (b"m", b"f"), "gender (m or f)"),
                                  ("spk2warp", lambda v: 0.5 < float(v) < 1.5, "warp factor (0.5 < w < 1.5)")):
            if self.has(name):
                t = self.read(name)
                check_sorted_and_uniq(t)
                if check is not None:
                    _values(t, bytes, what, _safe(check))
                _same_keys(t, self.speakers, "the speakers of spk2utt")

    def check_utterance_tables(self) -> None:
        """utt2warp, vad.scp, utt2lang, utt2uniq, utt2dur (positive) and utt2num_frames (positive
        integers): exactly the utterances."""
        if self.has("utt2warp"):
            t = self.read("utt2warp")
            check_sorted_and_uniq(t)
            _values(t, bytes, "warp factor (0.5 < w < 1.5)", _safe(lambda v: 0.5 < float(v) < 1.5))
            _same_keys(t, self.utts, "utt2spk")
        for name in ("vad.scp", "utt2lang", "utt2uniq"):
            if self.has(name):
                self.utt_keyed(self.read(name))
        if self.has("utt2dur"):
            t = self.read("utt2dur")
            self.utt_keyed(t)
            self.durs = _values(t, float, "duration (> 0)", _positive, need=bool(self.spans))
        if self.has("utt2num_frames"):
            t = self.read("utt2num_frames")
            self.utt_keyed(t)
            _values(t, float, "number of frames (a positive integer)", _positive_int)

    # ------------------------------------------------------------------------- durations

    def check_reco2dur(self) -> None:
        """reco2dur: exactly the recordings, positive, and no segment ending after its recording."""
        if not self.has("reco2dur"):
            return
        t = self.read("reco2dur")
        check_sorted_and_uniq(t)
        if self.recordings is not None:
            _same_keys(t, self.recordings, "the recordings of segments")
        else:
            _same_keys(t, self.wav_keys if self.wav_keys is not None else self.utts, "wav.scp")
        reco_durs = _values(t, float, "duration (> 0)", _positive)
        for i, _utt, reco, _start, end in self.spans:
            if end > reco_durs[reco] + DUR_TOLERANCE:
                raise DataDirError(f"{self.segments_path}:{i}: segment ends at {end} s, after the end of recording "
                                   f"'{show_id(reco)}' ({reco_durs[reco]} s in reco2dur)")

    def check_durations(self) -> None:
        """utt2dur agreeing with segments."""
        if self.durs is None:
            return
        durs = self.durs
        for i, utt, _reco, start, end in self.spans:
            if end != -1 and abs(end - start - durs[utt]) > DUR_TOLERANCE:
                raise DataDirError(f"{self.d}/utt2dur: '{show_id(utt)}' lasts {durs[utt]} s but "
                                   f"{self.segments_path}:{i} spans {end - start:.3f} s")

    # ------------------------------------------------------------------------- this toolkit's labels

    def check_labels(self) -> None:
        """The label tables: sorted, unique, naming only utterances of utt2spk (fewer is a note)."""
        known = set(self.utts)
        for name in LABEL_FILES:
            if name in ("utt2warp",) or not self.has(name):
                continue
            t = self.read(name)
            keys = check_sorted_and_uniq(t)
            for i, k in enumerate(keys, 1):
                if k not in known:
                    raise DataDirError(f"{t.path}:{i}: '{show_id(k)}' is not in utt2spk")
            if len(keys) < len(self.utts):
                self.notes.append(f"{t.path}: covers {len(keys)} of {len(self.utts)} utterances")


def _check_speaker_order(u2s: Table, pairs: list[tuple[bytes, bytes]]) -> None:
    """utt2spk in ``sort -k2`` order too (speaker ids prefixes of utterance ids)."""
    if sorted_by_speaker(u2s.lines, pairs if u2s.single else None):
        return
    # the first line out of ``sort -k2`` order, by the key sorted_by_speaker compared
    keys = [s for _, s in pairs] if u2s.single else [sort_from_field2_key(x) for x in u2s.lines]
    i = next((i for i in range(1, len(keys)) if keys[i] < keys[i - 1]), 1)
    raise DataDirError(f"{u2s.path}:{i + 1}: not in sorted order when sorted first on speaker-id "
                       f"('{show_line(u2s.lines[i])}' after '{show_line(u2s.lines[i - 1])}'); make speaker ids "
                       f"prefixes of utterance ids (or --no-spk-sort)")


def _check_spk2utt_matches(s2u: Table, groups: list[list[bytes]], pairs: list[tuple[bytes, bytes]],
                           utts: list[bytes]) -> None:
    """spk2utt is utt2spk's (spk2utt_to_utt2spk.pl | sort gives utt2spk); else name the first
    spk2utt line that differs."""
    exp_utts = list(chain.from_iterable(islice(g, 1, None) for g in groups))
    exp_spks = list(chain.from_iterable(repeat(g[0], len(g) - 1) for g in groups))
    if exp_utts == utts and exp_spks == list(map(itemgetter(1), pairs)):
        return
    del exp_utts, exp_spks
    expected = sorted(utt2spk_from_spk2utt(groups))   # spk2utt_to_utt2spk.pl | sort
    have = [u + b" " + s for u, s in pairs]
    if expected == have:
        return
    j = next((i for i, (a, b) in enumerate(zip(have, expected)) if a != b), min(len(have), len(expected)))
    line, n = len(groups), 0
    for k, g in enumerate(groups, 1):     # the spk2utt line that gives expected[j] ...
        n += len(g) - 1
        if n > j:
            line = k
            break
    if j < len(pairs):                     # ... or, better, the line of utt2spk's speaker there
        line = next((k for k, g in enumerate(groups, 1) if g[0] == pairs[j][1]), line)
    raise DataDirError(f"{s2u.path}:{line}: '{show_line(s2u.lines[line - 1])}' does not match utt2spk (whose line "
                       f"{j + 1} is '{show_line(have[j]) if j < len(have) else '(end of file)'}'); "
                       f"utils/utt2spk_to_spk2utt.py makes spk2utt")


def _check_no_tilde(wav: Table) -> None:
    if b"~" in b"\n".join(wav.lines):
        for i, line in enumerate(wav.lines, 1):
            f = line.split(None, 1)
            if len(f) == 2 and f[1].startswith(b"~"):
                raise DataDirError(f"{wav.path}:{i}: please do not use tilde (~) in your wav.scp")


def segment_spans(segments: Table) -> list[tuple[int, bytes, bytes, float, float]]:
    """(line, utt, reco, start, end) of each line of segments: four fields, the end after the start
    (or -1, "to the end of the recording"); else an error naming the line."""
    spans = []
    for i, line in enumerate(segments.lines, 1):
        f = line.split()
        try:
            if len(f) != 4:
                raise ValueError
            start, end = float(f[2]), float(f[3])
        except ValueError:
            raise DataDirError(f"{segments.path}:{i}: bad line in segments file '{show_line(line)}' "
                               f"(expected 'utt reco start end')") from None
        if start < 0 or (end <= start and end != -1):
            raise DataDirError(f"{segments.path}:{i}: bad line in segments file '{show_line(line)}' "
                               f"(the end must be after the start)")
        spans.append((i, f[0], f[1], start, end))
    return spans


def _safe(check):
    def f(v):
        try:
            return check(v)
        except ValueError:
            return False
    return f
