# ruff: noqa: F811  (pytest fixtures imported by name)
"""egs/adress/run.sh --mini true, reduced (tests/recipes_downstream.py), on the reduced VoxCeleb models:
per-speaker data dirs, RESULTS.md rows and columns, per-fold result JSON files, a clear error when unset."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from recipes import recipe_copy, run_recipe


def _table_rows(text: str, heading: str) -> list[list[str]]:
    block = text.split(f"### {heading}", 1)[1].split("###", 1)[0]
    lines = [line for line in block.splitlines() if line.startswith("|")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines]


def test_speaker_dirs(adress_mini_run):
    """One entry per speaker, its label that of its segments, folds over speakers partition them."""
    data = adress_mini_run / "data"
    seg2spk = dict(line.split() for line in (data / "adress_train" / "utt2spk").read_text().splitlines())
    seg2lab = dict(line.split() for line in (data / "adress_train" / "utt2label").read_text().splitlines())
    spk2lab = dict(line.split() for line in (data / "adress_train_spk" / "utt2label").read_text().splitlines())
    assert set(spk2lab) == set(seg2spk.values())
    for seg, spk in seg2spk.items():
        assert spk2lab[spk] == seg2lab[seg]
    tests = [set((f / "test").read_text().split()) for f in sorted((data / "adress_train_spk" / "folds").iterdir())]
    assert len(tests) == 4
    assert set().union(*tests) == set(spk2lab) and sum(map(len, tests)) == len(spk2lab)


def test_results_table(adress_mini_run):
    text = (adress_mini_run / "RESULTS.md").read_text()
    rows = _table_rows(text, "Frozen VoxCeleb embeddings + classifier")
    assert rows[0] == ["system", "method", "cv accuracy %", "cv F1 %", "test accuracy %", "test F1 %", "runs"]
    assert {(r[0].split()[0], r[1]) for r in rows[2:]} == {("DINO", "logreg"), ("DINO", "cosine"),
                                                           ("supervised", "logreg"), ("supervised", "cosine")}
    mmse = _table_rows(text, "MMSE regression")
    assert mmse[0][:4] == ["system", "method", "cv RMSE", "cv Pearson r"]
    assert {(r[0].split()[0], r[1]) for r in mmse[2:]} == {("DINO", "ridge"), ("supervised", "ridge"),
                                                          ("text", "subword-ridge")}


def test_training_and_text_rows(adress_mini_run):
    """Fine-tuning (cv, test), Lux vs fine-tuning, text branch + fusion, and text MMSE rows of RESULTS.md."""
    text = (adress_mini_run / "RESULTS.md").read_text()
    ft = _table_rows(text, "Fine-tuning strategies")
    assert ft[0] == ["system", "method", "cv accuracy %", "cv F1 %", "test accuracy %", "test F1 %",
                     "training steps", "runs"]
    assert {(r[0].split()[0], r[1]) for r in ft[2:]} == {("DINO", "affine-then-full"),
                                                         ("supervised", "affine-then-full")}
    assert all(r[6] == "3+3" and r[7] == "cv 1, test 1" for r in ft[2:])   # TINY_FINETUNE: 3 steps a stage
    lux = _table_rows(text, "Triplet + Barlow Twins")
    assert {r[1] for r in lux[2:]} == {"triplet-barlow+adapter", "adapter-only", "fine-tuning-affine-then-full"}
    fusion = _table_rows(text, "Text branch and late fusion")
    assert {(r[0], r[1]) for r in fusion[2:]} == {("text", "subword-logreg"), ("text+dino", "fusion-logreg")}
    mmse = _table_rows(text, "MMSE regression")
    assert ("text", "subword-ridge") in {(r[0], r[1]) for r in mmse[2:]}
    for table in (ft, lux, fusion):
        percent = [i for i, head in enumerate(table[0]) if head.endswith("%")]
        for r in table[2:]:
            for cell in (r[i] for i in percent):
                if cell != "-":
                    assert 0 <= float(cell.split(" ± ")[0]) <= 100, r


def _speakers(data: Path, utts=None) -> set[str]:
    utt2spk = dict(line.split() for line in (data / "utt2spk").read_text().splitlines())
    return {utt2spk[u] for u in (utt2spk if utts is None else utts)}


def test_finetune_jsons(adress_mini_run):
    """Fine-tuning trained on the segments and decided per speaker (the mean posterior of its segments):
    CV on the first fold only, train -> test on every test speaker; the adapters likewise."""
    d = adress_mini_run / "exp" / "dino" / "finetune" / "affine-then-full"
    runs = sorted((d / "cv").glob("fold*/seed*/results.json"))
    assert [p.parent.parent.name for p in runs] == ["fold1"]
    train = adress_mini_run / "data" / "adress_train"
    fold_spks = _speakers(train, (train / "folds" / "1" / "test").read_text().split())
    fold = json.loads(runs[0].read_text())
    assert fold["score_unit"] == "speaker" and fold["n"] == len(fold_spks)
    assert set(dict(line.split() for line in (runs[0].parent / "predictions").read_text().splitlines())) == fold_spks
    test = json.loads((d / "test" / "results.json").read_text())
    n_test = len(_speakers(adress_mini_run / "data" / "adress_test"))
    assert test["protocol"] == "train-test" and test["pooled"]["n"] == n_test and test["WA"]["n"] == 1
    # the conf asks for stage-1 early stopping; whatever stage 1 trained, stage 2 gets the rest of the 3 + 3
    # steps (the speaker-group folds and train -> test have no dev list, so stage 1 trains all 3 in both)
    s1, s2 = fold["stages"]
    assert 1 <= s1["steps_run"] <= 3 and s2["steps_run"] == 3 + (3 - s1["steps_run"]), fold["stages"]
    test_run = json.loads((d / "test" / "test" / "seed0" / "results.json").read_text())
    assert [s["steps_run"] for s in test_run["stages"]] == [3, 3]
    adapter = sorted((adress_mini_run / "exp" / "dino" / "lux").glob("*/fold1/seed*/results.json"))
    assert adapter and all(json.loads(p.read_text())["n"] == len(fold_spks) for p in adapter), adapter


def test_fold_jsons_match_summary(adress_mini_run):
    d = adress_mini_run / "exp" / "dino" / "classifier" / "logreg"
    per_fold = [json.loads(p.read_text()) for p in sorted((d / "cv").glob("fold*/results.json"))]
    summary = json.loads((d / "cv" / "results.json").read_text())
    assert len(per_fold) == 4
    acc = np.array([f["WA"] for f in per_fold])
    assert np.isclose(summary["WA"]["mean"], acc.mean()) and np.isclose(summary["WA"]["std"], acc.std(ddof=1))
    test = json.loads((d / "test" / "results.json").read_text())
    n_test = len((adress_mini_run / "data" / "adress_test_spk" / "utt2label").read_text().splitlines())
    assert test["WA"]["n"] == 1 and test["pooled"]["n"] == n_test


def test_real_corpus_unset_is_a_clear_error(tmp_path):
    rdir = recipe_copy("adress", tmp_path)
    done = run_recipe(rdir, ["--stop-stage", "0"], check=False)
    assert done.returncode != 0
    assert "adress_root is not set in" in (rdir / "run.log").read_text()
