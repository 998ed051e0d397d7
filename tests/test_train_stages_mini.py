"""DINO and supervised training on the mini VoxCeleb (conf/mini/{dino,xvector}.conf) through
steps/train_{dino,xvector}.sh: no collapse, and teacher embeddings with cosine scoring beat the
trivial baseline on the mini O-trials without labels (EER at most 0.6x); the supervised model
does better still.

Needs the session fixture ``mini_vox_feats`` (dict: 'train' = VoxCeleb2-dev feats+vad dir,
'test' = VoxCeleb1 test dir, 'trials_O' = trials path) from the shared pipeline; skipped
without it. The EER here is brute force over the thresholds (an independent reference).
"""
from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "egs/voxceleb/conf/mini"


@pytest.fixture(scope="module")
def mini(request) -> dict:
    try:
        return request.getfixturevalue("mini_vox_feats")
    except pytest.FixtureLookupError:
        pytest.skip("needs the mini VoxCeleb feature pipeline fixture mini_vox_feats")


def train(script: str, conf: Path, data: Path, exp: Path, env: dict) -> Path:
    cmd = [str(ROOT / "steps" / script), "--num-threads", "2", "--train-config", str(conf), str(data), str(exp)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
    log = exp / "log/train.log"
    assert done.returncode == 0, done.stderr + (log.read_text()[-3000:] if log.exists() else "")
    return exp / "final.pt"


@pytest.fixture(scope="module")
def models(mini, tmp_path_factory) -> dict[str, Path]:
    import os

    env = dict(os.environ)
    env["PATH"] = f"{ROOT / 'utils'}:{Path(os.sys.executable).parent}:{env.get('PATH', '')}"
    env["LC_ALL"] = "C"
    root = tmp_path_factory.mktemp("mini_train")
    return {"dino": train("train_dino.sh", CONF / "dino.conf", Path(mini["train"]), root / "dino", env),
            "xvector": train("train_xvector.sh", CONF / "xvector.conf", Path(mini["train"]), root / "xvector", env)}


def embed(net: torch.nn.Module, data: Path) -> tuple[list[str], np.ndarray]:
    """Whole-utterance embeddings (VAD, sliding CMN as in training), length-normalised."""
    from utter.data.dataset import utterance_loader_factory

    ids, out = [], []
    loader = utterance_loader_factory(str(data), batch_size=32)
    with torch.no_grad():
        for batch in loader():
            e = net(batch["feats"], batch["feats_lengths"])
            ids += list(batch["utts"])
            out.append(torch.nn.functional.normalize(e, dim=1).numpy())
    return ids, np.concatenate(out)


def eer_brute_force(scores: np.ndarray, target: np.ndarray) -> float:
    """EER: the point over all thresholds where miss and false-alarm rates are closest (mean of the two)."""
    best, eer = 2.0, 1.0
    for t in np.unique(scores):
        miss = np.mean(scores[target] < t)
        fa = np.mean(scores[~target] >= t)
        if abs(miss - fa) < best:
            best, eer = abs(miss - fa), (miss + fa) / 2
    return float(eer)


def cosine_eer(ids: list[str], emb: np.ndarray, trials: Path) -> float:
    index = {u: i for i, u in enumerate(ids)}
    scores, target = [], []
    for line in Path(trials).read_text().splitlines():
        a, b, lab = line.split()
        scores.append(float(emb[index[a]] @ emb[index[b]]))
        target.append(lab == "target")
    return eer_brute_force(np.array(scores), np.array(target))


def trivial_eer(data: Path, trials: Path) -> float:
    """The trivial baseline: cosine between utterance mean+std fbank vectors (after VAD, no CMN)."""
    from utter.data.dataset import utterance_loader_factory

    ids, out = [], []
    for batch in utterance_loader_factory(str(data), batch_size=64, cmn=False)():
        for x, n, u in zip(batch["feats"], batch["feats_lengths"], batch["utts"]):
            x = x[:n].numpy()
            v = np.concatenate([x.mean(0), x.std(0)])
            ids.append(u)
            out.append(v / np.linalg.norm(v))
    return cosine_eer(ids, np.stack(out), trials)


def test_dino_no_collapse(models, mini):
    from utter.data.dataset import dino_loader_factory
    from utter.train.objectives import DINOObjective

    obj = DINOObjective.from_checkpoint(models["dino"])
    k = obj.dino_loss.out_dim
    frames = json.loads((models["dino"].parent / "config.json").read_text())["run"]["global_frames"]
    loader = dino_loader_factory(str(mini["train"]), batch_size=64, seed=123, global_frames=frames,
                                 local_frames=frames, min_frames=frames)
    batch = next(iter(loader(0)))
    stats = obj.teacher_collapse_stats(batch["global"], batch["global_lengths"])
    assert stats["entropy"] <= 0.5 * math.log(k), stats       # not collapsed to uniform
    assert stats["batch_entropy"] >= math.log(16), stats      # not collapsed to a few outputs


def test_mini_eers(models, mini):
    from utter.train.checkpoint import load_embedder

    test, trials = Path(mini["test"]), Path(mini["trials_O"])
    trivial = trivial_eer(test, trials)
    dino = cosine_eer(*embed(load_embedder(models["dino"]), test), trials)
    sup = cosine_eer(*embed(load_embedder(models["xvector"]), test), trials)
    print(f"mini O-trials EER: trivial {100 * trivial:.2f}%, DINO {100 * dino:.2f}%, supervised {100 * sup:.2f}%")
    assert dino <= 0.6 * trivial, (dino, trivial)
    assert sup < dino, (sup, dino)
