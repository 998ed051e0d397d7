"""Shared pytest fixtures: the repository root, and a PATH with utils/ for the shell tools."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parents[1]

#: Session fixtures shared by every test module (registered once here, so each runs once per session):
#: the VoxCeleb recipe runs, the downstream recipe runs built on the reduced one's models, and the
#: egs/custom run; they run in background threads from the start of the session (tests/recipes.py).
pytest_plugins = ["recipes", "recipes_downstream", "recipes_custom"]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture()
def shell_env() -> dict:
    """Environment for running the toolkit's shell scripts: utils/ on PATH, C collation."""
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / 'utils'}:{Path(os.sys.executable).parent}:{env.get('PATH', '')}"
    env["LC_ALL"] = "C"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tests run with one torch thread: the machine has two cores and jobs run side by side."""
    try:
        import torch
    except ImportError:  # the back-end tests need no torch
        yield
        return
    torch.set_num_threads(1)
    yield
