"""utter.data.features: fbank, raw log-energy, VAD, sliding CMN, options, ark writing.

References: torchaudio's kaldi.fbank called directly with every option written out here;
Kaldi's snip_edges=false frame-count formula; numpy re-implementations of the raw
log-energy (Kaldi's ExtractWindow/ProcessWindow), of compute-vad and of
apply-cmvn-sliding, written from Kaldi's algorithms as loops, independent of the library.
"""
from __future__ import annotations

import math

import kaldiio
import numpy as np
import pytest
import torch
import torchaudio.compliance.kaldi as kaldi

from utter.data.features import FeatureError, compute_fbank, compute_vad, sliding_cmn, utterance_seed
from utter.data.kaldi_io import ArkScpWriter
from utter.data.options import DEFAULT_FBANK_CONF, DEFAULT_VAD_CONF, FbankOptions, VadOptions


def _speechy(n: int, seed: int = 0) -> np.ndarray:
    """Noise bursts with silences between, at int16 scale."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 3000, n)
    env = (np.sin(np.arange(n) / 1600.0) > 0).astype(float) + 0.01
    return (x * env).astype(np.float32)


def _direct(x: np.ndarray, utt: str, o: FbankOptions) -> torch.Tensor:
    """torchaudio's kaldi.fbank with every option spelled out, dither seeded as documented."""
    torch.manual_seed(utterance_seed(utt))
    return kaldi.fbank(
        torch.from_numpy(x).unsqueeze(0), blackman_coeff=o.blackman_coeff, channel=-1, dither=o.dither,
        energy_floor=o.energy_floor, frame_length=o.frame_length, frame_shift=o.frame_shift,
        high_freq=o.high_freq, htk_compat=o.htk_compat, low_freq=o.low_freq, min_duration=0.0,
        num_mel_bins=o.num_mel_bins, preemphasis_coefficient=o.preemphasis_coefficient,
        raw_energy=o.raw_energy, remove_dc_offset=o.remove_dc_offset,
        round_to_power_of_two=o.round_to_power_of_two, sample_frequency=o.sample_frequency,
        snip_edges=o.snip_edges, subtract_mean=False, use_energy=o.use_energy, use_log_fbank=o.use_log_fbank,
        use_power=o.use_power, vtln_high=o.vtln_high, vtln_low=o.vtln_low, vtln_warp=o.vtln_warp,
        window_type=o.window_type)


@pytest.mark.parametrize("changes", [
    {}, {"use_energy": True}, {"use_energy": True, "htk_compat": True}, {"snip_edges": True},
    {"dither": 0.0, "energy_floor": 1.0, "window_type": "hamming", "num_mel_bins": 40, "high_freq": -400},
    {"raw_energy": False, "use_energy": True, "remove_dc_offset": False, "preemphasis_coefficient": 0.0},
])
def test_fbank_equals_direct_torchaudio_call(changes):
    opts = FbankOptions(**changes)
    x = _speechy(12345, seed=1)
    feats, energy = compute_fbank(x, 16000, opts, "spk1-utt1")
    ref = _direct(x, "spk1-utt1", opts).numpy()
    assert feats.dtype == np.float32 and feats.shape == ref.shape
    np.testing.assert_array_equal(feats, ref)
    # the energy returned is the energy column torchaudio computes on the same frames
    ref_e = _direct(x, "spk1-utt1", FbankOptions(**{**changes, "use_energy": True, "htk_compat": False}))[:, 0]
    np.testing.assert_array_equal(energy, ref_e.numpy())


def test_torchaudio_defaults_differ_from_ours():
    """Why every option is passed: torchaudio's own defaults would give other features."""
    x = _speechy(8000, seed=2)
    ours = compute_fbank(x, 16000, FbankOptions(dither=0.0), "u")[0]
    theirs = kaldi.fbank(torch.from_numpy(x).unsqueeze(0)).numpy()
    assert ours.shape != theirs.shape


def test_dither_is_per_utterance_reproducible_and_leaves_global_rng_alone():
    x = _speechy(8000, seed=3)
    opts = FbankOptions()
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = compute_fbank(x, 16000, opts, "utt-a")[0]
    assert torch.equal(torch.get_rng_state(), state)
    np.testing.assert_array_equal(a, compute_fbank(x, 16000, opts, "utt-a")[0])
    assert not np.array_equal(a, compute_fbank(x, 16000, opts, "utt-b")[0])


def test_utterance_seed_is_stable_across_processes():
    """Not Python's salted hash(): another interpreter with another hash seed agrees."""
    import os
    import subprocess
    import sys
    code = "from utter.data.features import utterance_seed as s; print(s('spk1-utt1'))"
    env = dict(os.environ, PYTHONHASHSEED="12345")
    other = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert int(other.stdout) == utterance_seed("spk1-utt1")
    assert 0 <= utterance_seed("spk1-utt1") < 2**63 and utterance_seed("a") != utterance_seed("b")


def test_torch_input_gives_torch_output():
    x = _speechy(4000, seed=4)
    f_np, e_np = compute_fbank(x, 16000, FbankOptions(), "u")
    f_t, e_t = compute_fbank(torch.from_numpy(x), 16000, FbankOptions(), "u")
    assert isinstance(f_t, torch.Tensor) and isinstance(e_t, torch.Tensor)
    np.testing.assert_array_equal(f_t.numpy(), f_np)


@pytest.mark.parametrize("n", [400, 401, 479, 480, 559, 560, 16000, 16079, 16080, 33333])
def test_frame_count_matches_kaldi_formula(n):
    opts = FbankOptions()
    expected = (n + 160 // 2) // 160  # Kaldi, snip_edges=false: round(num_samples / frame_shift)
    assert opts.num_frames(n) == expected
    assert compute_fbank(_speechy(n), 16000, opts, "u")[0].shape[0] == expected
    assert FbankOptions(snip_edges=True).num_frames(n) == 1 + (n - 400) // 160


def _numpy_raw_log_energy(x: np.ndarray, length=400, shift=160) -> np.ndarray:
    """Kaldi's ExtractWindow (snip_edges=false, mirrored edges) + DC removal + log(sum x^2)."""
    n = len(x)
    num_frames = (n + shift // 2) // shift
    out = []
    for i in range(num_frames):
        start = i * shift + shift // 2 - length // 2
        frame = []
        for s in range(start, start + length):
            while s < 0 or s >= n:
                s = -s - 1 if s < 0 else 2 * n - 1 - s
            frame.append(float(x[s]))
        frame = np.array(frame)
        frame -= frame.mean()
        out.append(math.log(max(float(np.dot(frame, frame)), float(np.finfo(np.float32).eps))))
    return np.array(out)


def test_raw_log_energy_matches_numpy():
    x = _speechy(5000, seed=5)
    x[2000:2600] = 7.0  # a constant stretch: zero energy after DC removal, floored at epsilon
    _, energy = compute_fbank(x, 16000, FbankOptions(dither=0.0), "u")
    np.testing.assert_allclose(energy, _numpy_raw_log_energy(x), rtol=1e-5, atol=1e-4)


def test_fbank_errors_name_the_utterance():
    x = _speechy(4000)
    with pytest.raises(FeatureError, match="utt9: sample rate 8000 Hz, but the fbank config expects 16000 Hz"):
        compute_fbank(x, 8000, FbankOptions(), "utt9")
    with pytest.raises(FeatureError, match="utt9: 399 samples, shorter than one 25 ms frame"):
        compute_fbank(x[:399], 16000, FbankOptions(), "utt9")
    bad = x.copy()
    bad[100] = np.inf
    with pytest.raises(FeatureError, match="utt9: non-finite values"):
        compute_fbank(bad, 16000, FbankOptions(), "utt9")


def _brute_vad(e, threshold, mean_scale, proportion, context):
    """compute-vad as documented in Kaldi's voice-activity-detection.cc, loop by loop."""
    T = len(e)
    thr = threshold + (mean_scale * sum(float(v) for v in e) / T if mean_scale != 0 else 0.0)
    out = []
    for t in range(T):
        num = den = 0
        for t2 in range(t - context, t + context + 1):
            if 0 <= t2 < T:
                den += 1
                if e[t2] > thr:
                    num += 1
        out.append(1.0 if num >= den * proportion else 0.0)
    return np.array(out, dtype=np.float32)


@pytest.mark.parametrize("opts", [VadOptions(), VadOptions(5.0, 0.5, 0.6, 0), VadOptions(9.0, 0.0, 0.3, 3),
                                  VadOptions(2.0, 1.0, 0.5, 1)])
def test_vad_matches_brute_force(opts):
    rng = np.random.default_rng(7)
    for T in (1, 2, 5, 50, 333):
        e = (rng.normal(12, 4, T) * (rng.random(T) > 0.3)).astype(np.float32)
        got = compute_vad(e, opts)
        assert got.dtype == np.float32
        ref = _brute_vad(e, opts.vad_energy_threshold, opts.vad_energy_mean_scale,
                         opts.vad_proportion_threshold, opts.vad_frames_context)
        np.testing.assert_array_equal(got, ref)
    assert compute_vad(np.zeros(0), opts).shape == (0,)


def _brute_cmn(x, window, center, norm_vars, min_window=100):
    """Kaldi's SlidingWindowCmnInternal, one frame at a time with explicit sums."""
    T, D = x.shape
    out = np.zeros_like(x, dtype=np.float64)
    for t in range(T):
        if center:
            ws = t - window // 2
            we = ws + window
        else:
            ws = t - window
            we = t + 1
        if ws < 0:
            we -= ws
            ws = 0
        if not center and we > t:
            we = max(t + 1, min_window)
        if we > T:
            ws -= we - T
            we = T
            if ws < 0:
                ws = 0
        n = we - ws
        s = np.zeros(D)
        sq = np.zeros(D)
        for k in range(ws, we):
            s += x[k]
            sq += x[k].astype(np.float64) ** 2
        out[t] = x[t] - s / n
        if norm_vars:
            if n == 1:
                out[t] = 0.0
            else:
                var = np.maximum(sq / n - (s / n) ** 2, 1e-10)
                out[t] *= var ** -0.5
    return out


@pytest.mark.parametrize("window,center,norm_vars", [(150, True, False), (7, True, False), (6, True, True),
                                                     (5, False, False), (300, False, True), (150, True, True)])
def test_sliding_cmn_matches_brute_force(window, center, norm_vars):
    rng = np.random.default_rng(8)
    for T in (1, 3, 40, 170):
        x = rng.normal(3, 2, (T, 4)).astype(np.float32)
        got = sliding_cmn(x, window=window, center=center, norm_vars=norm_vars, min_window=10)
        assert got.dtype == np.float32 and got.shape == x.shape
        ref = _brute_cmn(x, window, center, norm_vars, min_window=10)
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
        got_t = sliding_cmn(torch.from_numpy(x), window=window, center=center, norm_vars=norm_vars, min_window=10)
        assert isinstance(got_t, torch.Tensor) and got_t.dtype == torch.float32
        np.testing.assert_allclose(got_t.numpy(), ref, rtol=1e-4, atol=1e-4)


def test_conf_parsing(tmp_path):
    assert FbankOptions.from_conf(text=DEFAULT_FBANK_CONF) == FbankOptions()
    assert VadOptions.from_conf(text=DEFAULT_VAD_CONF) == VadOptions()
    conf = tmp_path / "fbank.conf"
    conf.write_text("# comment\n--num-mel-bins=40  # inline\n--snip-edges=true\n--num-mel-bins=64\n")
    o = FbankOptions.from_conf(conf)
    assert o.num_mel_bins == 64 and o.snip_edges is True and o.dither == 1.0
    conf.write_text("--num-mel-bins=80\n--snip-edges=yes\n")
    with pytest.raises(ValueError, match=r"fbank.conf:2: expected true or false, got 'yes'"):
        FbankOptions.from_conf(conf)
    conf.write_text("--num-mel-bins=80\n--no-such-option=1\n")
    with pytest.raises(ValueError, match=r"fbank.conf:2: unknown FbankOptions option '--no-such-option'"):
        FbankOptions.from_conf(conf)
    conf.write_text("--window-type=hann\n")
    with pytest.raises(ValueError, match=r"fbank.conf:1: unknown window type 'hann'"):
        FbankOptions.from_conf(conf)
    conf.write_text("num-mel-bins 80\n")
    with pytest.raises(ValueError, match=r"fbank.conf:1: expected --option=value"):
        FbankOptions.from_conf(conf)


def test_ark_scp_writer_round_trip(tmp_path):
    rng = np.random.default_rng(9)
    mats = {f"u{i}": rng.normal(-5, 3, (20 + i, 80)).astype(np.float32) for i in range(3)}
    vecs = {k: rng.normal(0, 1, len(v)).astype(np.float32) for k, v in mats.items()}
    with ArkScpWriter.open(tmp_path / "f.ark", compression_method=2) as w:
        for k, v in mats.items():
            w.write(k, v)
    with ArkScpWriter.open(tmp_path / "e.ark") as w:
        for k, v in vecs.items():
            w.write(k, v)
    scp = (tmp_path / "f.scp").read_text().splitlines()
    assert [line.split()[0] for line in scp] == list(mats)
    assert scp[0].split()[1].startswith(str(tmp_path / "f.ark") + ":")
    feats = kaldiio.load_scp(str(tmp_path / "f.scp"))
    for k, v in mats.items():
        # kSpeechFeature: 1 byte per value between per-column percentiles
        np.testing.assert_allclose(feats[k], v, atol=(v.max() - v.min()) / 100)
    energies = kaldiio.load_scp(str(tmp_path / "e.scp"))
    for k, v in vecs.items():
        np.testing.assert_array_equal(energies[k], v)
    # a failure inside the block leaves neither file behind
    with pytest.raises(RuntimeError):
        with ArkScpWriter.open(tmp_path / "g.ark") as w:
            w.write("a", vecs["u0"])
            raise RuntimeError("boom")
    assert not (tmp_path / "g.ark").exists() and not (tmp_path / "g.scp").exists()
