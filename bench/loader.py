"""Loader throughput: 2 s crops/s from a compressed ark (1 worker, N workers), and the DINO step rate.

Writes a synthetic data dir (compressed fbank-like ark + VAD) under a temp dir, then times:
  * crops/s of the supervised chunk loader (200-frame crops) in one process (= one worker's
    rate) and with --workers worker processes;
  * DINO multi-crop batches/s (2 x 4 s + 4 x 2 s crops per utterance) with --workers;
  * with --step, a CPU DINO step (student forward+backward on all crops, teacher forward on
    the global crops, small LResNet + head) for the same batch, and the loader/step ratio.
Targets (issue 6): >= 200 two-second crops/s per worker; loader >= 3x the CPU step rate.
usage: python bench/loader.py [--utts 300] [--workers 2] [--batch 16] [--seconds 8] [--step true]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from utter.data.datadir import write_table
from utter.data.dataset import chunk_loader_factory, multi_crop_loader_factory
from utter.data.kaldi_io import ArkScpWriter


def make_data(d: Path, utts: int, frames: int, seed: int = 0) -> None:
    """Compressed (CM) ark of random 80-d features with ~70 % voiced frames, 20 speakers."""
    rng = np.random.default_rng(seed)
    utt2spk, lens = {}, {}
    with ArkScpWriter.open(d / "feats.ark", 1, d / "feats.scp") as fw, \
            ArkScpWriter.open(d / "vad.ark", None, d / "vad.scp") as vw:
        for i in range(utts):
            utt = f"spk{i % 20:02d}-u{i:05d}"
            t = int(frames * rng.uniform(0.6, 1.4))
            fw.write(utt, (rng.normal(size=(t, 80)) * 3 - 5).astype(np.float32))
            vw.write(utt, (rng.random(t) > 0.3).astype(np.float32))
            utt2spk[utt], lens[utt] = f"spk{i % 20:02d}", t
    write_table(d / "utt2spk", utt2spk)
    write_table(d / "utt2num_frames", lens)


def rate(loader, crops_per_batch: int, min_seconds: float = 3.0) -> tuple[float, float]:
    """(crops/s, batches/s) over at least ``min_seconds`` (after one warm-up batch)."""
    it = iter(loader)
    next(it)
    n, t0 = 0, time.perf_counter()
    for _ in it:
        n += 1
        if time.perf_counter() - t0 > min_seconds:
            break
    dt = time.perf_counter() - t0
    return n * crops_per_batch / dt, n / dt


def dino_step_rate(batch: dict, steps: int = 3) -> float:
    from utter.nnet import build_network
    from utter.nnet.heads import DINOHead
    from utter.train.objectives.dino import DINOLoss

    student = build_network({"arch": "lresnet34", "base_channels": 8, "embed_dim": 128})
    teacher = build_network({"arch": "lresnet34", "base_channels": 8, "embed_dim": 128})
    heads = DINOHead(128, 4096, hidden=512, bottleneck=128), DINOHead(128, 4096, hidden=512, bottleneck=128)
    n_g = batch["global"].shape[0] // len(batch["utts"])
    n_l = batch["local"].shape[0] // len(batch["utts"])
    loss_fn = DINOLoss(4096, n_teacher_crops=n_g, n_student_crops=n_g + n_l)
    opt = torch.optim.Adam(list(student.parameters()) + list(heads[0].parameters()), lr=1e-4)

    def step(i):
        with torch.no_grad():
            t = heads[1](teacher(batch["global"], batch["global_lengths"]))
        s = torch.cat([heads[0](student(batch["global"], batch["global_lengths"])),
                       heads[0](student(batch["local"], batch["local_lengths"]))])
        loss = loss_fn(s, t, i)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step(0)
    t0 = time.perf_counter()
    for i in range(steps):
        step(i + 1)
    return steps / (time.perf_counter() - t0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--utts", type=int, default=300)
    p.add_argument("--seconds", type=float, default=8.0, help="mean utterance length")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=16, help="utterances per DINO batch")
    p.add_argument("--step", default="true", choices=("true", "false"))
    args = p.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        make_data(d, args.utts, int(args.seconds * 100))
        print(f"data: {args.utts} utterances of ~{args.seconds:g} s, compressed ark (CM), VAD ~70 % voiced")
        chunk = dict(batch_size=32, chunk_frames=200, seed=0, num_batches=10_000, min_frames=100)
        one, _ = rate(chunk_loader_factory(d, **chunk)(0), 32)
        print(f"2 s crops/s, one worker (in-process):  {one:8.0f}   (target >= 200)")
        many, _ = rate(chunk_loader_factory(d, num_workers=args.workers, **chunk)(0), 32)
        print(f"2 s crops/s, {args.workers} worker processes:     {many:8.0f}")
        dino = multi_crop_loader_factory(d, batch_size=args.batch, seed=0, num_workers=args.workers, min_frames=100)
        crops = args.batch * 6
        dcrops, dbatches = rate(dino(0), crops)
        print(f"DINO batches/s ({args.batch} utts x (2x4 s + 4x2 s)), {args.workers} workers: {dbatches:6.2f}  "
              f"({dcrops:.0f} crops/s)")
        if args.step == "true":
            batch = next(iter(dino(0)))
            steps = dino_step_rate(batch)
            print(f"DINO CPU step rate (LResNet34 8 ch, K=4096, 1 thread): {steps:6.3f} steps/s")
            print(f"loader / step rate: {dbatches / steps:6.1f}x   (target >= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
