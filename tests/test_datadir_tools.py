"""utils data-dir scripts against expectations written from Kaldi's documented behaviour.

The expected lines are worked out by hand from Kaldi's algorithms (split_scp.pl's speaker
balancing, subset_scp.pl's recursive halving, fix_data_dir.sh's filtering order), not by
calling our own code.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from utter.data.dirtools import split_scp, subset_scp

ROOT = Path(__file__).resolve().parents[1]


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


def test_split_data_per_speaker_and_per_utt(tmp_path, data):
    sh(["split_data.sh", data, 2], tmp_path)
    s1, s2 = data / "split2/1", data / "split2/2"
    assert [x.split()[0] for x in lines(s1 / "utt2spk")] == UTTS[:5]
    assert lines(s2 / "spk2utt") == ["B B-1", "C C-1", "D D-1"]
    assert lines(s2 / "spk2gender") == ["B m", "C f", "D m"]
    assert lines(s2 / "utt2emo") == lines(data / "utt2emo")[5:]
    assert lines(s1 / "wav.scp") == lines(data / "wav.scp")[:5]
    sh(["split_data.sh", "--per-utt", data, 3], tmp_path)
    sizes = [len(lines(data / f"split3utt/{j}/utt2spk")) for j in (1, 2, 3)]
    assert sizes == [3, 3, 2]
    assert lines(data / "split3utt/1/spk2utt") == ["A A-1 A-2 A-3"]
    r = sh(["split_data.sh", data, 5], tmp_path, check=False)
    assert r.returncode == 1 and "4 speakers into 5" in r.stderr


def test_split_data_reuses_an_up_to_date_split(tmp_path, data):
    sh(["split_data.sh", data, 2], tmp_path)
    stamp = (data / "split2/1/utt2spk").stat().st_mtime_ns
    sh(["split_data.sh", data, 2], tmp_path)
    assert (data / "split2/1/utt2spk").stat().st_mtime_ns == stamp
    time.sleep(0.02)
    (data / "utt2emo").write_text((data / "utt2emo").read_text())  # newer source: split again
    sh(["split_data.sh", data, 2], tmp_path)
    assert (data / "split2/1/utt2spk").stat().st_mtime_ns > stamp


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


@pytest.mark.parametrize("mode,num,expected", [
    ("", 3, ["A-4", "B-1", "D-1"]),                 # subset_scp.pl on 8 lines: indices 3, 5, 7
    ("--first", 2, ["A-1", "A-2"]),
    ("--last", 2, ["C-1", "D-1"]),
    ("--shortest", 3, ["A-2", "A-4", "B-1"]),        # utt2num_frames 20, 10, 30
    ("--per-spk", 2, ["A-1", "A-3", "B-1", "C-1", "D-1"]),  # A: skip 2 -> 1st and 3rd
])
def test_subset_modes(tmp_path, data, mode, num, expected):
    out = tmp_path / "sub"
    r = sh(["subset_data_dir.sh", *([mode] if mode else []), data, num, out], tmp_path)
    assert [x.split()[0] for x in lines(out / "utt2spk")] == expected
    assert f"reducing #utt from 8 to {len(expected)}" in r.stdout
    assert [x.split()[0] for x in lines(out / "utt2emo")] == expected  # labels follow
    assert [x.split()[0] for x in lines(out / "wav.scp")] == expected
    speakers = sorted({u[0] for u in expected})
    assert [x.split()[0] for x in lines(out / "spk2gender")] == speakers
    if mode == "--per-spk":
        assert lines(out / "spk2utt")[0] == "A A-1 A-3 "  # Kaldi's awk leaves a trailing space


def test_subset_speakers_and_lists(tmp_path, data):
    out = tmp_path / "spk"
    sh(["subset_data_dir.sh", "--speakers", data, 2, out], tmp_path)
    spk2utt = lines(out / "spk2utt")
    full = {s.split()[0]: s for s in lines(data / "spk2utt")}
    assert all(full[s.split()[0]] == s for s in spk2utt)  # whole speakers
    assert spk2utt == sorted(spk2utt)
    (tmp_path / "ul").write_text("C-1\nA-5\n")
    sh(["subset_data_dir.sh", "--utt-list", tmp_path / "ul", data, tmp_path / "ul_out"], tmp_path)
    assert lines(tmp_path / "ul_out/utt2spk") == ["A-5 A", "C-1 C"]
    (tmp_path / "sl").write_text("D\nB\n")
    sh(["subset_data_dir.sh", "--spk-list", tmp_path / "sl", data, tmp_path / "sl_out"], tmp_path)
    assert lines(tmp_path / "sl_out/utt2spk") == ["B-1 B", "D-1 D"]
    r = sh(["subset_data_dir.sh", data, 9, tmp_path / "x"], tmp_path, check=False)
    assert r.returncode == 1 and "only 8" in r.stderr


def test_fix_data_dir_sorts_filters_and_backs_up(tmp_path):
    d = write_dir(tmp_path / "fix", {
        "utt2spk": ["A-2 A", "A-1 A", "B-1 B", "C-1 C", "A-1 A"],       # unsorted, duplicate
        "wav.scp": ["A-1 /a1", "A-2 /a2", "B-1 /b1", "C-1 /c1"],
        "text": ["A-1 hi", "A-2 hi", "C-1 hi"],                         # B-1 has no text
        "utt2emo": ["A-1 neu", "A-2 ang", "B-1 hap", "C-1 sad"],
        "spk2gender": ["A f", "B m"],                                    # C has no gender
    })
    original = (d / "utt2spk").read_text()
    r = sh(["fix_data_dir.sh", d], tmp_path)
    assert f"file {d}/utt2spk is not in sorted order or not unique, sorting it" in r.stdout
    # Speakers first: C dropped (no spk2gender) -> A-1 A-2 B-1; then B-1 (no text) -> 2 of 3.
    assert "fix_data_dir.sh: kept 2 utterances out of 3" in r.stdout
    assert lines(d / "utt2spk") == ["A-1 A", "A-2 A"]
    assert lines(d / "spk2utt") == ["A A-1 A-2"]
    assert lines(d / "utt2emo") == ["A-1 neu", "A-2 ang"]
    assert lines(d / "wav.scp") == ["A-1 /a1", "A-2 /a2"]
    assert lines(d / "spk2gender") == ["A f"]
    assert (d / ".backup/spk2gender").read_text() == "A f\nB m\n"
    assert (d / ".backup/wav.scp").read_text().count("\n") == 4
    assert original.count("\n") == 5
    sh(["validate_data_dir.sh", "--no-feats", d], tmp_path)


def test_combine_data(tmp_path, data):
    other = write_dir(tmp_path / "other", {
        "utt2spk": ["E-1 E", "E-2 E"], "spk2utt": ["E E-1 E-2"], "wav.scp": ["E-1 /e1", "E-2 /e2"],
        "utt2emo": ["E-1 sad", "E-2 hap"], "spk2gender": ["E m"]})
    out = tmp_path / "comb"
    r = sh(["combine_data.sh", out, data, other], tmp_path)
    assert "combined utt2emo" in r.stdout and "combined wav.scp" in r.stdout
    assert "not combining utt2num_frames as it does not exist everywhere" in r.stdout
    assert [x.split()[0] for x in lines(out / "utt2spk")] == UTTS + ["E-1", "E-2"]
    assert lines(out / "spk2utt")[-1] == "E E-1 E-2"
    assert lines(out / "utt2emo")[-2:] == ["E-1 sad", "E-2 hap"]
    assert not (out / "utt2num_frames").exists()
    assert "kept all 10 utterances" in r.stdout


def test_copy_data_dir_prefixes(tmp_path, data):
    out = tmp_path / "copy"
    sh(["copy_data_dir.sh", "--utt-prefix", "rev-", "--spk-prefix", "rev-", data, out], tmp_path)
    assert lines(out / "utt2spk")[0] == "rev-A-1 rev-A"
    assert lines(out / "spk2utt")[1] == "rev-B rev-B-1"
    assert lines(out / "utt2uniq")[0] == "rev-A-1 A-1"
    assert lines(out / "wav.scp")[0] == "rev-A-1 /w/A-1.wav"
    assert lines(out / "utt2emo")[0] == "rev-A-1 neu"
    assert lines(out / "spk2gender")[0] == "rev-A f"


def test_validate_reports_first_offending_line(tmp_path, data):
    assert "Successfully validated" in sh(["validate_data_dir.sh", "--no-feats", "--no-text", data], tmp_path).stdout
    r = sh(["validate_data_dir.sh", "--no-text", data], tmp_path, check=False)
    assert r.returncode == 1 and "feats.scp: no such file" in r.stderr
    bad = write_dir(tmp_path / "bad", {"utt2spk": ["A-1 A", "A-3 A", "A-2 A"], "spk2utt": ["A A-1 A-3 A-2"]})
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-text", bad], tmp_path, check=False)
    assert r.returncode == 1 and f"{bad}/utt2spk:3: not sorted" in r.stderr
    (data / "spk2utt").write_text("A A-1 A-2 A-3 A-4\nB B-1\nC C-1\nD D-1\n")
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-text", data], tmp_path, check=False)
    assert r.returncode == 1 and "spk2utt:1: " in r.stderr and "does not match utt2spk" in r.stderr
    seg = write_dir(tmp_path / "seg", {
        "utt2spk": ["A-1 A", "A-2 A"], "spk2utt": ["A A-1 A-2"], "wav.scp": ["r1 /r1"],
        "segments": ["A-1 r1 0 2", "A-2 r1 2 7.5"], "reco2dur": ["r1 6.0"], "vad.scp": ["A-1 v.ark:1"]})
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-text", seg], tmp_path, check=False)
    assert r.returncode == 1 and f"{seg}/segments:2: segment ends at 7.5 s" in r.stderr
    (seg / "reco2dur").write_text("r1 8.0\n")
    r = sh(["validate_data_dir.sh", "--no-feats", "--no-text", seg], tmp_path, check=False)
    assert r.returncode == 1 and "vad.scp: 1 of the 2 entries of utt2spk are missing, first 'A-2'" in r.stderr
