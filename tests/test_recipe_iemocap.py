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
