"""Plots a reader can use: DET axes sized to the data with ticks that do not run together and the
legend off the curves; titles that name the system and the data (DET, confusion, loss curve)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from utter.metrics import verification
from utter.metrics.classification import plot_confusion
from utter.metrics.plots import det_ticks, loss_curve_title, plot_loss_curve, probit
from utter.transfer.runs import confusion_title

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("lo, hi", [(0.0005, 0.5), (0.0001, 0.95), (0.002, 0.4)])
def test_det_ticks_keep_apart(lo, hi):
    ticks = det_ticks(lo, hi)
    gap = (probit(hi) - probit(lo)) / 12
    pos = probit(np.array(ticks) / 100)
    assert np.all(np.diff(pos) >= gap - 1e-12), ticks
    assert all(lo * 100 <= t <= hi * 100 for t in ticks)
    assert 1 in ticks and 10 in ticks
    assert not {0.05, 0.1} <= set(ticks)   # the labels that ran together ("0.050.1")


def _trials(eer_like: float, n: int, seed: int):
    """Scores whose target and non-target distributions overlap so that the EER is near eer_like."""
    rng = np.random.default_rng(seed)
    d = -2 * probit(eer_like)
    labels = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    return np.r_[rng.normal(d, 1, n), rng.normal(0, 1, n)], labels


def test_det_plot_sizes_its_window_and_names_the_trials(tmp_path, monkeypatch):
    seen = {}
    real = verification.det_axes

    def spy(ax, title, lo, hi, legend="upper right"):
        seen.update(title=title, lo=lo, hi=hi, legend=legend)
        real(ax, title, lo, hi, legend)

    monkeypatch.setattr(verification, "det_axes", spy)
    good, bad = _trials(0.05, 2000, 0), _trials(0.40, 2000, 1)
    verification.det_plot({"good": good, "bad": bad}, tmp_path / "det.png", title="DET, list O")
    assert (tmp_path / "det.png").read_bytes()[:8] == PNG
    assert seen["hi"] >= 0.8 and seen["legend"] == "below"   # the 40% system is inside, the legend below
    assert 1 / 2000 <= seen["lo"] <= 0.01
    assert seen["title"].startswith("DET, list O\n2,000 target and 2,000 non-target trials")
    verification.det_plot([("only", *good)], tmp_path / "one.png")
    assert seen["hi"] == 0.4 and seen["title"].startswith("DET of only\n")


def test_confusion_title_names_system_and_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    info = {"system": "logreg", "protocol": "cross-validation", "data": "data/iemocap", "label_table": "utt2emo"}
    assert confusion_title("exp/dino/classifier/logreg", info, 5) == \
        "dino / classifier / logreg on iemocap (utt2emo)\nconfusion summed over 5 runs (cross-validation)"
    (tmp_path / "iemocap").mkdir()
    monkeypatch.chdir(tmp_path / "iemocap")   # no data dir in the info: the recipe's directory
    assert confusion_title("exp/xvector/finetune/full", {"protocol": "train-test"}, 1) == \
        "xvector / finetune / full on iemocap\nconfusion summed over 1 run (train-test)"
    assert confusion_title(tmp_path / "out", {"system": "s"}, 2).startswith("s\n")
    plot_confusion([[5, 1], [2, 4]], ["a", "b"], tmp_path / "c.png", title="t")
    assert (tmp_path / "c.png").read_bytes()[:8] == PNG


def test_loss_curve_names_the_run_and_draws_the_margin(tmp_path):
    exp = tmp_path / "exp/xvector"
    exp.mkdir(parents=True)
    (exp / "config.json").write_text(json.dumps({
        "objective": "SpeakerClassificationObjective", "arch": {"arch": "tdnn"},
        "run": {"exp_dir": "exp/xvector", "data_dir": "data/train", "aug_data": ["data/train_aug"]}}))
    rows = ["step\tepoch\tloss\tlr\tacc\tmargin"] + [
        f"{i}\t1\t{5 - i / 100:.3f}\t{0.001 * min(i, 10) / 10:g}\t0.1\t{0.2 * min(i, 50) / 50:g}"
        for i in range(1, 121)]
    (exp / "train_log.tsv").write_text("\n".join(rows) + "\n")
    assert loss_curve_title(exp) == \
        "exp/xvector: SpeakerClassificationObjective, tdnn, on data/train (+ data/train_aug)"
    assert loss_curve_title(tmp_path / "nowhere") == str(tmp_path / "nowhere")
    png = plot_loss_curve(exp / "train_log.tsv", exp / "loss.png")
    assert png.read_bytes()[:8] == PNG
