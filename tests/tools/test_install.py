"""tools/install.sh on a copied checkout: a venv whose scripts and editable install point to the
original checkout is repaired in place (offline), so the copy imports its own code."""
from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUP = ('from setuptools import find_packages, setup\n'
         'setup(name="utter", version="0.1.0", package_dir={"": "pylib"}, packages=find_packages("pylib"))\n')


def checkout(root: Path, where: str) -> None:
    (root / "tools").mkdir(parents=True)
    shutil.copy(ROOT / "tools/install.sh", root / "tools/install.sh")
    (root / "tools/requirements.txt").write_text("# nothing: the test venv borrows setuptools and pip\n")
    (root / "setup.py").write_text(SETUP)
    (root / "pylib/utter").mkdir(parents=True)
    (root / "pylib/utter/__init__.py").write_text(f"WHERE = {where!r}\n")


def make_venv(root: Path) -> None:
    """A venv (no pip of its own: the test environment's site-packages lend pip and setuptools, through
    a path entry, whose .pth files are not read) with the stamp install.sh writes after installing."""
    venv = root / "tools/venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    lib = next((venv / "lib").glob("python3*")) / "site-packages"
    (lib / "_borrow.pth").write_text(site.getsitepackages()[0] + "\n")
    stamp = subprocess.run(f"cat {root}/tools/requirements.txt {root}/setup.py | cksum | cut -d' ' -f1",
                           shell=True, capture_output=True, text=True, check=True).stdout
    (venv / ".utter-installed").write_text(stamp)


def imports(root: Path, activate: bool = False) -> str:
    code = "import utter; print(utter.WHERE, utter.__file__)"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    if activate:   # as tools/env.sh does: whatever python bin/activate puts first on PATH
        cmd = ["bash", "-c", f". {root}/tools/venv/bin/activate && python -c '{code}'"]
    else:
        cmd = [str(root / "tools/venv/bin/python"), "-c", code]
    r = subprocess.run(cmd, cwd="/", capture_output=True, text=True, env=env)
    return r.stdout.strip() or r.stderr.strip().splitlines()[-1]


def install(root: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(["bash", str(root / "tools/install.sh")], capture_output=True, text=True, env=env,
                          timeout=300)


def test_copied_venv_is_repaired(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    checkout(one, "one")
    make_venv(one)
    r = install(one)  # stamp up to date, utter not installed yet: installed, saying so
    assert r.returncode == 0, r.stderr
    assert "not importable" in r.stderr and "reinstalling it from" in r.stderr
    assert imports(one).startswith(f"one {one}/pylib/utter/__init__.py")
    assert install(one).stderr == ""   # up to date: silent

    shutil.copytree(one, two, symlinks=True)
    (two / "pylib/utter/__init__.py").write_text("WHERE = 'two'\n")
    assert imports(two).startswith("one ")            # the bug: the copy runs the original's code
    assert imports(two, activate=True).startswith("one ")

    r = install(two)
    assert r.returncode == 0, r.stderr
    assert f"was made at {one}/tools/venv (copied or moved): rewriting the paths" in r.stderr
    assert f"the venv's utter is {one}/pylib/utter (another checkout), not {two}/pylib/utter" in r.stderr
    assert imports(two).startswith(f"two {two}/pylib/utter/__init__.py")
    assert imports(two, activate=True).startswith("two ")
    assert str(one) not in (two / "tools/venv/bin/activate").read_text()
    assert install(two).stderr == "" and imports(one).startswith("one ")   # the original is untouched


def test_linked_venv_is_left_alone(tmp_path):
    """A tools/venv that links to another checkout's venv is never rewritten from the linking one."""
    one, two = tmp_path / "one", tmp_path / "two"
    checkout(one, "one")
    make_venv(one)
    assert install(one).returncode == 0
    checkout(two, "two")
    (two / "tools/venv").symlink_to(one / "tools/venv")
    before = (one / "tools/venv/bin/activate").read_text()
    r = install(two)
    assert r.returncode == 0 and r.stderr == ""
    assert (one / "tools/venv/bin/activate").read_text() == before and imports(one).startswith("one ")


def test_venv_reached_through_a_linked_tools_dir_is_left_alone(tmp_path):
    """tests/recipes.py links a recipe copy's tools/ to the checkout's: the copy's install.sh must not
    rewrite the shared venv for the copy's path (it did once, for a moment breaking every shell)."""
    one, copy = tmp_path / "one", tmp_path / "copy"
    checkout(one, "one")
    make_venv(one)
    assert install(one).returncode == 0
    copy.mkdir()
    (copy / "tools").symlink_to(one / "tools")
    (copy / "pylib").mkdir()
    shutil.copytree(one / "pylib", copy / "pylib", dirs_exist_ok=True)
    shutil.copy(one / "setup.py", copy / "setup.py")
    before = {p.name: p.read_bytes() for p in (one / "tools/venv/bin").iterdir() if p.is_file() and not p.is_symlink()}
    r = install(copy)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    after = {p.name: p.read_bytes() for p in (one / "tools/venv/bin").iterdir() if p.is_file() and not p.is_symlink()}
    assert after == before and imports(one).startswith(f"one {one}/pylib")
