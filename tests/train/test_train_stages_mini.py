"""DINO and supervised training on the mini VoxCeleb.

Quality (issue 6), on the models a user gets from ``egs/voxceleb/run.sh --mini true`` with the
shipped conf/mini settings (session fixture ``voxceleb_mini_trained``, tests/recipes.py, stages
0-5: ``exp/dino/final.pt`` and ``exp/xvector/final.pt``; marked ``shipped``: they train for about
10 CPU minutes, so they run with ``tools/run_tests.sh --shipped`` only):

- no collapse: the teacher's mean per-sample entropy is at most 0.5 log K (not uniform) and the
  entropy of its batch-mean distribution at least log 16 (not a few outputs);
- without labels, the DINO teacher's embeddings with cosine scoring reach an EER on the mini
  O-trials of at most :data:`DINO_TO_TRIVIAL` times the trivial baseline's (cosine between
  utterance mean+std fbank);
- the supervised model does better still.

Plumbing, on the reduced recipe run (session fixture ``voxceleb_mini_run``: tiny networks, a few
steps, all stages):

- the recipe's cosine EER in its result JSON agrees with a brute-force EER of its own scores;
- a same-seed rerun of the run's DINO training (its copied config, cut to a few steps) gives
  bit-identical weights on CPU.

The EER here is brute force over the thresholds (an independent reference for ``utter.metrics``).
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
RERUN_STEPS = 3
#: DINO's EER as a fraction of the trivial baseline's that the shipped mini settings must reach
#: (issue 6's target). They measure 0.46-0.49 over three seeds (conf/mini/dino.conf and augment.conf);
#: without the coloured-noise copies 0.62-0.73; an untrained or collapsed model scores about 1.0.
DINO_TO_TRIVIAL = 0.6


def recipe_paths(rdir: Path) -> dict[str, Path]:
    """The files of a VoxCeleb recipe run that these checks read (models, data dirs, O-trials)."""
    r = Path(rdir)
    out = {"dir": r, "dino": r / "exp/dino/final.pt", "xvector": r / "exp/xvector/final.pt",
           "train": r / "data/voxceleb2_dev", "test": r / "data/voxceleb1", "trials_O": r / "data/voxceleb1_trials/O"}
    for key in ("dino", "xvector", "trials_O"):
        assert out[key].is_file(), f"the recipe run has no {out[key]}"
    return out


@pytest.fixture(scope="module")
def run(voxceleb_mini_run) -> dict[str, Path]:
    """The reduced recipe run (plumbing checks)."""
    return recipe_paths(voxceleb_mini_run)


@pytest.fixture(scope="module")
def trained(voxceleb_mini_trained) -> dict[str, Path]:
    """The shipped-settings mini run, stages 0-5 (quality checks)."""
    return recipe_paths(voxceleb_mini_trained)


def embed(net: torch.nn.Module, data: Path) -> tuple[list[str], np.ndarray]:
    """Whole-utterance embeddings (VAD, sliding CMN as in training), length-normalised."""
    from utter.data.dataset import utterance_loader_factory

    ids, out = [], []
    net.eval()
    with torch.no_grad():
        for batch in utterance_loader_factory(str(data), batch_size=32)():
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


@pytest.fixture(scope="module")
def eers(trained) -> dict[str, float]:
    from utter.train.checkpoint import load_embedder

    test, trials = trained["test"], trained["trials_O"]
    out = {"trivial": trivial_eer(test, trials)}
    for name in ("dino", "xvector"):
        out[name] = cosine_eer(*embed(load_embedder(trained[name]), test), trials)
    print("mini O-trials EER: " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in out.items()))
    return out


@pytest.mark.shipped
def test_dino_no_collapse(trained):
    from utter.data.dataset import multi_crop_loader_factory
    from utter.train.objectives.dino import DINOObjective

    obj = DINOObjective.from_checkpoint(trained["dino"])
    k = obj.dino_loss.out_dim
    frames = json.loads((trained["dino"].parent / "config.json").read_text())["run"]["global_frames"]
    loader = multi_crop_loader_factory(str(trained["train"]), batch_size=64, seed=123, global_frames=frames,
                                 local_frames=frames, min_frames=frames)
    batch = next(iter(loader(0)))
    stats = obj.teacher_collapse_stats(batch["global"], batch["global_lengths"])
    print(f"teacher entropy {stats['entropy'] / math.log(k):.3f} log K, batch-mean entropy "
          f"{stats['batch_entropy']:.2f} nats (K={k})")
    assert stats["entropy"] <= 0.5 * math.log(k), stats       # not collapsed to uniform
    assert stats["batch_entropy"] >= math.log(16), stats      # not collapsed to a few outputs


@pytest.mark.shipped
def test_dino_beats_trivial_without_labels(eers):
    assert eers["dino"] <= DINO_TO_TRIVIAL * eers["trivial"], eers


@pytest.mark.shipped
def test_supervised_beats_dino(eers):
    assert eers["xvector"] < eers["dino"], eers


def test_eer_matches_recipe_json(run):
    """The recipe's cosine EER (utter.metrics, in its result JSON: the ROCCH-EER, on the ROC's
    convex hull) is within a point of the brute-force EER of the recipe's own cosine scores."""
    for name in ("dino", "xvector"):
        scores = run["dir"] / f"exp/{name}/scores/O/scores_cosine"
        path = scores.parent / "scores_cosine.json"
        if not path.is_file():
            pytest.skip(f"the recipe run wrote no {path}")
        figures = json.loads(path.read_text())
        assert "EER" in figures, f"{path}: no EER in {sorted(figures)}"
        score = {tuple(f[:2]): float(f[2]) for f in (ln.split() for ln in scores.read_text().splitlines())}
        trials = [ln.split() for ln in run["trials_O"].read_text().splitlines()]
        eer = eer_brute_force(np.array([score[(a, b)] for a, b, _ in trials]),
                              np.array([lab == "target" for _, _, lab in trials]))
        assert abs(eer - figures["EER"] / 100) <= 0.01, (name, figures["EER"], eer)


def test_same_seed_rerun_identical(run, tmp_path):
    """The run's DINO training (its copied config and data), cut to a few steps, twice: same weights."""
    conf = run["dino"].parent / "train_dino.conf"
    rdir = run["dir"]
    weights = []
    for rerun in ("a", "b"):
        cmd = [sys.executable, "-m", "utter.bin.train_dino", "--config", str(conf), "--seed", "0",
               "--num-threads", "1", "--num-workers", "0", "--max-steps", str(RERUN_STEPS),
               "--checkpoint-interval", str(RERUN_STEPS), "--aug-data", "data/voxceleb2_dev_aug",
               "--exp-dir", str(tmp_path / rerun), "data/voxceleb2_dev"]
        done = subprocess.run(cmd, cwd=rdir, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        state = torch.load(tmp_path / rerun / "final.pt", map_location="cpu", weights_only=True)
        weights.append(state)
    a, b = weights
    tables = {"model": (a["model"], b["model"])}   # the export module (the teacher network)
    for name, sd in a["extra"]["modules"].items():
        if sd is not None:
            tables[name] = (sd, b["extra"]["modules"][name])
    for table, (ta, tb) in tables.items():
        assert ta.keys() == tb.keys(), table
        for name in ta:
            assert torch.equal(ta[name], tb[name]), f"{table}.{name} differs between same-seed reruns"
    student = a["extra"]["modules"]["student"]
    assert any(not torch.equal(student[n], a["model"][n]) for n in student), \
        "teacher equals student: the rerun trained nothing"
