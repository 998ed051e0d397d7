"""Shared pytest fixtures: the repository root, and a PATH with utils/ for the shell tools."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
