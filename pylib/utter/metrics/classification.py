"""Classification and regression metrics: WA, UA, macro-F1, per-class P/R/F1, confusion, RMSE, Pearson r.

WA (weighted accuracy) is plain accuracy; for single-label tasks it equals micro-F1. UA
(unweighted average recall) is the mean of the per-class recalls. A class with no
prediction (or no sample) has precision (recall) 0, as sklearn's ``zero_division=0``.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from utter.metrics.plots import new_figure, save_figure


def confusion_matrix(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> tuple[np.ndarray, list]:
    """(counts [C, C] with rows = true class and columns = predicted class, the label order)."""
    y_true, y_pred = list(y_true), list(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if not y_true:
        raise ValueError("no samples to evaluate")
    if labels is None:
        labels = sorted(set(y_true) | set(y_pred), key=str)
    labels = list(labels)
    pos = {lab: i for i, lab in enumerate(labels)}
    unknown = sorted({str(v) for v in y_true + y_pred if v not in pos})
    if unknown:
        raise ValueError(f"labels not in the label list: {', '.join(unknown[:5])}")
    t = np.fromiter((pos[v] for v in y_true), dtype=np.int64, count=len(y_true))
    p = np.fromiter((pos[v] for v in y_pred), dtype=np.int64, count=len(y_pred))
    cm = np.bincount(t * len(labels) + p, minlength=len(labels) ** 2).reshape(len(labels), len(labels))
    return cm, labels


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(len(num)), where=den > 0)


def classification_report(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> dict:
    """WA, UA, macro-F1, per-class precision/recall/F1/support and the confusion matrix (JSON-ready)."""
    cm, labels = confusion_matrix(y_true, y_pred, labels)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(1).astype(np.float64)
    predicted = cm.sum(0).astype(np.float64)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    present = support > 0
    return {
        "WA": float(tp.sum() / cm.sum()),
        "UA": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "n": int(cm.sum()),
        "labels": [str(lab) for lab in labels],
        "per_class": {str(lab): {"precision": float(precision[i]), "recall": float(recall[i]),
                                 "f1": float(f1[i]), "support": int(support[i])}
                      for i, lab in enumerate(labels)},
        "confusion": cm.tolist(),
    }


def format_confusion(cm: np.ndarray | list, labels: Sequence) -> str:
    """The confusion matrix as an aligned text table (rows true, columns predicted)."""
    cm = np.asarray(cm)
    names = [str(lab) for lab in labels]
    width = max(max(len(n) for n in names), len(str(cm.max())), 4)
    head = " " * width + " | " + " ".join(n.rjust(width) for n in names)
    lines = ["true \\ predicted", head, "-" * len(head)]
    lines += [names[i].rjust(width) + " | " + " ".join(str(v).rjust(width) for v in row) for i, row in enumerate(cm)]
    return "\n".join(lines)


def plot_confusion(cm: np.ndarray | list, labels: Sequence, path: str | os.PathLike, title: str = "Confusion matrix",
                   normalise: bool = True) -> None:
    """Confusion matrix PNG: cells coloured by the row share (recall), annotated with the count and,
    when normalised, the row percentage; ``title`` should name the system and the data."""

    cm = np.asarray(cm)
    rates = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalise else cm
    n = len(labels)
    fig, ax = new_figure((max(5.0, 1.6 + 0.9 * n), max(4.2, 1.4 + 0.8 * n)))
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1 if normalise else None)
    ax.set_xticks(range(n), [str(lab) for lab in labels], rotation=45 if n > 4 else 0,
                  ha="right" if n > 4 else "center")
    ax.set_yticks(range(n), [str(lab) for lab in labels])
    top = rates.max() if rates.size else 1
    for i in range(n):
        for j in range(n):
            text = f"{cm[i, j]}\n{100 * rates[i, j]:.0f}%" if normalise else str(cm[i, j])
            ax.text(j, i, text, ha="center", va="center", fontsize="small",
                    color="white" if rates[i, j] > 0.6 * top else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel(f"true ({int(cm.sum())} items)")
    ax.set_title(title, fontsize="medium")
    bar = fig.colorbar(im, ax=ax, fraction=0.046)
    bar.set_label("share of the true class (recall)" if normalise else "count")
    save_figure(fig, path)


def regression_report(y_true: Sequence[float], y_pred: Sequence[float]) -> dict:
    """RMSE and Pearson's r of continuous predictions (e.g. MMSE)."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"expected two equal-length vectors, got shapes {t.shape} and {p.shape}")
    if len(t) < 2:
        raise ValueError("regression metrics need at least 2 samples")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise ValueError("regression targets or predictions are not finite")
    dt, dp = t - t.mean(), p - p.mean()
    denom = np.sqrt((dt @ dt) * (dp @ dp))
    r = float(dt @ dp / denom) if denom > 0 else float("nan")
    return {"RMSE": float(np.sqrt(np.mean((t - p) ** 2))), "pearson_r": r, "n": len(t)}
