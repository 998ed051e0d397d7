"""utter.data.audio: every wav.scp entry kind, segments, rates, channels, and every bad input.

References: the int16 samples written with soundfile (closed form: read == written * 1),
numpy slicing for segments, torchaudio's resample called directly.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
import soundfile as sf

from utter.data.audio import AudioError, AudioReader, compute_utt2dur, read_audio
from utter.data.features import resample

RATE = 16000


def _int16(n: int, seed: int = 0, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (n,) if channels == 1 else (n, channels)
    return rng.integers(-20000, 20000, size=shape).astype(np.int16)


def _write(path, data, rate=RATE, fmt=None):
    sf.write(str(path), data, rate, subtype="PCM_16", format=fmt)
    return str(path)


def _data_dir(tmp_path, wav_scp: dict, segments: dict | None = None):
    d = tmp_path / "data"
    d.mkdir(exist_ok=True)
    (d / "wav.scp").write_text("".join(f"{k} {v}\n" for k, v in sorted(wav_scp.items())))
    utts = segments if segments is not None else wav_scp
    (d / "utt2spk").write_text("".join(f"{u} spk\n" for u in sorted(utts)))
    if segments is not None:
        (d / "segments").write_text("".join(f"{u} {r} {s} {e}\n" for u, (r, s, e) in sorted(segments.items())))
    return d


def test_wav_and_flac_files_at_int16_scale(tmp_path):
    x = _int16(8000)
    for fmt, name in (("WAV", "a.wav"), ("FLAC", "a.flac")):
        samples, rate = read_audio(_write(tmp_path / name, x, fmt=fmt))
        assert rate == RATE and samples.dtype == np.float32
        np.testing.assert_array_equal(samples, x.astype(np.float32))


def test_ogg_file_decodes(tmp_path):
    t = np.arange(RATE) / RATE
    path = str(tmp_path / "a.ogg")
    sf.write(path, 0.5 * np.sin(2 * np.pi * 440 * t), RATE, format="OGG", subtype="VORBIS")
    samples, rate = read_audio(path)
    assert rate == RATE and abs(len(samples) - RATE) < 2000
    assert 0.3 * 32768 < np.abs(samples).max() < 0.7 * 32768  # lossy, but at int16 scale


def test_pipe_from_cat(tmp_path):
    x = _int16(5000, seed=1)
    path = _write(tmp_path / "a.wav", x)
    samples, rate = read_audio(f"cat {path} |")
    np.testing.assert_array_equal(samples, x.astype(np.float32))


def test_pipe_from_python_streaming_wav_with_unknown_sizes(tmp_path):
    """A program writing WAV to a pipe leaves the sizes unknown (0xFFFFFFFF); we still read all of it."""
    x = _int16(3000, seed=2)
    raw = tmp_path / "a.raw"
    raw.write_bytes(x.tobytes())
    prog = tmp_path / "stream.py"
    prog.write_text(
        "import struct, sys\n"
        f"data = open({str(raw)!r}, 'rb').read()\n"
        "hdr = b'RIFF' + struct.pack('<I', 0xFFFFFFFF) + b'WAVEfmt ' + struct.pack('<IHHIIHH', 16, 1, 1, 16000,"
        " 32000, 2, 16) + b'data' + struct.pack('<I', 0xFFFFFFFF)\n"
        "sys.stdout.buffer.write(hdr + data)\n")
    samples, rate = read_audio(f"{sys.executable} {prog} |")
    assert rate == RATE
    np.testing.assert_array_equal(samples, x.astype(np.float32))


def test_pipe_failures_name_utterance_and_command(tmp_path):
    with pytest.raises(AudioError, match=r"uttA: command 'echo oops >&2; exit 3' failed with exit status 3: oops"):
        read_audio("echo oops >&2; exit 3 |", name="uttA")
    with pytest.raises(AudioError, match=r"uttB: command 'true' wrote no audio"):
        read_audio("true |", name="uttB")
    # pipefail: a failing first stage is a failure even if the last one succeeds
    with pytest.raises(AudioError, match="uttC: command"):
        read_audio(f"cat {tmp_path}/missing.wav | cat |", name="uttC")
    with pytest.raises(AudioError, match="uttD: cannot decode audio"):
        read_audio("echo notaudio |", name="uttD")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(AudioError, match=r"utt1: audio file '.*nope.wav' does not exist"):
        read_audio(str(tmp_path / "nope.wav"), name="utt1")
    empty = _write(tmp_path / "empty.wav", np.zeros(0, dtype=np.int16))
    with pytest.raises(AudioError, match="utt2: empty recording"):
        read_audio(empty, name="utt2")


def test_channel_selection(tmp_path):
    x = _int16(4000, seed=3, channels=2)
    path = _write(tmp_path / "st.wav", x)
    np.testing.assert_array_equal(read_audio(path)[0], x[:, 0].astype(np.float32))
    np.testing.assert_array_equal(read_audio(path, channel=1)[0], x[:, 1].astype(np.float32))
    with pytest.raises(AudioError, match="u: channel 2 requested but the audio has 2 channel"):
        read_audio(path, channel=2, name="u")


def test_reader_files_pipes_and_rate_check(tmp_path):
    a, b = _int16(4000, 4), _int16(6000, 5)
    pa, pb = _write(tmp_path / "a.wav", a), _write(tmp_path / "b.wav", b, rate=8000)
    d = _data_dir(tmp_path, {"u1": pa, "u2": f"cat {pb} |"})
    got = {u: (s, r) for u, s, r in AudioReader(d)}
    np.testing.assert_array_equal(got["u1"][0], a.astype(np.float32))
    assert got["u2"][1] == 8000
    with pytest.raises(AudioError, match="u2: sample rate 8000 Hz, but the config expects 16000 Hz"):
        list(AudioReader(d, sample_rate=16000))
    reader = AudioReader(d, sample_rate=16000, resampler=resample)
    s, r = reader.read("u2")
    import torch
    import torchaudio.functional as F
    ref = F.resample(torch.from_numpy(b.astype(np.float32)), 8000, 16000).numpy()
    assert r == 16000 and len(s) == 12000
    np.testing.assert_allclose(s, ref, rtol=0, atol=1e-3)
    np.testing.assert_allclose(resample(b.astype(np.float32), 8000, 16000), ref, atol=1e-3)


def test_segments_slicing_end_to_end_and_one_decode_per_recording(tmp_path):
    x = _int16(3 * RATE, seed=6)
    path = _write(tmp_path / "r.wav", x)
    counter = tmp_path / "decodes"
    entry = f"echo x >> {counter}; cat {path} |"
    segs = {"r-a": ("r", 0.0, 0.5), "r-b": ("r", 0.25, 1.755), "r-c": ("r", 2.0, -1)}
    d = _data_dir(tmp_path, {"r": entry}, segs)
    got = {u: s for u, s, _ in AudioReader(d, sample_rate=RATE)}
    np.testing.assert_array_equal(got["r-a"], x[:8000].astype(np.float32))
    np.testing.assert_array_equal(got["r-b"], x[4000:28080].astype(np.float32))
    np.testing.assert_array_equal(got["r-c"], x[32000:].astype(np.float32))
    assert counter.read_text().count("x") == 1  # one decode served all three segments
    assert compute_utt2dur(d) == {"r-a": 0.5, "r-b": 1.505, "r-c": 1.0}


def test_segments_outside_recording_and_unknown_recording(tmp_path):
    path = _write(tmp_path / "r.wav", _int16(RATE))
    d = _data_dir(tmp_path, {"r": path}, {"r-late": ("r", 0.5, 2.0)})
    with pytest.raises(AudioError, match=r"r-late: segment 0.5-2.0 s lies outside recording 'r' \(1.000 s\)"):
        list(AudioReader(d))
    d = _data_dir(tmp_path, {"r": path}, {"r-start": ("r", 1.2, -1)})
    with pytest.raises(AudioError, match="r-start: segment 1.2--1.0 s lies outside recording 'r'"):
        list(AudioReader(d))
    d = _data_dir(tmp_path, {"r": path}, {"r-bad": ("r", 0.5, 0.4)})
    with pytest.raises(AudioError, match="r-bad: bad segment"):
        list(AudioReader(d))
    # within Kaldi's 0.5 s overshoot the segment is clipped to the recording
    d = _data_dir(tmp_path, {"r": path}, {"r-over": ("r", 0.5, 1.2)})
    assert len(AudioReader(d).read("r-over")[0]) == 8000
    d = _data_dir(tmp_path, {"r": path}, {"x-1": ("x", 0.0, 0.5)})
    with pytest.raises(AudioError, match="x-1: recording 'x' is not in"):
        list(AudioReader(d))


def test_utt2dur_from_headers(tmp_path):
    pa = _write(tmp_path / "a.wav", _int16(12345))
    pb = _write(tmp_path / "b.flac", _int16(8000), fmt="FLAC")
    d = _data_dir(tmp_path, {"a": pa, "b": f"cat {pb} |"})
    assert compute_utt2dur(d) == {"a": 12345 / RATE, "b": 0.5}
