"""Corpus preparation on hand-written fixtures in the real formats (tests/data/fixtures/corpora).

Expected outputs are written out by hand from the fixture text (the reference); the audio
is tiny wav files made here, whose durations are known by construction.
"""
from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from utter.data.corpora import CorpusError, adress, iemocap, musan, rirs, voxceleb
from utter.data.datadir import DataDir, read_id_list, read_table

FIX = Path(__file__).parent / "fixtures" / "corpora"
ROOT = Path(__file__).resolve().parents[2]


def wav(path: Path, seconds: float = 0.25, rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(round(seconds * rate))
    soundfile.write(str(path), (0.1 * np.sin(np.arange(n) / 7.0)).astype(np.float32), rate, subtype="PCM_16")
    return path


def table(d: Path, name: str) -> dict:
    return dict(read_table(d / name, allow_empty_value=True))


# ----------------------------------------------------------------------------- IEMOCAP
def _emo_line(utt, label, vad=(2.5, 2.5, 2.5), start=1.0):
    dims = ", ".join(f"{x:.4f}" for x in vad)
    return f"[{start:.4f} - {start + 1:.4f}]\t{utt}\t{label}\t[{dims}]\nC-E2:\tNeutral;\t()\n\n"


HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"


def make_iemocap(root: Path, seconds: float = 0.25) -> Path:
    """Two sessions; session 1 from the fixture file plus a scripted dialog; decoys beside them."""
    ses1 = root / "Session1"
    emo1 = ses1 / "dialog" / "EmoEvaluation"
    emo1.mkdir(parents=True)
    shutil.copy(FIX / "Ses01F_impro01.txt", emo1 / "Ses01F_impro01.txt")
    (emo1 / "Ses01F_script01_1.txt").write_text(
        HEADER + _emo_line("Ses01F_script01_1_F000", "sad", (1.5, 2.0, 2.5))
        + _emo_line("Ses01F_script01_1_M000", "hap"))
    # Decoys that a careless reader would take for label files.
    (emo1 / "Categorical").mkdir()
    (emo1 / "Categorical" / "Ses01F_impro01_e2_cat.txt").write_text("Ses01F_impro01_F000 :Neutral state; ()\n[bad\n")
    (emo1 / "Attribute").mkdir()
    (emo1 / "Attribute" / "Ses01F_impro01_e3_atr.txt").write_text("[junk line\n")
    (emo1 / "._Ses01F_impro01.txt").write_bytes(b"\x00\x05\x16\x07[Mac OS X resource fork\xff")
    emo2 = root / "Session2" / "dialog" / "EmoEvaluation"
    emo2.mkdir(parents=True)
    (emo2 / "Ses02M_impro03.txt").write_text(
        HEADER + _emo_line("Ses02M_impro03_F000", "neu") + _emo_line("Ses02M_impro03_M000", "ang", (1.0, 4.5, 4.0))
        + _emo_line("Ses02M_impro03_M001", "sur"))
    (emo2 / "Ses02M_script02_2.txt").write_text(HEADER + _emo_line("Ses02M_script02_2_F000", "exc"))
    for sdir in (root / "Session1", root / "Session2"):
        for f in sorted((sdir / "dialog" / "EmoEvaluation").glob("Ses*.txt")):
            for r in iemocap.parse_emo_evaluation(f):
                wav(sdir / "sentences" / "wav" / r.dialog / f"{r.utt}.wav", seconds)
    return root


def test_emo_evaluation_parser_reads_summary_lines_only():
    recs = iemocap.parse_emo_evaluation(FIX / "Ses01F_impro01.txt")
    assert [(r.utt, r.label) for r in recs] == [
        ("Ses01F_impro01_F000", "neu"), ("Ses01F_impro01_M000", "exc"), ("Ses01F_impro01_F001", "fru"),
        ("Ses01F_impro01_M001", "xxx"), ("Ses01F_impro01_F002", "ang")]
    r = recs[1]
    assert (r.start, r.end, r.vad) == (10.01, 11.3925, (3.5, 3.0, 3.0))
    assert (r.speaker, r.session, r.gender, r.dialog) == ("Ses01M", "Ses01", "m", "Ses01F_impro01")
    assert r.utt_id == "Ses01M-Ses01F_impro01_M000"
    assert recs[0].speaker == "Ses01F" and recs[0].lineno == 3


@pytest.mark.parametrize("line, what", [
    ("[6.29 - 8.23]\tSes01F_impro01_F000\tneu\n", "expected '[START - END]"),
    ("[6.29 - 8.23]\tSes01F_impro01_F000\tjoy\t[2.5, 2.5, 2.5]\n", "unknown label 'joy'"),
    ("[6.29 - 8.23]\tSes01_impro01_X000\tneu\t[2.5, 2.5, 2.5]\n", "is not of the form"),
])
def test_emo_evaluation_malformed_line_names_file_and_line(tmp_path, line, what):
    f = tmp_path / "Ses01F_impro01.txt"
    f.write_text(HEADER + _emo_line("Ses01F_impro01_M000", "neu") + line)
    with pytest.raises(CorpusError, match=r"Ses01F_impro01.txt:6: .*" + re.escape(what)):
        iemocap.parse_emo_evaluation(f)


def test_prepare_iemocap(tmp_path):
    root = make_iemocap(tmp_path / "IEMOCAP_full_release")
    out = iemocap.prepare_iemocap(root, tmp_path / "data")
    full, four = out["iemocap_all"], out["iemocap"]
    emo_full = table(full, "utt2emo_full")
    assert len(emo_full) == 11 and emo_full["Ses01M-Ses01F_impro01_M001"] == "xxx"
    assert table(four, "utt2emo") == {
        "Ses01F-Ses01F_impro01_F000": "neu", "Ses01M-Ses01F_impro01_M000": "hap",
        "Ses01F-Ses01F_impro01_F002": "ang", "Ses01F-Ses01F_script01_1_F000": "sad",
        "Ses01M-Ses01F_script01_1_M000": "hap", "Ses02F-Ses02M_impro03_F000": "neu",
        "Ses02M-Ses02M_impro03_M000": "ang", "Ses02F-Ses02M_script02_2_F000": "hap"}
    assert table(four, "utt2emo_full")["Ses01M-Ses01F_impro01_M000"] == "exc"
    dd = DataDir(four)
    assert dd.utt2spk["Ses02M-Ses02M_impro03_M000"] == "Ses02M"
    assert all(u.startswith(s + "-") for u, s in dd.utt2spk.items())
    assert table(four, "utt2session")["Ses02F-Ses02M_impro03_F000"] == "Ses02"
    assert table(four, "spk2gender") == {"Ses01F": "f", "Ses01M": "m", "Ses02F": "f", "Ses02M": "m"}
    assert table(four, "utt2vad_dims")["Ses02M-Ses02M_impro03_M000"] == "1.0000 4.5000 4.0000"
    assert dd.wav_scp["Ses01M-Ses01F_impro01_M000"].endswith(
        "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M000.wav")
    assert set(dd.utt2dur.values()) == {0.25}
    assert list(dd.spk2utt) == ["Ses01F", "Ses01M", "Ses02F", "Ses02M"]
    # Folds: fold k tests session k; dev is held out from the other sessions, disjoint from train.
    for k, ses in (("1", "Ses01"), ("2", "Ses02")):
        f = four / "folds" / k
        test, train, dev = (read_id_list(f / p) for p in ("test", "train", "dev"))
        assert test == sorted(u for u, s in table(four, "utt2session").items() if s == ses)
        assert not set(train) & set(dev) and not (set(train) | set(dev)) & set(test)
        assert sorted(train + dev + test) == sorted(dd.utts)
        assert dev, "each fold has a dev part"
    # Fold 1's dev comes from Ses02, where a whole dialog fits 20%: dialogs are not split.
    # Ses01 (fold 2's dev) has dialogs of 3 and 2 utterances, none near 20% of 5: utterances are held out.
    dialogs = lambda us: {u.split("-", 1)[1].rsplit("_", 1)[0] for u in us}  # noqa: E731
    f1 = four / "folds" / "1"
    assert dialogs(read_id_list(f1 / "dev")) == {"Ses02M_script02_2"}
    assert not dialogs(read_id_list(f1 / "train")) & dialogs(read_id_list(f1 / "dev"))
    assert len(read_id_list(four / "folds" / "2" / "dev")) == 1


def test_iemocap_folds_split_dialogs_near_the_fraction():
    utt2session = {f"u{d}_{i}": "Ses01" for d in range(10) for i in range(10)}
    utt2session.update({f"v{d}_{i}": "Ses02" for d in range(5) for i in range(d + 1)})
    utt2dialog = {u: u.split("_")[0] for u in utt2session}
    folds = iemocap.session_folds(utt2session, utt2dialog, 0.2)
    dev1 = folds["2"]["dev"]  # fold 2 tests Ses02, so dev comes from Ses01: 2 of 10 equal dialogs
    assert len(dev1) == 20 and len({utt2dialog[u] for u in dev1}) == 2
    assert folds == iemocap.session_folds(dict(reversed(list(utt2session.items()))), utt2dialog, 0.2)


def test_iemocap_missing_audio_and_layout_errors(tmp_path):
    root = make_iemocap(tmp_path / "IEMOCAP_full_release")
    (root / "Session2/sentences/wav/Ses02M_impro03/Ses02M_impro03_M000.wav").unlink()
    with pytest.raises(CorpusError, match=r"Ses02M_impro03.txt:6: utterance 'Ses02M_impro03_M000' has no audio"):
        iemocap.prepare_iemocap(root, tmp_path / "data")
    shutil.rmtree(root / "Session2/dialog/EmoEvaluation")
    with pytest.raises(CorpusError, match=r"Session2/dialog/EmoEvaluation: missing directory"):
        iemocap.prepare_iemocap(root, tmp_path / "data")
    with pytest.raises(CorpusError, match="no SessionN directories"):
        iemocap.prepare_iemocap(tmp_path, tmp_path / "data")


def test_iemocap_warns_when_a_complete_looking_corpus_has_the_wrong_count(tmp_path, caplog):
    root = tmp_path / "IEMOCAP_full_release"
    for s in range(1, 6):
        emo = root / f"Session{s}" / "dialog" / "EmoEvaluation"
        emo.mkdir(parents=True)
        dialog = f"Ses0{s}F_impro01"
        lines = [HEADER] + [_emo_line(f"{dialog}_F{i:03d}", "neu") for i in range(2001)]
        (emo / f"{dialog}.txt").write_text("".join(lines))
        wdir = root / f"Session{s}" / "sentences" / "wav" / dialog
        wdir.mkdir(parents=True)
        for i in range(2001):
            (wdir / f"{dialog}_F{i:03d}.wav").touch()
    with caplog.at_level(logging.WARNING, logger="utter.corpora"):
        iemocap.prepare_iemocap(root, tmp_path / "data", durations=False)
    assert "not the standard 5531" in caplog.text and "!!!!" in caplog.text


# ----------------------------------------------------------------------------- ADReSS
@pytest.mark.parametrize("raw, clean", [
    ("&-uh the boy is [/] is getting (.) cookies .", "the boy is is getting cookies"),
    ("<and the> [//] and the mother is &=laughs washing (..) dishes [+ exc] .",
     "and the and the mother is washing dishes"),
    ("he's gonna [: going to] fall [* p:w] off the stool &uh +...", "he's gonna fall off the stool"),
    ("(be)cause he wa:nts the cookie_jar +//.", "because he wants the cookie jar"),
    ("she's &+wa wiping 0is the &um ice+cream plate@o ?", "she's wiping the ice cream plate"),
    ("xxx (2.5) yyy www .", ""),
    ("+\" and then , he said ‡ okay !", "and then he said okay"),
])
def test_clean_chat_text(raw, clean):
    assert adress.clean_chat_text(raw) == clean


def test_parse_chat_tiers_bullets_and_ids():
    tr = adress.parse_chat(FIX / "S003.cha")
    par = tr.participant()
    assert len(par) == 6 and len(tr.participant("INV")) == 2
    assert (par[0].start, par[0].end, par[0].lineno) == (2.1, 5.4, 10)
    assert par[1].raw.endswith("and xxx the water is (..) running over [+ exc] .")  # continuation joined
    assert "\x15" not in par[1].raw and (par[1].start, par[1].end) == (5.4, 11.25)
    assert par[5].start is None and par[5].raw == "yeah ."
    assert tr.sex() == "m" and tr.ids["PAR"][8] == "18"


def test_parse_chat_malformed_tier(tmp_path):
    f = tmp_path / "S001.cha"
    f.write_text("@Begin\n@ID:\teng|Pitt|PAR|57;|male|Control||Participant|29||\n*PAR hello .\n@End\n")
    with pytest.raises(CorpusError, match=r"S001.cha:3: malformed main tier"):
        adress.parse_chat(f)


def _cha(sex="male", words="the boy .", bullet=(0, 1500)):
    b = f"\x15{bullet[0]}_{bullet[1]}\x15" if bullet else ""
    return (f"@UTF8\n@Begin\n@Participants:\tPAR Participant, INV Investigator\n"
            f"@ID:\teng|Pitt|PAR|60;|{sex}|Control||Participant|29||\n@ID:\teng|Pitt|INV|||||Investigator|||\n"
            f"*INV:\ttell me . \x150_400\x15\n*PAR:\t{words} {b}\n@End\n")


def make_adress(root: Path) -> Path:
    train = root / "train"
    (train / "cc_meta_data.txt").parent.mkdir(parents=True)
    head = "ID   ; age; gender ;mmse\n"
    (train / "cc_meta_data.txt").write_text(head + "S001 ; 74 ; male   ; 30\nS002 ; 62 ; female ; 29\n")
    (train / "cd_meta_data.txt").write_text(head + "S003 ; 57 ; male ; 18\nS004 ; 80 ; female ; NA\n")
    for sid, lab, sex in (("S001", "cc", "male"), ("S002", "cc", "female"), ("S004", "cd", "female")):
        wav(train / "Full_wave_enhanced_audio" / lab / f"{sid}.wav", 2.0, 44100)
        (train / "Transcription" / lab).mkdir(parents=True, exist_ok=True)
        (train / "Transcription" / lab / f"{sid}.cha").write_text(_cha(sex, f"&-uh {sid} words [/] words ."))
    wav(train / "Full_wave_enhanced_audio" / "cd" / "S003.wav", 20.0, 8000)
    shutil.copy(FIX / "S003.cha", train / "Transcription" / "cd" / "S003.cha")
    test = root / "test"
    (test / "Transcription").mkdir(parents=True)
    (test / "meta_data.txt").write_text("ID   ; age; gender;\nS160 ; 56; 1 ;\nS161 ; 71; 0 ;\n")
    (test / "meta_data_test.txt").write_text(
        "ID   ; age; gender; Label; mmse\nS160 ; 56; 1; 0; 29\nS161 ; 71; 0; 1; 16\n")
    for sid, sex in (("S160", "female"), ("S161", "male")):
        wav(test / "Full_wave_enhanced_audio" / f"{sid}.wav", 1.0, 44100)
        (test / "Transcription" / f"{sid}.cha").write_text(_cha(sex))
    return root


def test_read_meta_padded_fields_and_na(tmp_path):
    root = make_adress(tmp_path / "ADReSS-IS2020-data")
    meta = adress.read_meta(root / "train" / "cd_meta_data.txt")
    assert meta["S004"]["mmse"] == "NA" and meta["S003"]["gender"] == "male" and meta["S003"]["age"] == "57"
    assert adress.parse_mmse("NA", "x") is None and adress.parse_mmse(" 18 ", "x") == "18"
    bad = tmp_path / "bad_meta.txt"
    bad.write_text("ID   ; age; gender ;mmse\nS001 ; 74 ; male ; 30\nS002 ; 62 ; female\n")
    with pytest.raises(CorpusError, match=r"bad_meta.txt:3: expected 4 ';'-separated fields"):
        adress.read_meta(bad)
    bad.write_text("ID   ; age; gender ;mmse\nS001 ; 74 ; man ; 30\n")
    with pytest.raises(CorpusError, match=r"bad_meta.txt:2: gender 'man'"):
        adress.parse_gender("man", f"{bad}:2", numeric=False)
    with pytest.raises(CorpusError, match=r"x: MMSE 31 is outside"):
        adress.parse_mmse("31", "x")


def test_prepare_adress_recordings(tmp_path, caplog):
    root = make_adress(tmp_path / "ADReSS-IS2020-data")
    with caplog.at_level(logging.INFO, logger="utter.corpora"):
        out = adress.prepare_adress(root, tmp_path / "data")
    tr, te = out["adress_train"], out["adress_test"]
    assert table(tr, "utt2label") == {"S001": "cc", "S002": "cc", "S003": "cd", "S004": "cd"}
    assert table(tr, "utt2mmse") == {"S001": "30", "S002": "29", "S003": "18"}  # S004's NA left out
    assert "1 speaker(s) without MMSE (NA)" in caplog.text
    assert table(tr, "utt2gender") == {"S001": "m", "S002": "f", "S003": "m", "S004": "f"}
    assert table(tr, "utt2age")["S004"] == "80"
    assert DataDir(tr).utt2dur == {"S001": 2.0, "S002": 2.0, "S003": 20.0, "S004": 2.0}
    assert table(tr, "text")["S003"] == ("the boy is is getting cookies and the and the mother is washing the dishes "
                                         "and the water is running over he's gonna fall off the stool because he "
                                         "wants the cookie jar she's wiping the ice cream plate yeah")
    assert table(tr, "text_raw")["S001"] == "&-uh S001 words [/] words ."
    # Test labels: Label 0 = cc, 1 = cd; gender 0 = male, 1 = female (checked against @ID).
    assert table(te, "utt2label") == {"S160": "cc", "S161": "cd"}
    assert table(te, "utt2gender") == {"S160": "f", "S161": "m"}
    assert table(te, "utt2mmse") == {"S160": "29", "S161": "16"}
    assert "disagrees" not in caplog.text
    folds = sorted((tr / "folds").iterdir())
    assert len(folds) == 4
    assert read_id_list(tr / "folds" / "3" / "test") == ["S003"]
    assert read_id_list(tr / "folds" / "3" / "train") == ["S001", "S002", "S004"]


def test_prepare_adress_segments_and_grouped_folds(tmp_path, caplog):
    root = make_adress(tmp_path / "ADReSS-IS2020-data")
    with caplog.at_level(logging.INFO, logger="utter.corpora"):
        out = adress.prepare_adress(root, tmp_path / "data", segments=True, cv_folds=2)
    tr = DataDir(out["adress_train"])
    segs = tr.segments
    s3 = {u: v for u, v in segs.items() if u.startswith("S003-")}
    # Five bulleted PAR turns; the last one's end (90 s) is clipped to the 20 s recording.
    assert s3 == {"S003-0000": ("S003", 2.1, 5.4), "S003-0001": ("S003", 5.4, 11.25),
                  "S003-0002": ("S003", 12.0, 15.5), "S003-0003": ("S003", 15.5, 18.0),
                  "S003-0004": ("S003", 18.0, 20.0)}
    assert "no_bullet: 1" in caplog.text
    assert tr.utt2spk["S003-0002"] == "S003"
    assert table(tr.path, "text")["S003-0002"] == "he's gonna fall off the stool"
    assert table(tr.path, "utt2label")["S003-0003"] == "cd" and table(tr.path, "utt2mmse")["S003-0003"] == "18"
    assert "S004-0000" not in table(tr.path, "utt2mmse")
    assert tr.utt2dur["S003-0001"] == pytest.approx(5.85)
    assert set(tr.wav_scp) == {"S001", "S002", "S003", "S004"}
    test_lists = [read_id_list(tr.path / "folds" / k / "test") for k in ("1", "2")]
    spk_sets = [{u.split("-")[0] for u in t} for t in test_lists]
    assert sorted(spk_sets[0] | spk_sets[1]) == ["S001", "S002", "S003", "S004"] and not spk_sets[0] & spk_sets[1]
    labels = table(tr.path, "utt2label")
    for t in test_lists:  # stratified: each fold holds one cc and one cd speaker
        assert {labels[u] for u in t} == {"cc", "cd"}


def test_adress_errors(tmp_path, caplog):
    root = make_adress(tmp_path / "ADReSS-IS2020-data")
    (root / "train" / "Transcription" / "cc" / "S002.cha").unlink()
    with pytest.raises(CorpusError, match=r"cc_meta_data.txt:3: speaker S002 has no transcript"):
        adress.prepare_adress(root, tmp_path / "data")
    root = make_adress(tmp_path / "second" / "ADReSS-IS2020-data")
    (root / "test" / "meta_data_test.txt").write_text(
        "ID; age; gender; Label; mmse\nS160 ; 56; 1; 2; 29\nS161 ; 71; 0; 1; 16\n")
    with pytest.raises(CorpusError, match=r"meta_data_test.txt:2: label '2'"):
        adress.prepare_adress(root, tmp_path / "data")
    (root / "test" / "meta_data_test.txt").unlink()
    (root / "test" / "meta_data.txt").write_text("ID   ; age; gender;\nS160 ; 56; 0 ;\nS161 ; 71; 0 ;\n")
    with caplog.at_level(logging.WARNING, logger="utter.corpora"):
        out = adress.prepare_adress(root, tmp_path / "data2")
    assert not (out["adress_test"] / "utt2label").exists()
    assert "No ADReSS test labels file" in caplog.text and "disagrees with the transcript" in caplog.text


# ----------------------------------------------------------------------------- VoxCeleb
VOX1_UTTS = ["id10001/1zcIwhmdeo4/00001", "id10001/7w0IBEWc9Qw/00002", "id10002/C7k7C-PDvAA/00001",
             "id10270/x6uYqmx31kE/00001", "id10270/8jEAjG6SegY/00008", "id10271/-a_Zk9X1Ywc/00003",
             "id10271/1gtz-CUIygI/00001"]


def make_vox1(root: Path, utts=VOX1_UTTS) -> Path:
    for u in utts:
        wav(root / "wav" / f"{u}.wav", 0.5)
    for name in ("vox1_meta.csv", "veri_test2.txt", "list_test_hard2.txt"):
        shutil.copy(FIX / name, root / name)
    (root / "veri_test.txt").write_text("1 id10270/x6uYqmx31kE/00001.wav id10270/8jEAjG6SegY/00008.wav\n")
    return root


def test_prepare_voxceleb1(tmp_path):
    root = make_vox1(tmp_path / "voxceleb1")
    out = voxceleb.prepare_voxceleb1(root, tmp_path / "data")
    alld = DataDir(out["voxceleb1"])
    assert alld.utts == sorted(u.replace("/", "-") for u in VOX1_UTTS)
    assert alld.utt2spk["id10271--a_Zk9X1Ywc-00003"] == "id10271"
    assert set(alld.utt2dur.values()) == {0.5}
    assert DataDir(out["voxceleb1_test"]).utts == [u.replace("/", "-") for u in sorted(VOX1_UTTS[3:])]
    assert list(DataDir(out["voxceleb1_dev"]).spk2utt) == ["id10001", "id10002"]
    assert table(out["voxceleb1_test"], "utt2nationality")["id10271-1gtz-CUIygI-00001"] == "New_Zealand"
    assert table(out["voxceleb1"], "spk2gender") == {"id10001": "m", "id10002": "m", "id10270": "m", "id10271": "f"}
    o = (tmp_path / "data" / "voxceleb1_trials" / "O").read_text().splitlines()
    assert o == sorted([
        "id10270-x6uYqmx31kE-00001 id10270-8jEAjG6SegY-00008 target",
        "id10270-x6uYqmx31kE-00001 id10271--a_Zk9X1Ywc-00003 nontarget",
        "id10271--a_Zk9X1Ywc-00003 id10271-1gtz-CUIygI-00001 target",
        "id10271-1gtz-CUIygI-00001 id10270-8jEAjG6SegY-00008 nontarget"])
    assert (tmp_path / "data" / "voxceleb1_trials" / "H").read_text().count("target") == 2
    assert (tmp_path / "data" / "voxceleb1_trials" / "O_orig").read_text().splitlines() == [
        "id10270-x6uYqmx31kE-00001 id10270-8jEAjG6SegY-00008 target"]


def test_voxceleb1_trial_errors(tmp_path, caplog):
    root = make_vox1(tmp_path / "voxceleb1")
    with open(root / "veri_test2.txt", "a") as f:
        f.write("1 id10270/x6uYqmx31kE/00001.wav\n")
    with pytest.raises(CorpusError, match=r"veri_test2.txt:5: expected"):
        voxceleb.prepare_voxceleb1(root, tmp_path / "data")
    shutil.copy(FIX / "veri_test2.txt", root / "veri_test2.txt")
    with open(root / "veri_test2.txt", "a") as f:
        f.write("0 id10270/x6uYqmx31kE/00001.wav id10271/nosuchvideo/00009.wav\n")
    with pytest.raises(CorpusError, match=r"veri_test2.txt:5: utterance 'id10271-nosuchvideo-00009' has no audio"):
        voxceleb.prepare_voxceleb1(root, tmp_path / "data")
    # Only the test part present: the H list over dev speakers is skipped, not an error.
    root2 = make_vox1(tmp_path / "test_only", VOX1_UTTS[3:])
    with caplog.at_level(logging.WARNING, logger="utter.corpora"):
        out = voxceleb.prepare_voxceleb1(root2, tmp_path / "data2", durations=False)
    assert "trials/O" in out and "trials/H" not in out and "voxceleb1_dev" not in out
    assert "trial list H not written" in caplog.text
    (root2 / "vox1_meta.csv").write_text("VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\nid10270\tA\tm\tUSA\n")
    with pytest.raises(CorpusError, match=r"vox1_meta.csv:2: expected 5 fields separated by tab"):
        voxceleb.prepare_voxceleb1(root2, tmp_path / "data2")


def test_prepare_voxceleb2_m4a_and_wav(tmp_path):
    dev = tmp_path / "voxceleb2" / "dev"
    for u in ("id00012/21Uxsk56VDQ/00001", "id00012/21Uxsk56VDQ/00002", "id00015/0fijmz4vTVU/00001"):
        p = dev / "aac" / f"{u}.m4a"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()
    (tmp_path / "voxceleb2" / "vox2_meta.csv").write_text(
        "VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set \nid00012 ,n000012 ,m ,dev \nid00015 ,n000015 ,f ,dev \n")
    out = voxceleb.prepare_voxceleb2(dev, tmp_path / "data" / "voxceleb2_dev")
    dd = DataDir(out)
    entry = dd.wav_scp["id00012-21Uxsk56VDQ-00002"]
    assert entry == f"ffmpeg -v 8 -i {dev.resolve()}/aac/id00012/21Uxsk56VDQ/00002.m4a -f wav -acodec pcm_s16le - |"
    assert not dd.has("utt2dur") and table(out, "utt2gender")["id00015-0fijmz4vTVU-00001"] == "f"
    assert dd.spk2utt["id00012"] == ["id00012-21Uxsk56VDQ-00001", "id00012-21Uxsk56VDQ-00002"]
    wdev = tmp_path / "wavcopy" / "dev"
    wav(wdev / "wav" / "id00012" / "21Uxsk56VDQ" / "00001.wav", 0.75)
    out = voxceleb.prepare_voxceleb2(wdev, tmp_path / "data" / "voxceleb2_wav", fmt="wav")
    assert DataDir(out).utt2dur == {"id00012-21Uxsk56VDQ-00001": 0.75}
    assert DataDir(out).wav_scp["id00012-21Uxsk56VDQ-00001"].endswith("wav/id00012/21Uxsk56VDQ/00001.wav")


# ----------------------------------------------------------------------------- MUSAN, RIRs
def make_musan(root: Path) -> Path:
    wav(root / "music" / "fma" / "music-fma-0000.wav", 0.5)
    wav(root / "music" / "fma" / "music-fma-0001.wav", 0.5)
    shutil.copy(FIX / "music_ANNOTATIONS", root / "music" / "fma" / "ANNOTATIONS")
    wav(root / "noise" / "free-sound" / "noise-free-sound-0000.wav", 0.3)
    (root / "noise" / "free-sound" / "ANNOTATIONS").write_text("noise-free-sound-0000 http://example/0000\n")
    wav(root / "speech" / "librivox" / "speech-librivox-0000.wav", 0.4)
    (root / "speech" / "librivox" / "ANNOTATIONS").write_text("speech-librivox-0000 f english\n")
    return root


def test_prepare_musan(tmp_path):
    root = make_musan(tmp_path / "musan")
    out = musan.prepare_musan(root, tmp_path / "data")
    music = DataDir(out["musan_music"])
    assert music.utt2spk == {"music-fma-0000": "music-fma-0000", "music-fma-0001": "music-fma-0001"}
    assert table(music.path, "utt2vocals") == {"music-fma-0000": "N", "music-fma-0001": "Y"}
    assert table(music.path, "utt2genre")["music-fma-0001"] == "Pop,Rock"
    assert DataDir(out["musan_noise"]).utt2dur == {"noise-free-sound-0000": 0.3}
    assert table(out["musan_noise"], "reco2dur") == {"noise-free-sound-0000": "0.300"}
    assert table(out["musan_speech"], "utt2gender") == {"speech-librivox-0000": "f"}
    out = musan.prepare_musan(root, tmp_path / "data", use_vocals=False)
    assert DataDir(out["musan_music"]).utts == ["music-fma-0000"]
    (root / "music" / "fma" / "ANNOTATIONS").write_text("music-fma-0000 Electronic N Ars\nmusic-fma-0001 Pop\n")
    with pytest.raises(CorpusError, match=r"fma/ANNOTATIONS:2: expected"):
        musan.prepare_musan(root, tmp_path / "data")
    shutil.copy(FIX / "music_ANNOTATIONS", root / "music" / "fma" / "ANNOTATIONS")
    shutil.rmtree(root / "speech")
    with pytest.raises(CorpusError, match=r"musan/speech: missing directory"):
        musan.prepare_musan(root, tmp_path / "data")


def make_rirs(root: Path) -> Path:
    for size, n in (("small", 2), ("medium", 1)):
        lines = []
        for i in range(1, n + 1):
            rel = f"RIRS_NOISES/simulated_rirs/{size}room/Room001/Room001-0000{i}.wav"
            wav(root.parent / rel, 0.1)
            lines.append(f"--rir-id {size}-Room001-0000{i} --room-id {size}-Room001 {rel}")
        (root / "simulated_rirs" / f"{size}room" / "rir_list").write_text("\n".join(lines) + "\n")
    return root


def test_prepare_rirs(tmp_path):
    root = make_rirs(tmp_path / "RIRS_NOISES")
    out = rirs.prepare_rirs(root, tmp_path / "data")
    small = DataDir(out["rirs_small"])
    assert small.utt2spk == {"small-Room001-00001": "small-Room001", "small-Room001-00002": "small-Room001"}
    assert small.utt2dur == {"small-Room001-00001": 0.1, "small-Room001-00002": 0.1}
    rl = (small.path / "rir_list").read_text().splitlines()
    assert rl[0] == (f"--rir-id small-Room001-00001 --room-id small-Room001 "
                     f"{root.resolve()}/simulated_rirs/smallroom/Room001/Room001-00001.wav")
    assert DataDir(out["rirs_medium"]).utts == ["medium-Room001-00001"]
    with open(root / "simulated_rirs" / "smallroom" / "rir_list", "a") as f:
        f.write("--rir-id small-Room001-00003 small-Room001 x.wav\n")
    with pytest.raises(CorpusError, match=r"smallroom/rir_list:3: expected '--rir-id ID --room-id ROOM PATH'"):
        rirs.prepare_rirs(root, tmp_path / "data")
    with pytest.raises(CorpusError, match=r"largeroom/rir_list: missing file"):
        rirs.prepare_rirs(root, tmp_path / "data", rooms=("large",))


# ----------------------------------------------------------------------------- shell wrappers
def test_shell_wrappers_run_and_report_errors(tmp_path, shell_env):
    make_iemocap(tmp_path / "IEMOCAP_full_release")
    make_rirs(tmp_path / "RIRS_NOISES")
    r = subprocess.run(["bash", str(ROOT / "local/iemocap/prepare_data.sh"), "--durations", "false",
                        str(tmp_path / "IEMOCAP_full_release"), str(tmp_path / "data")],
                       env=shell_env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "data/iemocap/folds/2/test").is_file() and "wrote" in r.stderr
    r = subprocess.run(["bash", str(ROOT / "local/rirs/prepare_data.sh"), "--rooms", "small",
                        str(tmp_path / "RIRS_NOISES"), str(tmp_path / "data")],
                       env=shell_env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "data/rirs_small/wav.scp").is_file()
    r = subprocess.run(["bash", str(ROOT / "local/musan/prepare_data.sh"), str(tmp_path / "nowhere"),
                        str(tmp_path / "data")], env=shell_env, capture_output=True, text=True)
    assert r.returncode != 0 and "nowhere: missing directory (MUSAN root)" in r.stderr


def test_voxceleb_trial_lines_read_by_the_data_room_reader(tmp_path):
    """VoxCeleb's ``<1|0> path path`` lines go through utter.data.trials.read_trial_list (one trial reader);
    the paths become utterance ids (VoxCeleb's ``spk-video-NNNNN``), and each bad line is a CorpusError
    naming file and line."""
    ok = tmp_path / "veri.txt"
    ok.write_text("1 id10270/5r0dWxy17C8/00001.wav id10270/abc/00002.wav\n\n"
                  "0 id10270/x/00003.wav id10300/y/00004.wav\n")
    assert voxceleb.read_trials(ok) == [
        (voxceleb.utt_id("id10270", "5r0dWxy17C8", "00001"), voxceleb.utt_id("id10270", "abc", "00002"), "target", 1),
        (voxceleb.utt_id("id10270", "x", "00003"), voxceleb.utt_id("id10300", "y", "00004"), "nontarget", 3)]
    for text, match in (("2 id1/a/00001.wav id1/b/00002.wav\n", r"veri.txt:1: expected '<1\|0> <enroll> <test>'"),
                        ("1 id1/a/00001.wav spk/b.wav\n", r"veri.txt:1: 'spk/b.wav' is not of the form"),
                        ("", "empty trial list")):
        ok.write_text(text)
        with pytest.raises(CorpusError, match=match):
            voxceleb.read_trials(ok)
