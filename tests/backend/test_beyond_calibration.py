"""Quality-aware calibration: quality vectors against a brute-force cosine/top-N computation, and on a
toy set whose scores grow less reliable as utterances get shorter, the quality-aware model beats
score-only calibration on held-out trials (Cllr and actual DCF), through the steps script.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from utter.backend.cosine import CosineScorer
from utter.backend.quality import FEATURES, QualityCalibration, trial_quality_vectors

DIM = 24


def toy_side(rng, prefix: str, num_spk: int, per_spk: int, centres: np.ndarray):
    """Utterances whose embedding noise grows as duration shrinks (sigma 1.5 / seconds)."""
    emb, dur, spk = {}, {}, {}
    for s in range(num_spk):
        for u in range(per_spk):
            utt = f"{prefix}{s:03d}-{u}"
            d = float(np.exp(rng.uniform(np.log(0.5), np.log(30.0))))
            emb[utt] = centres[s] + rng.normal(0, 1.5 / d, DIM)
            dur[utt], spk[utt] = d, s
    return emb, dur, spk


def toy_trials(rng, spk: dict, n: int) -> list[tuple[str, str, bool]]:
    utts = sorted(spk)
    out = []
    for _ in range(n):
        e, t = rng.choice(len(utts), 2, replace=False)
        out.append((utts[e], utts[t], spk[utts[e]] == spk[utts[t]]))
    by = {}
    for u in utts:
        by.setdefault(spk[u], []).append(u)
    for us in by.values():  # every same-speaker pair as a target trial
        out += [(a, b, True) for i, a in enumerate(us) for b in us[i + 1:]]
    return out


def test_quality_vectors_match_brute_force():
    rng = np.random.default_rng(0)
    emb = {f"u{i}": rng.normal(size=DIM) for i in range(5)}
    dur = {f"u{i}": 1.0 + i for i in range(5)}
    cohort = rng.normal(size=(12, DIM))
    q = trial_quality_vectors(["u0", "u3"], ["u1", "u4"], emb, dur, cohort, CosineScorer(), top_n=4)
    assert q.shape == (2, len(FEATURES))

    def stats(u):
        c = sorted((emb[u] @ r / np.linalg.norm(emb[u]) / np.linalg.norm(r) for r in cohort), reverse=True)[:4]
        return np.mean(c), np.std(c)

    for k, (e, t) in enumerate([("u0", "u1"), ("u3", "u4")]):
        expect = [np.log(dur[e]), np.log(dur[t]), *stats(e), *stats(t)]
        np.testing.assert_allclose(q[k], expect, rtol=1e-10)
    with pytest.raises(ValueError, match="no duration"):
        trial_quality_vectors(["u0"], ["x9"], {**emb, "x9": emb["u0"]}, dur, cohort, CosineScorer())


def write_side(d: Path, emb: dict, dur: dict, trials: list, scorer: CosineScorer):
    import kaldiio

    d.mkdir()
    kaldiio.save_ark(str(d / "x.ark"), {k: v.astype(np.float32) for k, v in emb.items()}, scp=str(d / "xvector.scp"))
    (d / "utt2dur").write_text("".join(f"{u} {dur[u]:.3f}\n" for u in sorted(dur)))
    (d / "trials").write_text("".join(f"{e} {t} {'target' if y else 'nontarget'}\n" for e, t, y in trials))
    s = [float(scorer.test_side(emb[e][None])[0] @ scorer.test_side(emb[t][None])[0]) for e, t, _ in trials]
    (d / "scores").write_text("".join(f"{e} {t} {v:.6f}\n" for (e, t, _), v in zip(trials, s)))


def test_quality_calibration_beats_score_only(tmp_path, root, shell_env):
    import kaldiio

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(160, DIM))
    scorer = CosineScorer()
    cal_emb, cal_dur, cal_spk = toy_side(rng, "cal", 40, 6, centres[:40])
    ev_emb, ev_dur, ev_spk = toy_side(rng, "ev", 40, 6, centres[40:80])
    write_side(tmp_path / "cal", cal_emb, cal_dur, toy_trials(rng, cal_spk, 3000), scorer)
    write_side(tmp_path / "ev", ev_emb, ev_dur, toy_trials(rng, ev_spk, 3000), scorer)
    kaldiio.save_ark(str(tmp_path / "cohort.ark"), {f"c{i:03d}": c.astype(np.float32) for i, c in
                                                   enumerate(centres[80:])}, scp=str(tmp_path / "cohort.scp"))
    c, e = tmp_path / "cal", tmp_path / "ev"
    r = subprocess.run([str(root / "steps/train_quality_calibration.sh"), "--top-n", "20",
                        str(c / "scores"), str(c / "trials"), str(c / "xvector.scp"), str(c),
                        str(tmp_path / "cohort.scp"),
                        str(tmp_path / "qcal"), str(e / "scores"), str(e / "trials"), str(e / "xvector.scp"), str(e),
                        str(tmp_path / "ev_llr")], env=shell_env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout
    figs = json.loads((tmp_path / "ev_llr.json").read_text())
    before, after = figs["score_only"], figs["quality"]
    assert after["cllr"] < 0.9 * before["cllr"], figs
    assert after["act_dcf_0.5"] < before["act_dcf_0.5"]  # the prior the calibration is trained at
    assert after["cllr"] >= after["min_cllr"] - 1e-9 and before["cllr"] < figs["raw"]["cllr"]
    model = QualityCalibration.load(tmp_path / "qcal/quality_calibration.npz")
    assert model.top_n == 20 and set(model.weights()) == {"score", *FEATURES}
    assert len((tmp_path / "ev_llr").read_text().splitlines()) == len((e / "trials").read_text().splitlines())
