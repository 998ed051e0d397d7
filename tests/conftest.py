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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--shipped", action="store_true",
                     help="also run the tests marked 'shipped': the training-quality checks on the models of "
                          "egs/voxceleb/run.sh --mini true with the shipped conf/mini settings (about 10 more CPU "
                          "minutes: the DINO and supervised trainings of the README's first command)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "shipped: needs the shipped-settings mini training (run with --shipped)")


@pytest.hookimpl(tryfirst=True)   # before the recipe runs are started for what is selected (tests/recipes.py)
def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    """Leave out the 'shipped' tests unless --shipped is given."""
    if config.getoption("--shipped"):
        return
    kept = [item for item in items if "shipped" not in item.keywords]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if "shipped" in item.keywords])
        items[:] = kept


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
