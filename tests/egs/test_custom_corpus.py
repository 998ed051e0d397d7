"""egs/custom end to end on corpora of the simulator's audio in foreign layouts, reduced: unlabelled
training recordings (``rec<N>.flac``, some shorter than the crops), an evaluation folder
``<speaker>/<session>/<N>.flac`` with a VoxCeleb-format trial list naming ``.wav`` files, and a
speaker-labelled back-end folder ``<speaker>_<session>_<N>.wav`` at 22.05 kHz (labels by a regex).
The user's path: conf/corpus.conf names them (no --mini). Then what cannot be made on a small corpus
is skipped with a line saying why: a calibration split, PLDA on too few utterances, every labelled
back-end without labelled audio (cosine still runs); and the corpus conf's errors."""
from __future__ import annotations

import re

import pytest
from recipes import recipe_copy, run_recipe
from recipes_custom import BACKEND, corpus_conf

from utter.data.datadir import read_table


def test_custom_recipe_end_to_end_on_foreign_layouts(custom_run):
    rdir, c = custom_run
    log = (rdir / "run.log").read_text()
    train = read_table(rdir / "data/train/utt2spk")
    assert len(train) == 24 and all(u == s for u, s in train.items())          # no labels: a speaker a file
    assert set(read_table(rdir / "data/eval/utt2spk").values()) == {"e01", "e02", "e03", "e04"}
    assert set(read_table(rdir / "data/backend_heldout/utt2spk").values()) | set(
        read_table(rdir / "data/backend_train/utt2spk").values()) == {f"b0{i}" for i in range(1, 7)}
    n_trials = len((c / "eval" / "veri.txt").read_text().splitlines())
    assert len((rdir / "data/eval_trials/main").read_text().splitlines()) == n_trials
    assert "no musan_root or rirs_root in conf/corpus.conf: coloured-noise copies only (colour)" in log
    # the recordings shorter than the crops are trained on (cropped whole), the plan said so from train_plan.json
    plan = re.search(r"stage 4: dino_small: \d+ training steps \([\d.]+ epochs\) on (\d+) of 24 utterances \((\d+) "
                     r"with fewer than 50 voiced frames left out; (\d+) shorter than the 120-frame global crop, "
                     r"cropped whole\)", log)
    assert plan and int(plan.group(1)) + int(plan.group(2)) == 24 and int(plan.group(3)) > 0, log[-3000:]
    # the dev trials scored by the teacher while DINO trained (after its last step)
    assert "stage 4: dino_small: the dev trials (dev_trials, 40) scored every 200 steps" in log
    assert re.search(r"step 2: dev EER [\d.]+% minDCF\(0\.01\) [\d.]+ on 40 trials \(teacher, cosine\)",
                     (rdir / "exp/dino_small/log/train.log").read_text())
    results = (rdir / "RESULTS.md").read_text()
    assert "| DINO (TDNN, conf/dino_small.conf) |" in results
    assert "cosine EER%" in results and "AS-norm EER%" in results
    assert "Calibrated scores" in results
    # 4 speakers x 4 utterances cannot give a 16-d within-class covariance: PLDA skipped, saying why
    assert "dino_small: PLDA skipped: LDA training set: within-class covariance is singular" in log
    assert "PLDA skipped" in results and "PLDA EER%" not in results
    assert (rdir / "exp/det_main.png").stat().st_size > 0


def test_custom_recipe_skips_what_a_small_corpus_cannot_make(custom_run):
    rdir, c = custom_run
    conf = rdir / "conf"
    # a calibration split that cannot be made: every PLDA speaker kept, calibration skipped
    (conf / "backend.conf").write_text(BACKEND.replace("calib_num_speakers=2", "calib_num_speakers=5"))
    run_recipe(rdir, ["--nj", "1", "--stage", "1", "--stop-stage", "1"], log_name="run_calib.log")
    log = (rdir / "run_calib.log").read_text()
    assert "calibration skipped: data/backend has 6 speakers (6 with two or more utterances); holding out " \
           "calib_num_speakers=5" in log
    assert not (rdir / "data/calibration").exists()
    assert len(set(read_table(rdir / "data/backend_train/utt2spk").values())) == 6
    # no labelled audio: PLDA, AS-norm and calibration skipped with one line, cosine still scored
    (conf / "corpus.conf").write_text(corpus_conf(c, backend=False))
    run_recipe(rdir, ["--nj", "1", "--stage", "1", "--stop-stage", "1"], log_name="run_nobackend.log")
    run_recipe(rdir, ["--nj", "1", "--stage", "6"], log_name="run_cosine.log")
    log = (rdir / "run_nobackend.log").read_text() + (rdir / "run_cosine.log").read_text()
    assert "PLDA, AS-norm and calibration skipped: no speaker-labelled audio (backend_audio in conf/corpus.conf)" \
           in log
    results = (rdir / "RESULTS.md").read_text()
    assert "cosine EER%" in results and "AS-norm" not in results.split("###")[1]


@pytest.mark.parametrize("conf, message", [
    ("train_audio=\neval_audio=/x\n", "train_audio is not set in"),
    ("train_audio=(/no/such/dir)\neval_audio=/x\n", "train_audio: /no/such/dir (conf/corpus.conf): no such directory"),
])
def test_corpus_conf_errors(tmp_path, conf, message):
    recipe_copy("voxceleb", tmp_path)
    rdir = recipe_copy("custom", tmp_path)
    (rdir / "conf" / "corpus.conf").write_text(conf)
    done = run_recipe(rdir, ["--stop-stage", "0"], check=False)
    assert done.returncode == 1 and message in (rdir / "run.log").read_text()
