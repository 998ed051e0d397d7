"""The per-step records of a run: train_log.tsv (a row a step), the summary of a log window's
metrics, and the progress bar."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from utter.atomic import atomic_open
from utter.progress import bar as progress_bar


class StepLog:
    """``train_log.tsv``: a header (the first row's columns) and one row a step, appended as the run goes.

    Rank 0 opens it; on the other ranks it stays closed and :meth:`write` does nothing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns: list[str] | None = None
        self._file = None

    def open(self, step: int) -> None:
        """Open for appending, keeping only rows up to ``step`` (the step a run resumes after)."""
        rows: list[str] = []
        if self.path.exists() and step > 0:
            lines = self.path.read_text(encoding="utf-8").splitlines()
            if lines:
                self.columns = lines[0].split("\t")
                for line in lines[1:]:
                    fields = line.split("\t")
                    if len(fields) == len(self.columns) and fields[0].isdigit() and int(fields[0]) <= step:
                        rows.append(line)
        with atomic_open(self.path) as f:
            if self.columns:
                f.write("\t".join(self.columns) + "\n")
            for line in rows:
                f.write(line + "\n")
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, row: dict[str, float]) -> None:
        if self._file is None:
            return
        if self.columns is None:
            self.columns = list(row)
            self._file.write("\t".join(self.columns) + "\n")
        self._file.write("\t".join(_fmt(row.get(c, "")) for c in self.columns) + "\n")

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def window_summary(window_metrics: dict[str, list[float]]) -> str:
    """``name mean ...`` of the metrics of a log window: NaN values (a dev column between
    evaluations) are skipped, and a metric with no finite value in the window is left out."""
    parts = []
    for k, v in window_metrics.items():
        a = np.asarray(v, dtype=np.float64)
        a = a[~np.isnan(a)]
        if a.size:
            parts.append(f"{k} {a.mean():.4g}")
    return " ".join(parts)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def progress(total: int, initial: int, disable: bool):
    """A tqdm bar on a terminal; in train.log a progress line now and then (every 2 s at first, a
    minute later on), so a watcher sees the step, rate, ETA and loss between --log-interval lines."""
    return progress_bar(total=total, initial=initial, desc="train", unit="step", tty=tqdm, disable=disable)
