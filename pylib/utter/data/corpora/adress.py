"""ADReSS (Interspeech 2020): Alzheimer's detection data dirs from audio, meta files and CHAT.

Layout read (``ADReSS-IS2020-data``): ``train/Full_wave_enhanced_audio/{cc,cd}/SNNN.wav``,
``train/Transcription/{cc,cd}/SNNN.cha``, ``train/{cc,cd}_meta_data.txt``;
``test/Full_wave_enhanced_audio/SNNN.wav``, ``test/Transcription/SNNN.cha``,
``test/meta_data.txt``, and the test labels (``meta_data_test.txt``: ``ID; age; gender;
Label; mmse`` with Label 0 = cc, 1 = cd). Meta files are ``;``-separated with padded fields
(``S079 ; 59; male ; 11``), a missing MMSE written ``NA``. The test files code gender as
0/1; we read 0 as male and 1 as female (see :data:`TEST_GENDER_CODES`) and check that
against the sex field of each transcript's ``@ID`` line, warning on any disagreement.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from utter.data.corpora import (
    CorpusError,
    audio_durations,
    count_summary,
    find_child,
    format_seconds,
    log,
    require_dir,
    require_file,
    scp_path,
    stable_hash,
    warn_banner,
    write_data_dir,
    write_folds,
)

LABELS = ("cc", "cd")
#: Numeric gender codes of the test meta files. Not stated in the challenge README; this is how
#: public users of the data read them, and every run checks it against the CHAT @ID sex field.
TEST_GENDER_CODES = {"0": "m", "1": "f"}
GENDER_WORDS = {"male": "m", "m": "m", "female": "f", "f": "f"}
#: Names the test labels file is known by, tried in this order under the corpus root.
TEST_LABEL_FILES = ("test/meta_data_test.txt", "meta_data_test.txt", "test/test_labels.txt",
                    "test/meta_data_with_labels.txt")
SPEAKER_RE = re.compile(r"^S\d+$")
BULLET_RE = re.compile("[\x15\u00b7](\\d+)_(\\d+)[\x15\u00b7]")


# ----------------------------------------------------------------------------- meta files
def read_meta(path: Path) -> dict[str, dict[str, str]]:
    """Read a ``;``-separated meta file with a header line: speaker -> {column: value}.

    Column names are lower-cased and stripped (``ID   ``, `` age``, ``gender ``, ``mmse``,
    ``Label`` ...); trailing empty fields (a final ``;``) are ignored.
    """
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    numbered = [(i, line) for i, line in enumerate(lines, 1) if line.strip()]
    if not numbered:
        raise CorpusError(f"{path}: empty meta file")
    hline, header_text = numbered[0]
    header = [h.strip().lower() for h in header_text.split(";")]
    while header and header[-1] == "":
        header.pop()
    if not header or header[0] != "id":
        raise CorpusError(f"{path}:{hline}: expected a header line starting with 'ID', got '{header_text}'")
    meta: dict[str, dict[str, str]] = {}
    for lineno, line in numbered[1:]:
        fields = [x.strip() for x in line.split(";")]
        while len(fields) > len(header) and fields[-1] == "":
            fields.pop()
        if len(fields) != len(header):
            raise CorpusError(f"{path}:{lineno}: expected {len(header)} ';'-separated fields "
                              f"({'; '.join(header)}), got {len(fields)}: '{line}'")
        if not SPEAKER_RE.match(fields[0]):
            raise CorpusError(f"{path}:{lineno}: speaker id '{fields[0]}' is not of the form SNNN")
        if fields[0] in meta:
            raise CorpusError(f"{path}:{lineno}: duplicate speaker '{fields[0]}'")
        row = dict(zip(header, fields))
        row["_where"] = f"{path}:{lineno}"
        meta[fields[0]] = row
    return meta


def _column(row: dict[str, str], *names: str) -> str | None:
    for n in names:
        if n in row:
            return row[n]
    return None


def parse_gender(value: str, where: str, numeric: bool) -> str:
    v = value.strip().lower()
    if v in GENDER_WORDS:
        return GENDER_WORDS[v]
    if numeric and v in TEST_GENDER_CODES:
        return TEST_GENDER_CODES[v]
    raise CorpusError(f"{where}: gender '{value}' is not male/female" + (" or 0/1" if numeric else ""))


def parse_mmse(value: str | None, where: str) -> str | None:
    """MMSE as written (an integer 0-30), or None for ``NA`` / empty."""
    if value is None or value.strip().upper() in ("", "NA", "NAN"):
        return None
    try:
        score = float(value)
    except ValueError:
        raise CorpusError(f"{where}: MMSE '{value}' is not a number or NA") from None
    if not 0 <= score <= 30:
        raise CorpusError(f"{where}: MMSE {value} is outside 0-30")
    return str(int(score)) if score == int(score) else str(score)


def parse_label(value: str, where: str) -> str:
    v = value.strip().lower()
    if v in ("0", "cc", "control"):
        return "cc"
    if v in ("1", "cd", "ad", "dementia"):
        return "cd"
    raise CorpusError(f"{where}: label '{value}' is not 0/1 or cc/cd")


# ----------------------------------------------------------------------------- CHAT
@dataclass
class ChatUtterance:
    speaker: str  # tier code: PAR, INV ...
    raw: str  # the tier text, continuation lines joined, bullets removed
    start: float | None  # seconds, from the timing bullet
    end: float | None
    lineno: int


@dataclass
class ChatTranscript:
    path: Path
    ids: dict[str, list[str]] = field(default_factory=dict)  # tier code -> @ID fields
    utterances: list[ChatUtterance] = field(default_factory=list)

    def participant(self, code: str = "PAR") -> list[ChatUtterance]:
        return [u for u in self.utterances if u.speaker == code]

    def sex(self, code: str = "PAR") -> str | None:
        fields = self.ids.get(code)
        if fields and len(fields) > 4 and fields[4].strip().lower() in GENDER_WORDS:
            return GENDER_WORDS[fields[4].strip().lower()]
        return None


def parse_chat(path: Path) -> ChatTranscript:
    """Read a CHAT transcript: ``@ID`` headers and main tiers (``*PAR:``) with their bullets.

    Continuation lines (starting with a tab) join the tier above; dependent tiers (``%mor:``
    ...) are skipped. A main tier without the ``*CODE:`` form is an error naming file:line.
    """
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    tr = ChatTranscript(Path(path))
    current: list | None = None  # [speaker, text, lineno] of the main tier being read
    in_dependent = False

    def flush():
        if current is not None:
            spk, body, lineno = current
            stamps = BULLET_RE.findall(body)
            start = int(stamps[0][0]) / 1000 if stamps else None
            end = int(stamps[-1][1]) / 1000 if stamps else None
            raw = " ".join(BULLET_RE.sub(" ", body).split())
            tr.utterances.append(ChatUtterance(spk, raw, start, end, lineno))

    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith("\t") or (line.startswith(" ") and line.strip()):
            if current is not None and not in_dependent:
                current[1] += " " + line.strip()
            continue
        if line.startswith("*"):
            flush()
            m = re.match(r"^\*([A-Za-z0-9]+):\s?(.*)$", line)
            if not m:
                raise CorpusError(f"{path}:{lineno}: malformed main tier (expected '*CODE:<TAB>text'): '{line}'")
            current, in_dependent = [m.group(1), m.group(2), lineno], False
        elif line.startswith("%"):
            in_dependent = True
        elif line.startswith("@"):
            flush()
            current, in_dependent = None, False
            if line.startswith("@ID:"):
                fields = line[4:].strip().split("|")
                if len(fields) < 8:
                    raise CorpusError(f"{path}:{lineno}: malformed @ID line (expected "
                                      f"lang|corpus|code|age|sex|group|SES|role|...): '{line}'")
                tr.ids[fields[2].strip()] = fields
        elif line.strip():
            raise CorpusError(f"{path}:{lineno}: unexpected line in CHAT transcript: '{line}'")
    flush()
    return tr


_DROP_TOKENS = {"xxx", "yyy", "www", "xx", "yy"}
_DROP_CHARS = str.maketrans("", "", "<>()‡„“”\"≈↫⌈⌉⌊⌋↑↓:^")


def clean_chat_text(raw: str) -> str:
    """The words of a CHAT tier without its markup.

    Removed: timing bullets, every ``[...]`` code (retracing ``[/]`` ``[//]``, errors ``[* ...]``,
    replacements ``[: ...]``, postcodes ``[+ ...]``), pauses ``(.)`` ``(1.5)``, ``&`` tokens
    (fillers ``&-uh`` ``&uh``, fragments ``&+fr``, events ``&=laughs``), ``+`` terminators and
    linkers (``+...``, ``+//.``), unintelligible ``xxx``/``yyy``/``www``, omitted ``0word``,
    ``@`` form markers, scope ``< >``, prolongation ``:`` and final punctuation. The retraced
    words themselves are kept: they were spoken. ``(be)cause`` becomes ``because``;
    compounds ``ice+cream`` and ``cookie_jar`` become two words.
    """
    s = BULLET_RE.sub(" ", raw)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\(\.+\)", " ", s)
    s = re.sub(r"\(\d+(?::\d+)?(?:\.\d*)?\)", " ", s)
    words = []
    for tok in s.split():
        if tok.startswith(("&", "+", "0")):
            continue
        tok = re.sub(r"@\S*$", "", tok).translate(_DROP_CHARS)
        tok = tok.rstrip(".?!,;").lstrip(",;")
        for part in re.split(r"[+_]", tok):
            if part and part.lower() not in _DROP_TOKENS and re.search(r"\w", part):
                words.append(part)
    return " ".join(words)


# ----------------------------------------------------------------------------- corpus
@dataclass
class Speaker:
    sid: str
    label: str | None
    age: str | None
    gender: str | None
    mmse: str | None
    wav: Path
    cha: Path
    where: str  # meta file:line


def _part_dirs(part_dir: Path) -> tuple[Path, Path]:
    audio = find_child(part_dir, "Full_wave_enhanced_audio")
    trans = find_child(part_dir, "Transcription")
    if audio is None:
        raise CorpusError(f"{part_dir / 'Full_wave_enhanced_audio'}: missing directory (ADReSS audio)")
    if trans is None:
        raise CorpusError(f"{part_dir / 'Transcription'}: missing directory (ADReSS CHAT transcripts)")
    return audio, trans


def _check_files(spk: Speaker) -> None:
    for p, what in ((spk.wav, "audio"), (spk.cha, "transcript")):
        if not p.is_file():
            raise CorpusError(f"{spk.where}: speaker {spk.sid} has no {what}: {p} is missing")


def _strays(directory: Path, suffix: str, known: set[str]) -> list[str]:
    return sorted(p.stem for p in directory.glob(f"*{suffix}") if not p.name.startswith(".") and p.stem not in known)


def read_train(root: Path) -> list[Speaker]:
    """The training speakers from ``train/{cc,cd}_meta_data.txt`` with their audio and transcript."""
    part = require_dir(root / "train", "ADReSS training part")
    audio, trans = _part_dirs(part)
    speakers = []
    for label in LABELS:
        meta = read_meta(require_file(part / f"{label}_meta_data.txt", f"ADReSS {label} meta data"))
        adir = require_dir(audio / label, f"ADReSS {label} audio")
        tdir = require_dir(trans / label, f"ADReSS {label} transcripts")
        for sid, row in meta.items():
            where = row["_where"]
            g = _column(row, "gender", "sex")
            spk = Speaker(sid, label, _column(row, "age"), parse_gender(g, where, numeric=True) if g else None,
                          parse_mmse(_column(row, "mmse"), where), adir / f"{sid}.wav", tdir / f"{sid}.cha", where)
            _check_files(spk)
            speakers.append(spk)
        strays = _strays(adir, ".wav", set(meta))
        if strays:
            log.warning("%s: %d recordings not in the meta file, skipped: %s", adir, len(strays), " ".join(strays))
    ids = Counter(s.sid for s in speakers)
    both = [s for s, n in ids.items() if n > 1]
    if both:
        raise CorpusError(f"{part}: speaker(s) {' '.join(both)} listed in both cc and cd meta files")
    return speakers


def read_test(root: Path, labels_file: Path | None) -> tuple[list[Speaker], bool]:
    """The test speakers from ``test/meta_data.txt``, labelled from the test labels file if found."""
    part = require_dir(root / "test", "ADReSS test part")
    audio, trans = _part_dirs(part)
    meta = read_meta(require_file(part / "meta_data.txt", "ADReSS test meta data"))
    if labels_file is None:
        labels_file = next((root / n for n in TEST_LABEL_FILES if (root / n).is_file()), None)
    elif not Path(labels_file).is_file():
        raise CorpusError(f"{labels_file}: missing file (ADReSS test labels)")
    labels = read_meta(Path(labels_file)) if labels_file else {}
    if labels_file is None:
        warn_banner(f"No ADReSS test labels file under {root} (tried {', '.join(TEST_LABEL_FILES)}):\n"
                    f"the test data dir is written without utt2label and utt2mmse.")
    else:
        missing = sorted(set(meta) - set(labels))
        if missing:
            raise CorpusError(f"{labels_file}: no row for test speaker(s) {' '.join(missing)}")
        if labels and _column(next(iter(labels.values())), "label", "dx", "class") is None:
            raise CorpusError(f"{labels_file}: no 'Label' column in the header")
    speakers = []
    for sid, row in meta.items():
        where = row["_where"]
        lab = labels.get(sid, {})
        g = _column(row, "gender", "sex") or _column(lab, "gender", "sex")
        label = parse_label(_column(lab, "label", "dx", "class"), lab["_where"]) if lab else None
        spk = Speaker(sid, label, _column(row, "age") or _column(lab, "age"),
                      parse_gender(g, where, numeric=True) if g else None,
                      parse_mmse(_column(lab, "mmse"), lab["_where"]) if lab else None,
                      audio / f"{sid}.wav", trans / f"{sid}.cha", where)
        _check_files(spk)
        speakers.append(spk)
    strays = _strays(audio, ".wav", set(meta))
    if strays:
        log.warning("%s: %d recordings not in the meta file, skipped: %s", audio, len(strays), " ".join(strays))
    return speakers, labels_file is not None


def speaker_folds(spk2label: dict[str, str], num_folds: int = 0, seed: int = 0) -> dict[str, list[str]]:
    """Test speakers of each cross-validation fold: one speaker each (``num_folds`` 0), or K groups.

    K groups are stratified by label: each label's speakers, in the order of a fixed hash of
    their ids (``seed`` > 0: of the seed and the id, another draw of the groups), are dealt
    round-robin into the folds, so every fold has both classes.
    """
    spks = sorted(spk2label)
    if num_folds <= 0 or num_folds >= len(spks):
        return {str(k): [s] for k, s in enumerate(spks, 1)}
    folds: list[list[str]] = [[] for _ in range(num_folds)]
    i = 0
    order = stable_hash if seed == 0 else (lambda s: stable_hash(f"{seed}:{s}"))
    for label in sorted(set(spk2label.values())):
        for s in sorted((s for s in spks if spk2label[s] == label), key=order):
            folds[i % num_folds].append(s)
            i += 1
    return {str(k): sorted(f) for k, f in enumerate(folds, 1)}


def _tables(speakers: list[Speaker], segments: bool, name: str) -> tuple[dict, dict[str, str]]:
    """The data-dir tables of one part, and utt -> speaker."""
    durs = audio_durations({s.sid: s.wav for s in speakers}, f"adress {name} durations")
    t: dict[str, dict] = {k: {} for k in ("wav.scp", "utt2spk", "utt2label", "utt2mmse", "utt2age",
                                          "utt2gender", "spk2gender", "text", "text_raw", "utt2dur")}
    if segments:
        t["segments"], t["reco2dur"] = {}, {}
    stats = Counter()
    for spk in speakers:
        tr = parse_chat(spk.cha)
        if "PAR" not in tr.ids and not tr.participant():
            raise CorpusError(f"{spk.cha}: no participant (*PAR:) tier")
        sex = tr.sex()
        if spk.gender is None and sex is not None:
            spk.gender = sex
        elif sex is not None and sex != spk.gender:
            stats["gender_mismatch"] += 1
            log.warning("%s: gender '%s' but %s's @ID says '%s'", spk.where, spk.gender, spk.cha.name, sex)
        par = tr.participant()
        t["wav.scp"][spk.sid] = scp_path(spk.wav)
        if spk.gender:
            t["spk2gender"][spk.sid] = spk.gender
        if segments:
            t["reco2dur"][spk.sid] = format_seconds(durs[spk.sid])
            units = []
            for u in par:
                if u.start is None:
                    stats["no_bullet"] += 1
                    continue
                end = min(u.end, durs[spk.sid])
                if end <= u.start:
                    stats["empty_or_past_end"] += 1
                    log.warning("%s:%d: segment %.3f-%.3f s is empty or past the recording's end (%.3f s), skipped",
                                spk.cha, u.lineno, u.start, u.end, durs[spk.sid])
                    continue
                units.append((f"{spk.sid}-{len(units):04d}", u, u.start, end))
        else:
            units = [(spk.sid, None, None, durs[spk.sid])]
        for utt, u, start, end in units:
            if segments:
                t["segments"][utt] = f"{spk.sid} {format_seconds(start)} {format_seconds(end)}"
                t["utt2dur"][utt] = format_seconds(end - start)
                raws = [u.raw]
            else:
                t["utt2dur"][utt] = format_seconds(end)
                raws = [x.raw for x in par]
            t["utt2spk"][utt] = spk.sid
            t["text_raw"][utt] = " ".join(raws)
            t["text"][utt] = " ".join(w for w in (clean_chat_text(r) for r in raws) if w)
            if spk.label:
                t["utt2label"][utt] = spk.label
            if spk.mmse is not None:
                t["utt2mmse"][utt] = spk.mmse
            if spk.age:
                t["utt2age"][utt] = spk.age
            if spk.gender:
                t["utt2gender"][utt] = spk.gender
    no_mmse = sorted(s.sid for s in speakers if s.label is not None and s.mmse is None)
    if no_mmse:
        log.info("%s: %d speaker(s) without MMSE (NA), left out of utt2mmse: %s", name, len(no_mmse), " ".join(no_mmse))
    if stats:
        log.info("%s: %s", name, count_summary(stats))
    if stats["gender_mismatch"]:
        warn_banner(f"ADReSS {name}: {stats['gender_mismatch']} speaker(s) whose meta gender disagrees with the "
                    f"transcript's @ID line. If these are test speakers, the 0/1 gender code may be the other way "
                    f"round: check TEST_GENDER_CODES in utter.data.corpora.adress.")
    if not t["utt2spk"]:
        raise CorpusError(f"ADReSS {name}: no participant utterance with a timing bullet to cut segments from")
    for key in [k for k, v in t.items() if not v and k not in ("text", "text_raw")]:
        del t[key]
    utt2spk = t["utt2spk"]
    return t, utt2spk


def prepare_adress(root: Path, data: Path, segments: bool = False, cv_folds: int = 0,
                   test_labels: Path | None = None, partition_seeds: Sequence[int] = ()) -> dict[str, Path]:
    """Write ``data/adress_train`` (with ``folds/<k>/{train,test}``) and ``data/adress_test``.

    One utterance per recording (id ``SNNN``), or with ``segments`` one per participant
    utterance with a timing bullet (``SNNN-NNNN``, numbered from 0000 in transcript order),
    each carrying its recording's labels. Each of ``partition_seeds`` adds another draw of the
    speaker groups in ``folds_p<seed>`` (the folds of a replicated pretraining seed).
    """
    root, data = Path(root), Path(data)
    require_dir(root, "ADReSS root (ADReSS-IS2020-data)")
    written = {}
    train = read_train(root)
    log.info("ADReSS train: %d speakers (%s)", len(train), count_summary(Counter(s.label for s in train)))
    tables, utt2spk = _tables(train, segments, "train")
    write_data_dir(data / "adress_train", tables)
    for seed in (0, *partition_seeds):
        folds = speaker_folds({s.sid: s.label for s in train}, cv_folds, seed)
        fold_lists = {}
        for k, test_spks in folds.items():
            held = set(test_spks)
            fold_lists[k] = {"train": sorted(u for u, s in utt2spk.items() if s not in held),
                             "test": sorted(u for u, s in utt2spk.items() if s in held)}
        write_folds(data / "adress_train", fold_lists, "folds" if seed == 0 else f"folds_p{seed}")
    log.info("adress_train: %d cross-validation folds (%s)", len(folds),
             "leave one speaker out" if len(folds) == len(train) else "speakers grouped, stratified by label")
    written["adress_train"] = data / "adress_train"
    if (root / "test").is_dir():
        test, labelled = read_test(root, test_labels)
        log.info("ADReSS test: %d speakers%s", len(test),
                 f" ({count_summary(Counter(s.label for s in test))})" if labelled else ", unlabelled")
        tables, _ = _tables(test, segments, "test")
        write_data_dir(data / "adress_test", tables)
        written["adress_test"] = data / "adress_test"
    else:
        warn_banner(f"{root / 'test'}: missing directory: only adress_train is written")
    return written
