"""The global random states of a run: seeding them, and a block that leaves them as they were."""
from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch

from utter.train.checkpoint import capture_rng_state, restore_rng_state


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), python ``random`` and numpy's global generator."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block without disturbing the global RNG states (a loader built here cannot shift them)."""
    state = capture_rng_state()
    try:
        yield
    finally:
        restore_rng_state(state)

