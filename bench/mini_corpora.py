"""Build the mini corpora (timed) and measure that their tasks are learnable but not trivial.

Features are per-utterance mean and standard deviation of 80-dim Kaldi fbank (no CMN, no VAD)
from ``utter.data.features.compute_fbank``. Measures:
  1. trivial: cosine of the raw mean+std vectors on the mini VoxCeleb1-O trials (EER, want >= 15%);
     also reported after subtracting the VoxCeleb2-dev mean;
  2. supervised: LDA + two-covariance PLDA trained on the mini VoxCeleb2-dev speakers (EER, want
     <= half of 1);
  3. same-session (same video) target trials score higher on average than cross-session ones;
  4. IEMOCAP 4-class (leave one session out) and ADReSS cc/cd (leave one speaker out on train,
     and train -> test) logistic regression on mean+std fbank: UA above chance, below 90%.

Usage: tools/venv/bin/python bench/mini_corpora.py [--scale 1] [--seed 777] [--outdir DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.linalg import eigh
from scipy.signal import resample_poly

from utter.backend.classifiers import LogisticRegression
from utter.data.corpora import adress as adress_prep
from utter.data.corpora import iemocap as iemocap_prep
from utter.data.corpora.voxceleb import read_trials
from utter.data.features import compute_fbank
from utter.data.options import FbankOptions
from utter.sim.build import CORPORA, build
from utter.sim.build_tools import BuildConfig


def eer(scores: np.ndarray, labels: np.ndarray) -> float:
    """Equal error rate (fraction); ``utter.metrics.verification.compute_eer`` when present."""
    try:
        from utter.metrics.verification import compute_eer
    except ImportError:
        compute_eer = None
    if compute_eer is not None:
        v = compute_eer(scores, labels)
        v = float(v[0] if isinstance(v, tuple) else v)
        return v / 100 if v > 1 else v
    order = np.argsort(scores)
    lab = labels[order].astype(float)
    frr = np.cumsum(lab) / lab.sum()  # targets at or below the threshold
    far = 1 - np.cumsum(1 - lab) / (1 - lab).sum()
    i = int(np.argmin(np.abs(frr - far)))
    return float((frr[i] + far[i]) / 2)


def stats(path: Path) -> np.ndarray:
    x, fs = sf.read(str(path), dtype="float32")
    x = x * 32768.0
    if fs != 16000:
        x = resample_poly(x, 160, fs // 100).astype(np.float32)
    feats, _ = compute_fbank(x, 16000, FbankOptions(dither=0.0), path.stem)
    return np.concatenate([feats.mean(0), feats.std(0)])


def lda(x: np.ndarray, y: np.ndarray, dim: int) -> np.ndarray:
    mu = x.mean(0)
    classes = np.unique(y)
    sw = np.zeros((x.shape[1],) * 2)
    sb = np.zeros_like(sw)
    for c in classes:
        xc = x[y == c]
        m = xc.mean(0)
        sw += (xc - m).T @ (xc - m)
        sb += len(xc) * np.outer(m - mu, m - mu)
    sw = sw / len(x) + 1e-6 * np.eye(len(sw)) * np.trace(sw) / len(x)
    vals, vecs = eigh(sb / len(x), sw)
    return vecs[:, ::-1][:, :dim]


class PLDA:
    """Two-covariance PLDA (between B, within W), trials scored by the exact log-likelihood ratio."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> PLDA:
        self.mu = x.mean(0)
        x = x - self.mu
        classes = np.unique(y)
        means = np.stack([x[y == c].mean(0) for c in classes])
        counts = np.array([(y == c).sum() for c in classes])
        w = sum((x[y == c] - m).T @ (x[y == c] - m) for c, m in zip(classes, means)) / len(x)
        b = (means * counts[:, None]).T @ means / counts.sum()
        d = len(w)
        tot = b + w
        same = np.block([[tot, b], [b, tot]])
        diff = np.block([[tot, np.zeros((d, d))], [np.zeros((d, d)), tot]])
        self.q = np.linalg.inv(diff) - np.linalg.inv(same)
        self.const = 0.5 * (np.linalg.slogdet(diff)[1] - np.linalg.slogdet(same)[1])
        return self

    def score(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        z = np.concatenate([a - self.mu, b - self.mu], axis=1)
        return 0.5 * np.einsum("ij,jk,ik->i", z, self.q, z) + self.const


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def ua(y_true: list[str], y_pred: list[str]) -> float:
    labels = sorted(set(y_true))
    return float(np.mean([np.mean([p == c for t, p in zip(y_true, y_pred) if t == c]) for c in labels]))


def verification(root: Path) -> dict:
    v1, v2 = root / "voxceleb1", root / "voxceleb2" / "dev" / "aac"
    trials = read_trials(v1 / "veri_test2.txt")
    utts = sorted({u for t in trials for u in t[:2]})

    def path_of(base: Path, u: str) -> Path:
        spk, rest = u.split("-", 1)
        video, num = rest.rsplit("-", 1)
        return base / spk / video / f"{num}.wav"

    test = {u: stats(path_of(v1 / "wav", u)) for u in utts}
    train_paths = sorted(v2.glob("id*/*/*.wav"))
    xtr = np.stack([stats(p) for p in train_paths])
    ytr = np.array([p.parts[-3] for p in train_paths])
    a = np.stack([test[t[0]] for t in trials])
    b = np.stack([test[t[1]] for t in trials])
    lab = np.array([t[2] == "target" for t in trials])
    same_video = np.array([t[0].split("-")[1] == t[1].split("-")[1] for t in trials])
    out = {"trials": len(trials), "targets": int(lab.sum()), "same_session_targets": int((lab & same_video).sum())}
    raw = np.sum(unit(a) * unit(b), 1)
    m = xtr.mean(0)
    centred = np.sum(unit(a - m) * unit(b - m), 1)
    out["eer_cosine_raw"] = eer(raw, lab)
    out["eer_cosine_centred"] = eer(centred, lab)
    sd = xtr.std(0) + 1e-6
    z = (xtr - m) / sd
    dim = min(len(np.unique(ytr)) - 1, 40)
    proj = lda(z, ytr, dim)

    def emb(x: np.ndarray) -> np.ndarray:
        e = ((x - m) / sd) @ proj
        return unit(e - etr_mean) * np.sqrt(dim)

    etr_mean = 0.0
    etr_mean = (z @ proj).mean(0)
    plda = PLDA().fit(emb(xtr), ytr)
    sc = plda.score(emb(a), emb(b))
    out["eer_lda_plda"] = eer(sc, lab)
    for name, s in (("cosine_raw", raw), ("cosine_centred", centred), ("plda", sc)):
        out[f"{name}_target_same_session_mean"] = float(s[lab & same_video].mean())
        out[f"{name}_target_cross_session_mean"] = float(s[lab & ~same_video].mean())
        out[f"{name}_nontarget_mean"] = float(s[~lab].mean())
    return out


def emotion(root: Path) -> dict:
    records, wavs, _ = iemocap_prep.read_corpus(root / "IEMOCAP_full_release")
    recs = [r for r in records if r.label in iemocap_prep.FOUR_CLASS]
    x = np.stack([stats(wavs[r.utt]) for r in recs])
    y = [iemocap_prep.FOUR_CLASS[r.label] for r in recs]
    sess = np.array([r.session for r in recs])
    pred = [""] * len(y)
    for s in np.unique(sess):
        tr, te = sess != s, sess == s
        clf = LogisticRegression(c=0.1).fit(x[tr], [y[i] for i in np.flatnonzero(tr)])
        for i, p in zip(np.flatnonzero(te), clf.predict(x[te])):
            pred[i] = p
    return {"utterances": len(y), "ua": ua(y, pred), "wa": float(np.mean([a == b for a, b in zip(y, pred)])),
            "chance_ua": 0.25}


def alzheimer(root: Path) -> dict:
    base = root / "ADReSS-IS2020-data"
    train = adress_prep.read_train(base)
    test, _ = adress_prep.read_test(base, None)
    xtr = np.stack([stats(s.wav) for s in train])
    ytr = [s.label for s in train]
    pred = []
    for i in range(len(train)):
        keep = [j for j in range(len(train)) if j != i]
        clf = LogisticRegression(c=0.1).fit(xtr[keep], [ytr[j] for j in keep])
        pred.append(clf.predict(xtr[i:i + 1])[0])
    xte = np.stack([stats(s.wav) for s in test])
    yte = [s.label for s in test]
    pte = LogisticRegression(c=0.1).fit(xtr, ytr).predict(xte)
    return {"train_speakers": len(train), "loso_ua": ua(ytr, pred), "test_ua": ua(yte, list(pte)), "chance_ua": 0.5}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--nj", type=int, default=2)
    p.add_argument("--outdir", default=None, help="build here (kept); default: a temporary directory")
    p.add_argument("--skip", default="", help="comma-separated measures to skip: verification,emotion,alzheimer")
    args = p.parse_args(argv)
    tmp = None
    if args.outdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="mini_corpora_")
        args.outdir = tmp.name
    root = Path(args.outdir)
    skip = set(args.skip.split(","))
    needs = {"verification": "voxceleb", "emotion": "iemocap", "alzheimer": "adress"}
    only = [c for c in CORPORA if c not in {needs[s] for s in skip if s in needs}]
    t0 = time.time()
    times = build(BuildConfig(outdir=root, seed=args.seed, scale=args.scale), only=only, nj=args.nj,
                  overwrite=tmp is not None)
    result: dict = {"build_seconds": round(time.time() - t0, 1), "per_corpus_seconds": times, "scale": args.scale,
                    "seed": args.seed, "nj": args.nj}
    for name, fn in (("verification", verification), ("emotion", emotion), ("alzheimer", alzheimer)):
        if name not in skip:
            t = time.time()
            result[name] = fn(root)
            print(f"{name}: {time.time() - t:.1f} s", file=sys.stderr)
    print(json.dumps(result, indent=1))
    v = result.get("verification")
    if v:
        print(f"trivial cosine EER {100 * v['eer_cosine_raw']:.1f}% (centred {100 * v['eer_cosine_centred']:.1f}%), "
              f"LDA+PLDA EER {100 * v['eer_lda_plda']:.1f}%; PLDA target mean same-session "
              f"{v['plda_target_same_session_mean']:.2f} vs cross-session {v['plda_target_cross_session_mean']:.2f}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
