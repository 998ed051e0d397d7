"""Mini IEMOCAP: a frozen logistic regression on DINO embeddings is above chance UA by more than
two standard deviations over the session folds (fixture ``mini_iemocap_emb`` from the lead)."""
from __future__ import annotations

from pathlib import Path

from utter.transfer.frozen import FrozenOptions, run_frozen_classifier


def test_frozen_classifier_above_chance_on_mini_iemocap(mini_iemocap_emb, tmp_path):
    fx = mini_iemocap_emb
    data = Path(fx["data"])
    res = run_frozen_classifier(str(fx["emb_scp"]), str(data), str(tmp_path / "logreg"), FrozenOptions("logreg"),
                                label_table="utt2emo", folds_dir=str(data / "folds"))
    chance = 1.0 / len(res["labels"])
    print(res["summary"], f"chance {chance:.3f}")
    assert res["UA"]["mean"] - chance > 2 * res["UA"]["std"]
