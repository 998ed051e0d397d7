#!/usr/bin/env python3
"""A smaller dev trial list for watching DINO while it trains (egs/custom's dev_trials, or the --dev-*
options of train_dino): the trials of TRIALS whose two sides are both among a seeded random draw of N
recordings, so each evaluation embeds N recordings instead of all of them. Lines are kept as they are
("enroll test target|nontarget", paths or utterance ids).

    dev_subset.py bench/out/realvoice/dev/trials.txt 1500 bench/out/realvoice/dev/trials_dev1500.txt
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("trials", type=Path)
    p.add_argument("num_files", type=int)
    p.add_argument("out", type=Path)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    lines = args.trials.read_text().splitlines()
    files = sorted({w for line in lines for w in line.split()[:2]})
    chosen = set(random.Random(args.seed).sample(files, min(args.num_files, len(files))))
    kept = [line for line in lines if line.split()[0] in chosen and line.split()[1] in chosen]
    args.out.write_text("".join(f"{line}\n" for line in kept))
    targets = sum(line.split()[2] == "target" for line in kept)
    print(f"{len(chosen)} of {len(files)} recordings: {len(kept)} trials ({targets} target) in {args.out}")


if __name__ == "__main__":
    main()
