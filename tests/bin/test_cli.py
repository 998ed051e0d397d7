"""The ``utter`` command on audio of several formats, rates and channel counts, with a tiny saved
model: embeddings equal the recipe's extraction path (fbank + VAD written as a data dir and
embedded by utter.train.extract), verify's score/LLR/decision follow from them, classify gives
the head's posteriors; and clear errors for bad files, wrong model kinds and too-short audio.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from utter.backend.calibration import LinearCalibration
from utter.bin.cli import main
from utter.data.features import compute_fbank, compute_vad, resample
from utter.data.options import FbankOptions, VadOptions
from utter.nnet import build_network
from utter.nnet.heads import ClassifierHead
from utter.train import checkpoint as ck

ARCH = dict(arch="tdnn", feat_dim=80, channels=[16, 16, 16, 16, 32], embed_dim=12)


def speechlike(rate: int, seconds: float, f0: float, seed: int) -> np.ndarray:
    """Harmonic bursts separated by near-silence, so the energy VAD finds voiced and unvoiced frames."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12) if f0 * k < rate / 2)
    env = (np.sin(2 * np.pi * 2.5 * t) > -0.3).astype(float)
    return (0.3 * x * env + 0.001 * rng.normal(size=t.size)).astype(np.float32)


def save(path, state_extra=None, arch=ARCH, seed=0):
    torch.manual_seed(seed)
    net = build_network(dict(arch)).eval()
    state = {"format_version": ck.FORMAT_VERSION, "arch_config": net.config, "model": net.state_dict(),
             "extra": state_extra or {"modules": {}, "objective": {}}, "optimizer": None, "scheduler": None,
             "step": 0, "epoch": 0, "rng": []}
    ck.save_checkpoint(path, state)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    out = {"wav16": d / "a16k.wav", "flac8": d / "b8k.flac", "wav44": d / "c44k.wav", "stereo": d / "d_st.wav",
           "mono_ch0": d / "d_ch0.wav", "mono_ch1": d / "d_ch1.wav"}
    sf.write(out["wav16"], speechlike(16000, 1.6, 140, 0), 16000, subtype="PCM_16")
    sf.write(out["flac8"], speechlike(8000, 1.4, 210, 1), 8000, subtype="PCM_16")
    sf.write(out["wav44"], speechlike(44100, 1.2, 110, 2), 44100, subtype="PCM_16")
    st = np.stack([speechlike(16000, 1.3, 180, 3), speechlike(16000, 1.3, 120, 4)], axis=1)
    sf.write(out["stereo"], st, 16000, subtype="FLOAT")
    sf.write(out["mono_ch0"], st[:, 0], 16000, subtype="FLOAT")
    sf.write(out["mono_ch1"], st[:, 1], 16000, subtype="FLOAT")
    (d / "bad.wav").write_bytes(b"RIFF not really a wave file")
    sf.write(d / "short.wav", speechlike(16000, 0.2, 150, 5), 16000)
    out["bad"], out["short"] = d / "bad.wav", d / "short.wav"
    out["model"] = save(d / "model.pt")
    return {k: str(v) for k, v in out.items()} | {"dir": d}


def cli(argv, capsys) -> tuple[int, str, str]:
    status = main(list(argv))
    cap = capsys.readouterr()
    return status, cap.out, cap.err


def parse_text_vectors(text: str) -> dict[str, np.ndarray]:
    out = {}
    for line in text.strip().splitlines():
        key, rest = line.split(None, 1)
        out[key] = np.array(rest.strip(" []").split(), dtype=np.float64)
    return out


def reference_embeddings(files_: dict, names: list[str], tmp_path, rates: dict) -> dict[str, np.ndarray]:
    """The recipe's path: features and VAD of the 16 kHz audio stored as a data dir, embedded by
    utter.train.extract.embed_data_dir (its FeatureReader applies CMN, then VAD)."""
    import kaldiio

    from utter.train.checkpoint import load_embedder
    from utter.train.extract import ExtractOptions, embed_data_dir

    feats, vad = {}, {}
    for name in names:
        data, rate = sf.read(files_[name], dtype="float32", always_2d=True)
        x = data[:, 0] * 32768.0            # channel 0 of several, as make_fbank --channel 0
        if rate != 16000:
            x = resample(x.astype(np.float32), rate, 16000)
        key = files_[name].rsplit("/", 1)[1].split(".")[0]
        f, e = compute_fbank(x.astype(np.float32), 16000, FbankOptions(), files_[name])
        feats[key], vad[key] = f, compute_vad(e, VadOptions())
        assert 0 < vad[key].sum() < len(vad[key])  # the VAD really selects frames
    d = tmp_path / "data"
    d.mkdir()
    kaldiio.save_ark(str(d / "feats.ark"), feats, scp=str(d / "feats.scp"))
    kaldiio.save_ark(str(d / "vad.ark"), vad, scp=str(d / "vad.scp"))
    (d / "utt2spk").write_text("".join(f"{k} {k}\n" for k in sorted(feats)))
    (d / "spk2utt").write_text("".join(f"{k} {k}\n" for k in sorted(feats)))
    net = load_embedder(files_["model"])
    return dict(embed_data_dir(net, d, ExtractOptions(batch_size=1), progress=False))


def test_embed_formats_and_rates_match_extraction(files, tmp_path, capsys):
    names = ["wav16", "flac8", "wav44", "stereo"]
    status, out, err = cli(["embed", "--model", files["model"], "--batch-size", "3",
                            *[files[n] for n in names]], capsys)
    assert status == 0, err
    got = parse_text_vectors(out)
    assert set(got) == {"a16k", "b8k", "c44k", "d_st"}
    assert "resampled from 8000 Hz to 16000 Hz" in err and "resampled from 44100 Hz" in err
    assert "2 channels: channel 0 used" in err and "checkpoints do not record" in err
    ref = reference_embeddings(files, names, tmp_path, {})
    for k, v in got.items():
        np.testing.assert_allclose(v, ref[k], rtol=1e-4, atol=1e-4, err_msg=k)
    # the stereo file embeds as its channel 0 (--channel 1: its channel 1) written as a mono file (no
    # dither: it is seeded by name)
    conf = tmp_path / "fbank.conf"
    conf.write_text("--dither=0\n")
    opts = ["embed", "--model", files["model"], "--fbank-config", str(conf)]
    ch0 = parse_text_vectors(cli(opts + [files["mono_ch0"]], capsys)[1])["d_ch0"]
    ch1 = parse_text_vectors(cli(opts + [files["mono_ch1"]], capsys)[1])["d_ch1"]
    st = parse_text_vectors(cli(opts + [files["stereo"]], capsys)[1])["d_st"]
    st1 = parse_text_vectors(cli(opts + ["--channel", "1", files["stereo"]], capsys)[1])["d_st"]
    np.testing.assert_allclose(ch0, st, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ch1, st1, rtol=1e-5, atol=1e-6)
    assert np.abs(ch0 - ch1).max() > 1e-3
    assert np.abs(ch0 - got["d_st"]).max() > 0  # the dither option reached the features
    status, _, err = cli(opts + ["--channel", "2", files["stereo"]], capsys)
    assert status == 1 and "d_st.wav: channel 2 requested but the audio has 2 channel(s)" in err


def test_stereo_file_embeds_as_the_recipe_extracts_it(files, tmp_path, capsys):
    """One rule for several channels (issue 26 point 8): the recipe's. The reference is the recipe's own
    path on a data dir whose wav.scp names the stereo file: make_fbank_job (--channel), VAD from its
    log-energy, embed_data_dir; the CLI's embedding of the file equals it for channel 0 and channel 1."""
    from utter.data.features import compute_vad_job, make_fbank_job
    from utter.train.checkpoint import load_embedder
    from utter.train.extract import ExtractOptions, embed_data_dir

    conf = tmp_path / "fbank.conf"
    conf.write_text("--dither=0\n")     # the recipe seeds dither by utterance id, the CLI by path
    net = load_embedder(files["model"])
    for channel in (0, 1):
        d = tmp_path / f"data{channel}"
        d.mkdir()
        (d / "wav.scp").write_text(f"d_st {files['stereo']}\n")
        (d / "utt2spk").write_text("d_st d_st\n")
        (d / "spk2utt").write_text("d_st d_st\n")
        make_fbank_job(d, d / "feats.ark", FbankOptions.from_conf(str(conf)), log_energy_ark=d / "energy.ark",
                       channel=channel)
        compute_vad_job(d, d / "vad.ark", VadOptions(), log_energy_scp=d / "energy.scp")
        ref = dict(embed_data_dir(net, d, ExtractOptions(batch_size=1), progress=False))["d_st"]
        status, out, err = cli(["embed", "--model", files["model"], "--fbank-config", str(conf), "--channel",
                                str(channel), files["stereo"]], capsys)
        assert status == 0, err
        np.testing.assert_allclose(parse_text_vectors(out)["d_st"], ref, rtol=1e-4, atol=1e-4, err_msg=channel)


def test_embed_writes_ark_and_npy(files, tmp_path, capsys):
    import kaldiio

    ark, npy = tmp_path / "e.ark", tmp_path / "e.npy"
    args = ["embed", "--model", files["model"], files["wav44"], files["wav16"]]
    status, out, _ = cli(args, capsys)
    printed = parse_text_vectors(out)
    status, out, err = cli(args + ["--out-ark", str(ark), "--out-npy", str(npy)], capsys)
    assert status == 0 and out == "", err
    stored = dict(kaldiio.load_scp(str(tmp_path / "e.scp")))
    m = np.load(npy)
    assert m.shape == (2, 12) and list(stored) == ["a16k", "c44k"]
    np.testing.assert_allclose(m[0], stored["c44k"]) and np.testing.assert_allclose(m[1], stored["a16k"])
    np.testing.assert_allclose(stored["a16k"], printed["a16k"], rtol=1e-5, atol=1e-6)


def test_verify_score_llr_decision(files, tmp_path, capsys):
    status, out, _ = cli(["embed", "--model", files["model"], files["wav16"], files["flac8"]], capsys)
    e = parse_text_vectors(out)
    cos = e["a16k"] @ e["b8k"] / np.linalg.norm(e["a16k"]) / np.linalg.norm(e["b8k"])
    status, out, err = cli(["verify", "--model", files["model"], files["wav16"], files["flac8"]], capsys)
    assert status == 0, err
    assert float(out.split()[1]) == pytest.approx(cos, abs=1e-5) and "llr" not in out and "decision" not in out
    cal = tmp_path / "cal.npz"
    LinearCalibration(np.array([4.0]), -1.0).save(cal)
    status, out, err = cli(["verify", "--model", files["model"], "--calibration", str(cal),
                            files["wav16"], files["flac8"]], capsys)
    lines = dict(line.split(None, 1) for line in out.strip().splitlines())
    llr = 4.0 * cos - 1.0
    assert float(lines["llr"]) == pytest.approx(llr, abs=1e-4)
    assert lines["decision"].startswith("target" if llr >= 0 else "nontarget")
    status, out, _ = cli(["verify", "--model", files["model"], "--calibration", str(cal), "--threshold",
                          str(llr + 0.5), files["wav16"], files["flac8"]], capsys)
    assert "decision nontarget" in out


def test_classify_gives_head_posteriors(files, tmp_path, capsys):
    torch.manual_seed(1)
    head = ClassifierHead(12, 3, hidden=[8])
    extra = {"modules": {"model": None, "head": head.state_dict()},
             "objective": {"label_map": {"ang": 0, "hap": 1, "sad": 2}, "best": None}}
    model = save(tmp_path / "clf.pt", extra)
    status, out, err = cli(["classify", "--model", model, "--top", "3", files["wav16"], files["wav44"]], capsys)
    assert status == 0, err
    _, emb_out, _ = cli(["embed", "--model", model, files["wav16"], files["wav44"]], capsys)
    emb = parse_text_vectors(emb_out)
    for line, key in zip(out.strip().splitlines(), ["a16k", "c44k"]):
        f = line.split()[1:]
        probs = dict(zip(f[::2], map(float, f[1::2])))
        with torch.no_grad():
            p = torch.softmax(head.eval()(torch.tensor(emb[key], dtype=torch.float32)[None]), 1)[0].numpy()
        assert set(probs) == {"ang", "hap", "sad"}
        for lab, i in (("ang", 0), ("hap", 1), ("sad", 2)):
            assert probs[lab] == pytest.approx(p[i], abs=2e-4)


def test_errors(files, tmp_path, capsys):
    m = files["model"]
    status, _, err = cli(["embed", "--model", m, files["bad"]], capsys)
    assert status == 1 and "bad.wav: cannot decode audio" in err
    status, _, err = cli(["embed", "--model", m, str(tmp_path / "missing.wav")], capsys)
    assert status == 1 and "missing.wav: no such audio file" in err
    status, _, err = cli(["embed", "--model", m, files["short"]], capsys)
    assert status == 1 and "short.wav: 0.20 s of audio is shorter than the minimum 0.5 s" in err
    cal = tmp_path / "cal.npz"
    LinearCalibration(np.array([1.0]), 0.0).save(cal)
    status, _, err = cli(["embed", "--model", str(cal), files["wav16"]], capsys)
    assert status == 1 and "cal.npz" in err and "checkpoint" in err
    status, _, err = cli(["classify", "--model", m, files["wav16"]], capsys)
    assert status == 1 and "not a classifier checkpoint" in err
    status, _, err = cli(["verify", "--model", m, "--calibration", m, files["wav16"], files["wav16"]], capsys)
    assert status == 1 and "model.pt" in err
    status, _, err = cli(["embed", "--model", str(tmp_path / "nope.pt"), files["wav16"]], capsys)
    assert status == 1 and "nope.pt: no such model file" in err


def test_console_script_entry_point():
    exe = sys.executable.rsplit("/", 1)[0] + "/utter"
    r = subprocess.run([exe, "verify", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--calibration" in r.stdout


def test_embed_keys_voxceleb_style_paths(files, tmp_path, capsys):
    """Inputs named alike in several directories (VoxCeleb's */00001.wav) are keyed by their path
    relative to the directory they share; --key-from basename refuses them, naming both files."""
    audio = sf.read(files["wav16"])[0]
    paths = []
    for spk, video in (("id10001", "vidA"), ("id10001", "vidB"), ("id10002", "vidA")):
        d = tmp_path / "wav" / spk / video
        d.mkdir(parents=True)
        sf.write(d / "00001.wav", audio, 16000, subtype="PCM_16")
        paths.append(str(d / "00001.wav"))
    ark = tmp_path / "e.ark"
    status, out, err = cli(["embed", "--model", files["model"], "--out-ark", str(ark), *paths], capsys)
    assert status == 0, err
    keys = [ln.split()[0] for ln in (tmp_path / "e.scp").read_text().splitlines()]
    assert keys == ["id10001/vidA/00001", "id10001/vidB/00001", "id10002/vidA/00001"]
    assert "keyed by the paths relative to" in err and "wav, without their extension" in err
    status, out, err = cli(["embed", "--model", files["model"], *paths[:2]], capsys)   # one speaker: the videos
    assert status == 0 and [ln.split()[0] for ln in out.splitlines()] == ["vidA/00001", "vidB/00001"]
    assert "note: keys: the paths relative to" in err
    status, _, err = cli(["embed", "--model", files["model"], "--key-from", "basename", *paths], capsys)
    assert status == 1 and err.strip().splitlines()[-1] == (
        f"utter: error: two input files give the embedding key 00001: {paths[0]} and {paths[1]} "
        "(use --key-from path)")
    # the same name with two extensions in one directory: no path tells them apart
    flac = tmp_path / "wav/id10001/vidA/00001.flac"
    sf.write(flac, audio, 16000)
    status, _, err = cli(["embed", "--model", files["model"], paths[0], str(flac)], capsys)
    assert status == 1 and "give the embedding key 00001" in err and "--key-from list" in err


def test_embed_keys_from_a_list(files, tmp_path, capsys):
    lst = tmp_path / "wav.scp"
    lst.write_text(f"spkA-utt1 {files['wav16']}\n\nspkB-utt1 {files['flac8']}\n")
    status, out, err = cli(["embed", "--model", files["model"], "--key-from", "list", str(lst)], capsys)
    assert status == 0, err
    got = parse_text_vectors(out)
    assert list(got) == ["spkA-utt1", "spkB-utt1"]
    _, plain, _ = cli(["embed", "--model", files["model"], files["wav16"]], capsys)
    np.testing.assert_allclose(got["spkA-utt1"], parse_text_vectors(plain)["a16k"], rtol=1e-5, atol=1e-6)
    lst.write_text(f"k {files['wav16']}\nk {files['flac8']}\n")
    status, _, err = cli(["embed", "--model", files["model"], "--key-from", "list", str(lst)], capsys)
    assert status == 1 and f"key k appears more than once in {lst}" in err
    lst.write_text("k sox x.wav -t wav - |\n")
    status, _, err = cli(["embed", "--model", files["model"], "--key-from", "list", str(lst)], capsys)
    assert status == 1 and f"{lst}:1: expected 'KEY PATH' (a file path, not a pipe)" in err


def _helps():
    from utter.bin.cli import build_parser

    p = build_parser()
    sub = next(a for a in p._actions if isinstance(a, __import__("argparse")._SubParsersAction))
    return p.format_help(), {name: sp.format_help() for name, sp in sub.choices.items()}


def test_help_text(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one option a line
    top, subs = _helps()
    assert "``" not in top and "examples" in top and "utter embed --model" in top
    assert set(subs) == {"embed", "verify", "classify"}
    for name, text in subs.items():
        assert "examples:" in text or "example:" in text, name
        assert "(default: None)" not in text and "(default: )" not in text and "``" not in text, name
        assert "--model MODEL.pt" in text and "(required)" in text, name
        for line in text.splitlines():
            assert line.count("default") <= 1, (name, line)
        positional = text.split("positional arguments:")[1].split("options:")[0]
        assert all(len(ln.split(None, 1)) == 2 for ln in positional.strip().splitlines()), (name, positional)
    assert "--cmn-window FRAMES" in subs["embed"] and "(default: 300)" in subs["embed"]
    assert "--use-vad true|false" in subs["embed"] and "(default: true)" in subs["embed"]
    assert "--key-from {path,basename,list}" in subs["embed"] and "(default: path)" in subs["embed"]


def test_embed_a_directory_and_bad_files_among_good(files, tmp_path, capsys):
    """``utter embed DIR`` embeds every audio file under it, keyed by path below it (issue 26 point 8);
    one bad file among many is named, the good ones are still written, and the exit status is 1."""
    d = tmp_path / "corpus"
    (d / "spk1").mkdir(parents=True)
    (d / "spk2").mkdir()
    for name, dst in (("wav16", d / "spk1" / "a.wav"), ("flac8", d / "spk2" / "b.flac"),
                      ("bad", d / "spk2" / "c.wav")):
        dst.write_bytes(open(files[name], "rb").read())
    (d / "spk1" / "notes.txt").write_text("not audio\n")
    conf = tmp_path / "fbank.conf"
    conf.write_text("--dither=0\n")    # dither is seeded by the path, which differs here
    opts = ["embed", "--model", files["model"], "--fbank-config", str(conf)]
    ref = parse_text_vectors(cli(opts + [files["wav16"], files["flac8"]], capsys)[1])
    status, out, err = cli(opts + [str(d)], capsys)
    got = parse_text_vectors(out)
    assert status == 1 and set(got) == {"spk1/a", "spk2/b"}, err
    np.testing.assert_allclose(got["spk1/a"], ref["a16k"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["spk2/b"], ref["b8k"], rtol=1e-5, atol=1e-6)
    assert f"{d}: 3 audio files under it" in err and "c.wav: cannot decode audio" in err
    assert f"1 of 3 files could not be embedded (above): {d / 'spk2' / 'c.wav'}" in err
    assert "no such audio file" not in err
    # the same with an ark and an npy: the good files' rows, said
    ark, npy = tmp_path / "e.ark", tmp_path / "e.npy"
    status, _, err = cli(["embed", "--model", files["model"], "--out-ark", str(ark), "--out-npy", str(npy),
                          files["wav16"], files["bad"], files["flac8"]], capsys)
    assert status == 1 and "without the 1 that failed" in err and "bad.wav" in err
    assert np.load(npy).shape[0] == 2 and ark.with_suffix(".scp").read_text().count("\n") == 2
    # a directory without audio, and every file bad
    (tmp_path / "empty").mkdir()
    status, _, err = cli(["embed", "--model", files["model"], str(tmp_path / "empty")], capsys)
    assert status == 1 and "empty: a directory with no audio files under it (looked for " in err and ".wav" in err
    status, out, err = cli(["embed", "--model", files["model"], files["bad"], files["short"]], capsys)
    assert status == 1 and out == "" and "2 of 2 files could not be embedded" in err
    status, _, err = cli(["verify", "--model", files["model"], str(d), files["wav16"]], capsys)
    assert status == 1 and f"{d}: a directory, not an audio file" in err


def test_verify_refuses_a_calibration_of_another_system(files, tmp_path, capsys):
    """A calibration records the model (SHA-256) and scorer whose scores it was trained on
    (utter.bin.train_calibration --model --scorer); verify refuses one of another model or scorer
    (issue 26 point 8) and applies a matching one, or an old one without the record (with a note)."""
    from utter.bin import train_calibration
    from utter.bin.common import run

    other = save(tmp_path / "other.pt", seed=1)
    rng = np.random.default_rng(0)
    lab = rng.random(60) < 0.5
    (tmp_path / "trials").write_text("".join(f"e{i} t{i} {'target' if t else 'nontarget'}\n"
                                             for i, t in enumerate(lab)))
    (tmp_path / "scores").write_text("".join(f"e{i} t{i} {0.5 * t + 0.3 * rng.normal():.4f}\n"
                                             for i, t in enumerate(lab)))

    def calibration(name, *opts):
        path = tmp_path / name
        assert run(train_calibration.main, train_calibration.build_parser(),
                   [*opts, str(tmp_path / "scores"), str(tmp_path / "trials"), str(path)]) == 0
        return str(path)

    mine = calibration("mine.npz", "--model", files["model"], "--scorer", "cosine")
    theirs = calibration("theirs.npz", "--model", other, "--scorer", "cosine")
    plda = calibration("plda.npz", "--model", files["model"], "--scorer", "plda")
    old = calibration("old.npz")
    assert LinearCalibration.load(mine).trained_for["model"] == files["model"]
    base = ["verify", "--model", files["model"], "--calibration"]
    status, out, err = cli(base + [theirs, files["wav16"], files["flac8"]], capsys)
    assert status == 1 and "llr" not in out and f"theirs.npz was trained for another model ({other})" in err
    status, out, err = cli(base + [plda, files["wav16"], files["flac8"]], capsys)
    assert status == 1 and "plda.npz calibrates plda scores, but utter verify scores by cosine" in err
    status, out, err = cli(base + [mine, files["wav16"], files["flac8"]], capsys)
    assert status == 0 and "llr" in out and "decision" in out, err
    status, out, err = cli(base + [old, files["wav16"], files["flac8"]], capsys)
    assert status == 0 and "llr" in out and "does not record the model it was trained for" in err
