#!/usr/bin/env python3
"""Hold out VoxCeleb2-dev speakers for score calibration and draw a trial list over them.

VoxCeleb1's E and H lists use every VoxCeleb1 speaker, so calibration (like the back-end and the
AS-norm cohort) must come from VoxCeleb2 dev. This picks ``--num-speakers`` speakers at random
(seeded) among those with at least two utterances, and writes to OUT_DIR:
  heldout_spk   the held-out speakers (for utils/subset_data_dir.sh --spk-list)
  train_spk     every other speaker (the training / back-end / cohort part)
  trials        ``enroll test target|nontarget`` over the held-out speakers' utterances:
                up to --num-trials trials, half targets (distinct same-speaker pairs) and half
                non-targets (distinct pairs of two different speakers), in a seeded order.

usage: make_calibration_trials.py [--num-speakers N] [--num-trials M] [--seed S] SRC_DATA OUT_DIR
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from utter.atomic import atomic_open
from utter.data.datadir import read_table, sort_key


def choose_speakers(spk2utt: Mapping[str, Sequence[str]], num: int, seed: int) -> list[str]:
    """``num`` speakers with at least two utterances, drawn at random (seeded), sorted."""
    eligible = sorted((s for s, us in spk2utt.items() if len(us) >= 2), key=sort_key)
    if num < 2:
        raise ValueError(f"--num-speakers must be at least 2 (targets and non-targets), got {num}")
    if num >= len(spk2utt):
        raise ValueError(f"cannot hold out {num} speakers: the data dir has only {len(spk2utt)} "
                         "(some must stay for training)")
    if num > len(eligible):
        raise ValueError(f"cannot hold out {num} speakers: only {len(eligible)} have two or more utterances")
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(eligible), size=num, replace=False)
    return sorted((eligible[i] for i in pick), key=sort_key)


def make_trials(spk2utt: Mapping[str, Sequence[str]], num_trials: int, seed: int) -> list[tuple[str, str, str]]:
    """Up to ``num_trials`` trials, half targets and half non-targets, each pair at most once.

    Targets are drawn uniformly from all same-speaker pairs, non-targets uniformly from
    different-speaker pairs (by rejection); both halves have the same size, so the list is balanced.
    """
    rng = np.random.default_rng(seed)
    spks = sorted(spk2utt, key=sort_key)
    targets = [(a, b) for s in spks for i, a in enumerate(spk2utt[s]) for b in spk2utt[s][i + 1:]]
    utts = [(u, s) for s in spks for u in spk2utt[s]]
    num_nontarget_pairs = (len(utts) * (len(utts) - 1)) // 2 - len(targets)
    half = min(num_trials // 2, len(targets), num_nontarget_pairs)
    if half < 1:
        raise ValueError(f"no target or non-target pairs among {len(spks)} speakers and {len(utts)} utterances")
    chosen = [targets[i] for i in sorted(rng.choice(len(targets), size=half, replace=False))]
    seen: set[tuple[str, str]] = set()
    nontargets: list[tuple[str, str]] = []
    while len(nontargets) < half:
        i, j = (int(x) for x in rng.integers(len(utts), size=2))
        (a, sa), (b, sb) = utts[i], utts[j]
        if sa == sb or (a, b) in seen or (b, a) in seen:
            continue
        seen.add((a, b))
        nontargets.append((a, b))
    trials = [(a, b, "target") for a, b in chosen] + [(a, b, "nontarget") for a, b in nontargets]
    order = rng.permutation(len(trials))
    return [trials[i] for i in order]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--num-speakers", type=int, default=200, help="speakers held out for calibration")
    p.add_argument("--num-trials", type=int, default=20000, help="trials to draw (half targets)")
    p.add_argument("--seed", type=int, default=0, help="seed of the speaker choice and the trials")
    p.add_argument("src_data", help="data dir with utt2spk (VoxCeleb2 dev)")
    p.add_argument("out_dir", help="where heldout_spk, train_spk and trials are written")
    a = p.parse_args(argv)
    try:
        utt2spk = read_table(Path(a.src_data) / "utt2spk")
        spk2utt: dict[str, list[str]] = {}
        for utt, spk in utt2spk.items():
            spk2utt.setdefault(spk, []).append(utt)
        heldout = choose_speakers(spk2utt, a.num_speakers, a.seed)
        trials = make_trials({s: spk2utt[s] for s in heldout}, a.num_trials, a.seed + 1)
    except (ValueError, OSError) as e:
        print(f"{p.prog}: error: {e}", file=sys.stderr)
        return 1
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    held = set(heldout)
    with atomic_open(out / "heldout_spk") as f:
        f.writelines(s + "\n" for s in heldout)
    with atomic_open(out / "train_spk") as f:
        f.writelines(s + "\n" for s in sorted(spk2utt, key=sort_key) if s not in held)
    with atomic_open(out / "trials") as f:
        f.writelines(f"{a_} {b} {t}\n" for a_, b, t in trials)
    num_t = sum(t == "target" for *_, t in trials)
    print(f"{p.prog}: held out {len(heldout)} of {len(spk2utt)} speakers; {len(trials)} calibration trials "
          f"({num_t} target) in {out}/trials", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
