"""Frozen-embedding classifier stage, PLDA class scoring and the text branch on synthetic data."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from scipy.stats import multivariate_normal
from transfer_synth import class_embeddings, session_data, write_embeddings, write_folds

from utter.backend.classifiers import EmbeddingClassifier, build_classifier
from utter.data.datadir import read_table, write_table
from utter.transfer.frozen import FrozenOptions, run_frozen_classifier
from utter.transfer.runs import read_class_scores


def test_frozen_cv_accuracy_matches_known_separability(tmp_path):
    data, u2e = session_data(tmp_path, per_class=15)
    emb = class_embeddings(u2e, dim=8, separation=2.0, seed=1)
    scp = write_embeddings(tmp_path / "emb" / "xvector", emb)
    # oracle: nearest true class mean (the Bayes rule for equal-covariance Gaussians)
    rng = np.random.default_rng(1)
    labels = sorted(set(u2e.values()))
    means = {c: 2.0 * v / np.linalg.norm(v) for c, v in zip(labels, rng.normal(size=(len(labels), 8)))}
    oracle = np.mean([min(labels, key=lambda c: np.linalg.norm(emb[u] - means[c])) == y for u, y in u2e.items()])
    for kind in ("logreg", "svm", "cosine", "plda"):
        out = tmp_path / kind
        if kind == "logreg":   # the program once; the library directly for the others
            r = subprocess.run([sys.executable, "-m", "utter.bin.train_classifier", "--classifier", kind,
                                "--folds-dir", str(data / "folds"), "--grid", "0.01,1", str(scp), str(data),
                                str(out)], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
        else:
            run_frozen_classifier(str(scp), str(data), str(out), FrozenOptions(kind), folds_dir=str(data / "folds"))
        res = json.loads((out / "results.json").read_text())
        print(kind, res["summary"], f"(oracle accuracy {oracle:.3f})")
        assert oracle - 0.12 <= res["pooled"]["WA"] <= oracle + 0.05
        assert res["UA"]["n"] == 3 and len(res["runs"]) == 3
        assert (out / "confusion.png").is_file() and np.sum(res["confusion_sum"]) == len(u2e)
        utts, s, classes = read_class_scores(out / "scores")
        assert sorted(utts) == sorted(u2e) and classes == labels
        pred = read_table(out / "predictions")
        assert all(pred[u] == classes[i] for u, i in zip(utts, s.argmax(1)))
        if kind == "logreg":
            assert all("C" in json.loads((out / f"fold{k}" / "results.json").read_text()) for k in "123")


def test_ridge_regression_train_test(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(size=6)
    dirs = {}
    for name, n in (("train", 60), ("test", 20)):
        x = {f"{name}{i:03d}": rng.normal(size=6) for i in range(n)}
        d = tmp_path / name
        d.mkdir()
        write_table(d / "utt2mmse", {u: f"{20 + v @ w + 0.1 * rng.normal():.3f}" for u, v in x.items()})
        dirs[name] = (d, write_embeddings(tmp_path / f"emb_{name}" / "xvector", x))
    out = tmp_path / "mmse"
    r = subprocess.run([sys.executable, "-m", "utter.bin.train_classifier", "--task", "regression",
                        "--classifier", "ridge", "--alpha", "0.01", "--label-table", "utt2mmse",
                        "--test-emb", str(dirs["test"][1]), "--test-data", str(dirs["test"][0]),
                        str(dirs["train"][1]), str(dirs["train"][0]), str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "results.json").read_text())
    print(res["summary"])
    assert res["RMSE"]["mean"] < 0.3 and res["pooled"]["pearson_r"] > 0.99


def test_plda_classifier_equals_direct_gaussian_llr(tmp_path):
    """Class score = log p(class embeddings, test | one class) - log p(class embeddings) - log p(test),
    computed here with dense joint Gaussians of the fitted B, W and mean (no diagonalisation)."""
    rng = np.random.default_rng(3)
    labels = ["a", "b", "c"]
    y = [labels[i % 3] for i in range(30)]
    x = rng.normal(size=(3, 4))[[i % 3 for i in range(30)]] * 2 + rng.normal(size=(30, 4))
    model = build_classifier("plda", whiten=False, length_norm=False).fit(x, y)
    model.save(tmp_path / "plda.npz")
    loaded = EmbeddingClassifier.load(tmp_path / "plda.npz")
    tests = rng.normal(size=(5, 4)) * 2
    got = loaded.scores(tests)
    p = loaded.plda
    z, zt = p.pre.transform(x), p.pre.transform(tests)
    mu, b, w = p.mean, p.between, p.within
    for j, c in enumerate(labels):
        e = z[[i for i, lab in enumerate(y) if lab == c]]
        n = len(e)
        for t in range(len(tests)):
            joint = np.vstack([e, zt[t:t + 1]]).ravel()
            cov = np.kron(np.ones((n + 1, n + 1)), b) + np.kron(np.eye(n + 1), w)
            cov_e = np.kron(np.ones((n, n)), b) + np.kron(np.eye(n), w)
            llr = (multivariate_normal(np.tile(mu, n + 1), cov).logpdf(joint)
                   - multivariate_normal(np.tile(mu, n), cov_e).logpdf(e.ravel())
                   - multivariate_normal(mu, b + w).logpdf(zt[t]))
            assert abs(got[t, j] - llr) < 1e-6 * max(1, abs(llr))


def test_text_branch_cv_mmse_fusion_and_test(tmp_path):
    rng = np.random.default_rng(0)
    words = {"cd": ["um", "uh", "thing", "er", "what"], "cc": ["boy", "taking", "cookie", "jar", "mother"]}

    def make(name, n, off):
        d = tmp_path / name
        d.mkdir()
        lab = {f"S{off + i:03d}": ("cc" if i % 2 else "cd") for i in range(n)}
        write_table(d / "utt2label", lab)
        write_table(d / "utt2spk", {u: u for u in lab})
        write_table(d / "text", {u: "*PAR: " + " ".join(rng.choice(words[c] + ["the", "is", "a"], 10))
                                 for u, c in lab.items()})
        write_table(d / "utt2mmse", {u: 28 if c == "cc" else 17 for u, c in lab.items()})
        return d, lab

    train, lab = make("train", 16, 0)
    test, _ = make("test", 6, 100)
    utts = sorted(lab)
    write_folds(train, {str(k): {"train": [u for j, u in enumerate(utts) if j % 4 != k],
                                 "test": [u for j, u in enumerate(utts) if j % 4 == k]} for k in range(4)})
    scp = write_embeddings(tmp_path / "emb" / "xvector", class_embeddings(lab, dim=4, separation=0.5))
    r = subprocess.run([sys.executable, "-m", "utter.bin.train_classifier", "--label-table", "utt2label",
                        "--folds-dir", str(train / "folds"), str(scp), str(train), str(tmp_path / "ac")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "text"
    r = subprocess.run([sys.executable, "-m", "utter.bin.train_text_classifier", "--folds-dir", str(train / "folds"),
                        "--test-data", str(test), "--mmse-table", "utt2mmse", "--vocab-size", "40",
                        "--audio-scores", str(tmp_path / "ac" / "scores"), str(train), str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "results.json").read_text())
    print({k: v.get("summary", v.get("RMSE")) for k, v in res.items() if isinstance(v, dict)})
    assert res["cv"]["pooled"]["WA"] >= 0.8 and res["test"]["WA"] >= 0.8
    assert res["mmse_cv"]["RMSE"] < 5.5 and res["mmse_test"]["n"] == 6
    assert res["fusion_cv"]["pooled"]["n"] == 16 and all(0 <= w <= 1 for w in res["fusion_cv"]["text_weights"])
