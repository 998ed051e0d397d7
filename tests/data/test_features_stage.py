"""Fbank and VAD stages: per-job drivers, stage programs on bad input, steps/*.sh end to end.

References: compute_fbank/compute_vad on audio read directly (tested against torchaudio and
brute force in test_features.py); kaldiio for reading what the stages wrote.
"""
from __future__ import annotations

import re
import subprocess

import kaldiio
import numpy as np
import pytest
import soundfile as sf

from utter.bin import compute_vad as compute_vad_bin
from utter.bin import make_fbank as make_fbank_bin
from utter.bin.common import run
from utter.data.audio import read_audio
from utter.data.features import compute_fbank, compute_vad, compute_vad_job, make_fbank_job
from utter.data.options import FbankOptions, VadOptions

RATE = 16000


def _signal(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 0.1, n) * (np.sin(np.arange(n) / 1500.0) > 0)).astype(np.float32)


def _make_dir(root, entries: dict, segments: dict | None = None):
    """entries: utt/reco -> wav.scp value; a data dir with spk = prefix before '-'."""
    d = root / "data"
    d.mkdir(parents=True, exist_ok=True)
    (d / "wav.scp").write_text("".join(f"{k} {v}\n" for k, v in sorted(entries.items())))
    utts = sorted(segments if segments is not None else entries)
    (d / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in utts))
    spks = sorted({u.split("-")[0] for u in utts})
    (d / "spk2utt").write_text("".join(f"{s} {' '.join(u for u in utts if u.split('-')[0] == s)}\n" for s in spks))
    if segments is not None:
        (d / "segments").write_text("".join(f"{u} {r} {a} {b}\n" for u, (r, a, b) in sorted(segments.items())))
    return d


def _wav(root, name, x, rate=RATE, subtype="PCM_16"):
    path = root / "wav" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, rate, subtype=subtype)
    return str(path)


def test_fbank_job_with_files_pipes_and_segments(tmp_path):
    a = _wav(tmp_path, "a.wav", _signal(20000, 1))
    b = _wav(tmp_path, "b.wav", _signal(30000, 2))
    d = _make_dir(tmp_path, {"a": a, "b": f"cat {b} |"},
                  {"s1-a1": ("a", 0.0, 0.6), "s1-a2": ("a", 0.5, -1), "s2-b1": ("b", 0.1, 1.8)})
    out = tmp_path / "out"
    stats = make_fbank_job(d, out / "feats.ark", FbankOptions(), log_energy_ark=out / "e.ark",
                           utt2num_frames=out / "n", utt2dur=out / "dur")
    assert stats.utterances == 3
    feats = kaldiio.load_scp(str(out / "feats.scp"))
    energy = kaldiio.load_scp(str(out / "e.scp"))
    nframes = dict(line.split() for line in (out / "n").read_text().splitlines())
    durs = dict(line.split() for line in (out / "dur").read_text().splitlines())
    for utt, (src, start, end) in {"s1-a1": (a, 0.0, 0.6), "s1-a2": (a, 0.5, None), "s2-b1": (b, 0.1, 1.8)}.items():
        x, _ = read_audio(src)
        seg = x[int(start * RATE):None if end is None else int(end * RATE)]
        ref_f, ref_e = compute_fbank(seg, RATE, FbankOptions(), utt)
        assert int(nframes[utt]) == ref_f.shape[0] == feats[utt].shape[0]
        assert float(durs[utt]) == pytest.approx(len(seg) / RATE)
        np.testing.assert_allclose(feats[utt], ref_f, atol=(ref_f.max() - ref_f.min()) / 100)
        np.testing.assert_array_equal(energy[utt], ref_e)

    # VAD from the stored log-energy equals VAD recomputed from the audio (same seeded dither)
    compute_vad_job(d, out / "vad1.ark", VadOptions(), log_energy_scp=out / "e.scp")
    compute_vad_job(d, out / "vad2.ark", VadOptions(), fbank_opts=FbankOptions())
    v1, v2 = kaldiio.load_scp(str(out / "vad1.scp")), kaldiio.load_scp(str(out / "vad2.scp"))
    for utt in feats:
        np.testing.assert_array_equal(v1[utt], compute_vad(energy[utt], VadOptions()))
        np.testing.assert_array_equal(v1[utt], v2[utt])
        assert 0 < v1[utt].sum() < len(v1[utt])


def _bad_inputs(tmp_path):
    good = _wav(tmp_path, "good.wav", _signal(8000, 3))
    nan = _signal(8000, 4)
    nan[100] = np.nan
    return {
        "missing": ({"x-1": str(tmp_path / "nope.wav")}, None, "x-1: audio file .* does not exist"),
        "pipe": ({"x-1": "exit 7 |"}, None, "x-1: command 'exit 7' failed with exit status 7"),
        "rate": ({"x-1": _wav(tmp_path, "r8k.wav", _signal(8000, 5), rate=8000)}, None,
                 "x-1: sample rate 8000 Hz, but the config expects 16000 Hz"),
        "empty": ({"x-1": _wav(tmp_path, "empty.wav", np.zeros(0, np.float32))}, None, "x-1: empty recording"),
        "segment": ({"r": good}, {"x-1": ("r", 0.2, 1.9)}, "x-1: segment 0.2-1.9 s lies outside recording 'r'"),
        "nonfinite": ({"x-1": _wav(tmp_path, "nan.wav", nan, subtype="FLOAT")}, None, "x-1: non-finite values"),
    }


@pytest.mark.parametrize("case", ["missing", "pipe", "rate", "empty", "segment", "nonfinite"])
def test_make_fbank_program_fails_naming_the_utterance(tmp_path, capsys, case):
    entries, segments, message = _bad_inputs(tmp_path)[case]
    good = _wav(tmp_path, "ok.wav", _signal(8000, 6))
    entries = {**entries, "a-ok": good}
    if segments is not None:
        segments = {**segments, "a-ok": ("a-ok", 0, -1)}
    d = _make_dir(tmp_path, entries, segments)
    out = tmp_path / "out"
    argv = ["--log-energy-ark", str(out / "e.ark"), "--utt2num-frames", str(out / "n"), str(d), str(out / "f.ark")]
    assert run(make_fbank_bin.main, make_fbank_bin.build_parser(), argv) == 1
    err = capsys.readouterr().err
    assert "error: " in err
    assert re.search(message, err), err
    assert not out.exists() or sorted(p.name for p in out.iterdir()) == []  # nothing half-written


def test_compute_vad_program_checks_frame_counts(tmp_path, capsys):
    d = _make_dir(tmp_path, {"a-1": _wav(tmp_path, "a.wav", _signal(8000, 7))})
    out = tmp_path / "out"
    assert run(make_fbank_bin.main, make_fbank_bin.build_parser(),
               ["--log-energy-ark", str(out / "e.ark"), str(d), str(out / "f.ark")]) == 0
    (d / "utt2num_frames").write_text("a-1 49\n")
    argv = ["--log-energy-scp", str(out / "e.scp"), str(d), str(out / "vad.ark")]
    assert run(compute_vad_bin.main, compute_vad_bin.build_parser(), argv) == 1
    assert "a-1: 50 log-energy frames but utt2num_frames says 49" in capsys.readouterr().err
    (d / "utt2num_frames").write_text("a-1 50\n")
    assert run(compute_vad_bin.main, compute_vad_bin.build_parser(), argv) == 0
    assert kaldiio.load_scp(str(out / "vad.scp"))["a-1"].shape == (50,)


def _steps(root, script, *args, env):
    return subprocess.run(["bash", str(root / "steps" / script), *map(str, args)], env=env,
                          capture_output=True, text=True)


def test_steps_make_fbank_and_compute_vad(tmp_path, root, shell_env):
    entries = {}
    for s in range(3):
        for k in range(2):
            path = _wav(tmp_path, f"s{s}u{k}.wav", _signal(9000 + 1000 * k, 10 * s + k))
            entries[f"s{s}-u{k}"] = f"cat {path} |" if k else path
    d = _make_dir(tmp_path, entries)
    conf = tmp_path / "fbank.conf"
    conf.write_text("--num-mel-bins=40\n--dither=1.0\n")
    r = _steps(root, "make_fbank.sh", "--nj", 2, "--fbank-config", conf, d, env=shell_env)
    assert r.returncode == 0, r.stderr + r.stdout
    feats = kaldiio.load_scp(str(d / "feats.scp"))
    assert sorted(feats) == sorted(entries)
    nframes = dict(line.split() for line in (d / "utt2num_frames").read_text().splitlines())
    for utt, m in feats.items():
        assert m.shape == (int(nframes[utt]), 40)
    r = _steps(root, "make_fbank.sh", "--nj", 2, d, env=shell_env)
    assert r.returncode == 0 and "skipping" in r.stdout + r.stderr
    r = _steps(root, "compute_vad.sh", "--nj", 2, d, env=shell_env)
    assert r.returncode == 0, r.stderr + r.stdout
    vad = kaldiio.load_scp(str(d / "vad.scp"))
    energy = kaldiio.load_scp(str(d / "log_energy.scp"))
    for utt in entries:
        np.testing.assert_array_equal(vad[utt], compute_vad(energy[utt], VadOptions()))
    # without log_energy.scp (features made elsewhere) the energy is recomputed from the audio
    (d / "log_energy.scp").unlink()
    r = _steps(root, "compute_vad.sh", "--nj", 1, "--overwrite", "true", "--fbank-config", conf, d, env=shell_env)
    assert r.returncode == 0 and "recomputing the log-energy from the audio" in r.stderr, r.stderr
    again = kaldiio.load_scp(str(d / "vad.scp"))
    for utt in entries:
        np.testing.assert_array_equal(again[utt], vad[utt])


def test_steps_make_fbank_bad_utterance_stops_only_its_job(tmp_path, root, shell_env):
    entries = {f"s{s}-u0": _wav(tmp_path, f"s{s}.wav", _signal(8000, s)) for s in range(2)}
    entries["s1-u0"] = str(tmp_path / "wav" / "gone.wav")
    d = _make_dir(tmp_path, entries)
    r = _steps(root, "make_fbank.sh", "--nj", 2, d, tmp_path / "log", tmp_path / "fbank", env=shell_env)
    assert r.returncode != 0
    assert not (d / "feats.scp").exists()
    logs = {p.name: p.read_text() for p in (tmp_path / "log").glob("make_fbank_data.*.log")}
    failed = [n for n, text in logs.items() if "s1-u0: audio file" in text]
    assert len(failed) == 1, logs
    bad_job = failed[0].split(".")[1]
    ok_job = "1" if bad_job == "2" else "2"
    fbank = tmp_path / "fbank"
    assert (fbank / f"raw_fbank_data.{ok_job}.ark").is_file()  # the other job's output stays
    assert (fbank / f"raw_fbank_data.{ok_job}.scp").is_file()
    assert not (fbank / f"raw_fbank_data.{bad_job}.ark").exists()  # nothing half-written
    assert not (fbank / f"raw_fbank_data.{bad_job}.scp").exists()
