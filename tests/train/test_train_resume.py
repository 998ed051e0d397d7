"""Exact resume after SIGKILL, and data parallelism over 2 CPU processes (torchrun, gloo)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from train_toy import ToyNet

from utter.train.checkpoint import list_checkpoints, load_checkpoint

TESTS = Path(__file__).resolve().parents[1]   # train_toy.py, shared with base/test_progress.py
TOY = str(TESTS / "train_toy.py")


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{TESTS}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def _run(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], env=_env(), stdout=log.open("w"), stderr=subprocess.STDOUT)


def _wait(proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    assert proc.wait(timeout=timeout) == 0, log.read_text()[-3000:]


def _equal_states(a, b, where=""):
    """torch.equal over every tensor of two nested checkpoint structures."""
    if torch.is_tensor(a):
        assert torch.is_tensor(b) and torch.equal(a, b), f"tensors differ at {where}"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _equal_states(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _equal_states(x, y, f"{where}/{i}")
    else:
        assert a == b, f"{a!r} != {b!r} at {where}"


def test_sigkill_then_resume_gives_identical_weights(tmp_path):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    ref_proc = _run([TOY, str(ref)], tmp_path / "ref.log")  # uninterrupted, alongside
    proc = _run([TOY, str(killed), "--sleep", "0.3"], tmp_path / "killed.log")
    target = killed / "ckpt-00000008.pt"  # mid-epoch: 2 batches into the second epoch
    deadline = time.monotonic() + 90
    while not target.exists():
        assert proc.poll() is None, (tmp_path / "killed.log").read_text()
        assert time.monotonic() < deadline, "no checkpoint within 90 s"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "final.pt").exists(), "the run finished before it was killed"
    assert list_checkpoints(killed)[-1].name == "ckpt-00000008.pt"
    resumed = _run([TOY, str(killed), "--resume"], tmp_path / "resumed.log")
    _wait(resumed, tmp_path / "resumed.log")
    _wait(ref_proc, tmp_path / "ref.log")
    assert "resumed from" in (tmp_path / "resumed.log").read_text()
    for name in ("final.pt", "ckpt-00000018.pt"):
        a, b = load_checkpoint(ref / name), load_checkpoint(killed / name)
        for key in ("model", "extra", "optimizer", "step", "epoch", "rng"):
            _equal_states(a[key], b[key], f"{name}:{key}")
    _equal_states(torch.load(ref / "params_rank0.pt"), torch.load(killed / "params_rank0.pt"))
    # the log keeps each step once, with the same numbers
    assert (ref / "train_log.tsv").read_text() == (killed / "train_log.tsv").read_text()


def test_two_process_data_parallel_matches_one_process(tmp_path):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    common = ["--dropout", "0", "--noise", "0", "--global-batch", "8", "--epochs", "2", "--optimizer", "sgd"]
    one = _run([TOY, str(single), *common], tmp_path / "single.log")
    two = _run(["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", TOY, str(ddp), *common],
               tmp_path / "ddp.log")
    _wait(two, tmp_path / "ddp.log")
    _wait(one, tmp_path / "single.log")
    r0, r1 = torch.load(ddp / "params_rank0.pt"), torch.load(ddp / "params_rank1.pt")
    ref = torch.load(single / "params_rank0.pt")
    _equal_states(r0, r1)  # the ranks never drift apart
    for k, v in ref.items():
        assert torch.allclose(r0[k], v, atol=1e-5, rtol=1e-4), k
    torch.manual_seed(0)  # the toy's initialisation, to see that training moved the weights
    init = ToyNet(16, 0.0).state_dict()
    assert (init["body.0.weight"] - ref["model.body.0.weight"]).abs().max() > 1e-2
    ckpt = load_checkpoint(ddp / "final.pt")
    assert len(ckpt["rng"]) == 2 and ckpt["world_size"] == 2 and len(ckpt["extra"]["objective_per_rank"]) == 2
