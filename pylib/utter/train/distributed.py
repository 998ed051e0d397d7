"""Data parallelism under ``torchrun``: joining the process group, averaging gradients over ranks and
copying rank 0's buffers (and parameters) to every rank.

The trainer all-reduces gradients itself after ``backward`` instead of wrapping modules in
``DistributedDataParallel`` (why: :mod:`utter.train.trainer`).
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialised_here: bool = False

    @property
    def active(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str) -> DistInfo:
    """Join the ``torchrun`` process group from RANK/WORLD_SIZE/LOCAL_RANK (NCCL on GPU, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), local, False)
    backend = "nccl" if torch.device(device).type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local)
    dist.init_process_group(backend=backend, init_method="env://")
    return DistInfo(rank, world, local, True)



def allreduce_grads(params: Sequence[nn.Parameter], world_size: int, device: torch.device) -> None:
    """Average gradients over ranks; a parameter gets a gradient when any rank produced one."""
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=device)
    dist.all_reduce(has)
    by_dtype: dict[torch.dtype, list[nn.Parameter]] = {}
    for p, h in zip(params, has.tolist()):
        if h > 0:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            by_dtype.setdefault(p.grad.dtype, []).append(p)
    for ps in by_dtype.values():
        flat = torch.cat([p.grad.reshape(-1) for p in ps])
        dist.all_reduce(flat)
        flat /= world_size
        offset = 0
        for p in ps:
            k = p.grad.numel()
            p.grad.copy_(flat[offset:offset + k].view_as(p.grad))
            offset += k


def broadcast_states(modules: Iterable[nn.Module], params: bool) -> None:
    """Copy rank 0's buffers (and parameters when ``params``) to every rank, one message per dtype."""
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for m in modules:
        for t in [*m.buffers(), *(p.data for p in m.parameters() if params)]:
            by_dtype.setdefault(t.dtype, []).append(t)
    for ts in by_dtype.values():
        flat = torch.cat([t.reshape(-1) for t in ts])
        dist.broadcast(flat, src=0)
        offset = 0
        for t in ts:
            t.copy_(flat[offset:offset + t.numel()].view_as(t))
            offset += t.numel()
