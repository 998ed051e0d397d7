"""The decisions of egs/custom, made in local/plain/ scripts and programs rather than in run.sh, each on
its own: the augmentation types the noise corpora allow, the training options (a min-frames floor, the
dev trials), the corpus conf's paths, the back-end split without labelled audio, and the training plan
in words (the sentence RESULTS.md gives too)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from utter.report.document import plan_sentence


def _sh(root, env, script, *args, cwd=None):
    return subprocess.run([str(root / "local/plain" / script), *map(str, args)], cwd=cwd or root, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("musan, rirs, types, said", [
    ("", "", "colour", "no musan_root or rirs_root in conf/corpus.conf: coloured-noise copies only (colour)"),
    ("", "/r", "reverb,colour,colour", "no musan_root in conf/corpus.conf: no noise, music or babble copies"),
    ("/m", "", "noise,music,babble,colour,colour", "no rirs_root in conf/corpus.conf: no reverberated copies"),
    ("/m", "/r", "reverb,noise,music,babble,colour,colour", ""),
])
def test_augmentation_types_from_the_noise_corpora(root, shell_env, musan, rirs, types, said):
    done = _sh(root, shell_env, "augment_types.sh", "reverb,noise,music,babble,colour,colour", "colour", musan, rirs)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == types
    assert (said in done.stderr) if said else done.stderr == ""


def test_training_options_min_frames_and_dev_trials(root, shell_env, tmp_path):
    trials = tmp_path / "dev"
    trials.write_text("a b target\na c nontarget\nb c nontarget\n")
    done = _sh(root, shell_env, "train_options.sh", "--min-frames", "80", "--dev-interval", "200", "--prefix",
               "run.sh: stage 4: dino", "data/eval", trials)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"--min-frames 80 --dev-data data/eval --dev-trials {trials} --dev-interval 200"
    assert "run.sh: stage 4: dino: the dev trials (dev_trials, 3) scored every 200 steps" in done.stderr
    # no floor given: the program's own; no dev trials, or interval 0: none given, nothing said
    for args in (["--dev-interval", "200", "data/eval", tmp_path / "absent"], ["--dev-interval", "0", "d", trials]):
        done = _sh(root, shell_env, "train_options.sh", *args)
        assert done.returncode == 0 and done.stdout.strip() == "" and done.stderr == ""
    done = _sh(root, shell_env, "train_options.sh", "--min-frames", "x", "d", trials)
    assert done.returncode != 0 and "--min-frames must be a non-negative integer, got 'x'" in done.stderr


def test_corpus_conf_paths_named_when_wrong(root, shell_env, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "t").write_text("1 x y\n")
    good = [f"--train-audio={tmp_path / 'a'}", f"--eval-audio={tmp_path / 'a'}", f"--eval-trials={tmp_path / 't'}",
            "--musan-root=", "--dev-trials="]
    assert _sh(root, shell_env, "check_corpus_conf.sh", *good).returncode == 0
    for extra, message in ((["--rirs-root=/no/rirs"], "rirs_root=/no/rirs (conf/corpus.conf): no such directory"),
                           (["--dev-trials=/no/dev"], "dev_trials=/no/dev (conf/corpus.conf): no such trial list"),
                           (["--backend-audio=/no/b"], "backend_audio: /no/b (conf/corpus.conf): no such directory"),
                           (["--eval-segments=/no/s"], "eval_segments=/no/s (conf/corpus.conf): no such file")):
        done = _sh(root, shell_env, "check_corpus_conf.sh", *good, *extra)
        assert done.returncode == 1 and message in done.stderr, done.stderr
    done = _sh(root, shell_env, "check_corpus_conf.sh", "--train-audio=", f"--eval-audio={tmp_path}", cwd=tmp_path)
    assert done.returncode == 1 and f"train_audio is not set in {tmp_path}/conf/corpus.conf" in done.stderr


@pytest.mark.parametrize("unlabelled, sentence", [
    ("false", "PLDA, AS-norm and calibration skipped: no speaker-labelled audio"),
    ("true", "PLDA and calibration skipped: no speaker-labelled audio"),
])
def test_no_labelled_audio_is_a_sentence_of_what_is_skipped(root, shell_env, tmp_path, unlabelled, sentence):
    (tmp_path / "backend_train").mkdir()   # left from a run with labelled audio: removed
    done = _sh(root, shell_env, "split_backend.sh", "--asnorm-unlabelled", unlabelled, 4, 100, 0,
               tmp_path / "backend", tmp_path / "calibration", tmp_path / "skipped")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "skipped").read_text().startswith(sentence)
    assert not (tmp_path / "backend_train").exists()


def test_training_plan_in_words_as_results_md_says_it(tmp_path):
    plan = tmp_path / "train_plan.json"
    plan.write_text(json.dumps({"total_steps": 300, "epochs": 1.92, "steps_per_epoch": 156, "data": {
        "utterances": 24, "used": 20, "left_out": 4, "min_frames": 50, "shorter_than_global_crop": 7,
        "global_frames": 120}}))
    done = subprocess.run([sys.executable, "-m", "utter.bin.describe_train_plan", f"dino_small={plan}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == plan_sentence(f"dino_small={plan}") == (
        "dino_small: 300 training steps (1.9 epochs) on 20 of 24 utterances (4 with fewer than 50 voiced frames "
        "left out; 7 shorter than the 120-frame global crop, cropped whole)")
    plan.write_text("{}")
    done = subprocess.run([sys.executable, "-m", "utter.bin.describe_train_plan", f"dino={plan}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and f"{plan}: not a readable train_plan.json" in done.stderr


def test_custom_mini_trains_its_own_systems(root, shell_env):
    """--mini true reads conf/mini/recipe.conf, which egs/custom has: not egs/voxceleb's (its conf_base),
    whose systems list holds the supervised x-vector, which unlabelled audio cannot train."""
    done = subprocess.run(["bash", "-c", 'set -euo pipefail; . utils/recipe_lib.sh; cd egs/custom; mini=true; '
                           'conf_base=../voxceleb/conf; source_conf recipe.conf; echo "$systems"'],
                          cwd=root, env=shell_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "dino:dino_small"
