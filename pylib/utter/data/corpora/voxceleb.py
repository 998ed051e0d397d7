"""VoxCeleb1 and VoxCeleb2: speaker data dirs and Kaldi trial lists.

Layout read: ``<root>/wav/idNNNNN/<video>/NNNNN.wav`` (VoxCeleb1; the dev and test downloads
may also sit in ``<root>/{dev,test}/wav``), ``vox1_meta.csv`` (tab-separated: id, name,
gender, nationality, set), and the trial lists of the VoxCeleb site: ``veri_test.txt`` /
``veri_test2.txt`` (O), ``list_test_all.txt`` / ``list_test_all2.txt`` (E),
``list_test_hard.txt`` / ``list_test_hard2.txt`` (H), the ``2`` files being the cleaned
lists. VoxCeleb2 dev: ``<dev>/aac/idNNNNN/<video>/NNNNN.m4a`` (or a wav copy), with
``vox2_meta.csv`` (comma-separated, padded) beside it or one level up.
Utterance ids are ``idNNNNN-<video>-NNNNN``; the speaker id is the ``idNNNNN`` prefix.
"""
from __future__ import annotations

import re
from collections import Counter, OrderedDict
from pathlib import Path

from utter.data.corpora import (
    CorpusError,
    audio_durations,
    count_summary,
    format_seconds,
    log,
    require_dir,
    scp_path,
    write_data_dir,
)
from utter.data.datadir import write_table
from utter.trials import TrialError, read_trial_list

SPK_RE = re.compile(r"^id\d+$")
TRIAL_PATH_RE = re.compile(r"^(id\d+)/([^/\s]+)/(\d+)\.wav$")

#: Trial list name -> (cleaned file names, original file names) in the corpus root.
TRIAL_FILES = {
    "O": (("veri_test2.txt", "voxceleb1_test_v2.txt"), ("veri_test.txt", "voxceleb1_test.txt")),
    "E": (("list_test_all2.txt",), ("list_test_all.txt",)),
    "H": (("list_test_hard2.txt",), ("list_test_hard.txt",)),
}


def utt_id(spk: str, video: str, stem: str) -> str:
    return f"{spk}-{video}-{stem}"


def read_meta(path: Path) -> dict[str, dict[str, str]]:
    """Read ``vox1_meta.csv`` / ``vox2_meta.csv``: speaker id -> {gender, nationality, set, lang}.

    The first line is the header; the delimiter is a tab if the header has one, else a comma.
    Columns are found by name (``Gender``, ``Nationality``, ``Set``, ``Lang``/``Language``),
    the speaker id is the first column. Values are stripped; spaces inside become ``_``.
    """
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    if not lines:
        raise CorpusError(f"{path}: empty meta file")
    delim = "\t" if "\t" in lines[0] else ","
    header = [h.strip().lower() for h in lines[0].split(delim)]
    cols = {}
    for name, keys in (("gender", ("gender",)), ("nationality", ("nationality",)), ("set", ("set",)),
                       ("lang", ("lang", "language"))):
        for i, h in enumerate(header):
            if h in keys:
                cols[name] = i
    meta: dict[str, dict[str, str]] = {}
    for lineno, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        fields = [x.strip() for x in line.split(delim)]
        while len(fields) > len(header) and fields[-1] == "":
            fields.pop()
        if len(fields) != len(header):
            raise CorpusError(f"{path}:{lineno}: expected {len(header)} fields separated by "
                              f"{'tab' if delim == chr(9) else 'comma'}, got {len(fields)}: '{line}'")
        spk = fields[0]
        if not SPK_RE.match(spk):
            raise CorpusError(f"{path}:{lineno}: speaker id '{spk}' is not of the form idNNNNN")
        if spk in meta:
            raise CorpusError(f"{path}:{lineno}: duplicate speaker '{spk}'")
        row = {name: fields[i].replace(" ", "_") for name, i in cols.items() if fields[i]}
        if "gender" in row:
            g = row["gender"].lower()
            if g not in ("m", "f", "male", "female"):
                raise CorpusError(f"{path}:{lineno}: gender '{row['gender']}' is not m or f")
            row["gender"] = g[0]
        meta[spk] = row
    return meta


def scan_audio(base: Path, ext: str) -> OrderedDict[str, Path]:
    """Utterance id -> path for every ``base/idNNNNN/<video>/NNNNN.<ext>`` file."""
    found: dict[str, Path] = {}
    for spk_dir in sorted(base.iterdir()):
        if not spk_dir.is_dir() or spk_dir.name.startswith("."):
            continue
        if not SPK_RE.match(spk_dir.name):
            raise CorpusError(f"{spk_dir}: unexpected directory: speaker dirs are named idNNNNN")
        for video_dir in sorted(spk_dir.iterdir()):
            if not video_dir.is_dir() or video_dir.name.startswith("."):
                continue
            for f in sorted(video_dir.iterdir()):
                if f.name.startswith(".") or not f.name.endswith("." + ext):
                    continue
                stem = f.name[: -len(ext) - 1]
                if not stem.isdigit():
                    raise CorpusError(f"{f}: unexpected file name: utterances are NNNNN.{ext}")
                found[utt_id(spk_dir.name, video_dir.name, stem)] = f
    return OrderedDict(sorted(found.items()))


def read_trials(path: Path) -> list[tuple[str, str, str, int]]:
    """Read a VoxCeleb trial list (``1 id/video/00001.wav id/video/00002.wav``): the lines are read by
    :func:`utter.trials.read_trial_list` (the one trial parser), the audio paths
    turned into utterance ids here.

    Returns (enroll utt, test utt, target|nontarget, line number) tuples.
    """
    try:
        trials, _ = read_trial_list(path, "voxceleb")
    except TrialError as e:
        raise CorpusError(str(e)) from None
    out = []
    for t in trials:
        utts = []
        for p in (t.enroll, t.test):
            m = TRIAL_PATH_RE.match(p)
            if not m:
                raise CorpusError(f"{path}:{t.lineno}: '{p}' is not of the form idNNNNN/<video>/NNNNN.wav")
            utts.append(utt_id(*m.groups()))
        out.append((utts[0], utts[1], t.label, t.lineno))
    return out


def _spk(utt: str) -> str:
    return utt.split("-", 1)[0]


def _base_tables(utt2path, meta, durations: dict[str, float] | None, wav_entry=None) -> dict:
    tables: dict[str, dict] = {
        "wav.scp": {u: (wav_entry(p) if wav_entry else scp_path(p)) for u, p in utt2path.items()},
        "utt2spk": {u: _spk(u) for u in utt2path},
    }
    if durations is not None:
        tables["utt2dur"] = {u: format_seconds(durations[u]) for u in utt2path}
    for field, table in (("gender", "utt2gender"), ("nationality", "utt2nationality"), ("lang", "utt2lang")):
        values = {u: meta[_spk(u)][field] for u in utt2path if field in meta.get(_spk(u), {})}
        if values:
            if len(values) < len(utt2path):
                log.warning("%s: %d of %d utterances have no %s in the meta file; not written",
                            table, len(utt2path) - len(values), len(utt2path), field)
            else:
                tables[table] = values
    if "utt2gender" in tables:
        tables["spk2gender"] = {_spk(u): g for u, g in tables["utt2gender"].items()}
    return tables


def _subset(tables: dict, utts: set[str]) -> dict:
    out = {}
    for name, table in tables.items():
        if name == "spk2gender":
            spks = {_spk(u) for u in utts}
            out[name] = {s: g for s, g in table.items() if s in spks}
        else:
            out[name] = {u: v for u, v in table.items() if u in utts}
    return out


def _vox1_audio_bases(root: Path) -> list[Path]:
    cands = [root / "wav", root / "dev" / "wav", root / "test" / "wav",
             root / "vox1_dev_wav" / "wav", root / "vox1_test_wav" / "wav"]
    return [c for c in cands if c.is_dir()]


def prepare_voxceleb1(root: Path, data: Path, durations: bool = True) -> dict[str, Path]:
    """Write ``data/voxceleb1`` (all), ``voxceleb1_dev``, ``voxceleb1_test`` and ``voxceleb1_trials``.

    Trials: ``O``, ``E``, ``H`` from the cleaned lists, ``O_orig``, ``E_orig``, ``H_orig`` from
    the original ones, each present list converted to ``enroll test target|nontarget``.
    The O list is required; E and H need the dev part's audio and are skipped with a warning
    when none of it is present. Returns the written paths by name.
    """
    root, data = Path(root), Path(data)
    require_dir(root, "VoxCeleb1 root")
    bases = _vox1_audio_bases(root)
    if not bases:
        raise CorpusError(f"{root / 'wav'}: missing directory (VoxCeleb1 audio: wav/idNNNNN/<video>/NNNNN.wav, "
                          f"or dev/wav and test/wav)")
    utt2path: dict[str, Path] = {}
    for base in bases:
        for u, p in scan_audio(base, "wav").items():
            if u in utt2path:
                raise CorpusError(f"{p}: utterance '{u}' also found at {utt2path[u]}")
            utt2path[u] = p
    if not utt2path:
        raise CorpusError(f"{', '.join(map(str, bases))}: no idNNNNN/<video>/NNNNN.wav files")
    utt2path = OrderedDict(sorted(utt2path.items()))
    speakers = {_spk(u) for u in utt2path}
    log.info("VoxCeleb1: %d utterances of %d speakers under %s", len(utt2path), len(speakers),
             ", ".join(map(str, bases)))

    # Trial lists.
    lists: dict[str, list] = {}
    for name, (cleaned, original) in TRIAL_FILES.items():
        for suffix, candidates in (("", cleaned), ("_orig", original)):
            path = next((root / c for c in candidates if (root / c).is_file()), None)
            if path is not None:
                lists[name + suffix] = [path, read_trials(path)]
    if "O" not in lists and "O_orig" not in lists:
        raise CorpusError(f"{root / 'veri_test2.txt'}: missing file (the VoxCeleb1-O trial list; "
                          f"veri_test.txt, the original list, would do too)")

    meta_path = root / "vox1_meta.csv"
    if meta_path.is_file():
        meta = read_meta(meta_path)
        no_meta = sorted(speakers - set(meta))
        if no_meta:
            raise CorpusError(f"{meta_path}: no row for speaker(s) {', '.join(no_meta[:5])}"
                              f"{' ...' if len(no_meta) > 5 else ''}")
        test_spks = {s for s in speakers if meta[s].get("set", "").lower() == "test"}
        if not any("set" in meta[s] for s in speakers):
            raise CorpusError(f"{meta_path}: no 'Set' column to split dev and test speakers")
    else:
        meta = {}
        o_list = lists.get("O", lists.get("O_orig"))
        test_spks = {_spk(u) for t in o_list[1] for u in t[:2]}
        log.warning("%s not found: test speakers taken from the O trial list (%d speakers); "
                    "no gender or nationality tables", meta_path, len(test_spks))

    durs = audio_durations(utt2path, "voxceleb1 durations") if durations else None
    tables = _base_tables(utt2path, meta, durs)
    written = {}
    write_data_dir(data / "voxceleb1", tables)
    written["voxceleb1"] = data / "voxceleb1"
    test_utts = {u for u in utt2path if _spk(u) in test_spks}
    dev_utts = set(utt2path) - test_utts
    for name, utts in (("voxceleb1_dev", dev_utts), ("voxceleb1_test", test_utts)):
        if utts:
            write_data_dir(data / name, _subset(tables, utts))
            written[name] = data / name
        else:
            log.warning("%s: no utterances (that part of VoxCeleb1 is not under %s); not written", name, root)

    trials_dir = data / "voxceleb1_trials"
    for name, (path, trials) in sorted(lists.items()):
        missing = [(t[3], u) for t in trials for u in t[:2] if u not in utt2path]
        if missing:
            lineno, first = missing[0]
            absent_spks = {_spk(u) for _, u in missing} - speakers
            if name[0] != "O" and {_spk(u) for _, u in missing} == absent_spks:
                log.warning("%s: %d trial utterances of %d speakers without audio here (the dev part?); "
                            "trial list %s not written", path, len(missing), len(absent_spks), name)
                continue
            raise CorpusError(f"{path}:{lineno}: utterance '{first}' has no audio under {root} "
                              f"({len(missing)} trial utterances missing in all)")
        table = [(f"{e} {t}", lab) for e, t, lab, _ in trials]
        if len(set(k for k, _ in table)) != len(table):
            log.warning("%s: duplicate trial pairs", path)
        write_table(trials_dir / name, table)
        log.info("trials %s from %s: %s", name, path.name, count_summary(Counter(t[2] for t in trials)))
        written[f"trials/{name}"] = trials_dir / name
    return written


def ffmpeg_entry(path: Path) -> str:
    """A wav.scp pipe decoding an m4a (AAC) file to 16-bit wav on stdout."""
    return f"ffmpeg -v 8 -i {scp_path(path)} -f wav -acodec pcm_s16le - |"


def prepare_voxceleb2(dev_root: Path, out_dir: Path, fmt: str = "m4a", durations: bool = True) -> Path:
    """Write a VoxCeleb2 data dir (``wav.scp``, ``utt2spk``, ``spk2utt``, meta tables, ``utt2dur``).

    ``fmt='m4a'`` reads ``<dev>/aac/idN/<video>/NNNNN.m4a`` and writes ffmpeg pipes; no
    ``utt2dur`` then (reading every AAC stream here would decode the whole corpus; the
    feature stage writes ``utt2num_frames``). ``fmt='wav'`` reads a wav copy
    (``<dev>/wav`` or ``<dev>/aac`` or ``<dev>`` itself) and writes paths and ``utt2dur``.
    """
    dev_root, out_dir = Path(dev_root), Path(out_dir)
    require_dir(dev_root, "VoxCeleb2 part (e.g. VOX2_ROOT/dev)")
    if fmt not in ("m4a", "wav"):
        raise ValueError(f"--format must be m4a or wav, got '{fmt}'")
    sub = ("aac",) if fmt == "m4a" else ("wav", "aac")
    base = next((dev_root / s for s in sub if (dev_root / s).is_dir()), dev_root)
    utt2path = scan_audio(base, fmt)
    if not utt2path:
        raise CorpusError(f"{base}: no idNNNNN/<video>/NNNNN.{fmt} files")
    meta_path = next((p for p in (dev_root / "vox2_meta.csv", dev_root.parent / "vox2_meta.csv") if p.is_file()), None)
    meta = read_meta(meta_path) if meta_path else {}
    if meta_path is None:
        log.info("no vox2_meta.csv beside %s: no gender table", dev_root)
    spks = {_spk(u) for u in utt2path}
    log.info("VoxCeleb2 %s: %d utterances of %d speakers under %s", dev_root.name, len(utt2path), len(spks), base)
    if fmt == "m4a":
        durs = None
        log.info("utt2dur not written for m4a input: the feature stage writes utt2num_frames")
    else:
        durs = audio_durations(utt2path, "voxceleb2 durations") if durations else None
    tables = _base_tables(utt2path, meta, durs, wav_entry=ffmpeg_entry if fmt == "m4a" else None)
    write_data_dir(out_dir, tables)
    return out_dir
