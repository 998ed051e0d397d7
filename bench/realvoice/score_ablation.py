#!/usr/bin/env python3
"""Scores of one DINO ablation run (ablate_dino.sh), or the table of all of them.

One run: its embeddings of the dev half scored by cosine, raw and after subtracting the mean embedding
of the training audio (here the half itself), EER and minDCF(0.01) from utter.metrics.verification, and
the embeddings' common offset (norm of the mean embedding over the mean norm; mean pairwise cosine),
written to RUN/scores.json:

    score_ablation.py --name embed_bn --seed 0 --options "--embed-bn=true" exp/abl/embed_bn_s0 TRIALS

The table: every exp/abl/*/scores.json, grouped by variant (mean over seeds and each seed):

    score_ablation.py --table exp/abl
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from utter.backend.io import read_trials
from utter.data.kaldi_io import read_embeddings
from utter.metrics.verification import compute_eer, compute_min_dcf


def offset_stats(x: np.ndarray) -> dict[str, float]:
    """How much the embeddings share one direction: |mean| / mean |x|, and the mean cosine of distinct pairs."""
    norms = np.linalg.norm(x, axis=1)
    z = x / np.maximum(norms, 1e-12)[:, None]
    s = z.sum(0)
    n = len(z)
    pairwise = (float(s @ s) - n) / (n * (n - 1))  # sum over i != j of z_i . z_j, each unit-norm
    return {"offset_ratio": float(np.linalg.norm(x.mean(0)) / norms.mean()), "mean_pair_cosine": pairwise}


def score(run: Path, trials_path: Path) -> dict[str, float]:
    ids, x = read_embeddings(run / "emb" / "eval" / "xvector.scp")
    trials = read_trials(trials_path, require_labels=True)
    pos = {u: i for i, u in enumerate(ids)}
    e = np.array([pos[u] for u in trials.enroll])
    t = np.array([pos[u] for u in trials.test])
    labels = np.asarray(trials.labels, bool)
    out = offset_stats(x)
    for key, y in (("raw", x), ("centred", x - x.mean(0))):
        z = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
        s = np.einsum("ij,ij->i", z[e], z[t])
        out[f"eer_{key}"] = 100 * compute_eer(s, labels)
        out[f"mindcf_{key}"] = compute_min_dcf(s, labels, 0.01)
    return out


def table(root: Path) -> None:
    runs = defaultdict(list)
    for f in sorted(root.glob("*/scores.json")):
        r = json.loads(f.read_text())
        runs[r["name"]].append(r)
    keys = ("eer_raw", "mindcf_raw", "eer_centred", "mindcf_centred", "offset_ratio", "mean_pair_cosine")
    print("| variant | options | seeds | EER % | minDCF(0.01) | EER %, mean subtracted | minDCF, mean "
          "subtracted | offset | mean pair cos | train s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, rs in runs.items():
        rs.sort(key=lambda r: r["seed"])
        cells = []
        for k in keys:
            vals = [r[k] for r in rs]
            fmt = "{:.2f}" if k.startswith("eer") else "{:.3f}"
            mean = fmt.format(np.mean(vals))
            cells.append(mean if len(vals) == 1 else f"{mean} ({', '.join(fmt.format(v) for v in vals)})")
        secs = ", ".join(str(r["train_seconds"]) for r in rs)
        print(f"| {name} | `{rs[0]['options'].strip() or '(shipped)'}` | {', '.join(str(r['seed']) for r in rs)} | "
              + " | ".join(cells) + f" | {secs} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", type=Path, help="print the table of every RUN/scores.json below this dir")
    p.add_argument("--name", default="")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--options", default="")
    p.add_argument("--train-seconds", type=int, default=0)
    p.add_argument("run", type=Path, nargs="?")
    p.add_argument("trials", type=Path, nargs="?")
    args = p.parse_args()
    if args.table:
        table(args.table)
        return
    out = {"name": args.name, "seed": args.seed, "options": args.options, "train_seconds": args.train_seconds,
           **score(args.run, args.trials)}
    (args.run / "scores.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"{args.run}: EER {out['eer_raw']:.2f}% minDCF {out['mindcf_raw']:.3f}; mean subtracted "
          f"{out['eer_centred']:.2f}% {out['mindcf_centred']:.3f}; offset {out['offset_ratio']:.2f}, "
          f"mean pair cosine {out['mean_pair_cosine']:.2f}")


if __name__ == "__main__":
    main()
