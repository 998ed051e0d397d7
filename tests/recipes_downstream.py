"""Reduced runs of the downstream recipes (egs/iemocap, egs/adress) on the pretrained models of
the reduced VoxCeleb run (``recipes.voxceleb_mini_run``), in temporary copies.

Fixtures (session scope, registered in tests/conftest.py through ``pytest_plugins``; a test
module names them as arguments and imports nothing; they build on ``recipes.voxceleb_mini_run``
and run in the background from the start of the session, see tests/recipes.py):
  iemocap_mini_emb   a copy of egs/iemocap run with ``--mini true`` up to stage 5 (embeddings):
                     the mini IEMOCAP (297 utterances, 5 sessions), both models' embeddings.
  mini_iemocap_emb   from it: {'data': data/iemocap (utt2emo, folds/<k>/{train,dev,test}),
                     'emb_scp': the DINO embeddings of data/iemocap (xvector.scp)}.
  iemocap_mini_run   that copy taken to the end (stages 6-11) with the reduced settings of
                     :data:`IEMOCAP_REDUCED`: RESULTS.md and the per-fold result JSON files; the
                     training stages 7-10 (fine-tuning strategies, chunk and augmentation ablations,
                     triplet + Barlow Twins + adapter) on one fold with a few steps (:data:`TINY_FINETUNE`).
  adress_mini_run    a reduced ``egs/adress/run.sh --mini true`` run, all stages (fine-tuning one
                     strategy and Lux on one fold, a few steps; text branch, fusion, MMSE).
Read them; do not write into them.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from recipes import DEFINERS, BackgroundRuns, background, recipe_copy


def pretrained_conf(vox: Path) -> str:
    """conf/mini/pretrained.conf pointing a downstream recipe at the reduced VoxCeleb run's models."""
    return ("# models of the reduced VoxCeleb run (tests/recipes_downstream.py)\n"
            f"voxceleb_recipe={vox}\n"
            "voxceleb_args=\"--mini true --mini-scale small\"\n"
            f"dino_model={vox}/exp/dino/final.pt\n"
            f"xvector_model={vox}/exp/xvector/final.pt\n")


#: conf/mini/finetune.conf of the reduced runs: a few steps per stage, evaluation at the end only.
TINY_FINETUNE = ("# reduced fine-tuning for the test suite: 3 steps per stage\n"
                 "--strategy=affine-then-full\n--chunk-len=100\n--batch-size=8\n--balanced=true\n--optimizer=adam\n"
                 "--lr=3e-3\n--stage2-lr=1e-3\n--total-steps=3\n--steps-per-epoch=3\n--warmup-steps=0\n"
                 "--eval-interval=0\n--eval-max-frames=8000\n--keep-last=1\n--log-interval=1\n")


def tiny_triplet_barlow(label_table: str) -> str:
    """conf/mini/triplet_barlow.conf of the reduced runs: 3 steps of step 1, a few adapter epochs."""
    return ("# reduced triplet + Barlow Twins + adapter for the test suite\n"
            f"--label-table={label_table}\n--lambda-bt=0.01\n--margin=1.0\n--proj-dim=64\n--proj-layers=3\n"
            "--offdiag-weight=0.0051\n--time-mask-prob=0.2\n--batch-size=8\n--chunk-frames=100\n--min-frames=50\n"
            "--optimizer=adam\n--lr=1e-3\n--max-steps=3\n--keep-last=1\n--average-last=1\n--log-interval=1\n"
            "--adapter-hidden=32\n--adapter-lr=1e-3\n--adapter-batch-size=32\n--adapter-epochs=3\n"
            "--adapter-patience=3\n--seeds=0\n")


#: conf/mini overrides of the reduced IEMOCAP run (besides pretrained.conf): one augmentation
#: type, the training stages 7-10 on one fold with one chunk length and a few steps.
IEMOCAP_REDUCED: dict[str, str] = {
    "augment.conf": "# reduced augmentation for the test suite\naug_types=noise\naug_rirs=\"rirs_small\"\n",
    "recipe.conf": "# reduced settings for the test suite\ndefault_nj=2\ntrain_threads=1\nextract_threads=1\n"
                   "seeds=\"0\"\nclassifiers=\"logreg cosine\"\nfinetune_max_folds=1\nfinetune_jobs=1\n"
                   "chunk_lengths=\"150\"\n",
    "finetune.conf": TINY_FINETUNE,
    "triplet_barlow.conf": tiny_triplet_barlow("utt2emo"),
}
#: conf/mini overrides of the reduced ADReSS run (besides pretrained.conf): fine-tuning (one
#: strategy) and Lux on one fold, a few steps, decisions per speaker as the shipped confs.
ADRESS_REDUCED: dict[str, str] = {
    "recipe.conf": "# reduced settings for the test suite\ndefault_nj=2\ntrain_threads=1\nextract_threads=1\n"
                   "cv_folds=4\nseeds=\"0\"\nclassifiers=\"logreg cosine\"\nfinetune_max_folds=1\nfinetune_jobs=1\n"
                   "finetune_strategies=\"affine-then-full\"\n",
    # stage 1 to convergence on dev as the shipped confs (evaluated every step here, patience 1)
    "finetune.conf": TINY_FINETUNE.replace("--eval-interval=0", "--eval-interval=1")
    + "--score-unit=speaker\n--stage1-patience=1\n",
    "triplet_barlow.conf": tiny_triplet_barlow("utt2label") + "--adapter-score-unit=speaker\n",
}


def define_downstream_runs(runs: BackgroundRuns) -> None:
    """The downstream recipe runs, each after the reduced VoxCeleb run (background runs, tests/recipes.py)."""
    def iemocap_emb(r: BackgroundRuns) -> Path:
        vox = r.result("voxceleb_mini_run")
        overrides = {**IEMOCAP_REDUCED, "pretrained.conf": pretrained_conf(vox)}
        rdir = recipe_copy("iemocap", r.mktemp("iemocap_mini"), overrides)
        r.recipe(rdir, ["--mini", "true", "--stop-stage", "5"], log_name="run_0-5.log")
        return rdir

    def iemocap_run(r: BackgroundRuns) -> Path:
        rdir = r.result("iemocap_mini_emb")
        r.recipe(rdir, ["--mini", "true", "--stage", "6"], log_name="run_6-11.log")
        return rdir

    def adress(r: BackgroundRuns) -> Path:
        vox = r.result("voxceleb_mini_run")
        overrides = {**ADRESS_REDUCED, "pretrained.conf": pretrained_conf(vox)}
        rdir = recipe_copy("adress", r.mktemp("adress_mini"), overrides)
        r.recipe(rdir, ["--mini", "true", "--mini-scale", "small"])
        return rdir

    runs.define("adress_mini_run", adress, needs=["voxceleb_mini_run"])
    runs.define("iemocap_mini_emb", iemocap_emb, needs=["voxceleb_mini_run"])
    runs.define("iemocap_mini_run", iemocap_run, needs=["iemocap_mini_emb"])


def pytest_configure(config: pytest.Config) -> None:
    config.stash.setdefault(DEFINERS, []).append(define_downstream_runs)


@pytest.fixture(scope="session")
def iemocap_mini_emb(request) -> Path:
    """egs/iemocap --mini true up to the embeddings (stage 5), on the reduced VoxCeleb models."""
    return background(request.config).result("iemocap_mini_emb")


@pytest.fixture(scope="session")
def mini_iemocap_emb(iemocap_mini_emb) -> dict[str, Path]:
    """The mini IEMOCAP data dir (utt2emo, folds) and its DINO embeddings."""
    return {"data": iemocap_mini_emb / "data" / "iemocap",
            "emb_scp": iemocap_mini_emb / "exp" / "dino" / "emb" / "iemocap" / "xvector.scp"}


@pytest.fixture(scope="session")
def iemocap_mini_run(request) -> Path:
    """The mini IEMOCAP copy taken through the classifier and results stages."""
    return background(request.config).result("iemocap_mini_run")


@pytest.fixture(scope="session")
def adress_mini_run(request) -> Path:
    """A reduced egs/adress --mini true run (small simulated corpus), all stages."""
    return background(request.config).result("adress_mini_run")
