"""Embedding extraction: against a direct forward pass on features prepared by hand (sliding CMN
over the whole utterance, then VAD, as Kaldi's apply-cmvn-sliding | select-voiced-frames),
padding invariance, chunk means, speaker means against numpy, --nj invariance of the steps
script, and errors naming the utterance or checkpoint."""
from __future__ import annotations

import subprocess
import sys

import kaldiio
import numpy as np
import pytest
import torch

from utter.data.datadir import DataDirError, utt2spk_to_spk2utt, write_table
from utter.data.features import sliding_cmn
from utter.data.kaldi_io import write_vectors
from utter.nnet import build_network
from utter.train import checkpoint as ck
from utter.train.extract import (
    ExtractOptions,
    embed_data_dir,
    extract_embeddings,
    frame_chunks,
    speaker_means,
    write_speaker_means,
)

FEAT_DIM = 20
ARCH = dict(arch="tdnn", feat_dim=FEAT_DIM, channels=[16, 16, 16, 16, 32], embed_dim=12)
# utterance -> (frames, voiced frames wanted); "c-short" has too few voiced frames for VAD
UTTS = {"a-1": (230, 170), "a-2": (95, 60), "b-1": (410, 300), "b-2": (150, 120),
        "c-1": (333, 250), "c-short": (120, 8)}


def _random_eval_net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = build_network(dict(ARCH))
    for m in net.modules():  # non-trivial BatchNorm statistics, so eval mode matters
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return net.eval()


def _save(path, arch, model) -> str:
    state = {"format_version": ck.FORMAT_VERSION, "arch_config": arch, "model": model,
             "extra": {"modules": {}, "objective": {}}, "optimizer": None, "scheduler": None,
             "step": 0, "epoch": 0, "rng": []}
    return str(ck.save_checkpoint(path, state))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny data dir (feats.scp as float ark, vad.scp, utt2spk, spk2utt) and a checkpoint."""
    root = tmp_path_factory.mktemp("extract")
    data = root / "data"
    data.mkdir()
    rng = np.random.default_rng(1)
    feats, vads = {}, {}
    with kaldiio.WriteHelper(f"ark,scp:{root}/feats.ark,{data}/feats.scp") as fw, \
            kaldiio.WriteHelper(f"ark,scp:{root}/vad.ark,{data}/vad.scp") as vw:
        for utt, (n, voiced) in UTTS.items():
            x = (rng.standard_normal((n, FEAT_DIM)) * 2 + rng.standard_normal(FEAT_DIM) * 3).astype(np.float32)
            v = np.zeros(n, np.float32)
            v[rng.choice(n, voiced, replace=False)] = 1
            fw(utt, x)
            vw(utt, v)
            feats[utt], vads[utt] = x, v
    utt2spk = {u: u.split("-")[0] for u in UTTS}
    write_table(data / "utt2spk", utt2spk)
    write_table(data / "spk2utt", {s: " ".join(us) for s, us in utt2spk_to_spk2utt(utt2spk).items()})
    write_table(data / "utt2num_frames", {u: str(n) for u, (n, _) in UTTS.items()})
    net = _random_eval_net()
    model = _save(root / "final.pt", net.config, net.state_dict())
    return dict(root=root, data=data, feats=feats, vads=vads, net=net, model=model, utt2spk=utt2spk)


def _prepared(s, utt, min_voiced=50) -> np.ndarray:
    """By hand: CMN over the whole utterance (window 300, centred), then the voiced frames."""
    x = sliding_cmn(s["feats"][utt], window=300, center=True)
    keep = s["vads"][utt] > 0.5
    return x if keep.sum() < min_voiced else x[keep]


def _forward(net, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        t = torch.from_numpy(np.ascontiguousarray(x, np.float32))[None]
        return net(t, torch.tensor([t.shape[1]]))[0].numpy()


def _extract(s, opts=None) -> dict[str, np.ndarray]:
    return dict(embed_data_dir(s["net"], s["data"], opts or ExtractOptions(), progress=False))


def test_extraction_equals_direct_forward(setup, tmp_path, caplog):
    s = setup
    caplog.set_level("INFO")
    stats = extract_embeddings(s["model"], s["data"], tmp_path / "xvector.ark", ExtractOptions(batch_size=4),
                               progress=False)
    got = {k: np.asarray(v) for k, v in kaldiio.load_scp(str(tmp_path / "xvector.scp")).items()}
    assert list(got) == sorted(UTTS)  # scp sorted, every utterance once
    for utt in UTTS:
        want = _forward(s["net"], _prepared(s, utt))
        assert got[utt].dtype == np.float32 and got[utt].shape == (ARCH["embed_dim"],)
        np.testing.assert_allclose(got[utt], want, atol=1e-5, rtol=0)
    assert stats.no_vad == ["c-short"] and stats.utterances == len(UTTS)
    assert "c-short: 8 voiced frames (< 50): embedding all 120 frames without VAD" in caplog.text
    # the fallback really dropped VAD: the VAD-only embedding differs
    vad_only = _forward(s["net"], sliding_cmn(s["feats"]["c-short"], window=300)[s["vads"]["c-short"] > 0.5])
    assert np.abs(vad_only - got["c-short"]).max() > 1e-3


def test_batching_by_length_is_padding_invariant(setup):
    one = _extract(setup, ExtractOptions(batch_size=1))
    many = _extract(setup, ExtractOptions(batch_size=6))
    capped = _extract(setup, ExtractOptions(batch_size=6, max_frames=700))
    assert set(one) == set(many) == set(UTTS)
    for utt in UTTS:
        np.testing.assert_allclose(many[utt], one[utt], atol=1e-5, rtol=0)
        np.testing.assert_allclose(capped[utt], one[utt], atol=1e-5, rtol=0)


def test_no_vad_and_cmn_window_options(setup):
    s = setup
    got = _extract(s, ExtractOptions(use_vad=False, cmn_window=100))
    for utt in UTTS:
        want = _forward(s["net"], sliding_cmn(s["feats"][utt], window=100, center=True))
        np.testing.assert_allclose(got[utt], want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("n,chunk,min_len,want", [
    (10, 4, 2, [(0, 4), (4, 4), (8, 2)]),      # remainder 2 >= 2: its own chunk
    (9, 4, 2, [(0, 4), (4, 5)]),               # remainder 1 < 2: merged into the previous chunk
    (8, 4, 2, [(0, 4), (4, 4)]),
    (3, 4, 2, [(0, 3)]),                       # shorter than one chunk: the whole utterance
    (1, 4, 4, [(0, 1)]),
    (4, 4, 4, [(0, 4)]),
])
def test_frame_chunks(n, chunk, min_len, want):
    got = frame_chunks(n, chunk, min_len)
    assert got == want
    assert sum(length for _, length in got) == n  # contiguous cover of every frame
    assert all(a + la == b for (a, la), (b, _) in zip(got, got[1:]))


def test_chunked_extraction_is_mean_of_chunk_forwards(setup):
    s = setup
    chunk, min_len = 60, 25
    got = _extract(s, ExtractOptions(chunk_len=chunk, min_chunk_len=min_len, batch_size=5))
    n_multi = 0
    for utt in UTTS:
        x = _prepared(s, utt)
        # chunks by hand: consecutive 60-frame pieces; a remainder < 25 joins the previous piece
        starts = list(range(0, len(x), chunk))
        pieces = [x[a:a + chunk] for a in starts]
        if len(pieces) > 1 and len(pieces[-1]) < min_len:
            pieces[-2:] = [np.concatenate(pieces[-2:])]
        n_multi += len(pieces) > 1
        want = np.mean([_forward(s["net"], p) for p in pieces], axis=0)
        np.testing.assert_allclose(got[utt], want, atol=1e-5, rtol=0)
    assert n_multi >= 4  # the test exercised real chunking


def test_speaker_means_against_numpy(setup, tmp_path):
    s = setup
    emb = _extract(s)
    spk_scp, num_utts = write_speaker_means(s["data"] / "spk2utt", _write(emb, tmp_path), tmp_path)
    means = {k: np.asarray(v) for k, v in kaldiio.load_scp(str(spk_scp)).items()}
    counts = dict(line.split() for line in num_utts.read_text().splitlines())
    for spk in ("a", "b", "c"):
        utts = [u for u in UTTS if s["utt2spk"][u] == spk]
        np.testing.assert_allclose(means[spk], np.mean([emb[u] for u in utts], axis=0), atol=1e-6, rtol=0)
        assert counts[spk] == str(len(utts))
    with pytest.raises(KeyError, match="x-9 \\(of speaker x\\)"):
        speaker_means({"x": ["a-1", "x-9"]}, emb)
    m, c = speaker_means({"x": ["a-1", "x-9"], "y": ["y-1"]}, emb, allow_missing=True)
    assert list(m) == ["x"] and c == {"x": 1}
    np.testing.assert_array_equal(m["x"], emb["a-1"])


def _write(emb, d):
    write_vectors(emb, d / "emb.ark")
    return d / "emb.scp"


def test_errors_name_the_utterance_and_checkpoint(setup, tmp_path):
    s = setup
    data = tmp_path / "data"
    data.mkdir()
    for name in ("utt2spk", "spk2utt", "vad.scp"):
        (data / name).write_text((s["data"] / name).read_text())
    lines = (s["data"] / "feats.scp").read_text().splitlines()
    (data / "feats.scp").write_text("\n".join(ln for ln in lines if not ln.startswith("b-2 ")) + "\n")
    with pytest.raises(DataDirError, match="b-2: no entry in .*feats.scp"):
        _extract({**s, "data": data})
    # a checkpoint that is not an embedding network
    head = _save(tmp_path / "head.pt", {"arch": "dino_head", "out_dim": 64}, {})
    with pytest.raises(ck.CheckpointError, match="cannot build network"):
        extract_embeddings(head, s["data"], tmp_path / "x.ark", progress=False)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "plain.pt")
    r = subprocess.run([sys.executable, "-m", "utter.bin.extract_embeddings", str(tmp_path / "plain.pt"),
                        str(s["data"]), str(tmp_path / "x.ark")], capture_output=True, text=True)
    assert r.returncode == 1
    assert "error: " in r.stderr and "plain.pt is not an utter checkpoint" in r.stderr
    assert not (tmp_path / "x.scp").exists() and not (tmp_path / "x.ark").exists()


def test_steps_script_nj_invariance_and_skip(setup, tmp_path, root, shell_env):
    s = setup
    outs = {}
    for nj in (1, 2):
        out = tmp_path / f"emb{nj}"
        r = subprocess.run(["bash", str(root / "steps/extract_embeddings.sh"), "--nj", str(nj), "--batch-size", "3",
                            s["model"], str(s["data"]), str(out)], capture_output=True, text=True, env=shell_env,
                           cwd=tmp_path)
        assert r.returncode == 0, r.stderr + r.stdout
        assert "wrote" in r.stdout and "1 utterance(s) had fewer than 50 voiced frames" in r.stderr
        outs[nj] = out
    one = {k: np.asarray(v) for k, v in kaldiio.load_scp(str(outs[1] / "xvector.scp")).items()}
    two = {k: np.asarray(v) for k, v in kaldiio.load_scp(str(outs[2] / "xvector.scp")).items()}
    assert list(one) == list(two) == sorted(UTTS)
    assert (outs[2] / "xvector.1.ark").exists() and (outs[2] / "xvector.2.ark").exists()
    for utt in UTTS:
        np.testing.assert_allclose(two[utt], one[utt], atol=1e-6, rtol=0)
    spk = {k: np.asarray(v) for k, v in kaldiio.load_scp(str(outs[2] / "spk_xvector.scp")).items()}
    np.testing.assert_allclose(spk["b"], (one["b-1"] + one["b-2"]) / 2, atol=1e-6, rtol=0)
    assert (outs[2] / "num_utts.ark").read_text() == "a 2\nb 2\nc 2\n"
    # complete outputs: the second run skips
    r = subprocess.run(["bash", str(root / "steps/extract_embeddings.sh"), "--nj", "2", s["model"],
                        str(s["data"]), str(outs[2])], capture_output=True, text=True, env=shell_env, cwd=tmp_path)
    assert r.returncode == 0 and "skipping" in r.stderr, r.stderr
