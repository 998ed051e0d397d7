"""A plain corpus (a folder of audio in any layout) -> a Kaldi data dir, and trial lists in the
VoxCeleb, Kaldi and NIST-like formats -> Kaldi trials: the tables are checked against ids, speakers and
durations written out by hand from the files made here, and every bad input against its one-line error."""
from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from utter.data.audio import read_audio
from utter.data.corpora import CorpusError
from utter.data.corpora.plain import prepare_plain, recording_id, speaker_id
from utter.data.datadir import read_table
from utter.data.trials import TrialError, convert_trials, read_trial_list

ROOT = Path(__file__).resolve().parents[2]


def audio(path: Path, seconds: float = 0.5, rate: int = 16000, fmt: str | None = None, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(round(seconds * rate))
    x = (0.1 * np.sin(np.arange(n) / (5.0 + len(path.name)))).astype(np.float32)
    if channels > 1:
        x = np.stack([x] * channels, axis=1)
    soundfile.write(str(path), x, rate, subtype="VORBIS" if fmt == "OGG" else "PCM_16", format=fmt)
    return path


def table(d: Path, name: str) -> dict:
    return dict(read_table(d / name, allow_empty_value=True))


def nested(root: Path) -> Path:
    """speakerX/session/NNN.flac (two speakers), with a notes file and a hidden file beside them."""
    audio(root / "alice" / "mon" / "001.flac", 0.5)
    audio(root / "alice" / "tue" / "002.flac", 0.75)
    audio(root / "bob" / "mon" / "001.flac", 1.0)
    audio(root / "bob" / "mon" / "002.wav", 0.25, rate=8000)
    (root / "alice" / "notes.txt").write_text("not audio\n")
    (root / "bob" / ".hidden.wav").write_bytes(b"junk")
    return root


def validate(d: Path) -> None:
    env = dict(os.environ, LC_ALL="C", PATH=f"{ROOT / 'utils'}:{os.environ['PATH']}")
    done = subprocess.run([str(ROOT / "utils/validate_data_dir.sh"), "--no-feats", "--no-text", str(d)], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_ids_and_speaker_labels_of_path_components():
    assert recording_id("alice/mon day/001.flac") == "alice-mon_day-001"
    assert recording_id("a/b/noext") == "a-b-noext"
    assert speaker_id("spk-1 (x)") == "spk_1__x_"   # '-' and others would break the sort of utt2spk


def test_nested_layout_speaker_from_the_top_directory(tmp_path, caplog):
    root = nested(tmp_path / "corpus")
    with caplog.at_level(logging.INFO):
        prepare_plain(root, tmp_path / "data", speaker="dir:1")
    d = tmp_path / "data"
    assert table(d, "utt2spk") == {"alice-mon-001": "alice", "alice-tue-002": "alice", "bob-mon-001": "bob",
                                   "bob-mon-002": "bob"}
    assert table(d, "wav.scp")["bob-mon-002"] == str(root / "bob" / "mon" / "002.wav")
    assert table(d, "utt2dur") == {"alice-mon-001": "0.500", "alice-tue-002": "0.750", "bob-mon-001": "1.000",
                                   "bob-mon-002": "0.250"}
    assert table(d, "spk2utt") == {"alice": "alice-mon-001 alice-tue-002", "bob": "bob-mon-001 bob-mon-002"}
    assert "left out 1 files" in caplog.text and ".txt: 1" in caplog.text
    assert "1 files are not at 16000 Hz (1 at 8000 Hz)" in caplog.text
    validate(d)
    # the file's own directory (-1): the session, prefixed onto the ids
    prepare_plain(root, tmp_path / "by_session", speaker="dir:-1")
    assert table(tmp_path / "by_session", "utt2spk")["mon-alice-mon-001"] == "mon"
    validate(tmp_path / "by_session")


def test_flat_layout_regex_speaker_and_several_folders(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    audio(a / "s01_x_1.ogg", 0.5, fmt="OGG")
    audio(a / "s02_x_1.wav", 0.5)
    audio(b / "sub" / "s01_y_2.flac", 0.5)
    prepare_plain([a, b], tmp_path / "data", speaker="regex:(?P<spk>s\\d+)_")
    assert table(tmp_path / "data", "utt2spk") == {"s01-s01_x_1": "s01", "s01-sub-s01_y_2": "s01",
                                                   "s02-s02_x_1": "s02"}
    validate(tmp_path / "data")


def test_no_speaker_labels_each_recording_its_own_speaker(tmp_path):
    root = tmp_path / "rec"
    for i in range(3):
        audio(root / f"take{i}.wav", 0.3)
    prepare_plain(root, tmp_path / "data", speaker="none")
    assert table(tmp_path / "data", "utt2spk") == {f"take{i}": f"take{i}" for i in range(3)}
    validate(tmp_path / "data")


def test_speaker_table_and_a_path_with_spaces_read_through_a_pipe(tmp_path):
    root = tmp_path / "corpus"
    audio(root / "my takes" / "one.wav", 0.5)
    audio(root / "two.flac", 0.25)
    spk = tmp_path / "speakers.txt"
    spk.write_text("# file speaker\nmy takes/one.wav ann\ntwo carl\n")
    prepare_plain(root, tmp_path / "data", speaker=f"table:{spk}")
    wav = table(tmp_path / "data", "wav.scp")
    assert table(tmp_path / "data", "utt2spk") == {"ann-my_takes-one": "ann", "carl-two": "carl"}
    assert wav["ann-my_takes-one"] == f"cat '{root / 'my takes' / 'one.wav'}' |"
    samples, rate = read_audio(wav["ann-my_takes-one"])
    ref, ref_rate = soundfile.read(str(root / "my takes" / "one.wav"), dtype="float32")
    assert rate == ref_rate and np.allclose(samples, ref * 32768.0)
    validate(tmp_path / "data")


def test_segments_name_files_by_their_path(tmp_path, caplog):
    root = nested(tmp_path / "corpus")
    segs = tmp_path / "segments"
    segs.write_text("a1 alice/mon/001.flac 0.0 0.2\na2 alice/mon/001 0.2 -1\nb1 bob-mon-001 0.5 0.75\n")
    with caplog.at_level(logging.INFO):
        prepare_plain(root, tmp_path / "data", speaker="dir:1", segments=segs)
    d = tmp_path / "data"
    assert table(d, "segments") == {"alice-a1": "alice-mon-001 0 0.2", "alice-a2": "alice-mon-001 0.2 -1",
                                    "bob-b1": "bob-mon-001 0.5 0.75"}
    assert table(d, "utt2dur") == {"alice-a1": "0.200", "alice-a2": "0.300", "bob-b1": "0.250"}
    assert set(table(d, "wav.scp")) == {"alice-mon-001", "bob-mon-001"}
    assert "2 of 4 audio files have no segment" in caplog.text
    validate(d)
    # no labels: the segments of a recording share its speaker
    prepare_plain(root, tmp_path / "none", speaker="none", segments=segs)
    assert table(tmp_path / "none", "utt2spk")["alice_mon_001-a1"] == "alice_mon_001"
    validate(tmp_path / "none")


@pytest.mark.parametrize("speaker, message", [
    ("dir:3", "names directory 3 but the file has 2 directories"),
    ("dir:x", "dir:N needs a whole number"),
    ("regex:^carol", "needs a group"),
    ("regex:^(carol)", "does not match its path"),
    ("regex:([", "not a valid regular expression"),
    ("speaker", "expected none, dir:N, regex:EXPR or table:FILE"),
])
def test_bad_speaker_rules(tmp_path, speaker, message):
    root = nested(tmp_path / "corpus")
    with pytest.raises(CorpusError, match=message):
        prepare_plain(root, tmp_path / "data", speaker=speaker)


def test_bad_corpora_name_the_file(tmp_path):
    root = tmp_path / "c"
    audio(root / "x" / "a.wav")
    audio(root / "x" / "a.flac")
    with pytest.raises(CorpusError, match=r"a\.(wav|flac): its recording id 'x-a' is also that of"):
        prepare_plain(root, tmp_path / "d")
    (root / "x" / "a.flac").unlink()
    (root / "x" / "b.wav").write_bytes(b"RIFF not really a wav file")
    with pytest.raises(CorpusError, match=r"b\.wav: not readable as audio"):
        prepare_plain(root, tmp_path / "d")
    (root / "x" / "b.wav").unlink()
    (root / "x" / "c.m4a").write_bytes(b"\0")
    os.environ["PATH"], old = str(tmp_path), os.environ["PATH"]   # no ffmpeg
    try:
        with pytest.raises(CorpusError, match=r"c\.m4a: 1 files need ffmpeg"):
            prepare_plain(root, tmp_path / "d")
    finally:
        os.environ["PATH"] = old
    prepare_plain(root, tmp_path / "d", ffmpeg_extensions="")   # left out instead
    assert list(table(tmp_path / "d", "wav.scp")) == ["x-a"]
    with pytest.raises(CorpusError, match="no audio files"):
        prepare_plain(tmp_path / "d", tmp_path / "e", extensions="flac", ffmpeg_extensions="")
    with pytest.raises(CorpusError, match="missing directory"):
        prepare_plain(tmp_path / "nowhere", tmp_path / "e")
    spk = tmp_path / "spk.txt"
    spk.write_text("# no entries\n")
    with pytest.raises(CorpusError, match=r"a\.wav: no speaker for 'x/a.wav'"):
        prepare_plain(root, tmp_path / "d", speaker=f"table:{spk}", ffmpeg_extensions="")
    spk.write_text("x/a.wav\n")
    with pytest.raises(CorpusError, match=r"spk\.txt:1: expected '<file> <speaker>'"):
        prepare_plain(root, tmp_path / "d", speaker=f"table:{spk}", ffmpeg_extensions="")


def test_speaker_table_header_line_skipped_and_unknown_files_named(tmp_path, caplog):
    """A first line naming the columns (``path<TAB>speaker``) is skipped with a note in the log;
    other lines naming no audio file of the folder are counted in a warning naming the first's line
    (one lab table may serve several folders), and the files the table names get their speakers."""
    root = tmp_path / "corpus"
    audio(root / "a.wav")
    audio(root / "sub" / "b.flac")
    spk = tmp_path / "speakers.tsv"
    for header in ("path\tspeaker", "File Spk", "utt_id speaker_id"):
        spk.write_text(f"{header}\na.wav\tann\nsub/b\tbob\n")
        with caplog.at_level(logging.INFO):
            prepare_plain(root, tmp_path / "data", speaker=f"table:{spk}")
        assert table(tmp_path / "data", "utt2spk") == {"ann-a": "ann", "bob-sub-b": "bob"}
        assert f"skipped the header line 1 of {spk}" in caplog.text
        caplog.clear()
    # after comments and blank lines the first entry line may still be the header
    spk.write_text("# speakers of the lab\n\npath speaker\na.wav ann\nsub/b.flac bob\n")
    with caplog.at_level(logging.INFO):
        prepare_plain(root, tmp_path / "data", speaker=f"table:{spk}")
    assert f"skipped the header line 3 of {spk}" in caplog.text
    # a header-like line that is not the first, or lines naming files the folder lacks: a warning
    spk.write_text("a.wav ann\npath speaker\nsub/b bob\n")
    with caplog.at_level(logging.INFO):
        prepare_plain(root, tmp_path / "d", speaker=f"table:{spk}")
    assert f"{spk}: 1 of its 3 lines name no audio file under {root} (first: line 2, 'path')" in caplog.text
    caplog.clear()
    spk.write_text("path speaker\na.wav ann\nsub/c.flac bob\nsub/b bob\nzzz carl\n")
    with caplog.at_level(logging.INFO):
        prepare_plain(root, tmp_path / "e", speaker=f"table:{spk}")
    assert f"{spk}: 2 of its 4 lines name no audio file under {root} (first: line 3, 'sub/c.flac')" in caplog.text
    assert table(tmp_path / "e", "utt2spk") == {"ann-a": "ann", "bob-sub-b": "bob"}


@pytest.mark.parametrize("line, message", [
    ("s1 alice/mon/001.flac 0.5", "segments:2: expected '<segment> <file> <start> <end>'"),
    ("s1 alice/mon/001.flac 0.5 x", "segments:2: start and end must be seconds"),
    ("s1 alice/mon/001.flac 0.5 0.4", "segments:2: segment 's1' has start 0.5 and end 0.4"),
    ("s1 carol/001.flac 0 1", "segments:2: 'carol/001.flac' is not an audio file of the corpus"),
    ("s0 alice/mon/001.flac 0 1", "segments:2: segment 's0' also on line 1"),
    ("s1 alice/mon/001.flac 0.6 1", "segments:2: segment 's1' starts at 0.6 s, after the end"),
])
def test_bad_segments_name_the_line(tmp_path, line, message):
    root = nested(tmp_path / "corpus")
    segs = tmp_path / "segments"
    segs.write_text(f"s0 alice/mon/001.flac 0 0.2\n{line}\n")
    with pytest.raises(CorpusError, match=message):
        prepare_plain(root, tmp_path / "data", speaker="dir:1", segments=segs)


# ----------------------------------------------------------------------------- trials

def lab_data(tmp_path: Path) -> Path:
    root = nested(tmp_path / "corpus")
    prepare_plain(root, tmp_path / "data", speaker="dir:1")
    return tmp_path / "data"


def test_voxceleb_list_naming_wav_files_that_are_flac_here(tmp_path):
    data = lab_data(tmp_path)
    lst = tmp_path / "veri.txt"
    lst.write_text("1 alice/mon/001.wav alice/tue/002.wav\n0 alice/mon/001.wav bob/mon/001.wav\n"
                   "0 ./bob/mon/002.wav alice/tue/002.flac\n")
    counts = convert_trials(lst, data, tmp_path / "trials")
    assert counts == {"trials": 3, "target": 1, "nontarget": 2, "duplicates": 0}
    assert (tmp_path / "trials").read_text() == ("alice-mon-001 alice-tue-002 target\n"
                                                 "alice-mon-001 bob-mon-001 nontarget\n"
                                                 "bob-mon-002 alice-tue-002 nontarget\n")


def test_kaldi_and_nist_lists_and_an_unlabelled_one(tmp_path):
    data = lab_data(tmp_path)
    k = tmp_path / "k.txt"
    k.write_text("alice-mon-001 bob-mon-001 nontarget\nalice-mon-001 alice-tue-002 target\n")
    convert_trials(k, data, tmp_path / "t1")
    k.write_text(f"alice-mon-001 {tmp_path}/corpus/bob/mon/001.flac 0\nalice/mon/001 tue/002.flac 1\n")  # label last
    convert_trials(k, data, tmp_path / "t2")
    nist = tmp_path / "key.tsv"
    nist.write_text("modelid\tsegmentid\tside\ttargettype\nalice-mon-001\tbob/mon/001.flac\ta\tnontarget\n"
                    "alice-mon-001\talice-tue-002\ta\ttarget\n")
    assert read_trial_list(nist)[1] == "nist"
    convert_trials(nist, data, tmp_path / "t3")
    want = "alice-mon-001 alice-tue-002 target\nalice-mon-001 bob-mon-001 nontarget\n"
    for name in ("t1", "t2", "t3"):
        assert (tmp_path / name).read_text() == want, name
    k.write_text("alice-mon-001 bob-mon-001\nalice-mon-001 alice-tue-002\n")
    assert convert_trials(k, data, tmp_path / "t4")["target"] == 0
    assert (tmp_path / "t4").read_text() == "alice-mon-001 alice-tue-002\nalice-mon-001 bob-mon-001\n"


@pytest.mark.parametrize("text, message", [
    ("1 alice/mon/001.wav alice/tue/002.wav\n0 alice/mon/001.wav carol/x/1.wav\n",
     r"veri.txt:2: test 'carol/x/1.wav' is not in the corpus of .*data: no utterance id, and no file of "
     r".*wav.scp ends in 'carol/x/1.wav' or 'carol/x/1.\*'"),
    ("1 alice/mon/001.wav alice/tue/002.wav\n1 mon/001.wav alice/tue/002.wav\n",
     r"veri.txt:2: enrolment 'mon/001.wav' matches several utterances .*alice-mon-001, bob-mon-001"),
    ("1 alice/mon/001.wav alice/tue/002.wav\n1 alice/mon/001.wav\n", r"veri.txt:2: expected '<1\|0> <enroll> <test>'"),
    ("alice-mon-001 bob-mon-001 maybe\n", r"veri.txt:1: 'maybe' is not a trial label"),
    ("alice-mon-001 bob-mon-001 target\nalice-mon-001 alice-tue-002\n",
     r"veri.txt:2: trial without a label in a labelled list"),
    ("alice-mon-001 alice-tue-002 target\n", "every trial is a target trial"),
    ("a b c d e\n", r"veri.txt:1: cannot tell the trial list format"),
    ("modelid\tsegmentid\ttargettype\nalice-mon-001\tbob-mon-001\n", r"veri.txt:2: 2 fields, the header has 3"),
    ("", "empty trial list"),
])
def test_bad_trial_lists_name_the_line(tmp_path, text, message):
    data = lab_data(tmp_path)
    lst = tmp_path / "veri.txt"
    lst.write_text(text)
    with pytest.raises(TrialError, match=message):
        convert_trials(lst, data, tmp_path / "trials")
    assert not (tmp_path / "trials").exists()


def test_the_shell_tools_write_validated_dirs_and_fail_in_one_line(tmp_path):
    root = nested(tmp_path / "corpus")
    env = dict(os.environ, LC_ALL="C")
    done = subprocess.run([str(ROOT / "local/plain/make_data_dir.sh"), "--speaker", "dir:1", str(root),
                           str(tmp_path / "data")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Successfully validated" in done.stderr
    lst = tmp_path / "veri.txt"
    lst.write_text("1 alice/mon/001.wav alice/tue/002.wav\n0 alice/mon/001.wav nobody/1.wav\n")
    done = subprocess.run([str(ROOT / "local/plain/convert_trials.sh"), str(lst), str(tmp_path / "data"),
                           str(tmp_path / "trials")], env=env, capture_output=True, text=True)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "veri.txt:2: test 'nobody/1.wav' is not in the corpus" in last
    done = subprocess.run([str(ROOT / "local/plain/make_data_dir.sh"), "--speaker", "dir:9", str(root),
                           str(tmp_path / "d2")], env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "names directory 9" in done.stderr.strip().splitlines()[-1]


def test_ffmpeg_inputs_become_pipes(tmp_path, monkeypatch):
    root = tmp_path / "c"
    audio(root / "a.wav", 0.5)
    # an "m4a" that is really a wav, and an ffmpeg that copies its -i input to stdout
    audio(tmp_path / "x.wav", 0.25)
    (root / "b c.m4a").write_bytes((tmp_path / "x.wav").read_bytes())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ffmpeg").write_text('#!/bin/sh\nwhile [ "$1" != -i ]; do shift; done\ncat "$2"\n')
    (bin_dir / "ffmpeg").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    prepare_plain(root, tmp_path / "data", sample_rate=16000)
    wav = table(tmp_path / "data", "wav.scp")
    assert wav["b_c"] == f"ffmpeg -v 8 -i '{root / 'b c.m4a'}' -ar 16000 -f wav -acodec pcm_s16le - |"
    assert not (tmp_path / "data" / "utt2dur").exists()   # an ffmpeg input's length is known after decoding
    samples, _ = read_audio(wav["b_c"])
    assert len(samples) == 4000
    validate(tmp_path / "data")


def test_a_file_name_that_is_not_utf8_is_named(tmp_path):
    """A Latin-1 byte in a file name (issue 26 point 9) stops data prep with the file named and the byte
    shown, not a UnicodeEncodeError naming nothing when the tables are written."""
    root = tmp_path / "c"
    audio(root / "spk" / "ok.wav")
    audio(root / "spk" / "x.wav")
    os.rename(os.fsencode(root / "spk" / "x.wav"), os.fsencode(root / "spk") + b"/caf\xe9.wav")
    with pytest.raises(CorpusError, match=r"spk/caf\\xe9\.wav: the name is not UTF-8 \(byte 0xe9, shown as \\xe9\)"):
        prepare_plain(root, tmp_path / "d", speaker="dir:1")
    assert not (tmp_path / "d" / "wav.scp").exists()


def test_the_same_relative_path_under_two_folders_is_named_as_such(tmp_path):
    """Two audio folders holding the same relative path (issue 26 point 9): the error says so and what
    to do, not 'paths differ only in extension'."""
    a, b = tmp_path / "a", tmp_path / "b"
    audio(a / "s1" / "001.wav")
    audio(b / "s1" / "001.wav")
    with pytest.raises(CorpusError, match=r"001\.wav: its recording id 's1-001' is also that of .*001\.wav \(the "
                                          r"same path s1/001\.wav under two audio folders \(.*a and .*b\); .*give "
                                          r"the one folder above both"):
        prepare_plain([a, b], tmp_path / "d", speaker="dir:1")
    (b / "s1" / "001.wav").unlink()
    audio(b / "s1" / "001.flac")
    with pytest.raises(CorpusError, match=r"differ only in extension"):
        prepare_plain([a, b], tmp_path / "d", speaker="dir:1")
    (b / "s1" / "001.flac").unlink()
    audio(b / "s1-001.wav")
    with pytest.raises(CorpusError, match=r"differ only in '/' versus '-'"):
        prepare_plain([a, b], tmp_path / "d", speaker="dir:1")
