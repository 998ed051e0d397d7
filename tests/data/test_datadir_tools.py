"""utils data-dir scripts against expectations written from Kaldi's documented behaviour.

The expected lines are worked out by hand from what Kaldi's scripts document (their usage
texts and comments): split_scp.pl's speaker balancing, subset_scp.pl's recursive halving,
subset_data_dir.sh's per-speaker choice (x = 2, 2+skip ... <= n*skip+1), shuffle_list.pl's
perl-seeded order (perl's srand(0) rand() values, printed by perl itself, are quoted below),
fix_data_dir.sh's filters (every per-utterance table it knows, utt2dur/utt2num_frames > 0),
copy_data_dir.sh's apply_map.pl (fields joined by one space), combine_data.sh's generated
segments and utt2uniq, validate_data_dir.sh's options. No expected value comes from our code.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from utter.data.dirtools.split import split_scp
from utter.data.dirtools.subset import shuffle_list, subset_scp

ROOT = Path(__file__).resolve().parents[2]


def sh(args, cwd, check=True):
    env = {**os.environ, "LC_ALL": "C"}
    r = subprocess.run([str(ROOT / "utils" / args[0]), *map(str, args[1:])], cwd=cwd, env=env,
                       capture_output=True, text=True)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def write_dir(d: Path, tables: dict[str, list[str]]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, lines in tables.items():
        (d / name).write_text("".join(line + "\n" for line in lines))
    return d


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def keys(path: Path) -> list[str]:
    return [x.split()[0] for x in lines(path)]


# Speakers A (5 utts), B, C, D (1 each); utt ids prefixed by speaker.
UTTS = ["A-1", "A-2", "A-3", "A-4", "A-5", "B-1", "C-1", "D-1"]


@pytest.fixture()
def data(tmp_path):
    return write_dir(tmp_path / "data", {
        "utt2spk": [f"{u} {u[0]}" for u in UTTS],
        "spk2utt": ["A A-1 A-2 A-3 A-4 A-5", "B B-1", "C C-1", "D D-1"],
        "wav.scp": [f"{u} /w/{u}.wav" for u in UTTS],
        "utt2emo": [f"{u} {'ang' if i % 2 else 'neu'}" for i, u in enumerate(UTTS)],
        "utt2num_frames": [f"{u} {n}" for u, n in zip(UTTS, [50, 20, 70, 10, 90, 30, 60, 40])],
        "spk2gender": ["A f", "B m", "C f", "D m"],
    })


# ----------------------------------------------------------------------------- line tools

def test_filter_scp_keeps_order_excludes_and_uses_field(tmp_path, data):
    (tmp_path / "ids").write_text("B-1\nA-2 extra\n")
    assert sh(["filter_scp.py", "ids", data / "wav.scp"], tmp_path).stdout == "A-2 /w/A-2.wav\nB-1 /w/B-1.wav\n"
    out = sh(["filter_scp.py", "--exclude", "ids", data / "wav.scp"], tmp_path).stdout.splitlines()
    assert [x.split()[0] for x in out] == [u for u in UTTS if u not in ("A-2", "B-1")]
    (tmp_path / "spk").write_text("C\n")
    assert sh(["filter_scp.py", "-f", "2", "spk", data / "utt2spk"], tmp_path).stdout == "C-1 C\n"


def test_utt2spk_spk2utt_conversions_keep_kaldi_order(tmp_path):
    (tmp_path / "u").write_text("b1 B\na1 A\nb2 B\n")
    assert sh(["utt2spk_to_spk2utt.py", "u"], tmp_path).stdout == "B b1 b2\nA a1\n"  # first appearance
    (tmp_path / "s").write_text("B b1 b2\nA a1\n")
    assert sh(["spk2utt_to_utt2spk.py", "s"], tmp_path).stdout == "b1 B\nb2 B\na1 A\n"
    (tmp_path / "bad").write_text("a1 A extra\n")
    r = sh(["utt2spk_to_spk2utt.py", "bad"], tmp_path, check=False)
    assert r.returncode == 1 and "bad:1:" in r.stderr


def test_split_scp_balances_speakers_as_kaldi():
    # Speakers in order A(5) B(1) C(1) D(1) into 2: first A,B | C,D (counts 6,2); moving B to
    # the second part makes |5-3| < |6-2|; moving A back would not help: A | B C D.
    utt2spk = {u: u[0] for u in UTTS}
    parts = split_scp(UTTS, 2, utt2spk)
    assert parts == [UTTS[:5], UTTS[5:]]
    # Per utterance, 8 lines into 3: 3, 3, 2 consecutive lines.
    assert split_scp(UTTS, 3) == [UTTS[:3], UTTS[3:6], UTTS[6:]]


def test_subset_scp_recursive_halving():
    # select_n(0,10,3) -> (0,5,1) picks index 4; (5,10,2) -> (5,7,1) picks 6, (7,10,1) picks 9.
    items = [str(i) for i in range(10)]
    assert subset_scp(items, 3) == ["4", "6", "9"]
    assert subset_scp(items, 10) == items
    assert subset_scp(items, 2, first=True) == ["0", "1"] and subset_scp(items, 2, last=True) == ["8", "9"]


def test_shuffle_list_is_perls_srand0_order():
    # perl -e 'srand(0); print rand(), "\n" for 1..4' prints 0.17082803610629, 0.749901980484964,
    # 0.0963716556235674, 0.870465227027076: shuffle_list.pl sorts the lines by these strings.
    assert shuffle_list(["a", "b", "c", "d"]) == ["c", "a", "b", "d"]


# ----------------------------------------------------------------------------- split_data.sh

def test_split_data_per_speaker_and_per_utt(tmp_path, data):
    sh(["split_data.sh", data, 2], tmp_path)
    s1, s2 = data / "split2/1", data / "split2/2"
    assert keys(s1 / "utt2spk") == UTTS[:5]
    assert lines(s2 / "spk2utt") == ["B B-1", "C C-1", "D D-1"]
    assert lines(s2 / "spk2gender") == ["B m", "C f", "D m"]
    assert lines(s2 / "utt2emo") == lines(data / "utt2emo")[5:]
    assert lines(s1 / "wav.scp") == lines(data / "wav.scp")[:5]
    assert lines(s1 / "utt2num_frames") == lines(data / "utt2num_frames")[:5]
    sh(["split_data.sh", "--per-utt", data, 3], tmp_path)
    assert [len(lines(data / f"split3utt/{j}/utt2spk")) for j in (1, 2, 3)] == [3, 3, 2]
    assert lines(data / "split3utt/1/spk2utt") == ["A A-1 A-2 A-3"]
    # speaker A is in splits 1 and 2: its spk2gender line goes to both
    assert lines(data / "split3utt/2/spk2gender") == ["A f", "B m"]
    r = sh(["split_data.sh", data, 5], tmp_path, check=False)
    assert r.returncode == 1 and "4 speakers into 5" in r.stderr


def test_split_data_with_unsorted_speakers_keeps_file_order(tmp_path):
    # utt2spk not grouped by speaker: split_scp.pl gathers each speaker's lines (A a1 a3 | B b2);
    # filter_scps.pl keeps each table's own order within a split.
    d = write_dir(tmp_path / "u", {"utt2spk": ["a1 A", "b2 B", "a3 A"], "wav.scp": ["a1 x", "b2 y", "a3 z"]})
    sh(["split_data.sh", d, 2], tmp_path)
    assert lines(d / "split2/1/utt2spk") == ["a1 A", "a3 A"] and lines(d / "split2/1/wav.scp") == ["a1 x", "a3 z"]
    assert lines(d / "split2/2/utt2spk") == ["b2 B"]


def test_split_data_reuses_an_up_to_date_split_and_redoes_a_stale_one(tmp_path, data):
    sh(["split_data.sh", data, 2], tmp_path)
    stamp = (data / "split2/1/utt2spk").stat().st_mtime_ns
    sh(["split_data.sh", data, 2], tmp_path)
    assert (data / "split2/1/utt2spk").stat().st_mtime_ns == stamp
    time.sleep(0.02)
    (data / "utt2num_frames").write_text((data / "utt2num_frames").read_text())  # newer source: split again
    sh(["split_data.sh", data, 2], tmp_path)
    assert (data / "split2/1/utt2spk").stat().st_mtime_ns > stamp
    # an interrupted split (one part's table missing) is redone, and a table the source lost goes
    stamp = (data / "split2/1/utt2spk").stat().st_mtime_ns
    (data / "split2/2/wav.scp").unlink()
    (data / "utt2emo").unlink()
    time.sleep(0.02)
    sh(["split_data.sh", data, 2], tmp_path)
    assert (data / "split2/2/wav.scp").is_file() and (data / "split2/1/utt2spk").stat().st_mtime_ns > stamp
    assert not (data / "split2/1/utt2emo").exists()


def test_split_data_with_segments_filters_recordings(tmp_path):
    d = write_dir(tmp_path / "seg", {
        "utt2spk": ["A-1 A", "A-2 A", "B-1 B"], "spk2utt": ["A A-1 A-2", "B B-1"],
        "segments": ["A-1 r1 0 1", "A-2 r2 0 1", "B-1 r2 1 2"],
        "wav.scp": ["r1 /w/r1.wav", "r2 /w/r2.wav"], "reco2dur": ["r1 5", "r2 5"],
    })
    sh(["split_data.sh", d, 2], tmp_path)
    assert lines(d / "split2/1/wav.scp") == ["r1 /w/r1.wav", "r2 /w/r2.wav"]
    assert lines(d / "split2/2/wav.scp") == ["r2 /w/r2.wav"]
    assert lines(d / "split2/2/segments") == ["B-1 r2 1 2"]
    assert lines(d / "split2/2/reco2dur") == ["r2 5"]


def test_split_data_empty_dir_and_bad_count(tmp_path):
    d = write_dir(tmp_path / "empty", {"utt2spk": [], "spk2utt": []})
    r = sh(["split_data.sh", d, 4], tmp_path, check=False)
    assert r.returncode == 1 and str(d) in r.stderr and "no utterances" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    d2 = write_dir(tmp_path / "one", {"utt2spk": ["a x"]})
    r = sh(["split_data.sh", d2, 0], tmp_path, check=False)
    assert r.returncode == 1 and "invalid number of splits 0" in r.stderr


def test_split_data_killed_midway_leaves_no_half_written_table(tmp_path):
    n = 300_000
    utts = [f"s{i // 50:05d}-u{i:06d}" for i in range(n)]
    tables = {"utt2spk": [f"{u} {u[:6]}" for u in utts],
              "wav.scp": [f"{u} sox /corpus/{u}.flac -t wav - |" for u in utts],
              "utt2dur": [f"{u} 3.5" for u in utts]}
    ref = write_dir(tmp_path / "ref", tables)
    sh(["split_data.sh", ref, 8], tmp_path)
    for delay in (0.15, 0.4, 0.8):
        d = write_dir(tmp_path / f"kill{delay}", tables)
        p = subprocess.Popen([str(ROOT / "utils/split_data.sh"), str(d), "8"], env={**os.environ, "LC_ALL": "C"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGTERM)
        p.wait()
        for f in (d / "split8").rglob("*") if (d / "split8").exists() else ():
            if f.is_file():
                assert not f.name.endswith(".tmp"), f"temporary file left: {f}"
                assert f.read_bytes() == (ref / "split8" / f.relative_to(d / "split8")).read_bytes(), f
        sh(["split_data.sh", d, 8], tmp_path)   # a rerun completes it
        for f in (ref / "split8").rglob("*"):
            if f.is_file():
                assert (d / "split8" / f.relative_to(ref / "split8")).read_bytes() == f.read_bytes()


# ----------------------------------------------------------------------------- subset_data_dir.sh

@pytest.mark.parametrize("mode,num,expected", [
    ("", 3, ["A-4", "B-1", "D-1"]),                 # subset_scp.pl on 8 lines: indices 3, 5, 7
    ("--first", 2, ["A-1", "A-2"]),
    ("--last", 2, ["C-1", "D-1"]),
    ("--shortest", 3, ["A-2", "A-4", "B-1"]),        # utt2num_frames 20, 10, 30
    ("--per-spk", 2, ["A-1", "A-3", "B-1", "C-1", "D-1"]),  # A (5): skip 2, x = 2, 4 -> 1st, 3rd
    ("--per-spk", 3, ["A-1", "A-2", "A-3", "B-1", "C-1", "D-1"]),  # A: skip 1, x = 2..4 (<= 3*1+1)
    ("--speakers", 2, ["A-1", "A-2", "A-3", "A-4", "A-5", "C-1"]),  # shuffled C A B D: C (1), A (6)
    ("--speakers", 1, ["C-1"]),
])
def test_subset_modes(tmp_path, data, mode, num, expected):
    out = tmp_path / "sub"
    r = sh(["subset_data_dir.sh", *([mode] if mode else []), data, num, out], tmp_path)
    assert keys(out / "utt2spk") == expected
    assert f"reducing #utt from 8 to {len(expected)}" in r.stdout
    assert keys(out / "utt2emo") == expected  # labels follow
    assert keys(out / "wav.scp") == expected
    assert keys(out / "utt2num_frames") == expected
    speakers = sorted({u[0] for u in expected})
    assert keys(out / "spk2gender") == speakers
    if mode == "--per-spk":
        assert lines(out / "spk2utt")[0].endswith(" ")  # Kaldi's awk leaves a trailing space


def test_subset_per_spk_20_keeps_20(tmp_path):
    # 25 utterances, --per-spk 20: skip stays 1 (20*2 > 25), x = 2 .. 21: the first 20 (not 19).
    utts = [f"s-{i:02d}" for i in range(25)]
    d = write_dir(tmp_path / "d", {"utt2spk": [f"{u} s" for u in utts], "spk2utt": ["s " + " ".join(utts)]})
    sh(["subset_data_dir.sh", "--per-spk", d, 20, tmp_path / "o"], tmp_path)
    assert keys(tmp_path / "o/utt2spk") == utts[:20]


def test_subset_speakers_and_lists(tmp_path, data):
    (tmp_path / "ul").write_text("C-1\nA-5\n")
    sh(["subset_data_dir.sh", "--utt-list", tmp_path / "ul", data, tmp_path / "ul_out"], tmp_path)
    assert lines(tmp_path / "ul_out/utt2spk") == ["A-5 A", "C-1 C"]
    (tmp_path / "sl").write_text("D\nB\n")
    sh(["subset_data_dir.sh", "--spk-list", tmp_path / "sl", data, tmp_path / "sl_out"], tmp_path)
    assert lines(tmp_path / "sl_out/utt2spk") == ["B-1 B", "D-1 D"]
    assert lines(tmp_path / "sl_out/spk2utt") == ["B B-1", "D D-1"]
    r = sh(["subset_data_dir.sh", data, 9, tmp_path / "x"], tmp_path, check=False)
    assert r.returncode == 1 and "only 8" in r.stderr
    r = sh(["subset_data_dir.sh", "--bogus", data, 2, tmp_path / "x"], tmp_path, check=False)
    assert r.returncode == 1 and "invalid option '--bogus'" in r.stderr


def test_subset_with_segments_filters_recordings(tmp_path):
    d = write_dir(tmp_path / "seg", {
        "utt2spk": ["A-1 A", "A-2 A", "B-1 B"], "spk2utt": ["A A-1 A-2", "B B-1"],
        "segments": ["A-1 r1 0 1", "A-2 r2 0 1", "B-1 r2 1 2"], "wav.scp": ["r1 /r1", "r2 /r2"],
        "reco2file_and_channel": ["r1 r1 A", "r2 r2 A"], "reco2dur": ["r1 5", "r2 5"],
        "stm": [";; comment", "r1 A A-1 0 1 hi", "r2 A A-2 0 1 there"]})
    (tmp_path / "l").write_text("A-1\n")
    sh(["subset_data_dir.sh", "--utt-list", tmp_path / "l", d, tmp_path / "o"], tmp_path)
    o = tmp_path / "o"
    assert lines(o / "segments") == ["A-1 r1 0 1"] and lines(o / "wav.scp") == ["r1 /r1"]
    assert lines(o / "reco2file_and_channel") == ["r1 r1 A"] and lines(o / "reco2dur") == ["r1 5"]
    assert lines(o / "stm") == [";; comment", "r1 A A-1 0 1 hi"]


# ----------------------------------------------------------------------------- fix_data_dir.sh

def messy(tmp_path: Path) -> Path:
    """Every filter fix_data_dir.sh applies drops exactly one utterance (see the test)."""
    u = ["A-1", "A-2", "A-3", "A-4", "A-5", "A-6", "B-1", "B-2", "B-3", "C-1", "C-2", "D-1"]
    def but(*drop):
        return [x for x in u if x not in drop]
    return write_dir(tmp_path / "messy", {
        "utt2spk": ["E-1 E", "A-2 A"] + [f"{x} {x[0]}" for x in reversed(u)],     # unsorted, A-2 twice
        "spk2gender": ["A f", "B m", "C f", "D m"],                                # E has none
        "wav.scp": [f"{x} /w/{x}.wav" for x in but("A-6")] + ["E-1 /w/E-1.wav", "Z-9 /w/Z-9.wav"],
        "feats.scp": [f"{x} f.ark:{i}" for i, x in enumerate(but("B-3"))],
        "vad.scp": [f"{x} v.ark:{i}" for i, x in enumerate(but("C-2"))],
        "text": [f"{x} hello" for x in but("A-5")],
        "utt2uniq": [f"{x} {x}" for x in but("D-1")],
        "utt2dur": [f"{x} {'0' if x == 'A-1' else '2.5'}" for x in but("A-2")],   # A-1 zero, A-2 missing
        "utt2num_frames": [f"{x} {'0' if x == 'A-3' else '250'}" for x in u],      # A-3 zero
        "reco2dur": [f"{x} 2.5" for x in but("A-4")],                              # no segments: per utt
        "utt2lang": [f"{x} en" for x in u],
        "utt2emo": [f"{x} neu" for x in u],                                        # a label: filtered along
    })


def test_fix_data_dir_drops_what_kaldi_drops(tmp_path):
    d = messy(tmp_path)
    original = {f.name: f.read_text() for f in d.iterdir()}
    r = sh(["fix_data_dir.sh", d], tmp_path)
    assert f"file {d}/utt2spk is not in sorted order or not unique, sorting it" in r.stdout
    # E goes with spk2gender; then A-6 (wav.scp), B-3 (feats), C-2 (vad), A-5 (text), D-1 (utt2uniq),
    # A-1 (zero utt2dur), A-2 (no utt2dur), A-3 (zero utt2num_frames), A-4 (reco2dur): 3 of 12 stay.
    assert "fix_data_dir.sh: kept 3 utterances out of 12" in r.stdout
    kept = ["B-1", "B-2", "C-1"]
    for name in ("utt2spk", "wav.scp", "feats.scp", "vad.scp", "text", "utt2uniq", "utt2dur", "utt2num_frames",
                 "reco2dur", "utt2lang", "utt2emo"):
        assert keys(d / name) == kept, name
    assert lines(d / "spk2utt") == ["B B-1 B-2", "C C-1"]
    assert lines(d / "spk2gender") == ["B m", "C f"]
    assert (d / ".backup/spk2gender").read_text() == original["spk2gender"]
    assert (d / ".backup/wav.scp").read_text() == original["wav.scp"]
    # utt2spk's backup is its state when the utterances were filtered: sorted, E and the repeat gone
    assert keys(d / ".backup/utt2spk") == sorted(set(keys(d / ".backup/utt2spk")))
    assert "E-1" not in keys(d / ".backup/utt2spk") and len(lines(d / ".backup/utt2spk")) == 12
    assert not list(d.glob(".*.tmp")) and not list(d.glob("*.tmp"))
    sh(["validate_data_dir.sh", d], tmp_path)   # what fix_data_dir.sh fixed validates


def test_fix_data_dir_sorts_filters_and_backs_up(tmp_path):
    d = write_dir(tmp_path / "fix", {
        "utt2spk": ["A-2 A", "A-1 A", "B-1 B", "C-1 C", "A-1 A"],       # unsorted, duplicate
        "wav.scp": ["A-1 /a1", "A-2 /a2", "B-1 /b1", "C-1 /c1"],
        "text": ["A-1 hi", "A-2 hi", "C-1 hi"],                         # B-1 has no text
        "utt2emo": ["A-1 neu", "A-2 ang", "B-1 hap", "C-1 sad"],
        "spk2gender": ["A f", "B m"],                                    # C has no gender
    })
    r = sh(["fix_data_dir.sh", d], tmp_path)
    assert "fix_data_dir.sh: kept 2 utterances out of 3" in r.stdout
    assert lines(d / "utt2spk") == ["A-1 A", "A-2 A"]
    assert lines(d / "spk2utt") == ["A A-1 A-2"]
    assert lines(d / "utt2emo") == ["A-1 neu", "A-2 ang"]
    assert lines(d / "wav.scp") == ["A-1 /a1", "A-2 /a2"]
    assert lines(d / "spk2gender") == ["A f"]
    assert (d / ".backup/spk2gender").read_text() == "A f\nB m\n"
    sh(["validate_data_dir.sh", "--no-feats", d], tmp_path)


def test_fix_data_dir_first_line_of_a_repeated_key_wins(tmp_path):
    # sort -k1,1 -u keeps the first of equal keys in input order, not the smallest line
    d = write_dir(tmp_path / "dup", {"utt2spk": ["b B", "a A"], "wav.scp": ["b /z", "a /y", "a /x"]})
    sh(["fix_data_dir.sh", d], tmp_path)
    assert lines(d / "wav.scp") == ["a /y", "b /z"]


def test_fix_data_dir_with_segments(tmp_path):
    d = write_dir(tmp_path / "seg", {
        "utt2spk": ["A-1 A", "A-2 A", "B-1 B"],
        "segments": ["A-1  r1 0 1", "A-2 r9 0 1", "B-1\tr2 1 2"],          # r9 has no audio
        "wav.scp": ["r1 /r1", "r2 /r2", "r3 /r3"],                         # r3 has no segment
        "reco2dur": ["r1 5", "r2 5", "r3 5"], "reco2file_and_channel": ["r1 r1 A", "r2 r2 A", "r3 r3 A"]})
    r = sh(["fix_data_dir.sh", d], tmp_path)
    assert "kept 2 utterances out of 3" in r.stdout
    # awk '{print $2, $1, $3, $4}' twice: segments come back single-spaced
    assert lines(d / "segments") == ["A-1 r1 0 1", "B-1 r2 1 2"]
    assert keys(d / "wav.scp") == ["r1", "r2"] and keys(d / "reco2dur") == ["r1", "r2"]
    assert keys(d / "reco2file_and_channel") == ["r1", "r2"]


def test_fix_data_dir_no_utterances_left(tmp_path):
    d = write_dir(tmp_path / "none", {"utt2spk": ["a A"], "text": ["b hi"]})
    r = sh(["fix_data_dir.sh", d], tmp_path, check=False)
    assert r.returncode == 1 and "no utterances remained" in r.stderr


# ----------------------------------------------------------------------------- combine / copy

def test_combine_data(tmp_path, data):
    other = write_dir(tmp_path / "other", {
        "utt2spk": ["E-1 E", "E-2 E"], "spk2utt": ["E E-1 E-2"], "wav.scp": ["E-1 /e1", "E-2 /e2"],
        "utt2emo": ["E-1 sad", "E-2 hap"], "spk2gender": ["E m"]})
    out = tmp_path / "comb"
    r = sh(["combine_data.sh", out, data, other], tmp_path)
    assert "combined utt2emo" in r.stdout and "combined wav.scp" in r.stdout
    assert "not combining utt2num_frames as it does not exist everywhere" in r.stdout
    assert "not combining utt2uniq as it does not exist" in r.stdout
    assert keys(out / "utt2spk") == UTTS + ["E-1", "E-2"]
    assert lines(out / "spk2utt")[-1] == "E E-1 E-2"
    assert lines(out / "utt2emo")[-2:] == ["E-1 sad", "E-2 hap"]
    assert not (out / "utt2num_frames").exists()
    assert "kept all 10 utterances" in r.stdout


def test_combine_data_with_and_without_segments(tmp_path):
    x = write_dir(tmp_path / "x", {
        "utt2spk": ["X-1 X", "X-2 X"], "segments": ["X-1 r1 0 1.5", "X-2 r1 1.5 3"], "wav.scp": ["r1 /r1.wav"],
        "utt2dur": ["X-1 1.5", "X-2 1.5"]})
    y = write_dir(tmp_path / "y", {"utt2spk": ["Y-1 Y"], "wav.scp": ["Y-1 /y1.wav"], "utt2dur": ["Y-1 2.5"],
                                   "utt2uniq": ["Y-1 y-orig"]})
    out = tmp_path / "xy"
    r = sh(["combine_data.sh", out, x, y], tmp_path)
    assert f"will generate missing segments for {y}" in r.stderr
    # the missing segments: <utt> <utt> 0 <utt2dur>; the missing utt2uniq: <utt> <utt>
    assert lines(out / "segments") == ["X-1 r1 0 1.5", "X-2 r1 1.5 3", "Y-1 Y-1 0 2.5"]
    assert lines(out / "utt2uniq") == ["X-1 X-1", "X-2 X-2", "Y-1 y-orig"]
    assert lines(out / "wav.scp") == ["Y-1 /y1.wav", "r1 /r1.wav"]          # C order: 'Y' < 'r'
    assert "kept all 3 utterances" in r.stdout
    sh(["validate_data_dir.sh", "--no-feats", "--no-text", out], tmp_path)
    # the destination is replaced as a whole, not merged into
    sh(["combine_data.sh", "--skip-fix", "true", out, x], tmp_path)
    assert keys(out / "utt2spk") == ["X-1", "X-2"] and not (out / "utt2uniq").exists()


def test_copy_data_dir_prefixes(tmp_path, data):
    out = tmp_path / "copy"
    sh(["copy_data_dir.sh", "--utt-prefix", "rev-", "--spk-prefix", "rev-", data, out], tmp_path)
    assert lines(out / "utt2spk")[0] == "rev-A-1 rev-A"
    assert lines(out / "spk2utt")[1] == "rev-B rev-B-1"
    assert lines(out / "utt2uniq")[0] == "rev-A-1 A-1"
    assert lines(out / "wav.scp")[0] == "rev-A-1 /w/A-1.wav"
    assert lines(out / "utt2emo")[0] == "rev-A-1 neu"
    assert lines(out / "spk2gender")[0] == "rev-A f"


def test_copy_data_dir_suffix_starting_with_dash_then_combine(tmp_path, data):
    (data / "wav.scp").write_text("".join(f"{u}  sox  /w/{u}.wav -t wav - |\n" for u in UTTS))
    both = tmp_path / "both"
    write_dir(both, {"feats.scp": ["stale x"]})
    r = sh(["copy_data_dir.sh", "--utt-suffix", "-rev", "--spk-suffix", "-rev", data, both], tmp_path)
    assert "Successfully validated" in r.stdout
    assert lines(both / "utt2spk")[:2] == ["A-1-rev A-rev", "A-2-rev A-rev"]
    assert lines(both / "spk2utt")[0] == "A-rev A-1-rev A-2-rev A-3-rev A-4-rev A-5-rev"
    assert lines(both / "wav.scp")[0] == "A-1-rev sox /w/A-1.wav -t wav - |"   # apply_map.pl: single spaces
    assert lines(both / "utt2uniq")[0] == "A-1-rev A-1"
    assert lines(both / "utt2num_frames")[0] == "A-1-rev 50"
    assert lines(both / "spk2gender")[0] == "A-rev f"
    assert not (both / "feats.scp").exists() and lines(both / ".backup/feats.scp") == ["stale x"]
    assert "file feats.scp exists in dest" in r.stdout
    # Combined with its source, A-1 A / A-1-rev A-rev interleave two speakers: fix_data_dir.sh
    # refuses utt2spk (as Kaldi's does); an utterance suffix alone keeps the speakers.
    r = sh(["combine_data.sh", tmp_path / "bad", data, both], tmp_path, check=False)
    assert r.returncode == 1 and "not in sorted order" in r.stderr
    rev = tmp_path / "rev"
    sh(["copy_data_dir.sh", "--utt-suffix", "-rev", data, rev], tmp_path)
    assert lines(rev / "utt2spk")[0] == "A-1-rev A"
    comb = tmp_path / "comb"
    r = sh(["combine_data.sh", comb, data, rev], tmp_path)
    assert "kept all 16 utterances" in r.stdout
    assert lines(comb / "utt2uniq")[:2] == ["A-1 A-1", "A-1-rev A-1"]
    assert lines(comb / "spk2utt")[1] == "B B-1 B-1-rev"


# ----------------------------------------------------------------------------- validate_data_dir.sh

def test_validate_reports_first_offending_line(tmp_path, data):
    assert "Successfully validated" in sh(["validate_data_dir.sh", "--no-feats", "--no-text", data], tmp_path).stdout
    r = sh(["validate_data_dir.sh", "--no-text", data], tmp_path, check=False)
    assert r.returncode == 1 and "feats.scp: no such file" in r.stderr
    bad = write_dir(tmp_path / "bad", {"utt2spk": ["A-1 A", "A-3 A", "A-2 A"], "spk2utt": ["A A-1 A-3 A-2"]})
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-text", "--no-wav", bad], tmp_path, check=False)
    assert r.returncode == 1 and f"{bad}/utt2spk:3: not sorted" in r.stderr
    (data / "spk2utt").write_text("A A-1 A-2 A-3 A-4\nB B-1\nC C-1\nD D-1\n")
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-text", data], tmp_path, check=False)
    assert r.returncode == 1 and "spk2utt:1: " in r.stderr and "does not match utt2spk" in r.stderr
    seg = write_dir(tmp_path / "seg", {
        "utt2spk": ["A-1 A", "A-2 A"], "spk2utt": ["A A-1 A-2"], "wav.scp": ["r1 /r1"],
        "segments": ["A-1 r1 0 2", "A-2 r1 2 7.5"], "reco2dur": ["r1 6.0"], "vad.scp": ["A-1 v.ark:1"]})
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-text", seg], tmp_path, check=False)
    assert r.returncode == 1 and "vad.scp: 1 of the 2 entries of utt2spk are missing, first 'A-2'" in r.stderr
    (seg / "vad.scp").write_text("A-1 v.ark:1\nA-2 v.ark:2\n")
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-text", seg], tmp_path, check=False)
    assert r.returncode == 1 and f"{seg}/segments:2: segment ends at 7.5 s" in r.stderr


def test_validate_kaldi_options(tmp_path):
    base = {"utt2spk": ["a-1 a", "b-1 b"], "spk2utt": ["a a-1", "b b-1"]}
    d = write_dir(tmp_path / "nowav", base)
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-text", d], tmp_path, check=False)
    assert r.returncode == 1 and "wav.scp: no such file (if this is by design, specify --no-wav)" in r.stderr
    sh(["validate_data_dir.sh", "--no-feats", "--no-text", "--no-wav", d], tmp_path)
    # --non-print: a control character in text fails unless allowed
    t = write_dir(tmp_path / "text", {**base, "text": ["a-1 hello\x01world", "b-1 fine"]})
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-wav", t], tmp_path, check=False)
    assert r.returncode == 1 and f"{t}/text:1: non-printable" in r.stderr
    sh(["validate_data_dir.sh", "--no-feats", "--no-wav", "--non-print", t], tmp_path)
    (t / "text").write_text("a-1 hello\r\nb-1 fine\n")
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-wav", "--non-print", t], tmp_path, check=False)
    assert r.returncode == 1 and "CR (0x0D)" in r.stderr
    (t / "text").write_text("a-1 <s> hello\nb-1 fine\n")
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-wav", t], tmp_path, check=False)
    assert r.returncode == 1 and "illegal symbol <s>" in r.stderr
    # --no-spk-sort: utt2spk sorted by utterance but not by speaker
    s = write_dir(tmp_path / "spk", {"utt2spk": ["u1 z", "u2 a"], "spk2utt": ["a u2", "z u1"]})
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-text", "--no-wav", s], tmp_path, check=False)
    assert r.returncode == 1 and "sorted first on speaker-id" in r.stderr
    sh(["validate_data_dir.sh", "--no-feats", "--no-text", "--no-wav", "--no-spk-sort", s], tmp_path)
    # sort -k2 compares from the blank before field 2: "u2  b" (two blanks) sorts before "u1 a", so the
    # speakers a, b are in order but the lines are not; the message names line 2 (it once crashed here)
    w = write_dir(tmp_path / "spk2", {"utt2spk": ["u1 a", "u2  b"], "spk2utt": ["a u1", "b u2"]})
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-text", "--no-wav", w], tmp_path, check=False)
    assert r.returncode == 1 and f"{w}/utt2spk:2: not in sorted order when sorted first on speaker-id" in r.stderr, \
        r.stderr
    # spk2gender must be m or f; utt2dur > 0; utt2num_frames positive integers
    g = write_dir(tmp_path / "g", {**base, "spk2gender": ["a f", "b x"]})
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-text", "--no-wav", g], tmp_path, check=False)
    assert r.returncode == 1 and f"{g}/spk2gender:2:" in r.stderr
    u = write_dir(tmp_path / "u", {**base, "utt2dur": ["a-1 1.0", "b-1 0"]})
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-text", "--no-wav", u], tmp_path, check=False)
    assert r.returncode == 1 and f"{u}/utt2dur:2:" in r.stderr
    f = write_dir(tmp_path / "f", {**base, "utt2num_frames": ["a-1 10", "b-1 2.5"]})
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-text", "--no-wav", f], tmp_path, check=False)
    assert r.returncode == 1 and f"{f}/utt2num_frames:2:" in r.stderr
    r = sh(["validate_data_dir.sh", "--bogus", d], tmp_path, check=False)
    assert r.returncode == 1 and "invalid option '--bogus'" in r.stderr


def test_validate_empty_dir(tmp_path):
    d = write_dir(tmp_path / "empty", {"utt2spk": [], "spk2utt": []})
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-text", d], tmp_path, check=False)
    assert r.returncode == 1 and r.stderr.strip().endswith(f"{d}: no utterances (utt2spk is empty)")
    assert len(r.stderr.strip().splitlines()) == 1


def test_subset_shortest_from_feats_frame_counts(tmp_path, data):
    # without utt2num_frames, --shortest takes feat-to-len's frame counts of feats.scp
    import kaldiio
    import numpy as np
    (data / "utt2num_frames").unlink()
    frames = dict(zip(UTTS, [5, 9, 3, 7, 8, 2, 6, 4]))
    kaldiio.save_ark(str(data / "feats.ark"), {u: np.zeros((n, 2), np.float32) for u, n in frames.items()},
                     scp=str(data / "feats.scp"))
    sh(["subset_data_dir.sh", "--shortest", data, 3, tmp_path / "o"], tmp_path)
    assert keys(tmp_path / "o/utt2spk") == ["A-3", "B-1", "D-1"]     # 3, 2 and 4 frames
