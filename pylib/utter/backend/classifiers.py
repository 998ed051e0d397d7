"""Classifiers and regressors on frozen utterance embeddings (numpy/scipy only).

Multinomial logistic regression and a one-vs-rest linear SVM (L2-regularised, squared
hinge, as liblinear's default) are fitted by L-BFGS on standardised inputs; cosine scoring
against class means needs no fitting; PLDA class scoring lets classes play the part of
speakers in a PLDA model; ridge regression predicts continuous targets (MMSE).
All share ``fit``/``scores``/``predict``/``save``/``load`` so a stage program can swap them
by name (:data:`CLASSIFIER_KINDS`, the one list of kinds), and every model saves to one npz file.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax

from utter.atomic import atomic_path
from utter.backend.io import read_npz
from utter.backend.pipeline import Pipeline
from utter.backend.plda import PLDA, fit_plda, make_preprocessing


def class_weights(y: np.ndarray, n_classes: int, balanced: bool) -> np.ndarray:
    """Per-sample weights; ``balanced`` gives class c the weight n / (C * n_c), as sklearn does."""
    if not balanced:
        return np.ones(len(y))
    counts = np.bincount(y, minlength=n_classes).astype(float)
    if np.any(counts == 0):
        missing = np.flatnonzero(counts == 0)
        raise ValueError(f"class indices {missing.tolist()} have no training sample")
    return (len(y) / (n_classes * counts))[y]


class _Standardiser:
    """z-scores each input dimension with the training mean and standard deviation."""

    def __init__(self, mean: np.ndarray | None = None, scale: np.ndarray | None = None):
        self.mean, self.scale = mean, scale

    def fit(self, x: np.ndarray) -> _Standardiser:
        self.mean = x.mean(0)
        sd = x.std(0)
        self.scale = np.where(sd > 1e-12, sd, 1.0)
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.scale


def _check_matrix(x: np.ndarray, dim: int | None, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{what}: expected a 2-D matrix of embeddings, got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{what}: embeddings have dimension {x.shape[1]}, the model expects {dim}")
    if not np.all(np.isfinite(x)):
        bad = np.flatnonzero(~np.all(np.isfinite(x), axis=1))
        raise ValueError(f"{what}: {len(bad)} embeddings are not finite (first rows {bad[:5].tolist()})")
    return x


class EmbeddingClassifier:
    """Common label handling, validation and npz persistence for the classifiers below."""

    kind = "base"

    def __init__(self, **options):
        self.options = options
        self.labels: list[str] = []
        self.params: dict[str, np.ndarray] = {}

    # -- labels -------------------------------------------------------------
    def _encode(self, y: Sequence[str]) -> np.ndarray:
        self.labels = sorted(set(y))
        if len(self.labels) < 2:
            raise ValueError(f"need at least two classes to train a classifier, got {self.labels}")
        index = {c: i for i, c in enumerate(self.labels)}
        return np.array([index[c] for c in y])

    @property
    def dim(self) -> int | None:
        mean = self.params.get("mean")
        return None if mean is None else int(mean.shape[0])

    def predict(self, x: np.ndarray) -> list[str]:
        s = self.scores(x)
        return [self.labels[i] for i in s.argmax(1)]

    def scores(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- persistence ----------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        meta = json.dumps({"kind": self.kind, "labels": self.labels, "options": self.options})
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, _meta=np.array(meta), **self.params)

    @staticmethod
    def load(path: str | os.PathLike) -> EmbeddingClassifier:
        meta, params = read_npz(path, "classifier model")
        try:
            model = build_classifier(meta["kind"], **meta["options"])
        except ValueError:
            raise ValueError(f"{path}: unknown model kind '{meta['kind']}'") from None
        model.labels, model.params = meta["labels"], params
        return model


class LogisticRegression(EmbeddingClassifier):
    """Multinomial logistic regression: minimises C·Σ w_i CE_i + ½‖W‖² (bias unpenalised)."""

    kind = "logreg"

    def __init__(self, c: float = 1.0, balanced: bool = True, max_iter: int = 1000):
        super().__init__(c=c, balanced=balanced, max_iter=max_iter)

    def fit(self, x: np.ndarray, y: Sequence[str]) -> LogisticRegression:
        x = _check_matrix(x, None, "logistic regression training set")
        yi = self._encode(y)
        std = _Standardiser().fit(x)
        z = std(x)
        n, d = z.shape
        k = len(self.labels)
        w = class_weights(yi, k, self.options["balanced"]) * self.options["c"]
        onehot = np.eye(k)[yi]

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            weights, bias = theta[: d * k].reshape(d, k), theta[d * k:]
            logp = log_softmax(z @ weights + bias, axis=1)
            loss = -(w * (onehot * logp).sum(1)).sum() + 0.5 * (weights**2).sum()
            resid = (np.exp(logp) - onehot) * w[:, None]
            grad_w = z.T @ resid + weights
            return loss, np.concatenate([grad_w.ravel(), resid.sum(0)])

        theta = _lbfgs(objective, np.zeros(d * k + k), self.options["max_iter"])
        self.params = {"mean": std.mean, "scale": std.scale,
                       "weights": theta[: d * k].reshape(d, k), "bias": theta[d * k:]}
        return self

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Log posterior probabilities, one column per class in ``self.labels`` order."""
        z = (_check_matrix(x, self.dim, "logistic regression input") - self.params["mean"]) / self.params["scale"]
        return log_softmax(z @ self.params["weights"] + self.params["bias"], axis=1)


class LinearSVM(EmbeddingClassifier):
    """One-vs-rest linear SVM, L2-regularised squared hinge: ½‖w_c‖² + C·Σ w_i max(0, 1 − y_ic f_c)²."""

    kind = "svm"

    def __init__(self, c: float = 1.0, balanced: bool = True, max_iter: int = 1000):
        super().__init__(c=c, balanced=balanced, max_iter=max_iter)

    def fit(self, x: np.ndarray, y: Sequence[str]) -> LinearSVM:
        x = _check_matrix(x, None, "SVM training set")
        yi = self._encode(y)
        std = _Standardiser().fit(x)
        z = std(x)
        n, d = z.shape
        k = len(self.labels)
        w = class_weights(yi, k, self.options["balanced"]) * self.options["c"]
        sign = np.where(np.eye(k)[yi] > 0, 1.0, -1.0)

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            weights, bias = theta[: d * k].reshape(d, k), theta[d * k:]
            margin = np.maximum(0.0, 1.0 - sign * (z @ weights + bias))
            loss = (w[:, None] * margin**2).sum() + 0.5 * (weights**2).sum()
            dz = -2.0 * w[:, None] * margin * sign
            return loss, np.concatenate([(z.T @ dz + weights).ravel(), dz.sum(0)])

        theta = _lbfgs(objective, np.zeros(d * k + k), self.options["max_iter"])
        self.params = {"mean": std.mean, "scale": std.scale,
                       "weights": theta[: d * k].reshape(d, k), "bias": theta[d * k:]}
        return self

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Decision values f_c(x), one column per class."""
        z = (_check_matrix(x, self.dim, "SVM input") - self.params["mean"]) / self.params["scale"]
        return z @ self.params["weights"] + self.params["bias"]


class CosineClassMeans(EmbeddingClassifier):
    """Cosine similarity to each class's mean of centred, length-normalised training embeddings."""

    kind = "cosine"

    def __init__(self):
        super().__init__()

    def fit(self, x: np.ndarray, y: Sequence[str]) -> CosineClassMeans:
        x = _check_matrix(x, None, "cosine training set")
        yi = self._encode(y)
        mean = x.mean(0)
        z = _unit(x - mean)
        means = np.stack([z[yi == c].mean(0) for c in range(len(self.labels))])
        self.params = {"mean": mean, "class_means": _unit(means)}
        return self

    def scores(self, x: np.ndarray) -> np.ndarray:
        z = _unit(_check_matrix(x, self.dim, "cosine input") - self.params["mean"])
        return z @ self.params["class_means"].T


class RidgeRegression(EmbeddingClassifier):
    """Ridge regression on standardised embeddings: minimises ‖y − Zw − b‖² + α‖w‖² (closed form)."""

    kind = "ridge"

    def __init__(self, alpha: float = 1.0):
        super().__init__(alpha=alpha)

    def fit(self, x: np.ndarray, y: Sequence[float]) -> RidgeRegression:
        x = _check_matrix(x, None, "ridge training set")
        t = np.asarray(y, dtype=np.float64)
        if t.shape != (len(x),):
            raise ValueError(f"ridge: {len(t)} targets for {len(x)} embeddings")
        std = _Standardiser().fit(x)
        z = std(x)
        tm = t.mean()
        a = z.T @ z + self.options["alpha"] * np.eye(z.shape[1])
        w = np.linalg.solve(a, z.T @ (t - tm))
        self.labels = []
        self.params = {"mean": std.mean, "scale": std.scale, "weights": w, "bias": np.array(tm)}
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:  # type: ignore[override]
        z = (_check_matrix(x, self.dim, "ridge input") - self.params["mean"]) / self.params["scale"]
        return z @ self.params["weights"] + float(self.params["bias"])

    scores = predict


_MODEL_KEYS = ("a", "term", "ns", "n_idx")


class PLDAClassifier(EmbeddingClassifier):
    """LDA (``lda_dim`` > 0, clamped to classes - 1) + whitening + length-norm + PLDA; class LLR scores.

    Classes play the part of speakers: preprocessing and a PLDA model are fitted on the training
    embeddings with their class labels as "speaker" labels; a test embedding's score for class c
    is the multi-session log-likelihood ratio of it against *all* training embeddings of c (same
    class vs. different classes), computed by :class:`utter.backend.plda.PLDA`. Scores are LLRs,
    not posteriors: the predicted class is the one with the highest LLR.
    """

    kind = "plda"

    def __init__(self, lda_dim: int = 0, whiten: bool = True, length_norm: bool = True,
                 model_type: str = "two-cov", num_iters: int = 10):
        super().__init__(lda_dim=int(lda_dim), whiten=bool(whiten), length_norm=bool(length_norm),
                         model_type=model_type, num_iters=int(num_iters))
        self._plda: PLDA | None = None

    def fit(self, x: np.ndarray, y: Sequence[str]) -> PLDAClassifier:
        x = _check_matrix(x, None, "PLDA classifier training set")
        yi = self._encode(y)
        o = self.options
        pre = make_preprocessing(o["lda_dim"], o["whiten"], o["length_norm"])
        plda = fit_plda(x, yi, model_type=o["model_type"], num_iters=o["num_iters"], pre=pre,
                        what="PLDA classifier training set")
        groups = [np.flatnonzero(yi == c) for c in range(len(self.labels))]
        models = plda.model_side(x, groups)
        arrays, names = plda.pre.state()
        self.params = {**arrays, "pre_steps": np.array(names, dtype=str), "plda_mean": plda.mean,
                       "between": plda.between, "within": plda.within,
                       **{f"model_{k}": np.asarray(models[k]) for k in _MODEL_KEYS}}
        self._plda = plda
        return self

    @property
    def plda(self) -> PLDA:
        """The PLDA model (rebuilt from ``params`` after :meth:`load`)."""
        if self._plda is None:
            if "between" not in self.params:
                raise ValueError("the PLDA classifier is not trained")
            p = self.params
            names = [str(n) for n in p["pre_steps"].tolist()]
            pre = Pipeline.from_state(names, p)
            self._plda = PLDA(p["plda_mean"], p["between"], p["within"], self.options["model_type"], pre)
        return self._plda

    @property
    def dim(self) -> int | None:
        return self.plda.dim if self.params else None

    def scores(self, x: np.ndarray) -> np.ndarray:
        """LLR of each test embedding (rows) against each class's training embeddings (columns)."""
        plda = self.plda
        x = _check_matrix(x, plda.dim, "PLDA classifier input")
        models = {k: self.params[f"model_{k}"] for k in _MODEL_KEYS}
        return plda.score_matrix(models, plda.test_side(x)).T


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def _lbfgs(objective, theta0: np.ndarray, max_iter: int) -> np.ndarray:
    result = minimize(objective, theta0, jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iter, "gtol": 1e-6})
    if not np.all(np.isfinite(result.x)):
        raise RuntimeError(f"classifier training diverged: {result.message}")
    return result.x


@dataclass(frozen=True)
class ClassifierKind:
    """A classifier kind as every lister shows it: its class, a phrase for ``--help``, whether it
    predicts continuous targets, the options of :class:`utter.transfer.frozen.FrozenOptions` it takes,
    and the one a grid search on dev tunes (``""``: none)."""

    cls: type[EmbeddingClassifier]
    description: str
    regression: bool = False
    options: tuple[str, ...] = ()
    tuned: str = ""


#: every classifier and regressor kind by name (``--classifier``, the recipes' ``classifiers`` lists)
CLASSIFIER_KINDS: dict[str, ClassifierKind] = {k.cls.kind: k for k in (
    ClassifierKind(LogisticRegression, "logistic regression", options=("c", "balanced"), tuned="c"),
    ClassifierKind(LinearSVM, "linear SVM", options=("c", "balanced"), tuned="c"),
    ClassifierKind(CosineClassMeans, "cosine to class means"),
    ClassifierKind(PLDAClassifier, "PLDA class LLRs", options=("lda_dim",)),
    ClassifierKind(RidgeRegression, "ridge regression", regression=True, options=("alpha",), tuned="alpha"),
)}


def classifier_kind(kind: str) -> ClassifierKind:
    """The registry entry of ``kind``; an unknown kind is an error naming the choices."""
    if kind not in CLASSIFIER_KINDS:
        raise ValueError(f"unknown classifier '{kind}'; choose from {sorted(CLASSIFIER_KINDS)}")
    return CLASSIFIER_KINDS[kind]


def build_classifier(kind: str, **options) -> EmbeddingClassifier:
    """A classifier or regressor by name (:data:`CLASSIFIER_KINDS`: ``logreg``, ``svm``, ``cosine``,
    ``plda``, ``ridge``)."""
    return classifier_kind(kind).cls(**options)
