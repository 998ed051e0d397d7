"""Plots: a headless (Agg) figure, probit DET axes, atomic PNG saving, and a training run's loss curve.

matplotlib is imported only inside these functions (an optional, slow import), so the metrics,
and the trainer that plots its loss curve, import without it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from statistics import NormalDist

import numpy as np

from utter.atomic import atomic_path

#: DET axis ticks, in percent.
DET_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 40, 60, 80, 90, 95, 98, 99)


_inverse_normal_cdf = np.vectorize(NormalDist().inv_cdf, otypes=[np.float64])


def probit(p) -> np.ndarray:
    """Normal deviate of a probability, clipped away from 0 and 1 so the axes stay finite.

    The standard library's inverse normal CDF (Wichura's AS241, within 3e-15 of scipy's ndtri),
    so that the trainer, which plots its loss curve from here, starts without importing scipy.
    """
    return _inverse_normal_cdf(np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6))[()]


def new_figure(size: tuple[float, float] = (6, 5)):
    """(figure, axes) on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    return fig, ax


def det_ticks(lo: float, hi: float, min_gap: float | None = None) -> list[float]:
    """The DET ticks (percent) within [lo, hi] (probabilities) that are at least ``min_gap`` apart on
    the probit axis (default: a twelfth of its span), so that no two labels run together: 1, 10,
    0.1 ... first, then 5, 20, 40 ..., then 2, 0.2 ... where they fit."""
    inside = [t for t in DET_TICKS if lo * 100 - 1e-9 <= t <= hi * 100 + 1e-9]
    span = float(probit(hi) - probit(lo))
    gap = span / 12 if min_gap is None else min_gap

    def rank(t: float) -> int:
        digit = f"{t:g}".replace("0", "").replace(".", "")[:1]
        return {"1": 0, "5": 1, "4": 1, "6": 1, "8": 1, "9": 1}.get(digit, 2)

    kept: list[float] = []
    for t in sorted(inside, key=lambda t: (rank(t), t)):
        if all(abs(float(probit(t / 100) - probit(k / 100))) >= gap for k in kept):
            kept.append(t)
    return sorted(kept)


def det_axes(ax, title: str, lo: float = 0.0005, hi: float = 0.5, legend: str = "upper right") -> None:
    """Probit-scaled P_fa / P_miss axes labelled in percent, equal limits, grid and legend
    (``legend="below"``: under the axes, where it covers no curve)."""
    ticks = det_ticks(lo, hi)
    pos = probit(np.array(ticks) / 100)
    labels = [f"{t:g}" for t in ticks]
    ax.set_xticks(pos, labels)
    ax.set_yticks(pos, labels)
    ax.set_xlim(probit(lo), probit(hi))
    ax.set_ylim(probit(lo), probit(hi))
    ax.plot([probit(lo), probit(hi)], [probit(lo), probit(hi)], ":", color="grey", linewidth=0.8)
    ax.set_xlabel("False alarm probability (%)")
    ax.set_ylabel("Miss probability (%)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if legend == "below":
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.11), fontsize="small", frameon=False)
    else:
        ax.legend(loc=legend, fontsize="small")
    ax.set_aspect("equal")


def save_figure(fig, path: str | os.PathLike) -> None:
    """Write the figure as PNG atomically and release it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def loss_curve_title(exp_dir: str | os.PathLike) -> str:
    """What a run trained and on what: ``exp/xvector: SpeakerClassificationObjective, tdnn, on
    data/voxceleb2_dev (+ data/voxceleb2_dev_aug)``, from the run's config.json (else the directory)."""
    exp_dir = Path(exp_dir)
    try:
        config = json.loads((exp_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return str(exp_dir)
    run = config.get("run") or {}
    name = str(run.get("exp_dir") or exp_dir)
    what = [str(x) for x in (config.get("objective"), (config.get("arch") or {}).get("arch")) if x]
    data = run.get("data_dir") or run.get("data") or ""
    aug = run.get("aug_data") or []
    aug = [aug] if isinstance(aug, str) else list(aug)
    on = f" on {data}" + (f" (+ {', '.join(aug)})" if aug else "") if data else ""
    return f"{name}: {', '.join(what)}{',' if on else ''}{on}" if what else f"{name}{on}"


def plot_loss_curve(tsv: str | os.PathLike, png: str | os.PathLike, title: str | None = None) -> Path:
    """Plot loss (raw and moving average), the learning rate, when it changes the AAM margin, and when
    a dev set was evaluated its EER (``dev_eer``, %, markers at the evaluated steps, its own outer axis)
    against step from ``train_log.tsv``; one legend names every line; the title (default
    :func:`loss_curve_title` of the tsv's directory) names the run and its data.

    Drawn on a bare Agg canvas (no pyplot state), so the trainer may call it at every checkpoint.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    lines = Path(tsv).read_text(encoding="utf-8").splitlines()
    if len(lines) < 2:
        raise ValueError(f"{tsv} has no rows to plot")
    cols = lines[0].split("\t")
    rows = [ln.split("\t") for ln in lines[1:] if len(ln.split("\t")) == len(cols)]
    data = {c: np.array([float(r[i]) if r[i] else np.nan for r in rows]) for i, c in enumerate(cols)}
    step, loss = data["step"], data["loss"]
    fig = Figure(figsize=(7.5, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    k = max(1, len(loss) // 50)
    handles = ax.plot(step, loss, color="0.7" if k > 1 else "C0", linewidth=0.8, label="loss")
    if k > 1:
        smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
        handles += ax.plot(step[k - 1:], smooth, color="C0", linewidth=1.5, label=f"loss, mean of {k} steps")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    if "lr" in data:
        ax2 = ax.twinx()
        handles += ax2.plot(step, data["lr"], color="C1", linewidth=1, alpha=0.8, label="learning rate (right axis)")
        ax2.set_ylabel("learning rate", color="C1")
    margin = data.get("margin")
    has_margin = margin is not None and np.nanmax(margin) > 0
    if has_margin:
        ax3 = ax.twinx()
        ax3.spines["right"].set_position(("axes", 1.13))
        handles += ax3.plot(step, margin, color="C2", linewidth=1, linestyle="--",
                            label="AAM margin (outer axis)")
        ax3.set_ylabel("AAM margin", color="C2")
    dev = data.get("dev_eer")
    if dev is not None and np.isfinite(dev).any():
        ok = np.isfinite(dev)
        ax4 = ax.twinx()
        ax4.spines["right"].set_position(("axes", 1.3 if has_margin else 1.13))
        handles += ax4.plot(step[ok], dev[ok], color="C3", linewidth=1.2, marker="o", markersize=3.5,
                            label="dev EER % (outer axis)")
        ax4.set_ylabel("dev EER (%)", color="C3")
        ax4.set_ylim(bottom=0)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=min(len(handles), 4),
              fontsize="small", frameon=False)
    ax.set_title(title if title is not None else loss_curve_title(Path(tsv).parent), fontsize="medium")
    fig.tight_layout()
    png = Path(png)
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    return png
