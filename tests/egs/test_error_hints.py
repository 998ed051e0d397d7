"""A bad command line of run.sh or a step names the reason and a --help that works from there."""
from __future__ import annotations

import subprocess

import pytest


@pytest.mark.parametrize("script, args, reason", [
    ("egs/voxceleb/run.sh", ["--bogus", "1"], "invalid option --bogus"),
    ("egs/voxceleb/run.sh", ["--mini", "yes"], 'expected "true" or "false": --mini yes (e.g. --mini true)'),
    ("egs/iemocap/run.sh", ["--stage"], "option --stage needs a value"),
    ("steps/make_fbank.sh", ["--nj=4", "data/x"], "got '--nj=4' (--nj 4)"),
])
@pytest.mark.parametrize("where", ["root", "elsewhere"])
def test_error_names_a_help_that_works(root, tmp_path, shell_env, script, args, reason, where):
    cwd = root if where == "root" else tmp_path
    path = script if where == "root" else str(root / script)
    r = subprocess.run([path, *args], cwd=cwd, capture_output=True, text=True, env=shell_env, timeout=60)
    assert r.returncode == 1 and reason in r.stderr, r.stderr
    hint = r.stderr.rsplit("(see ", 1)[1].split(")", 1)[0]
    assert hint.endswith(" --help")
    helped = subprocess.run(hint.split(), cwd=cwd, capture_output=True, text=True, env=shell_env, timeout=60)
    assert helped.returncode == 0 and "usage:" in helped.stderr, (hint, helped.stderr)
