"""Audio-path loader: wav.scp -> (augmentation) -> fbank -> CMN -> VAD, against the same steps by hand."""
from __future__ import annotations

import numpy as np
import soundfile as sf

from utter.data.augment import Augmenter
from utter.data.datadir import write_table
from utter.data.dataset import multi_crop_loader_factory
from utter.data.features import compute_fbank, compute_vad, sliding_cmn
from utter.data.options import FbankOptions, VadOptions

RATE = 16000


def test_audio_path_matches_by_hand(tmp_path):
    rng = np.random.default_rng(0)
    wav, utt2spk = {}, {}
    for i in range(4):
        n = RATE * 3
        x = rng.normal(0, 3000, n) * (np.sin(np.arange(n) / 2000.0) > -0.3)
        utt = f"spk{i % 2}-u{i}"
        wav[utt] = str(tmp_path / f"{utt}.wav")
        sf.write(wav[utt], np.rint(x).astype(np.int16), RATE, subtype="PCM_16")
        utt2spk[utt] = f"spk{i % 2}"
    noise = tmp_path / "n.wav"
    sf.write(noise, np.rint(rng.normal(0, 500, RATE)).astype(np.int16), RATE, subtype="PCM_16")
    write_table(tmp_path / "wav.scp", wav)
    write_table(tmp_path / "utt2spk", utt2spk)
    write_table(tmp_path / "utt2dur", {u: "3.0" for u in wav})
    aug = Augmenter(noise={"n": str(noise)})
    f = multi_crop_loader_factory(tmp_path, batch_size=2, seed=4, global_frames=150, local_frames=80, num_local=2,
                            min_frames=50, audio=True, augmenter=aug, aug_types=("noise",))
    batches = list(f(0))
    assert len(batches) == 2 and batches[0]["global"].shape[:2] == (4, 150)
    spec = f.plan.batch(0, f.plan.prepare(0), 0)
    crop = spec.groups["local"][0]
    assert crop.aug in ("clean", "noise")
    x, _ = sf.read(wav[crop.utt], dtype="int16")
    x = x.astype(np.float32)
    opts = FbankOptions()
    clean, energy = compute_fbank(x, RATE, opts, crop.utt)
    vad = compute_vad(energy, VadOptions()) > 0.5
    if crop.aug == "noise":
        y = aug.apply(x, RATE, "noise", np.random.default_rng(crop.aug_seed))
        clean, _ = compute_fbank(y, RATE, opts, crop.utt)
    ref = sliding_cmn(clean, window=300, center=True)[vad]
    kept, planned = ref.shape[0], f.reader.num_kept[crop.utt]
    start = min(kept - crop.length, crop.start * (kept - crop.length + 1) // (planned - crop.length + 1))
    assert np.allclose(batches[0]["local"][0].numpy(), ref[start:start + crop.length], atol=1e-4)
    assert kept < planned  # the VAD dropped frames, so the planned position was rescaled


def test_on_the_fly_types_keep_those_whose_signals_are_given(tmp_path):
    """--aug-types on the audio path: colour needs no files, the MUSAN/RIR types need their dirs."""
    import argparse

    from utter.bin.train_common import add_data_arguments, reader_options

    p = argparse.ArgumentParser()
    add_data_arguments(p)
    opts = reader_options(p.parse_args(["--from-audio", "true", "--aug-types", "reverb,noise,colour"]))
    assert opts["aug_types"] == ["colour"] and opts["augmenter"].types == ("colour",)
    assert "augmenter" not in reader_options(p.parse_args(["--from-audio", "true"]))  # Kaldi's four, no dirs
    (tmp_path / "rirs").mkdir()
    write_table(tmp_path / "rirs" / "wav.scp", {"r": str(tmp_path / "r.wav")})
    opts = reader_options(p.parse_args(["--from-audio", "true", "--rirs-data", str(tmp_path / "rirs"),
                                        "--aug-types", "reverb,music,colour"]))
    assert opts["aug_types"] == ["reverb", "colour"]


def test_audio_at_another_rate_is_resampled_only_when_allowed(tmp_path):
    """An 8 kHz file on the audio path: an error naming the utterance by default; with allow_resample its
    crops are those of the by-hand route (torchaudio resampling to 16 kHz, then fbank, CMN and VAD)."""
    import pytest
    import torch
    import torchaudio.functional as F

    from utter.data.dataset import utterance_loader_factory
    from utter.data.features import FeatureError

    rng = np.random.default_rng(1)
    n = 8000 * 2
    x = rng.normal(0, 3000, n) * (np.sin(np.arange(n) / 1000.0) > -0.3)
    path = tmp_path / "u8k.wav"
    sf.write(path, np.rint(x).astype(np.int16), 8000, subtype="PCM_16")
    write_table(tmp_path / "wav.scp", {"spk-u8k": str(path)})
    write_table(tmp_path / "utt2spk", {"spk-u8k": "spk"})
    write_table(tmp_path / "utt2dur", {"spk-u8k": "2.0"})
    with pytest.raises(FeatureError, match="spk-u8k: sample rate 8000"):
        list(utterance_loader_factory(tmp_path, audio=True)(0))
    got = next(iter(utterance_loader_factory(tmp_path, audio=True, allow_resample=True)(0)))["feats"][0]
    y, _ = sf.read(path, dtype="int16")
    y16 = F.resample(torch.from_numpy(y.astype(np.float32)), 8000, RATE).numpy()
    feats, energy = compute_fbank(y16, RATE, FbankOptions(), "spk-u8k")
    ref = sliding_cmn(feats, window=300, center=True)[compute_vad(energy, VadOptions()) > 0.5]
    assert got.shape[0] == ref.shape[0] and np.allclose(got.numpy(), ref, atol=1e-4)
