"""What validation on a dev trial list costs a DINO training run (issue 24, point 3).

Trains the same tiny DINO twice through utter.train.trainer.Trainer from the same seed, on a
synthetic compressed-feature data dir (bench/loader.py's): once without validation, once with
utter.train.validation.DevValidation every --interval steps (and after the last) on --trials
trials over --dev-utts dev utterances, scored as utter.bin.train_dino scores them (the back-end's
cosine after subtracting the dev mean). After an untimed warm-up run, the runs go off, on, on,
off (--repeats 2), and each condition's fastest run counts (a shared machine only slows runs
down); wall and process CPU time (work done, steadier under load) are both printed. Prints the
time per step of each condition, the time per evaluation, the share of the validated run spent
validating, and whether the runs' losses agree (they must: validation does not touch training).

usage: python bench/dino_validation.py [--config tdnn-mini|resnet34] [--batch 8] [--steps 40]
       [--interval 10] [--dev-utts 100] [--trials 300] [--repeats 2] [--threads 1] [--device cpu]
"""
from __future__ import annotations

import argparse
import itertools
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dino_step import CONFIGS, make_objective, train_config  # noqa: E402
from loader import make_data  # noqa: E402

from utter.backend.cosine import CosineScorer  # noqa: E402
from utter.backend.io import Trials  # noqa: E402
from utter.backend.scoring import score_trials  # noqa: E402
from utter.data.dataset import multi_crop_loader_factory  # noqa: E402
from utter.train.trainer import Trainer  # noqa: E402
from utter.train.validation import DevValidation  # noqa: E402


def make_trials(data: Path, n: int, seed: int = 0) -> Trials:
    """``n`` distinct pairs of the dev utterances, half of them same-speaker where there are enough."""
    utt2spk = dict(line.split() for line in (data / "utt2spk").read_text().splitlines())
    pairs = list(itertools.combinations(sorted(utt2spk), 2))
    rng = np.random.default_rng(seed)
    tar = [p for p in pairs if utt2spk[p[0]] == utt2spk[p[1]]]
    non = [p for p in pairs if utt2spk[p[0]] != utt2spk[p[1]]]
    k = min(len(tar), n // 2)
    chosen = [tar[i] for i in rng.choice(len(tar), k, replace=False)] + \
             [non[i] for i in rng.choice(len(non), n - k, replace=False)]
    return Trials([a for a, _ in chosen], [b for _, b in chosen],
                  np.array([utt2spk[a] == utt2spk[b] for a, b in chosen]))


def cosine(trials: Trials, ids: list[str], x: np.ndarray) -> np.ndarray:
    """The scoring of utter.bin.train_dino's validation."""
    return score_trials(CosineScorer().fit(x), trials, ids, x)


class Timed(DevValidation):
    """DevValidation that adds up the wall and CPU time of its evaluations."""

    seconds = cpu = 0.0
    count = 0

    def evaluate(self, net, step, device="cpu"):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return super().evaluate(net, step, device)
        finally:
            self.seconds += time.perf_counter() - t0
            self.cpu += time.process_time() - c0
            self.count += 1


def train(args, cfg: dict, train_dir: Path, exp: Path, validation: DevValidation | None,
          steps: int | None = None) -> tuple[float, float, list[str]]:
    """(wall and CPU seconds of the training, the loss column of train_log.tsv)."""
    steps = steps or args.steps
    factory = multi_crop_loader_factory(str(train_dir), batch_size=args.batch, seed=0,
                                        global_frames=cfg["global_frames"], num_global=cfg["num_global"],
                                        local_frames=cfg["local_frames"], num_local=cfg["num_local"],
                                        min_frames=cfg["global_frames"])
    config = train_config(cfg, args.batch, steps, torch.device(args.device), "none")
    config.steps_per_epoch = 0  # the loader's length
    trainer = Trainer(make_objective(cfg), factory, config, exp, validation=validation)
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.train()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    lines = (exp / "train_log.tsv").read_text().splitlines()
    col = lines[0].split("\t").index("loss")
    return wall, cpu, [ln.split("\t")[col] for ln in lines[1:]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="tdnn-mini", choices=sorted(CONFIGS))
    p.add_argument("--batch", type=int, default=8, help="utterances per step")
    p.add_argument("--steps", type=int, default=40, help="training steps of each run")
    p.add_argument("--interval", type=int, default=10, help="validation every this many steps (and after the last)")
    p.add_argument("--dev-utts", type=int, default=100, help="dev utterances (20 speakers)")
    p.add_argument("--repeats", type=int, default=2, help="timed runs of each condition (the fastest counts)")
    p.add_argument("--trials", type=int, default=300, help="dev trials over them")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    cfg = CONFIGS[args.config]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "train").mkdir()
        (root / "dev").mkdir()
        make_data(root / "train", utts=args.batch * args.steps, frames=cfg["global_frames"] * 2, seed=0)
        make_data(root / "dev", utts=args.dev_utts, frames=cfg["global_frames"] * 2, seed=1)
        trials = make_trials(root / "dev", args.trials)
        train(args, cfg, root / "train", root / "warm", None, steps=3)  # allocator, kernels, page cache
        runs: dict[str, list[tuple[float, float, float, float, int]]] = {"off": [], "on": []}
        losses: dict[str, list[str]] = {}
        validated: list[Timed] = []
        order = [("off", "on") if r % 2 == 0 else ("on", "off") for r in range(args.repeats)]
        for r, kind in enumerate(k for pair in order for k in pair):
            v = Timed(root / "dev", trials, cosine, interval=args.interval, trials_path="bench trials",
                      what="teacher") if kind == "on" else None
            wall, cpu, loss = train(args, cfg, root / "train", root / f"{kind}{r}", v)
            runs[kind].append((wall, cpu, v.seconds if v else 0.0, v.cpu if v else 0.0, v.count if v else 0))
            print(f"run {r + 1} ({kind}): wall {wall:.1f} s, CPU {cpu:.1f} s" +
                  (f", of which validating {v.seconds:.1f} s wall, {v.cpu:.1f} s CPU" if v else ""), flush=True)
            validated += [v] if v else []
            if losses.setdefault(kind, loss) != loss:
                print(f"warning: two {kind} runs differ in their losses")
    v = validated[-1]
    utts, best = len(v.utts), (v.best_eer, v.best_step)
    n = args.steps
    off = min(runs["off"])
    on = min(runs["on"])
    print(f"# DINO {args.config}, batch {args.batch}, {n} steps, {args.threads} thread(s), device {args.device}; "
          f"validation every {args.interval} steps and after the last on {len(trials)} trials over {utts} "
          f"utterances ({int(trials.labels.sum())} targets); fastest of {args.repeats} runs each")
    print(f"validation off: wall {1e3 * off[0] / n:.0f} ms/step, CPU {1e3 * off[1] / n:.0f} ms/step")
    print(f"validation on:  wall {1e3 * on[0] / n:.0f} ms/step, CPU {1e3 * on[1] / n:.0f} ms/step; {on[4]} "
          f"evaluations of {1e3 * on[2] / on[4]:.0f} ms wall ({1e3 * on[3] / on[4]:.0f} ms CPU) each")
    print(f"share of the validated run spent validating: {100 * on[2] / on[0]:.1f} % wall, "
          f"{100 * on[3] / on[1]:.1f} % CPU; ratio on/off {on[0] / off[0]:.3f} wall, {on[1] / off[1]:.3f} CPU")
    print(f"the validated run without its evaluations: CPU {1e3 * (on[1] - on[3]) / n:.0f} ms/step, "
          f"{(on[1] - on[3]) / off[1]:.3f} x the run without validation")
    print(f"losses equal with validation on and off: {losses['on'] == losses['off']} (last: {losses['off'][-1]} off, "
          f"{losses['on'][-1]} on); a validated run's best dev EER {best[0]:.2f}% at step {best[1]}")


if __name__ == "__main__":
    main()
