"""Feature loaders: partial ark reads vs kaldiio, CMN+VAD vs by hand, determinism, resume, sharding, errors."""
from __future__ import annotations

import kaldiio
import numpy as np
import pytest
import torch

from utter.data.chunks import Crop
from utter.data.datadir import DataDir, write_table
from utter.data.dataset import (
    Corpus,
    FeatureReader,
    chunk_loader_factory,
    multi_crop_loader_factory,
    utterance_loader_factory,
)
from utter.data.features import sliding_cmn
from utter.data.kaldi_io import ArkReader, ArkScpWriter


def make_dir(d, n_utt=24, n_spk=4, seed=0, aug=True, method=2, frames=(150, 700)):
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    utt2spk, utt2orig, lens, emo = {}, {}, {}, {}
    with ArkScpWriter.open(d / "feats.ark", method, d / "feats.scp") as fw, \
            ArkScpWriter.open(d / "vad.ark", None, d / "vad.scp") as vw:
        for i in range(n_utt):
            spk = f"spk{i % n_spk}"
            utt = f"{spk}-u{i:03d}"
            t = int(rng.integers(*frames))
            x = (rng.normal(size=(t, 80)) * 3 + np.arange(80) * 0.1 + np.linspace(0, 5, t)[:, None]).astype(np.float32)
            v = (rng.random(t) > 0.3).astype(np.float32)
            for k, name in enumerate([utt] + ([f"{utt}-reverb", f"{utt}-noise"] if aug else [])):
                fw.write(name, x + 10 * k)
                vw.write(name, v)
                utt2spk[name], lens[name], emo[name] = spk, t, ("ang", "hap", "neu")[i % 3]
                if name != utt:
                    utt2orig[name] = utt
    write_table(d / "utt2spk", utt2spk)
    write_table(d / "utt2num_frames", lens)
    write_table(d / "utt2emo", emo)
    if aug:
        write_table(d / "utt2orig", utt2orig)
    return d


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dir(tmp_path_factory.mktemp("feats") / "train")


def _batches(loader):
    return [{k: (v.clone() if torch.is_tensor(v) else v) for k, v in b.items()} for b in loader]


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            assert torch.equal(x[k], y[k]) if torch.is_tensor(x[k]) else x[k] == y[k]


@pytest.mark.parametrize("method", [None, 1, 2, 3, 4, 5])
def test_ark_rows_equal_kaldiio(tmp_path, method):
    rng = np.random.default_rng(method or 0)
    with ArkScpWriter.open(tmp_path / "m.ark", method, tmp_path / "m.scp") as w:
        for i in range(3):
            w.write(f"u{i}", (rng.normal(size=(40 + 17 * i, 13)) * 4).astype(np.float32))
    reader = ArkReader()
    for entry in [line.split()[1] for line in open(tmp_path / "m.scp")]:
        full = kaldiio.load_mat(entry)
        assert reader.num_rows(entry) == full.shape[0]
        for a, b in [(0, full.shape[0]), (5, 23), (full.shape[0] - 1, full.shape[0]), (7, 7)]:
            got = reader.rows(entry, a, b)
            assert got.dtype == np.float32 and np.array_equal(got, full[a:b].astype(np.float32))


def test_crops_equal_cmn_then_vad_by_hand(data):
    reader = FeatureReader(Corpus(data), cmn_window=100)
    feats, vads = DataDir(data).feats_scp, DataDir(data).vad_scp
    rng = np.random.default_rng(0)
    for utt in list(feats)[:9]:
        full = kaldiio.load_mat(feats[utt])
        vad = kaldiio.load_mat(vads[utt])
        ref = sliding_cmn(full, window=100, center=True)[vad > 0.5]  # Kaldi: apply-cmvn-sliding | select-voiced
        assert reader.num_kept[utt] == ref.shape[0]
        assert np.allclose(reader.read_utt(utt), ref, atol=1e-5)
        for _ in range(5):
            length = int(rng.integers(1, 200))
            start = int(rng.integers(0, max(1, ref.shape[0] - length)))
            length = min(length, ref.shape[0] - start)
            got = reader.read_crop(Crop(utt, start, length))
            assert np.allclose(got, ref[start:start + length], atol=1e-5)
    raw = FeatureReader(Corpus(data), apply_vad=False, cmn=False)
    utt = next(iter(feats))
    assert np.array_equal(raw.read_crop(Crop(utt, 3, 50)), kaldiio.load_mat(feats[utt])[3:53])


def test_dino_batches_shapes_views_and_determinism(data):
    f = multi_crop_loader_factory(data, batch_size=4, seed=11, global_frames=300, local_frames=120, num_local=3,
                            min_frames=50, cmn_window=100)
    a = _batches(f(epoch=2))
    assert len(a) == f.num_batches() == 24 // 4
    b0, spec = a[0], f.plan.batch(2, f.plan.prepare(2), 0)
    assert b0["global"].shape[0] == 8 and b0["local"].shape[:2] == (12, 120)
    assert b0["global"].shape[1] == int(b0["global_lengths"].max())
    num_kept = f.reader.num_kept
    assert b0["global_lengths"].tolist() == [min(300, num_kept[c.utt]) for c in spec.groups["global"]]
    # view-major: rows v*B .. v*B+B-1 are view v of the B sources
    assert [c.utt.split("-")[1] for c in spec.groups["global"][4:]] == [u.split("-")[1] for u in b0["utts"]]
    assert len(b0["utts"]) == 4 and all("-" in u and not u.endswith(("reverb", "noise")) for u in b0["utts"])
    assert sorted(u for b in a for u in b["utts"]) == sorted(u for u in DataDir(data).utts if u.count("-") == 1)
    plan = f.plan  # the views come from the clean and the augmented copies
    views = {c.utt.rsplit("-", 1)[-1] for g in range(plan.num_global_batches(2))
             for c in plan.batch(2, plan.prepare(2), g).groups["local"]}
    assert {"reverb", "noise"} <= views and any(v.startswith("u") for v in views)
    _same(a, _batches(f(epoch=2)))                      # same seed, same batches
    assert not torch.equal(a[0]["local"], _batches(f(epoch=3))[0]["local"])  # another epoch differs
    _same(a[3:], _batches(f(epoch=2, start_batch=3)))   # resume gives exactly the rest
    f2 = multi_crop_loader_factory(data, batch_size=4, seed=11, global_frames=300, local_frames=120, num_local=3,
                             min_frames=50, cmn_window=100, num_workers=2)
    _same(a, _batches(f2(epoch=2)))                     # workers change nothing


def test_sharding_disjoint_and_complete(data):
    f = multi_crop_loader_factory(data, batch_size=2, seed=3, global_frames=100, local_frames=50, min_frames=50,
                            cmn_window=100)
    whole = [s for s in f.sampler(epoch=1, rank=0, world_size=1)]
    parts = [list(f.sampler(epoch=1, rank=r, world_size=3)) for r in range(3)]
    assert all(len(p) == f.num_batches(1, 3) == len(whole) // 3 for p in parts)
    ids = [s.index for p in parts for s in p]
    assert len(ids) == len(set(ids))
    utts = [u for p in parts for s in p for u in s.utts]
    assert len(utts) == len(set(utts))
    by_index = {s.index: s for s in whole}
    assert all(s.groups == by_index[s.index].groups for p in parts for s in p)  # the same global batches


def test_speaker_balanced_chunks_and_labels(data):
    f = chunk_loader_factory(data, batch_size=8, chunk_frames=100, seed=2, num_batches=50, cmn_window=100)
    spk_counts = np.zeros(4)
    for b in _batches(f(epoch=0)):
        assert b["feats"].shape == (8, 100, 80) and b["labels"].dtype == torch.int64
        for u, lab in zip(b["utts"], b["labels"].tolist()):
            assert f.extra["label_map"][u.split("-")[0]] == lab
            spk_counts[lab] += 1
    assert spk_counts.min() > 0.6 * spk_counts.mean()
    e = chunk_loader_factory(data, batch_size=4, chunk_frames=None, seed=2, label_table="utt2emo",
                             labels=["neu", "hap", "ang"], balanced=False, cmn_window=100)
    assert e.extra["label_map"] == {"neu": 0, "hap": 1, "ang": 2}
    b = next(iter(e(epoch=0)))
    assert b["feats"].shape[0] == 4 and int(b["feats_lengths"].max()) == b["feats"].shape[1]


def test_utterance_batches_sorted_and_complete(data):
    f = utterance_loader_factory(data, batch_size=5, cmn_window=100)
    batches = _batches(f(0))
    lengths = [int(x) for b in batches for x in b["feats_lengths"]]
    assert lengths == sorted(lengths, reverse=True)
    assert sorted(u for b in batches for u in b["utts"]) == sorted(DataDir(data).utts)
    reader = FeatureReader(Corpus(data), cmn_window=100)
    b = batches[-1]
    for i, u in enumerate(b["utts"]):
        n = int(b["feats_lengths"][i])
        assert torch.allclose(b["feats"][i, :n], torch.from_numpy(reader.read_utt(u)))
        assert not b["feats"][i, n:].any()
    shards = [_batches(f(0, rank=r, world_size=2)) for r in range(2)]
    assert sorted(u for s in shards for b in s for u in b["utts"]) == sorted(DataDir(data).utts)


def test_errors_name_the_problem(tmp_path, data):
    short = make_dir(tmp_path / "short", n_utt=5, aug=False, frames=(20, 40))
    with pytest.raises(ValueError, match=r"empty training set: 5 of 5 utterances have fewer than 100"):
        multi_crop_loader_factory(short, batch_size=2)
    bad = make_dir(tmp_path / "bad", n_utt=4, aug=False)
    lines = open(bad / "vad.scp").read().splitlines()
    (bad / "vad.scp").write_text("\n".join(lines[1:]) + "\n")
    missing = lines[0].split()[0]
    with pytest.raises(ValueError, match=f"{missing}: no entry in .*vad.scp"):
        multi_crop_loader_factory(bad, batch_size=2)
    lines = open(bad / "feats.scp").read().splitlines()
    (bad / "feats.scp").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match=f"{lines[-1].split()[0]}: no entry in .*feats.scp"):
        chunk_loader_factory(bad, batch_size=2, apply_vad=False)
    f = multi_crop_loader_factory(data, batch_size=4, min_frames=50)
    with pytest.raises(ValueError, match="start_batch 99 outside"):
        f(0, start_batch=99)


def test_multi_crop_plan_keeps_short_utterances_above_the_floor():
    """Sources under ``min_frames`` voiced frames are left out; the others are used, those shorter
    than the global crop with crops capped at their length; the counts are the plan's facts."""
    from utter.data.plans import MultiCropPlan

    num_kept = {"a": 500, "b": 120, "b-noise": 400, "c": 30, "d": 60}
    sources = {"a": ["a"], "b": ["b", "b-noise"], "c": ["c"], "d": ["d"]}
    plan = MultiCropPlan(sources, num_kept, batch_size=2, global_frames=300, local_frames=100, num_local=2,
                         min_frames=50)
    assert plan.sources == ["a", "b", "d"]
    assert plan.facts == {"utterances": 4, "used": 3, "left_out": 1, "min_frames": 50,
                          "shorter_than_global_crop": 2, "global_frames": 300, "local_frames": 100}
    spec = plan.batch(0, plan.prepare(0), 0)
    for crop in spec.groups["global"]:
        assert crop.length == min(300, num_kept[crop.utt])


def test_no_utterance_at_all_is_not_called_too_short():
    """An empty training set with no utterance at all: the message says so, instead of '0 of 0
    utterances have fewer than N voiced frames' and a fix about the crop length (issue 26 point 9)."""
    from utter.data.plans import report_short_utterances

    with pytest.raises(ValueError, match="hold no utterance to train on") as err:
        report_short_utterances(0, 0, 300, "crops of 150/300 frames")
    assert "fewer than" not in str(err.value)
