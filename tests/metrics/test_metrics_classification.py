"""Classification/regression metrics against hand counts and scipy; results JSON round trip."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import pearsonr

from utter.metrics.classification import (
    classification_report,
    confusion_matrix,
    format_confusion,
    plot_confusion,
    regression_report,
)
from utter.metrics.results import collect_results, format_table, read_results_json, write_results_json


def test_report_against_hand_counts():
    y_true = ["ang", "ang", "ang", "hap", "hap", "neu", "sad", "sad"]
    y_pred = ["ang", "hap", "ang", "hap", "neu", "neu", "sad", "ang"]
    rep = classification_report(y_true, y_pred)
    assert rep["labels"] == ["ang", "hap", "neu", "sad"]
    assert rep["confusion"] == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [1, 0, 0, 1]]
    assert rep["WA"] == pytest.approx(5 / 8)
    recalls = [2 / 3, 1 / 2, 1, 1 / 2]
    precisions = [2 / 3, 1 / 2, 1 / 2, 1]
    f1 = [2 * p * r / (p + r) for p, r in zip(precisions, recalls)]
    assert rep["UA"] == pytest.approx(np.mean(recalls))
    assert rep["macro_f1"] == pytest.approx(np.mean(f1))
    assert rep["per_class"]["neu"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})


def test_class_never_predicted_and_label_order():
    rep = classification_report([0, 1, 2, 2], [0, 0, 2, 2], labels=[2, 1, 0])
    assert rep["labels"] == ["2", "1", "0"]
    assert rep["per_class"]["1"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert rep["UA"] == pytest.approx((1 + 0 + 1) / 3)
    # a label absent from y_true does not count in UA / macro-F1
    rep = classification_report([0, 0], [0, 1], labels=[0, 1])
    assert rep["UA"] == pytest.approx(0.5)


def test_bad_inputs():
    with pytest.raises(ValueError, match="predictions"):
        confusion_matrix([1, 2], [1])
    with pytest.raises(ValueError, match="not in the label list"):
        confusion_matrix([1, 5], [1, 1], labels=[1, 2])
    with pytest.raises(ValueError, match="equal-length"):
        regression_report([1, 2, 3], [1, 2])


def test_regression_against_scipy():
    rng = np.random.default_rng(0)
    t = rng.normal(20, 5, 100)
    p = t + rng.normal(0, 2, 100)
    rep = regression_report(t, p)
    assert rep["pearson_r"] == pytest.approx(pearsonr(t, p)[0])
    assert rep["RMSE"] == pytest.approx(np.sqrt(np.mean((t - p) ** 2)))


def test_confusion_text_and_png(tmp_path):
    cm, labels = confusion_matrix(["a", "b", "b"], ["a", "a", "b"])
    text = format_confusion(cm, labels)
    assert text.splitlines()[-1].split() == ["b", "|", "1", "1"]
    plot_confusion(cm, labels, tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"


def test_results_json_roundtrip_and_table(tmp_path):
    figs = {"EER": np.float64(3.25), "n": np.int64(10), "per": np.array([1.0, 2.0]), "bad": float("nan")}
    write_results_json(tmp_path / "a.json", figs)
    back = read_results_json(tmp_path / "a.json")
    assert back == {"EER": 3.25, "n": 10, "per": [1.0, 2.0], "bad": None}
    write_results_json(tmp_path / "b.json", {"EER": 1.5, "system": "plda"})
    rows = collect_results([tmp_path / "a.json", tmp_path / "b.json"])
    assert rows[1]["_path"].endswith("b.json")
    table = format_table(rows, ["system", "EER"])
    assert table.splitlines()[2] == "| - | 3.25 |" and table.splitlines()[3] == "| plda | 1.5 |"
    (tmp_path / "c.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="c.json"):
        read_results_json(tmp_path / "c.json")
    json.loads((tmp_path / "a.json").read_text())
