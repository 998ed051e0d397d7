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
