"""The words of a run's ``train_plan.json`` (written by the trainer before training: steps, epochs and
what the data plan uses), read by the recipes' stage messages and by RESULTS.md.

One sentence for both, so that the recipe says what RESULTS.md will say, and neither reads the
training log's wording. json only: no torch, so the reader starts fast.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_train_plan(path: str | os.PathLike) -> dict[str, Any]:
    """The plan of ``path``; a clear error when it is not a train_plan.json the trainer wrote."""
    try:
        plan = json.loads(Path(path).read_text(encoding="utf-8"))
        int(plan["total_steps"]), float(plan["epochs"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a readable train_plan.json ({e})") from e
    return plan


def describe_train_plan(system: str, plan: dict[str, Any]) -> str:
    """The plan in words: the steps and epochs trained, the utterances used and left out (and those
    shorter than the global crop, trained on whole)."""
    text = f"{system}: {int(plan['total_steps'])} training steps ({float(plan['epochs']):.1f} epochs)"
    data = plan.get("data") or {}
    if data:
        text += (f" on {data['used']} of {data['utterances']} utterances ({data['left_out']} with fewer than "
                 f"{data['min_frames']} voiced frames left out")
        if data.get("shorter_than_global_crop"):
            text += (f"; {data['shorter_than_global_crop']} shorter than the {data['global_frames']}-frame "
                     "global crop, cropped whole")
        text += ")"
    return text
