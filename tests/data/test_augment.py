"""Augmentation: SNRs against the closed-form energy ratio, reverb alignment, babble count, data-dir job."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
import soundfile as sf

from utter.data.augment import Augmenter, add_noise, extend, power, reverberate
from utter.data.datadir import DataDir, write_table
from utter.data.options import AugmentConfig

RATE = 16000


def _wav(path, x):
    sf.write(str(path), np.clip(np.rint(x), -32768, 32767).astype(np.int16), RATE, subtype="PCM_16")
    return str(path)


def _snr(clean, noisy):
    return 10 * np.log10(power(clean) / power(np.asarray(noisy, np.float64) - clean))


@pytest.fixture()
def banks(tmp_path):
    rng = np.random.default_rng(0)
    noise = {f"n{i}": _wav(tmp_path / f"n{i}.wav", rng.normal(0, 800, int(RATE * (0.7 + 0.3 * i))))
             for i in range(3)}
    music = {f"m{i}": _wav(tmp_path / f"m{i}.wav", 3000 * np.sin(np.arange(RATE) * 0.05 * (i + 1)))
             for i in range(2)}
    speech = {f"s{i}": _wav(tmp_path / f"s{i}.wav", rng.normal(0, 2000, RATE * 2)) for i in range(8)}
    rir = np.zeros(800)
    rir[0], rir[120], rir[300:800] = 0.1, 1.0, 0.3 * np.exp(-np.arange(500) / 80.0)
    rirs = {"r0": _wav(tmp_path / "r0.wav", rir * 20000)}
    return dict(noise=noise, music=music, speech=speech, rirs=rirs)


def _speech(n=RATE * 3, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 3000, n) * np.sin(np.arange(n) / 900.0) ** 2).astype(np.float32)


def test_add_noise_snr_closed_form():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1000, 16000)
    n = rng.normal(0, 10, 4000)
    for snr in (0.0, 7.5, 15.0):
        y = x.copy()
        add_noise(y, n, snr, 2000, power(x))
        added = (y - x)[2000:6000]
        assert abs(10 * np.log10(power(x) / power(added)) - snr) < 1e-6
        assert np.all(y[:2000] == x[:2000]) and np.all(y[6000:] == x[6000:])


def test_music_and_noise_snr_match_request(banks):
    aug = Augmenter(**banks)
    x = _speech()
    for seed in range(4):
        trace = []
        y = aug.apply(x, RATE, "music", np.random.default_rng(seed), trace)
        (key, snr, _), = trace
        assert snr in AugmentConfig().music_snrs and y.shape == x.shape
        assert abs(_snr(x.astype(np.float64), y) - snr) < 0.1
    trace = []
    y = aug.apply(x, RATE, "noise", np.random.default_rng(5), trace).astype(np.float64)
    assert trace[0][2] == 0 and trace[-1][2] < x.size <= trace[-1][2] + 2 * RATE  # covers the utterance
    for key, snr, start in trace:  # each foreground noise fully inside the utterance has its SNR
        length = sf.info(banks["noise"][key]).frames
        assert snr in AugmentConfig().noise_snrs
        if start + length <= x.size:
            seg = slice(start, start + length)
            measured = 10 * np.log10(power(x) / power(y[seg] - x[seg]))
            assert abs(measured - snr) < 0.1
    gaps = [b[2] - a[2] - sf.info(banks["noise"][a[0]]).frames for a, b in zip(trace, trace[1:])]
    assert gaps and all(g == RATE for g in gaps)  # 1 s interval


def test_signals_at_another_rate_are_resampled(tmp_path):
    """A noise file at 8 kHz used on 16 kHz speech: the bank returns torchaudio's resampling of it
    (the reference: utter.data.features.resample of the decoded file), twice as many samples, and
    music-type addition at the requested SNR still holds on the resampled signal."""
    from utter.data.audio import read_audio
    from utter.data.augment import SignalBank
    from utter.data.features import resample

    rng = np.random.default_rng(4)
    path = tmp_path / "n8k.wav"
    sf.write(str(path), np.rint(rng.normal(0, 800, 8000)).astype(np.int16), 8000, subtype="PCM_16")
    bank = SignalBank({"n": str(path)}, "noise")
    got = bank.get("n", RATE)
    raw, rate = read_audio(str(path))
    assert rate == 8000 and got.shape == (2 * raw.size,)
    np.testing.assert_array_equal(got, resample(np.asarray(raw, np.float32), 8000, RATE))
    assert bank.get("n", RATE) is got  # cached at that rate
    assert bank.get("n", 8000).size == raw.size
    x = _speech()
    trace = []
    y = Augmenter(music={"n": str(path)}).apply(x, RATE, "music", np.random.default_rng(0), trace)
    assert abs(_snr(x.astype(np.float64), y) - trace[0][1]) < 0.1


def test_babble_sums_3_to_7_speakers(banks):
    aug = Augmenter(**banks)
    x = _speech()
    counts = set()
    for seed in range(12):
        trace = []
        y = aug.apply(x, RATE, "babble", np.random.default_rng(seed), trace)
        counts.add(len(trace))
        assert all(snr in AugmentConfig().babble_snrs for _, snr, _ in trace)
        # the sum of the independently scaled speakers, re-rendered by hand
        ref = x.astype(np.float64)
        for key, snr, _ in trace:
            s = sf.read(banks["speech"][key], dtype="int16")[0].astype(np.float64)
            add_noise(ref, extend(s, x.size), snr, 0, power(x))
        assert np.allclose(y, ref, atol=0.05)
    assert counts <= {3, 4, 5, 6, 7} and len(counts) >= 3


def test_reverb_length_alignment_and_power():
    x = np.zeros(4000)
    x[1000] = 1000.0
    x[2500] = -500.0
    rir = np.zeros(600)
    rir[0], rir[200], rir[400] = 0.2, 1.0, 0.5
    y = reverberate(x, rir)
    assert y.shape == x.shape
    assert int(np.argmax(np.abs(y))) == 1000  # direct path aligned with the input
    assert abs(power(y) - power(x)) / power(x) < 1e-5  # normalised to the input power
    # closed form: after alignment, y[t] = g * sum_k h[k] x[t + 200 - k]
    h = rir / np.sqrt(np.sum(rir ** 2))
    ref = np.convolve(x, h)[200:4200]
    ref *= np.sqrt(power(x) / power(ref))
    assert np.allclose(y, ref, atol=1e-2)


def test_same_seed_same_output_and_unknown_type(banks):
    aug = Augmenter(**banks)
    x = _speech()
    for kind in ("reverb", "noise", "music", "babble"):
        a = aug.apply(x, RATE, kind, np.random.default_rng(3))
        b = aug.apply(x, RATE, kind, np.random.default_rng(3))
        assert np.array_equal(a, b) and not np.array_equal(a, x)
    with pytest.raises(ValueError, match="no signals"):
        Augmenter(noise=banks["noise"]).apply(x, RATE, "music", np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown augmentation type 'echo'"):
        Augmenter.from_dirs(None, None, ["echo"])


def _corpora(tmp_path, banks):
    src = tmp_path / "train"
    src.mkdir()
    wav, utt2spk, vad = {}, {}, {}
    for i in range(4):
        utt = f"spk{i % 2}-u{i}"
        wav[utt] = _wav(tmp_path / f"{utt}.wav", _speech(RATE + 1000 * i, seed=i))
        utt2spk[utt] = f"spk{i % 2}"
        vad[utt] = f"/some/vad.ark:{10 * i}"
    write_table(src / "wav.scp", wav)
    write_table(src / "utt2spk", utt2spk)
    write_table(src / "utt2emo", {u: "neu" for u in wav})
    write_table(src / "vad.scp", vad)
    for name, key in (("musan_noise", "noise"), ("musan_music", "music"), ("musan_speech", "speech"),
                      ("rirs", "rirs")):
        (tmp_path / name).mkdir()
        write_table(tmp_path / name / "wav.scp", banks[key])
    return src


def test_augment_data_dir_script_deterministic_across_nj(tmp_path, banks, root, shell_env):
    src = _corpora(tmp_path, banks)
    # -P: utils/queue.py must not shadow the standard library's queue inside utils/run.py
    cmd = ["--cmd", f"python3 -P {root}/utils/run.py"]
    outs = []
    for nj, name in ((1, "aug1"), (2, "aug2")):
        out = tmp_path / name
        r = subprocess.run([str(root / "steps/augment_data_dir.sh"), *cmd, "--nj", str(nj), "--seed", "7", str(src),
                            str(tmp_path / "musan"), str(tmp_path / "rirs"), str(out)],
                           env=shell_env, cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr + r.stdout
        outs.append(DataDir(out))
    d = outs[0]
    assert set(d.read("utt2orig").values()) == set(DataDir(src).utts)
    assert sorted(d.utts) == sorted(f"spk{i % 2}-u{i}-{t}" for i in range(4)
                                    for t in ("reverb", "noise", "music", "babble"))
    assert d.read("utt2emo")["spk1-u1-music"] == "neu"
    assert d.vad_scp["spk1-u3-babble"] == "/some/vad.ark:30"  # the clean VAD
    for utt in d.utts:
        a, ra = sf.read(d.wav_scp[utt], dtype="int16")
        b, _ = sf.read(outs[1].wav_scp[utt], dtype="int16")
        orig, _ = sf.read(DataDir(src).wav_scp[d.read("utt2orig")[utt]], dtype="int16")
        assert ra == RATE and a.shape == orig.shape and np.array_equal(a, b)
    # features straight away: the same copies as fbank of the written audio
    r = subprocess.run([str(root / "steps/augment_data_dir.sh"), *cmd, "--nj", "2", "--seed", "7", "--types", "music",
                        "--write-feats", "true", str(src), str(tmp_path / "musan"), str(tmp_path / "rirs"),
                        str(tmp_path / "augf")], env=shell_env, cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout
    import kaldiio

    from utter.data.features import compute_fbank
    from utter.data.options import FbankOptions
    f = DataDir(tmp_path / "augf")
    utt = "spk0-u2-music"
    got = kaldiio.load_mat(f.feats_scp[utt])
    y, _ = sf.read(d.wav_scp[utt], dtype="int16")
    ref, _ = compute_fbank(y.astype(np.float32), RATE, FbankOptions(), utt)
    assert got.shape == ref.shape and f.utt2num_frames[utt] == ref.shape[0]
    assert np.abs(got - ref).max() < 0.1 + 0.02 * np.abs(ref).max()  # int16 rounding of the wav + compression
    # a rerun with the same options skips; with another seed it is redone (issue 19: the options are inputs)
    for seed, skipped in (("7", True), ("8", False)):
        r = subprocess.run([str(root / "steps/augment_data_dir.sh"), *cmd, "--nj", "1", "--seed", seed, str(src),
                            str(tmp_path / "musan"), str(tmp_path / "rirs"), str(tmp_path / "aug1")],
                           env=shell_env, cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode == 0 and ("skipping" in r.stdout) == skipped, r.stderr + r.stdout


def _psd_slope(y: np.ndarray, lo: float = 200.0, hi: float = 6000.0) -> float:
    """Least-squares slope of log PSD against log frequency (Welch) between lo and hi Hz."""
    from scipy.signal import welch

    f, p = welch(y, RATE, nperseg=1024)
    keep = (f >= lo) & (f <= hi)
    return float(np.polyfit(np.log(f[keep]), np.log(p[keep]), 1)[0])


def test_coloured_noise_has_the_requested_power_law():
    """Reference: the closed form PSD ~ f^beta, i.e. a log-log slope of beta (Welch estimate)."""
    from utter.data.augment import coloured_noise

    for beta in (-2.0, -1.0, 0.0, 0.3):
        y = coloured_noise(RATE * 8, RATE, beta, np.random.default_rng(5))
        assert abs(power(y) - 1.0) < 1e-9
        assert abs(_psd_slope(y) - beta) < 0.08, beta
    assert coloured_noise(0, RATE, -1.0, np.random.default_rng(0)).size == 0


def test_colour_copy_needs_no_files_and_draws_snr_and_beta_in_range():
    aug = Augmenter()
    assert aug.types == ("colour",)
    x = _speech()
    cfg = AugmentConfig()
    for seed in range(5):
        trace = []
        y = aug.apply(x, RATE, "colour", np.random.default_rng(seed), trace)
        (name, snr, offset), = trace
        beta = float(name.split("=")[1])
        assert y.dtype == np.float32 and y.shape == x.shape and offset == 0
        assert cfg.colour_snr[0] <= snr <= cfg.colour_snr[1] and cfg.colour_beta[0] <= beta <= cfg.colour_beta[1]
        assert abs(_snr(x, y) - snr) < 1e-3                   # energy ratio over the whole utterance
        assert abs(_psd_slope(y.astype(np.float64) - x) - beta) < 0.15
        assert np.array_equal(y, aug.apply(x, RATE, "colour", np.random.default_rng(seed)))
    with pytest.raises(ValueError, match="colour_snr"):
        AugmentConfig(colour_snr=(20.0, 0.0))
    with pytest.raises(ValueError, match="colour_beta: need a range"):
        AugmentConfig(colour_beta=(-1.0, 0.0, 1.0))


def test_augment_data_dir_script_colour_only_without_signal_dirs(tmp_path, banks, root, shell_env):
    """Two colour copies each: no MUSAN/RIR dirs needed (given as ""), the SNR option reaches the copies."""
    src = _corpora(tmp_path, banks)
    out = tmp_path / "colour"
    r = subprocess.run([str(root / "steps/augment_data_dir.sh"), "--cmd", f"python3 -P {root}/utils/run.py",
                        "--nj", "1", "--types", "colour,colour", "--colour-snr", "5,5", str(src), "", "", str(out)],
                       env=shell_env, cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout
    d = DataDir(out)
    assert sorted(d.utts) == sorted(f"{u}-{c}" for u in DataDir(src).utts for c in ("colour", "colour2"))
    a, _ = sf.read(d.wav_scp["spk0-u0-colour"], dtype="int16")
    b, _ = sf.read(d.wav_scp["spk0-u0-colour2"], dtype="int16")
    assert not np.array_equal(a, b)  # a repeated type: another draw, not the same copy twice
    for utt in d.utts:
        y, _ = sf.read(d.wav_scp[utt], dtype="int16")
        x, _ = sf.read(DataDir(src).wav_scp[d.read("utt2orig")[utt]], dtype="int16")
        assert abs(_snr(x.astype(np.float64), y) - 5.0) < 0.01  # int16 rounding only
