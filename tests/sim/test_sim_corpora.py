"""Mini-corpus simulator: real layouts and label formats, determinism, and the shell entry point."""
from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from utter.sim.build import build
from utter.sim.build_tools import BuildConfig, parse_scale

TRIAL_RE = re.compile(r"^[01] (id\d{5})/([A-Za-z0-9_-]{11})/(\d{5})\.wav (id\d{5})/([A-Za-z0-9_-]{11})/(\d{5})\.wav$")


@pytest.fixture(scope="module")
def mini(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mini")
    build(BuildConfig(outdir=out, seed=5, scale=parse_scale("small")), nj=2)
    return out


def _md5(p: Path) -> str:
    return hashlib.md5(p.read_bytes()).hexdigest()


def test_voxceleb1_layout_meta_and_trials(mini):
    v1 = mini / "voxceleb1"
    wavs = sorted((v1 / "wav").glob("id*/*/*.wav"))
    assert wavs
    for w in wavs[:20]:
        assert re.fullmatch(r"id\d{5}/[A-Za-z0-9_-]{11}/\d{5}\.wav", str(w.relative_to(v1 / "wav")))
    info = sf.info(str(wavs[0]))
    assert info.samplerate == 16000 and info.subtype == "PCM_16" and info.channels == 1
    durs = [sf.info(str(w)).duration for w in wavs]
    assert 1.9 <= min(durs) and max(durs) <= 10.5
    lines = (v1 / "vox1_meta.csv").read_text().splitlines()
    assert lines[0] == "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet"
    meta = {}
    for line in lines[1:]:
        sid, name, gender, nat, part = line.split("\t")
        assert re.fullmatch(r"id\d{5}", sid) and gender in ("m", "f") and part in ("dev", "test") and name
        meta[sid] = (gender, nat, part)
    spk_dirs = {p.name for p in (v1 / "wav").iterdir()}
    assert spk_dirs == set(meta)
    existing = {str(w.relative_to(v1 / "wav")) for w in wavs}
    for name in ("veri_test2", "veri_test", "list_test_all2", "list_test_all", "list_test_hard2", "list_test_hard"):
        trials = (v1 / f"{name}.txt").read_text().splitlines()
        labels = []
        for t in trials:
            m = TRIAL_RE.match(t)
            assert m, f"{name}: malformed trial line '{t}'"
            a, b = t.split()[1:]
            assert a in existing and b in existing
            assert (t[0] == "1") == (m.group(1) == m.group(4))
            if name.startswith("veri"):
                assert meta[m.group(1)][2] == "test" and meta[m.group(4)][2] == "test"
            if name.startswith("list_test_hard"):
                assert meta[m.group(1)][:2] == meta[m.group(4)][:2]
            labels.append(t[0])
        assert 0.45 < labels.count("1") / len(labels) < 0.55
    # the cleaned lists are the original lists less the trials of the mislabelled videos
    for clean, orig in (("veri_test2", "veri_test"), ("list_test_all2", "list_test_all")):
        c = set((v1 / f"{clean}.txt").read_text().splitlines())
        o = set((v1 / f"{orig}.txt").read_text().splitlines())
        assert c < o
    assert any(meta[s][2] == "dev" for s in meta)


def test_voxceleb2_layout_and_meta(mini):
    v2 = mini / "voxceleb2"
    wavs = sorted((v2 / "dev" / "aac").glob("id*/*/*.wav"))
    assert len({w.parts[-3] for w in wavs}) >= 8
    lines = (v2 / "vox2_meta.csv").read_text().splitlines()
    assert lines[0].rstrip() == "VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set"
    for line in lines[1:]:
        assert re.fullmatch(r"id\d{5} ,n\d{6} ,[mf] ,dev ?", line), line
    vox1 = {p.name for p in (mini / "voxceleb1" / "wav").iterdir()}
    assert not vox1 & {w.parts[-3] for w in wavs}


def test_iemocap_layout_and_labels(mini):
    root = mini / "IEMOCAP_full_release"
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == [f"Session{i}" for i in range(1, 6)]
    speakers = set()
    labels = set()
    for s in range(1, 6):
        emo = root / f"Session{s}" / "dialog" / "EmoEvaluation"
        files = sorted(p for p in emo.glob("*.txt") if not p.name.startswith("._"))
        assert files and (emo / "Categorical").is_dir() and (emo / "Attribute").is_dir()
        assert (emo / "Self-evaluation").is_dir() and list(emo.glob("._*.txt"))
        for f in files:
            text = f.read_text(encoding="latin-1")
            assert text.startswith("% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n")
            blocks = text.strip().split("\n\n")[1:]
            for block in blocks:
                head, *ann = block.split("\n")
                m = re.fullmatch(r"\[(\d+\.\d{4}) - (\d+\.\d{4})\]\t(Ses0\d[FM]_\w+_([FM])\d{3})\t(\w{3})\t"
                                 r"\[(\d\.\d{4}), (\d\.\d{4}), (\d\.\d{4})\]", head)
                assert m, head
                assert float(m.group(1)) < float(m.group(2))
                utt, gender = m.group(3), m.group(4)
                assert utt.startswith(f"Ses0{s}") and utt.rsplit("_", 1)[0] == f.stem
                wav = root / f"Session{s}" / "sentences" / "wav" / f.stem / f"{utt}.wav"
                info = sf.info(str(wav))
                assert info.samplerate == 16000
                assert abs(info.duration - (float(m.group(2)) - float(m.group(1)))) < 0.002
                assert any(re.fullmatch(r"C-E\d:\t[A-Z][a-z]+( state)?;( [A-Z][a-z]+( state)?;)?\t\(.*\)", a)
                           for a in ann)
                assert any(re.fullmatch(r"A-E\d:\tval \d; act \d; dom  \d;\t\(.*\)", a) for a in ann)
                speakers.add(f"Ses0{s}{gender}")
                labels.add(m.group(5))
    assert len(speakers) == 10
    assert {"neu", "ang", "sad", "xxx"} <= labels and labels & {"hap", "exc"} and labels & {"fru", "sur", "oth"}


def test_adress_layout_meta_and_chat(mini):
    root = mini / "ADReSS-IS2020-data"
    train_ids = {}
    for group in ("cc", "cd"):
        lines = (root / "train" / f"{group}_meta_data.txt").read_text().splitlines()
        assert lines[0] == "ID   ; age; gender ;mmse"
        for line in lines[1:]:
            m = re.fullmatch(r"(S\d{3}) ; (\d{2}); (male|female) ; (\d{1,2}|NA)", line)
            assert m, line
            train_ids[m.group(1)] = (group, m.group(4))
            wav = root / "train" / "Full_wave_enhanced_audio" / group / f"{m.group(1)}.wav"
            assert sf.info(str(wav)).samplerate == 44100
            cha = (root / "train" / "Transcription" / group / f"{m.group(1)}.cha").read_text()
            assert cha.startswith("@UTF8\n") and "@Begin\n" in cha and cha.endswith("@End\n")
            assert "@Languages:\teng\n" in cha and "@Participants:\tPAR Participant, INV Investigator" in cha
            grp = "Control" if group == "cc" else "ProbableAD"
            mm = "" if m.group(4) == "NA" else m.group(4)
            assert f"|{m.group(3)}|{grp}||Participant|{mm}||" in cha
            tiers = re.findall(r"^\*(PAR|INV):\t(.*) \x15(\d+)_(\d+)\x15$", cha, flags=re.M)
            assert tiers and {t[0] for t in tiers} == {"PAR", "INV"}
            assert all(int(t[2]) < int(t[3]) for t in tiers)
    counts = [g for g, _ in train_ids.values()]
    assert counts.count("cc") == counts.count("cd") >= 4
    assert sum(mm == "NA" for _, mm in train_ids.values()) == 1
    test_meta = (root / "test" / "meta_data.txt").read_text().splitlines()
    assert test_meta[0] == "ID   ; age; gender"
    test_ids = [re.fullmatch(r"(S\d{3}) ; \d{2}; [01]", line).group(1) for line in test_meta[1:]]
    assert not set(test_ids) & set(train_ids)
    labels = (root / "test" / "meta_data_test.txt").read_text().splitlines()
    assert labels[0] == "ID   ; age; gender; Label; mmse"
    lab = [re.fullmatch(r"(S\d{3}) ; \d{2}; [01]; ([01]); \d{1,2}", line).group(2) for line in labels[1:]]
    assert lab.count("0") == lab.count("1")
    for sid in test_ids:
        assert sf.info(str(root / "test" / "Full_wave_enhanced_audio" / f"{sid}.wav")).samplerate == 44100
        assert (root / "test" / "Transcription" / f"{sid}.cha").is_file()


def test_musan_and_rirs_layout(mini):
    for cat in ("music", "noise", "speech"):
        srcs = [p for p in (mini / "musan" / cat).iterdir() if p.is_dir()]
        assert srcs
        for src in srcs:
            ann = (src / "ANNOTATIONS").read_text().splitlines()
            wavs = sorted(src.glob("*.wav"))
            assert {line.split()[0] for line in ann} == {w.stem for w in wavs}
            assert all(w.stem.startswith(f"{cat}-{src.name}-") for w in wavs)
            if cat == "music":
                assert all(line.split()[2] in ("Y", "N") and len(line.split()) >= 4 for line in ann)
    for room in ("small", "medium"):
        lines = (mini / "RIRS_NOISES" / "simulated_rirs" / f"{room}room" / "rir_list").read_text().splitlines()
        for line in lines:
            m = re.fullmatch(rf"--rir-id ({room}-Room\d{{3}})-\d{{5}} --room-id (\S+) (\S+)", line)
            assert m and m.group(1) == m.group(2)
            h, fs = sf.read(str(mini / m.group(3)))
            assert fs == 16000
            e = np.cumsum(h[::-1] ** 2)[::-1]  # Schroeder decay: energy decreases after the peak
            assert np.argmax(np.abs(h)) < 0.02 * fs and e[len(e) // 2] < 0.2 * e[0]


def test_same_seed_same_bytes_any_process_count(mini, tmp_path):
    out = tmp_path / "again"
    build(BuildConfig(outdir=out, seed=5, scale=parse_scale("small")), only=["iemocap", "rirs"], nj=1)
    rels = ["IEMOCAP_full_release/Session3/dialog/EmoEvaluation/Ses03F_impro01.txt",
            "RIRS_NOISES/simulated_rirs/smallroom/rir_list"]
    wavs = sorted((out / "IEMOCAP_full_release" / "Session2" / "sentences" / "wav").rglob("*.wav"))[:3]
    rels += [str(w.relative_to(out)) for w in wavs]
    for rel in rels:
        assert _md5(out / rel) == _md5(mini / rel), rel
    other = tmp_path / "other"
    build(BuildConfig(outdir=other, seed=6, scale=parse_scale("small")), only=["rirs"], nj=1)
    r = "RIRS_NOISES/simulated_rirs/smallroom/Room001/Room001-00001.wav"
    assert _md5(other / r) != _md5(mini / r)


def test_shell_entry_skips_complete_and_rejects_bad_options(root, shell_env, tmp_path):
    sh = root / "local" / "mini" / "make_mini_corpora.sh"
    out = tmp_path / "m"
    p = subprocess.run([str(sh), "--scale", "small", "--only", "rirs", str(out)], env=shell_env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    rir_list = out / "RIRS_NOISES" / "simulated_rirs" / "smallroom" / "rir_list"
    mtime = rir_list.stat().st_mtime_ns
    p = subprocess.run([str(sh), "--scale", "small", "--only", "rirs", str(out)], env=shell_env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "skipping" in p.stderr and rir_list.stat().st_mtime_ns == mtime
    p = subprocess.run([str(sh), "--only", "timit", str(out)], env=shell_env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode != 0 and "unknown corpus 'timit'" in p.stderr
    p = subprocess.run([str(sh), "--scale", "-1", str(out)], env=shell_env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode != 0 and "--scale must be positive" in p.stderr


def test_a_failed_build_leaves_no_marker_and_keeps_the_complete_corpus(tmp_path, monkeypatch):
    """The builder writes into a staging directory; a failure mid-build leaves the previous corpus
    and its marker as they were, and no half corpus behind a marker (issue 26, point 4)."""
    from utter.sim import build as sim_build
    from utter.sim.build_tools import BuildConfig

    def musan(cfg, nj):
        (cfg.outdir / "musan" / "noise").mkdir(parents=True)
        (cfg.outdir / "musan" / "noise" / "a.wav").write_bytes(b"RIFF")

    def broken(cfg, nj):
        (cfg.outdir / "musan" / "noise").mkdir(parents=True)
        (cfg.outdir / "musan" / "noise" / "half.wav").write_bytes(b"RI")
        raise RuntimeError("disk full")

    monkeypatch.setattr(sim_build.noises, "build_musan", musan)
    cfg = BuildConfig(tmp_path, seed=1)
    sim_build.build(cfg, only=["musan"])
    marker = (tmp_path / "musan" / sim_build.MARKER).read_text()
    monkeypatch.setattr(sim_build.noises, "build_musan", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        sim_build.build(cfg, only=["musan"], overwrite=True)
    noise = tmp_path / "musan" / "noise"
    assert (noise / "a.wav").is_file() and not (noise / "half.wav").exists()
    assert (tmp_path / "musan" / sim_build.MARKER).read_text() == marker
    assert [p.name for p in tmp_path.iterdir()] == ["musan"]   # no staging directory left
