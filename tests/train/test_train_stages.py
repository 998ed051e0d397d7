"""End-to-end runs of the training stage programs (train_dino, train_xvector, steps/train_*.sh)
on a tiny synthetic feature set written with kaldiio: outputs load as embedders, resume
continues exactly, same seed gives the same weights, collapse diagnostics are logged, and
bad input gets a clear error.
"""
from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from utter.bin import train_dino, train_xvector
from utter.bin.common import run
from utter.train.checkpoint import load_checkpoint, load_embedder

NUM_SPK, UTTS_PER_SPK, FEAT_DIM = 4, 5, 80

# a network and head small enough for a step in a fraction of a second
TINY_NET = ["--arch", "lresnet34", "--base-channels", "4", "--blocks", "1,1,1,1", "--embed-dim", "24"]
TINY_DINO = TINY_NET + ["--out-dim", "128", "--head-hidden", "32", "--head-bottleneck", "16",
                        "--global-frames", "120", "--local-frames", "60", "--num-local", "2",
                        "--batch-size", "4", "--warmup-steps", "2", "--freeze-last-layer-steps", "2",
                        "--num-threads", "1", "--log-interval", "1"]
TINY_XVEC = TINY_NET + ["--chunk-frames", "100", "--batch-size", "6", "--warmup-steps", "2",
                        "--margin-warmup-steps", "3", "--lr", "0.01", "--num-threads", "1"]


def write_feature_set(out: Path, seed: int = 0) -> Path:
    """A data dir of NUM_SPK speakers whose fbank-like features differ by a spectral tilt and
    peak; every utterance 150-260 frames with its first 8 frames unvoiced in vad.scp."""
    import kaldiio

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True)
    bins = np.arange(FEAT_DIM)
    feats, vad, utt2spk = {}, {}, {}
    for s in range(NUM_SPK):
        profile = 0.04 * (s - 1.5) * bins + 3.0 * np.exp(-0.5 * ((bins - 10 - 18 * s) / 4.0) ** 2)
        for u in range(UTTS_PER_SPK):
            utt = f"spk{s}-utt{u}"
            n = int(rng.integers(150, 260))
            feats[utt] = (profile + rng.normal(0.0, 1.0, (n, FEAT_DIM)) + rng.normal(0, 0.5)).astype(np.float32)
            v = np.ones(n, np.float32)
            v[:8] = 0
            vad[utt] = v
            utt2spk[utt] = f"spk{s}"
    kaldiio.save_ark(str(out / "feats.ark"), feats, scp=str(out / "feats.scp"), compression_method=2)
    kaldiio.save_ark(str(out / "vad.ark"), vad, scp=str(out / "vad.scp"))
    (out / "utt2spk").write_text("".join(f"{u} {utt2spk[u]}\n" for u in sorted(utt2spk)))
    (out / "spk2utt").write_text("".join(
        f"spk{s} " + " ".join(u for u in sorted(utt2spk) if utt2spk[u] == f"spk{s}") + "\n"
        for s in range(NUM_SPK)))
    return out


@pytest.fixture(scope="module")
def feats_dir(tmp_path_factory) -> Path:
    return write_feature_set(tmp_path_factory.mktemp("train_stages") / "train")


def dino(args: list[str]) -> int:
    return run(train_dino.main, train_dino.build_parser(), args)


def xvector(args: list[str]) -> int:
    return run(train_xvector.main, train_xvector.build_parser(), args)


def weights(path: Path) -> dict[str, torch.Tensor]:
    state = load_checkpoint(path)
    out = {f"model.{k}": v for k, v in state["model"].items()}
    for name, sd in state["extra"]["modules"].items():
        for k, v in (sd or {}).items():
            out[f"{name}.{k}"] = v
    return out


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), f"{k} differs between {a} and {b}"


def log_rows(exp: Path) -> list[dict[str, float]]:
    lines = (exp / "train_log.tsv").read_text().splitlines()
    cols = lines[0].split("\t")
    return [dict(zip(cols, map(float, ln.split("\t")))) for ln in lines[1:]]


# ---------------------------------------------------------------- DINO

@pytest.fixture(scope="module")
def dino_runs(feats_dir, tmp_path_factory):
    """Two same-seed 6-step runs (checkpoints after steps 3 and 6), and a third resumed from
    the first run's step-3 checkpoint."""
    root = tmp_path_factory.mktemp("dino")
    common = TINY_DINO + ["--max-steps", "6", "--checkpoint-interval", "3", "--keep-last", "3", "--seed", "7"]
    for name in ("a", "b"):
        assert dino(common + ["--exp-dir", str(root / name), str(feats_dir)]) == 0
    (root / "c").mkdir()
    shutil.copy(root / "a" / "ckpt-00000003.pt", root / "c")
    assert dino(common + ["--exp-dir", str(root / "c"), str(feats_dir)]) == 0
    return root


def test_dino_final_is_teacher_embedder(dino_runs, feats_dir):
    exp = dino_runs / "a"
    net = load_embedder(exp / "final.pt")
    assert net.embed_dim == 24
    x = torch.randn(3, 150, FEAT_DIM)
    with torch.no_grad():
        emb = net(x, torch.tensor([150, 120, 90]))
    assert emb.shape == (3, 24) and torch.isfinite(emb).all()
    state = load_checkpoint(exp / "final.pt")
    assert state["step"] == 6
    assert set(state["extra"]["modules"]) == {"student", "student_head", "teacher", "teacher_head", "dino_loss"}
    assert state["extra"]["export_module"] == "teacher"
    # the exported model is the teacher (an EMA of the student), not the student
    student = state["extra"]["modules"]["student"]
    assert any(not torch.equal(student[k], v) for k, v in state["model"].items() if v.is_floating_point())
    assert state["extra"]["modules"]["dino_loss"]["center"].abs().sum() > 0  # centre was updated
    assert (exp / "loss.png").stat().st_size > 0 and (exp / "config.json").exists()


def test_dino_collapse_stats_match_formula(dino_runs):
    """teacher_collapse_stats of the reloaded objective vs softmax((t - c) / T) and entropies by hand."""
    from utter.train.objectives.dino import DINOObjective

    obj = DINOObjective.from_checkpoint(dino_runs / "a" / "final.pt")
    x, lengths = torch.randn(5, 120, FEAT_DIM), torch.full((5,), 120)
    stats = obj.teacher_collapse_stats(x, lengths)
    with torch.no_grad():
        t = obj.teacher_head(obj.teacher(x, lengths)).double().numpy()
    z = (t - obj.dino_loss.center.double().numpy()) / 0.04
    q = np.exp(z - z.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    per_sample = np.mean([-sum(v * math.log(v) for v in row if v > 0) for row in q])
    mean = q.mean(axis=0)
    assert stats["entropy"] == pytest.approx(per_sample, rel=1e-4, abs=1e-6)
    assert stats["batch_entropy"] == pytest.approx(-sum(v * math.log(v) for v in mean if v > 0), rel=1e-4)


def test_dino_collapse_diagnostics_logged(dino_runs):
    rows = log_rows(dino_runs / "a")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    log_k = math.log(128)
    for r in rows:
        assert 0.0 <= r["entropy"] <= log_k + 1e-6
        assert r["entropy"] <= r["batch_entropy"] + 1e-6 <= log_k + 2e-6  # concavity of entropy
        assert r["entropy_ratio"] == pytest.approx(r["entropy"] / log_k, rel=1e-3)
        assert r["teacher_temp"] == pytest.approx(0.04)
    # teacher momentum follows the cosine schedule 0.996 -> 1 over the 6 steps
    mom = [r["teacher_momentum"] for r in rows]
    assert mom[0] == pytest.approx(0.996) and mom[-1] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(mom, mom[1:]))


def test_dino_same_seed_identical(dino_runs):
    assert_same_weights(dino_runs / "a" / "final.pt", dino_runs / "b" / "final.pt")


def test_dino_resume_continues_exactly(dino_runs):
    """A run resumed from the step-3 checkpoint ends with the uninterrupted run's weights
    (teacher, heads, centre and optimiser state all restored)."""
    assert_same_weights(dino_runs / "a" / "final.pt", dino_runs / "c" / "final.pt")
    assert [r["step"] for r in log_rows(dino_runs / "c")] == [4, 5, 6]


def test_dino_resume_after_raising_max_steps(dino_runs, feats_dir, tmp_path):
    exp = tmp_path / "more"
    shutil.copytree(dino_runs / "a", exp)
    assert dino(TINY_DINO + ["--max-steps", "8", "--seed", "7", "--exp-dir", str(exp), str(feats_dir)]) == 0
    assert load_checkpoint(exp / "final.pt")["step"] == 8
    assert [r["step"] for r in log_rows(exp)] == list(range(1, 9))


def test_dino_resume_rejects_other_architecture(dino_runs, feats_dir, tmp_path, capsys):
    exp = tmp_path / "arch"
    shutil.copytree(dino_runs / "a", exp)
    other = [a if a != "4" else "8" for a in TINY_DINO]  # --base-channels 8
    assert dino(other + ["--max-steps", "8", "--exp-dir", str(exp), str(feats_dir)]) == 1
    err = capsys.readouterr().err
    assert "architecture" in err and "base_channels: 4 vs 8" in err
    # a DINO checkpoint is not a speaker-classification one either
    assert xvector(TINY_XVEC + ["--max-steps", "8", "--exp-dir", str(exp), str(feats_dir)]) == 1
    assert "another kind of training" in capsys.readouterr().err


def test_dino_too_short_training_set(feats_dir, tmp_path, capsys):
    """Every utterance shorter than the 400-frame crop: with --min-frames 0 (every crop full length)
    an empty training set, said clearly; by default (a 50-frame floor) trained on, crops capped."""
    n = NUM_SPK * UTTS_PER_SPK
    args = TINY_DINO + ["--global-frames", "400", "--max-steps", "2", str(feats_dir)]
    assert dino(args + ["--min-frames", "0", "--exp-dir", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err
    assert f"{n} of {n} utterances" in err and "400" in err
    assert dino(args + ["--exp-dir", str(tmp_path / "f")]) == 0
    plan = json.loads((tmp_path / "f" / "train_plan.json").read_text())["data"]
    assert (plan["used"], plan["left_out"], plan["shorter_than_global_crop"]) == (n, 0, n)


def test_dino_missing_feats_entry(feats_dir, tmp_path, capsys):
    bad = tmp_path / "bad"
    shutil.copytree(feats_dir, bad)
    lines = (bad / "feats.scp").read_text().splitlines(keepends=True)
    (bad / "feats.scp").write_text("".join(ln for ln in lines if not ln.startswith("spk2-utt3 ")))
    assert dino(TINY_DINO + ["--max-steps", "2", "--exp-dir", str(tmp_path / "e"), str(bad)]) == 1
    err = capsys.readouterr().err
    assert "spk2-utt3" in err and "feats.scp" in err


def test_arch_config_json_and_bad_options(feats_dir, tmp_path, capsys):
    from utter.bin.train_common import network_config_from_args

    p = train_dino.build_parser()
    args = p.parse_args(["--exp-dir", "x", "--base-channels", "4", "--arch-config",
                         '{"blocks": [1, 1, 1, 1], "embed_dim": 16}', "d"])
    assert network_config_from_args(args) == {"arch": "lresnet34", "base_channels": 4, "blocks": [1, 1, 1, 1],
                                              "embed_dim": 16}
    args = p.parse_args(["--exp-dir", "x", "--arch", "tdnn", "--base-channels", "4", "d"])
    with pytest.raises(ValueError, match="not an option of network arch tdnn"):
        network_config_from_args(args)
    args = p.parse_args(["--exp-dir", "x", "--arch-config", "{oops", "d"])
    with pytest.raises(ValueError, match="not valid JSON"):
        network_config_from_args(args)


def test_help_lists_recipe_defaults(capsys):
    for parser, needles in ((train_dino.build_parser(), ["65536", "0.996", "0.04", "--max-steps", "--arch-config",
                                                        "--from-audio", "--aug-data", "lresnet34: 16"]),
                            (train_xvector.build_parser(), ["--aam-margin", "0.3", "30.0", "--chunk-frames"])):
        text = parser.format_help()
        for n in needles:
            assert n in text, n


# ---------------------------------------------------------------- supervised

def test_xvector_train_resume_and_label_map(feats_dir, tmp_path):
    exp = tmp_path / "xvec"
    assert xvector(TINY_XVEC + ["--max-steps", "3", "--exp-dir", str(exp), str(feats_dir)]) == 0
    assert xvector(TINY_XVEC + ["--max-steps", "5", "--exp-dir", str(exp), str(feats_dir)]) == 0
    state = load_checkpoint(exp / "final.pt")
    assert state["step"] == 5
    assert state["extra"]["objective"]["label_map"] == {f"spk{s}": s for s in range(NUM_SPK)}
    assert state["extra"]["modules"]["head"]["weight"].shape == (NUM_SPK, 24)
    rows = log_rows(exp)
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5]
    # margin warm-up 0 -> 0.3 over 3 steps, then constant
    assert [r["margin"] for r in rows] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.3])
    net = load_embedder(exp / "final.pt")
    with torch.no_grad():
        assert net(torch.randn(2, 100, FEAT_DIM), torch.tensor([100, 80])).shape == (2, 24)


def test_steps_script_trains_then_skips(feats_dir, tmp_path, root, shell_env):
    conf = tmp_path / "dino.conf"
    conf.write_text("# tiny\n" + "".join(f"{k}={v}\n" for k, v in zip(TINY_DINO[::2], TINY_DINO[1::2])))
    exp = tmp_path / "exp"
    cmd = [str(root / "steps/train_dino.sh"), "--train-config", str(conf), "--train-opts", "--max-steps 2",
           str(feats_dir), str(exp)]
    done = subprocess.run(cmd, cwd=tmp_path, env=shell_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + (exp / "log/train.log").read_text()
    assert f"wrote {exp}/final.pt" in done.stdout
    assert (exp / "train_dino.conf").read_text() == conf.read_text()
    assert load_checkpoint(exp / "final.pt")["step"] == 2
    again = subprocess.run(cmd, cwd=tmp_path, env=shell_env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "skipping" in again.stderr
