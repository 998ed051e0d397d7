"""DINO step time on a small corpus against the mini VoxCeleb, with the same config.

Builds (once, cached under --work) with the simulator (utter.sim): a 232-utterance corpus of 11
speakers, utterances of 4-8 s, in a folder layout of its own (``<speaker>/<session>/<NNN>.flac``,
prepared by local/plain/make_data_dir.sh), and the mini VoxCeleb2 dev of the recipe (scale 1, 832
utterances); fbank and energy VAD of both (egs/voxceleb/conf). Then trains DINO with
egs/voxceleb/conf/mini/dino.conf for --steps steps on each (no augmented copies on either side),
recording the wall and CPU time after every optimiser step; per-step time is the mean over steps
2..N, so it includes everything between steps: reading the batches, the ends of epochs (a new
loader), checkpoints and loss plots. Prints both, their ratio (target <= 1.3), and the mean extra
time of the steps that cross an epoch's end.

The training processes inherit OMP_WAIT_POLICY (tools/env.sh sets PASSIVE): with libgomp's
default, 2 torch threads on 2 cores shared with other jobs spin waiting for each other, and a step
takes 3-4x as long (3.1-3.6 s against 0.83 s at load 3, back to back). --code DIR times another
checkout's pylib (the code before a change), e.g.
  git archive c18a984 | tar -x -C /tmp/before && tools/venv/bin/python bench/small_corpus.py --code /tmp/before

usage: tools/venv/bin/python bench/small_corpus.py [--steps 50] [--threads 2] [--repeats 1] [--code DIR]
                                                   [--work bench/out/small_corpus]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "egs" / "voxceleb" / "conf"

#: Runs utter.bin.train_dino with the code on PYTHONPATH, stamping wall and CPU time after each step.
DRIVER = r"""
import json, os, sys, time
from utter.bin import train_dino
from utter.bin.common import main_entry
from utter.train import trainer as T
stamps = []
step = T.Trainer._train_step
def timed(self, batch):
    out = step(self, batch)
    stamps.append((time.perf_counter(), time.process_time()))
    return out
T.Trainer._train_step = timed
try:
    main_entry(train_dino.main, train_dino.build_parser)
finally:
    with open(os.environ["UTTER_BENCH_STAMPS"], "w") as f:
        json.dump(stamps, f)
"""


def env_for(pylib: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / 'utils'}:{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(pylib)
    env["LC_ALL"] = "C"
    return env


def sh(cmd: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-3000:]}")


def features(data: Path, env: dict[str, str], cwd: Path) -> None:
    if (data / "vad.scp").is_file():
        return
    sh([str(ROOT / "steps/make_fbank.sh"), "--nj", "2", "--fbank-config", str(CONF / "fbank.conf"), str(data)],
       env, cwd)
    sh([str(ROOT / "steps/compute_vad.sh"), "--nj", "2", "--vad-config", str(CONF / "vad.conf"), str(data)], env, cwd)


def build(work: Path) -> dict[str, Path]:
    """The two training data dirs (built once)."""
    from utter.sim.build import build as build_sim
    from utter.sim.build_tools import BuildConfig
    from utter.sim.corpora.plain import build_plain

    env = env_for(ROOT / "pylib")
    work.mkdir(parents=True, exist_ok=True)
    small, vox = work / "data" / "small", work / "data" / "mini_voxceleb2_dev"
    if not (small / "wav.scp").is_file():
        corpus = work / "corpora" / "lab"
        if corpus.exists():
            shutil.rmtree(corpus)
        print(f"building the small corpus (232 utterances, 11 speakers, 4-8 s) in {corpus} ...", flush=True)
        build_plain(corpus, layout="nested", num_speakers=11, num_utts=232, durations=(4.0, 8.0), nj=2)
        sh([str(ROOT / "local/plain/make_data_dir.sh"), "--speaker", "dir:1", str(corpus), str(small)], env, work)
    if not (vox / "wav.scp").is_file():
        print(f"building the mini VoxCeleb (scale 1) in {work / 'corpora'} ...", flush=True)
        build_sim(BuildConfig(outdir=work / "corpora"), ["voxceleb"], nj=2)
        sh([str(ROOT / "local/voxceleb/make_voxceleb2.sh"), "--format", "wav", str(work / "corpora/voxceleb2/dev"),
            str(vox)], env, work)
    for d in (small, vox):
        features(d, env, work)
    return {"small corpus": small, "mini VoxCeleb": vox}


def train(data: Path, steps: int, threads: int, pylib: Path, work: Path) -> dict[str, float]:
    """Per-step wall and CPU seconds over steps 2..N, steps per epoch, extra seconds at an epoch's end."""
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        exp, stamps = Path(tmp) / "exp", Path(tmp) / "stamps.json"
        env = env_for(pylib)
        env["UTTER_BENCH_STAMPS"] = str(stamps)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(threads)
        cmd = [sys.executable, "-c", DRIVER, "--config", str(CONF / "mini" / "dino.conf"), "--max-steps", str(steps),
               "--log-interval", "10", "--num-threads", str(threads), "--seed", "0", "--exp-dir", str(exp), str(data)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=work)
        if done.returncode != 0:
            raise SystemExit(f"training on {data} failed:\n{done.stderr[-3000:]}")
        t = json.loads(stamps.read_text())
        rows = [ln.split("\t") for ln in (exp / "train_log.tsv").read_text().splitlines()]
        col = rows[0].index("epoch")
        epoch = [int(r[col]) for r in rows[1:]]
    wall = [b[0] - a[0] for a, b in zip(t, t[1:])]
    cpu = [b[1] - a[1] for a, b in zip(t, t[1:])]
    crossing = [w for i, w in enumerate(wall) if epoch[i + 1] != epoch[i]]
    within = [w for i, w in enumerate(wall) if epoch[i + 1] == epoch[i]]
    return {"wall": statistics.fmean(wall), "cpu": statistics.fmean(cpu),
            "steps_per_epoch": float(max(Counter(epoch).values())),
            "epoch_end_extra": (statistics.fmean(crossing) - statistics.median(within)) if crossing else 0.0,
            "epoch_ends": len(crossing)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50, help="training steps on each corpus")
    p.add_argument("--threads", type=int, default=2, help="torch threads of the training process")
    p.add_argument("--repeats", type=int, default=1, help="runs on each corpus, alternating (medians reported)")
    p.add_argument("--code", type=Path, default=ROOT, help="checkout whose pylib/ is timed (default this one)")
    p.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "small_corpus",
                   help="where the corpora and features are built (kept for the next run)")
    args = p.parse_args()
    pylib = args.code.resolve() / "pylib"
    if not (pylib / "utter").is_dir():
        raise SystemExit(f"{args.code}: no pylib/utter (not a checkout of this toolkit)")
    work = args.work.resolve()
    dirs = build(work)
    print(f"code: {pylib}; config {CONF / 'mini' / 'dino.conf'}, {args.steps} steps, {args.threads} threads, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, load average {os.getloadavg()[0]:.1f}",
          flush=True)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in dirs}
    for _ in range(args.repeats):
        for name, d in dirs.items():
            r = train(d, args.steps, args.threads, pylib, work)
            results[name].append(r)
            print(f"  {name:14s} {r['wall']:.3f} s/step wall, {r['cpu']:.3f} s/step CPU, "
                  f"{r['steps_per_epoch']:.0f} steps/epoch, +{r['epoch_end_extra']:.2f} s at each of "
                  f"{r['epoch_ends']} epoch ends", flush=True)
    med = {name: {k: statistics.median(r[k] for r in rs) for k in ("wall", "cpu")} for name, rs in results.items()}
    small, vox = med["small corpus"], med["mini VoxCeleb"]
    print(f"small corpus (232 utterances): {small['wall']:.3f} s/step wall ({small['cpu']:.3f} CPU)")
    print(f"mini VoxCeleb (832 utterances): {vox['wall']:.3f} s/step wall ({vox['cpu']:.3f} CPU)")
    ratio = small["wall"] / vox["wall"]
    print(f"ratio small / mini VoxCeleb: {ratio:.2f} wall, {small['cpu'] / vox['cpu']:.2f} CPU (target <= 1.3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
