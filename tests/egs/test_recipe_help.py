"""--help of every egs/*/run.sh and steps/*.sh from any directory, the "unexpected arguments" hint
that works from where the user is, and the configuration rules of utils/recipe_lib.sh (one rule
for every recipe: a missing conf is an error; conf/mini overrides; conf_base for the rest)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted(p.parent.name for p in (ROOT / "egs").glob("*/run.sh"))
STEPS = sorted(p.name for p in (ROOT / "steps").glob("*.sh"))


def _bash(args, cwd, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, LC_ALL="C")
    return subprocess.run(["bash", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60, **kw)


def test_the_recipes_are_found():
    assert {"voxceleb", "iemocap", "adress"} <= set(RECIPES)


@pytest.mark.parametrize("name", RECIPES)
def test_run_sh_help_from_anywhere(name, tmp_path):
    script = ROOT / "egs" / name / "run.sh"
    for cwd, path in ((ROOT, f"egs/{name}/run.sh"), (tmp_path, script),
                      (tmp_path, os.path.relpath(script, tmp_path)), (script.parent, "run.sh")):
        r = _bash([path, "--help"], cwd)
        assert r.returncode == 0, (cwd, path, r.stderr)
        assert f"usage: egs/{name}/run.sh [options]" in r.stderr and "stages:" in r.stderr, r.stderr
        assert "--stage N --stop-stage N" in r.stderr and "can't read" not in r.stderr


@pytest.mark.parametrize("name", RECIPES)
def test_unexpected_arguments_name_a_help_that_works_there(name, tmp_path):
    script = ROOT / "egs" / name / "run.sh"
    for cwd, path in ((ROOT, f"egs/{name}/run.sh"), (tmp_path, script), (script.parent, "run.sh")):
        r = _bash([path, "--stage", "3", "stray"], cwd)
        assert r.returncode == 1 and "unexpected arguments: stray" in r.stderr, r.stderr
        hint = r.stderr.split("(see ", 1)[1].split(")", 1)[0]
        assert hint.endswith(" --help")
        helped = subprocess.run(hint.split(), cwd=cwd, capture_output=True, text=True, timeout=60)
        assert helped.returncode == 0 and f"usage: egs/{name}/run.sh" in helped.stderr, (cwd, hint)


@pytest.mark.parametrize("step", STEPS)
def test_step_help_from_another_directory(step, tmp_path):
    script = ROOT / "steps" / step
    for path in (script, os.path.relpath(script, tmp_path)):
        r = _bash([path, "--help"], tmp_path)
        assert r.returncode == 0, (path, r.stderr)
        assert f"usage: steps/{step}" in r.stderr, r.stderr
    r = _bash([script], tmp_path)  # no arguments: the usage (train_dino.sh: train_nnet.sh's), and a failure
    assert r.returncode == 1 and "usage: steps/" in r.stderr, r.stderr


def _toy(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def _lib(script: str, cwd: Path, mini: bool) -> subprocess.CompletedProcess:
    return _bash(["-c", f'set -euo pipefail; . "{ROOT}/utils/recipe_lib.sh"; mini={str(mini).lower()}; '
                  + script], cwd)


def test_source_conf_and_conf_one_rule(tmp_path):
    toy = _toy(tmp_path / "egs/toy", {"conf/a.conf": "x=1\ny=1\n", "conf/mini/a.conf": "y=2\n",
                                       "conf/p.conf": "--p=1\n", "conf/mini/p.conf": "--p=2\n",
                                       "conf/q.conf": "--q=1\n"})
    show = 'source_conf a.conf; echo "$x $y $(conf p.conf) $(conf q.conf)"'
    assert _lib(show, toy, False).stdout.split() == ["1", "1", "conf/p.conf", "conf/q.conf"]
    assert _lib(show, toy, True).stdout.split() == ["1", "2", "conf/mini/p.conf", "conf/q.conf"]
    for mini in (False, True):  # a missing conf is an error, in every recipe, with or without --mini
        r = _lib("source_conf none.conf; echo reached", toy, mini)
        assert r.returncode == 1 and "no such config conf/none.conf" in r.stderr and "reached" not in r.stdout
        r = _lib("conf none.conf", toy, mini)
        assert r.returncode == 1 and "no such config conf/none.conf" in r.stderr


def test_conf_base_gives_what_the_recipe_lacks(tmp_path):
    _toy(tmp_path / "egs/base", {"conf/a.conf": "x=base\n", "conf/b.conf": "z=base\n",
                                 "conf/mini/b.conf": "z=base_mini\n", "conf/p.conf": "--p=1\n"})
    new = _toy(tmp_path / "egs/new", {"conf/a.conf": "x=new\n"})
    show = 'conf_base=../base/conf; source_conf a.conf; source_conf b.conf; echo "$x $z $(conf p.conf)"'
    assert _lib(show, new, False).stdout.split() == ["new", "base", "../base/conf/p.conf"]
    assert _lib(show, new, True).stdout.split() == ["new", "base_mini", "../base/conf/p.conf"]
    r = _lib("conf_base=../base/conf; source_conf c.conf", new, False)
    assert r.returncode == 1 and "conf/c.conf (nor ../base/conf/c.conf)" in r.stderr


def test_every_recipe_names_its_results_wording():
    """Each recipe's results stage is worded by its conf/results.conf (titles, table headings, row labels)."""
    for name in RECIPES:
        r = _bash(["-c", f'set -euo pipefail; . utils/recipe_lib.sh; cd egs/{name}; source_conf recipe.conf; '
                   'ft_folds=x; cv_name=y; seed_list=0; results_options; printf "%s\\n" "${results_opts[@]}"'], ROOT)
        assert r.returncode == 0, r.stderr
        opts = r.stdout.splitlines()
        assert "--title" in opts and "--heading" in opts and "--system-label" in opts, (name, opts)
