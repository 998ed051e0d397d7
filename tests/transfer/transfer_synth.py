"""Synthetic data dirs for the transfer tests: labelled embeddings, features, folds, transcripts."""
from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np

from utter.data.datadir import write_table


def write_folds(data: Path, folds: dict[str, dict[str, list[str]]]) -> Path:
    for k, parts in folds.items():
        d = data / "folds" / k
        d.mkdir(parents=True, exist_ok=True)
        for name, utts in parts.items():
            (d / name).write_text("".join(f"{u}\n" for u in sorted(utts)))
    return data / "folds"


def session_data(root: Path, *, n_sessions: int = 3, per_class: int = 12, classes=("ang", "hap", "neu", "sad"),
                 seed: int = 0) -> tuple[Path, dict[str, str]]:
    """Data dir with utt2spk, utt2emo and leave-one-session-out folds (dev = 1/4 of the training utts)."""
    rng = np.random.default_rng(seed)
    utt2emo, utt2spk, sess = {}, {}, {}
    for s in range(1, n_sessions + 1):
        for c in classes:
            for i in range(per_class):
                spk = f"Ses{s:02d}{'FM'[i % 2]}"
                utt = f"{spk}_{c}_{i:03d}"
                utt2emo[utt], utt2spk[utt], sess[utt] = c, spk, s
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    write_table(data / "utt2spk", utt2spk)
    write_table(data / "utt2emo", utt2emo)
    folds = {}
    for s in range(1, n_sessions + 1):
        rest = sorted(u for u in utt2emo if sess[u] != s)
        dev = set(rng.choice(rest, len(rest) // 4, replace=False).tolist())
        folds[str(s)] = {"train": [u for u in rest if u not in dev], "dev": sorted(dev),
                         "test": sorted(u for u in utt2emo if sess[u] == s)}
    write_folds(data, folds)
    return data, utt2emo


def write_embeddings(path: Path, vectors: dict[str, np.ndarray]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ark, scp = str(path.with_suffix(".ark")), str(path.with_suffix(".scp"))
    with kaldiio.WriteHelper(f"ark,scp:{ark},{scp}") as w:
        for u in sorted(vectors):
            w(u, np.asarray(vectors[u], dtype=np.float32))
    return Path(scp)


def class_embeddings(utt2label: dict[str, str], dim: int = 16, separation: float = 2.0,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """Gaussian classes: mean ``separation`` * a random unit vector per class, unit noise."""
    rng = np.random.default_rng(seed)
    labels = sorted(set(utt2label.values()))
    means = {c: separation * v / np.linalg.norm(v) for c, v in zip(labels, rng.normal(size=(len(labels), dim)))}
    return {u: means[c] + rng.normal(size=dim) for u, c in sorted(utt2label.items())}


def feature_data(root: Path, *, n_sessions: int = 2, per_class: int = 6, classes=("ang", "neu", "sad"),
                 dim: int = 8, frames: tuple[int, int] = (60, 140), shift: float = 1.5, seed: int = 0,
                 aug: bool = False) -> tuple[Path, dict[str, str]]:
    """Features (class-dependent per-dimension scales: they survive CMN), vad.scp, utt2num_frames,
    labels and session folds;
    with ``aug`` also ``root/data_aug`` holding one noisy copy per utterance with utt2orig."""
    data, utt2emo = session_data(root, n_sessions=n_sessions, per_class=per_class, classes=classes, seed=seed)
    rng = np.random.default_rng(seed + 1)
    scales = {c: np.exp(0.5 * shift * rng.normal(size=dim)) for c in classes}
    feats, vads = {}, {}
    for u, c in sorted(utt2emo.items()):
        n = int(rng.integers(*frames))
        feats[u] = (scales[c] * rng.normal(size=(n, dim))).astype(np.float32)
        vads[u] = (rng.random(n) > 0.1).astype(np.float32)
    _write_feats(data, feats, vads)
    if aug:
        adir = root / "data_aug"
        adir.mkdir(parents=True, exist_ok=True)
        copies = {f"{u}-noise": f + rng.normal(scale=0.5, size=f.shape).astype(np.float32) for u, f in feats.items()}
        _write_feats(adir, copies, {f"{u}-noise": v for u, v in vads.items()})
        write_table(adir / "utt2spk", {f"{u}-noise": s for u, s in _table(data / "utt2spk").items()})
        write_table(adir / "utt2orig", {f"{u}-noise": u for u in feats})
    return data, utt2emo


def _table(path: Path) -> dict[str, str]:
    from utter.data.datadir import read_table

    return dict(read_table(path))


def _write_feats(d: Path, feats: dict, vads: dict) -> None:
    with kaldiio.WriteHelper(f"ark,scp:{d / 'feats.ark'},{d / 'feats.scp'}") as w:
        for u in sorted(feats):
            w(u, feats[u])
    with kaldiio.WriteHelper(f"ark,scp:{d / 'vad.ark'},{d / 'vad.scp'}") as w:
        for u in sorted(vads):
            w(u, vads[u])
    write_table(d / "utt2num_frames", {u: len(f) for u, f in feats.items()})


def tiny_pretrained(path: Path, dim: int = 8, seed: int = 0) -> Path:
    """A randomly initialised tiny TDNN saved as a trainer checkpoint (what load_embedder reads)."""
    import torch

    from utter.nnet import build_network
    from utter.train.checkpoint import FORMAT_VERSION, save_checkpoint

    torch.manual_seed(seed)
    net = build_network({"arch": "tdnn", "feat_dim": dim, "channels": [16, 16, 16, 16, 32],
                         "embed_dim": 16})
    save_checkpoint(path, {"format_version": FORMAT_VERSION, "arch_config": net.config, "model": net.state_dict(),
                           "extra": {}, "optimizer": None, "scheduler": None, "step": 0, "epoch": 0, "rng": []})
    return path
