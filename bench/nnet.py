"""Parameter counts and forward+backward time per batch of each embedding network.

Usage: python bench/nnet.py [--sizes mini paper] [--archs ...] [--batch 32] [--frames 200]
       [--threads 1] [--reps 3] [--device cpu]
Prints one row per (arch, size): parameters, ms per batch (fwd+bwd, median of reps after a
warm-up) and utterances per second. Paper sizes run with --paper-batch (default 4) on CPU.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from utter.nnet import build_network

SIZES = {
    "mini": {
        "lresnet34": dict(arch="lresnet34", base_channels=8, embed_dim=128),
        "resnet34": dict(arch="resnet34", base_channels=8, blocks=[1, 1, 1, 1], embed_dim=128),
        "tdnn": dict(arch="tdnn", channels=[128, 128, 128, 128, 384], embed_dim=128),
        "ecapa": dict(arch="ecapa", channels=128, scale=4, se_channels=32, mfa_channels=384,
                      attention_channels=32, embed_dim=128),
    },
    "paper": {arch: {"arch": arch} for arch in ("lresnet34", "resnet34", "tdnn", "ecapa")},
}


def time_fwd_bwd(net: torch.nn.Module, batch: int, frames: int, reps: int,
                 device: torch.device) -> float:
    """Median seconds of one forward+backward pass on random [batch, frames, 80] features."""
    net.to(device).train()
    x = torch.randn(batch, frames, net.feat_dim, device=device)
    lengths = torch.full((batch,), frames, dtype=torch.long, device=device)
    times = []
    for i in range(reps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        net.zero_grad(set_to_none=True)
        net(x, lengths).pow(2).mean().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:  # first pass is warm-up
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=["mini", "paper"], choices=sorted(SIZES))
    p.add_argument("--archs", nargs="+", default=["lresnet34", "resnet34", "tdnn", "ecapa"])
    p.add_argument("--batch", type=int, default=32, help="batch for mini sizes")
    p.add_argument("--paper-batch", type=int, default=4, help="batch for paper sizes")
    p.add_argument("--frames", type=int, default=200, help="frames per chunk (200 = 2 s)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    print(f"# device {device}, threads {args.threads}, {args.frames} frames x 80 fbank, "
          f"torch {torch.__version__}")
    print(f"{'arch':<10} {'size':<6} {'params':>10} {'batch':>5} {'ms/batch':>10} {'utt/s':>8}")
    for size in args.sizes:
        batch = args.batch if size == "mini" else args.paper_batch
        for arch in args.archs:
            net = build_network(SIZES[size][arch])
            n = sum(q.numel() for q in net.parameters())
            sec = time_fwd_bwd(net, batch, args.frames, args.reps, device)
            print(f"{arch:<10} {size:<6} {n:>10,d} {batch:>5d} {sec * 1e3:>10.1f} "
                  f"{batch / sec:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
