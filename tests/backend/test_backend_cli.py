"""File formats and command-line programs of the back-ends: Kaldi-format I/O errors, the
compute_eer / compute_min_dcf formats, and the steps/ scripts end to end on toy embeddings."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from utter.backend.io import align_scores, read_scores, read_trials, write_scores
from utter.data.kaldi_io import read_embeddings, write_vectors
from utter.metrics.verification import compute_eer, compute_min_dcf
from utter.transfer.verification import read_enrollment


def run(args, env=None, cwd=None, check=True):
    r = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd)
    if check and r.returncode != 0:
        raise AssertionError(f"{args} failed:\n{r.stdout}\n{r.stderr}")
    return r


def test_trials_scores_embeddings_roundtrip_and_errors(tmp_path):
    (tmp_path / "trials").write_text("a b target\na c nontarget\n")
    t = read_trials(tmp_path / "trials")
    assert t.enroll == ["a", "a"] and t.test == ["b", "c"] and t.labels.tolist() == [True, False]
    (tmp_path / "bad").write_text("a b target\na c maybe\n")
    with pytest.raises(ValueError, match=r"bad:2: label must be"):
        read_trials(tmp_path / "bad")
    (tmp_path / "mixed").write_text("a b\na c nontarget\n")
    with pytest.raises(ValueError, match=r"mixed:2: 3 fields"):
        read_trials(tmp_path / "mixed")
    (tmp_path / "unl").write_text("a b\n")
    with pytest.raises(ValueError, match="no target/nontarget labels"):
        read_trials(tmp_path / "unl", require_labels=True)
    write_scores(tmp_path / "scores", ["a", "a"], ["c", "b"], np.array([0.5, -1.25]))
    e, te, s = read_scores(tmp_path / "scores")
    np.testing.assert_allclose(align_scores(t, e, te, s), [-1.25, 0.5])
    (tmp_path / "bads").write_text("a b 1.0\na c x\n")
    with pytest.raises(ValueError, match=r"bads:2: score 'x'"):
        read_scores(tmp_path / "bads")
    with pytest.raises(ValueError, match=r"1 of 2 trials have no score \(first: 'a c'\)"):
        align_scores(t, ["a"], ["b"], np.array([1.0]))
    x = np.arange(12, dtype=float).reshape(3, 4)
    write_vectors(zip(["u1", "u2", "u3"], x), tmp_path / "emb" / "xvector.ark")
    ids, y = read_embeddings(tmp_path / "emb" / "xvector.scp")
    assert ids == ["u1", "u2", "u3"] and np.allclose(y, x)
    write_vectors(zip(["u1", "u2"], np.array([[1.0, np.nan], [1, 2]])), tmp_path / "nan" / "xvector.ark")
    with pytest.raises(ValueError, match="1 embeddings are not finite.*u1"):
        read_embeddings(tmp_path / "nan" / "xvector.scp")
    (tmp_path / "enr").write_text("m1 u1 u2\nm2 u3\n")
    assert read_enrollment(tmp_path / "enr") == {"m1": ["u1", "u2"], "m2": ["u3"]}


def test_compute_eer_and_min_dcf_cli(tmp_path):
    rng = np.random.default_rng(0)
    labels = rng.random(400) < 0.3
    scores = np.round(rng.normal(size=400) + 2 * labels, 2)
    lab = np.where(labels, "target", "nontarget")
    (tmp_path / "sl").write_text("".join(f"{s} {k}\n" for s, k in zip(scores, lab)))
    r = run([sys.executable, "-m", "utter.bin.compute_eer", str(tmp_path / "sl")])
    assert float(r.stdout) == pytest.approx(100 * compute_eer(scores, labels), abs=1e-3 * 100)
    assert "Equal error rate (ROCCH) is" in r.stderr   # the method is named (--method rocch|kaldi)
    r2 = subprocess.run([sys.executable, "-m", "utter.bin.compute_eer", "-"], input=(tmp_path / "sl").read_text(),
                        capture_output=True, text=True)
    assert r2.stdout == r.stdout
    (tmp_path / "bad").write_text("1.0 target\nfoo nontarget\n")
    r = run([sys.executable, "-m", "utter.bin.compute_eer", str(tmp_path / "bad")], check=False)
    assert r.returncode == 1 and "bad:2: score 'foo'" in r.stderr
    ids = [f"e{i} t{i}" for i in range(400)]
    (tmp_path / "trials").write_text("".join(f"{i} {k}\n" for i, k in zip(ids, lab)))
    (tmp_path / "scores").write_text("".join(f"{i} {s}\n" for i, s in zip(ids[::-1], scores[::-1])))
    r = run([sys.executable, "-m", "utter.bin.compute_min_dcf", "--p-target", "0.05", "--c-miss", "2",
             str(tmp_path / "scores"), str(tmp_path / "trials")])
    assert r.stdout == f"{compute_min_dcf(scores, labels, 0.05, 2, 1):.4f}\n"
    assert "minDCF is" in r.stderr


@pytest.fixture()
def toy_recipe(tmp_path):
    """Train set (40 speakers x 4 utts) and test set (10 speakers x 3 utts), 6-dim embeddings."""
    rng = np.random.default_rng(1)
    dim = 6

    def make(name, n_spk, per, offset):
        spk = np.repeat(np.arange(n_spk), per)
        x = rng.normal(size=(n_spk, dim))[spk] * 2 + rng.normal(size=(len(spk), dim)) + 5
        utts = [f"spk{s + offset:03d}-u{i}" for i, s in enumerate(spk)]
        write_vectors(zip(utts, x), tmp_path / "emb" / name / "xvector.ark")
        d = tmp_path / "data" / name
        d.mkdir(parents=True)
        (d / "utt2spk").write_text("".join(f"{u} spk{s + offset:03d}\n" for u, s in zip(utts, spk)))
        (d / "utt2dur").write_text("".join(f"{u} {rng.uniform(2, 8):.2f}\n" for u in utts))
        return utts, spk

    make("train", 40, 4, 0)
    utts, spk = make("test", 10, 3, 100)
    lines = [f"{utts[i]} {utts[j]} {'target' if spk[i] == spk[j] else 'nontarget'}\n"
             for i in range(len(utts)) for j in range(i + 1, len(utts))]
    (tmp_path / "trials").write_text("".join(lines))
    return tmp_path


def test_steps_end_to_end(toy_recipe, root, shell_env):
    d = toy_recipe
    steps = root / "steps"
    env = dict(shell_env, PYTHONPATH=str(root / "pylib"))
    out = run(["bash", steps / "score_cosine.sh", "--train-emb-dir", d / "emb/train", d / "emb/test",
               d / "trials", d / "scores"], env=env, cwd=d)
    assert "wrote" in out.stdout
    res = json.loads((d / "scores/scores_cosine.json").read_text())
    assert res["system"] == "cosine" and 0 <= res["EER"] < 20 and "minDCF@0.001" in res
    assert (d / "scores/scores_cosine.det.png").is_file() and (d / "scores/cosine.npz").is_file()
    again = run(["bash", steps / "score_cosine.sh", "--train-emb-dir", d / "emb/train", d / "emb/test",
                 d / "trials", d / "scores"], env=env, cwd=d)
    assert "skipping" in again.stderr
    run(["bash", steps / "train_plda.sh", "--lda-dim", "4", "--num-iters", "3", d / "emb/train",
         d / "data/train", d / "plda"], env=env, cwd=d)
    assert "EM iteration 3" in (d / "plda/log/train_plda.log").read_text()
    run(["bash", steps / "score_plda.sh", d / "plda", d / "emb/test", d / "trials", d / "scores"], env=env, cwd=d)
    assert len((d / "scores/scores_plda").read_text().splitlines()) == 435
    run(["bash", steps / "score_norm.sh", "--backend-model", d / "plda/plda.npz", "--top-n", "20",
         d / "emb/train", d / "data/train", d / "emb/test", d / "trials", d / "scores/scores_plda",
         d / "scores/scores_plda_asnorm"], env=env, cwd=d)
    assert json.loads((d / "scores/scores_plda_asnorm.json").read_text())["EER"] < 30
    run(["bash", steps / "train_calibration.sh", "--utt2dur", d / "data/test/utt2dur",
         "--apply-utt2dur", d / "data/test/utt2dur", d / "scores/scores_plda", d / "trials", d / "cal",
         d / "scores/scores_plda", d / "scores/scores_plda_cal", d / "trials"], env=env, cwd=d)
    cal = json.loads((d / "scores/scores_plda_cal.json").read_text())
    assert cal["Cllr"] < 1.0
    # what the calibration is for is recorded (utter verify checks it): the scorer from scores_<name>, and
    # in the recipes' layout exp/<sys>/calibration/<b> the model exp/<sys>/final.pt with its SHA-256
    from utter.backend.calibration import LinearCalibration
    from utter.stage import file_digest

    assert LinearCalibration.load(d / "cal/calibration.npz").trained_for == {"scorer": "plda"}
    (d / "exp/sys").mkdir(parents=True)
    (d / "exp/sys/final.pt").write_bytes(b"a model")
    run(["bash", steps / "train_calibration.sh", d / "scores/scores_plda", d / "trials",
         d / "exp/sys/calibration/plda"], env=env, cwd=d)
    assert LinearCalibration.load(d / "exp/sys/calibration/plda/calibration.npz").trained_for == {
        "scorer": "plda", "model": str(d / "exp/sys/final.pt"), "model_sha256": file_digest(d / "exp/sys/final.pt")}
    bad = run(["bash", steps / "score_plda.sh", d / "plda", d / "emb/train", d / "trials", d / "bad"],
              env=env, cwd=d, check=False)
    assert bad.returncode != 0
    assert "utterances have no embedding" in (d / "bad/log/score_plda.log").read_text()
    usage = run(["bash", steps / "score_plda.sh", d / "plda"], env=env, cwd=d, check=False)
    assert usage.returncode == 1 and "usage" in usage.stderr


def test_train_plda_skips_what_the_data_cannot_support(toy_recipe, root, shell_env):
    """steps/train_plda.sh --skip-unsupported true: a training set too small for the model writes the
    program's reason to <dir>/skipped and succeeds without a model (the recipe reads that file, not the
    log); without the option the same set fails, naming the reason."""
    d = toy_recipe
    env = dict(shell_env, PYTHONPATH=str(root / "pylib"))
    one = d / "data/one_each"
    one.mkdir()
    (one / "utt2spk").write_text("".join(f"spk{s:03d}-u{4 * s} spk{s:03d}\n" for s in range(3)))  # 1 utt a speaker
    args = ["--lda-dim", "4", d / "emb/train", one]
    failed = run(["bash", root / "steps/train_plda.sh", *args, d / "plda_fail"], env=env, cwd=d, check=False)
    assert failed.returncode != 0
    reason = next(line.split(" error: ", 1)[1] for line in
                  (d / "plda_fail/log/train_plda.log").read_text().splitlines() if " error: " in line)
    out = run(["bash", root / "steps/train_plda.sh", "--skip-unsupported", "true", *args, d / "plda_skip"],
              env=env, cwd=d)
    assert (d / "plda_skip/skipped").read_text() == f"PLDA skipped: {reason}\n"
    assert not (d / "plda_skip/plda.npz").exists() and "PLDA skipped" in out.stdout
