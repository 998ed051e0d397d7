"""Pseudo-label rounds: the clustering stage writes a valid data dir labelled by cluster (counts and
purity/NMI checked against brute-force counts from the written files), augmented copies follow
their sources, and a tiny round (DINO -> cluster -> affine -> full) runs end to end on synthetic
kaldiio features with the affine step leaving every other network parameter bit-identical.
"""
from __future__ import annotations

import json
import math
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from utter.bin import cluster_embeddings, train_dino
from utter.bin.common import run
from utter.data.datadir import read_table
from utter.train.checkpoint import load_checkpoint, load_embedder
from utter.train.extract import extract_embeddings


def write_embeddings(path: Path, emb: dict[str, np.ndarray]) -> Path:
    import kaldiio

    kaldiio.save_ark(str(path.with_suffix(".ark")), {k: v.astype(np.float32) for k, v in emb.items()},
                     scp=str(path))
    return path


def write_data_dir(d: Path, utt2spk: dict[str, str], *, wav: bool = True) -> Path:
    d.mkdir(parents=True)
    (d / "utt2spk").write_text("".join(f"{u} {utt2spk[u]}\n" for u in sorted(utt2spk)))
    spks = sorted(set(utt2spk.values()))
    (d / "spk2utt").write_text("".join(s + " " + " ".join(u for u in sorted(utt2spk) if utt2spk[u] == s) + "\n"
                                       for s in spks))
    if wav:
        (d / "wav.scp").write_text("".join(f"{u} /audio/{u}.wav\n" for u in sorted(utt2spk)))
        (d / "utt2dur").write_text("".join(f"{u} {1 + i * 0.1:.1f}\n" for i, u in enumerate(sorted(utt2spk))))
    (d / "spk2gender").write_text("".join(f"{s} m\n" for s in spks))
    return d


@pytest.fixture()
def clustered_set(tmp_path):
    """5 speakers x 6 utterances around orthogonal directions, plus 2 utterances of a 6th far away."""
    rng = np.random.default_rng(0)
    dim = 16
    emb, utt2spk = {}, {}
    for s in range(6):
        centre = np.eye(dim)[s] * 10
        for u in range(6 if s < 5 else 2):
            utt = f"id{s:02d}-u{u}"
            emb[utt] = centre + rng.normal(0, 0.5, dim)
            utt2spk[utt] = f"id{s:02d}"
    data = write_data_dir(tmp_path / "train", utt2spk)
    scp = write_embeddings(tmp_path / "xvector.scp", emb)
    return data, scp, utt2spk


def cluster(args: list[str]) -> int:
    return run(cluster_embeddings.main, cluster_embeddings.build_parser(), args)


def test_cluster_stage_writes_valid_pseudo_dir(clustered_set, tmp_path, root, shell_env):
    data, scp, utt2spk = clustered_set
    out = tmp_path / "pseudo"
    r = subprocess.run([str(root / "steps/cluster_embeddings.sh"), "--method", "agglomerative",
                        "--num-clusters", "6", "--min-cluster-size", "3", str(scp), str(data), str(out)],
                       env=shell_env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert subprocess.run([str(root / "utils/validate_data_dir.sh"), "--no-text", "--no-feats", str(out)],
                          env=shell_env, capture_output=True).returncode == 0
    figs = json.loads((out / "cluster.json").read_text())
    u2s, true, back = (read_table(out / n) for n in ("utt2spk", "utt2spk_true", "utt2orig_utt"))
    assert read_table(out / "utt2pseudo") == u2s
    # the 6th speaker's 2 utterances form the cluster below the minimum size
    assert figs["utterances"] == 32 and figs["utterances_dropped"] == 2 and figs["utterances_kept"] == 30
    assert figs["num_clusters_found"] == 6 and figs["num_clusters_kept"] == 5 and figs["clusters_dropped"] == 1
    assert len(u2s) == 30 and sorted(back.values()) == sorted(u for u in utt2spk if not u.startswith("id05"))
    for new, spk in u2s.items():
        assert new == f"{spk}-{back[new]}" and true[new] == utt2spk[back[new]]
    # purity and NMI from the written files, by brute force over the contingency counts
    pairs = Counter((u2s[u], true[u]) for u in u2s)
    n = len(u2s)
    pur = sum(max(c for (p, _), c in pairs.items() if p == q) for q in set(u2s.values())) / n
    pc, tc = Counter(u2s.values()), Counter(true.values())
    mi = sum(c / n * math.log(c * n / (pc[p] * tc[t])) for (p, t), c in pairs.items())
    h = [-sum(c / n * math.log(c / n) for c in cnt.values()) for cnt in (pc, tc)]
    assert figs["purity"] == pytest.approx(pur) and pur == 1.0
    assert figs["nmi"] == pytest.approx(mi / (sum(h) / 2))
    assert figs["true_speakers"] == 6 and figs["true_speakers_kept"] == 5
    assert not (out / "spk2gender").exists()  # true-speaker table not carried to the pseudo speakers
    assert read_table(out / "wav.scp")[next(iter(u2s))].endswith(f"{back[next(iter(u2s))]}.wav")
    # a second call finds the outputs complete and skips
    r2 = subprocess.run([str(root / "steps/cluster_embeddings.sh"), "--method", "agglomerative",
                         "--num-clusters", "6", "--min-cluster-size", "3", str(scp), str(data), str(out)],
                        env=shell_env, capture_output=True, text=True)
    assert r2.returncode == 0 and "skipping" in r2.stderr


def test_wrong_k_kmeans_and_aug_copies(clustered_set, tmp_path):
    data, scp, utt2spk = clustered_set
    aug = {f"{u}-reverb": u for u in utt2spk}
    augdir = write_data_dir(tmp_path / "aug", {c: utt2spk[s] for c, s in aug.items()}, wav=True)
    (augdir / "utt2orig").write_text("".join(f"{c} {aug[c]}\n" for c in sorted(aug)))
    out, aug_out = tmp_path / "pseudo", tmp_path / "pseudo_aug"
    res = tmp_path / "c.json"
    assert cluster(["--num-clusters", "8", "--min-cluster-size", "1", "--aug-data", str(augdir),
                    "--aug-out", str(aug_out), "--results", str(res), str(scp), str(data), str(out)]) == 0
    figs = json.loads(res.read_text())
    assert figs["num_clusters_kept"] == 8 and figs["utterances_dropped"] == 0
    assert figs["purity"] == 1.0  # over-clustering well-separated speakers keeps every cluster pure
    assert figs["nmi"] < 1.0 and figs["inverse_purity"] < 1.0
    u2s = read_table(out / "utt2spk")
    orig = read_table(aug_out / "utt2orig")
    assert figs["aug_copies"] == len(orig) == len(aug)
    for copy, src in orig.items():
        assert src in u2s and read_table(aug_out / "utt2spk")[copy] == u2s[src]


def test_cluster_errors(clustered_set, tmp_path, capsys):
    data, scp, utt2spk = clustered_set
    few = write_embeddings(tmp_path / "few.scp", {u: np.ones(4) for u in list(utt2spk)[:3]})
    assert cluster(["--num-clusters", "2", str(few), str(data), str(tmp_path / "o")]) == 1
    assert "no embedding for 29 utterance(s)" in capsys.readouterr().err
    assert cluster([str(scp), str(data), str(tmp_path / "o")]) == 1
    assert "needs --num-clusters" in capsys.readouterr().err
    assert cluster(["--num-clusters", "6", "--min-cluster-size", "100", str(scp), str(data),
                    str(tmp_path / "o")]) == 1
    assert "every utterance" in capsys.readouterr().err


# ---------------------------------------------------------------- a tiny round end to end

TINY = ["--arch", "lresnet34", "--base-channels", "4", "--blocks", "1,1,1,1", "--embed-dim", "24"]


def write_feature_set(out: Path, num_spk: int = 4, per_spk: int = 5) -> Path:
    """Fbank-like features per speaker (spectral tilt and peak), first 8 frames unvoiced."""
    import kaldiio

    rng = np.random.default_rng(1)
    bins = np.arange(80)
    feats, vad, utt2spk = {}, {}, {}
    for s in range(num_spk):
        profile = 0.04 * (s - 1.5) * bins + 3.0 * np.exp(-0.5 * ((bins - 10 - 18 * s) / 4.0) ** 2)
        for u in range(per_spk):
            utt = f"spk{s}-utt{u}"
            n = int(rng.integers(150, 220))
            feats[utt] = (profile + rng.normal(0.0, 1.0, (n, 80))).astype(np.float32)
            vad[utt] = np.r_[np.zeros(8), np.ones(n - 8)].astype(np.float32)
            utt2spk[utt] = f"spk{s}"
    write_data_dir(out, utt2spk, wav=False)
    kaldiio.save_ark(str(out / "feats.ark"), feats, scp=str(out / "feats.scp"), compression_method=2)
    kaldiio.save_ark(str(out / "vad.ark"), vad, scp=str(out / "vad.scp"))
    return out


def test_tiny_pseudo_label_round(tmp_path, root, shell_env):
    data = write_feature_set(tmp_path / "train")
    dino = tmp_path / "dino"
    assert run(train_dino.main, train_dino.build_parser(), TINY + [
        "--out-dim", "64", "--head-hidden", "16", "--head-bottleneck", "8", "--global-frames", "100",
        "--local-frames", "50", "--num-local", "1", "--batch-size", "4", "--max-steps", "2",
        "--warmup-steps", "1", "--exp-dir", str(dino), str(data)]) == 0
    emb = tmp_path / "emb"
    extract_embeddings(dino / "final.pt", data, emb / "xvector.ark", progress=False)
    conf = tmp_path / "pl.conf"
    conf.write_text("--chunk-frames=100\n--batch-size=6\n--max-steps=2\n--warmup-steps=1\n"
                    "--margin-warmup-steps=1\n--lr=0.01\n--log-interval=1\n")
    rnd = tmp_path / "round1"
    r = subprocess.run([str(root / "steps/train_pseudo_label_round.sh"), "--num-clusters", "3",
                        "--min-cluster-size", "1", "--affine-config", str(conf), "--full-config", str(conf),
                        str(dino / "final.pt"), str(emb / "xvector.scp"), str(data), str(rnd)],
                       env=shell_env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout
    figs = json.loads((rnd / "data/cluster.json").read_text())
    assert figs["num_clusters_kept"] == 3 and figs["utterances_kept"] == 20 and 0 < figs["purity"] <= 1
    base, aff, full = (load_checkpoint(p)["model"] for p in
                       (dino / "final.pt", rnd / "affine/final.pt", rnd / "full/final.pt"))
    net = load_embedder(rnd / "final.pt")
    affine = set(net.last_affine())
    params = {n for n, _ in net.named_parameters()}
    assert affine and affine < params
    for name in params:  # affine step: only the last affine layers move; full step: everything
        same = torch.equal(base[name], aff[name])
        assert same == (name not in affine), name
        assert not torch.equal(aff[name], full[name]), name
    head = load_checkpoint(rnd / "full/final.pt")["extra"]
    assert set(head["objective"]["label_map"]) == set(read_table(rnd / "data/utt2spk").values())
    assert "from" in (rnd / "full/log/train.log").read_text()
    x = torch.randn(2, 120, 80)
    assert net(x, torch.tensor([120, 90])).shape == (2, 24)
