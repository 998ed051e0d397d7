"""utils/parse_options.sh: Kaldi semantics under set -euo pipefail (expectations from Kaldi's docs)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = f"""#!/usr/bin/env bash
# Demo step: shows its options.
# usage: demo.sh [options] <a> <b>
set -euo pipefail
nj=4
use_gpu=false
cmd=run.py
name="x y"
. {ROOT}/utils/parse_options.sh
echo "nj=$nj use_gpu=$use_gpu cmd=$cmd name=$name config=$config args=$*"
"""


@pytest.fixture()
def demo(tmp_path):
    path = tmp_path / "demo.sh"
    path.write_text(SCRIPT)
    path.chmod(0o755)

    def call(*args):
        return subprocess.run([str(path), *args], cwd=tmp_path, capture_output=True, text=True)
    return call


def test_options_set_variables_and_leave_arguments(demo):
    r = demo("--nj", "3", "--use-gpu", "true", "--name", 'a "b" $c', "p", "q")
    assert r.returncode == 0, r.stderr
    assert r.stdout == 'nj=3 use_gpu=true cmd=run.py name=a "b" $c config= args=p q\n'


def test_unknown_option_is_named(demo):
    r = demo("--bogus-opt", "1", "p")
    assert r.returncode == 1 and "invalid option --bogus-opt" in r.stderr


def test_boolean_takes_only_true_or_false(demo):
    r = demo("--use-gpu", "yes", "p")
    assert r.returncode == 1 and 'expected "true" or "false": --use-gpu yes' in r.stderr


def test_missing_value_and_equals_form_are_errors(demo):
    assert "needs a value" in demo("--nj").stderr
    r = demo("--nj=3", "p")
    assert r.returncode == 1 and "--name value" in r.stderr


def test_empty_cmd_is_an_error(demo):
    r = demo("--cmd", "", "p")
    assert r.returncode == 1 and "empty argument to --cmd" in r.stderr


def test_config_is_read_first_and_command_line_wins(demo, tmp_path):
    (tmp_path / "c.conf").write_text('nj=7\ncmd="slurm.py --mem 4G"\n')
    r = demo("--nj", "9", "--config", "c.conf", "p")
    assert r.stdout == "nj=9 use_gpu=false cmd=slurm.py --mem 4G name=x y config=c.conf args=p\n"
    r = demo("--config", "c.conf", "p")
    assert r.stdout.startswith("nj=7 ")


def test_config_of_option_lines(demo, tmp_path):
    (tmp_path / "d.conf").write_text("# comment\n--nj=11  # trailing\n--use-gpu=true\n")
    assert demo("--config", "d.conf", "p").stdout.startswith("nj=11 use_gpu=true ")
    (tmp_path / "e.conf").write_text("--use-gpu=maybe\n")
    r = demo("--config", "e.conf", "p")
    assert r.returncode == 1 and "--use-gpu maybe" in r.stderr
    r = demo("--config", "missing.conf", "p")
    assert r.returncode == 1 and "missing config 'missing.conf'" in r.stderr


def test_help_prints_usage_and_exits_zero(demo, tmp_path):
    r = demo("--help")
    assert r.returncode == 0
    assert "Demo step: shows its options." in r.stderr and "usage: demo.sh" in r.stderr
    assert "set -euo" not in r.stderr
    script = tmp_path / "h.sh"
    script.write_text(f'set -eu\nhelp_message="usage: h.sh <x>\\n  --nj N"\nnj=1\n. {ROOT}/utils/parse_options.sh\n')
    r = subprocess.run(["bash", str(script), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "usage: h.sh <x>\n  --nj N\n"
