"""Fold reading and folds × seeds summaries (numpy's mean/std with ddof=1 as reference)."""
import numpy as np
import pytest

from utter.transfer.folds import read_folds
from utter.transfer.runs import format_mean_std, mean_std


def _write_fold(d, train, test, dev=None):
    d.mkdir(parents=True)
    (d / "train").write_text("".join(u + "\n" for u in train))
    (d / "test").write_text("".join(u + "\n" for u in test))
    if dev is not None:
        (d / "dev").write_text("".join(u + "\n" for u in dev))


def test_read_folds_numeric_order_and_limits(tmp_path):
    for k in (10, 2, 1):
        _write_fold(tmp_path / str(k), [f"a{k}"], [f"t{k}"], dev=[f"d{k}"] if k == 2 else None)
    folds = read_folds(tmp_path)
    assert [f.name for f in folds] == ["1", "2", "10"]
    assert folds[1].dev == ["d2"] and folds[0].dev == []
    assert [f.name for f in read_folds(tmp_path, max_folds=2)] == ["1", "2"]


def test_read_folds_errors(tmp_path):
    with pytest.raises(ValueError, match="no folds directory"):
        read_folds(tmp_path / "nope")
    _write_fold(tmp_path / "1", ["u1", "u2"], ["u2"])
    with pytest.raises(ValueError, match=r"1 utterances are in both training and test lists, e.g. \['u2'\]"):
        read_folds(tmp_path)
    (tmp_path / "2").mkdir()
    (tmp_path / "1" / "test").write_text("u3\n")
    with pytest.raises(ValueError, match="2/train: missing fold list"):
        read_folds(tmp_path)


def test_mean_std():
    runs = [{"ua": 0.5, "wa": 0.6}, {"ua": 0.7, "wa": 0.6}, {"ua": 0.6, "wa": 0.9}]
    s = mean_std(runs)
    assert s["ua"]["mean"] == pytest.approx(0.6) and s["ua"]["std"] == pytest.approx(np.std([0.5, 0.7, 0.6], ddof=1))
    assert s["wa"]["n"] == 3
    assert mean_std([{"ua": 0.4}])["ua"]["std"] == 0.0
    assert format_mean_std(s["ua"]) == "60.0 ± 10.0"
