# ruff: noqa: F811  (pytest fixtures imported by name)
"""egs/iemocap/run.sh --mini true, reduced (tests/recipes_downstream.py), on the reduced VoxCeleb models:
RESULTS.md rows and columns, per-fold result JSON files consistent with the summary, resuming skips."""
from __future__ import annotations

import json
import subprocess

import numpy as np
from recipes import recipe_copy, recipe_env, run_recipe


def _table_rows(text: str, heading: str) -> list[list[str]]:
    block = text.split(f"### {heading}", 1)[1].split("###", 1)[0]
    lines = [line for line in block.splitlines() if line.startswith("|")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines]


def test_results_table(iemocap_mini_run):
    text = (iemocap_mini_run / "RESULTS.md").read_text()
    rows = _table_rows(text, "Frozen VoxCeleb embeddings + classifier")
    assert rows[0] == ["system", "method", "UA %", "WA %", "macro-F1 %", "runs"]
    body = rows[2:]
    assert {(r[0].split()[0], r[1]) for r in body} == {("DINO", "logreg"), ("DINO", "cosine"),
                                                        ("supervised", "logreg"), ("supervised", "cosine")}
    for r in body:
        for cell in r[2:5]:
            mean, std = (float(x) for x in cell.split(" ± "))
            assert 0 <= mean <= 100 and std >= 0
        assert r[5] == "5"


def _cells(row: list[str]) -> list[float]:
    """The UA, WA, macro-F1 means of a table row (one run: the value alone; several: mean ± std)."""
    return [float(c.split(" ± ")[0]) for c in row[2:5]]


def test_training_stage_rows(iemocap_mini_run):
    """Stages 7-10 give one row per system and strategy / ablation setting, each one run (1 fold x 1 seed)."""
    text = (iemocap_mini_run / "RESULTS.md").read_text()
    expected = {
        "Fine-tuning strategies": {("DINO", "full"), ("DINO", "affine-then-full"),
                                   ("supervised", "full"), ("supervised", "affine-then-full")},
        "Chunk-length ablation": {("DINO", "150-frames")},
        "Augmentation ablation": {("DINO", "without-augmentation"), ("DINO", "with-augmentation")},
        "Triplet + Barlow Twins": {("DINO", "triplet-barlow+adapter"), ("DINO", "adapter-only"),
                                          ("DINO", "fine-tuning-full"), ("DINO", "fine-tuning-affine-then-full")},
    }
    for heading, rows in expected.items():
        table = _table_rows(text, heading)
        assert table[0] == ["system", "method", "UA %", "WA %", "macro-F1 %", "training steps", "runs"], heading
        assert {(r[0].split()[0], r[1]) for r in table[2:]} == rows, heading
        for r in table[2:]:
            assert all(0 <= v <= 100 for v in _cells(r)) and r[6] == "1", (heading, r)
            # TINY_FINETUNE: 3 steps a stage; full at equal budget 6; the adapters have no steps column value
            want = {"affine-then-full": "3+3", "full": "6"}.get(r[1].removeprefix("fine-tuning-"))
            assert r[5] == (want or r[5]) and (r[5] != "-" or "adapter" in r[1]), (heading, r)
    assert "the first 1 folds" in text


def test_training_stage_jsons(iemocap_mini_run):
    """Each training stage's summary is its single run's figures; the ablations ran with their settings."""
    exp = iemocap_mini_run / "exp" / "dino"
    for d, settings in [(exp / "finetune" / "full", {"strategy": "full", "augmented": False}),
                        (exp / "finetune" / "affine-then-full", {"strategy": "affine-then-full"}),
                        (exp / "finetune_chunk" / "150", {"chunk_frames": 150}),
                        (exp / "finetune_aug" / "affine-then-full", {"augmented": True})]:
        summary = json.loads((d / "results.json").read_text())
        runs = sorted(d.glob("fold*/seed*/results.json"))
        assert [p.parent.parent.name for p in runs] == ["fold1"], d
        run = json.loads(runs[0].read_text())
        for key, value in settings.items():
            assert run[key] == value, (d, key)
        for key in ("UA", "WA", "macro_f1"):
            assert np.isclose(summary[key]["mean"], run[key]) and summary[key]["n"] == 1, (d, key)
    stages = json.loads((exp / "finetune" / "affine-then-full" / "fold1" / "seed0" / "results.json").read_text())
    assert [s["trained_params"] != "all" for s in stages["stages"]] == [True, False]
    for d in ("adapter", "adapter_pretrained"):
        summary = json.loads((exp / "lux" / d / "results.json").read_text())
        assert summary["UA"]["n"] == 1
    assert (exp / "lux" / "triplet_barlow" / "fold1" / "final.pt").is_file()
    assert not (exp / "lux" / "triplet_barlow" / "fold2").exists()


def test_fold_jsons_match_summary(iemocap_mini_run):
    """The summary's mean ± std is that of the five per-fold JSON files (recomputed here)."""
    d = iemocap_mini_run / "exp" / "dino" / "classifier" / "logreg"
    folds = sorted(d.glob("fold*/results.json"))
    assert len(folds) == 5
    per_fold = [json.loads(p.read_text()) for p in folds]
    summary = json.loads((d / "results.json").read_text())
    for key in ("UA", "WA", "macro_f1"):
        values = np.array([f[key] for f in per_fold])
        assert np.isclose(summary[key]["mean"], values.mean())
        assert np.isclose(summary[key]["std"], values.std(ddof=1))
    # every test utterance of a fold is predicted once, over all folds every utterance once
    n_utts = len((iemocap_mini_run / "data" / "iemocap" / "utt2emo").read_text().splitlines())
    assert sum(f["n"] for f in per_fold) == n_utts


def test_rerun_skips(iemocap_mini_run):
    """A second run of stages 1-6 finds every output complete and says so."""
    done = subprocess.run(["bash", str(iemocap_mini_run / "run.sh"), "--mini", "true", "--stage", "1",
                           "--stop-stage", "6"], cwd=iemocap_mini_run, env=recipe_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout + done.stderr
    assert "data/iemocap exists; skipping" in out
    assert out.count("skipping") >= 5


def test_real_corpus_unset_is_a_clear_error(tmp_path):
    rdir = recipe_copy("iemocap", tmp_path)
    done = run_recipe(rdir, ["--stop-stage", "0"], check=False)
    assert done.returncode != 0
    assert "iemocap_root is not set in" in (rdir / "run.log").read_text()
