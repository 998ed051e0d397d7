"""Shared plotting bits: a headless (Agg) figure, probit DET axes, atomic PNG saving.

matplotlib is imported only inside these functions, so the metrics import without it.
"""
from __future__ import annotations

import os

import numpy as np
from scipy.stats import norm

#: DET axis ticks, in percent.
DET_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 40, 60, 80, 90, 95, 98, 99)


def probit(p) -> np.ndarray:
    """Normal deviate of a probability, clipped away from 0 and 1 so the axes stay finite."""
    return norm.ppf(np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6))


def new_figure(size: tuple[float, float] = (6, 5)):
    """(figure, axes) on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    return fig, ax


def det_axes(ax, title: str, lo: float = 0.0005, hi: float = 0.5) -> None:
    """Probit-scaled P_fa / P_miss axes labelled in percent, equal limits, grid and legend."""
    ticks = [t for t in DET_TICKS if lo * 100 <= t <= hi * 100]
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
    ax.legend(loc="upper right", fontsize="small")
    ax.set_aspect("equal")


def save_figure(fig, path: str | os.PathLike) -> None:
    """Write the figure as PNG atomically and release it."""
    import matplotlib.pyplot as plt

    from utter.atomic import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
