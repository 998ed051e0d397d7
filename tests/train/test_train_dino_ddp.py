"""DINO under torchrun: 2 CPU processes (gloo) with B utterances each follow the loss curve of one
process with 2B, in reduced form: 4 steps of a tiny batch-norm-free network (tests/train/dino_ddp_toy.py).

What must agree, and to what tolerance (fp32, sums taken in another order):
* each step's loss of the single process == the mean of the two ranks' losses, to 1e-5 (absolute);
* after training, the single process's student, teacher, heads and centre == rank 0's, to
  rtol 1e-4 / atol 1e-5; the two ranks' states are identical (gradients are all-reduced, the centre
  update is all-reduced, the teacher EMA is the same arithmetic on each rank).
A network with batch norm is not in this test: the trainer keeps batch statistics per process
(no SyncBatchNorm), so its 2 x B run differs from the 1 x 2B run by design.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
TOY = str(HERE / "dino_ddp_toy.py")


def _run(args: list[str], log: Path) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, *args], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _wait(proc: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    assert proc.wait(timeout=timeout) == 0, log.read_text()[-3000:]


def test_two_process_dino_matches_one_process_with_double_batch(tmp_path):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    common = ["--steps", "4", "--global-batch", "8"]
    one = _run([TOY, str(single), *common], tmp_path / "single.log")
    two = _run(["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", TOY, str(ddp), *common],
               tmp_path / "ddp.log")
    _wait(two, tmp_path / "ddp.log")
    _wait(one, tmp_path / "single.log")
    ref = json.loads((single / "losses_rank0.json").read_text())
    r0, r1 = (json.loads((ddp / f"losses_rank{r}.json").read_text()) for r in (0, 1))
    assert len(ref) == len(r0) == len(r1) == 4
    mean = [(a + b) / 2 for a, b in zip(r0, r1)]
    assert max(abs(a - b) for a, b in zip(mean, ref)) < 1e-5, (ref, mean)
    assert max(abs(a - b) for a, b in zip(r0, r1)) > 1e-4  # the ranks did see different utterances
    assert abs(ref[-1] - ref[0]) > 1e-3  # and the curve moved
    p_ref = torch.load(single / "params_rank0.pt")
    p0, p1 = torch.load(ddp / "params_rank0.pt"), torch.load(ddp / "params_rank1.pt")
    assert p_ref.keys() == p0.keys() == p1.keys()
    for k in p_ref:
        assert torch.equal(p0[k], p1[k]), f"ranks differ in {k}"
        torch.testing.assert_close(p0[k], p_ref[k], rtol=1e-4, atol=1e-5, msg=f"1 x 2B and 2 x B differ in {k}")
    assert "dino_loss.center" in p_ref and p_ref["dino_loss.center"].abs().max() > 0
