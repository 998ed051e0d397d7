"""Results JSON: every evaluation writes its figures next to its scores; tables are built from them.

A results file is one JSON object (figures plus whatever describes the run: system, trial
list, model); numpy scalars and arrays are converted, and the write is atomic.
"""
from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from utter.atomic import atomic_open


def _plain(value):
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_results_json(path: str | os.PathLike, figures: Mapping) -> None:
    """Write ``figures`` (a dict) as indented JSON, atomically."""
    with atomic_open(path, "w") as f:
        json.dump(_plain(figures), f, indent=2, sort_keys=False)
        f.write("\n")


def read_results_json(path: str | os.PathLike) -> dict:
    """Read one results file; an error names the file when it is not a JSON object."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of figures")
    return data


def collect_results(paths: Iterable[str | os.PathLike]) -> list[dict]:
    """Read several results files, each dict gaining ``_path``."""
    return [{**read_results_json(p), "_path": str(p)} for p in paths]


def format_table(rows: Sequence[Mapping], columns: Sequence[str], headers: Sequence[str] | None = None,
                 digits: int = 4) -> str:
    """A Markdown table of the given columns (missing figures shown as '-')."""
    headers = list(headers or columns)

    def cell(v) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.{digits}g}" if abs(v) < 1e-3 and v != 0 else f"{v:.{digits}f}".rstrip("0").rstrip(".")
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
