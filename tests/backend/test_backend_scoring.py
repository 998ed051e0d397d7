"""Back-ends against independent references: scipy Gaussians for PLDA, scipy eigh for LDA,
the S-norm/AS-norm formulas computed naively, closed-form Gaussian calibration."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.linalg
from scipy.stats import multivariate_normal as mvn

from utter.backend.calibration import LinearCalibration
from utter.backend.cosine import CosineScorer
from utter.backend.io import MissingEmbeddingError, Trials
from utter.backend.lda import LDA
from utter.backend.norm import cohort_embeddings, normalize_scores
from utter.backend.plda import PLDA, fit_plda, make_preprocessing
from utter.backend.scorers import SCORERS, load_scorer, scorer_label
from utter.backend.scoring import index_trials, score_trials, trial_dot
from utter.metrics.verification import compute_cllr, compute_min_cllr


def toy_speakers(rng, n_spk=60, dim=5, per=(2, 7), scale_b=1.0):
    a = rng.normal(size=(dim, dim))
    b = scale_b * (a @ a.T / dim + 0.2 * np.eye(dim))
    c = rng.normal(size=(dim, dim))
    w = c @ c.T / dim + 0.3 * np.eye(dim)
    mu = rng.normal(size=dim)
    counts = rng.integers(per[0], per[1] + 1, n_spk)
    spk = np.repeat(np.arange(n_spk), counts)
    y = rng.multivariate_normal(mu, b, n_spk)[spk]
    x = y + rng.multivariate_normal(np.zeros(dim), w, len(spk))
    return x, spk, (mu, b, w)


def direct_llr(enrol, test, mu, b, w):
    """log N(stacked same-speaker) - log N(enrolment stack) - log N(test), via scipy."""
    n, d = enrol.shape
    same = np.kron(np.ones((n + 1, n + 1)), b) + np.kron(np.eye(n + 1), w)
    enr = np.kron(np.ones((n, n)), b) + np.kron(np.eye(n), w)
    return (mvn.logpdf(np.concatenate([enrol.ravel(), test]), np.tile(mu, n + 1), same)
            - mvn.logpdf(enrol.ravel(), np.tile(mu, n), enr) - mvn.logpdf(test, mu, b + w))


@pytest.mark.parametrize("rank_b", [4, 2])   # full-rank B, and a rank-2 B as simplified PLDA
def test_plda_llr_matches_direct_gaussians(rank_b):
    rng = np.random.default_rng(rank_b)
    d = 4
    v = rng.normal(size=(d, rank_b))
    b = v @ v.T + (0.1 * np.eye(d) if rank_b == d else 0)
    c = rng.normal(size=(d, d))
    w = c @ c.T + 0.5 * np.eye(d)
    mu = rng.normal(size=d)
    model = PLDA(mu, b, w)
    emb = rng.normal(size=(9, d))
    groups = [np.array([0]), np.array([1, 2, 3]), np.array([4, 5])]   # single and multi-session models
    tests = emb[6:]
    ms, ts = model.model_side(emb, groups), model.test_side(tests)
    mi, ti = np.repeat(np.arange(3), 3), np.tile(np.arange(3), 3)
    got = model.score(ms, ts, mi, ti)
    want = [direct_llr(emb[groups[m]], tests[t], mu, b, w) for m, t in zip(mi, ti)]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(model.score_matrix(ms, ts).ravel(), want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("model_type", ["two-cov", "simplified"])
def test_plda_em_loglik_non_decreasing_and_recovers(model_type):
    rng = np.random.default_rng(0)
    x, spk, (mu, b, w) = toy_speakers(rng, n_spk=400, dim=4)
    plda = fit_plda(x, spk, model_type, rank=4, num_iters=15)
    ll = np.array(plda.log_likelihoods)
    assert len(ll) == 16 and np.all(np.diff(ll) >= -1e-8 * abs(ll[0]))
    assert ll[-1] > ll[0]
    np.testing.assert_allclose(plda.within, w, atol=0.15)
    np.testing.assert_allclose(plda.between, b, atol=0.4)


def test_plda_pipeline_save_load_and_errors(tmp_path, caplog):
    rng = np.random.default_rng(1)
    x, spk, _ = toy_speakers(rng, n_spk=50, dim=8)
    with caplog.at_level(logging.WARNING):
        plda = fit_plda(x, spk, "simplified", rank=3, num_iters=3, pre=make_preprocessing(lda_dim=100))
    assert "clamped to 8" in caplog.text
    plda.save(tmp_path / "plda.npz")
    back = load_scorer(tmp_path / "plda.npz")
    assert isinstance(back, PLDA) and back.model_type == "simplified"
    ids = [f"u{i}" for i in range(len(x))]
    trials = Trials(ids[:20], ids[20:40])
    np.testing.assert_allclose(score_trials(back, trials, ids, x), score_trials(plda, trials, ids, x))
    with pytest.raises(ValueError, match="dimension 7 but the model expects 8"):
        plda.test_side(x[:, :7])
    # one utterance per speaker: singular within-class covariance, with the set described
    with pytest.raises(ValueError, match=r"my set: within-class covariance is singular.*"
                                         r"utterances per speaker min 1 mean 1.0 max 1"):
        fit_plda(x[:30], np.arange(30), what="my set")
    with pytest.raises(ValueError, match="rank"):
        fit_plda(x, spk, "simplified", rank=20)


def test_plda_scores_550_trials_vectorised_equal_loop():
    rng = np.random.default_rng(2)
    x, spk, _ = toy_speakers(rng, n_spk=30, dim=6)
    plda = fit_plda(x, spk, num_iters=2)
    ids = [f"u{i}" for i in range(len(x))]
    e, t = rng.integers(0, len(x), 550), rng.integers(0, len(x), 550)
    trials = Trials([ids[i] for i in e], [ids[i] for i in t])
    got = score_trials(plda, trials, ids, x)
    want = [plda.score(plda.model_side(x[[i]]), plda.test_side(x[[j]]), [0], [0])[0] for i, j in zip(e, t)]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_trial_dot_both_paths():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(40, 5)), rng.normal(size=(30, 5))
    for n in (10, 5000):   # sparse (gather) and dense (blocked GEMM) cases
        ia, ib = rng.integers(0, 40, n), rng.integers(0, 30, n)
        np.testing.assert_allclose(trial_dot(a, b, ia, ib, block=7), (a[ia] * b[ib]).sum(1))


def test_cosine_mean_whitening_multisession_and_save(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(50, 4)) + 3
    train = rng.normal(size=(200, 4)) * [1, 2, 3, 4] + 3
    ids = [f"u{i}" for i in range(50)]
    for whiten in (False, True):
        sc = CosineScorer().fit(train, subtract_mean=True, whiten=whiten)
        z = x - train.mean(0)
        if whiten:
            cov = np.cov(train, rowvar=False, bias=True)
            ev, evec = np.linalg.eigh(cov)
            z = z @ evec @ np.diag(ev ** -0.5) @ evec.T
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        trials = Trials(["spkA", "spkB"], ["u7", "u8"])
        enrol = {"spkA": ["u0", "u1", "u2"], "spkB": ["u3"]}
        got = score_trials(sc, trials, ids, x, enrollment=enrol)
        ma = z[:3].mean(0)
        want = [ma @ z[7] / np.linalg.norm(ma), z[3] @ z[8]]
        np.testing.assert_allclose(got, want)
        sc.save(tmp_path / "cos.npz")
        np.testing.assert_allclose(score_trials(load_scorer(tmp_path / "cos.npz"), trials, ids, x,
                                                enrollment=enrol), want)
    plain = CosineScorer()   # no training set: raw cosine
    np.testing.assert_allclose(score_trials(plain, Trials(["u0"], ["u1"]), ids, x),
                               [x[0] @ x[1] / np.linalg.norm(x[0]) / np.linalg.norm(x[1])])


def test_missing_embeddings_named_and_counted():
    ids = ["a", "b"]
    trials = Trials(["a", "x1", "x2", "a"], ["x3", "b", "b", "x4"])
    with pytest.raises(MissingEmbeddingError, match=r"4 utterances have no embedding \(first: x1, x2, x3, x4\)"):
        index_trials(trials, ids, ids)
    with pytest.raises(ValueError, match="not in the enrolment file"):
        index_trials(Trials(["m"], ["a"]), ids, ids, enrollment={"n": ["a"]})
    with pytest.raises(MissingEmbeddingError, match="1 utterances.*zz"):
        index_trials(Trials(["m"], ["a"]), ids, ids, enrollment={"m": ["a", "zz"]})


def test_lda_matches_scipy_generalized_eigenproblem(caplog):
    rng = np.random.default_rng(5)
    x, spk, _ = toy_speakers(rng, n_spk=12, dim=6)
    lda = LDA(3).fit(x, spk)
    # naive scatter matrices, loop over speakers
    mean = x.mean(0)
    sw, sb = np.zeros((6, 6)), np.zeros((6, 6))
    for s in np.unique(spk):
        xs = x[spk == s]
        sw += (xs - xs.mean(0)).T @ (xs - xs.mean(0))
        sb += len(xs) * np.outer(xs.mean(0) - mean, xs.mean(0) - mean)
    ev, evec = scipy.linalg.eigh(sb / len(x), sw / len(x))
    want = evec[:, ::-1][:, :3]
    np.testing.assert_allclose(lda.eigenvalues, ev[::-1][:3])
    signs = np.sign((lda.matrix * want).sum(0))
    np.testing.assert_allclose(lda.matrix * signs, want, atol=1e-8)
    np.testing.assert_allclose(lda.transform(x), (x - mean) @ lda.matrix)
    with caplog.at_level(logging.WARNING):
        assert LDA(200).fit(x, spk).dim_out == 6 and "clamped to 6" in caplog.text
        assert LDA(200).fit(x[spk < 3], spk[spk < 3]).dim_out == 2


def test_lda_save_load(tmp_path):
    rng = np.random.default_rng(6)
    x, spk, _ = toy_speakers(rng, n_spk=10, dim=4)
    lda = LDA(2).fit(x, spk)
    lda.save(tmp_path / "lda.npz")
    np.testing.assert_allclose(LDA.load(tmp_path / "lda.npz").transform(x), lda.transform(x))
    with pytest.raises(ValueError, match="'lda' model, expected plda"):
        PLDA.load(tmp_path / "lda.npz")


@pytest.mark.parametrize("method,top_n", [("snorm", None), ("asnorm", 4), ("asnorm", 1000)])
def test_score_normalisation_against_formula(method, top_n, caplog):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(20, 5))
    ids = [f"u{i}" for i in range(20)]
    cohort_utt2spk = {f"c{i}": f"s{i // 2}" for i in range(16)}
    cx = rng.normal(size=(16, 5))
    spk_ids, cohort = cohort_embeddings(list(cohort_utt2spk), cx, cohort_utt2spk)
    assert spk_ids == [f"s{i}" for i in range(8)]
    np.testing.assert_allclose(cohort[1], cx[2:4].mean(0))
    sc = CosineScorer()
    trials = Trials([ids[i] for i in range(10)], [ids[i] for i in range(10, 20)])
    idx = index_trials(trials, ids, ids)
    models, tests = sc.model_side(x, idx.groups), sc.test_side(x[idx.test_rows])
    raw = sc.score(models, tests, idx.mi, idx.ti)
    with caplog.at_level(logging.WARNING):
        got = normalize_scores(sc, models, tests, len(idx.groups), len(idx.test_rows), cohort, raw,
                               idx.mi, idx.ti, method, top_n or 300)
    if top_n == 1000:
        assert "clamped to the cohort size 8" in caplog.text

    def cos(a, b):
        return a @ b / np.linalg.norm(a) / np.linalg.norm(b)

    n = 8 if top_n is None else min(top_n, 8)
    for k in range(10):
        e, t = x[k], x[10 + k]
        se = sorted((cos(e, c) for c in cohort), reverse=True)[:n]
        st = sorted((cos(c, t) for c in cohort), reverse=True)[:n]
        s = cos(e, t)
        want = 0.5 * ((s - np.mean(se)) / np.std(se) + (s - np.mean(st)) / np.std(st))
        assert got[k] == pytest.approx(want, rel=1e-9)


def test_asnorm_with_plda_multisession_matches_formula():
    rng = np.random.default_rng(8)
    x, spk, _ = toy_speakers(rng, n_spk=20, dim=3)
    plda = fit_plda(x, spk, num_iters=2)
    cohort = rng.normal(size=(6, 3))
    groups = [np.array([0, 1]), np.array([2])]
    models, tests = plda.model_side(x, groups), plda.test_side(x[5:8])
    mi, ti = np.array([0, 1, 0]), np.array([0, 1, 2])
    raw = plda.score(models, tests, mi, ti)
    got = normalize_scores(plda, models, tests, 2, 3, cohort, raw, mi, ti, "asnorm", 3)

    def llr(enrol_rows, test_vec):
        return plda.score(plda.model_side(enrol_rows, [np.arange(len(enrol_rows))]),
                          plda.test_side(test_vec[None]), [0], [0])[0]

    for k in range(3):
        enrol = x[groups[mi[k]]]
        tv = x[5 + ti[k]]
        se = np.sort([llr(enrol, c) for c in cohort])[-3:]
        st = np.sort([llr(c[None], tv) for c in cohort])[-3:]
        want = 0.5 * ((raw[k] - se.mean()) / se.std() + (raw[k] - st.mean()) / st.std())
        assert got[k] == pytest.approx(want, rel=1e-9)


def test_calibration_reaches_min_cllr_and_gaussian_closed_form(tmp_path):
    rng = np.random.default_rng(9)
    # raw scores: targets N(5, 2^2), nontargets N(1, 2^2) -> true llr = a s + b with
    # a = (5 - 1) / 4 = 1, b = -(25 - 1) / 8 = -3
    tar, non = rng.normal(5, 2, 20000), rng.normal(1, 2, 20000)
    s = np.concatenate([tar, non])
    lab = np.concatenate([np.ones(len(tar), bool), np.zeros(len(non), bool)])
    cal = LinearCalibration().fit(s, lab)
    assert cal.weights[0] == pytest.approx(1.0, abs=0.05) and cal.bias == pytest.approx(-3.0, abs=0.1)
    llr = cal(s)
    assert compute_cllr(s, lab) - compute_min_cllr(s, lab) > 0.3      # raw scores are badly calibrated
    assert compute_cllr(llr, lab) - compute_min_cllr(llr, lab) < 0.05
    cal.save(tmp_path / "cal.npz")
    np.testing.assert_allclose(LinearCalibration.load(tmp_path / "cal.npz")(s), llr)


def test_calibration_with_quality_measures_and_errors():
    rng = np.random.default_rng(10)
    n = 20000
    lab = rng.random(n) < 0.5
    q = rng.uniform(0, 2, size=(n, 1))                  # quality shifts the scores of both classes
    s = np.where(lab, 1.0, -1.0) + 3 * q[:, 0] + rng.normal(size=n)
    with_q = LinearCalibration().fit(s, lab, q)
    # true llr: 2 (s - 3 q): the fit recovers it, and beats calibration without q
    assert with_q.weights == pytest.approx([2.0, -6.0], rel=0.05) and abs(with_q.bias) < 0.15
    assert compute_cllr(with_q(s, q), lab) < compute_cllr(LinearCalibration().fit(s, lab)(s), lab) - 0.1
    assert LinearCalibration().fit(s, lab, q, prior=0.1).prior == 0.1
    with pytest.raises(ValueError, match="quality measures"):
        with_q(s)
    with pytest.raises(ValueError, match="target and nontarget"):
        LinearCalibration().fit(s, np.ones(n, bool))
    with pytest.raises(ValueError, match="prior"):
        LinearCalibration().fit(s, lab, prior=1.0)


def test_scorer_registry_names_labels_and_loaders(tmp_path):
    """The registry is what the recipes and RESULTS.md read: the three back-ends in the published
    table's order (cosine, PLDA, AS-norm: the DINO paper's Table), a loader for each saved model, and a
    saved model of a kind without a loader (a classifier) refused with its file named."""
    assert list(SCORERS) == ["cosine", "plda", "asnorm"]
    assert [scorer_label(n) for n in SCORERS] == ["cosine", "PLDA", "AS-norm"]
    assert scorer_label("fusion") == "fusion"
    assert SCORERS["asnorm"].load is None
    from utter.backend.io import save_npz
    save_npz(tmp_path / "other.npz", "svm", {"w": np.zeros(2)})
    with pytest.raises(ValueError, match=r"other.npz: a 'svm' model, expected cosine or plda"):
        load_scorer(tmp_path / "other.npz")


def test_scorers_program_lists_the_registry():
    """``python -m utter.bin.scorers`` prints the registry's names, space-separated (what run.sh reads)."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "utter.bin.scorers"], capture_output=True, text=True, check=True)
    assert out.stdout.split() == list(SCORERS)
