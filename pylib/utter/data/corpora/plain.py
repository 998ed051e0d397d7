"""A plain corpus: a folder tree of audio files in any layout -> a Kaldi data dir.

Files: every file under the root (hidden ones skipped) whose extension is one soundfile reads
(``extensions``: wav, flac, ogg, mp3 ...), plus those decoded through an ffmpeg pipe
(``ffmpeg_extensions``: m4a, aac, mp4 ...); other files are counted in the log and left out.

Speaker rule (``speaker``):

``none``        no labels: every recording is its own speaker (self-supervised training needs
                none); with segments, the segments of one recording share its speaker
``dir:N``       the N-th directory of the path below the root: 1 the top level, 2 the next ...,
                -1 the file's own directory, -2 the one above it
``regex:RE``    the group ``spk`` (or else group 1) of RE searched in the path relative to the
                root, e.g. ``regex:^([^_]+)_`` for ``spk_session_take.wav``
``table:FILE``  lines ``<file> <speaker>``, <file> the path relative to the root (with or
                without its extension; it may hold spaces) or its recording id; a first line
                naming the columns (e.g. ``path speaker``) is skipped, and lines naming no audio
                file of the folder are counted in a warning (one table may serve several folders)

Ids (Kaldi conventions): a recording's id is its path below the root without the extension,
``/`` turned into ``-`` and whitespace into ``_``; an utterance id is prefixed by its speaker
id and ``-`` when it does not start so already. Speaker ids keep ``[A-Za-z0-9._]`` (others
become ``_``), so that sorting utterances also sorts their speakers (``LC_ALL=C``).
``wav.scp`` holds absolute paths, a ``cat '<path>' |`` pipe for a path with whitespace (which
scp files cannot hold), and ``ffmpeg ... |`` pipes for ffmpeg inputs.

Segments (``segments``): a Kaldi segments file ``<segment> <file> <start> <end>`` whose
<file> names a recording by its path below the root (with or without extension) or its
recording id; end -1 runs to the end of the recording. Recordings no segment names are left out
(counted in the log).
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import soundfile

from utter.data.corpora import CorpusError, count_summary, format_seconds, log, require_dir, write_data_dir

#: Extensions read by soundfile (libsndfile) directly.
SOUNDFILE_EXTENSIONS = ("wav", "flac", "ogg", "oga", "opus", "mp3", "aif", "aiff", "aifc", "au", "snd", "caf",
                        "w64", "rf64", "sph", "nist")
#: Extensions decoded through an ffmpeg pipe.
FFMPEG_EXTENSIONS = ("m4a", "aac", "mp4", "webm", "wma", "mkv", "amr", "3gp", "mov")

_SPK_BAD = re.compile(r"[^A-Za-z0-9._]")
_UTT_BAD = re.compile(r"\s")
#: the column names of a speaker table's header line: the file's, then the speaker's
_HEADER_FILE = re.compile(r"(?i)(path|file|file_?(name|path)|utt|utt_?id|utterance|utterance_?id|reco|reco_?id|"
                          r"recording|recording_?id|wav|audio)")
_HEADER_SPK = re.compile(r"(?i)(speaker|spk)(_?(id|name|label))?|label")


@dataclass(frozen=True)
class AudioFile:
    path: Path       # absolute
    rel: str         # relative to its root, '/'-separated
    root: Path
    reco: str        # recording id
    ffmpeg: bool


def speaker_id(text: str) -> str:
    """A speaker label made safe for Kaldi sorting: characters outside ``[A-Za-z0-9._]`` become ``_``."""
    out = _SPK_BAD.sub("_", text.strip())
    return out or "_"


def recording_id(rel: str) -> str:
    """``a/b c/d.flac`` -> ``a-b_c-d``: the path below the root, extension dropped."""
    stem = rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel
    return _UTT_BAD.sub("_", stem.replace("/", "-"))


def _split_exts(value: str | Sequence[str]) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(e.strip().lower().lstrip(".") for e in items if e.strip())


def _check_utf8(path: Path) -> None:
    """A file name that is not UTF-8 (a Latin-1 byte from another system: Python keeps it as a surrogate)
    cannot go into the data dir's UTF-8 tables: a CorpusError naming the file and the byte, not a
    UnicodeEncodeError naming nothing when the tables are written."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        byte = text[e.start].encode("utf-8", "surrogateescape")
        raise CorpusError(f"{shown}: the name is not UTF-8 (byte 0x{byte.hex()}, shown as \\x{byte.hex()}), and the "
                          "data dir's tables are: rename it (convmv -f latin1 -t utf-8 -r --notest FOLDER converts "
                          "a folder of Latin-1 names)") from None


def _same_id(other: AudioFile, path: Path, rel: str, root: Path, reco: str) -> str:
    """Why two audio files get one recording id, in words (the error of :func:`scan`)."""
    if other.rel == rel:
        why = (f"the same path {rel} under two audio folders ({other.root} and {root}); recording ids are "
               "the paths below their folder: give the one folder above both, or rename one of them")
    elif _strip_ext(other.rel) == _strip_ext(rel):
        why = "two files whose paths differ only in extension: keep one of them"
    else:
        why = "two paths that differ only in '/' versus '-' or in white space: rename one of them"
    return f"{path}: its recording id '{reco}' is also that of {other.path} ({why})"


def scan(roots: Sequence[Path], extensions: Sequence[str], ffmpeg_extensions: Sequence[str]) -> list[AudioFile]:
    """Every audio file under the roots (sorted by recording id); the rest counted in the log."""
    exts, fexts = set(extensions), set(ffmpeg_extensions)
    found: dict[str, AudioFile] = {}
    skipped: Counter[str] = Counter()
    for root in roots:
        root = require_dir(Path(root).absolute(), "corpus audio folder")
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
                if ext not in exts and ext not in fexts:
                    skipped["." + ext if ext else "(no extension)"] += 1
                    continue
                path = Path(dirpath) / name
                rel = path.relative_to(root).as_posix()
                _check_utf8(path)
                reco = recording_id(rel)
                if reco in found:
                    raise CorpusError(_same_id(found[reco], path, rel, root, reco))
                found[reco] = AudioFile(path, rel, root, reco, ext in fexts)
    if skipped:
        log.info("left out %d files that are not audio of the listed extensions (%s)", sum(skipped.values()),
                 count_summary(skipped))
    if not found:
        raise CorpusError(f"{', '.join(map(str, roots))}: no audio files with extensions "
                          f"{', '.join(sorted(exts | fexts))}")
    return [found[k] for k in sorted(found, key=lambda s: s.encode("utf-8", "surrogateescape"))]


def wav_entry(f: AudioFile, sample_rate: int = 0) -> str:
    """The ``wav.scp`` value of a file: its path, a ``cat`` pipe (whitespace) or an ffmpeg pipe."""
    text = str(f.path)
    if f.ffmpeg:
        rate = f" -ar {sample_rate}" if sample_rate else ""
        return f"ffmpeg -v 8 -i {shlex.quote(text)}{rate} -f wav -acodec pcm_s16le - |"
    if any(c.isspace() for c in text):
        return f"cat {shlex.quote(text)} |"
    return text


def entry_path(entry: str) -> str | None:
    """The audio file a ``wav.scp`` value reads: the value itself, or the input of a ``cat`` or
    ``ffmpeg -i`` pipe, or else the first argument of a pipe that is an existing file."""
    entry = entry.strip()
    if not entry.endswith("|"):
        return entry
    try:
        words = shlex.split(entry[:-1])
    except ValueError:
        words = entry[:-1].split()
    if "-i" in words[:-1]:
        return words[words.index("-i") + 1]
    if words and words[0] == "cat" and len(words) == 2:
        return words[1]
    return next((w for w in words[1:] if os.path.isfile(w)), None)


# ---------------------------------------------------------------- speaker rules

def _strip_ext(rel: str) -> str:
    head, _, last = rel.rpartition("/")
    if "." in last:
        last = last.rsplit(".", 1)[0]
    return f"{head}/{last}" if head else last


def is_header(fields: Sequence[str]) -> bool:
    """Whether a speaker table line's two fields are column names (``path speaker``, ``file spk`` ...)."""
    return len(fields) == 2 and bool(_HEADER_FILE.fullmatch(fields[0])) \
        and bool(_HEADER_SPK.fullmatch(fields[1]))


class SpeakerRule:
    """``speaker(file) -> label or None`` for one of the rules of the module doc."""

    def __init__(self, spec: str):
        self.spec = spec = spec.strip()
        kind, _, arg = spec.partition(":")
        self.kind = kind
        self.table: dict[str, str] = {}
        self.table_lines: dict[str, int] = {}   # table key -> its line
        self.table_path: Path | None = None
        if kind == "none" and not arg:
            return
        if kind == "dir":
            try:
                self.level = int(arg)
            except ValueError:
                raise CorpusError(f"speaker rule '{spec}': dir:N needs a whole number N (1: the top-level "
                                  "directory, -1: the file's own directory)") from None
            if self.level == 0:
                raise CorpusError(f"speaker rule '{spec}': N must not be 0 (1: the top level, -1: the file's folder)")
            return
        if kind == "regex":
            try:
                self.regex = re.compile(arg)
            except re.error as e:
                raise CorpusError(f"speaker rule '{spec}': not a valid regular expression ({e})") from None
            if self.regex.groups < 1:
                raise CorpusError(f"speaker rule '{spec}': the expression needs a group, (?P<spk>...) or (...), "
                                  "that captures the speaker")
            return
        if kind == "table":
            path = Path(arg)
            if not path.is_file():
                raise CorpusError(f"speaker rule '{spec}': {path}: no such file")
            self.table_path = path
            first = True
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                for lineno, line in enumerate(f, 1):
                    if not line.strip() or line.lstrip().startswith("#"):
                        continue
                    fields = line.strip().rsplit(None, 1)   # the file may hold spaces, the speaker not
                    if first and is_header(fields):
                        log.info("skipped the header line %d of %s (%s)", lineno, path, " ".join(fields))
                        first = False
                        continue
                    first = False
                    if len(fields) != 2:
                        raise CorpusError(f"{path}:{lineno}: expected '<file> <speaker>', got '{line.rstrip()}'")
                    key = fields[0].removeprefix("./")
                    if key in self.table:
                        raise CorpusError(f"{path}:{lineno}: '{fields[0]}' is listed twice")
                    self.table[key] = fields[1]
                    self.table_lines[key] = lineno
            return
        raise CorpusError(f"speaker rule '{spec}': expected none, dir:N, regex:EXPR or table:FILE")

    @property
    def labelled(self) -> bool:
        return self.kind != "none"

    def check_table(self, files: Sequence[AudioFile], roots: Sequence[Path]) -> None:
        """Table lines that name no audio file of ``files``: counted in a warning naming the first's line.

        Not an error: one lab table may serve several folders (evaluation, back-end); a file of the
        folders that the table lacks is the error (``no speaker for``).
        """
        if self.kind != "table":
            return
        known = {key for f in files for key in (f.rel, _strip_ext(f.rel), f.reco)}
        unknown = [key for key in self.table if key not in known]
        if unknown:
            log.warning("%s: %d of its %d lines name no audio file under %s (first: line %d, '%s'); they are "
                        "not used (a table names files by their path below the folder, with or without "
                        "extension, or by recording id)", self.table_path, len(unknown), len(self.table),
                        ", ".join(map(str, roots)), self.table_lines[unknown[0]], unknown[0])

    def __call__(self, f: AudioFile) -> str:
        if self.kind == "dir":
            dirs = f.rel.split("/")[:-1]
            i = self.level - 1 if self.level > 0 else len(dirs) + self.level
            if not 0 <= i < len(dirs):
                raise CorpusError(f"{f.path}: speaker rule '{self.spec}' names directory {self.level} but the "
                                  f"file has {len(dirs)} directories below {f.root}")
            return speaker_id(dirs[i])
        if self.kind == "regex":
            m = self.regex.search(f.rel)
            if m is None:
                raise CorpusError(f"{f.path}: speaker rule '{self.spec}' does not match its path '{f.rel}'")
            spk = m.group("spk") if "spk" in self.regex.groupindex else m.group(1)
            if not spk:
                raise CorpusError(f"{f.path}: speaker rule '{self.spec}' captures an empty speaker in '{f.rel}'")
            return speaker_id(spk)
        if self.kind == "table":
            for key in (f.rel, _strip_ext(f.rel), f.reco):
                if key in self.table:
                    return speaker_id(self.table[key])
            raise CorpusError(f"{f.path}: no speaker for '{f.rel}' in {self.spec[len('table:'):]}")
        return f.reco  # none: the recording is its own speaker (its only utterance has the same id)


def _prefixed(spk: str, utt: str) -> str:
    return utt if utt == spk or utt.startswith(spk + "-") else f"{spk}-{utt}"


# ---------------------------------------------------------------- segments

def read_segments(path: Path, files: Sequence[AudioFile]) -> list[tuple[int, str, AudioFile, float, float]]:
    """(line, segment name, file, start, end) of a segments file naming files of the corpus."""
    by_key: dict[str, AudioFile] = {}
    for f in files:
        for key in (f.rel, _strip_ext(f.rel), f.reco):
            by_key.setdefault(key, f)
    out = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            fields = line.split()
            if len(fields) != 4:
                raise CorpusError(f"{path}:{lineno}: expected '<segment> <file> <start> <end>', got '{line.rstrip()}'")
            seg, name = fields[0], fields[1].removeprefix("./")
            try:
                start, end = float(fields[2]), float(fields[3])
            except ValueError:
                raise CorpusError(f"{path}:{lineno}: start and end must be seconds, got '{fields[2]} {fields[3]}'") \
                    from None
            if start < 0 or (end != -1 and end <= start):
                raise CorpusError(f"{path}:{lineno}: segment '{seg}' has start {start} and end {end} "
                                  "(need 0 <= start < end, or end -1)")
            f = by_key.get(name)
            if f is None:
                raise CorpusError(f"{path}:{lineno}: '{fields[1]}' is not an audio file of the corpus")
            if seg in seen:
                raise CorpusError(f"{path}:{lineno}: segment '{seg}' also on line {seen[seg]}")
            seen[seg] = lineno
            out.append((lineno, seg, f, start, end))
    if not out:
        raise CorpusError(f"{path}: empty segments file")
    return out


# ---------------------------------------------------------------- the data dir

def prepare_plain(roots: Path | Sequence[Path], out_dir: Path, *, speaker: str = "none",
                  segments: Path | None = None, extensions: str | Sequence[str] = SOUNDFILE_EXTENSIONS,
                  ffmpeg_extensions: str | Sequence[str] = FFMPEG_EXTENSIONS, sample_rate: int = 16000,
                  durations: bool = True, require_ffmpeg: bool = True) -> Path:
    """Write the data dir of the audio under ``roots`` (one folder or several) to ``out_dir``:
    ``wav.scp``, ``utt2spk``, ``spk2utt``, ``utt2dur`` (unless ``durations`` is false or a file
    needs ffmpeg) and ``segments`` when given. ``sample_rate`` only goes into the ffmpeg
    pipes; files at other rates are counted in the log (the feature stage resamples them)."""
    roots = [Path(roots)] if isinstance(roots, (str, os.PathLike)) else [Path(r) for r in roots]
    if not roots:
        raise CorpusError("no audio folder given")
    rule = SpeakerRule(speaker)
    files = scan(roots, _split_exts(extensions), _split_exts(ffmpeg_extensions))
    rule.check_table(files, roots)
    need_ffmpeg = [f for f in files if f.ffmpeg]
    if need_ffmpeg and require_ffmpeg and not shutil.which("ffmpeg"):
        raise CorpusError(f"{need_ffmpeg[0].path}: {len(need_ffmpeg)} files need ffmpeg to be decoded, and ffmpeg "
                          "is not on PATH (install it, or leave them out with --ffmpeg-extensions '')")

    info: dict[str, tuple[float, int, int]] = {}   # reco -> (seconds, rate, channels), soundfile files only
    if durations:
        for f in files:
            if f.ffmpeg:
                continue
            try:
                i = soundfile.info(str(f.path))
            except (RuntimeError, soundfile.LibsndfileError) as e:
                raise CorpusError(f"{f.path}: not readable as audio: {e}") from None
            if i.frames <= 0:
                raise CorpusError(f"{f.path}: empty audio file (0 samples)")
            info[f.reco] = (i.frames / i.samplerate, int(i.samplerate), int(i.channels))
        rates = Counter(r for _, r, _ in info.values())
        other = {r: n for r, n in rates.items() if r != sample_rate}
        if other:
            log.info("%d files are not at %d Hz (%s): the feature stage resamples them (steps/make_fbank.sh "
                     "--allow-resample true)", sum(other.values()), sample_rate,
                     ", ".join(f"{n} at {r} Hz" for r, n in sorted(other.items())))
        multi = sum(1 for _, _, c in info.values() if c > 1)
        if multi:
            log.info("%d files have more than one channel: the feature stage reads channel 0", multi)

    tables: dict[str, dict[str, str]] = {"wav.scp": {}, "utt2spk": {}}
    spk_of_file = {f.reco: rule(f) for f in files}
    if segments is None:
        utt2dur = {}
        for f in files:
            spk = spk_of_file[f.reco]
            utt = _prefixed(spk, f.reco)
            tables["wav.scp"][utt] = wav_entry(f, sample_rate)
            tables["utt2spk"][utt] = spk
            if f.reco in info:
                utt2dur[utt] = format_seconds(info[f.reco][0])
        if utt2dur and len(utt2dur) == len(files):
            tables["utt2dur"] = utt2dur
    else:
        segs = read_segments(Path(segments), files)
        seg_table, utt2dur, used = {}, {}, set()
        for lineno, seg, f, start, end in segs:
            spk = spk_of_file[f.reco] if rule.labelled else speaker_id(f.reco)
            utt = _prefixed(spk, _UTT_BAD.sub("_", seg))
            if utt in seg_table:
                raise CorpusError(f"{segments}:{lineno}: segment '{seg}' gives utterance id '{utt}' twice")
            if f.reco in info and start >= info[f.reco][0]:
                raise CorpusError(f"{segments}:{lineno}: segment '{seg}' starts at {start} s, after the end of "
                                  f"{f.path} ({info[f.reco][0]:.3f} s)")
            seg_table[utt] = f"{f.reco} {start:g} {end:g}"
            tables["utt2spk"][utt] = spk
            used.add(f.reco)
            if end != -1:
                utt2dur[utt] = format_seconds(end - start)
            elif f.reco in info:
                utt2dur[utt] = format_seconds(info[f.reco][0] - start)
        unused = len(files) - len(used)
        if unused:
            log.info("%d of %d audio files have no segment in %s and are left out", unused, len(files), segments)
        tables["wav.scp"] = {f.reco: wav_entry(f, sample_rate) for f in files if f.reco in used}
        tables["segments"] = seg_table
        if len(utt2dur) == len(seg_table):
            tables["utt2dur"] = utt2dur
    spks = set(tables["utt2spk"].values())
    what = "speakers" if rule.labelled else "speakers (one per recording: no labels)"
    log.info("%s: %d utterances, %d %s, from %d files under %s", out_dir, len(tables["utt2spk"]), len(spks),
             what, len(tables["wav.scp"]), ", ".join(map(str, roots)))
    if "utt2dur" in tables:
        d = [float(v) for v in tables["utt2dur"].values()]
        log.info("%s: %.1f hours, utterances of %.2f-%.2f s (median %.2f s)", out_dir, sum(d) / 3600, min(d),
                 max(d), sorted(d)[len(d) // 2])
    write_data_dir(Path(out_dir), tables)
    return Path(out_dir)
