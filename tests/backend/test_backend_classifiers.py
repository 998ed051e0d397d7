"""Frozen-embedding classifiers: optimality checked against objectives written here from the
formulas (per-sample loops, numerical gradients), ridge against numpy's least squares."""
import numpy as np
import pytest
from scipy.optimize import approx_fprime

from utter.backend.classifiers import (
    CLASSIFIER_KINDS,
    CosineClassMeans,
    EmbeddingClassifier,
    LinearSVM,
    LogisticRegression,
    PLDAClassifier,
    RidgeRegression,
    build_classifier,
    class_weights,
)


def _blobs(rng, n_per=(40, 25, 15), dim=5, sep=2.0):
    centres = rng.normal(size=(len(n_per), dim)) * sep
    x = np.concatenate([c + rng.normal(size=(n, dim)) for c, n in zip(centres, n_per)])
    y = np.concatenate([[f"c{i}"] * n for i, n in enumerate(n_per)])
    return x * 3.0 + 1.0, y  # unscaled, offset: the standardiser has work to do


def _standardise(model, x):
    return (x - model.params["mean"]) / model.params["scale"]


def _logreg_objective(theta, z, yi, w, k):
    """C·Σ_i w_i·(−log softmax(z_i W + b)[y_i]) + ½‖W‖², one sample at a time."""
    d = z.shape[1]
    weights, bias = theta[: d * k].reshape(d, k), theta[d * k:]
    total = 0.5 * np.sum(weights**2)
    for zi, yi_, wi in zip(z, yi, w):
        a = zi @ weights + bias
        total += wi * (np.log(np.sum(np.exp(a - a.max()))) + a.max() - a[yi_])
    return total


@pytest.mark.parametrize("balanced", [False, True])
def test_logreg_reaches_the_optimum_of_its_objective(balanced):
    rng = np.random.default_rng(0)
    x, y = _blobs(rng)
    model = LogisticRegression(c=0.5, balanced=balanced).fit(x, y)
    z = _standardise(model, x)
    yi = np.array([model.labels.index(c) for c in y])
    w = class_weights(yi, 3, balanced) * 0.5
    theta = np.concatenate([model.params["weights"].ravel(), model.params["bias"]])
    grad = approx_fprime(theta, _logreg_objective, 1e-6, z, yi, w, 3)
    assert np.abs(grad).max() < 1e-3
    # log-probabilities normalise, and the classifier separates these blobs
    assert np.allclose(np.exp(model.scores(x)).sum(1), 1.0)
    assert np.mean(np.array(model.predict(x)) == y) > 0.9


def _svm_objective(theta, z, yi, w, k):
    d = z.shape[1]
    weights, bias = theta[: d * k].reshape(d, k), theta[d * k:]
    total = 0.5 * np.sum(weights**2)
    for zi, yi_, wi in zip(z, yi, w):
        for c in range(k):
            t = 1.0 if c == yi_ else -1.0
            total += wi * max(0.0, 1.0 - t * (zi @ weights[:, c] + bias[c])) ** 2
    return total


def test_svm_reaches_the_optimum_of_its_objective():
    rng = np.random.default_rng(1)
    x, y = _blobs(rng, sep=1.0)
    model = LinearSVM(c=0.2, balanced=True).fit(x, y)
    z = _standardise(model, x)
    yi = np.array([model.labels.index(c) for c in y])
    w = class_weights(yi, 3, True) * 0.2
    theta = np.concatenate([model.params["weights"].ravel(), model.params["bias"]])
    f0 = _svm_objective(theta, z, yi, w, 3)
    grad = approx_fprime(theta, _svm_objective, 1e-6, z, yi, w, 3)
    assert np.abs(grad).max() < 1e-3 * max(1.0, f0)
    for _ in range(5):  # no random nearby point is better
        assert _svm_objective(theta + rng.normal(size=theta.shape) * 1e-2, z, yi, w, 3) >= f0 - 1e-9


def test_balanced_weights_equalise_recall_on_imbalanced_classes():
    rng = np.random.default_rng(2)
    x, y = _blobs(rng, n_per=(300, 20), dim=3, sep=0.6)
    recalls = {}
    for balanced in (False, True):
        pred = np.array(LogisticRegression(balanced=balanced).fit(x, y).predict(x))
        recalls[balanced] = np.mean(pred[y == "c1"] == "c1")
    assert recalls[True] > recalls[False]
    assert np.allclose(class_weights(np.array([0, 0, 0, 1]), 2, True), [4 / 6] * 3 + [2.0])


def test_cosine_class_means_against_a_loop():
    rng = np.random.default_rng(3)
    x, y = _blobs(rng)
    model = CosineClassMeans().fit(x, y)
    mean = x.mean(0)
    for row, s in zip(x[:10], model.scores(x[:10])):
        for ci, c in enumerate(model.labels):
            members = [(v - mean) / np.linalg.norm(v - mean) for v, lab in zip(x, y) if lab == c]
            m = np.mean(members, 0)
            q = row - mean
            assert s[ci] == pytest.approx(q @ m / (np.linalg.norm(q) * np.linalg.norm(m)))


def test_ridge_against_least_squares():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(50, 6)) * 4 + 2
    t = x @ rng.normal(size=6) + rng.normal(size=50) + 20
    model = RidgeRegression(alpha=3.0).fit(x, t)
    z = _standardise(model, x)
    # augmented least squares: [Z 1; sqrt(a) I 0] [w; b] ≈ [t; 0]
    a = np.block([[z, np.ones((50, 1))], [np.sqrt(3.0) * np.eye(6), np.zeros((6, 1))]])
    sol = np.linalg.lstsq(a, np.concatenate([t, np.zeros(6)]), rcond=None)[0]
    assert np.allclose(model.params["weights"], sol[:6])
    assert np.allclose(model.predict(x), z @ sol[:6] + sol[6])


@pytest.mark.parametrize("kind", ["logreg", "svm", "cosine", "ridge"])
def test_save_load_roundtrip(tmp_path, kind):
    rng = np.random.default_rng(5)
    x, y = _blobs(rng)
    target = rng.normal(size=len(x)) if kind == "ridge" else y
    model = build_classifier(kind).fit(x, target)
    model.save(tmp_path / "m.npz")
    again = EmbeddingClassifier.load(tmp_path / "m.npz")
    assert type(again) is type(model) and again.labels == model.labels
    assert np.array_equal(again.scores(x), model.scores(x))


def test_bad_inputs():
    rng = np.random.default_rng(6)
    x, y = _blobs(rng)
    model = LogisticRegression().fit(x, y)
    with pytest.raises(ValueError, match="dimension 4, the model expects 5"):
        model.predict(x[:, :4])
    with pytest.raises(ValueError, match="at least two classes"):
        LogisticRegression().fit(x, ["a"] * len(x))
    bad = x.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"1 embeddings are not finite \(first rows \[7\]\)"):
        LogisticRegression().fit(bad, y)
    with pytest.raises(ValueError, match="unknown classifier 'forest'"):
        build_classifier("forest")


def test_classifier_registry_builds_every_kind_with_its_options():
    """The one list of kinds (``--classifier`` choices, FrozenOptions): each name builds its class, PLDA
    included (once a special case outside the registry); the options FrozenOptions hands over reach the
    model (C for logreg/svm, alpha for ridge, lda_dim for PLDA), a grid value replaces the tuned one, and
    only ridge is a regressor."""
    from utter.transfer.frozen import FrozenOptions
    assert {n: k.cls for n, k in CLASSIFIER_KINDS.items()} == {
        "logreg": LogisticRegression, "svm": LinearSVM, "cosine": CosineClassMeans, "plda": PLDAClassifier,
        "ridge": RidgeRegression}
    assert [n for n, k in CLASSIFIER_KINDS.items() if k.regression] == ["ridge"]
    opts = dict(c=0.3, balanced=False, alpha=2.5, lda_dim=7, extra={})
    assert FrozenOptions("logreg", **opts).build().options == {"c": 0.3, "balanced": False, "max_iter": 1000}
    assert FrozenOptions("svm", **opts).build(5.0).options["c"] == 5.0
    assert FrozenOptions("ridge", **opts).build(4.0).options == {"alpha": 4.0}
    assert FrozenOptions("ridge", **opts).build().options == {"alpha": 2.5}
    assert FrozenOptions("plda", **opts).build().options["lda_dim"] == 7
    assert FrozenOptions("cosine", **opts).build().options == {}
    assert not FrozenOptions("plda").tuned and FrozenOptions("ridge").regression
