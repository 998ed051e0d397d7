"""Validation while DINO trains (``--dev-data/--dev-trials/--dev-interval/--keep-best-dev``): the
same seed takes the same steps with it on and off, the dev columns are in every row of
train_log.tsv (NaN between evaluations) and in train.log, the best evaluation's teacher becomes
final.pt on request, the collapse warnings fire once per regime entered, and bad options or trials
fail before training starts."""
from __future__ import annotations

import itertools
import logging
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_stages import FEAT_DIM, TINY_DINO, assert_same_weights, dino, write_feature_set

from utter.backend.cosine import CosineScorer
from utter.backend.io import read_trials
from utter.backend.scoring import score_trials
from utter.metrics.verification import compute_eer, compute_min_dcf
from utter.train.checkpoint import load_checkpoint, load_embedder
from utter.train.objectives.dino import CollapseWatch
from utter.train.steplog import window_summary
from utter.train.validation import DevValidation

STEPS, INTERVAL = 5, 2
COMMON = TINY_DINO + ["--max-steps", str(STEPS), "--checkpoint-interval", "3", "--seed", "3"]


def write_trials(data: Path, path: Path, skip: int = 1) -> Path:
    """Every ``skip``-th pair of the data dir's utterances, labelled by speaker (utt2spk)."""
    utt2spk = dict(line.split() for line in (data / "utt2spk").read_text().splitlines())
    pairs = list(itertools.combinations(sorted(utt2spk), 2))[::skip]
    path.write_text("".join(f"{a} {b} {'target' if utt2spk[a] == utt2spk[b] else 'nontarget'}\n"
                            for a, b in pairs))
    return path


def read_tsv(exp: Path) -> tuple[list[str], list[dict[str, float]]]:
    lines = (exp / "train_log.tsv").read_text().splitlines()
    cols = lines[0].split("\t")
    return cols, [dict(zip(cols, map(float, ln.split("\t")))) for ln in lines[1:]]


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dino_dev")
    train = write_feature_set(root / "train", seed=0)
    dev = write_feature_set(root / "dev", seed=1)  # the same speaker profiles, other noise
    return {"root": root, "train": train, "dev": dev, "trials": write_trials(dev, root / "trials")}


@pytest.fixture(scope="module")
def runs(sets) -> dict[str, Path]:
    """The same seed without validation and with it (every 2 steps, --keep-best-dev true)."""
    root = sets["root"]
    assert dino(COMMON + ["--exp-dir", str(root / "off"), str(sets["train"])]) == 0
    dev = ["--dev-data", str(sets["dev"]), "--dev-trials", str(sets["trials"]), "--dev-interval", str(INTERVAL),
           "--keep-best-dev", "true"]
    assert dino(COMMON + dev + ["--exp-dir", str(root / "on"), str(sets["train"])]) == 0
    return {"off": root / "off", "on": root / "on"}


def test_validation_does_not_change_training(runs):
    cols_off, off = read_tsv(runs["off"])
    cols_on, on = read_tsv(runs["on"])
    assert "dev_eer" not in cols_off
    assert [c for c in cols_on if not c.startswith("dev_")] == cols_off
    for a, b in zip(off, on):
        assert {k: a[k] for k in cols_off} == {k: b[k] for k in cols_off}  # loss, entropies, grad norm...
    # the last checkpoints (what final.pt averages without --keep-best-dev) hold the same weights
    assert_same_weights(runs["off"] / "ckpt-00000005.pt", runs["on"] / "ckpt-00000005.pt")


def test_dev_columns_in_every_row(runs, sets):
    cols, rows = read_tsv(runs["on"])
    assert cols[-2:] == ["dev_eer", "dev_min_dcf"]
    assert len(rows) == STEPS
    evaluated = [int(r["step"]) for r in rows if math.isfinite(r["dev_eer"])]
    assert evaluated == [2, 4, 5]  # every 2 steps and after the last
    for r in rows:
        assert math.isfinite(r["dev_eer"]) == math.isfinite(r["dev_min_dcf"])
        if math.isfinite(r["dev_eer"]):
            assert 0.0 <= r["dev_eer"] <= 100.0 and 0.0 <= r["dev_min_dcf"] <= 1.0 + 1e-9
    # step 5's figures from the final teacher, extracted and scored independently of the trainer
    net = load_embedder(runs["on"] / "ckpt-00000005.pt")
    dv = DevValidation(sets["dev"], read_trials(sets["trials"]), lambda *a: None, interval=1)
    ids, x = dv.embed(net)
    trials = read_trials(sets["trials"], require_labels=True)
    scores = score_trials(CosineScorer().fit(x), trials, ids, x)
    assert rows[-1]["dev_eer"] == pytest.approx(100 * compute_eer(scores, trials.labels), abs=1e-4)
    assert rows[-1]["dev_min_dcf"] == pytest.approx(compute_min_dcf(scores, trials.labels, 0.01), abs=1e-5)
    assert (runs["on"] / "loss.png").stat().st_size > 0


def test_dev_line_in_log(sets, tmp_path, capsys):
    assert dino(COMMON + ["--max-steps", "2", "--dev-data", str(sets["dev"]), "--dev-trials",
                          str(sets["trials"]), "--dev-interval", "1", "--exp-dir", str(tmp_path / "e"),
                          str(sets["train"])]) == 0
    err = capsys.readouterr().err.splitlines()
    lines = [ln.split(" INFO: ", 1)[1] for ln in err if "dev EER" in ln]
    n = len(read_trials(sets["trials"]))
    assert len(lines) == 2
    assert re.fullmatch(rf"step 1: dev EER \d+\.\d\d% minDCF\(0\.01\) \d\.\d\d\d on {n} trials "
                        r"\(teacher, cosine\), best \d+\.\d\d% at step 1 \((\d+\.\d) s, (\d+) utterances; "
                        r"(\d+\.\d) s in all evaluations\)", lines[0])
    second = re.search(r"at step ([12]) \((\d+\.\d) s, \d+ utterances; (\d+\.\d) s in all evaluations\)$", lines[1])
    assert lines[1].startswith("step 2: dev EER ") and second
    # the cost: each evaluation's seconds, and their running sum (what validation added to the run)
    first = re.search(r"\((\d+\.\d) s, (\d+) utterances; (\d+\.\d) s in all", lines[0])
    assert first.group(1) == first.group(3) and int(first.group(2)) == len(set(read_trials(sets["trials"]).enroll)
                                                                             | set(read_trials(sets["trials"]).test))
    total, before, each = float(second.group(3)), float(first.group(3)), float(second.group(2))
    assert abs(total - before - each) <= 0.151  # three roundings to 0.1
    # the periodic line (every step here) shows the dev figures; the progress line the last EER
    periodic = [ln for ln in err if "steps/s" in ln]
    assert len(periodic) == 2 and all("dev_eer " in p and "dev_min_dcf " in p for p in periodic)
    assert any("progress: train 2/2" in ln and "dev_eer " in ln for ln in err)
    # without --keep-best-dev, final.pt is the average of the last checkpoints, as without validation
    assert "best_dev" not in load_checkpoint(tmp_path / "e" / "final.pt")
    assert not (tmp_path / "e" / "best_dev.pt").exists()


def test_keep_best_dev_final_is_best_teacher(runs, caplog):
    _, rows = read_tsv(runs["on"])
    eers = np.array([r["dev_eer"] for r in rows])
    best_step = int(rows[int(np.nanargmin(eers))]["step"])  # the first of equal EERs
    final = load_checkpoint(runs["on"] / "final.pt")
    assert final["best_dev"]["step"] == best_step == final["step"]
    assert final["best_dev"]["eer"] == pytest.approx(np.nanmin(eers), abs=1e-4)
    assert final["validation"]["best_step"] == best_step
    best = load_checkpoint(runs["on"] / f"ckpt-{best_step:08d}.pt") if best_step in (3, 5) else None
    if best is not None:  # a checkpointed step: final.pt holds its teacher exactly
        for k, v in best["model"].items():
            assert torch.equal(final["model"][k], v)
    net = load_embedder(runs["on"] / "final.pt")
    assert net(torch.randn(2, 100, FEAT_DIM), torch.tensor([100, 80])).shape == (2, 24)


def test_resumed_run_keeps_the_best(runs, sets, tmp_path):
    """Resumed from step 3 (the best dev evaluation so far in the checkpoint, best_dev.pt as the first
    run left it): the same rows and the same final.pt as the uninterrupted run."""
    import shutil

    exp = tmp_path / "r"
    exp.mkdir()
    for name in ("ckpt-00000003.pt", "best_dev.pt"):
        shutil.copy(runs["on"] / name, exp)
    dev = ["--dev-data", str(sets["dev"]), "--dev-trials", str(sets["trials"]), "--dev-interval", str(INTERVAL),
           "--keep-best-dev", "true"]
    (exp / "train_log.tsv").write_text("\n".join((runs["on"] / "train_log.tsv").read_text().splitlines()[:4]) + "\n")
    assert dino(COMMON + dev + ["--exp-dir", str(exp), str(sets["train"])]) == 0
    assert (exp / "train_log.tsv").read_text() == (runs["on"] / "train_log.tsv").read_text()
    a, b = load_checkpoint(exp / "final.pt"), load_checkpoint(runs["on"] / "final.pt")
    assert a["best_dev"] == b["best_dev"]
    for k, t in b["model"].items():
        assert torch.equal(a["model"][k], t)


def test_window_summary_skips_nan():
    text = window_summary({"loss_x": [1.0, 3.0], "dev_eer": [math.nan, 10.0, math.nan],
                           "dev_min_dcf": [math.nan, math.nan]})
    assert text == "loss_x 2 dev_eer 10"


def test_collapse_watch_thresholds_and_patience():
    log_k = math.log(64)
    watch = CollapseWatch(64, patience=3)
    healthy = (0.5 * log_k, 3.0)  # (mean per-sample entropy, entropy of the batch mean)
    assert watch.update(1, *healthy) == []
    assert [watch.update(s, 0.1, 0.5) for s in (2, 3, 4, 5)] == [[], [], ["one-prototype"], []]
    assert watch.update(6, 0.1, 1.0) == []  # between log 2 and log 4: still in the regime
    watch.update(7, *healthy)  # left
    assert [watch.update(s, 0.995 * log_k, 0.5) for s in (8, 9, 10)] == [[], [], ["one-prototype", "uniform"]]
    watch.update(11, 0.98 * log_k, 3.0)  # above 0.97 log K: still uniform
    assert watch.update(12, 0.995 * log_k, 3.0) == []
    assert watch.warnings == ["one-prototype", "one-prototype", "uniform"]
    # a wobble past the threshold shorter than the patience does not count
    watch2 = CollapseWatch(64, patience=3)
    assert [watch2.update(s, 0.1, v) for s, v in enumerate((0.5, 0.5, 3.0, 0.5, 0.5, 3.0), 1)] == [[]] * 6
    with pytest.raises(ValueError, match="patience"):
        CollapseWatch(64, patience=0)


def test_collapse_warning_on_constructed_collapsed_teacher(caplog):
    """Through DINOObjective.loss: a centre that hands every output to prototype 0, then a very high
    teacher temperature (uniform outputs); each regime warns once."""
    from utter.nnet import build_network
    from utter.train.objectives.dino import DINOObjective

    torch.manual_seed(0)
    net = build_network({"arch": "tdnn", "channels": [8, 8, 8, 8, 16], "embed_dim": 8, "feat_dim": 20})
    obj = DINOObjective(net, num_global=2, num_local=0, out_dim=32, hidden=16, bottleneck=8)
    obj.begin_training(10, 10)
    obj.collapse_watch = CollapseWatch(32, patience=2)
    batch = {"global": torch.randn(8, 30, 20), "global_lengths": torch.full((8,), 30)}
    caplog.set_level(logging.WARNING, logger="utter.train.objectives.dino")

    def step(i: int) -> dict[str, float]:
        obj.before_step(i)
        return obj.loss(batch)[1]

    for i in (0, 1, 2):
        obj.dino_loss.center.zero_()
        obj.dino_loss.center[0, 0] = -1000.0  # (each loss moves the centre: set it again)
        m = step(i)
        assert m["batch_entropy"] < math.log(2)
    assert obj.collapse_watch.warnings == ["one-prototype"]  # once, at the second of the 3 steps
    obj.dino_loss.center.zero_()
    obj.dino_loss.teacher_temp = 1e6
    for i in (3, 4, 5):
        m = step(i)
        obj.dino_loss.center.zero_()
    assert m["entropy_ratio"] > 0.99
    assert obj.collapse_watch.warnings == ["one-prototype", "uniform"]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(messages) == 2
    assert messages[0].startswith("step 2: DINO collapse to one prototype? the batch-mean teacher distribution ")
    assert messages[1].startswith("step 5: DINO collapse to uniform outputs? the teacher's per-sample entropy ")


def test_trials_naming_missing_utterance_fail_before_training(sets, tmp_path, capsys):
    trials = tmp_path / "trials"
    trials.write_text("spk0-utt0 spk1-utt0 nontarget\nspk0-utt1 ghost-utt target\nspk0-utt2 ghost-2 target\n")
    exp = tmp_path / "exp"
    assert dino(COMMON + ["--dev-data", str(sets["dev"]), "--dev-trials", str(trials), "--dev-interval", "2",
                          "--exp-dir", str(exp), str(sets["train"])]) != 0
    err = capsys.readouterr().err
    assert f"{trials}:2: utterance 'ghost-utt' is not in {sets['dev']}" in err
    assert "2 of the 6 utterances the trials name are missing" in err
    assert not exp.exists() or not any(exp.iterdir())  # nothing trained


@pytest.mark.parametrize("extra,message", [
    (["--dev-interval", "5"], "--dev-interval 5 needs --dev-trials FILE"),
    (["--dev-interval", "5", "--dev-trials", "TRIALS"], "--dev-trials needs --dev-data DIR"),
    (["--keep-best-dev", "true"], "--keep-best-dev true needs a validation"),
    (["--dev-interval", "-1"], "--dev-interval must be 0 (off) or a number of steps"),
])
def test_bad_dev_options(sets, tmp_path, capsys, extra, message):
    extra = [str(sets["trials"]) if a == "TRIALS" else a for a in extra]
    exp = tmp_path / "exp"
    assert dino(COMMON + extra + ["--exp-dir", str(exp), str(sets["train"])]) != 0
    assert message in capsys.readouterr().err
    assert not exp.exists()


def test_unlabelled_trials_refused(sets, tmp_path, capsys):
    trials = tmp_path / "trials"
    trials.write_text("spk0-utt0 spk1-utt0\n")
    assert dino(COMMON + ["--dev-data", str(sets["dev"]), "--dev-trials", str(trials), "--dev-interval", "2",
                          "--exp-dir", str(tmp_path / "exp"), str(sets["train"])]) != 0
    assert f"{trials}: trials have no target/nontarget labels" in capsys.readouterr().err


@pytest.mark.parametrize("evaluated", [True, False])
def test_loss_curve_draws_dev_eer_axis(tmp_path, monkeypatch, evaluated):
    """The dev EER gets its own axis when the column has a finite value, none when all NaN."""
    from matplotlib.axes import Axes

    from utter.metrics.plots import plot_loss_curve

    labels: list[str] = []
    real = Axes.set_ylabel

    def spy(self, label, *args, **kwargs):
        labels.append(label)
        return real(self, label, *args, **kwargs)

    monkeypatch.setattr(Axes, "set_ylabel", spy)
    rows = ["step\tepoch\tloss\tlr\tdev_eer\tdev_min_dcf"] + [
        f"{i}\t1\t{5 - i / 100:.3f}\t0.001\t" + (f"{40 - i / 5:g}\t0.9" if evaluated and i % 10 == 0 else "nan\tnan")
        for i in range(1, 61)]
    (tmp_path / "train_log.tsv").write_text("\n".join(rows) + "\n")
    png = plot_loss_curve(tmp_path / "train_log.tsv", tmp_path / "loss.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert ("dev EER (%)" in labels) == evaluated


def test_dev_data_from_audio(tmp_path):
    """--from-audio: the dev utterances are read from wav.scp as training reads them (fbank, CMN, VAD),
    checked against those steps by hand through the bin's option handling."""
    import soundfile as sf

    from utter.bin import train_dino
    from utter.data.datadir import write_table
    from utter.data.features import compute_fbank, compute_vad, sliding_cmn
    from utter.data.options import FbankOptions, VadOptions
    from utter.nnet import build_network

    rate, rng = 16000, np.random.default_rng(0)
    dev = tmp_path / "dev"
    dev.mkdir()
    wav, utt2spk = {}, {}
    for i in range(4):
        n = rate * 2 + 1600 * i
        x = rng.normal(0, 3000, n) * (np.sin(np.arange(n) / 2000.0) > -0.3)
        utt = f"spk{i % 2}-u{i}"
        wav[utt] = str(tmp_path / f"{utt}.wav")
        sf.write(wav[utt], np.rint(x).astype(np.int16), rate, subtype="PCM_16")
        utt2spk[utt] = f"spk{i % 2}"
    write_table(dev / "wav.scp", wav)
    write_table(dev / "utt2spk", utt2spk)
    write_table(dev / "utt2dur", {u: f"{2 + 0.1 * i:.1f}" for i, u in enumerate(sorted(wav))})
    trials = tmp_path / "trials"
    trials.write_text("spk0-u0 spk0-u2 target\nspk0-u0 spk1-u1 nontarget\nspk1-u1 spk1-u3 target\n")
    args = train_dino.build_parser().parse_args(
        ["--from-audio", "true", "--dev-data", str(dev), "--dev-trials", str(trials), "--dev-interval", "3",
         "--exp-dir", str(tmp_path / "exp"), str(dev)])
    v = train_dino.dev_validation(args)
    assert v.audio is not None and v.utts == sorted(wav)
    torch.manual_seed(0)
    net = build_network({"arch": "tdnn", "channels": [8, 8, 8, 8, 16], "embed_dim": 8, "feat_dim": 80}).eval()
    ids, x = v.embed(net)
    for utt, got in zip(ids, x):
        samples, _ = sf.read(wav[utt], dtype="int16")
        feats, log_energy = compute_fbank(samples.astype(np.float32), rate, FbankOptions(), utt)
        keep = np.asarray(compute_vad(log_energy, VadOptions())) > 0.5
        feats = np.asarray(sliding_cmn(feats, window=300, center=True), dtype=np.float32)[keep]
        with torch.no_grad():
            want = net(torch.from_numpy(feats)[None], torch.tensor([len(feats)]))[0].numpy()
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    result = v.evaluate(net, 3)
    assert result.trials == 3 and 0.0 <= result.eer <= 100.0
